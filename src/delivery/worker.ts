// The delivery loop: claim due tasks under a lease, send each, classify the outcome, and record the
// attempt with the task's next state. Finished attempts are group-committed (one durable commit per
// batch). Idle, it sleeps until the next due task or a wake-up from the API, whichever comes first.

import type { Config } from '../config/config.ts';
import { createBatcher } from '../core/batcher.ts';
import { newId } from '../core/ids.ts';
import { classify, failureReason } from '../core/outcome.ts';
import { reserveSlot } from '../core/rate-limit.ts';
import { nextAttempt } from '../core/retry-schedule.ts';
import { webhookHeaders } from '../core/signing.ts';
import type { Attempt, AttemptOutcome } from '../core/types.ts';
import { emit } from '../observability/events.ts';
import type { ClaimedTask, FinishInput, Store, TaskNext } from '../store/store.ts';
import type { Sender } from './undici-sender.ts';

export interface WorkerDeps {
  store: Store;
  config: Readonly<Config>;
  sender: Sender;
  now: () => number;
  random: () => number;
}

export interface Worker {
  start(): void;
  /** New tasks may be due: claim now instead of at the next poll. */
  wake(): void;
  /** Stops claiming, waits for attempts in flight to be recorded. */
  stop(): Promise<void>;
}

const IDLE_POLL_MS = 1000; // fallback poll; wake() and nextDueAt cover the usual cases
const CLAIM_BATCH = 256;

export function createWorker(deps: WorkerDeps): Worker {
  const { store, config, sender, now } = deps;
  const cfg = config.delivery;
  const leaseMs = cfg.attemptTimeoutMs + cfg.leaseMarginMs;
  const nextSlot = new Map<string, number>(); // endpoint id → first free rate-limit slot
  const holding = new Set<string>(); // tasks put back until their rate-limit slot
  const finisher = createBatcher((inputs: FinishInput[]) => store.tasks.finish(inputs), 1000);
  const inFlight = new Set<Promise<void>>();
  let running = false;
  let pumping = false;
  let again = false;
  let timer: NodeJS.Timeout | null = null;

  function schedule(delayMs: number): void {
    if (!running) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(wake, Math.max(0, Math.min(delayMs, IDLE_POLL_MS)));
  }

  function wake(): void {
    if (!running) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    void pump()
      .catch((error: unknown) => {
        // Infrastructure fault (database unavailable…): back off and try again.
        console.error('doorbell worker: claim failed:', error);
        schedule(IDLE_POLL_MS);
      })
      .finally(() => {
        pumping = false;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  async function pump(): Promise<void> {
    while (running) {
      again = false;
      const free = cfg.concurrency - inFlight.size;
      if (free <= 0) return; // a finishing attempt wakes us
      const at = now();
      const claimed = await store.tasks.claimDue({
        now: at,
        limit: Math.min(free, CLAIM_BATCH),
        leaseMs,
        perEndpoint: cfg.perEndpointConcurrency,
      });
      for (const c of claimed) track(deliver(c));
      if (claimed.length === 0) {
        if (again) continue;
        const next = await store.tasks.nextDueAt();
        schedule(next === null ? IDLE_POLL_MS : next - now());
        return;
      }
    }
  }

  function track(p: Promise<void>): void {
    const tracked = p
      .catch((error: unknown) => console.error('doorbell worker: attempt not recorded:', error))
      .finally(() => {
        inFlight.delete(tracked);
        wake();
      });
    inFlight.add(tracked);
  }

  async function deliver({ task, message, endpoint }: ClaimedTask): Promise<void> {
    if (endpoint.rateLimit !== null && endpoint.rateLimit > 0 && !holding.delete(task.id)) {
      const slot = reserveSlot(nextSlot.get(endpoint.id), endpoint.rateLimit, now());
      nextSlot.set(endpoint.id, slot.nextFree);
      if (slot.at > now()) {
        holding.add(task.id);
        return store.tasks.release(task.id, slot.at);
      }
    }
    const started = now();
    let outcome: AttemptOutcome;
    let statusCode = 0;
    let response: string;
    let durationMs = 0;
    if (message.payload === null) {
      outcome = { kind: 'fail', reason: 'payload expired or expunged' };
      response = outcome.reason;
    } else {
      const secrets = endpoint.secrets.filter((s) => s.expiresAt === null || s.expiresAt > started).map((s) => s.key);
      const signed = webhookHeaders({
        msgId: message.id,
        timestamp: Math.floor(started / 1000),
        body: message.payload,
        secrets,
      });
      const result = await sender.send({
        url: endpoint.url,
        headers: { ...endpoint.headers, ...signed },
        body: message.payload,
      });
      outcome = classify(result, now());
      durationMs = result.durationMs;
      if (result.kind === 'response') {
        statusCode = result.status;
        response = result.body;
      } else {
        response = failureReason(result);
      }
    }
    const finishedAt = now();
    const attempts = task.attempts + 1;
    const next = decide(outcome, attempts, finishedAt);
    const attempt: Attempt = {
      id: newId('atmpt', finishedAt),
      appId: task.appId,
      msgId: task.msgId,
      endpointId: task.endpointId,
      url: endpoint.url,
      status: outcome.kind === 'delivered' ? 'success' : 'fail',
      responseStatusCode: statusCode,
      response,
      responseDurationMs: durationMs,
      triggerType: 'scheduled',
      createdAt: finishedAt,
    };
    await finisher.add({ taskId: task.id, attempt, next, now: finishedAt });
    emit('attempt:finished', {
      appId: task.appId,
      msgId: task.msgId,
      endpointId: task.endpointId,
      status: attempt.status,
      statusCode,
      durationMs,
      next: next.status,
    });
    await updateHealth(endpoint.id, endpoint.appId, endpoint.failingSince, outcome, finishedAt);
  }

  function decide(outcome: AttemptOutcome, attempts: number, at: number): TaskNext {
    switch (outcome.kind) {
      case 'delivered':
        return { status: 'success' };
      case 'disable':
      case 'fail':
        return { status: 'fail' };
      case 'retry': {
        const n = nextAttempt({
          attempt: attempts,
          outcome,
          schedule: cfg.retrySchedule,
          jitter: cfg.jitter,
          penaltyMs: cfg.penaltyMs,
          now: at,
          random: deps.random,
        });
        return 'at' in n ? { status: 'pending', at: n.at } : { status: 'fail' };
      }
      default: {
        const _exhaustive: never = outcome;
        return _exhaustive;
      }
    }
  }

  async function updateHealth(
    endpointId: string,
    appId: string,
    failingSince: number | null,
    outcome: AttemptOutcome,
    at: number,
  ): Promise<void> {
    if (outcome.kind === 'delivered') {
      if (failingSince !== null) await store.endpoints.markHealth(endpointId, true, at);
      return;
    }
    if (outcome.kind === 'disable') return disable(endpointId, appId, outcome.reason, at);
    // One write when a run of failures starts; a long run re-reads the stored value before disabling.
    if (failingSince !== null && at - failingSince < cfg.autoDisableAfterMs) return;
    const since = await store.endpoints.markHealth(endpointId, false, at);
    if (since !== null && at - since >= cfg.autoDisableAfterMs) {
      await disable(endpointId, appId, `failing continuously since ${new Date(since).toISOString()}`, at);
    }
  }

  async function disable(endpointId: string, appId: string, reason: string, at: number): Promise<void> {
    await store.endpoints.disable(endpointId, at);
    emit('endpoint:disabled', { appId, endpointId, reason });
  }

  return {
    start() {
      running = true;
      wake();
    },
    wake,
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await finisher.drain();
    },
  };
}
