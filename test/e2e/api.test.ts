import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StoreUnavailableError } from '../../src/store/store.ts';
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
  'HEAD /api/v1/health',
  'GET /api/v1/health/ping',
  'HEAD /api/v1/health/ping',
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
        for (const method of ['GET', 'HEAD'] as const) {
          const res = await h.call(method, url, undefined, { authorization: '' });
          assert.deepEqual([res.status, res.body], [204, ''], `${method} ${url}`);
        }
      }
      // Readiness: HEAD, like GET, answers 503 while the database cannot serve; ping does not ask it.
      const get = h.store.settings.get;
      h.store.settings.get = async () => {
        throw new StoreUnavailableError(new Error('connection refused'));
      };
      try {
        for (const method of ['GET', 'HEAD'] as const) {
          const res = await h.call(method, '/api/v1/health', undefined, { authorization: '' });
          assert.deepEqual([res.status, res.headers['retry-after']], [503, '5'], method);
          const ping = await h.call(method, '/api/v1/health/ping', undefined, { authorization: '' });
          assert.equal(ping.status, 204, method);
        }
      } finally {
        h.store.settings.get = get;
      }
      const doc = await h.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
      assert.equal(doc.status, 200);
      for (const op of SVIX_OPERATIONS) {
        const [method, path] = op.split(' ') as [string, string];
        const served = doc.json.paths[path]?.[method.toLowerCase()];
        assert.ok(served, `${op} is served`);
        if (method !== 'POST') continue;
        const headers = served.parameters.filter((p: { in: string }) => p.in === 'header');
        assert.deepEqual(
          headers.map((p: { name: string }) => p.name),
          ['idempotency-key'],
          `${op} documents idempotency-key`,
        );
      }
      // The reference's operationIds (generated clients name their methods after them), where they are
      // not of the v1.* form.
      const ids = {
        'patch /api/v1/app/{app_id}': 'patch_application',
        'patch /api/v1/app/{app_id}/endpoint/{endpoint_id}': 'patch_endpoint',
        'patch /api/v1/event-type/{event_type_name}': 'patch_event_type',
        'post /api/v1/auth/logout': 'logout_api_v1_auth_logout__post',
      };
      for (const [op, id] of Object.entries(ids)) {
        const [method, path] = op.split(' ') as [string, string];
        assert.equal(doc.json.paths[path][method].operationId, id, op);
      }
      // OpenAPI 3.0 schemas: no propertyNames, and patterns that mean the same without the u flag.
      const text = doc.body;
      assert.ok(!text.includes('"propertyNames"'), 'propertyNames is not OpenAPI 3.0');
      for (const [, pattern] of text.matchAll(/"pattern":"((?:[^"\\]|\\.)*)"/g)) {
        const source = JSON.parse(`"${pattern}"`) as string;
        assert.doesNotThrow(() => new RegExp(source), source);
        assert.equal(new RegExp(source).test('pizza'), new RegExp(source, 'u').test('pizza'), source);
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
      // Node would keep the first of two and drop the other; a proxy in front may read the other.
      const twice = await h.call('GET', '/api/v1/app', undefined, {
        authorization: [`Bearer ${ADMIN}`, 'Bearer other'] as unknown as string,
      });
      assert.deepEqual([twice.status, twice.json.detail], [401, 'more than one Authorization header']);
    });

    test('unknown routes are 404 with an HttpErrorOut body', async () => {
      const res = await h.call('GET', '/api/v1/nope');
      assert.equal(res.status, 404);
      assert.equal(res.json.code, 'not_found');
    });

    test('a method a route does not have is a 405 naming those it has', async () => {
      const put = await h.call('PUT', '/api/v1/app');
      assert.deepEqual([put.status, put.json.code], [405, 'method_not_allowed']);
      assert.equal(put.json.detail, 'PUT is not allowed on /api/v1/app: use GET, HEAD, POST');
      assert.equal(put.headers.allow, 'GET, HEAD, POST');
      const del = await h.call('DELETE', '/api/v1/app/some-app/endpoint/some-ep/secret/');
      assert.deepEqual([del.status, del.headers.allow], [405, 'GET, HEAD']);
      assert.equal((await h.call('GET', '/api/v1/app/some-app/nothing-here')).status, 404);
      assert.equal(
        (await h.call('DELETE', '/api/v1/%61pp')).status,
        405,
        'a percent-escape, as the router reads it',
      );
    });

    test('a trailing slash reaches the same route, as in Svix', async () => {
      const created = await h.call('POST', '/api/v1/app/', { name: 'Slash', uid: 'slash' });
      assert.equal(created.status, 201);
      assert.equal((await h.call('GET', '/api/v1/app/slash/')).json.id, created.json.id);
      assert.equal((await h.call('GET', '/api/v1/health/')).status, 204);
    });

    test("the router's own refusals and an encoded body get an HttpErrorOut body", async () => {
      const long = await h.call('GET', `/api/v1/app/${'x'.repeat(5000)}`);
      assert.equal(long.status, 414);
      assert.equal(long.json.code, 'uri_too_long');
      assert.equal(typeof long.json.detail, 'string');
      const gzip = await h.call('POST', '/api/v1/app', { name: 'Zipped' }, { 'content-encoding': 'gzip' });
      assert.equal(gzip.status, 415);
      assert.equal(gzip.json.code, 'unsupported_media_type');
      assert.match(gzip.json.detail, /content-encoding gzip/);
      // Bytes in another charset are a 415 naming it, even where they happen to be valid UTF-8 too
      // (read as UTF-8, Latin-1's "cafÃ©" would become "café").
      const latin1 = Buffer.from('{"name":"caf\u00e9"}', 'latin1');
      const alsoUtf8 = Buffer.from('{"name":"caf\u00e9"}', 'utf8');
      for (const [type, charset, body] of [
        ['application/json; charset=iso-8859-1', 'iso-8859-1', latin1],
        ['text/plain; charset="latin1"', 'latin1', latin1],
        ['application/json; charset=iso-8859-1', 'iso-8859-1', alsoUtf8],
        ['application/json; charset=us-ascii', 'us-ascii', alsoUtf8],
        ['application/json; charset=utf-16', 'utf-16', Buffer.from('{"name":"x"}')],
      ] as const) {
        const res = await h.call('POST', '/api/v1/app', body, { 'content-type': type });
        assert.deepEqual([res.status, res.json.code], [415, 'unsupported_media_type'], type);
        assert.equal(res.json.detail, `charset ${charset} is not supported: send the JSON body as UTF-8`);
      }
      // Unlabelled, they are not UTF-8: a 422 for the body.
      const unlabelled = await h.call('POST', '/api/v1/app', latin1, { 'content-type': 'application/json' });
      assert.deepEqual([unlabelled.status, unlabelled.json.detail[0].loc], [422, ['body']]);
      assert.equal(unlabelled.json.detail[0].type, 'value_error.jsondecode');
      // Any content-type is read as JSON, as Svix's server reads it (`curl -d` sends a form's type).
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/merge-patch+json',
      ]) {
        const res = await h.call('POST', '/api/v1/app', JSON.stringify({ name: type }), {
          'content-type': type,
        });
        assert.deepEqual([res.status, res.json.name], [201, type]);
      }
      // A UTF-8 label is not refused, nor another on ASCII bytes, which mean the same in both.
      for (const type of [
        'application/json; charset=utf-8',
        'application/json;charset=UTF8',
        'application/json; charset=us-ascii',
        'application/json; charset=ISO-8859-1',
      ]) {
        const res = await h.call('POST', '/api/v1/app', { name: 'Typed' }, { 'content-type': type });
        assert.equal(res.status, 201, type);
      }
      // A body-less POST labelled text/plain (as a browser's fetch sends it) is read as no body.
      const app = (await h.call('POST', '/api/v1/app', { name: 'Empty' })).json.id;
      const ep = await h.call('POST', `/api/v1/app/${app}/endpoint`, { url: 'https://example.com/e' });
      const rotate = `/api/v1/app/${app}/endpoint/${ep.json.id}/secret/rotate`;
      const empty = await h.call('POST', rotate, '', { 'content-type': 'text/plain;charset=UTF-8' });
      assert.equal(empty.status, 204);
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

    test('after starts the list at that time, as in Svix; before and after are ignored once an iterator is passed', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Dated', uid: 'dated' });
      const sent: string[] = [];
      for (let i = 0; i < 4; i++)
        sent.push(
          (await h.call('POST', '/api/v1/app/dated/msg', { eventType: 'a', payload: { i } })).json.id,
        );
      const ids = (res: Res) => res.json.data.map((m: { id: string }) => m.id);
      const since = '2000-01-01T00:00:00Z';
      // The page holds the messages just after `after`, newest first, and prevIterator walks on.
      const first = await h.call('GET', `/api/v1/app/dated/msg?limit=2&after=${since}`);
      assert.deepEqual([ids(first), first.json.done], [[sent[1], sent[0]], false]);
      const newer = await h.call(
        'GET',
        `/api/v1/app/dated/msg?limit=2&after=${since}&before=${since}&iterator=${first.json.prevIterator}`,
      );
      assert.deepEqual([ids(newer), newer.json.done], [[sent[3], sent[2]], true], 'before no longer filters');
      const older = await h.call('GET', `/api/v1/app/dated/msg?limit=2&iterator=${first.json.iterator}`);
      assert.deepEqual([ids(older), older.json.done], [[], true]);
      const filtered = await h.call('GET', `/api/v1/app/dated/msg?before=${since}`);
      assert.equal(filtered.json.data.length, 0, 'without an iterator, before still filters');
    });

    test('a uid may not start with the prefix of ids (it would name another object): 422', async () => {
      const victim = await h.call('POST', '/api/v1/app', { name: 'Victim' });
      const shadow = await h.call('POST', '/api/v1/app', { name: 'Shadow', uid: victim.json.id });
      assert.equal(shadow.status, 422);
      assert.deepEqual(loc(shadow), ['body', 'uid']);
      assert.match(shadow.json.detail[0].msg, /may not start with "app_"/);
      for (const [method, path] of [
        ['PUT', '/api/v1/app/shadow'],
        ['PATCH', `/api/v1/app/${victim.json.id}`],
      ] as const) {
        const res = await h.call(method, path, { name: 'Shadow', uid: 'app_1' });
        assert.equal(res.status, 422, `${method} ${path}`);
        assert.deepEqual(loc(res), ['body', 'uid']);
      }
      const endpoint = await h.call('POST', `/api/v1/app/${victim.json.id}/endpoint`, {
        url: 'https://example.com/hook',
        uid: 'ep_1',
      });
      assert.deepEqual(loc(endpoint), ['body', 'uid']);
      assert.match(endpoint.json.detail[0].msg, /"ep_"/);
      const message = await h.call('POST', `/api/v1/app/${victim.json.id}/msg`, {
        eventType: 'a',
        payload: {},
        eventId: 'msg_1',
      });
      assert.deepEqual(loc(message), ['body', 'eventId']);
      assert.equal((await h.call('GET', `/api/v1/app/${victim.json.id}`)).json.name, 'Victim');
      // Other prefixes are uids like any other.
      assert.equal((await h.call('POST', '/api/v1/app', { name: 'Ok', uid: 'ep_app' })).status, 201);
      // "." and "..": clients resolve them in a path, so a DELETE of the endpoint ".." would reach its app.
      for (const uid of ['.', '..']) {
        const dots = await h.call('POST', `/api/v1/app/${victim.json.id}/endpoint`, {
          url: 'https://example.com/hook',
          uid,
        });
        assert.deepEqual([dots.status, loc(dots)], [422, ['body', 'uid']], uid);
        assert.match(dots.json.detail[0].msg, /may not be "\." or "\.\."/);
      }
      assert.equal((await h.call('POST', '/api/v1/app', { name: 'Dots', uid: '...' })).status, 201);
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

      // Creating an archived event type unarchives it, as the body describes it (whatever its `archived`
      // says); a live one is a conflict.
      const revived = await h.call('POST', '/api/v1/event-type', {
        name: 'user.created',
        description: 'back',
        archived: true,
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
    test("each version's schema is an object, nested at most 100 deep, its numbers doubles: 422 otherwise", async () => {
      const res = await h.call('POST', '/api/v1/event-type', {
        name: 'schema.text',
        description: 'd',
        schemas: { '1': 'not a schema' },
      });
      assert.equal(res.status, 422);
      assert.deepEqual(loc(res), ['body', 'schemas', '1']);
      // Nested past any real schema (5,000 levels overflowed the stack when stored: a 500).
      const nested = (depth: number) =>
        `{"name":"schema.deep","description":"d","schemas":{"1":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
      const deep = await h.call('POST', '/api/v1/event-type', nested(5000));
      assert.equal(deep.status, 422);
      assert.deepEqual(loc(deep).slice(0, 5), ['body', 'schemas', '1', 'a', '0']);
      const deeper = await h.call('POST', '/api/v1/event-type', nested(110)); // past 100, within the body's 128
      assert.deepEqual([deeper.status, loc(deeper)], [422, ['body', 'schemas']]);
      assert.equal((await h.call('POST', '/api/v1/event-type', nested(50))).status, 201);
      // A number beyond a double would be stored as null: refused, not changed.
      const huge = '{"name":"schema.huge","description":"d","schemas":{"1":{"maximum":1e400}}}';
      const refused = await h.call('POST', '/api/v1/event-type', huge);
      assert.deepEqual([refused.status, loc(refused)], [422, ['body', 'schemas', '1', 'maximum']]);
      const patched = await h.call('PATCH', '/api/v1/event-type/schema.deep', {
        schemas: { '1': { maximum: 1e300 } },
      });
      assert.equal(patched.status, 200);
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
});
