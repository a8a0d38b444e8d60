// The rate gate over the real SQLite store: a task put back until its slot passes when it comes back
// then, and takes a new slot when a rate-limit change brought it back early.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { mkApp, mkEndpoint } from '../store/store-contract.ts';
import { createRateGate } from './rate-gate.ts';

describe('rate gate', () => {
  it('passes a task back at its slot; one back early takes a new slot at the current rate', async () => {
    const store = openSqliteStore(':memory:');
    let t = 1_000_000;
    const gate = createRateGate(store, () => t);
    const app = mkApp(t);
    await store.apps.create(app);
    const endpoint = mkEndpoint(app.id, t, { rateLimit: 1 });
    await store.endpoints.create(endpoint);
    try {
      assert.equal(await gate.wait('task_a', endpoint), null, 'the first slot is now');
      assert.equal(await gate.wait('task_b', endpoint), t + 1000);
      assert.equal(await gate.wait('task_c', endpoint), t + 2000);
      t += 1000;
      assert.equal(await gate.wait('task_b', endpoint), null, 'back at its slot: sent');
      // The rate is lowered; task_c is made due early and must wait for a slot at the new rate.
      await store.endpoints.resetRate(app.id, endpoint.id, t);
      const slower = { ...endpoint, rateLimit: 0.25 };
      assert.equal(await gate.wait('task_d', slower), null, 'the slots started over: now');
      assert.equal(await gate.wait('task_c', slower), t + 4000, 'not let through on its old slot');
      t += 4000;
      assert.equal(await gate.wait('task_c', slower), null);
    } finally {
      await store.close();
    }
  });
});
