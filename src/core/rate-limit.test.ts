import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reserveSlot } from './rate-limit.ts';

test('slots are spaced 1/rate apart and a backlog is spread, not herded', () => {
  let nextFree: number | undefined;
  const slots: number[] = [];
  for (let i = 0; i < 4; i++) {
    const s = reserveSlot(nextFree, 5, 1000);
    nextFree = s.nextFree;
    slots.push(s.at);
  }
  assert.deepEqual(slots, [1000, 1200, 1400, 1600]);
});

test('an idle endpoint gets its slot at once', () => {
  const first = reserveSlot(undefined, 2, 0);
  assert.equal(first.at, 0);
  assert.equal(reserveSlot(first.nextFree, 2, 60_000).at, 60_000);
});
