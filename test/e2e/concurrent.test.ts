// The same write sent many times at once, as retrying clients and double-clicks do: exactly one
// creates, the others get a shaped 409 (or, for a PUT upsert or an idempotency key, the same object),
// never a 500, and the database holds one row. A PUT repeated is idempotent: one object, uid kept.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { purgeAll } from '../../src/store/store-contract.ts';
import { describeEachDriver } from '../support/in-process.ts';
import { type Harness, harness, type Res } from './api-harness.ts';

const N = 16;

await describeEachDriver((driver) => {
  let h: Harness;
  let appId: string;
  before(async () => {
    h = await harness(driver);
    appId = (await h.call('POST', '/api/v1/app', { name: 'c' })).json.id;
    await h.call('POST', '/api/v1/event-type', { name: 'c.ev', description: 'd' });
  });
  after(async () => {
    await h.close();
  });

  const burst = (method: string, url: string, body: object, headers?: Record<string, string>) =>
    Promise.all(Array.from({ length: N }, () => h.call(method as 'POST', url, body, headers)));
  const statuses = (rs: Res[]) => rs.map((r) => r.status).sort();
  const once = (winner: number, rest: number) => [winner, ...Array(N - 1).fill(rest)].sort();

  test('creates with one uid, name or eventId: one wins, the others get 409', async () => {
    const apps = await burst('POST', '/api/v1/app', { name: 'a', uid: 'same-app' });
    assert.deepEqual(statuses(apps), once(201, 409));
    for (const r of apps.filter((r) => r.status === 409)) assert.equal(r.json.code, 'conflict');

    const types = await burst('POST', '/api/v1/event-type', { name: 'c.same', description: 'd' });
    assert.deepEqual(statuses(types), once(201, 409));

    const eps = await burst('POST', `/api/v1/app/${appId}/endpoint`, {
      url: 'http://127.0.0.1:9/e',
      uid: 'same-ep',
    });
    assert.deepEqual(statuses(eps), once(201, 409));
    const listed = (await h.call('GET', `/api/v1/app/${appId}/endpoint?limit=250`)).json.data;
    assert.equal(listed.filter((e: { uid: string }) => e.uid === 'same-ep').length, 1);

    const msgs = await burst('POST', `/api/v1/app/${appId}/msg`, {
      eventType: 'c.ev',
      eventId: 'same-event',
      payload: { n: 1 },
    });
    assert.deepEqual(statuses(msgs), once(202, 409));
    const found = (await h.call('GET', `/api/v1/app/${appId}/msg?limit=250`)).json.data;
    assert.equal(found.filter((m: { eventId: string }) => m.eventId === 'same-event').length, 1);
  });

  test('deletes of one object: one 204, the others 404', async () => {
    const app = (await h.call('POST', '/api/v1/app', { name: 'd' })).json.id;
    const ep = (await h.call('POST', `/api/v1/app/${app}/endpoint`, { url: 'http://127.0.0.1:9/d' })).json.id;
    await h.call('POST', '/api/v1/event-type', { name: 'c.gone', description: 'd' });
    for (const url of [
      `/api/v1/app/${app}/endpoint/${ep}`,
      '/api/v1/event-type/c.gone?expunge=true',
      `/api/v1/app/${app}`,
    ]) {
      const deletes = await burst('DELETE', url, {});
      assert.deepEqual(statuses(deletes), once(204, 404), url);
    }
  });

  test('creates with get_if_exists and one uid: one 201, the others get that app (200)', async () => {
    const apps = await burst('POST', '/api/v1/app?get_if_exists=true', { name: 'g', uid: 'same-gie' });
    assert.deepEqual(statuses(apps), once(201, 200));
    assert.equal(new Set(apps.map((r) => r.json.id)).size, 1);
  });

  test('patches at once lose none of each other: every header and every field is kept', async () => {
    const ep = (await h.call('POST', `/api/v1/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/p' })).json;
    const path = `/api/v1/app/${appId}/endpoint/${ep.id}`;
    const headers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        h.call('PATCH', `${path}/headers`, { headers: { [`x-h${i}`]: String(i) } }),
      ),
    );
    assert.deepEqual(statuses(headers), once(204, 204));
    const kept = (await h.call('GET', `${path}/headers`)).json.headers;
    assert.equal(Object.keys(kept).length, N, `headers kept: ${Object.keys(kept).join(', ')}`);

    const fields = [{ description: 'd' }, { rateLimit: 7 }, { metadata: { k: 'v' } }, { channels: ['c'] }];
    const patched = await Promise.all(fields.map((body) => h.call('PATCH', path, body)));
    assert.deepEqual(
      patched.map((r) => r.status),
      [200, 200, 200, 200],
    );
    const after = (await h.call('GET', path)).json;
    assert.deepEqual(
      [after.description, after.rateLimit, after.metadata, after.channels],
      ['d', 7, { k: 'v' }, ['c']],
    );

    const apps = await Promise.all(
      [{ name: 'n' }, { rateLimit: 3 }, { metadata: { a: 'b' } }].map((body) =>
        h.call('PATCH', `/api/v1/app/${appId}`, body),
      ),
    );
    assert.deepEqual(
      apps.map((r) => r.status),
      [200, 200, 200],
    );
    const app = (await h.call('GET', `/api/v1/app/${appId}`)).json;
    assert.deepEqual([app.name, app.rateLimit, app.metadata], ['n', 3, { a: 'b' }]);

    await h.call('POST', '/api/v1/event-type', { name: 'c.patched', description: 'd' });
    const typeFields = [
      { description: 'new' },
      { deprecated: true },
      { featureFlag: 'beta' },
      { schemas: { '1': {} } },
    ];
    const types = await Promise.all(
      typeFields.map((body) => h.call('PATCH', '/api/v1/event-type/c.patched', body)),
    );
    assert.deepEqual(
      types.map((r) => r.status),
      [200, 200, 200, 200],
    );
    const type = (await h.call('GET', '/api/v1/event-type/c.patched')).json;
    assert.deepEqual(
      [type.description, type.deprecated, type.featureFlag, type.schemas],
      ['new', true, 'beta', { '1': {} }],
    );
  });

  test('a burst of 60 changes to one endpoint and one app: each is applied, none is refused', async () => {
    const ep = (await h.call('POST', `/api/v1/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/b' })).json;
    const path = `/api/v1/app/${appId}/endpoint/${ep.id}`;
    const many = 60;
    const answers = await Promise.all([
      ...Array.from({ length: many }, (_, i) =>
        h.call('PATCH', `${path}/headers`, { headers: { [`x-b${i}`]: String(i) } }),
      ),
      ...Array.from({ length: many }, (_, i) =>
        h.call('PATCH', `/api/v1/app/${appId}`, { metadata: { round: String(i) } }),
      ),
      ...Array.from({ length: 20 }, () => h.call('POST', `${path}/secret/rotate`, {})),
    ]);
    const refused = answers.filter((r) => r.status >= 300).map((r) => `${r.status} ${r.body}`);
    assert.deepEqual(refused, []);
    const kept = (await h.call('GET', `${path}/headers`)).json.headers;
    assert.equal(Object.keys(kept).length, many);
  });

  test('upserts of one new id: one 201, the others update it (200), one row', async () => {
    const apps = await burst('PUT', '/api/v1/app/up-app', { name: 'u' });
    assert.deepEqual(statuses(apps), once(201, 200));
    assert.equal(new Set(apps.map((r) => r.json.id)).size, 1);
    // Addressed by uid, the app keeps it; by id, a body without uid clears it (a full replacement).
    assert.equal((await h.call('GET', '/api/v1/app/up-app')).json.uid, 'up-app');
    const byId = await h.call('PUT', `/api/v1/app/${apps[0]!.json.id}`, { name: 'u' });
    assert.deepEqual([byId.status, byId.json.uid], [200, null]);
    // The body's uid, when it differs from the path's, is where the repeats find the app.
    const named = await burst('PUT', '/api/v1/app/up-path', { name: 'u', uid: 'up-body' });
    assert.deepEqual(statuses(named), once(201, 200));
    assert.equal(new Set(named.map((r) => r.json.id)).size, 1);

    const types = await burst('PUT', '/api/v1/event-type/c.up', { description: 'd' });
    assert.deepEqual(statuses(types), once(201, 200));

    const eps = await burst('PUT', `/api/v1/app/${appId}/endpoint/up-ep`, { url: 'http://127.0.0.1:9/u' });
    assert.deepEqual(statuses(eps), once(201, 200));
    assert.equal(new Set(eps.map((r) => r.json.id)).size, 1);
    assert.equal((await h.call('GET', `/api/v1/app/${appId}/endpoint/up-ep`)).json.uid, 'up-ep');
  });

  test('one idempotency key: every answer is the first one, and one message is stored', async () => {
    const body = { eventType: 'c.ev', payload: { k: 1 } };
    const msgs = await burst('POST', `/api/v1/app/${appId}/msg`, body, { 'idempotency-key': 'same-key' });
    assert.deepEqual(statuses(msgs), Array(N).fill(202));
    const ids = new Set(msgs.map((r) => r.json.id));
    assert.equal(ids.size, 1, 'one message id answered');
    const found = (await h.call('GET', `/api/v1/app/${appId}/msg?limit=250`)).json.data;
    assert.equal(found.filter((m: { payload: { k?: number } }) => m.payload.k === 1).length, 1);
  });

  test('publishes racing the app delete: each answers 202 or 404, and nothing of the app is left', async () => {
    const gone = (await h.call('POST', '/api/v1/app', { name: 'gone' })).json.id;
    await h.call('POST', `/api/v1/app/${gone}/endpoint`, { url: 'http://127.0.0.1:9/g' });
    const [deleted, ...msgs] = await Promise.all([
      h.call('DELETE', `/api/v1/app/${gone}`),
      ...Array.from({ length: 2 * N }, () =>
        h.call('POST', `/api/v1/app/${gone}/msg`, { eventType: 'c.ev', payload: {} }),
      ),
    ]);
    assert.equal(deleted!.status, 204);
    for (const r of msgs) assert.ok(r.status === 202 || r.json.code === 'not_found', `${r.status}`);
    await purgeAll(h.store);
    assert.deepEqual((await h.store.messages.list(gone, { limit: 250 })).data, []);
  });

  test('secret rotations at once: each answers 204, and the endpoint keeps one current secret', async () => {
    const ep = (await h.call('POST', `/api/v1/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/r' })).json;
    const rs = await burst('POST', `/api/v1/app/${appId}/endpoint/${ep.id}/secret/rotate`, {});
    assert.deepEqual(statuses(rs), Array(N).fill(204));
    const secret = await h.call('GET', `/api/v1/app/${appId}/endpoint/${ep.id}/secret`);
    assert.equal(secret.status, 200);
    assert.match(secret.json.key, /^whsec_/);
  });
});
