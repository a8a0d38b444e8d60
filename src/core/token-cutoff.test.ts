import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cutoff, cutOffAt, foldCutoff } from './token-cutoff.ts';

const fold = (calls: Array<[now: number, delayMs: number]>): Cutoff | null =>
  calls.reduce<Cutoff | null>((c, [now, delay]) => foldCutoff(c, now, delay), null);

test('expire-all at once ends the tokens issued until then, in the same millisecond too', () => {
  const c = fold([[100, 0]]);
  assert.deepEqual(c, { dead: 100, pending: null });
  assert.deepEqual([cutOffAt(c, 0), cutOffAt(c, 100), cutOffAt(c, 101)], [0, 0, Infinity]);
  assert.equal(cutOffAt(null, 5), Infinity);
});

test('a delayed expire-all ends them then; a second one never moves that end later', () => {
  const first = fold([[100, 50]]);
  assert.deepEqual([cutOffAt(first, 99), cutOffAt(first, 101)], [150, Infinity]);
  const second = fold([
    [100, 50],
    [120, 100],
  ]);
  assert.deepEqual(second, { dead: null, pending: { before: 120, at: 150 } });
  // Once that end has passed, its tokens stay ended whatever the next call asks.
  const third = fold([
    [100, 50],
    [120, 100],
    [200, 10],
  ]);
  assert.deepEqual([cutOffAt(third, 119), cutOffAt(third, 150), cutOffAt(third, 201)], [0, 210, Infinity]);
});

test('calls stamped by clocks behind the others fold without losing an earlier call', () => {
  // A delayed call at 100 s, then one at once from a process whose clock is 5 s behind.
  const c = fold([
    [100_000, 86_400_000],
    [95_000, 0],
  ]);
  assert.equal(cutOffAt(c, 97_000), 86_500_000, 'issued before the first call: still ends');
  assert.equal(cutOffAt(c, 94_000), 0);
  const delayed = fold([
    [100_000, 86_400_000],
    [95_000, 10_000],
  ]);
  assert.equal(cutOffAt(delayed, 99_000), 105_000);
});

test('whatever their order, every call ends the tokens issued before it no later than it asked', () => {
  const calls: Array<[number, number]> = [
    [100, 0],
    [150, 100],
    [130, 40],
    [400, 0],
    [300, 500],
  ];
  const orders = (list: Array<[number, number]>): Array<Array<[number, number]>> =>
    list.length <= 1
      ? [list]
      : list.flatMap((x, i) => orders(list.filter((_, j) => j !== i)).map((o) => [x, ...o]));
  for (const order of orders(calls)) {
    const c = fold(order);
    for (let issuedAt = 0; issuedAt <= 450; issuedAt += 10) {
      const end = cutOffAt(c, issuedAt);
      for (const [now, delay] of calls) {
        if (issuedAt <= now) assert.ok(end <= now + delay, `${JSON.stringify(order)}: issued ${issuedAt}`);
      }
      if (issuedAt > 400) assert.equal(end, Infinity, 'issued after every call');
    }
  }
});
