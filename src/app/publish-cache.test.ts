import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint } from '../core/types.ts';
import type { Store } from '../store/store.ts';
import { PublishCache } from './publish-cache.ts';

/**
 * A store whose endpoint reads wait for `answer`, counted; the endpoints' version, which `change` moves;
 * a clock the test moves.
 */
function slowStore() {
  let clock = 0;
  let reads = 0;
  let version = 0;
  const waiting: Array<(list: Endpoint[]) => void> = [];
  const store = {
    endpoints: {
      version: async () => String(version),
      listAll: () => {
        reads++;
        return new Promise<Endpoint[]>((resolve) => waiting.push(resolve));
      },
    },
    apps: {
      get: async () => {
        reads++;
        return null;
      },
    },
  } as unknown as Store;
  return {
    store,
    now: () => clock,
    advance: (ms: number) => (clock += ms),
    reads: () => reads,
    answer: (list: Endpoint[]) => {
      for (const resolve of waiting.splice(0)) resolve(list);
    },
    change: () => version++,
  };
}

const list = (id: string) => [{ id } as Endpoint];
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('publishes that miss at once share one read, kept for the ttl from when it came back', async () => {
  const db = slowStore();
  const cache = new PublishCache(db.now, 1000);
  const misses = Array.from({ length: 5 }, () => cache.endpoints(db.store, 'app_1'));
  await settle(); // the version is read first
  assert.equal(db.reads(), 1);
  db.advance(1500); // a read slower than the ttl
  db.answer(list('ep_1'));
  for (const got of await Promise.all(misses)) assert.deepEqual(got, list('ep_1'));
  db.advance(999);
  assert.deepEqual(await cache.endpoints(db.store, 'app_1'), list('ep_1'));
  assert.equal(db.reads(), 1, 'still fresh: its ttl counts from the answer');
  db.advance(1);
  db.change();
  const again = cache.endpoints(db.store, 'app_1');
  await settle();
  assert.equal(db.reads(), 2, 'expired, with a new version');
  db.answer(list('ep_2'));
  assert.deepEqual(await again, list('ep_2'));
});

test('an expired list whose version has not changed is kept, not read again', async () => {
  const db = slowStore();
  const cache = new PublishCache(db.now, 1000);
  const first = cache.endpoints(db.store, 'app_1');
  await settle();
  db.answer(list('ep_1'));
  const kept = await first;
  db.advance(5000);
  assert.equal(await cache.endpoints(db.store, 'app_1'), kept, 'the same list');
  assert.equal(db.reads(), 1);
  db.advance(5000);
  db.change(); // another process changed an endpoint
  const changed = cache.endpoints(db.store, 'app_1');
  await settle();
  assert.equal(db.reads(), 2);
  db.answer(list('ep_2'));
  assert.deepEqual(await changed, list('ep_2'));
});

test('a write here forgets the entry and the read in flight: the next publish reads afresh', async () => {
  const db = slowStore();
  const cache = new PublishCache(db.now, 1000);
  const before = cache.endpoints(db.store, 'app_1');
  cache.invalidate('app_1'); // an endpoint created meanwhile
  const after = cache.endpoints(db.store, 'app_1');
  await settle();
  assert.equal(db.reads(), 2, 'not joined to the read that began before the write');
  db.answer(list('ep_new'));
  await Promise.all([before, after]);
  const third = cache.endpoints(db.store, 'app_1');
  assert.equal(db.reads(), 2, 'the read begun after the write is kept');
  assert.deepEqual(await third, list('ep_new'));
});

test('an application not found is read again each time: it may be created at any moment', async () => {
  const db = slowStore();
  const cache = new PublishCache(db.now, 1000);
  assert.equal(await cache.app(db.store, 'app_x'), null);
  assert.equal(await cache.app(db.store, 'app_x'), null);
  assert.equal(db.reads(), 2);
});
