// The official svix SDK (1.x), unchanged, drives a listening Doorbell; local receivers check with
// svix's own Webhook.verify that what arrives is signed as Svix would sign it. Runs once per store driver.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type ApiException,
  BackgroundTaskStatus,
  BackgroundTaskType,
  MessageStatus,
  messageInRaw,
  Svix,
  Webhook,
} from 'svix';
import type { Running } from '../../src/bin/serve.ts';
import { describeEachDriver, start, TOKEN, until } from '../support/in-process.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

/** Resolves once `rx` has received `n` requests in all. */
const received = (rx: Receiver, n: number) => until(`${n} deliveries`, () => rx.requests.length >= n, 15_000);

await describeEachDriver((driver) => {
  let doorbell: Running;
  let ok: Receiver;
  let failing: Receiver;
  let svix: Svix;

  before(async () => {
    ok = await startReceiver({ handle: (_req, res) => res.writeHead(200).end('ok') });
    failing = await startReceiver({ handle: (_req, res) => res.writeHead(500).end('ok') });
    doorbell = await start({ retrySchedule: [0] }, driver); // one attempt: failures are final at once
    svix = new Svix(TOKEN, { serverUrl: doorbell.url });
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

    const ep = await svix.endpoint.create(app.id, {
      url: ok.url,
      filterTypes: ['user.signup'],
      uid: 'ok-ep',
    });
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
    await received(ok, 3);
    for (const r of ok.requests) {
      const verified = new Webhook(secret).verify(r.body, r.headers) as { i: number };
      assert.equal(typeof verified.i, 'number');
      assert.ok(sent.some((m) => m.id === r.headers['webhook-id']));
    }
    assert.deepEqual(ok.requests.map((r) => JSON.parse(r.body).i).sort(), [0, 1, 2]);

    const messages = await svix.message.list(app.id);
    assert.equal(messages.data.length, 4);
    assert.equal((await svix.message.get(app.id, 'evt-1')).id, sent[1]?.id);
    await until(
      'three attempts recorded',
      async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.length === 3,
      15_000,
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
    await received(ok, 4);
    const last = ok.requests[3]!;
    assert.deepEqual(new Webhook(rotated).verify(last.body, last.headers), { after: 'rotation' });
    assert.deepEqual(new Webhook(secret).verify(last.body, last.headers), { after: 'rotation' });

    // Resend: the same message id arrives again.
    await svix.messageAttempt.resend(app.id, sent[0]!.id, ep.id);
    await received(ok, 5);
    assert.equal(ok.requests[4]!.headers['webhook-id'], sent[0]!.id);

    // Recover: a failed delivery is tried again.
    const bad = await svix.endpoint.create(app.id, { url: failing.url, filterTypes: ['user.signup'] });
    await svix.message.create(app.id, { eventType: 'user.signup', payload: { doomed: true } });
    await received(failing, 1);
    await until(
      'delivery failed',
      async () => (await svix.endpoint.getStats(app.id, bad.id)).fail === 1,
      15_000,
    );
    const recovered = await svix.endpoint.recover(app.id, bad.id, { since: new Date(Date.now() - 3600_000) });
    assert.match(recovered.id, /^qtask_/);
    await received(failing, 2);
    assert.equal(failing.requests[1]!.headers['webhook-id'], failing.requests[0]!.headers['webhook-id']);

    const attempted = await svix.messageAttempt.listAttemptedMessages(app.id, bad.id);
    assert.equal(attempted.data.length, 1);
    const portal = await svix.authentication.appPortalAccess(app.id, {});
    assert.match(portal.token, /^appsk_/);
    const scoped = new Svix(portal.token, { serverUrl: doorbell.url });
    assert.equal((await scoped.endpoint.list(app.id)).data.length, 2);
  });

  test("messageInRaw's text is what the endpoint receives, as it is, signed", async () => {
    const app = await svix.application.create({ name: 'Raw', uid: 'raw-app' });
    await svix.eventType.create({ name: 'raw.sent', description: 'Sent as text' });
    const ep = await svix.endpoint.create(app.id, { url: ok.url, filterTypes: ['raw.sent'] });
    const text = '{"b": 1,  "a":2.50, "s":"\\u00e9"}';
    const msg = await svix.message.create(app.id, messageInRaw('raw.sent', text, 'application/json'));
    const delivered = await until(
      'the delivery',
      () => ok.requests.find((r) => r.webhookId === msg.id),
      15_000,
    );
    assert.equal(delivered.body, text);
    assert.equal(delivered.headers['content-type'], 'application/json');
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    assert.deepEqual(new Webhook(key).verify(delivered.body, delivered.headers), { b: 1, a: 2.5, s: 'é' });
    // The endpoint's attempts with their messages (withMsg), as the SDK reads them.
    const page = await until(
      'the attempt recorded',
      async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id, { withMsg: true })).data[0],
      15_000,
    );
    assert.equal(page.msgId, msg.id);
    assert.equal(page.msg?.id, msg.id);
    assert.deepEqual(page.msg?.payload, { b: 1, a: 2.5, s: 'é' });
    const bare = await svix.messageAttempt.listByEndpoint(app.id, ep.id, { withMsg: false });
    assert.equal(bare.data[0]?.msg, undefined);
  });

  test('what the SDK asks for that Doorbell does not do is a 422 naming it, and writes nothing', async () => {
    const app = await svix.application.create({ name: 'Unsupported', uid: 'unsupported-app' });
    await svix.endpoint.create(app.id, { url: ok.url });
    await svix.message.create(app.id, { eventType: 'user.signup', payload: {} });
    const refusedAs = async (call: () => Promise<unknown>, loc: string[]) => {
      const error = await call().then(
        () => assert.fail(`${loc.join('.')} was accepted`),
        (e: ApiException<{ detail: Array<{ loc: string[] }> }>) => e,
      );
      assert.deepEqual([error.code, error.body.detail[0]?.loc], [422, loc]);
    };
    const publish = { eventType: 'user.signup', payload: {}, transformationsParams: { a: 1 } };
    await refusedAs(() => svix.message.create(app.id, publish), ['body', 'transformationsParams', 'a']);
    // messageInRaw's text, when it is not a JSON object's or is not sent as JSON.
    const raw = (text: string, type?: string) => () =>
      svix.message.create(app.id, messageInRaw('user.signup', text, type));
    await refusedAs(raw('<xml/>'), ['body', 'transformationsParams', 'rawPayload']);
    await refusedAs(raw('[1]'), ['body', 'transformationsParams', 'rawPayload']);
    await refusedAs(raw('{}', 'text/plain'), ['body', 'transformationsParams', 'headers']);
    assert.equal((await svix.message.list(app.id)).data.length, 1, 'nothing published');

    const group = { description: 'grouped', groupName: 'g' };
    await refusedAs(() => svix.eventType.create({ name: 'grouped', ...group }), ['body', 'groupName']);
    await refusedAs(() => svix.eventType.update('grouped', group), ['body', 'groupName']);
    await svix.eventType.create({ name: 'ungrouped', description: 'd' });
    await refusedAs(() => svix.eventType.patch('ungrouped', { groupName: 'g' }), ['body', 'groupName']);
    await assert.rejects(svix.eventType.get('grouped'), (e: ApiException<unknown>) => e.code === 404);
    assert.equal((await svix.eventType.get('ungrouped')).description, 'd');

    // Transformations: each endpoint's is off; turning one on is refused, turning it off is kept as it is.
    const ep = (await svix.endpoint.list(app.id)).data[0]!;
    const isOff = async () =>
      assert.equal((await svix.endpoint.transformationGet(app.id, ep.id)).enabled, false);
    await isOff();
    await refusedAs(
      () => svix.endpoint.patchTransformation(app.id, ep.id, { enabled: true }),
      ['body', 'enabled'],
    );
    await refusedAs(() => svix.endpoint.patchTransformation(app.id, ep.id, { code: 'x' }), ['body', 'code']);
    const variables = { variables: { k: 'v' } };
    await refusedAs(() => svix.endpoint.patchTransformation(app.id, ep.id, variables), ['body', 'variables']);
    await svix.endpoint.patchTransformation(app.id, ep.id, { enabled: false, code: null });
    await svix.endpoint.transformationPartialUpdate(app.id, ep.id);
    await isOff();
    const { token } = await svix.authentication.appPortalAccess(app.id, { readOnly: true });
    const reader = new Svix(token, { serverUrl: doorbell.url });
    assert.equal((await reader.endpoint.transformationGet(app.id, ep.id)).enabled, false);
    await assert.rejects(
      reader.endpoint.patchTransformation(app.id, ep.id, {}),
      (e: ApiException<unknown>) => e.code === 403,
    );
    const missing = (e: ApiException<unknown>) => e.code === 404;
    await assert.rejects(svix.endpoint.transformationGet(app.id, 'ep_missing'), missing);
    await assert.rejects(svix.endpoint.patchTransformation(app.id, 'ep_missing', {}), missing);

    const access = { application: { name: 'x', uid: 'session-app' }, sessionId: 's' };
    await refusedAs(() => svix.authentication.appPortalAccess('session-app', access), ['body', 'sessionId']);
    await assert.rejects(svix.application.get('session-app'), (e: ApiException<unknown>) => e.code === 404);

    for (const filter of ['excludeAppsWithNoEndpoints', 'excludeAppsWithDisabledEndpoints'] as const) {
      const query = filter.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      await refusedAs(() => svix.application.list({ [filter]: true }), ['query', query]);
    }
    // No app has a Svix Play endpoint: that filter excludes none.
    const all = await svix.application.list({ limit: 250 });
    const noPlay = await svix.application.list({ limit: 250, excludeAppsWithSvixPlayEndpoints: true });
    assert.deepEqual(
      noPlay.data.map((a) => a.id),
      all.data.map((a) => a.id),
    );
  });

  test('tags are kept with a message, shown, and filter every list', async () => {
    const app = await svix.application.create({ name: 'Tags', uid: 'tags-app' });
    const ep = await svix.endpoint.create(app.id, { url: ok.url });
    const tagged = await svix.message.create(app.id, {
      eventType: 'user.signup',
      payload: {},
      tags: ['project_1', 'team/a#b'],
    });
    const plain = await svix.message.create(app.id, { eventType: 'user.signup', payload: {} });
    assert.deepEqual(tagged.tags, ['project_1', 'team/a#b']);
    assert.equal(plain.tags, undefined);
    await until(
      'both delivered',
      async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.length === 2,
      15_000,
    );
    const tag = { tag: 'team/a#b' };
    const ids = (page: { data: Array<{ id?: string; msgId?: string }> }) =>
      page.data.map((x) => x.msgId ?? x.id);
    assert.deepEqual(ids(await svix.message.list(app.id, tag)), [tagged.id]);
    assert.deepEqual(ids(await svix.messageAttempt.listByEndpoint(app.id, ep.id, tag)), [tagged.id]);
    assert.deepEqual(ids(await svix.messageAttempt.listAttemptedMessages(app.id, ep.id, tag)), [tagged.id]);
    assert.deepEqual(ids(await svix.messageAttempt.listByMsg(app.id, plain.id, tag)), []);
    assert.deepEqual((await svix.message.get(app.id, tagged.id)).tags, ['project_1', 'team/a#b']);
  });

  test('replayMissing sends an endpoint what was published before it existed, once', async () => {
    const app = await svix.application.create({ name: 'Replay', uid: 'replay-app' });
    await svix.eventType.create({ name: 'order.placed', description: 'An order was placed' });
    const missed = [];
    for (let i = 0; i < 2; i++)
      missed.push(await svix.message.create(app.id, { eventType: 'order.placed', payload: { i } }));
    const other = await svix.message.create(app.id, { eventType: 'user.signup', payload: {} });
    const ep = await svix.endpoint.create(app.id, { url: ok.url, filterTypes: ['order.placed'] });
    const since = new Date(Date.now() - 3600_000);

    const task = await svix.endpoint.replayMissing(app.id, ep.id, { since });
    assert.match(task.id, /^qtask_/);
    assert.deepEqual([task.status, task.task], ['running', 'endpoint.replay']);
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    for (const m of missed) {
      const delivered = await until(
        'the replayed delivery',
        () => ok.requests.find((r) => r.webhookId === m.id),
        15_000,
      );
      assert.deepEqual(new Webhook(key).verify(delivered.body, delivered.headers), m.payload);
    }
    assert.equal(
      ok.requests.find((r) => r.webhookId === other.id),
      undefined,
      'not a type it takes',
    );
    await until(
      'both recorded',
      async () => (await svix.endpoint.getStats(app.id, ep.id)).success === 2,
      15_000,
    );

    await svix.endpoint.replayMissing(app.id, ep.id, { since });
    const stats = await svix.endpoint.getStats(app.id, ep.id);
    assert.deepEqual([stats.success, stats.pending, stats.sending], [2, 0, 0], 'nothing is missing any more');
  });

  test('bulkReplay resends what an endpoint was sent in a window, as the filters take it', async () => {
    const app = await svix.application.create({ name: 'Bulk', uid: 'bulk-app' });
    const ep = await svix.endpoint.create(app.id, { url: ok.url });
    const since = new Date(Date.now() - 3600_000);
    const signup = await svix.message.create(app.id, { eventType: 'user.signup', payload: { a: 1 } });
    const order = await svix.message.create(app.id, { eventType: 'order.placed', payload: { b: 2 } });
    const gone = await svix.message.create(app.id, { eventType: 'user.signup', payload: { c: 3 } });
    const arrivals = (id: string) => ok.requests.filter((r) => r.webhookId === id).length;
    const recorded = async (n: number) =>
      until(
        `${n} attempts`,
        async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.length === n,
        15_000,
      );
    await recorded(3);
    await svix.message.expungeContent(app.id, gone.id);

    const task = await svix.endpoint.bulkReplay(app.id, ep.id, { since, eventTypes: ['user.signup'] });
    assert.deepEqual([task.status, task.task], ['running', 'endpoint.bulk-replay']);
    await recorded(4);
    assert.deepEqual([arrivals(signup.id), arrivals(order.id), arrivals(gone.id)], [2, 1, 1]);
    const again = (await svix.messageAttempt.listByMsg(app.id, signup.id)).data;
    assert.deepEqual(again.map((a) => a.triggerType).sort(), [0, 1], 'a manual attempt beside the first');

    const none = await svix.endpoint.bulkReplay(app.id, ep.id, { since, status: MessageStatus.Canceled });
    assert.equal(none.task, 'endpoint.bulk-replay', 'canceled matches no delivery: nothing is resent');
    await svix.endpoint.bulkReplay(app.id, ep.id, { since, status: MessageStatus.Success });
    await recorded(6);
    assert.deepEqual([arrivals(signup.id), arrivals(order.id), arrivals(gone.id)], [3, 2, 1]);
    await assert.rejects(
      svix.endpoint.bulkReplay(app.id, ep.id, { since, statusCodeClass: 200 }),
      (e: ApiException<{ detail: Array<{ loc: string[] }> }>) =>
        e.code === 422 && e.body.detail[0]!.loc.includes('statusCodeClass'),
    );
  });

  test('each recover, replay and expunge of all contents is a background task, finished, found by its id', async () => {
    const app = await svix.application.create({ name: 'Tasks', uid: 'tasks-app' });
    const ep = await svix.endpoint.create(app.id, { url: ok.url });
    const since = new Date(Date.now() - 3600_000);
    const ran = [
      await svix.endpoint.recover(app.id, ep.id, { since }),
      await svix.endpoint.replayMissing(app.id, ep.id, { since }),
      await svix.endpoint.bulkReplay(app.id, ep.id, { since }),
      await svix.message.expungeAllContents(app.id),
    ];
    for (const t of ran) {
      const found = await svix.backgroundTask.get(t.id);
      assert.deepEqual([found.id, found.task, found.status], [t.id, t.task, 'finished']);
      assert.ok(found.updatedAt.getTime() >= t.updatedAt.getTime());
    }
    const listed = await svix.backgroundTask.list({ limit: 250 });
    const ids = listed.data.map((t) => t.id);
    assert.deepEqual(ids.slice(0, 4), ran.map((t) => t.id).reverse(), 'newest first');
    const replays = await svix.backgroundTask.list({ task: BackgroundTaskType.EndpointReplay });
    assert.ok(
      replays.data.every((t) => t.task === 'endpoint.replay') &&
        replays.data.some((t) => t.id === ran[1]!.id),
    );
    assert.deepEqual((await svix.backgroundTask.list({ status: BackgroundTaskStatus.Running })).data, []);
    const broadcasts = await svix.backgroundTask.list({ task: BackgroundTaskType.MessageBroadcast });
    assert.deepEqual(broadcasts.data, [], 'a kind of the SDK Doorbell never runs');
    const missing = (e: ApiException<unknown>) => e.code === 404;
    await assert.rejects(svix.backgroundTask.get('qtask_01HF7YAT010000000000000005'), missing);
    const portal = await svix.authentication.appPortalAccess(app.id, {});
    const scoped = new Svix(portal.token, { serverUrl: doorbell.url });
    await assert.rejects(scoped.backgroundTask.get(ran[0]!.id), (e: ApiException<unknown>) => e.code === 403);
  });

  test('precheck says whether a message would go to any endpoint, as a publish would send it', async () => {
    const app = await svix.application.create({ name: 'Precheck', uid: 'precheck-app' });
    const active = async (eventType: string, channels?: string[]) =>
      (await svix.message.precheck(app.id, { eventType, channels })).active;
    assert.equal(await active('user.signup'), false, 'no endpoint yet');
    const ep = await svix.endpoint.create(app.id, {
      url: ok.url,
      filterTypes: ['user.signup'],
      channels: ['eu'],
    });
    assert.deepEqual(
      [await active('user.signup', ['eu']), await active('user.signup', ['us']), await active('user.signup')],
      [true, false, false],
    );
    assert.equal(await active('order.placed', ['eu']), false, 'a type it does not take');
    await svix.endpoint.patch(app.id, ep.id, { disabled: true });
    assert.equal(await active('user.signup', ['eu']), false, 'disabled');
    await assert.rejects(
      svix.message.precheck('app_missing', { eventType: 'user.signup' }),
      (e: ApiException<unknown>) => e.code === 404,
    );
  });

  test("expungeAllContents drops the payloads of the application's messages", async () => {
    const app = await svix.application.create({ name: 'Purge', uid: 'purge-app' });
    const msg = await svix.message.create(app.id, { eventType: 'user.signup', payload: { secret: 'x' } });
    const task = await svix.message.expungeAllContents(app.uid!);
    assert.match(task.id, /^qtask_/);
    assert.deepEqual([task.status, task.task], ['finished', 'application.purge_content']);
    assert.ok(task.updatedAt instanceof Date && !Number.isNaN(task.updatedAt.getTime()));
    assert.deepEqual((await svix.message.get(app.id, msg.id)).payload, { expired: true });
  });

  test('deliverAt holds a message back until then, and the message says when', async () => {
    const app = await svix.application.create({ name: 'Later', uid: 'deliver-at-app' });
    const rx = await startReceiver({ handle: (_req, res) => res.writeHead(204).end() });
    try {
      const ep = await svix.endpoint.create(app.id, { url: rx.url });
      const deliverAt = new Date(Date.now() + 2_000);
      const msg = await svix.message.create(app.id, { eventType: 'user.signup', payload: {}, deliverAt });
      assert.equal(msg.deliverAt?.getTime(), deliverAt.getTime());
      assert.equal((await svix.message.get(app.id, msg.id)).deliverAt?.getTime(), deliverAt.getTime());
      const [waiting] = (await svix.messageAttempt.listAttemptedMessages(app.id, ep.id)).data;
      assert.equal(waiting?.statusText, 'pending');
      assert.equal(waiting?.nextAttempt?.getTime(), deliverAt.getTime());
      assert.equal(rx.requests.length, 0);
      await received(rx, 1);
      assert.ok(rx.requests[0]!.at >= deliverAt.getTime(), 'not before deliverAt');

      const tooLate = {
        eventType: 'user.signup',
        payload: {},
        deliverAt: new Date(Date.now() + 25 * 3600_000),
      };
      await assert.rejects(
        svix.message.create(app.id, tooLate),
        (e: ApiException<{ detail: Array<{ loc: string[] }> }>) =>
          e.code === 422 && e.body.detail[0]?.loc.join('.') === 'body.deliverAt',
      );
    } finally {
      await rx.close();
    }
  });

  test("dashboardAccess, app-portal-access's older name, gives a working token for an existing app", async () => {
    const app = await svix.application.create({ name: 'Dashboard', uid: 'dashboard-app' });
    await svix.endpoint.create(app.id, { url: ok.url });
    const access = await svix.authentication.dashboardAccess('dashboard-app'); // by uid
    assert.match(access.token, /^appsk_/);
    assert.ok(access.url.endsWith(`/portal/${app.id}#token=${access.token}`), access.url);
    const scoped = new Svix(access.token, { serverUrl: doorbell.url });
    assert.equal((await scoped.endpoint.list(app.id)).data.length, 1);
    const other = await svix.application.create({ name: 'Other' });
    await assert.rejects(scoped.endpoint.list(other.id), (e: ApiException<unknown>) => e.code === 404);
    await assert.rejects(
      scoped.authentication.dashboardAccess(app.id),
      (e: ApiException<unknown>) => e.code === 403,
    );
    await assert.rejects(
      svix.authentication.dashboardAccess('no-such-app'),
      (e: ApiException<unknown>) => e.code === 404,
    );
    await assert.rejects(svix.application.get('no-such-app'), (e: ApiException<unknown>) => e.code === 404);
    // A body would ask for a token this route does not issue (read-only, say): refused, naming it.
    const withBody = await fetch(`${doorbell.url}/api/v1/auth/dashboard-access/${app.id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"readOnly": true}',
    });
    assert.equal(withBody.status, 422);
    assert.deepEqual(((await withBody.json()) as { detail: Array<{ loc: string[] }> }).detail[0]?.loc, [
      'body',
      'readOnly',
    ]);
  });

  test('expireAll ends the portal tokens issued so far, after the delay asked for', async () => {
    const app = await svix.application.create({ name: 'Portal', uid: 'expire-all-app' });
    const portal = async () =>
      new Svix((await svix.authentication.appPortalAccess(app.id, {})).token, {
        serverUrl: doorbell.url,
      });
    const unauthorized = (e: ApiException<unknown>) => e.code === 401;
    const first = await portal();
    await first.endpoint.list(app.id);
    await svix.authentication.expireAll('expire-all-app', {}); // by uid; no expiry: at once
    await assert.rejects(first.endpoint.list(app.id), unauthorized);
    const second = await portal();
    assert.equal((await second.endpoint.list(app.id)).data.length, 0, 'issued after: works');

    await svix.authentication.expireAll(app.id, { expiry: 3 });
    await second.endpoint.list(app.id); // still works for 3 s
    await until('expired', () => second.endpoint.list(app.id).then(() => false, unauthorized), 10_000);

    const status = (call: Promise<unknown>) =>
      call.then(
        () => 200,
        (e: ApiException<unknown>) => e.code,
      );
    assert.equal(await status(svix.authentication.expireAll('no-such-app', {})), 404);
    assert.equal(await status(svix.authentication.expireAll(app.id, { sessionIds: ['s'] })), 422);
    assert.equal(await status((await portal()).authentication.expireAll(app.id, {})), 403);
  });

  test('what the SDK types allow is accepted: null version and headers, canceled, long type filters', async () => {
    const app = await svix.application.create({ name: 'SDK types', uid: 'sdk-types-app' });
    const ep = await svix.endpoint.create(app.id, { url: ok.url, version: null, headers: null });
    assert.equal(ep.version, 1);
    const updated = await svix.endpoint.update(app.id, ep.id, {
      url: ok.url,
      version: null,
      description: 'd',
    });
    assert.deepEqual([updated.version, updated.description], [1, 'd']);
    assert.deepEqual((await svix.endpoint.getHeaders(app.id, ep.id)).headers, {});

    const msg = await svix.message.create(app.id, { eventType: 'user.signup', payload: {} });
    await until(
      'delivered',
      async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.length === 1,
      15_000,
    );
    // Doorbell cancels nothing: the SDK's `canceled` status matches none, on every list it filters.
    const canceled = { status: MessageStatus.Canceled };
    for (const page of [
      await svix.messageAttempt.listByEndpoint(app.id, ep.id, canceled),
      await svix.messageAttempt.listByMsg(app.id, msg.id, canceled),
      await svix.messageAttempt.listAttemptedMessages(app.id, ep.id, canceled),
    ]) {
      assert.deepEqual([page.data, page.done], [[], true]);
    }
    assert.equal((await svix.messageAttempt.listAttemptedMessages(app.id, ep.id)).data.length, 1);
    await assert.rejects(
      svix.messageAttempt.listAttemptedMessages(app.id, 'ep_unknown', canceled),
      (e: ApiException<unknown>) => e.code === 404,
    );

    // Names of up to 256 characters each, as many as the request line holds.
    const eventTypes = Array.from({ length: 15 }, (_, i) => `${'t'.repeat(200)}.${i}`);
    assert.deepEqual((await svix.message.list(app.id, { eventTypes })).data, []);
    assert.equal(
      (await svix.message.list(app.id, { eventTypes: [...eventTypes, 'user.signup'] })).data.length,
      1,
    );
  });
});
