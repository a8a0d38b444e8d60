import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../../src/core/ids.ts';
import { describeEachDriver } from '../support/in-process.ts';
import { ADMIN, type Harness, harness, type Res } from './api-harness.ts';

// Every operation of Svix's server API document (reference/svix-server-openapi.json, 26 paths).
const SVIX_OPERATIONS = [
  'GET /api/v1/app',
  'POST /api/v1/app',
  'DELETE /api/v1/app/{app_id}',
  'GET /api/v1/app/{app_id}',
  'PATCH /api/v1/app/{app_id}',
  'PUT /api/v1/app/{app_id}',
  'GET /api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}',
  'GET /api/v1/app/{app_id}/attempt/msg/{msg_id}',
  'GET /api/v1/app/{app_id}/endpoint',
  'POST /api/v1/app/{app_id}/endpoint',
  'DELETE /api/v1/app/{app_id}/endpoint/{endpoint_id}',
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}',
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}',
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}',
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers',
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers',
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers',
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg',
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover',
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret',
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate',
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example',
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/stats',
  'GET /api/v1/app/{app_id}/msg',
  'POST /api/v1/app/{app_id}/msg',
  'GET /api/v1/app/{app_id}/msg/{msg_id}',
  'GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}',
  'DELETE /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content',
  'DELETE /api/v1/app/{app_id}/msg/{msg_id}/content',
  'GET /api/v1/app/{app_id}/msg/{msg_id}/endpoint',
  'POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend',
  'POST /api/v1/auth/app-portal-access/{app_id}',
  'POST /api/v1/auth/logout',
  'GET /api/v1/event-type',
  'POST /api/v1/event-type',
  'DELETE /api/v1/event-type/{event_type_name}',
  'GET /api/v1/event-type/{event_type_name}',
  'PATCH /api/v1/event-type/{event_type_name}',
  'PUT /api/v1/event-type/{event_type_name}',
  'GET /api/v1/health',
  'GET /api/v1/health/ping',
];

const loc = (res: Res) => res.json?.detail?.[0]?.loc;

await describeEachDriver((driver) => {
  let h: Harness;
  before(async () => {
    h = await harness(driver);
  });
  after(async () => {
    await h.close();
  });

  describe('open routes and authentication', () => {
    test('health and ping answer 204 without a token; openapi.json lists the routes', async () => {
      for (const url of ['/api/v1/health', '/api/v1/health/ping']) {
        assert.equal((await h.call('GET', url, undefined, { authorization: '' })).status, 204);
      }
      const doc = await h.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
      assert.equal(doc.status, 200);
      for (const op of SVIX_OPERATIONS) {
        const [method, path] = op.split(' ') as [string, string];
        assert.ok(doc.json.paths[path]?.[method.toLowerCase()], `${op} is served`);
      }
    });

    test('401 without a token and with a wrong one', async () => {
      const none = await h.call('GET', '/api/v1/app', undefined, { authorization: '' });
      assert.equal(none.status, 401);
      assert.equal(none.json.code, 'authentication_failed');
      const wrong = await h.call('GET', '/api/v1/app', undefined, { authorization: 'Bearer nope' });
      assert.equal(wrong.status, 401);
      const forged = await h.call('GET', '/api/v1/app', undefined, {
        authorization: 'Bearer appsk_e30.AAAA',
      });
      assert.equal(forged.status, 401);
    });

    test('unknown routes are 404 with an HttpErrorOut body', async () => {
      const res = await h.call('GET', '/api/v1/nope');
      assert.equal(res.status, 404);
      assert.equal(res.json.code, 'not_found');
    });
  });

  describe('applications', () => {
    test('create, get by id and uid, get_if_exists, conflict, put, patch, list, delete', async () => {
      const created = await h.call('POST', '/api/v1/app', { name: 'Acme', uid: 'acme', throttleRate: 5 });
      assert.equal(created.status, 201);
      assert.match(created.json.id, /^app_/);
      assert.equal(created.json.throttleRate, 5);
      assert.equal(created.json.rateLimit, 5);
      assert.ok(!Number.isNaN(Date.parse(created.json.createdAt)));

      assert.equal((await h.call('GET', `/api/v1/app/${created.json.id}`)).json.uid, 'acme');
      assert.equal((await h.call('GET', '/api/v1/app/acme')).json.id, created.json.id);

      const again = await h.call('POST', '/api/v1/app?get_if_exists=true', { name: 'Acme', uid: 'acme' });
      assert.equal(again.status, 200);
      assert.equal(again.json.id, created.json.id);
      const dup = await h.call('POST', '/api/v1/app', { name: 'Acme', uid: 'acme' });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.code, 'conflict');

      const put = await h.call('PUT', '/api/v1/app/acme', { name: 'Acme 2', uid: 'acme', rateLimit: 7 });
      assert.equal(put.status, 200);
      assert.equal(put.json.name, 'Acme 2');
      assert.equal(put.json.throttleRate, 7);
      const putNew = await h.call('PUT', '/api/v1/app/fresh', { name: 'Fresh' });
      assert.equal(putNew.status, 201);
      assert.equal(putNew.json.uid, 'fresh');

      const patched = await h.call('PATCH', '/api/v1/app/acme', {
        metadata: { tier: 'gold' },
        throttleRate: null,
      });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.json.metadata, { tier: 'gold' });
      assert.equal(patched.json.throttleRate, null);
      assert.equal(patched.json.name, 'Acme 2');

      const list = await h.call('GET', '/api/v1/app');
      assert.ok(list.json.data.some((a: { uid: string }) => a.uid === 'fresh'));
      assert.equal(typeof list.json.done, 'boolean');

      assert.equal((await h.call('DELETE', '/api/v1/app/fresh')).status, 204);
      assert.equal((await h.call('GET', '/api/v1/app/fresh')).status, 404);
    });

    test('pagination: iterator forward to done, prevIterator back', async () => {
      for (let i = 0; i < 5; i++) await h.call('POST', '/api/v1/app', { name: `p${i}`, uid: `page-${i}` });
      const seen: string[] = [];
      let iterator: string | null = null;
      let pages = 0;
      for (;;) {
        const q: string = iterator ? `&iterator=${iterator}` : '';
        const res = await h.call('GET', `/api/v1/app?limit=2${q}`);
        assert.equal(res.status, 200);
        assert.ok(res.json.data.length <= 2);
        seen.push(...res.json.data.map((a: { id: string }) => a.id));
        pages++;
        if (res.json.done) break;
        iterator = res.json.iterator;
        if (pages === 2) {
          const back = await h.call('GET', `/api/v1/app?limit=2&iterator=${res.json.prevIterator}`);
          assert.deepEqual(
            back.json.data.map((a: { id: string }) => a.id),
            seen.slice(0, 2),
            'prevIterator returns the previous page',
          );
        }
      }
      assert.equal(new Set(seen).size, seen.length, 'no duplicates across pages');
      assert.ok(seen.length >= 6);
      const bad = await h.call('GET', '/api/v1/app?limit=251');
      assert.equal(bad.status, 422);
      assert.deepEqual(loc(bad), ['query', 'limit']);
    });

    test('before and after are ignored once an iterator is passed (a date filter kept while paging)', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Dated', uid: 'dated' });
      for (let i = 0; i < 3; i++)
        await h.call('POST', '/api/v1/app/dated/msg', { eventType: 'a', payload: { i } });
      const since = '2000-01-01T00:00:00Z';
      const first = await h.call('GET', `/api/v1/app/dated/msg?limit=1&after=${since}`);
      assert.equal(first.json.data.length, 1);
      const next = await h.call(
        'GET',
        `/api/v1/app/dated/msg?limit=1&after=${since}&before=${since}&iterator=${first.json.iterator}`,
      );
      assert.equal(next.status, 200);
      assert.equal(next.json.data.length, 1, 'the second page, whatever before and after say');
      assert.notEqual(next.json.data[0].id, first.json.data[0].id);
      const filtered = await h.call('GET', `/api/v1/app/dated/msg?before=${since}`);
      assert.equal(filtered.json.data.length, 0, 'without an iterator, before still filters');
    });

    test('ids, uids and event type names of 256 characters work in paths; longer ones are a 422', async () => {
      const uid = 'u'.repeat(256);
      assert.equal((await h.call('POST', '/api/v1/app', { name: 'Long', uid })).status, 201);
      const got = await h.call('GET', `/api/v1/app/${uid}`);
      assert.equal(got.status, 200);
      assert.equal(got.json.uid, uid);
      const name = `e.${'n'.repeat(254)}`;
      assert.equal((await h.call('POST', '/api/v1/event-type', { name, description: 'd' })).status, 201);
      assert.equal((await h.call('GET', `/api/v1/event-type/${name}`)).status, 200);
      const tooLong = await h.call('GET', `/api/v1/app/${uid}u`);
      assert.equal(tooLong.status, 422);
      assert.deepEqual(loc(tooLong), ['path', 'app_id']);
    });
  });

  describe('event types', () => {
    test('create, conflict, get, put upsert, patch, archive on delete, expunge', async () => {
      const body = {
        name: 'invoice.paid',
        description: 'paid',
        schemas: { '1': { type: 'object', examples: [{ id: 1 }] } },
      };
      assert.equal((await h.call('POST', '/api/v1/event-type', body)).status, 201);
      assert.equal((await h.call('POST', '/api/v1/event-type', body)).status, 409);
      const got = await h.call('GET', '/api/v1/event-type/invoice.paid');
      assert.equal(got.json.description, 'paid');
      assert.deepEqual(got.json.schemas['1'].examples, [{ id: 1 }]);

      assert.equal(
        (await h.call('PUT', '/api/v1/event-type/user.created', { description: 'new' })).status,
        201,
      );
      assert.equal(
        (await h.call('PUT', '/api/v1/event-type/user.created', { description: 'newer' })).status,
        200,
      );
      const patched = await h.call('PATCH', '/api/v1/event-type/user.created', { deprecated: true });
      assert.equal(patched.json.deprecated, true);
      assert.equal(patched.json.description, 'newer');

      assert.equal((await h.call('DELETE', '/api/v1/event-type/user.created')).status, 204);
      const visible = await h.call('GET', '/api/v1/event-type');
      assert.ok(!visible.json.data.some((e: { name: string }) => e.name === 'user.created'));
      const all = await h.call('GET', '/api/v1/event-type?include_archived=true');
      assert.ok(
        all.json.data.some(
          (e: { name: string; archived: boolean }) => e.name === 'user.created' && e.archived,
        ),
      );

      // Creating an archived event type unarchives it, as the body describes it; a live one is a conflict.
      const revived = await h.call('POST', '/api/v1/event-type', {
        name: 'user.created',
        description: 'back',
      });
      assert.deepEqual(
        [revived.status, revived.json.archived, revived.json.description],
        [201, false, 'back'],
      );
      assert.ok(
        (await h.call('GET', '/api/v1/event-type')).json.data.some(
          (e: { name: string }) => e.name === 'user.created',
        ),
      );
      const again = await h.call('POST', '/api/v1/event-type', { name: 'user.created', description: 'x' });
      assert.equal(again.status, 409);

      assert.equal((await h.call('DELETE', '/api/v1/event-type/user.created?expunge=true')).status, 204);
      assert.equal((await h.call('GET', '/api/v1/event-type/user.created')).status, 404);
      const badName = await h.call('POST', '/api/v1/event-type', { name: 'bad name!', description: '' });
      assert.equal(badName.status, 422);
      assert.deepEqual(loc(badName), ['body', 'name']);
    });
    test('an archived event type takes no new messages and no new filters; endpoints keep theirs', async () => {
      await h.call('POST', '/api/v1/app', { name: 'A', uid: 'arch-app' });
      for (const name of ['order.shipped', 'order.paid', 'other.type'])
        await h.call('POST', '/api/v1/event-type', { name, description: name });
      // Disabled, so that its messages leave no pending task for the other tests' claims.
      const kept = await h.call('POST', '/api/v1/app/arch-app/endpoint', {
        url: 'https://example.com/kept',
        filterTypes: ['order.shipped'],
        disabled: true,
      });
      assert.equal(kept.status, 201);
      const publish = () =>
        h.call('POST', '/api/v1/app/arch-app/msg', { eventType: 'order.shipped', payload: { n: 1 } });
      assert.equal((await publish()).status, 202);

      assert.equal((await h.call('DELETE', '/api/v1/event-type/order.shipped')).status, 204);
      const refused = await publish();
      assert.deepEqual([refused.status, loc(refused)], [422, ['body', 'eventType']]);
      const example = await h.call('POST', `/api/v1/app/arch-app/endpoint/${kept.json.id}/send-example`, {
        eventType: 'order.shipped',
      });
      assert.deepEqual([example.status, loc(example)], [422, ['body', 'eventType']]);
      const newFilter = await h.call('POST', '/api/v1/app/arch-app/endpoint', {
        url: 'https://example.com/new',
        filterTypes: ['other.type', 'order.shipped'],
      });
      assert.deepEqual([newFilter.status, loc(newFilter)], [422, ['body', 'filterTypes']]);
      assert.match(newFilter.json.detail[0].msg, /order\.shipped is archived/);
      // As in Svix, a filter names event types of the catalogue.
      const unknown = await h.call('POST', '/api/v1/app/arch-app/endpoint', {
        url: 'https://example.com/new',
        filterTypes: ['never.declared'],
      });
      assert.deepEqual([unknown.status, loc(unknown)], [422, ['body', 'filterTypes']]);
      assert.match(unknown.json.detail[0].msg, /never\.declared does not exist/);
      // Nothing was stored by the refused calls.
      const messages = await h.call('GET', '/api/v1/app/arch-app/msg');
      assert.equal(messages.json.data.length, 1);
      const endpoints = await h.call('GET', '/api/v1/app/arch-app/endpoint');
      assert.equal(endpoints.json.data.length, 1);
      // The endpoint that filtered on it before keeps it through PATCH and PUT.
      const patched = await h.call('PATCH', `/api/v1/app/arch-app/endpoint/${kept.json.id}`, {
        filterTypes: ['order.shipped', 'order.paid'],
      });
      assert.deepEqual(patched.json.filterTypes, ['order.shipped', 'order.paid']);
      const put = await h.call('PUT', `/api/v1/app/arch-app/endpoint/${kept.json.id}`, {
        url: 'https://example.com/kept',
        filterTypes: ['order.shipped'],
        disabled: true,
      });
      assert.equal(put.status, 200);

      // Unarchived, it is usable again.
      await h.call('POST', '/api/v1/event-type', { name: 'order.shipped', description: 'back' });
      assert.equal((await publish()).status, 202);
    });
  });

  describe('endpoints', () => {
    test('CRUD with both field spellings, uid lookups, secret, rotation, headers, stats', async () => {
      await h.call('POST', '/api/v1/app', { name: 'E', uid: 'ep-app' });
      await h.call('POST', '/api/v1/event-type', { name: 'a.b', description: '' });
      const created = await h.call('POST', '/api/v1/app/ep-app/endpoint', {
        url: 'https://example.com/hook',
        uid: 'main',
        eventTypes: ['invoice.paid'],
        throttleRate: 10,
        channels: ['c1'],
      });
      assert.equal(created.status, 201);
      assert.match(created.json.id, /^ep_/);
      assert.deepEqual(created.json.filterTypes, ['invoice.paid']);
      assert.deepEqual(created.json.eventTypes, ['invoice.paid']);
      assert.equal(created.json.rateLimit, 10);
      assert.equal(created.json.version, 1);

      const sdkStyle = await h.call('POST', '/api/v1/app/ep-app/endpoint', {
        url: 'http://127.0.0.1:9/x',
        filterTypes: ['a.b'],
        rateLimit: 3,
        version: 1,
        headers: { 'X-Custom': 'v' },
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      });
      assert.equal(sdkStyle.status, 201);
      assert.equal(sdkStyle.json.throttleRate, 3);

      assert.equal((await h.call('GET', '/api/v1/app/ep-app/endpoint/main')).json.id, created.json.id);
      const list = await h.call('GET', '/api/v1/app/ep-app/endpoint');
      assert.equal(list.json.data.length, 2);

      const put = await h.call('PUT', '/api/v1/app/ep-app/endpoint/main', {
        url: 'https://example.com/v2',
        uid: 'main',
      });
      assert.equal(put.status, 200);
      assert.equal(put.json.url, 'https://example.com/v2');
      assert.equal(put.json.filterTypes, null);
      const putNew = await h.call('PUT', '/api/v1/app/ep-app/endpoint/second', {
        url: 'https://example.com/2',
      });
      assert.equal(putNew.status, 201);
      assert.equal(putNew.json.uid, 'second');

      const patched = await h.call('PATCH', '/api/v1/app/ep-app/endpoint/main', {
        description: 'd',
        disabled: true,
      });
      assert.equal(patched.json.description, 'd');
      assert.equal(patched.json.disabled, true);
      assert.equal(patched.json.url, 'https://example.com/v2');

      const secret = await h.call('GET', `/api/v1/app/ep-app/endpoint/${sdkStyle.json.id}/secret`);
      assert.equal(secret.json.key, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
      const newKey = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
      const bare = await h.call('POST', `/api/v1/app/ep-app/endpoint/${sdkStyle.json.id}/secret/rotate`);
      assert.equal(bare.status, 204, 'the rotate body is optional');
      const rotated = await h.call('POST', `/api/v1/app/ep-app/endpoint/${sdkStyle.json.id}/secret/rotate`, {
        key: newKey,
      });
      assert.equal(rotated.status, 204);
      assert.equal(
        (await h.call('GET', `/api/v1/app/ep-app/endpoint/${sdkStyle.json.id}/secret`)).json.key,
        newKey,
      );
      const epApp = await h.store.apps.get('ep-app');
      const stored = await h.store.endpoints.get(epApp!.id, sdkStyle.json.id);
      assert.equal(stored?.secrets.length, 3, 'older keys keep signing during the grace period');
      assert.ok(stored?.secrets[1]?.expiresAt);

      const hdr = `/api/v1/app/ep-app/endpoint/main/headers`;
      assert.equal(
        (await h.call('PUT', hdr, { headers: { 'X-A': '1', Authorization: 'Bearer s' } })).status,
        204,
      );
      assert.equal((await h.call('PATCH', hdr, { headers: { 'X-A': null, 'X-B': '2' } })).status, 204);
      const headers = await h.call('GET', hdr);
      assert.deepEqual(headers.json, { headers: { 'X-B': '2' }, sensitive: ['Authorization'] });
      for (const name of [
        'webhook-signature',
        'svix-id',
        'Host',
        'Content-Length',
        'Content-Type',
        'Connection',
        'Transfer-Encoding',
        'Expect',
      ]) {
        const refused = await h.call('PATCH', hdr, { headers: { [name]: 'x' } });
        assert.equal(refused.status, 422, name);
        assert.deepEqual(loc(refused), ['body', 'headers', name]);
      }

      const stats = await h.call('GET', '/api/v1/app/ep-app/endpoint/main/stats');
      assert.deepEqual(stats.json, { success: 0, pending: 0, fail: 0, sending: 0, canceled: 0 });

      assert.equal((await h.call('DELETE', '/api/v1/app/ep-app/endpoint/second')).status, 204);
      assert.equal((await h.call('GET', '/api/v1/app/ep-app/endpoint/second')).status, 404);
    });

    test('422 naming the field for bad input', async () => {
      await h.call('POST', '/api/v1/app', { name: 'V', uid: 'val-app' });
      const cases: Array<[unknown, string[]]> = [
        [{ url: 'https://example.com', uid: 'bad uid' }, ['body', 'uid']],
        [{ url: 'not a url' }, ['body', 'url']],
        [{ url: 'http://10.0.0.5/' }, ['body', 'url']],
        [{ url: 'ftp://example.com/x' }, ['body', 'url']],
        [{ url: 'https://user:pw@example.com/' }, ['body', 'url']],
        [{ url: 'https://example.com', secret: 'short' }, ['body', 'secret']],
        [{ url: 'https://example.com', secret: `whsec_${'A'.repeat(33)}` }, ['body', 'secret']],
        [{ url: 'https://example.com', throttleRate: 0 }, ['body', 'throttleRate']],
        [
          { url: 'https://example.com', channels: Array.from({ length: 11 }, (_, i) => `c${i}`) },
          ['body', 'channels'],
        ],
        [{ url: 'https://example.com', channels: ['x'.repeat(129)] }, ['body', 'channels', '0']],
        [{}, ['body', 'url']],
      ];
      for (const [body, expected] of cases) {
        const res = await h.call('POST', '/api/v1/app/val-app/endpoint', body);
        assert.equal(res.status, 422, JSON.stringify(body));
        assert.deepEqual(loc(res), expected, JSON.stringify(body));
      }
      const list = await h.call('GET', '/api/v1/app/val-app/endpoint');
      assert.equal(list.json.data.length, 0, 'no half-written rows');

      const appBad = await h.call('POST', '/api/v1/app', { name: 'x', uid: 'a/b' });
      assert.deepEqual(loc(appBad), ['body', 'uid']);
      const retention = await h.call('POST', '/api/v1/app/val-app/msg', {
        eventType: 'a',
        payload: {},
        payloadRetentionPeriod: 4,
      });
      assert.deepEqual(loc(retention), ['body', 'payloadRetentionPeriod']);
      const noType = await h.call('POST', '/api/v1/app/val-app/msg', { payload: {} });
      assert.deepEqual(loc(noType), ['body', 'eventType']);
      const arrayPayload = await h.call('POST', '/api/v1/app/val-app/msg', { eventType: 'a', payload: [1] });
      assert.deepEqual(loc(arrayPayload), ['body', 'payload']);
    });

    test('a rate limit of 0 or above 65535 is a 422 naming it on create, replace and patch, in both spellings', async () => {
      const a = (await h.call('POST', '/api/v1/app', { name: 'Rates' })).json.id;
      const e = (await h.call('POST', `/api/v1/app/${a}/endpoint`, { url: 'https://example.com' })).json.id;
      const url = 'https://example.com/r';
      const writes: Array<[string, string, object]> = [
        ['POST', '/api/v1/app', { name: 'r' }],
        ['PUT', `/api/v1/app/${a}`, { name: 'r' }],
        ['PATCH', `/api/v1/app/${a}`, {}],
        ['POST', `/api/v1/app/${a}/endpoint`, { url }],
        ['PUT', `/api/v1/app/${a}/endpoint/${e}`, { url }],
        ['PATCH', `/api/v1/app/${a}/endpoint/${e}`, {}],
      ];
      for (const [method, path, body] of writes) {
        for (const field of ['throttleRate', 'rateLimit']) {
          for (const rate of [0, 65536]) {
            const res = await h.call(method as 'POST', path, { ...body, [field]: rate });
            assert.equal(res.status, 422, `${method} ${path} ${field}: ${rate}`);
            assert.deepEqual(loc(res), ['body', field], `${method} ${path} ${field}: ${rate}`);
          }
          const ok = await h.call(method as 'POST', path, { ...body, [field]: 1 });
          assert.ok(ok.status < 300, `${method} ${path} ${field}: 1 answered ${ok.status}`);
          assert.equal(ok.json.throttleRate, 1);
        }
      }
      const cleared = await h.call('PATCH', `/api/v1/app/${a}/endpoint/${e}`, { throttleRate: null });
      assert.equal(cleared.json.throttleRate, null, 'null removes the limit');
    });

    test('JSON bodies are not coerced: null, numbers and one-item arrays where a field wants another type are a 422', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Typed', uid: 'typed', metadata: { a: 'b' } });
      const ep = await h.call('POST', '/api/v1/app/typed/endpoint', {
        url: 'https://example.com/',
        disabled: true,
      });
      const epPath = `/api/v1/app/typed/endpoint/${ep.json.id}`;
      const cases: Array<[string, string, unknown, string[]]> = [
        ['PATCH', epPath, { disabled: null }, ['body', 'disabled']],
        ['PATCH', epPath, { description: null }, ['body', 'description']],
        ['PATCH', epPath, { description: 5 }, ['body', 'description']],
        ['PATCH', '/api/v1/app/typed', { metadata: { a: 1 } }, ['body', 'metadata', 'a']],
        ['PATCH', '/api/v1/app/typed', { name: null }, ['body', 'name']],
        ['POST', '/api/v1/event-type', { name: ['x'], description: 'd' }, ['body', 'name']],
      ];
      for (const [method, path, body, expected] of cases) {
        const res = await h.call(method as 'PATCH', path, body);
        assert.equal(res.status, 422, JSON.stringify(body));
        assert.deepEqual(loc(res), expected, JSON.stringify(body));
      }
      assert.equal((await h.call('GET', epPath)).json.disabled, true, 'the endpoint stays disabled');
      assert.deepEqual((await h.call('GET', '/api/v1/app/typed')).json.metadata, { a: 'b' });
      assert.equal((await h.call('GET', '/api/v1/event-type/x')).status, 404);
      const unknown = await h.call('PATCH', epPath, { eventTypes: ['no.such.type'] });
      assert.deepEqual(loc(unknown), ['body', 'eventTypes'], 'the error names the field the body used');
    });

    test('PATCH with an empty eventTypes or channels list clears the filter; POST still needs one item', async () => {
      await h.call('POST', '/api/v1/event-type', { name: 'clr.ev', description: 'd' });
      await h.call('POST', '/api/v1/app', { name: 'Clear', uid: 'clear' });
      const made = await h.call('POST', '/api/v1/app/clear/endpoint', {
        url: 'https://example.com/',
        eventTypes: ['clr.ev'],
        channels: ['c1'],
      });
      assert.equal(made.status, 201);
      const path = `/api/v1/app/clear/endpoint/${made.json.id}`;
      const cleared = await h.call('PATCH', path, { eventTypes: [], channels: [] });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.json.eventTypes, null);
      assert.equal(cleared.json.channels, null);
      const empty = await h.call('POST', '/api/v1/app/clear/endpoint', {
        url: 'https://example.com/',
        channels: [],
      });
      assert.equal(empty.status, 422);
      assert.deepEqual(loc(empty), ['body', 'channels']);
    });

    test('malformed JSON is a 400 naming the problem', async () => {
      const res = await h.call('POST', '/api/v1/app', '{"name": "x",');
      assert.equal(res.status, 400);
      assert.equal(res.json.code, 'bad_request');
      assert.match(res.json.detail, /JSON/);
    });
  });

  describe('messages', () => {
    test('publish keeps the payload bytes, eventId lookups and conflicts, with_content, app auto-create', async () => {
      const raw = '{"amount": 123456789012345678901234567890, "z": 1, "a": [1.50, "x"]}';
      const body = `{"eventType":"invoice.paid","eventId":"evt-1","payload":${raw},"application":{"name":"Auto","uid":"auto-app"}}`;
      const res = await h.call('POST', '/api/v1/app/auto-app/msg', body);
      assert.equal(res.status, 202);
      assert.match(res.json.id, /^msg_/);
      assert.ok(res.body.includes('123456789012345678901234567890'), 'response keeps the big integer');
      assert.ok(h.wakes() > 0, 'the worker is woken after the commit');

      const app = await h.store.apps.get('auto-app');
      assert.ok(app, 'MessageIn.application created the app');
      const stored = await h.store.messages.get(app.id, res.json.id);
      assert.equal(stored?.payload, raw, 'stored payload is the exact raw text');

      const byEventId = await h.call('GET', '/api/v1/app/auto-app/msg/evt-1');
      assert.equal(byEventId.json.id, res.json.id);
      const lean = await h.call('GET', `/api/v1/app/auto-app/msg/${res.json.id}?with_content=false`);
      assert.deepEqual(lean.json.payload, {}, 'payload is required in MessageOut');

      const dup = await h.call('POST', '/api/v1/app/auto-app/msg', body);
      assert.equal(dup.status, 409);
      assert.equal(dup.json.code, 'conflict');

      const noContent = await h.call('POST', '/api/v1/app/auto-app/msg?with_content=false', {
        eventType: 'x',
        payload: { a: 1 },
      });
      assert.equal(noContent.status, 202);
      assert.deepEqual(noContent.json.payload, {});

      const missing = await h.call('POST', '/api/v1/app/no-such-app/msg', { eventType: 'x', payload: {} });
      assert.equal(missing.status, 404);

      const list = await h.call('GET', '/api/v1/app/auto-app/msg?event_types=invoice.paid');
      assert.deepEqual(
        list.json.data.map((m: { id: string }) => m.id),
        [res.json.id],
      );

      assert.equal((await h.call('DELETE', `/api/v1/app/auto-app/msg/${res.json.id}/content`)).status, 204);
      assert.equal((await h.store.messages.get(app.id, res.json.id))?.payload, null);
    });

    test('fan-out, attempted destinations and messages, attempts, resend, recover, send-example', async () => {
      await h.call('POST', '/api/v1/app', { name: 'F', uid: 'fan' });
      await h.call('POST', '/api/v1/event-type', { name: 'other', description: '' });
      const ep = (
        await h.call('POST', '/api/v1/app/fan/endpoint', {
          url: 'https://example.com/f',
          uid: 'f1',
          filterTypes: ['invoice.paid'],
        })
      ).json;
      await h.call('POST', '/api/v1/app/fan/endpoint', {
        url: 'https://example.com/g',
        filterTypes: ['other'],
      });
      const msg = (
        await h.call('POST', '/api/v1/app/fan/msg', { eventType: 'invoice.paid', payload: { n: 1 } })
      ).json;

      const dests = await h.call('GET', `/api/v1/app/fan/msg/${msg.id}/endpoint`);
      assert.deepEqual(
        dests.json.data.map((d: { id: string }) => d.id),
        [ep.id],
      );
      assert.equal(dests.json.data[0].statusText, 'pending');
      const attempted = await h.call('GET', '/api/v1/app/fan/endpoint/f1/msg');
      assert.equal(attempted.json.data[0].id, msg.id);
      assert.equal(attempted.json.data[0].status, 1);
      assert.deepEqual(attempted.json.data[0].payload, { n: 1 });

      // Record one failed attempt the way the worker does.
      const app = (await h.store.apps.get('fan'))!;
      const now = Date.UTC(2031, 0, 1);
      const [claimed] = await h.store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
      assert.ok(claimed);
      await h.store.tasks.finish([
        {
          taskId: claimed.task.id,
          now,
          next: { status: 'fail' },
          attempt: {
            // Like the worker's: the id embeds createdAt (the PostgreSQL driver finds the row by it).
            id: newId('atmpt', now),
            appId: app.id,
            msgId: msg.id,
            endpointId: ep.id,
            url: ep.url,
            status: 'fail',
            responseStatusCode: 500,
            response: 'boom',
            responseDurationMs: 12,
            triggerType: 'scheduled',
            createdAt: now,
          },
        },
      ]);
      const byEndpoint = await h.call('GET', `/api/v1/app/fan/attempt/endpoint/${ep.id}`);
      assert.equal(byEndpoint.json.data.length, 1);
      const attempt = byEndpoint.json.data[0];
      assert.deepEqual(
        {
          status: attempt.status,
          statusText: attempt.statusText,
          code: attempt.responseStatusCode,
          trigger: attempt.triggerType,
        },
        { status: 2, statusText: 'fail', code: 500, trigger: 0 },
      );
      const byMsg = await h.call('GET', `/api/v1/app/fan/attempt/msg/${msg.id}?status=2`);
      assert.equal(byMsg.json.data[0].id, attempt.id);
      assert.equal(
        (await h.call('GET', `/api/v1/app/fan/attempt/msg/${msg.id}?status=0`)).json.data.length,
        0,
      );
      const one = await h.call('GET', `/api/v1/app/fan/msg/${msg.id}/attempt/${attempt.id}`);
      assert.equal(one.json.response, 'boom');
      assert.equal(
        (await h.call('DELETE', `/api/v1/app/fan/msg/${msg.id}/attempt/${attempt.id}/content`)).status,
        204,
      );
      const stats = await h.call('GET', '/api/v1/app/fan/endpoint/f1/stats');
      assert.equal(stats.json.fail, 1);

      const wakesBefore = h.wakes();
      const recovered = await h.call('POST', '/api/v1/app/fan/endpoint/f1/recover', {
        since: new Date(0).toISOString(),
      });
      assert.equal(recovered.status, 202);
      assert.match(recovered.json.id, /^qtask_/);
      assert.equal(recovered.json.task, 'endpoint.recover');
      assert.equal(recovered.json.status, 'running', 'BackgroundTaskStatus allows only running');
      assert.equal((await h.call('GET', '/api/v1/app/fan/endpoint/f1/stats')).json.pending, 1);
      const resent = await h.call('POST', `/api/v1/app/fan/msg/${msg.id}/endpoint/f1/resend`);
      assert.equal(resent.status, 202);
      assert.ok(h.wakes() >= wakesBefore + 2);

      const example = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
        eventType: 'invoice.paid',
      });
      assert.equal(example.status, 200);
      assert.deepEqual(example.json.payload, { id: 1 });
      const exampleDests = await h.call('GET', `/api/v1/app/fan/msg/${example.json.id}/endpoint`);
      assert.deepEqual(
        exampleDests.json.data.map((d: { id: string }) => d.id),
        [ep.id],
      );
      assert.equal(
        (await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', { eventType: 'nope' })).status,
        404,
      );
    });

    test('an unknown application id is a 404 for PUT and for inline creation; a uid creates once', async () => {
      const ghost = newId('app', Date.now());
      for (let i = 0; i < 2; i++) {
        assert.equal((await h.call('PUT', `/api/v1/app/${ghost}`, { name: 'x' })).status, 404);
        const msg = await h.call('POST', `/api/v1/app/${ghost}/msg`, {
          eventType: 'a',
          payload: {},
          application: { name: 'x' },
        });
        assert.equal(msg.status, 404);
      }
      const first = await h.call('PUT', '/api/v1/app/put-once', { name: 'x' });
      const again = await h.call('PUT', '/api/v1/app/put-once', { name: 'y' });
      assert.deepEqual([first.status, again.status], [201, 200]);
      assert.equal(again.json.id, first.json.id, 'the repeat finds the app the first PUT made');
      const names = (await h.call('GET', '/api/v1/app?limit=250')).json.data.map(
        (a: { name: string }) => a.name,
      );
      assert.ok(!names.includes('x'), 'nothing was created for the unknown id');
    });

    test('a message whose payload was expunged cannot be resent (400), and nothing is queued', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Gone', uid: 'gone' });
      await h.call('POST', '/api/v1/app/gone/endpoint', { url: 'https://example.com/', uid: 'gone-ep' });
      const msg = await h.call('POST', '/api/v1/app/gone/msg', { eventType: 'a', payload: { a: 1 } });
      assert.equal((await h.call('DELETE', `/api/v1/app/gone/msg/${msg.json.id}/content`)).status, 204);
      const before = (await h.call('GET', '/api/v1/app/gone/endpoint/gone-ep/stats')).json;
      const res = await h.call('POST', `/api/v1/app/gone/msg/${msg.json.id}/endpoint/gone-ep/resend`);
      assert.equal(res.status, 400);
      assert.equal(res.json.code, 'bad_request');
      assert.match(res.json.detail, /expunged/);
      assert.deepEqual((await h.call('GET', '/api/v1/app/gone/endpoint/gone-ep/stats')).json, before);
    });

    test('resend only to an endpoint the message was sent to (404), and not to a disabled one (400)', async () => {
      await h.call('POST', '/api/v1/app', { name: 'R', uid: 'rs' });
      await h.call('POST', '/api/v1/app/rs/endpoint', {
        url: 'https://example.com/a',
        uid: 'rs-a',
      });
      await h.call('POST', '/api/v1/app/rs/endpoint', {
        url: 'https://example.com/b',
        uid: 'rs-b',
        channels: ['elsewhere'],
      });
      const msg = (await h.call('POST', '/api/v1/app/rs/msg', { eventType: 'a', payload: {} })).json;
      const untargeted = await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-b/resend`);
      assert.equal(untargeted.status, 404);
      assert.equal(untargeted.json.code, 'not_found');
      assert.match(untargeted.json.detail, /not sent to this endpoint/);
      assert.deepEqual(
        (await h.call('GET', `/api/v1/app/rs/msg/${msg.id}/endpoint`)).json.data.length,
        1,
        'no delivery was created for the other endpoint',
      );

      await h.call('PATCH', '/api/v1/app/rs/endpoint/rs-a', { disabled: true });
      const before = (await h.call('GET', '/api/v1/app/rs/endpoint/rs-a/stats')).json;
      const disabled = await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-a/resend`);
      assert.equal(disabled.status, 400);
      assert.match(disabled.json.detail, /disabled/);
      assert.deepEqual((await h.call('GET', '/api/v1/app/rs/endpoint/rs-a/stats')).json, before);
      await h.call('PATCH', '/api/v1/app/rs/endpoint/rs-a', { disabled: false });
      assert.equal((await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-a/resend`)).status, 202);
    });

    test('idempotency-key replays the first status and body', async () => {
      await h.call('POST', '/api/v1/app', { name: 'I', uid: 'idem' });
      const key = { 'idempotency-key': 'k-1' };
      const [first, second] = await Promise.all([
        h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key),
        h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key),
      ]);
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body, first.body);
      const third = await h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key);
      assert.equal(third.body, first.body);
      const list = await h.call('GET', '/api/v1/app/idem/msg');
      assert.equal(list.json.data.length, 1, 'one message despite three requests');
      const other = await h.call(
        'POST',
        '/api/v1/app/idem/msg',
        { eventType: 'a', payload: { v: 1 } },
        { 'idempotency-key': 'k-2' },
      );
      assert.notEqual(other.json.id, first.json.id);
    });
  });

  describe('app-portal tokens', () => {
    test('a scoped token sees its app only; admin routes are refused; logout revokes it', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Mine', uid: 'mine' });
      await h.call('POST', '/api/v1/app', { name: 'Theirs', uid: 'theirs' });
      const theirEp = (await h.call('POST', '/api/v1/app/theirs/endpoint', { url: 'https://example.com/t' }))
        .json;
      const access = await h.call('POST', '/api/v1/auth/app-portal-access/mine', {});
      assert.equal(access.status, 200);
      assert.match(access.json.token, /^appsk_/);
      assert.match(access.json.url, /^https?:\/\//);
      const as = { authorization: `Bearer ${access.json.token}` };

      assert.equal((await h.call('GET', '/api/v1/app/mine', undefined, as)).status, 200);
      assert.equal(
        (await h.call('POST', '/api/v1/app/mine/endpoint', { url: 'https://example.com/m' }, as)).status,
        201,
      );
      assert.equal((await h.call('GET', '/api/v1/app/mine/endpoint', undefined, as)).json.data.length, 1);
      assert.equal((await h.call('GET', '/api/v1/app/theirs', undefined, as)).status, 404);
      assert.equal((await h.call('GET', '/api/v1/app/theirs/endpoint', undefined, as)).status, 404);
      assert.equal(
        (await h.call('GET', `/api/v1/app/theirs/endpoint/${theirEp.id}`, undefined, as)).status,
        404,
      );
      assert.equal(
        (await h.call('POST', '/api/v1/app/theirs/msg', { eventType: 'a', payload: {} }, as)).status,
        404,
      );
      assert.equal((await h.call('GET', '/api/v1/event-type', undefined, as)).status, 200);

      assert.equal((await h.call('GET', '/api/v1/app', undefined, as)).status, 403);
      assert.equal((await h.call('POST', '/api/v1/app', { name: 'x' }, as)).status, 403);
      assert.equal(
        (await h.call('POST', '/api/v1/event-type', { name: 'x', description: '' }, as)).status,
        403,
      );
      assert.equal((await h.call('POST', '/api/v1/auth/app-portal-access/mine', {}, as)).status, 403);

      const adminLogout = await h.call('POST', '/api/v1/auth/logout');
      assert.equal(adminLogout.status, 403, 'the admin token is not an app token: it cannot log out');
      assert.equal((await h.call('GET', '/api/v1/app/mine')).status, 200, 'and stays valid');
      assert.equal((await h.call('POST', '/api/v1/auth/logout', undefined, as)).status, 204);
      assert.equal((await h.call('GET', '/api/v1/app/mine', undefined, as)).status, 401);
      assert.equal(
        (await h.call('GET', '/api/v1/app/mine', undefined, { authorization: `Bearer ${ADMIN}` })).status,
        200,
      );
    });

    test('a token sees the event types of its feature flags, and no other flagged ones', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Flags', uid: 'flags' });
      const ep = (await h.call('POST', '/api/v1/app/flags/endpoint', { url: 'https://example.com/f' })).json;
      for (const [name, featureFlag] of [
        ['ff.open', null],
        ['ff.beta', 'beta'],
        ['ff.gamma', 'gamma'],
      ]) {
        await h.call('POST', '/api/v1/event-type', { name, description: 'd', featureFlag });
      }
      const tokenWith = async (featureFlags?: string[]) => {
        const access = await h.call('POST', '/api/v1/auth/app-portal-access/flags', { featureFlags });
        assert.equal(access.status, 200);
        return { authorization: `Bearer ${access.json.token}` };
      };
      const seen = async (as?: Record<string, string>) =>
        (await h.call('GET', '/api/v1/event-type?limit=250', undefined, as)).json.data
          .map((e: { name: string }) => e.name)
          .filter((n: string) => n.startsWith('ff.'));
      const beta = await tokenWith(['beta']);
      const none = await tokenWith();
      assert.deepEqual(await seen(), ['ff.beta', 'ff.gamma', 'ff.open'], 'admin sees all');
      assert.deepEqual(await seen(beta), ['ff.beta', 'ff.open']);
      assert.deepEqual(await seen(none), ['ff.open']);
      assert.equal((await h.call('GET', '/api/v1/event-type/ff.beta', undefined, beta)).status, 200);
      const hidden = await h.call('GET', '/api/v1/event-type/ff.gamma', undefined, beta);
      assert.deepEqual([hidden.status, hidden.json.code], [404, 'not_found']);
      const example = (as: Record<string, string>) =>
        h.call('POST', `/api/v1/app/flags/endpoint/${ep.id}/send-example`, { eventType: 'ff.beta' }, as);
      assert.equal((await example(beta)).status, 200);
      assert.equal((await example(none)).status, 404);
      const bad = await h.call('POST', '/api/v1/auth/app-portal-access/flags', {
        featureFlags: ['no spaces'],
      });
      assert.equal(bad.status, 422);
    });
  });
});
