// The official svix SDK (1.x), unchanged, drives a listening Doorbell; local receivers check with
// svix's own Webhook.verify that what arrives is signed as Svix would sign it.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Svix, Webhook } from 'svix';
import { type Running, startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';

interface Received {
  body: string;
  headers: IncomingHttpHeaders;
}

/** A loopback receiver answering `status`; `next(n)` resolves once n requests have arrived in all. */
async function receiver(status: number) {
  const got: Received[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(status).end('ok');
      for (const w of waiters.filter((w) => got.length >= w.n)) w.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    next(n: number): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`waited for ${n} deliveries, got ${got.length}`)),
          15_000,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls `check` until it holds (bounded), for state the worker reaches on its own. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`never happened: ${what}`);
}

const headersOf = (r: Received) => r.headers as Record<string, string>;

let doorbell: Running;
let ok: Awaited<ReturnType<typeof receiver>>;
let failing: Awaited<ReturnType<typeof receiver>>;
let svix: Svix;

before(async () => {
  ok = await receiver(200);
  failing = await receiver(500);
  const config = makeConfig({
    host: '127.0.0.1',
    port: 0,
    database: ':memory:',
    adminToken: 'sdk-admin-token',
    delivery: { allowSubnets: ['127.0.0.0/8'], retrySchedule: [0] }, // one attempt: failures are final at once
  });
  doorbell = await startDoorbell(config);
  svix = new Svix('sdk-admin-token', { serverUrl: doorbell.url });
});

after(async () => {
  await doorbell.close();
  await ok.close();
  await failing.close();
});

test('the svix SDK drives the whole flow and svix verifies every delivery', async () => {
  assert.equal(await svix.health.get(), undefined);
  const app = await svix.application.create({ name: 'SDK app', uid: 'sdk-app' });
  assert.match(app.id, /^app_/);
  assert.equal((await svix.application.getOrCreate({ name: 'SDK app', uid: 'sdk-app' })).id, app.id);
  await svix.eventType.create({ name: 'user.signup', description: 'A user signed up' });

  const ep = await svix.endpoint.create(app.id, { url: ok.url, filterTypes: ['user.signup'], uid: 'ok-ep' });
  assert.deepEqual(ep.filterTypes, ['user.signup']);
  const { key: secret } = await svix.endpoint.getSecret(app.id, ep.id);

  const sent = [];
  for (let i = 0; i < 3; i++) {
    sent.push(
      await svix.message.create(app.id, {
        eventType: 'user.signup',
        eventId: `evt-${i}`,
        payload: { i, name: 'x' },
      }),
    );
  }
  await svix.message.create(app.id, { eventType: 'ignored.type', payload: {} }); // filtered out
  await ok.next(3);
  for (const r of ok.got) {
    const verified = new Webhook(secret).verify(r.body, headersOf(r)) as { i: number };
    assert.equal(typeof verified.i, 'number');
    assert.ok(sent.some((m) => m.id === r.headers['webhook-id']));
  }
  assert.deepEqual(ok.got.map((r) => JSON.parse(r.body).i).sort(), [0, 1, 2]);

  const messages = await svix.message.list(app.id);
  assert.equal(messages.data.length, 4);
  assert.equal((await svix.message.get(app.id, 'evt-1')).id, sent[1]?.id);
  await eventually(
    async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.length === 3,
    'three attempts recorded',
  );
  const attempts = await svix.messageAttempt.listByEndpoint(app.id, ep.id);
  assert.ok(attempts.data.every((a) => a.status === 0 && a.responseStatusCode === 200));
  const byMsg = await svix.messageAttempt.listByMsg(app.id, sent[0]!.id);
  assert.equal(byMsg.data.length, 1);
  assert.equal((await svix.endpoint.getStats(app.id, ep.id)).success, 3);

  // Rotation: during the grace period both the new and the old secret verify.
  await svix.endpoint.rotateSecret(app.id, ep.id, {});
  const { key: rotated } = await svix.endpoint.getSecret(app.id, ep.id);
  assert.notEqual(rotated, secret);
  await svix.message.create(app.id, { eventType: 'user.signup', payload: { after: 'rotation' } });
  await ok.next(4);
  const last = ok.got[3]!;
  assert.deepEqual(new Webhook(rotated).verify(last.body, headersOf(last)), { after: 'rotation' });
  assert.deepEqual(new Webhook(secret).verify(last.body, headersOf(last)), { after: 'rotation' });

  // Resend: the same message id arrives again.
  await svix.messageAttempt.resend(app.id, sent[0]!.id, ep.id);
  await ok.next(5);
  assert.equal(ok.got[4]!.headers['webhook-id'], sent[0]!.id);

  // Recover: a failed delivery is tried again.
  const bad = await svix.endpoint.create(app.id, { url: failing.url, filterTypes: ['user.signup'] });
  await svix.message.create(app.id, { eventType: 'user.signup', payload: { doomed: true } });
  await failing.next(1);
  await eventually(async () => (await svix.endpoint.getStats(app.id, bad.id)).fail === 1, 'delivery failed');
  const recovered = await svix.endpoint.recover(app.id, bad.id, { since: new Date(Date.now() - 3600_000) });
  assert.match(recovered.id, /^qtask_/);
  await failing.next(2);
  assert.equal(failing.got[1]!.headers['webhook-id'], failing.got[0]!.headers['webhook-id']);

  const attempted = await svix.messageAttempt.listAttemptedMessages(app.id, bad.id);
  assert.equal(attempted.data.length, 1);
  const portal = await svix.authentication.appPortalAccess(app.id, {});
  assert.match(portal.token, /^appsk_/);
  const scoped = new Svix(portal.token, { serverUrl: doorbell.url });
  assert.equal((await scoped.endpoint.list(app.id)).data.length, 2);
});
