// The delivery loop: claim due tasks under a lease, send each (attempt.ts), and record the attempt
// with the task's next state. Finished attempts are group-committed (one durable commit per
// batch). Idle, it sleeps until the next due task or a wake-up from the API, whichever comes first.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, DeliveryConfig } from '../config/config.ts';
import { createBatcher } from '../core/batcher.ts';
import { emit } from '../observability/events.ts';
import {
  type ClaimedTask,
  type ClaimOptions,
  type FinishInput,
  type Store,
  StoreUnavailableError,
  type TaskOffer,
} from '../store/store.ts';
import { attemptOf, decide, LocalFault, sendAttempt } from './attempt.ts';
import { createEndpointHealth } from './endpoint-health.ts';
import { logFault, logNews } from './fault-log.ts';
import { createRateGate } from './rate-gate.ts';
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
  /**
   * An offer to take tasks as a publish in this process creates them (see SqliteMessages.publishOffering),
   * while no claim is running and this worker has room. Room per endpoint is this worker's own count,
   * exact where it is the only worker (SQLite, one process). `adopt` gets what was handed over once the
   * publish is committed, or [] if it failed.
   */
  offer(): TaskOffer & { adopt(handed: ClaimedTask[]): void };
  /** Stops claiming, waits for attempts in flight to be recorded. */
  stop(): Promise<void>;
  /** Tasks this worker holds whose attempt is not recorded yet (waiting for a slot, sending, committing). */
  inFlight(): number;
}

const IDLE_POLL_MS = 1000; // fallback poll; wake() and nextDueAt cover the usual cases
// Finished attempts and wake-ups ask for claims far more often than claims are worth running: claims
// are spaced at least this far apart, and at least as far as the last one took (a claim is a few
// round trips on PostgreSQL), so slots freed meanwhile are refilled by one claim. An idle worker,
// whose last claim is long past, still claims at once. (Twice as far left slots idle: on PostgreSQL,
// one process delivered 2,034–2,400/s against 2,696–2,754/s with this spacing, in alternated runs.)
const MIN_CLAIM_SPACING_MS = 2;
// While due tasks wait for slots, claims for what comes due later are at least this far apart (well
// within SLOT_GRACE_MS, so a rate-limited endpoint keeps its slots), and twice as far after each of them
// that found nothing, up to a poll's time: the task that came due may be waiting too (its endpoint at a
// cap that other processes fill).
const WAITING_SPACING_MS = 20;
// After a claim that took some, the next task due elsewhere is looked up at most this often: such claims
// are common, and on PostgreSQL the lookup probes every endpoint with tasks pending.
const LOOKUP_SPACING_MS = 100;
const CLAIM_BATCH = 256;
// Failing claims are said to work again once they have for this long, none failing (see `failing`).
const CALM_MS = 10_000;
// An eighth of a worker's slots is kept for endpoints with few attempts in flight: endpoints that hang
// or crawl fill the rest at most, however many they are, and an attempt to another endpoint does not
// wait behind theirs for a slot. In the reserve an endpoint takes slots only while this worker holds
// fewer than an eighth of it for it (at least 1), whatever other workers hold, and an application only
// while as few of the reserve's slots hold its attempts: one tenant's many silent endpoints (each with
// one attempt in flight) take that much of the reserve, and the rest is left to other applications.
// The price: endpoints with many attempts in flight never use the reserve, even when no other needs it,
// and an application's own endpoints share its part of the reserve.
const RESERVED_SHARE = 1 / 8;
const LIGHT_SHARE = 1 / 8;
const FINISHES_IN_FLIGHT = 4; // finish batches committing at once, as publishes do

/**
 * How long a claimed task is held: the lease outlives the attempt deadline by one more deadline, room for
 * the result's commit and for clock skew between processes. A lease shorter than the deadline would
 * deliver twice (Svix PR #2181).
 */
export function leaseDuration(cfg: Pick<DeliveryConfig, 'attemptTimeoutMs'>): number {
  return 2 * cfg.attemptTimeoutMs;
}

interface Holding {
  endpointId: string;
  appId: string;
}

function count(counts: Map<string, number>, key: string, n: number): void {
  const total = (counts.get(key) ?? 0) + n;
  if (total === 0) counts.delete(key);
  else counts.set(key, total);
}

export function createWorker(deps: WorkerDeps): Worker {
  const { store, config, sender, now, random } = deps;
  const cfg = config.delivery;
  const leaseMs = leaseDuration(cfg);
  const reserve = Math.floor(cfg.concurrency * RESERVED_SHARE);
  const lightCap = Math.min(cfg.perEndpointConcurrency, Math.max(1, Math.floor(reserve * LIGHT_SHARE)));
  const gate = createRateGate(store, now);
  const health = createEndpointHealth(store, cfg.autoDisableAfterMs);
  const attemptDeps = { delivery: cfg, sender, now, random };
  const finisher = createBatcher(
    (inputs: FinishInput[]) => store.tasks.finish(inputs),
    1000,
    FINISHES_IN_FLIGHT,
  );
  const inFlight = new Set<Promise<void>>();
  // Attempts that have ended but whose finish is not committed yet: their slots are free again (the
  // claim does not count them against their endpoint's cap), so the next claim need not wait for the commit.
  const ended = new Set<string>();
  // Tasks whose attempt started, until its finish is committed, with the lease it was sent under. After
  // a pause past that lease, the claim must not take them over: their attempt is this worker's own.
  const sending = new Map<string, number>();
  // Tasks this worker holds per endpoint (until their attempt ends), those of them taken into the
  // reserve per application, and slots promised to offers.
  const held = new Map<string, number>();
  const inReserve = new Map<string, number>();
  let promised = 0;
  // False once a claim found nothing (everything due is taken): attempts ending then need no claim.
  // Any outside wake, timer or retry makes it true again.
  let mayBeDue = true;
  let running = false;
  let pumping: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let refill: NodeJS.Timeout | null = null;
  let nextClaimAt = 0; // claims are spaced (MIN_CLAIM_SPACING_MS)
  let waitingSpacing = WAITING_SPACING_MS;
  let lookedAt = Number.NEGATIVE_INFINITY; // the last lookup of what comes due later (timeLater)
  let wokenForLater = false; // the claim running was woken by timeLater's timer
  // Claims fail: logged once, and once more when they have worked again for CALM_MS with none failing,
  // with how many failed meanwhile (a database that lets some claims through and refuses others would
  // otherwise log both lines every few claims).
  let failing = false;
  let failedClaims = 0;
  let workingSince: number | null = null;
  // When the last wake from outside came (a publish, resend or recover): one that came during an attempt
  // may have been for its task (a resend while it was in flight), due only once the attempt is recorded.
  let wokenAt = Number.NEGATIVE_INFINITY;
  let leftUnsentLoggedAt = Number.NEGATIVE_INFINITY; // once a second at most: a batch is left at once
  let localFaultAt = Number.NEGATIVE_INFINITY; // likewise

  /** Claims again after `delayMs`, or at the poll if that is sooner: see pollDue. */
  function schedule(delayMs: number, forLater = false): void {
    if (!running) return;
    if (timer) clearTimeout(timer);
    const poll = delayMs > IDLE_POLL_MS;
    timer = setTimeout(
      () => {
        timer = null;
        wokenForLater = forLater;
        if (poll) pollDue();
        else wakeDue();
      },
      Math.max(0, Math.min(delayMs, IDLE_POLL_MS)),
    );
  }

  /**
   * The poll before the next due task: it claims only if something came due meanwhile (a publish whose
   * wake-up did not arrive, another process's tasks). Asking when the next task is due is one index probe;
   * a claim that finds nothing, on PostgreSQL, walks every endpoint with a task waiting for a retry.
   */
  function pollDue(): void {
    store.tasks.nextDueAt().then(
      (next) =>
        next !== null && next <= now() ? wakeDue() : schedule(next === null ? IDLE_POLL_MS : next - now()),
      () => wakeDue(), // the claim reports the fault
    );
  }

  function wakeDue(): void {
    mayBeDue = true;
    wake();
  }

  /** Slots for more tasks: attempts that ended no longer count, slots promised to offers do. */
  function freeSlots(): number {
    return cfg.concurrency - inFlight.size + ended.size - promised;
  }

  /** A slot freed: claim if something may be waiting for one. */
  function slotFreed(): void {
    if (mayBeDue) wake();
  }

  function wake(): void {
    if (!running) return;
    if (pumping) {
      again = true;
      return;
    }
    const wait = nextClaimAt - now();
    if (wait > 0) {
      refill ??= setTimeout(() => {
        refill = null;
        wake();
      }, wait);
      return;
    }
    pumping = pump()
      .catch((error: unknown) => {
        // Infrastructure fault (database unavailable…): back off and try again.
        if (!failing) logFault('doorbell worker: claims failed; retrying every second', error);
        failing = true;
        failedClaims++;
        workingSince = null;
        schedule(IDLE_POLL_MS);
      })
      .finally(() => {
        pumping = null;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  async function pump(): Promise<void> {
    while (running) {
      again = false;
      const forLater = wokenForLater;
      wokenForLater = false;
      const free = freeSlots();
      if (free <= 0) return; // a finishing attempt wakes us
      const at = now();
      // Above the reserve, up to it; in it, for the endpoints with few attempts in flight.
      const reserved = free <= reserve;
      const limit = Math.min(reserved ? free : free - reserve, CLAIM_BATCH);
      const overdue: string[] = []; // its lease ended while this worker was sending it: a pause
      for (const [id, lease] of sending) if (lease <= at) overdue.push(id);
      const claimed = await store.tasks.claimDue({
        now: at,
        limit,
        leaseMs,
        perEndpoint: cfg.perEndpointConcurrency,
        // In the reserve, what this worker holds counts: other processes' attempts are theirs.
        ...(reserved ? { mine: reserveRoom() } : {}),
        ended: [...ended],
        held: overdue,
      });
      // At most a poll's time: a claim the process was paused in did not take that long.
      nextClaimAt = now() + Math.min(IDLE_POLL_MS, Math.max(MIN_CLAIM_SPACING_MS, now() - at));
      if (failing) {
        workingSince ??= at;
        if (now() - workingSince >= CALM_MS) {
          logNews(`doorbell worker: claims work again (${failedClaims} failed in all)`);
          failing = false;
          failedClaims = 0;
        }
      }
      for (const c of claimed) launch(c, reserved);
      if (claimed.length > 0) waitingSpacing = WAITING_SPACING_MS;
      // All that was due and had room is taken: a freed slot claims again. Should the attempts launched
      // all hang (a wave of a hanging endpoint's tasks, due again after their timeout), none ends: what
      // comes due at other endpoints needs its timer.
      if (claimed.length > 0 && claimed.length < limit) {
        if (timer === null || now() - lookedAt >= LOOKUP_SPACING_MS) await timeLater(at, reserved, false);
        return;
      }
      if (claimed.length === 0) {
        if (again) return; // woken meanwhile: wake() claims again, spaced
        const next = await store.tasks.nextDueAt();
        if (next === null || next > at) {
          // Nothing waits. One that came due while the claim ran is claimed at once.
          mayBeDue = false;
          return schedule(next === null ? IDLE_POLL_MS : next - now());
        }
        // Due when the claim looked, yet not claimed: endpoints at their cap (or, with only the reserve
        // left, endpoints with many attempts in flight), or this worker's own attempts whose lease ended
        // while it was paused. They wait for a freed slot, which claims again (mayBeDue stays true).
        // What comes due later at other endpoints (a retry, a rate slot, a deliverAt) is claimed when it
        // does, not at the poll: endpoints that hang hold their slots for a whole attempt deadline.
        return timeLater(at, reserved, forLater);
      }
    }
  }

  /**
   * Sets the timer for the next task due after `at` at an endpoint this worker does not hold at its cap.
   * `backOff`: the claim it timed last found nothing (that endpoint's cap is filled by other processes).
   */
  async function timeLater(at: number, reserved: boolean, backOff: boolean): Promise<void> {
    lookedAt = now();
    const later = await store.tasks.nextDueAt(at, atCap(reserved));
    if (backOff) waitingSpacing = Math.min(IDLE_POLL_MS, 2 * waitingSpacing);
    schedule(later === null ? IDLE_POLL_MS : Math.max(later - now(), waitingSpacing), true);
  }

  /** The endpoints this worker holds as many attempts of as a claim may (into the reserve, or above it). */
  function atCap(reserved: boolean): string[] {
    const cap = reserved ? lightCap : cfg.perEndpointConcurrency;
    return [...held].filter(([, n]) => n >= cap).map(([id]) => id);
  }

  /** What a claim into the reserve may take: see RESERVED_SHARE. */
  function reserveRoom(): NonNullable<ClaimOptions['mine']> {
    const apps = Object.fromEntries(inReserve);
    return { cap: lightCap, held: Object.fromEntries(held), appCap: lightCap, apps };
  }

  /** Whether this worker may take one more task to the endpoint, into the reserve or above it. */
  function roomFor({ endpointId, appId }: Holding, reserved: boolean): boolean {
    const mine = held.get(endpointId) ?? 0;
    if (!reserved) return mine < cfg.perEndpointConcurrency;
    return mine < lightCap && (inReserve.get(appId) ?? 0) < lightCap;
  }

  function hold({ endpointId, appId }: Holding, reserved: boolean, n: number): void {
    count(held, endpointId, n);
    if (reserved) count(inReserve, appId, n);
  }

  /** Sends a task this worker holds under a lease, and records its attempt. */
  function launch(c: ClaimedTask, reserved: boolean): void {
    hold(c.task, reserved, 1);
    let holding = true;
    const letGo = (): void => {
      if (holding) hold(c.task, reserved, -1);
      holding = false;
    };
    const tracked = deliver(c, letGo)
      .catch((error: unknown) => {
        if (error instanceof LocalFault) return localFault(error);
        logFault(
          'doorbell worker: a claimed task was not sent, or its attempt not recorded: it is claimed again once its lease ends',
          error,
        );
      })
      .finally(() => {
        letGo();
        inFlight.delete(tracked);
        slotFreed();
      });
    inFlight.add(tracked);
  }

  async function deliver({ task, message, endpoint }: ClaimedTask, attemptEnded: () => void): Promise<void> {
    if (endpoint.disabled) return skipDisabled({ task, message, endpoint });
    // Room left for the attempt itself within the lease.
    const slot = await retried(() => gate.wait(task, endpoint), task.leaseUntil, cfg.attemptTimeoutMs);
    if (slot !== null) {
      await retried(() => store.tasks.release(task.id, task.leaseUntil, slot), task.leaseUntil);
      return wakeDue(); // pending again, for a later slot: a claim schedules its timer
    }
    const sentAt = now();
    if (task.leaseUntil !== null && sentAt + cfg.attemptTimeoutMs > task.leaseUntil) {
      // The lease would end before the attempt's deadline (the process was paused since the claim):
      // another worker may take the task over and send it alongside. Not sent; claimed again, by any
      // worker, once the lease has ended.
      if (sentAt - leftUnsentLoggedAt >= 1_000) {
        leftUnsentLoggedAt = sentAt;
        logNews(
          'doorbell worker: claimed tasks left unsent, their lease nearly over (was the process paused, or the database slow to answer?)',
        );
      }
      return wakeDue(); // the next claim finds when the lease ends
    }
    if (task.leaseUntil !== null) sending.set(task.id, task.leaseUntil);
    let sent: Awaited<ReturnType<typeof sendAttempt>>;
    try {
      sent = await sendAttempt({ task, message, endpoint }, attemptDeps);
      ended.add(task.id);
      attemptEnded();
      slotFreed();
      const { attempt, next } = sent;
      await record({ taskId: task.id, lease: task.leaseUntil, attempt, next, now: attempt.createdAt });
    } finally {
      ended.delete(task.id);
      // Unless the task was claimed again since (taken over by another worker, then due again): its entry.
      if (sending.get(task.id) === task.leaseUntil) sending.delete(task.id);
    }
    const { attempt, next, outcome } = sent;
    // A retry, committed: a claim schedules its timer. A task resent meanwhile is due now.
    if (next.status === 'pending' || wokenAt >= sentAt) wakeDue();
    emit('attempt:finished', {
      appId: task.appId,
      msgId: task.msgId,
      endpointId: task.endpointId,
      status: attempt.status,
      statusCode: attempt.responseStatusCode,
      durationMs: attempt.responseDurationMs,
      next: next.status,
    });
    // A missing payload says nothing about the endpoint's health.
    if (message.payload === null) return;
    await health.record(endpoint, outcome, attempt.createdAt).catch((error: unknown) =>
      // The attempt is recorded; the endpoint's failure run (auto-disable) misses this one outcome.
      logFault("doorbell worker: an endpoint's health was not updated after an attempt", error),
    );
  }

  /**
   * An attempt this process lacked the resources to make (out of file descriptors: see connection-cap):
   * its task is sent once its lease ends, and claims pause for a second, rather than lease every due task
   * only to leave it unsent.
   */
  function localFault(error: LocalFault): void {
    const at = now();
    nextClaimAt = Math.max(nextClaimAt, at + 1_000);
    if (at - localFaultAt < 1_000) return;
    localFaultAt = at;
    logFault(
      'doorbell worker: attempts could not be made here: their tasks are sent once their lease ends',
      error,
    );
  }

  /** Records an attempt with its task's next state (see retried: given up, the task is sent again). */
  function record(input: FinishInput): Promise<unknown> {
    return retried(() => finisher.add(input), input.lease);
  }

  /**
   * A store call a claimed task depends on. One the database cannot take now (no connection slot left, a
   * restart) is made again, backing off up to 2 s, while the task's lease leaves `spare` ms: given up, the
   * task waits for its lease to end, and is then sent (again, if its attempt was made), a delay or a
   * duplicate for a passing fault. Stopping changes nothing: a drain waits for the attempts in flight to
   * be recorded (a rolling restart during a database failover recorded none, and sent each twice), and
   * its own timeout bounds it.
   */
  async function retried<T>(call: () => Promise<T>, lease: number | null, spare = 0): Promise<T> {
    for (let delay = 100; ; delay = Math.min(2 * delay, 2_000)) {
      try {
        return await call();
      } catch (error) {
        const left = lease === null ? 0 : lease - now() - spare;
        if (!(error instanceof StoreUnavailableError) || delay >= left) throw error;
        await sleep(delay);
      }
    }
  }

  /**
   * Svix: "If an endpoint is removed or disabled delivery attempts to the endpoint will be disabled as
   * well." Retries pending when it was disabled, and tasks created by a publish that saw it enabled
   * (endpoint caches, other processes), are not sent: the task fails with the reason recorded, and
   * `recover` brings it back once the endpoint is enabled again. A manual attempt (a resend queued before
   * the endpoint was disabled) fails as any failed manual attempt does: the task goes back to where it was.
   */
  async function skipDisabled({ task, endpoint }: ClaimedTask): Promise<void> {
    const at = now();
    const attempt = attemptOf(task, endpoint.url, at, {
      status: 'fail',
      responseStatusCode: 0,
      response: 'endpoint disabled: not sent',
      responseDurationMs: 0,
    });
    const next = decide({ kind: 'fail', reason: attempt.response }, task, at, attemptDeps);
    await record({ taskId: task.id, lease: task.leaseUntil, attempt, next, now: at });
  }

  return {
    start() {
      running = true;
      wake();
    },
    wake() {
      wokenAt = now();
      wakeDue();
    },
    offer() {
      const taken: (Holding & { reserved: boolean })[] = [];
      return {
        leaseMs,
        take(endpointId, appId) {
          if (!running || pumping !== null) return false; // a claim's tasks are not counted yet
          const free = freeSlots();
          const reserved = free <= reserve;
          if (free <= 0 || !roomFor({ endpointId, appId }, reserved)) return false;
          promised++;
          hold({ endpointId, appId }, reserved, 1);
          taken.push({ endpointId, appId, reserved });
          return true;
        },
        adopt(handed) {
          promised -= taken.length;
          for (const t of taken) hold(t, t.reserved, -1);
          // Stopped meanwhile: the tasks stay leased and are claimed again once the lease ends. Handed
          // over in the order taken (none if the publish failed).
          if (running) for (const [i, c] of handed.entries()) launch(c, taken[i]!.reserved);
        },
      };
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      // A claim still running hands its tasks to `inFlight` when it returns: wait for both.
      while (pumping || inFlight.size > 0) await Promise.allSettled([pumping, ...inFlight]);
      if (refill) clearTimeout(refill);
      await finisher.drain();
    },
    inFlight: () => inFlight.size,
  };
}
