// The retention sweep: expired payloads are dropped, and what deleted applications left is purged,
// batch after batch until nothing is left.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import { startRetention } from './retention.ts';

it('a sweep drops expired payloads and purges deleted applications, past one batch', async () => {
  const store = openSqliteStore(':memory:');
  const T0 = Date.now();
  const [kept, deleted] = [mkApp(T0), mkApp(T0)];
  for (const app of [kept, deleted]) await store.apps.create(app);
  const ep = mkEndpoint(deleted.id, T0);
  await store.endpoints.create(ep);
  const expired = mkMessage(kept.id, T0, { expiresAt: T0 - 1 });
  const live = mkMessage(kept.id, T0, { expiresAt: T0 + 60_000 });
  const gone = Array.from({ length: 1001 }, () => mkMessage(deleted.id, T0));
  await store.messages.publish(
    [expired, live, ...gone].map((message) => ({
      message,
      endpointIds: message.appId === deleted.id ? [ep.id] : [],
      now: T0,
    })),
  );
  await store.apps.delete(deleted.id, T0);

  const sweeper = startRetention(store, () => T0);
  try {
    // One payload, 1001 messages (two batches) and the deleted app's record.
    assert.equal(await sweeper.sweep(), 1 + 1001 + 1);
    assert.equal((await store.messages.get(kept.id, expired.id))?.payload, null);
    assert.equal((await store.messages.get(kept.id, live.id))?.payload, live.payload);
    assert.equal(await store.messages.get(deleted.id, gone[0]!.id), null);
    assert.equal(await store.tasks.get(gone[1000]!.id, ep.id), null);
    assert.equal(await sweeper.sweep(), 0);
  } finally {
    sweeper.stop();
    await store.close();
  }
});

it('the first sweep runs soon after the start, without waiting a whole interval', async () => {
  const store = openSqliteStore(':memory:');
  const T0 = Date.now();
  const app = mkApp(T0);
  await store.apps.create(app);
  const expired = mkMessage(app.id, T0, { expiresAt: T0 - 1 });
  await store.messages.publish([{ message: expired, endpointIds: [], now: T0 }]);
  const sweeper = startRetention(store, () => T0);
  try {
    const deadline = Date.now() + 5_000;
    while ((await store.messages.get(app.id, expired.id))?.payload !== null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal((await store.messages.get(app.id, expired.id))?.payload, null, 'swept within 5 s');
  } finally {
    sweeper.stop();
    await store.close();
  }
});
