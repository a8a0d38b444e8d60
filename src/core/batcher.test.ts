import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatcher } from './batcher.ts';

test('items added while a flush runs are flushed together, in order', async () => {
  const batches: number[][] = [];
  const batcher = createBatcher(async (items: number[]) => {
    batches.push(items);
    await new Promise((r) => setImmediate(r));
    return items.map((n) => n * 2);
  }, 100);
  const results = await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
  assert.deepEqual(results, [2, 4, 6, 8]);
  assert.deepEqual(batches, [[1, 2, 3, 4]]);
});

test('items added by separate callbacks of one event-loop turn share a flush', async () => {
  // As requests read from different sockets in one poll phase: each add runs in its own callback.
  const batches: number[][] = [];
  const batcher = createBatcher(async (items: number[]) => {
    batches.push(items);
    return items;
  }, 100);
  const added = await Promise.all(
    [1, 2, 3].map((n) => new Promise<Promise<number>>((r) => setImmediate(() => r(batcher.add(n))))),
  );
  await Promise.all(added);
  assert.deepEqual(batches, [[1, 2, 3]]);
});

test('a batch never exceeds maxBatch', async () => {
  const sizes: number[] = [];
  const batcher = createBatcher(async (items: number[]) => {
    sizes.push(items.length);
    return items;
  }, 3);
  await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => batcher.add(n)));
  assert.deepEqual(sizes, [3, 3, 1]);
});

test('a failed flush rejects its own items only', async () => {
  let calls = 0;
  const batcher = createBatcher(async (items: number[]) => {
    calls++;
    if (calls === 1) throw new Error('disk full');
    return items;
  }, 1);
  const [a, b] = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
  assert.equal(a.status, 'rejected');
  assert.deepEqual(b, { status: 'fulfilled', value: 2 });
  await batcher.drain();
});

test('an item answered with an Error rejects alone; the rest of its batch resolves', async () => {
  const batcher = createBatcher(
    async (items: number[]) => items.map((n) => (n === 2 ? new Error(`cannot take ${n}`) : n)),
    100,
  );
  const settled = await Promise.allSettled([1, 2, 3].map((n) => batcher.add(n)));
  assert.deepEqual(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    [1, 'cannot take 2', 3],
  );
});

test('with maxInFlight > 1, a flush starts while another is still running', async () => {
  let release = (): void => {};
  const gate = new Promise<void>((r) => (release = r));
  const batches: number[][] = [];
  const batcher = createBatcher(
    async (items: number[]) => {
      batches.push(items);
      if (items[0] === 1) await gate; // the first flush hangs until released
      return items;
    },
    100,
    2,
  );
  const first = batcher.add(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(await batcher.add(2), 2); // answered while flush [1] still runs
  const [third, fourth] = [batcher.add(3), batcher.add(4)];
  await new Promise((r) => setImmediate(r));
  release();
  assert.deepEqual(await Promise.all([first, third, fourth]), [1, 3, 4]);
  assert.deepEqual(batches, [[1], [2], [3, 4]]);
  await batcher.drain();
});

test('with wait, items that waited that long behind stuck flushes fail unsent, and the rest go on', async () => {
  const flushed: number[][] = [];
  let release = () => {};
  const batcher = createBatcher(
    async (items: number[]) => {
      flushed.push(items);
      if (items[0] === 1) await new Promise<void>((r) => (release = r)); // stuck, as behind a lock
      return items;
    },
    100,
    1,
    { maxMs: 50, late: () => new Error('waited too long') },
  );
  const first = batcher.add(1);
  await new Promise((r) => setImmediate(r));
  const waiting = [batcher.add(2), batcher.add(3)].map((p) => p.then(String, (e: Error) => e.message));
  assert.deepEqual(await Promise.all(waiting), ['waited too long', 'waited too long']);
  const after = batcher.add(4); // queued after the others failed: it waits its own time
  release();
  assert.equal(await first, 1);
  assert.equal(await after, 4);
  assert.deepEqual(flushed, [[1], [4]], 'the late items were never flushed');
});
