// The worker's offer (tasks handed over by a publish in the same process): the per-endpoint cap and the
// worker's concurrency bound what it takes, a failed publish gives the promised slots back, and what is
// handed over is sent and recorded like a claimed task.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { makeConfig } from '../config/config.ts';
import type { SendResult } from '../core/outcome.ts';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import type { Sender, SendRequest } from './undici-sender.ts';
import { createWorker, type Worker } from './worker.ts';

/** A receiver under the test's control: each request waits until `answerAll`, which also answers later ones. */
function heldSender() {
  const ok: SendResult = { kind: 'response', status: 204, headers: {}, body: '', durationMs: 1 };
  const waiting: Array<{ request: SendRequest; answer: (r: SendResult) => void }> = [];
  let holding = true;
  const sender: Sender = {
    send: (request) =>
      holding ? new Promise((answer) => waiting.push({ request, answer })) : Promise.resolve(ok),
    close: async () => {},
  };
  const answerAll = () => {
    holding = false;
    for (const w of waiting.splice(0)) w.answer(ok);
  };
  return { sender, waiting, answerAll };
}

describe('worker offer', () => {
  let store: SqliteStore;
  let worker: Worker;
  let receiver: ReturnType<typeof heldSender>;
  afterEach(async () => {
    receiver.answerAll();
    await worker.stop();
    await store.close();
  });

  async function setup(delivery: { concurrency: number; perEndpointConcurrency: number }) {
    store = openSqliteStore(':memory:');
    receiver = heldSender();
    const config = makeConfig({ delivery: { ...delivery, allowSubnets: ['127.0.0.0/8'] } });
    worker = createWorker({ store, config, sender: receiver.sender, now: Date.now, random: () => 0.5 });
    worker.start();
    const app = mkApp();
    await store.apps.create(app);
    const endpoints = [mkEndpoint(app.id, 1), mkEndpoint(app.id, 2)];
    for (const ep of endpoints) await store.endpoints.create(ep);
    // The worker's first claim runs at start, and no offer is taken while a claim runs: wait it out.
    const idle = (): boolean => {
      const probe = worker.offer();
      const taken = probe.take(endpoints[0]!.id, app.id);
      probe.adopt([]);
      return taken;
    };
    while (!idle()) await new Promise((r) => setTimeout(r, 2));
    const publish = async (endpointId: string) => {
      const now = Date.now();
      const offer = worker.offer();
      const item = { message: mkMessage(app.id, now), endpointIds: [endpointId], now };
      const out = await store.messages.publishOffering([item], offer);
      offer.adopt(out.handed);
      return { handed: out.handed.length, msgId: item.message.id };
    };
    return { endpoints, publish };
  }

  it('takes up to the per-endpoint cap, then leaves tasks to the claim; handed tasks are sent and recorded', async () => {
    const { endpoints, publish } = await setup({ concurrency: 10, perEndpointConcurrency: 2 });
    const a = endpoints[0]!.id;
    const first = await publish(a);
    assert.equal(first.handed, 1);
    assert.equal((await publish(a)).handed, 1);
    assert.equal((await publish(a)).handed, 0, 'endpoint a is at its cap');
    const until = Date.now() + 5000;
    while (receiver.waiting.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(receiver.waiting.length, 2, 'only the handed tasks are in flight');
    assert.ok(receiver.waiting.some((w) => w.request.headers['webhook-id'] === first.msgId));
    receiver.answerAll();
    for (;;) {
      const task = await store.tasks.get(first.msgId, a);
      if (task?.status === 'success') {
        assert.equal(task.attempts, 1);
        break;
      }
      assert.ok(Date.now() < until, `task still ${task?.status}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  it('keeps a slot for another endpoint when one fills the rest, and waits for a freed slot instead of claiming again and again', async () => {
    // 8 slots, 1 kept for endpoints with no attempt in flight.
    const { endpoints } = await setup({ concurrency: 8, perEndpointConcurrency: 8 });
    const [a, b] = endpoints.map((e) => e.id) as [string, string];
    const publish = (endpointId: string, n: number) =>
      store.messages.publish(
        Array.from({ length: n }, () => {
          const now = Date.now();
          return { message: mkMessage(endpoints[0]!.appId, now), endpointIds: [endpointId], now };
        }),
      );
    const inFlight = async (n: number) => {
      const until = Date.now() + 5000;
      while (receiver.waiting.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      assert.equal(receiver.waiting.length, n);
    };
    await publish(a, 20);
    worker.wake();
    await inFlight(7);
    let claims = 0;
    const claimDue = store.tasks.claimDue.bind(store.tasks);
    store.tasks.claimDue = (options) => {
      claims++;
      return claimDue(options);
    };
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(claims <= 1, `${claims} claims while nothing could be taken`);
    assert.equal(receiver.waiting.length, 7, 'endpoint a never takes the kept slot');
    await publish(b, 1);
    worker.wake();
    await inFlight(8);
    assert.equal(receiver.waiting.at(-1)?.request.url, endpoints[1]!.url);
  });

  it('stays within its own concurrency across endpoints, and gets back the slots of a publish that failed', async () => {
    const { endpoints } = await setup({ concurrency: 2, perEndpointConcurrency: 2 });
    const [a, b] = endpoints.map((e) => e.id) as [string, string];
    const app = endpoints[0]!.appId;
    const failed = worker.offer();
    assert.equal(failed.take(a, app), true);
    assert.equal(failed.take(b, app), true);
    const full = worker.offer();
    assert.equal(full.take(b, app), false, 'both slots are promised');
    full.adopt([]);
    failed.adopt([]); // the publish failed: nothing was handed over
    const again = worker.offer();
    assert.equal(again.take(a, app), true);
    assert.equal(again.take(a, app), true);
    again.adopt([]);
  });
});
