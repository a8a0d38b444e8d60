// The rate gate over the real SQLite store, as two worker processes would use it: a task put back until
// its slot passes when either worker claims it then; a rate-limit change takes the slot back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import { createRateGate } from './rate-gate.ts';

describe('rate gate', () => {
  it('a task back at its slot passes in any worker; one freed by a rate change takes a new slot', async () => {
    const store = openSqliteStore(':memory:');
    let t = 1_000_000;
    const [a, b] = [createRateGate(store, () => t), createRateGate(store, () => t)];
    const app = mkApp(t);
    await store.apps.create(app);
    const unlimited = mkEndpoint(app.id, t);
    await store.endpoints.create(unlimited);
    const endpoint = { ...unlimited, rateLimit: 2 };
    for (let i = 0; i < 3; i++) {
      await store.messages.publish([{ message: mkMessage(app.id, t), endpointIds: [endpoint.id], now: t }]);
    }
    const claim = async () =>
      (await store.tasks.claimDue({ now: t, limit: 10, leaseMs: 30_000, perEndpoint: 10 })).map(
        (c) => c.task,
      );
    try {
      // Claimed before the rate is set: at 2/s, a claim would take the tasks without a slot two at a time.
      const [first, second, third] = await claim();
      await store.endpoints.update(endpoint, unlimited);
      assert.equal(await a.wait(first!, endpoint), null, 'the first slot is now');
      assert.equal(await a.wait(second!, endpoint), t + 500);
      assert.equal(await a.wait(third!, endpoint), t + 1000);
      await store.tasks.release(second!.id, second!.leaseUntil, t + 500);
      await store.tasks.release(third!.id, third!.leaseUntil, t + 1000);

      t += 500;
      const [back] = await claim();
      assert.deepEqual([back?.id, back?.rateSlot], [second!.id, true]);
      assert.equal(await b.wait(back!, endpoint), null, 'the other worker sends it on the slot it holds');

      // The rate is lowered: the third task is due at once, without its slot, and waits for a new one.
      const slower = { ...endpoint, rateLimit: 1 };
      await store.endpoints.update(slower, endpoint);
      await store.endpoints.resetRate(app.id, endpoint.id, t);
      const [freed] = await claim();
      assert.deepEqual([freed?.id, freed?.rateSlot], [third!.id, false]);
      assert.equal(await b.wait(freed!, slower), null, 'the slots started over: now');
      // A worker that read the endpoint before the change still reserves at the new rate.
      assert.equal(await a.wait({ ...freed!, id: 'task_other' }, endpoint), t + 1000);
    } finally {
      await store.close();
    }
  });
});
