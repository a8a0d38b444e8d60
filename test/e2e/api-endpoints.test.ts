import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeEachDriver } from '../support/in-process.ts';
import { type Harness, harness, type Res } from './api-harness.ts';

// The endpoint routes of the API (see api.test.ts for the list of operations).

const loc = (res: Res) => res.json?.detail?.[0]?.loc;

await describeEachDriver((driver) => {
  let h: Harness;
  before(async () => {
    h = await harness(driver);
    await h.call('POST', '/api/v1/event-type', { name: 'invoice.paid', description: 'paid' });
  });
  after(async () => {
    await h.close();
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
      // EndpointUpdate has no secret or headers: given to a PUT, they are refused by name, not dropped.
      const given = `whsec_${Buffer.alloc(24, 3).toString('base64')}`;
      for (const [field, value] of [
        ['secret', given],
        ['headers', { 'X-Ok': '1' }],
      ] as const) {
        const res = await h.call('PUT', '/api/v1/app/ep-app/endpoint/third', {
          url: 'https://example.com/3',
          [field]: value,
        });
        assert.deepEqual([res.status, res.json.detail[0].loc], [422, ['body', field]]);
      }
      assert.equal((await h.call('GET', '/api/v1/app/ep-app/endpoint/third')).status, 404);

      const patched = await h.call('PATCH', '/api/v1/app/ep-app/endpoint/main', {
        description: 'd',
        disabled: true,
      });
      assert.equal(patched.json.description, 'd');
      assert.equal(patched.json.disabled, true);
      assert.equal(patched.json.url, 'https://example.com/v2');

      const secret = await h.call('GET', `/api/v1/app/ep-app/endpoint/${sdkStyle.json.id}/secret`);
      assert.equal(secret.json.key, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
      assert.equal(secret.headers['cache-control'], 'no-store', 'no cache on the way keeps a secret');
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
      // The Svix SDK removes headers with deleteHeaders.
      const sdkPatch = { headers: { 'X-C': '3' }, deleteHeaders: ['x-b', 'Authorization', '__proto__'] };
      assert.equal((await h.call('PATCH', hdr, sdkPatch)).status, 204);
      assert.deepEqual((await h.call('GET', hdr)).json, { headers: { 'X-C': '3' }, sensitive: [] });
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
      // Patches that each add few headers cannot add up past what receivers accept.
      const some = (from: number) =>
        Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-n${from + i}`, 'v']));
      assert.equal((await h.call('PATCH', hdr, { headers: some(0) })).status, 204);
      const tooMany = await h.call('PATCH', hdr, { headers: some(40) });
      assert.equal(tooMany.status, 422);
      assert.deepEqual(loc(tooMany), ['body', 'headers']);
      assert.equal(
        Object.keys((await h.call('GET', hdr)).json.headers).length,
        41,
        'the refused patch changed nothing',
      );

      const stats = await h.call('GET', '/api/v1/app/ep-app/endpoint/main/stats');
      assert.deepEqual(stats.json, { success: 0, pending: 0, fail: 0, sending: 0, canceled: 0 });
      // As in Svix: at most 28 days (by default the last 28), ending no later than now (the harness's
      // clock): an `until` past it counts as now, whatever the client's clock says.
      const day = 24 * 3600 * 1000;
      const now = Date.UTC(2030, 0, 1);
      const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      const inverted = `since=${iso(now - day)}&until=${iso(now - 2 * day)}`;
      const ahead = `since=${iso(now + day)}&until=${iso(now + 2 * day)}`;
      for (const query of [`since=${iso(now - 29 * day)}`, inverted, ahead]) {
        const refused = await h.call('GET', `/api/v1/app/ep-app/endpoint/main/stats?${query}`);
        assert.equal(refused.status, 400, query);
        assert.equal(refused.json.code, 'invalid_range', query);
      }
      for (const query of [
        `since=${iso(now - 28 * day)}`,
        `until=${iso(now + 1)}`,
        `until=${iso(now + day)}`,
      ])
        assert.equal(
          (await h.call('GET', `/api/v1/app/ep-app/endpoint/main/stats?${query}`)).status,
          200,
          query,
        );
      // The endpoint first: one that does not exist is a 404 whatever the range.
      const missing = await h.call(
        'GET',
        `/api/v1/app/ep-app/endpoint/ep_none/stats?since=${iso(now - 29 * day)}`,
      );
      assert.equal(missing.status, 404);

      assert.equal((await h.call('DELETE', '/api/v1/app/ep-app/endpoint/second')).status, 204);
      assert.equal((await h.call('GET', '/api/v1/app/ep-app/endpoint/second')).status, 404);
    });

    test('enabled again by PUT or PATCH, an auto-disabled endpoint starts a new failure run', async () => {
      await h.call('POST', '/api/v1/app', { name: 'R', uid: 're-app' });
      const url = 'https://example.com/re';
      const app = await h.store.apps.get('re-app');
      const failing = async (uid: string) => {
        const ep = (await h.call('POST', '/api/v1/app/re-app/endpoint', { url, uid })).json;
        const since = await h.store.endpoints.markHealth(ep.id, false, Date.now() - 6 * 86_400_000);
        assert.ok(since !== null);
        return ep.id as string;
      };
      const stored = async (id: string) => (await h.store.endpoints.get(app!.id, id))!;
      const viaPut = await failing('via-put');
      const viaPatch = await failing('via-patch');
      const stillOn = await failing('still-on');
      for (const id of [viaPut, viaPatch]) assert.ok(await h.store.endpoints.disable(id, Date.now()));

      // A PUT without `disabled` means enabled (its default); a PATCH says so.
      await h.call('PUT', `/api/v1/app/re-app/endpoint/${viaPut}`, { url });
      await h.call('PATCH', `/api/v1/app/re-app/endpoint/${viaPatch}`, { disabled: false });
      for (const id of [viaPut, viaPatch]) {
        assert.deepEqual([(await stored(id)).disabled, (await stored(id)).failingSince], [false, null], id);
      }
      // Re-applying the configuration of an endpoint that is failing but enabled keeps its run.
      await h.call('PUT', `/api/v1/app/re-app/endpoint/${stillOn}`, { url });
      assert.notEqual((await stored(stillOn)).failingSince, null);
    });

    test('a URL is stored as parsed: what was checked is what every reader sees', async () => {
      await h.call('POST', '/api/v1/app', { name: 'U', uid: 'url-app' });
      for (const [given, stored] of [
        ['HTTPS://Example.COM', 'https://example.com/'],
        ['http://good.example\\@example.org/x', 'http://good.example/@example.org/x'],
        [' https://example.com/a\tb ', 'https://example.com/ab'],
      ]) {
        const res = await h.call('POST', '/api/v1/app/url-app/endpoint', { url: given });
        assert.equal(res.status, 201, given);
        assert.equal(res.json.url, stored);
        assert.equal((await h.call('GET', `/api/v1/app/url-app/endpoint/${res.json.id}`)).json.url, stored);
      }
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

    test('a field sent in both spellings: a null gives way to the value, two values must agree', async () => {
      await h.call('POST', '/api/v1/event-type', { name: 'both.a', description: '' });
      await h.call('POST', '/api/v1/event-type', { name: 'both.b', description: '' });
      const app = await h.call('POST', '/api/v1/app', { name: 'Both', throttleRate: 5, rateLimit: null });
      assert.equal(app.json.throttleRate, 5);
      const a = app.json.id;
      const url = 'https://example.com/both';
      const ep = await h.call('POST', `/api/v1/app/${a}/endpoint`, {
        url,
        eventTypes: ['both.a'],
        filterTypes: null,
        throttleRate: 7,
        rateLimit: null,
      });
      assert.equal(ep.status, 201);
      assert.deepEqual(ep.json.filterTypes, ['both.a'], 'a null filterTypes does not clear eventTypes');
      assert.equal(ep.json.rateLimit, 7);
      const path = `/api/v1/app/${a}/endpoint/${ep.json.id}`;
      const patched = await h.call('PATCH', path, { eventTypes: ['both.b'], filterTypes: null });
      assert.deepEqual(patched.json.filterTypes, ['both.b']);
      const same = await h.call('PATCH', path, {
        eventTypes: ['both.a', 'both.b'],
        filterTypes: ['both.b', 'both.a'],
      });
      assert.deepEqual(
        [...same.json.filterTypes].sort(),
        ['both.a', 'both.b'],
        'the same set in another order',
      );
      await h.call('PATCH', path, { filterTypes: ['both.a'] });
      const disagreeing: Array<[string, string, object, string[]]> = [
        ['PATCH', path, { eventTypes: ['both.a'], filterTypes: ['both.b'] }, ['body', 'filterTypes']],
        ['POST', `/api/v1/app/${a}/endpoint`, { url, throttleRate: 5, rateLimit: 10 }, ['body', 'rateLimit']],
        ['PATCH', `/api/v1/app/${a}`, { throttleRate: 5, rateLimit: 10 }, ['body', 'rateLimit']],
        [
          'POST',
          `/api/v1/app/${a}/msg`,
          {
            eventType: 'both.a',
            payload: {},
            application: { name: 'x', uid: 'both-new', throttleRate: 1, rateLimit: 2 },
          },
          ['body', 'application', 'rateLimit'],
        ],
        [
          'POST',
          '/api/v1/event-type',
          { name: 'both.c', description: '', featureFlag: 'f1', featureFlags: ['f2'] },
          ['body', 'featureFlags'],
        ],
      ];
      for (const [method, target, body, field] of disagreeing) {
        const res = await h.call(method as 'POST', target, body);
        assert.equal(res.status, 422, `${method} ${target}`);
        assert.deepEqual(loc(res), field);
      }
      assert.deepEqual((await h.call('GET', path)).json.filterTypes, ['both.a'], 'nothing changed');
      assert.equal((await h.call('GET', `/api/v1/app/${a}`)).json.throttleRate, 5);
      assert.equal((await h.call('GET', '/api/v1/app/both-new')).status, 404, 'no application created');
      assert.equal((await h.call('GET', '/api/v1/event-type/both.c')).status, 404);
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

    test('malformed JSON is a 422 for the body, as in Svix', async () => {
      const res = await h.call('POST', '/api/v1/app', '{"name": "x",');
      assert.equal(res.status, 422);
      const [issue] = res.json.detail;
      assert.deepEqual([issue.loc, issue.type], [['body'], 'value_error.jsondecode']);
      assert.match(issue.msg, /malformed JSON body/);
    });

    test('JSON that Svix cannot read (nested past 128 levels, a number past a double) is a 422 naming it', async () => {
      const app = (await h.call('POST', '/api/v1/app', { name: 'Limits' })).json.id;
      const before = (await h.call('GET', `/api/v1/app/${app}/msg`)).json.data.length;
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      const refused: Array<[string, string[], RegExp]> = [
        [`{"eventType":"a","payload":{"n":[1e400]}}`, ['body', 'payload', 'n', '0'], /out of range/],
        [
          `{"eventType":"a","payload":{"a":${deep}}}`,
          ['body', 'payload', 'a', ...Array(126).fill('0')],
          /128/,
        ],
      ];
      for (const [body, loc, msg] of refused) {
        const res = await h.call('POST', `/api/v1/app/${app}/msg`, body);
        assert.equal(res.status, 422);
        const [issue] = res.json.detail;
        assert.deepEqual([issue.loc, issue.type], [loc, 'value_error.jsondecode']);
        assert.match(issue.msg, msg);
      }
      assert.equal((await h.call('GET', `/api/v1/app/${app}/msg`)).json.data.length, before);
      // 128 levels in all, the body's own included, are taken.
      const deepest = `{"eventType":"a","payload":{"a":${'['.repeat(126)}${']'.repeat(126)}}}`;
      assert.equal((await h.call('POST', `/api/v1/app/${app}/msg`, deepest)).status, 202);
    });

    test('a body over the limit is a 413 saying the limit, and nothing is created', async () => {
      const before = (await h.call('GET', '/api/v1/app?limit=250')).json.data.length;
      const res = await h.call('POST', '/api/v1/app', { name: 'x'.repeat(1024 * 1024) });
      assert.equal(res.status, 413);
      assert.deepEqual(res.json, {
        code: 'payload_too_large',
        detail: 'request body is larger than 1048576 bytes',
      });
      assert.equal((await h.call('GET', '/api/v1/app?limit=250')).json.data.length, before);
    });
  });
});
