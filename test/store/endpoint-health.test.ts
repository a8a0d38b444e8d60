// Endpoint health seen by two workers at once, on each driver: a success ends the run of failures, even
// one the other worker recorded after this attempt's endpoint was read. On PostgreSQL the two workers
// have a store each, as two processes do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/core/types.ts';
import { createEndpointHealth } from '../../src/delivery/endpoint-health.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { mkApp, mkEndpoint } from '../../src/store/store-contract.ts';
import { pgSkipReason, withTempDatabase } from '../support/postgres.ts';

const T0 = 1_700_000_000_000;
const PERIOD = 6_000;
const failed = { kind: 'retry', reason: 'HTTP 500' } as const;

/**
 * Worker A reads the healthy endpoint to send X, answered 200 late; meanwhile worker B's attempt at Y
 * fails. A's success comes after B's failure, so one failure a period after B's must not disable it.
 */
async function successEndsAnotherWorkersRun(a: Store, b: Store): Promise<void> {
  const app = mkApp(T0);
  await a.apps.create(app);
  const endpoint: Endpoint = mkEndpoint(app.id, T0);
  await a.endpoints.create(endpoint);
  const [workerA, workerB] = [createEndpointHealth(a, PERIOD), createEndpointHealth(b, PERIOD)];
  const read = async (s: Store) => (await s.endpoints.get(app.id, endpoint.id))!;
  const claimedByA = await read(a);
  await workerB.record(await read(b), failed, T0 + 700);
  assert.equal((await read(a)).failingSince, T0 + 700);
  await workerA.record(claimedByA, { kind: 'delivered' }, T0 + 1_900);
  assert.equal((await read(a)).failingSince, null, 'the success ended the run');
  await workerB.record(await read(b), failed, T0 + 700 + PERIOD);
  const after = await read(a);
  assert.equal(after.disabled, false, 'one failure after a success does not disable');
  assert.equal(after.failingSince, T0 + 700 + PERIOD);
}

describe('endpoint health with two workers', () => {
  it("sqlite: a success ends a run of failures the other recorded after the attempt's claim", async () => {
    const store = openSqliteStore(':memory:');
    try {
      await successEndsAnotherWorkersRun(store, store);
    } finally {
      await store.close();
    }
  });

  it("postgres, two processes: a success ends a run of failures the other recorded after the attempt's claim", async (t) => {
    const skip = await pgSkipReason();
    if (skip) return t.skip(skip);
    await withTempDatabase(async (db) => {
      const [a, b] = [
        await openPostgresStore(db.url, { poolSize: 2 }),
        await openPostgresStore(db.url, { poolSize: 2 }),
      ];
      try {
        await successEndsAnotherWorkersRun(a, b);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
});
