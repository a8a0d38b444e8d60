import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainGaveUp } from './shutdown.ts';

test('a drain that timed out says how many attempts were in flight and when they are retried', () => {
  assert.equal(
    drainGaveUp(30_000, 3, 30_000),
    'doorbell: drain timed out after 30s with 3 attempts still in flight; they are retried once their lease expires (at most 30s from now)',
  );
  assert.equal(
    drainGaveUp(30_000, 1, 120_000),
    'doorbell: drain timed out after 30s with 1 attempt still in flight; it is retried once its lease expires (at most 2m from now)',
  );
  // Not started yet, or the delivery thread did not answer.
  assert.equal(
    drainGaveUp(30_000, null, 30_000),
    'doorbell: drain timed out after 30s; any attempt still in flight is retried once its lease expires (at most 30s from now)',
  );
  assert.equal(
    drainGaveUp(5000, 0, 30_000),
    'doorbell: drain timed out after 5s with no attempt in flight; the server or the database did not close in time',
  );
});
