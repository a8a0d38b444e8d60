// Event types written many at once through the official svix SDK, on each store driver: imported from an
// OpenAPI document's webhooks (eventType.importOpenapi), and carried from one server to another
// (environment.export and import).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type ApiException, Svix } from 'svix';
import type { Running } from '../../src/bin/serve.ts';
import { describeEachDriver, start, TOKEN } from '../support/in-process.ts';

const YAML = `openapi: 3.1.0
info: { title: Shop, version: '1' }
webhooks:
  order.paid:
    post:
      summary: An order was paid
      requestBody:
        content:
          application/json:
            schema: { $ref: '#/components/schemas/Order' }
  order.refunded:
    post:
      description: An order was refunded
      deprecated: true
components:
  schemas:
    Order:
      type: object
      properties: { id: { type: string }, total: { type: integer } }
      example: { id: ord_1, total: 1200 }
`;

const status = (call: Promise<unknown>) =>
  call.then(
    () => 200,
    (e: ApiException<unknown>) => e.code,
  );

await describeEachDriver((driver) => {
  let doorbell: Running;
  let svix: Svix;

  before(async () => {
    doorbell = await start({}, driver);
    svix = new Svix(TOKEN, { serverUrl: doorbell.url });
  });

  after(() => doorbell.close());

  test("importOpenapi makes an event type of each webhook, resolving the document's references", async () => {
    const dry = await svix.eventType.importOpenapi({ specRaw: YAML, dryRun: true });
    assert.deepEqual(dry.data.modified, ['order.paid', 'order.refunded']);
    assert.deepEqual(
      dry.data.toModify?.map((e) => [e.name, e.description, e.deprecated]),
      [
        ['order.paid', 'An order was paid', false],
        ['order.refunded', 'An order was refunded', true],
      ],
    );
    assert.equal(await status(svix.eventType.get('order.paid')), 404, 'a dry run writes nothing');

    const done = await svix.eventType.importOpenapi({ specRaw: YAML });
    assert.deepEqual(done.data, { modified: ['order.paid', 'order.refunded'], toModify: undefined });
    const paid = await svix.eventType.get('order.paid');
    assert.equal(paid.description, 'An order was paid');
    assert.deepEqual(paid.schemas, {
      '1': {
        type: 'object',
        properties: { id: { type: 'string' }, total: { type: 'integer' } },
        example: { id: 'ord_1', total: 1200 },
      },
    });
    const refunded = await svix.eventType.get('order.refunded');
    assert.deepEqual([refunded.deprecated, refunded.schemas], [true, null]);
    // The example of the imported schema is what send-example sends.
    const app = await svix.application.create({ name: 'Shop' });
    const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/hook' });
    const example = await svix.endpoint.sendExample(app.id, ep.id, { eventType: 'order.paid' });
    assert.deepEqual(example.payload, { id: 'ord_1', total: 1200 });

    const again = await svix.eventType.importOpenapi({ specRaw: YAML });
    assert.deepEqual(again.data.modified, [], 'nothing left to change');
  });

  test('replaceAll archives the event types the document does not name, and the import revives its own', async () => {
    await svix.eventType.create({ name: 'legacy.event', description: 'Old' });
    await svix.eventType.delete('order.refunded'); // archived
    const app = await svix.application.create({ name: 'Publisher' });
    const publish = (eventType: string) => status(svix.message.create(app.id, { eventType, payload: {} }));
    assert.equal(await publish('order.refunded'), 422);
    assert.equal(await publish('legacy.event'), 200);

    const spec = { openapi: '3.1.0', webhooks: { 'order.refunded': { post: { summary: 'Refunded' } } } };
    const replaced = await svix.eventType.importOpenapi({ spec, replaceAll: true });
    assert.deepEqual(replaced.data.modified, ['order.refunded', 'legacy.event', 'order.paid']);
    const live = await svix.eventType.list({ limit: 250 });
    assert.deepEqual(
      live.data.map((e) => [e.name, e.description, e.deprecated]),
      [['order.refunded', 'Refunded', false]],
    );
    // The publish path's cached event types are forgotten with each change.
    assert.equal(await publish('order.refunded'), 200);
    assert.equal(await publish('legacy.event'), 422);
  });

  test('a document the import cannot read is refused, naming where, and nothing is written', async () => {
    const before = (await svix.eventType.list({ limit: 250, includeArchived: true })).data;
    const refused = async (body: object, code: number, loc?: string[]) => {
      const error = await svix.eventType.importOpenapi(body).then(
        () => assert.fail('accepted'),
        (e: ApiException<{ detail: unknown }>) => e,
      );
      assert.equal(error.code, code, JSON.stringify(error.body));
      if (loc) assert.deepEqual((error.body.detail as Array<{ loc: string[] }>)[0]?.loc, loc);
    };
    await refused({}, 400);
    await refused({ spec: { webhooks: {} }, specRaw: 'webhooks: {}' }, 400);
    await refused({ specRaw: 'webhooks: [unclosed' }, 422, ['body', 'specRaw']);
    await refused({ specRaw: 'a: 1\na: 2' }, 422, ['body', 'specRaw']);
    await refused({ specRaw: 'openapi: 3.1.0' }, 422, ['body', 'specRaw']);
    const spec = { webhooks: { 'fine.one': { post: {} }, 'bad name': { post: {} } } };
    await refused({ spec }, 422, ['body', 'spec', 'webhooks', 'bad name']);
    const outside = { $ref: 'https://example.com/schemas.json#/Order' };
    const external = {
      webhooks: {
        'x.y': { post: { requestBody: { content: { 'application/json': { schema: outside } } } } },
      },
    };
    await refused({ spec: external, dryRun: true }, 422, [
      'body',
      'spec',
      'webhooks',
      'x.y',
      'post',
      'requestBody',
    ]);
    assert.deepEqual((await svix.eventType.list({ limit: 250, includeArchived: true })).data, before);

    const app = await svix.application.create({ name: 'Portal' });
    const portal = new Svix((await svix.authentication.appPortalAccess(app.id, {})).token, {
      serverUrl: doorbell.url,
    });
    assert.equal(await status(portal.eventType.importOpenapi({ specRaw: YAML })), 403);
  });

  test("environment export carries the event type catalogue to another server's import, as it was", async () => {
    const big = '{"1": {"type": "object", "maximum": 12345678901234567890, "example": {"n": 1.0}}}';
    const created = await fetch(`${doorbell.url}/api/v1/event-type`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: `{"name": "big.numbers", "description": "Big", "featureFlag": "beta", "schemas": ${big}}`,
    });
    assert.equal(created.status, 201);
    const exported = await svix.environment.export();
    assert.deepEqual(exported.connectors, []);
    assert.equal(exported.settings, null);
    const names = exported.eventTypes.map((e) => [e.name, e.archived]);
    assert.deepEqual(
      names,
      (await svix.eventType.list({ limit: 250, includeArchived: true })).data.map((e) => [
        e.name,
        e.archived,
      ]),
    );
    assert.ok(
      names.some(([, archived]) => archived),
      'archived event types are carried too',
    );

    const other = await start({}, driver);
    try {
      const there = new Svix(TOKEN, { serverUrl: other.url });
      await there.eventType.create({ name: 'big.numbers', description: 'Replaced by the import' });
      // The export's text, as a client would send it back: its schemas' text goes as it came.
      const text = await (
        await fetch(`${doorbell.url}/api/v1/environment/export`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).text();
      assert.ok(text.includes('12345678901234567890'), 'the export keeps the schemas as written');
      const imported = await fetch(`${other.url}/api/v1/environment/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: text,
      });
      assert.equal(imported.status, 204, await imported.text());
      const shape = (e: {
        name: string;
        description: string;
        archived?: boolean;
        deprecated: boolean;
        featureFlags?: string[] | null;
        schemas?: unknown;
      }) => [e.name, e.description, e.archived, e.deprecated, e.featureFlags, e.schemas];
      const listed = await there.eventType.list({ limit: 250, includeArchived: true, withContent: true });
      assert.deepEqual(listed.data.map(shape), exported.eventTypes.map(shape));
      const raw = await fetch(`${other.url}/api/v1/event-type/big.numbers`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.ok((await raw.text()).includes('"maximum": 12345678901234567890'));

      // All or nothing, each field named where it is.
      const refused = async (body: object, loc: string[]) => {
        const error = await there.environment.import(body).then(
          () => assert.fail('accepted'),
          (e: ApiException<{ detail: Array<{ loc: string[] }> }>) => e,
        );
        assert.deepEqual([error.code, error.body.detail[0]?.loc], [422, loc]);
      };
      const fine = { name: 'fine.new', description: 'd' };
      let deep: object = {};
      for (let i = 0; i < 110; i++) deep = { a: deep }; // past a schema's 100 levels, within the body's 128
      await refused({ eventTypes: [fine, { name: 'too.deep', description: 'd', schemas: { '1': deep } }] }, [
        'body',
        'eventTypes',
        '1',
        'schemas',
      ]);
      await refused({ eventTypes: [fine, fine] }, ['body', 'eventTypes', '1', 'name']);
      await refused({ eventTypes: [{ ...fine, groupName: 'g' }] }, ['body', 'eventTypes', '0', 'groupName']);
      await refused({ eventTypes: [fine], settings: { enableChannels: true } }, ['body', 'settings']);
      await refused({ eventTypes: [fine], connectors: [{ name: 'c', logo: 'x' }] }, ['body', 'connectors']);
      assert.equal(await status(there.eventType.get('fine.new')), 404, 'nothing written');
      await there.environment.import({ settings: {}, connectors: [] }); // empty: nothing to do
      const huge = {
        name: 'huge.schema',
        description: 'd',
        schemas: { '1': { description: 'x'.repeat(1024 * 1024) } },
      };
      await refused({ eventTypes: [fine, huge] }, ['body', 'eventTypes', '1', 'schemas']);

      // A catalogue larger than other bodies may be (1 MiB) is imported whole.
      const many = Array.from({ length: 8_000 }, (_, i) => ({
        name: `bulk.${String(i).padStart(5, '0')}`,
        description: `Bulk event type number ${i} of a large catalogue`,
        schemas: { '1': { type: 'object', title: `Bulk ${i}` } },
      }));
      assert.ok(JSON.stringify({ eventTypes: many }).length > 1024 * 1024);
      await there.environment.import({ eventTypes: many });
      const bulk = (await there.environment.export()).eventTypes.filter((e) => e.name.startsWith('bulk.'));
      assert.equal(bulk.length, many.length);
      assert.deepEqual(bulk.at(-1)?.schemas, { '1': { type: 'object', title: 'Bulk 7999' } });

      const app = await there.application.create({ name: 'Portal' });
      const portal = new Svix((await there.authentication.appPortalAccess(app.id, {})).token, {
        serverUrl: other.url,
      });
      assert.equal(await status(portal.environment.export()), 403);
      assert.equal(await status(portal.environment.import({ eventTypes: [fine] })), 403);
    } finally {
      await other.close();
    }
  });

  test('an environment import is refused to an app token before its body is read, and bounds descriptions', async () => {
    await svix.application.create({ name: 'Env', uid: 'env-app' });
    const { token } = await svix.authentication.appPortalAccess('env-app', {});
    // 30 MB announced, 1 KB sent: the answer comes without the rest.
    const { hostname, port } = new URL(doorbell.url);
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.write(
      `POST /api/v1/environment/import HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 30000000\r\n\r\n{"eventTypes":[${'{},'.repeat(300)}`,
    );
    while (!answer.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 403 /);
    // A description no PUT could send, ending in what the text check refuses: a 422 naming it, not a 500.
    const long = await fetch(`${doorbell.url}/api/v1/environment/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ eventTypes: [{ name: 'long.text', description: `${'d'.repeat(9e6)}\uD800` }] }),
    });
    assert.equal(long.status, 422);
    const refused = (await long.json()) as { detail: Array<{ loc: string[] }> };
    assert.deepEqual(refused.detail[0]?.loc, ['body', 'eventTypes', '0', 'description']);
  });

  test('imports of one catalogue sent at once all succeed, as PUTs of it would', async () => {
    const eventTypes = Array.from({ length: 50 }, (_, i) => ({ name: `fleet.e${i}`, description: 'd' }));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        svix.environment
          .import({ eventTypes: eventTypes.map((e) => ({ ...e, description: `from ${i}` })) })
          .then(
            () => 'ok',
            (e: ApiException<unknown>) => `${e.code}: ${JSON.stringify(e.body)}`,
          ),
      ),
    );
    assert.deepEqual(results, Array(20).fill('ok'));
    const listed = await svix.eventType.list({ limit: 250 });
    assert.equal(
      new Set(listed.data.filter((e) => e.name.startsWith('fleet.')).map((e) => e.description)).size,
      1,
    );
  });
});
