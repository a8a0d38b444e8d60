import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultDelivery } from '../config/config.ts';
import { type NextAttemptInput, nextAttempt } from './retry-schedule.ts';
import type { AttemptOutcome } from './types.ts';

const NOW = 1_700_000_000_000;
const MINUTE = 60_000;
const retry: AttemptOutcome = { kind: 'retry', reason: 'HTTP 503' };

function input(overrides: Partial<NextAttemptInput>): NextAttemptInput {
  return {
    attempt: 1,
    outcome: retry,
    schedule: defaultDelivery.retrySchedule,
    jitter: 0.2,
    penaltyMs: 60_000,
    now: NOW,
    random: () => 0.5,
    ...overrides,
  };
}

function delayOf(result: ReturnType<typeof nextAttempt>): number {
  assert.ok('at' in result, 'expected a next attempt');
  return result.at - NOW;
}

describe('nextAttempt', () => {
  it('follows the schedule with a neutral random source', () => {
    const schedule = defaultDelivery.retrySchedule;
    for (let attempt = 1; attempt < schedule.length; attempt++) {
      assert.equal(delayOf(nextAttempt(input({ attempt }))), schedule[attempt]);
    }
  });

  it('keeps jitter within ±20 %', () => {
    const base = 300_000; // schedule[2]
    assert.equal(delayOf(nextAttempt(input({ attempt: 2, random: () => 0 }))), base * 0.8);
    assert.equal(delayOf(nextAttempt(input({ attempt: 2, random: () => 0.5 }))), base);
    const high = delayOf(nextAttempt(input({ attempt: 2, random: () => 0.9999 })));
    assert.ok(high < base * 1.2 && high > base * 1.19, `${high}`);
  });

  it('is exhausted after the last scheduled attempt', () => {
    const length = defaultDelivery.retrySchedule.length;
    assert.ok('at' in nextAttempt(input({ attempt: length - 1 })));
    assert.deepEqual(nextAttempt(input({ attempt: length })), { exhausted: true });
    assert.deepEqual(nextAttempt(input({ attempt: length + 3 })), { exhausted: true });
    assert.deepEqual(nextAttempt(input({ attempt: 1, schedule: [0] })), { exhausted: true });
  });

  it('ends on disable and fail, and refuses delivered', () => {
    assert.deepEqual(nextAttempt(input({ outcome: { kind: 'disable', reason: 'HTTP 410' } })), {
      exhausted: true,
    });
    assert.deepEqual(nextAttempt(input({ outcome: { kind: 'fail', reason: 'x' } })), { exhausted: true });
    assert.throws(() => nextAttempt(input({ outcome: { kind: 'delivered' } })));
    assert.throws(() => nextAttempt(input({ attempt: 0 })), RangeError);
  });

  it('clamps Retry-After to [delay, 2 × delay]', () => {
    const at = (retryAfterMs: number, random = () => 0.5) =>
      delayOf(nextAttempt(input({ attempt: 3, outcome: { ...retry, retryAfterMs }, random })));
    const base = 30 * MINUTE; // schedule[3]
    assert.equal(at(1000), base); // cannot speed up
    assert.equal(at(45 * MINUTE), 45 * MINUTE); // honoured inside the window
    assert.equal(at(10 * 60 * MINUTE), 2 * base); // cannot postpone without bound
    assert.equal(
      at(1000, () => 0),
      base * 0.8,
    ); // the window follows the jittered delay
    assert.equal(
      at(10 * 60 * MINUTE, () => 0),
      2 * base * 0.8,
    );
  });

  it('applies the penalty floor after clamping', () => {
    const penalty: AttemptOutcome = { kind: 'retry', reason: 'timeout', penalty: true };
    assert.equal(delayOf(nextAttempt(input({ attempt: 1, outcome: penalty }))), 60_000); // 5 s raised to 60 s
    assert.equal(
      delayOf(nextAttempt(input({ attempt: 1, outcome: { ...penalty, retryAfterMs: 1000 } }))),
      60_000,
    );
    assert.equal(delayOf(nextAttempt(input({ attempt: 2, outcome: penalty, random: () => 0 }))), 240_000); // above the floor
  });

  it('never schedules in the past', () => {
    const result = nextAttempt(input({ attempt: 1, schedule: [0, 0], random: () => 0 }));
    assert.deepEqual(result, { at: NOW });
  });
});
