// The worker's timer for the next due task: a task that comes due while a claim runs (after the claim's
// "now", before its answer) is claimed at once, not at the next poll a second later. On PostgreSQL a
// claim takes milliseconds, and a rate-limited endpoint's tasks, each due at its own slot, lost it
// again and again (a slot is kept only when claimed within SLOT_GRACE_MS of it). And the poll of an
// idle worker asks when the next task is due before it claims.
import assert from 'node:assert/strict';
import { mock, type TestContext, test } from 'node:test';
import { makeConfig } from '../config/config.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import { createWorker } from './worker.ts';

const T = 1_700_000_000_000;

/**
 * A worker on the mocked clock (from T) with one task, due at `deliverAt`, to a receiver that answers
 * at once; `now` is the worker's clock. Not started: the test may wrap the store's claims first.
 */
async function oneTask(t: TestContext, deliverAt: number, now = () => Date.now()) {
  const store = openSqliteStore(':memory:');
  const app = mkApp(T);
  await store.apps.create(app);
  const endpoint = mkEndpoint(app.id, T, { url: 'http://127.0.0.1:9/hook' });
  await store.endpoints.create(endpoint);
  const message = mkMessage(app.id, T, { deliverAt });
  await store.messages.publish([{ message, endpointIds: [endpoint.id], now: T }]);
  const sent: string[] = [];
  const sender = {
    send: async (request: { url: string }) => {
      sent.push(request.url);
      return { kind: 'response' as const, status: 204, headers: {}, body: '', durationMs: 1 };
    },
    close: async () => {},
  };
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T });
  const worker = createWorker({ store, config: makeConfig(), sender, now, random: () => 0.5 });
  t.after(async () => {
    mock.timers.reset();
    await worker.stop();
    await store.close();
  });
  return { store, worker, sent };
}

test('a task due during a claim is claimed at once, not at the next poll', async (t) => {
  // The worker's clock: the mocked one, and the time its claims take.
  let claiming = 0;
  // Due 3 ms after the first claim's now; that claim takes 5 ms.
  const { store, worker, sent } = await oneTask(t, T + 3, () => Date.now() + claiming);
  const claimDue = store.tasks.claimDue.bind(store.tasks);
  store.tasks.claimDue = async (options) => {
    const claimed = await claimDue(options);
    claiming += 5;
    return claimed;
  };
  worker.start();
  // Timers of a few milliseconds fire (claims are spaced), and the store's commits run (setImmediate);
  // the poll, a second away, never does.
  for (let turn = 0; turn < 50 && sent.length === 0; turn++) {
    mock.timers.tick(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(sent, ['http://127.0.0.1:9/hook']);
});

test('an idle worker whose next task is due in an hour does not claim at every poll, and claims it when due', async (t) => {
  const { store, worker, sent } = await oneTask(t, T + 3_600_000);
  let claims = 0;
  const claimDue = store.tasks.claimDue.bind(store.tasks);
  store.tasks.claimDue = (options) => {
    claims++;
    return claimDue(options);
  };
  worker.start();
  await settle();
  assert.equal(claims, 1, 'the claim at start');
  for (let poll = 0; poll < 10; poll++) {
    mock.timers.tick(1_000);
    await settle();
  }
  assert.equal(claims, 1, 'ten polls found nothing due and claimed nothing');
  mock.timers.tick(3_600_000);
  for (let turn = 0; turn < 50 && sent.length === 0; turn++) {
    mock.timers.tick(1_000);
    await settle();
  }
  assert.deepEqual(sent, ['http://127.0.0.1:9/hook']);
});

/**
 * An endpoint at its cap whose attempts hang (one in flight, one more due), and another endpoint with a
 * task due at T + 200: that task goes when it comes due, not at a poll. A hanging endpoint holds its
 * slots for a whole attempt deadline, so no freed slot claims for it; retries and rate slots of every
 * other endpoint came a second late, and a rate-limited endpoint, losing its slot each time, slowed to
 * about one delivery a second.
 */
async function behindAHangingEndpoint(t: TestContext) {
  const store = openSqliteStore(':memory:');
  const app = mkApp(T);
  await store.apps.create(app);
  const hanging = mkEndpoint(app.id, T, { url: 'http://127.0.0.1:9/hang' });
  const other = mkEndpoint(app.id, T, { url: 'http://127.0.0.1:9/other' });
  await store.endpoints.create(hanging);
  await store.endpoints.create(other);
  for (const deliverAt of [T, T]) {
    await store.messages.publish([
      { message: mkMessage(app.id, T, { deliverAt }), endpointIds: [hanging.id], now: T },
    ]);
  }
  await store.messages.publish([
    { message: mkMessage(app.id, T, { deliverAt: T + 200 }), endpointIds: [other.id], now: T },
  ]);
  const { worker, sent } = hangingWorker(t, store);
  /** Steps the clock 10 ms at a time until the other endpoint's task is sent, or `untilMs` after T. */
  const otherSentAt = async (untilMs: number) => {
    while (Date.now() < T + untilMs && !sent.some((s) => s.url.endsWith('/other'))) {
      mock.timers.tick(10);
      await settle();
    }
    return sent.find((s) => s.url.endsWith('/other'))?.at;
  };
  return { worker, sent, otherSentAt };
}

/**
 * A worker on the mocked clock (from T), at most one attempt in flight per endpoint, whose attempts hang
 * but those to a URL ending in /other; `sent` lists the attempts made.
 */
function hangingWorker(t: TestContext, store: ReturnType<typeof openSqliteStore>) {
  const sent: Array<{ url: string; at: number }> = [];
  const hangs: Array<() => void> = [];
  const answer = { kind: 'response' as const, status: 204, headers: {}, body: '', durationMs: 1 };
  const sender = {
    send: (request: { url: string }) => {
      sent.push({ url: request.url, at: Date.now() });
      if (request.url.endsWith('/other')) return Promise.resolve(answer);
      return new Promise<typeof answer>((resolve) => hangs.push(() => resolve(answer)));
    },
    close: async () => {},
  };
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T });
  const config = makeConfig({ delivery: { perEndpointConcurrency: 1 } });
  const worker = createWorker({ store, config, sender, now: () => Date.now(), random: () => 0.5 });
  t.after(async () => {
    mock.timers.reset();
    for (const hang of hangs) hang();
    await worker.stop();
    await store.close();
  });
  return { worker, sent };
}

/** Lets the store's commits (setImmediate) and what they resolve run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('behind an endpoint at its cap, a task is claimed when it comes due, not at the next poll', async (t) => {
  const { worker, sent, otherSentAt } = await behindAHangingEndpoint(t);
  worker.start();
  await settle();
  assert.deepEqual(
    sent.map((s) => s.url),
    ['http://127.0.0.1:9/hang'],
    'one attempt to the endpoint at its cap',
  );
  // Something else wakes the worker (a publish to another application): its claim finds the second task of
  // the endpoint at its cap due, and nothing else yet.
  mock.timers.tick(10);
  worker.wake();
  await settle();
  assert.equal(await otherSentAt(500), T + 200);
});

test('when the attempts a claim launched all hang, a task coming due later is still claimed', async (t) => {
  const { worker, otherSentAt } = await behindAHangingEndpoint(t);
  worker.start();
  await settle();
  assert.equal(await otherSentAt(2_000), T + 200);
});

/**
 * An endpoint whose attempts hang, at its cap of 1, with a task coming due every 5 ms for 2 s; `full`
 * makes every claim find nothing, as when other processes fill the endpoint's cap. Counts the claims
 * the worker makes in those 2 s.
 */
async function claimsBehindAFullEndpoint(t: TestContext, full: boolean): Promise<number> {
  const store = openSqliteStore(':memory:');
  const app = mkApp(T);
  await store.apps.create(app);
  const endpoint = mkEndpoint(app.id, T, { url: 'http://127.0.0.1:9/hang' });
  await store.endpoints.create(endpoint);
  for (let i = 0; i <= 400; i++) {
    const message = mkMessage(app.id, T, { deliverAt: T + 5 * i });
    await store.messages.publish([{ message, endpointIds: [endpoint.id], now: T }]);
  }
  let claims = 0;
  const claimDue = store.tasks.claimDue.bind(store.tasks);
  store.tasks.claimDue = async (options) => {
    claims++;
    return full ? [] : claimDue(options);
  };
  const { worker } = hangingWorker(t, store);
  worker.start();
  await settle();
  worker.wake();
  await settle();
  claims = 0;
  for (let ms = 0; ms < 2000; ms += 5) {
    mock.timers.tick(5);
    await settle();
  }
  return claims;
}

test('behind an endpoint at its cap whose tasks keep coming due, the worker claims at the poll, not each time', async (t) => {
  const claims = await claimsBehindAFullEndpoint(t, false);
  assert.ok(claims <= 4, `${claims} claims in 2 s`);
});

test('behind an endpoint at a cap other processes fill, claims back off to the poll', async (t) => {
  const claims = await claimsBehindAFullEndpoint(t, true);
  assert.ok(claims <= 10, `${claims} claims in 2 s`);
});
