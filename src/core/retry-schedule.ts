// When to try a delivery again. Pure: the clock and the random source are arguments.

import type { AttemptOutcome } from './types.ts';

export interface NextAttemptInput {
  attempt: number; // attempts made so far (>= 1)
  outcome: AttemptOutcome; // of the attempt just made
  schedule: readonly number[]; // delay before each attempt in ms; length = max attempts; [0] follows publish
  jitter: number; // e.g. 0.2 = ±20 %
  penaltyMs: number; // minimum next delay after a timeout or a 429 (outcome.penalty)
  now: number;
  random: () => number; // [0, 1)
}

export type NextAttempt = { at: number } | { exhausted: true };

/**
 * Decides the next attempt after a failed one. The rules apply in this order:
 * 1. 'disable' and 'fail' end the task: exhausted. 'delivered' is not a retry; calling with it is a bug.
 * 2. 'retry' after the last scheduled attempt (attempt >= schedule.length): exhausted.
 * 3. The delay is schedule[attempt], scaled by a uniform factor in [1 - jitter, 1 + jitter).
 * 4. A Retry-After delay replaces it, clamped to [delay, 2 × delay] (Svix worker): a receiver can slow
 *    retries down, never speed them up, and never postpone them without bound.
 * 5. A penalty (timeout, 429) raises the delay to at least penaltyMs (Svix worker).
 */
export function nextAttempt(input: NextAttemptInput): NextAttempt {
  const { attempt, outcome, schedule } = input;
  switch (outcome.kind) {
    case 'delivered':
      throw new Error('nextAttempt called for a delivered attempt');
    case 'disable':
    case 'fail':
      return { exhausted: true };
    case 'retry':
      break;
    default: {
      const _exhaustive: never = outcome;
      return _exhaustive;
    }
  }
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be >= 1, got ${attempt}`);
  const scheduled = schedule[attempt];
  if (scheduled === undefined) return { exhausted: true };

  let delay = scheduled * (1 + input.jitter * (2 * input.random() - 1));
  if (outcome.retryAfterMs !== undefined) {
    delay = Math.min(Math.max(outcome.retryAfterMs, delay), 2 * delay);
  }
  if (outcome.penalty) delay = Math.max(delay, input.penaltyMs);
  return { at: input.now + Math.max(0, Math.round(delay)) };
}
