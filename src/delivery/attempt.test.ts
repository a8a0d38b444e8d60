// One attempt with the shipped delivery defaults: what is sent (fresh signature per attempt, checked by
// the official standardwebhooks library) and the next state (the schedule's jitter, the 429 penalty).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { defaults } from '../config/config.ts';
import type { SendResult } from '../core/outcome.ts';
import { type DeliveryTask, shownStatus } from '../core/types.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import { sendAttempt } from './attempt.ts';
import type { SendRequest } from './undici-sender.ts';

const T = Math.floor(Date.now() / 1000) * 1000; // whole seconds, near the clock the verifier checks against
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const app = mkApp();
const endpoint = mkEndpoint(app.id, T, {
  secrets: [{ key: SECRET, expiresAt: null }],
  headers: { 'x-a': '1' },
});
const message = mkMessage(app.id, T, { payload: '{"n": 1.50}' });
const task = (over: Partial<DeliveryTask> = {}): DeliveryTask => ({
  id: 'task_1',
  appId: app.id,
  msgId: message.id,
  endpointId: endpoint.id,
  status: 'sending',
  attempts: 0,
  nextAt: null,
  leaseUntil: T + 30_000,
  trigger: 'scheduled',
  rateSlot: false,
  restore: null,
  createdAt: T,
  updatedAt: T,
  ...over,
});

/** Runs one attempt at `now`; the receiver answers `result`. */
async function attempt(result: SendResult, over: Partial<DeliveryTask> = {}, now = T, random = 0.5) {
  const sent: SendRequest[] = [];
  const send = async (r: SendRequest) => {
    sent.push(r);
    return result;
  };
  const sender = { send, close: async () => {} };
  const done = await sendAttempt(
    { task: task(over), message, endpoint },
    { delivery: defaults.delivery, sender, now: () => now, random: () => random },
  );
  return { ...done, sent };
}

const answer = (status: number, headers = {}): SendResult => ({
  kind: 'response',
  status,
  headers,
  body: 'r',
  durationMs: 3,
});

describe('one attempt, with the default configuration', () => {
  it('sends the payload bytes with a signature made at the attempt, and custom headers', async () => {
    for (const now of [T, T + 7_000]) {
      const { sent, attempt: recorded, next } = await attempt(answer(204), {}, now);
      const [request] = sent;
      assert.equal(request!.body, '{"n": 1.50}');
      assert.equal(
        request!.headers['webhook-timestamp'],
        String(now / 1000),
        'a fresh timestamp per attempt',
      );
      assert.equal(request!.headers['x-a'], '1');
      const verified = new Webhook(SECRET).verify(request!.body, request!.headers);
      assert.deepEqual(verified, { n: 1.5 });
      assert.deepEqual(next, { status: 'success' });
      assert.deepEqual(
        [recorded.status, recorded.responseStatusCode, recorded.createdAt],
        ['success', 204, now],
      );
    }
  });

  it('retries a failure after the second delay of the schedule (5 s), within ±20 % jitter', async () => {
    const early = await attempt(answer(500), {}, T, 0);
    const late = await attempt(answer(500), {}, T, 0.99);
    assert.deepEqual(early.next, { status: 'pending', at: T + 4_000 });
    assert.deepEqual(late.next, { status: 'pending', at: T + 5_980 });
  });

  it('waits at least 60 s after a 429 or a timeout, and honours a longer Retry-After up to twice the delay', async () => {
    for (const result of [answer(429), { kind: 'timeout', durationMs: 15_000 } as const]) {
      const { next } = await attempt(result);
      assert.deepEqual(next, { status: 'pending', at: T + 60_000 });
    }
    // After the second attempt the schedule says 5 min; Retry-After 20 min is clamped to 10 min.
    const { next } = await attempt(answer(503, { 'retry-after': '1200' }), { attempts: 1 });
    assert.deepEqual(next, { status: 'pending', at: T + 10 * 60_000 });
  });

  it('fails the task after the eighth attempt; a resent attempt is recorded as manual and not retried', async () => {
    assert.deepEqual((await attempt(answer(500), { attempts: 7 })).next, { status: 'fail' });
    assert.equal((await attempt(answer(500), { attempts: 6 })).next.status, 'pending');
    assert.equal((await attempt(answer(204), { trigger: 'manual' })).attempt.triggerType, 'manual');
    for (const attempts of [0, 1, 7]) {
      const manual = await attempt(answer(500), { trigger: 'manual', attempts, restore: { status: 'fail' } });
      assert.deepEqual(manual.next, { status: 'fail' }, `after ${attempts} attempts`);
    }
  });

  it('a failed manual attempt leaves the task where the resend found it; a delivered one succeeds', async () => {
    const states = [
      { status: 'success' },
      { status: 'pending', at: T + 60_000 },
      { status: 'fail' },
    ] as const;
    for (const restore of states) {
      assert.deepEqual((await attempt(answer(500), { trigger: 'manual', restore })).next, restore);
      assert.deepEqual(
        (await attempt({ kind: 'timeout', durationMs: 15_000 }, { trigger: 'manual', restore })).next,
        restore,
      );
      assert.deepEqual((await attempt(answer(200), { trigger: 'manual', restore })).next, {
        status: 'success',
      });
    }
  });

  it('a failed manual attempt with nothing to return to makes the scheduled attempt lost in a crash again', async () => {
    // A resend during a scheduled attempt whose process died: the lease ran out, the resend is claimed.
    const lost = await attempt(answer(500), { trigger: 'manual', restore: null, attempts: 3 }, T + 5);
    assert.deepEqual(lost.next, { status: 'pending', at: T + 5 });
    // Meanwhile, in flight with the resend queued behind, it shows as sending without a next attempt.
    assert.deepEqual(shownStatus(task({ nextAt: T + 1, trigger: 'manual' })), {
      status: 'sending',
      nextAt: null,
    });
  });
});
