// Bad input never gets a 500: every operation of the server's own OpenAPI document is sent malformed
// bodies, wrong-typed fields, odd query values and odd path ids. Each answer must be below 500 and, when
// it is an error, have Svix's error shape; a 422 must name the field that was wrong; and no rejected
// write may leave an object behind (every stored object was named by an accepted answer). Operations added
// later are covered without touching this file (only a valid body must be given for new request bodies).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDriver } from '../support/in-process.ts';
import { type Harness, harness, type Res } from './api-harness.ts';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const SINCE = '2029-01-01T00:00:00.000Z';
// A valid body per operation with one: each mutation changes one field of it.
const VALID: Record<string, object> = {
  'POST /api/v1/app': { name: 'n' },
  'PUT /api/v1/app/{app_id}': { name: 'n' },
  'PATCH /api/v1/app/{app_id}': {},
  'POST /api/v1/event-type': { name: 'fz.new', description: 'd' },
  'PUT /api/v1/event-type/{event_type_name}': { description: 'd' },
  'PATCH /api/v1/event-type/{event_type_name}': {},
  // Names the event types the other bodies and the paths use: with replaceAll, it archives all others.
  'POST /api/v1/event-type/import/openapi': {
    spec: { webhooks: { 'fz.ev': { post: { summary: 'd' } }, 'fz.path': { post: { summary: 'd' } } } },
  },
  'POST /api/v1/environment/import': { eventTypes: [{ name: 'fz.ev', description: 'd' }] },
  'POST /api/v1/app/{app_id}/endpoint': { url: 'http://127.0.0.1:9/y' },
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}': { url: 'http://127.0.0.1:9/y' },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}': {},
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate': { key: SECRET },
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { headers: { 'x-a': 'b' } },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { headers: { 'x-a': 'b' } },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation': {},
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover': { since: SINCE },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing': { since: SINCE },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay': { since: SINCE },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example': { eventType: 'fz.ev' },
  'POST /api/v1/app/{app_id}/msg': { eventType: 'fz.ev', payload: { a: 1 } },
  'POST /api/v1/app/{app_id}/msg/precheck/active': { eventType: 'fz.ev' },
  'POST /api/v1/auth/app-portal-access/{app_id}': {},
  'POST /api/v1/auth/app/{app_id}/expire-all': { expiry: 60 },
};

const LONG = 'x'.repeat(70_000);
const RAW_BODIES = ['', 'not json', '[]', '1', 'null', '{', '{"a":', '"s"', '{"__proto__":{"x":1}}'];
const WRONG_VALUES: unknown[] = [
  ...[null, 0, -1, 2 ** 53, 1e308, 1.5, true, [], ['x'], {}, { a: { b: 1 } }],
  ...['', LONG, '\u0000', 'a\u0000b', 'a\ud800b', 'http://10.0.0.1/', 'ftp://x', 'http://u:p@127.0.0.1/'],
  ...['2029-13-45T00:00:00Z', 'whsec_', `whsec_${'A'.repeat(100)}`],
];
const WRONG_MAPS: unknown[] = [
  ...[{ k: 1 }, { k: null }, { '': 'x' }, { '\u0000': 'x' }, { k: 'a\u0000' }, { [LONG]: 'x' }, { k: LONG }],
  ...[
    { 'content-type': 'x' },
    { 'webhook-signature': 'x' },
    { Host: 'x' },
    { 'x-a b': 'v' },
    { 'x-a': 'v\r\nx: y' },
  ],
];
const QUERY_VALUES = ['', 'abc', '-1', '0', '1e400', '99999999999999999999', '1.5', 'true', '%00', '%FF'];
// Not '..': clients resolve it before sending, so it names the parent resource (with the trailing slash
// ignored, as in Svix, a DELETE of an endpoint at '..' deletes its application).
const PATH_VALUES = ['nope', 'x'.repeat(3000), '%00', '%2F', "'%3B DROP TABLE x", '%E2%82%AC', 'msg_', '...'];

type Operation = { method: string; path: string; op: OpenApiOperation };
type OpenApiOperation = {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: {
    content?: { 'application/json'?: { schema?: { properties?: Record<string, FieldSchema> } } };
  };
};

type FieldSchema = { type?: string; nullable?: boolean };

/** A value of another JSON type than the field's (null where it is not nullable): the API must refuse it. */
function wrongType(schema: FieldSchema, value: unknown): boolean {
  if (schema.type === undefined) return false;
  if (value === null) return schema.nullable !== true;
  const kind = Array.isArray(value)
    ? 'array'
    : typeof value === 'number'
      ? Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER
        ? 'integer'
        : 'number'
      : typeof value;
  return !(kind === schema.type || (schema.type === 'number' && kind === 'integer'));
}

/** The document's named schemas in place of their $refs (a nullable one's allOf), as the fields are read. */
function inlined<T>(value: T, schemas: Record<string, object>): T {
  if (Array.isArray(value)) return value.map((v) => inlined(v, schemas)) as T;
  if (value === null || typeof value !== 'object') return value;
  const { $ref, allOf, ...rest } = value as { $ref?: string; allOf?: Array<{ $ref?: string }> };
  if ($ref) return inlined(schemas[$ref.replace('#/components/schemas/', '')], schemas) as T;
  if (allOf?.length === 1 && allOf[0]?.$ref) return { ...inlined(allOf[0], schemas), ...rest } as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inlined(v, schemas)])) as T;
}

function problem(res: Res): string | null {
  if (res.status >= 500) return `answered ${res.status}: ${res.body.slice(0, 200)}`;
  if (res.status < 400) return null;
  const shaped = typeof res.json?.code === 'string' || Array.isArray(res.json?.detail);
  return shaped ? null : `error ${res.status} without Svix's error shape: ${res.body.slice(0, 200)}`;
}

await describeEachDriver((driver) => {
  let h: Harness;
  let ids: Record<string, string>;
  let operations: Operation[];
  before(async () => {
    h = await harness(driver);
    const app = (await h.call('POST', '/api/v1/app', { name: 'fz' })).json;
    await h.call('POST', '/api/v1/event-type', { name: 'fz.ev', description: 'd' });
    // The event type the paths address, apart from the one the bodies name: a valid PATCH may archive
    // it, and messages of an archived type are refused.
    await h.call('POST', '/api/v1/event-type', { name: 'fz.path', description: 'd' });
    const ep = (await h.call('POST', `/api/v1/app/${app.id}/endpoint`, { url: 'http://127.0.0.1:9/x' })).json;
    const msg = (await h.call('POST', `/api/v1/app/${app.id}/msg`, { eventType: 'fz.ev', payload: {} })).json;
    ids = {
      app_id: app.id,
      endpoint_id: ep.id,
      msg_id: msg.id,
      event_type_name: 'fz.path',
      attempt_id: 'atmpt_x',
    };
    const doc = (await h.call('GET', '/api/v1/openapi.json')).json;
    const paths = inlined(doc.paths, doc.components.schemas);
    operations = Object.entries<Record<string, OpenApiOperation>>(paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
    );
    // Deletes last, so that the objects the others address still exist.
    operations.sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
  });
  after(async () => {
    await h.close();
  });

  const url = (path: string, override: Record<string, string> = {}): string =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => override[name] ?? encodeURIComponent(ids[name] ?? 'x'));

  /** The ids of every application, endpoint and message, and the names of every event type. */
  async function storedObjects(): Promise<string[]> {
    const all = async (path: string): Promise<Array<{ id?: string; name: string }>> => {
      const out = [];
      for (let iterator = ''; ; ) {
        const page = (await h.call('GET', `${path}${path.includes('?') ? '&' : '?'}limit=250${iterator}`))
          .json;
        out.push(...page.data);
        if (page.done) return out;
        iterator = `&iterator=${encodeURIComponent(page.iterator)}`;
      }
    };
    const apps = await all('/api/v1/app');
    const names = apps.map((a) => a.id!);
    for (const app of apps) {
      for (const kind of ['endpoint', 'msg'])
        names.push(...(await all(`/api/v1/app/${app.id}/${kind}`)).map((x) => x.id!));
    }
    names.push(...(await all('/api/v1/event-type?include_archived=true')).map((t) => t.name));
    return names;
  }

  test('no operation answers 500 or an unshaped error to malformed input; a 422 names the field', async () => {
    const failures: string[] = [];
    // Every object the database holds must have been named by some accepted answer: a rejected write
    // leaves nothing behind.
    const acked = new Set<string>([
      ids.app_id!,
      ids.endpoint_id!,
      ids.msg_id!,
      ids.event_type_name!,
      'fz.ev',
    ]);
    let sent = 0;
    let lookedForLeftovers = false;
    const send = async (
      method: string,
      target: string,
      body?: unknown,
      field?: string,
      refuse = false,
    ): Promise<void> => {
      sent++;
      const res = await h.call(method as 'GET', target, body);
      if (res.status < 300) for (const key of ['id', 'name']) if (res.json?.[key]) acked.add(res.json[key]);
      let wrong = problem(res);
      // A JSON body is taken as typed: a value of the wrong type is refused, never converted.
      if (!wrong && refuse && res.status !== 422) wrong = `a value of the wrong type answered ${res.status}`;
      if (!wrong && res.status === 422 && field !== undefined) {
        const named = res.json.detail.some(
          (d: { loc: string[] }) => d.loc[0] === 'body' && d.loc[1] === field,
        );
        if (!named) wrong = `422 does not name ${field}: ${res.body.slice(0, 200)}`;
      }
      if (wrong)
        failures.push(`${method} ${target.slice(0, 100)} ${JSON.stringify(body)?.slice(0, 80)}: ${wrong}`);
    };
    for (const { method, path, op } of operations) {
      if (method === 'DELETE' && !lookedForLeftovers) {
        lookedForLeftovers = true;
        const stored = await storedObjects();
        assert.ok(stored.length > 4, `${stored.length} objects stored`);
        for (const name of stored) if (!acked.has(name)) failures.push(`${name} stored, never accepted`);
      }
      const key = `${method} ${path}`;
      const properties = op.requestBody?.content?.['application/json']?.schema?.properties;
      const valid = VALID[key];
      if (properties) {
        assert.ok(valid, `a valid body for ${key} is listed in VALID`);
        for (const raw of RAW_BODIES) await send(method, url(path), raw);
        for (const [field, schema] of Object.entries(properties)) {
          const values = schema.type === 'object' ? [...WRONG_VALUES, ...WRONG_MAPS] : WRONG_VALUES;
          for (const value of values)
            await send(method, url(path), { ...valid, [field]: value }, field, wrongType(schema, value));
          if (schema.type === 'array') {
            for (const value of WRONG_VALUES)
              await send(method, url(path), { ...valid, [field]: [value] }, field);
          }
        }
      }
      for (const p of op.parameters ?? []) {
        if (p.in === 'query') {
          for (const v of QUERY_VALUES)
            await send(method, `${url(path)}?${p.name}=${v}&${p.name}=${v}`, valid);
        }
        if (p.in === 'path')
          for (const v of PATH_VALUES) await send(method, url(path, { [p.name]: v }), valid);
      }
    }
    assert.ok(sent > 3000, `sent ${sent} requests`);
    assert.ok(lookedForLeftovers, 'looked for objects left by rejected writes, before the deletes');
    assert.deepEqual(failures, []);
    assert.equal((await h.call('GET', `/api/v1/app/${ids.app_id}/msg`)).status, 200, 'still serving');
  });

  test('odd authorization, idempotency-key and content headers get a shaped answer below 500', async () => {
    const headers: Record<string, string>[] = [
      ...[
        'Bearer ',
        'Basic abc',
        'Bearer',
        `Bearer ${'x'.repeat(10_000)}`,
        'Bearer appsk_e30.',
        'Bearer appsk_%%.x',
      ].map((authorization) => ({ authorization })),
      ...['', 'x'.repeat(10_000), 'é'].map((key) => ({ 'idempotency-key': key })),
      ...['application/json; charset=latin1', 'application/json; charset=utf-16', 'text/plain', ''].map(
        (type) => ({ 'content-type': type }),
      ),
      { 'content-encoding': 'gzip' },
      { 'content-encoding': 'br' },
    ];
    const calls: Array<[string, string, object | undefined]> = [
      ['POST', `/api/v1/app/${ids.app_id}/msg`, { eventType: 'fz.ev', payload: {} }],
      ['POST', '/api/v1/app', { name: 'h' }],
      ['GET', '/api/v1/app', undefined],
    ];
    const failures: string[] = [];
    for (const header of headers) {
      for (const [method, target, body] of calls) {
        const wrong = problem(await h.call(method as 'GET', target, body, header));
        if (wrong) failures.push(`${method} ${target} ${JSON.stringify(header).slice(0, 60)}: ${wrong}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('what the Svix SDK can send for features Doorbell lacks is refused by name, not dropped', async () => {
    const path = `/api/v1/app/${ids.app_id}/msg`;
    const transformed = { eventType: 'fz.ev', payload: {}, transformationsParams: { a: 1 } };
    const refused = await h.call('POST', path, transformed);
    assert.deepEqual(
      [refused.status, refused.json.detail?.[0]?.loc],
      [422, ['body', 'transformationsParams', 'a']],
    );
    const unset = { eventType: 'fz.ev', payload: {}, deliverAt: null, tags: [], transformationsParams: null };
    assert.equal((await h.call('POST', path, unset)).status, 202, 'unset, as the SDK may send them');
    const badTag = await h.call('POST', path, { eventType: 'fz.ev', payload: {}, tags: ['no spaces'] });
    assert.deepEqual([badTag.status, badTag.json.detail?.[0]?.loc], [422, ['body', 'tags', '0']]);
  });

  test('a body that is not valid UTF-8 is a 422, not a payload changed on the way', async () => {
    const path = `/api/v1/app/${ids.app_id}/msg`;
    const before = (await h.call('GET', `${path}?limit=250`)).json.data.length;
    const body = Buffer.concat([
      Buffer.from('{"eventType":"fz.ev","payload":{"bad":"a'),
      Buffer.from([0xff]),
      Buffer.from('b"}}'),
    ]);
    const res = await h.call('POST', path, body);
    assert.equal(res.status, 422);
    assert.deepEqual(res.json.detail, [
      { loc: ['body'], msg: 'the body is not valid UTF-8', type: 'value_error.jsondecode' },
    ]);
    assert.equal((await h.call('GET', `${path}?limit=250`)).json.data.length, before);
    const text = await h.call('POST', path, Buffer.from('{"eventType":"fz.ev","payload":{"ok":"é😀"}}'));
    assert.equal(text.status, 202);
    assert.equal(text.json.payload.ok, 'é😀');
  });

  test('free text and metadata refuse U+0000 and unpaired surrogates by name on both drivers; version is a uint16', async () => {
    const nul = await h.call('POST', '/api/v1/app', { name: 'a\u0000b' });
    assert.equal(nul.status, 422);
    assert.deepEqual(nul.json.detail[0].loc, ['body', 'name']);
    assert.match(nul.json.detail[0].msg, /U\+0000/);
    const desc = await h.call('PATCH', `/api/v1/app/${ids.app_id}/endpoint/${ids.endpoint_id}`, {
      description: '\u0000',
    });
    assert.deepEqual(desc.json.detail[0].loc, ['body', 'description']);
    // PostgreSQL refused a NUL in an endpoint URL with a 500.
    const url = await h.call('POST', `/api/v1/app/${ids.app_id}/endpoint`, {
      url: 'http://127.0.0.1:9/\u0000',
    });
    assert.equal(url.status, 422);
    assert.deepEqual(url.json.detail[0].loc, ['body', 'url']);
    // An unpaired surrogate is not UTF-8: stored, it would read back as something else.
    const lone = await h.call('POST', '/api/v1/app', '{"name":"lone \\ud800 surrogate"}');
    assert.equal(lone.status, 422);
    assert.deepEqual(lone.json.detail[0].loc, ['body', 'name']);
    assert.equal((await h.call('POST', '/api/v1/app', { name: 'pair 😀' })).status, 201);
    // Each names the value's key, or the bad key itself (once).
    for (const [metadata, key] of [
      [{ k: 'a\u0000' }, 'k'],
      [{ '\u0000': 'v' }, '\u0000'],
      [{ 'x\ud800': 'v' }, 'x\ud800'],
    ] as const) {
      const res = await h.call('POST', '/api/v1/app', { name: 'm', metadata });
      assert.equal(res.status, 422);
      assert.deepEqual(
        res.json.detail.map((d: { loc: string[] }) => d.loc),
        [['body', 'metadata', key]],
      );
    }
    const big = await h.call('POST', `/api/v1/app/${ids.app_id}/endpoint`, {
      url: 'http://127.0.0.1:9/v',
      version: 65536,
    });
    assert.equal(big.status, 422);
    assert.deepEqual(big.json.detail[0].loc, ['body', 'version']);
  });

  test('what every list returns is bounded: an endpoint description, and metadata entries, keys and values', async () => {
    const url = 'http://127.0.0.1:9/sized';
    const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    const cases: [object, string[]][] = [
      [{ description: 'd'.repeat(4097) }, ['body', 'description']],
      [{ metadata: entries(65) }, ['body', 'metadata']],
      [{ metadata: { ['k'.repeat(129)]: 'v' } }, ['body', 'metadata', 'k'.repeat(129)]],
      [{ metadata: { k: 'v'.repeat(1025) } }, ['body', 'metadata', 'k']],
    ];
    for (const [extra, loc] of cases) {
      const res = await h.call('POST', `/api/v1/app/${ids.app_id}/endpoint`, { url, ...extra });
      assert.equal(res.status, 422, JSON.stringify(loc));
      assert.deepEqual(res.json.detail[0].loc, loc);
    }
    const fits = {
      description: 'd'.repeat(4096),
      metadata: { ...entries(63), ['k'.repeat(128)]: 'v'.repeat(1024) },
    };
    assert.equal((await h.call('POST', `/api/v1/app/${ids.app_id}/endpoint`, { url, ...fits })).status, 201);
  });
});
