// The storage port. Grouped by aggregate, written in domain terms; no connection or driver type leaks.
// Every driver (sqlite/, postgres/) passes the same conformance suite (store-contract.ts).
// Lookups by "idOrUid" accept either the prefixed id or the caller-chosen uid, scoped as stated.
// Every id embeds its creation time (src/core/ids.ts), and callers create an object's id from the same
// clock reading as its createdAt: a driver may rely on that (PostgreSQL finds a message's or an
// attempt's daily partition from its id).

import type {
  Application,
  Attempt,
  DeliveryTask,
  Endpoint,
  EventType,
  Message,
  Page,
  PageQuery,
  TaskNext,
  TaskStatusName,
} from '../core/types.ts';

/** Raised by a driver when a unique constraint (uid, event type name, eventId) is violated. */
export class ConflictError extends Error {
  readonly code = 'conflict';
  constructor(readonly field: string) {
    super(`${field} already exists`);
  }
}

const UNAVAILABLE = 'database unavailable: ';

/**
 * Raised by a driver when the database cannot serve a call through no fault of the caller: it cannot be
 * reached or is shutting down, it is out of disk, memory or connections, the disk failed, or it stayed
 * locked. The API answers 503 with Retry-After, and callers retry.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'unavailable';
  /** The driver's own code for the failure (ECONNREFUSED, 53100, SQLITE_FULL…), when it gave one. */
  readonly reason: string | undefined;
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(message.startsWith(UNAVAILABLE) ? message : `${UNAVAILABLE}${message}`, { cause });
    const code = cause instanceof StoreUnavailableError ? cause.reason : (cause as { code?: unknown })?.code;
    this.reason = typeof code === 'string' ? code : undefined;
  }

  /** What the driver said, without the prefix this error adds. */
  get said(): string {
    return this.message.slice(UNAVAILABLE.length);
  }
}

/**
 * How long a publish waits in a queue for a batch of its own, in the API and again in a driver that
 * merges calls: behind batches stuck on a lock or a silent database it then fails unsent (503).
 */
export const PUBLISH_QUEUE_WAIT = {
  maxMs: 3_000,
  late: () => new StoreUnavailableError('the database has not taken publishes for 3 s: retry'),
};

export interface TimeRange {
  before?: number | null; // createdAt < before
  after?: number | null; // createdAt > after
}

/** What lists of messages, attempts and deliveries filter on, of each one's message. */
export interface MessageFilters {
  channel?: string | null;
  eventTypes?: string[] | null;
  tag?: string | null;
}

/** Lists of messages read payloads unless `withContent` is false (each payload is then null). */
interface Content {
  withContent?: boolean;
}

export interface MessageQuery extends PageQuery, TimeRange, MessageFilters, Content {}

export interface AttemptQuery extends PageQuery, TimeRange, MessageFilters {
  msgId?: string | null;
  endpointId?: string | null;
  status?: 'success' | 'fail' | null;
  statusCodeClass?: 0 | 100 | 200 | 300 | 400 | 500 | null; // 0: no response
}

/**
 * Work over many messages an API call ran (a recover, a replay, an expunge of all contents), as Svix's
 * background tasks: each is done by the time its call answers, and kept to be looked up by its id.
 */
export interface BackgroundTask {
  id: string; // qtask_…
  task: string; // Svix's BackgroundTaskType: endpoint.recover, endpoint.replay…
  status: 'finished';
  data: Record<string, unknown>;
  updatedAt: number;
}

export interface BackgroundTaskQuery extends PageQuery {
  task?: string | null;
}

export interface TaskQuery extends PageQuery, TimeRange, MessageFilters, Content {
  /** The status shown (core's shownStatus): while a manual attempt is pending, the state it would restore. */
  status?: TaskStatusName | null;
}

/** One publish: a message and the ids of the endpoints it must reach. */
export interface PublishItem {
  message: Message;
  endpointIds: string[];
  now: number;
  /**
   * The response an idempotency key replays, kept in the publish's own transaction: a process killed
   * after the commit leaves the key answered, not free to publish the message again.
   */
  kept?: KeptResponse;
}

export interface KeptResponse {
  key: string;
  response: IdempotentResponse;
  expiresAt: number;
}

/** When a published message's tasks are first due: at its deliverAt, unless that has passed. */
/** How long a finished background task is kept to be looked up. */
export const BACKGROUND_TASK_KEEP_MS = 30 * 24 * 3600_000;

export const dueAtOf = (message: Pick<Message, 'deliverAt'>, now: number): number =>
  Math.max(now, message.deliverAt ?? now);

export interface EventTypeQuery extends PageQuery {
  includeArchived: boolean;
  featureFlags?: readonly string[];
  /** False: schemas are not read (each is null), nor counted against the page's bytes. */
  withContent?: boolean;
}

/** appDeleted: the app was deleted after the caller looked it up; nothing of the item was stored. */
export type PublishResult =
  | { ok: true }
  | { ok: false; conflict: 'eventId'; existing: Message }
  | { ok: false; conflict: 'appDeleted' };

/** A task the worker holds under a lease, with what it needs to send it. */
export interface ClaimedTask {
  task: DeliveryTask;
  message: Message;
  endpoint: Endpoint;
}

/**
 * A worker in the publishing process offering to take new tasks as they are created, so they skip the
 * claim (a capability of the SQLite driver, whose single process both publishes and delivers).
 * `take` is asked inside the publish's transaction; a yes is a promise to send the task.
 */
export interface TaskOffer {
  leaseMs: number;
  take(endpointId: string, appId: string): boolean;
}

export interface OfferedPublish {
  results: PublishResult[];
  /** Tasks leased to the offering worker, committed: it sends them. */
  handed: ClaimedTask[];
  /** Tasks left pending for a claim. */
  queued: number;
}

/**
 * A task put back to wait for its rate-limit slot keeps it only if claimed at most this long after it
 * (DeliveryTask.rateSlot); claimed later (after a restart, a stall, a busy worker), it takes a new slot,
 * so that the tasks whose slots passed meanwhile do not all go at once: a burst is at most this long's
 * worth of slots. A worker claims a due task within milliseconds; this leaves room for a busy one.
 */
export const SLOT_GRACE_MS = 100;

/**
 * A claim takes a rate-limited endpoint's due tasks that hold no slot only as far as its free slots
 * within this long from now (its tasks holding a slot whose time has come go first, whatever this):
 * each takes the next free slot, so a backlog is given slots about this far ahead, a claim at a time,
 * rather than all at once ahead of the tasks whose slots have come.
 */
export const RATE_HORIZON_MS = 1000;

export interface ClaimOptions {
  now: number;
  limit: number; // at most this many tasks
  leaseMs: number; // lease length; longer than the attempt deadline
  perEndpoint: number; // at most this many tasks in flight (sending, unexpired lease) per endpoint
  /**
   * Besides: at most `cap` tasks per endpoint held by the caller itself, `held` counting those it holds
   * now by endpoint; and per application at most `appCap` less what `apps` counts for it. A worker
   * claiming into its reserve gives it (`apps` counting what it holds in the reserve), so that other
   * processes' attempts to an endpoint do not keep it out of this one's reserve (where one process
   * serves, as on SQLite, every lease is its own, and `cap` just lowers perEndpoint).
   */
  mine?: { cap: number; held: Record<string, number>; appCap: number; apps: Record<string, number> };
  /**
   * Leased tasks of the caller whose attempt has ended while their finish is still being committed:
   * no longer in flight at their endpoint, so not counted against its cap.
   */
  ended?: string[];
  /**
   * Leased tasks of the caller whose lease has ended while it still holds them (the process was paused
   * during their attempt, or before their finish committed): not taken over, since their attempt is the
   * caller's own, and counted against their endpoint's cap while their attempt is in flight (not `ended`).
   * Their finish, under the lease they were sent with, moves them on as usual.
   */
  held?: string[];
}

export interface FinishInput {
  taskId: string;
  /** The lease the attempt was made under (the claimed task's leaseUntil): see tasks.finish. */
  lease: number | null;
  attempt: Attempt; // inserted in the same transaction
  next: TaskNext;
  now: number;
}

/**
 * How both drivers keep one refused finish from failing its batch. `all` commits the batch in one go;
 * should it throw (other than StoreUnavailableError: the database cannot be reached), each input runs
 * alone, in order, so that two finishes of one task still apply in order, and only the inputs that fail
 * again are answered with their error. The hot path pays nothing for this: it is one call of `all`.
 * An input whose attempt `recorded` finds is answered true: a finish made again because the answer to
 * its commit was lost (a connection dropped after COMMIT) committed the first time.
 */
export async function finishEachAlone(
  inputs: FinishInput[],
  all: (inputs: FinishInput[]) => Promise<boolean[]>,
  recorded: (attempt: Attempt) => Promise<boolean>,
): Promise<Array<boolean | Error>> {
  try {
    return await all(inputs);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
  }
  const results: Array<boolean | Error> = [];
  for (const input of inputs) {
    try {
      results.push(...(await all([input])));
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      if (await recorded(input.attempt)) {
        results.push(true);
        continue;
      }
      // A plain Error: the results may cross to another thread, and driver errors (better-sqlite3's
      // SqliteError) are not cloned as errors.
      results.push(new Error(error instanceof Error ? error.message : String(error)));
    }
  }
  return results;
}

export interface EndpointStats {
  success: number;
  pending: number;
  fail: number;
  sending: number;
}

/** A task joined with its message, for "messages attempted to this endpoint". */
export interface TaskWithMessage {
  task: DeliveryTask;
  message: Message;
}

/** A task joined with its endpoint, for "endpoints this message was sent to". */
export interface TaskWithEndpoint {
  task: DeliveryTask;
  endpoint: Endpoint;
}

export interface IdempotentResponse {
  statusCode: number;
  body: string;
  /** What names the request it answered; null in rows kept before it was stored. */
  request: string | null;
}

/**
 * What `idempotency.begin` found for a key: nothing live (the caller now holds the running marker and
 * must run the request), another caller's request still running, or the response to replay.
 */
export type IdempotencyClaim =
  | { state: 'first' }
  | { state: 'running' }
  | { state: 'done'; response: IdempotentResponse };

export interface Store {
  apps: {
    create(app: Application): Promise<void>; // ConflictError('uid')
    get(idOrUid: string): Promise<Application | null>;
    list(query: PageQuery): Promise<Page<Application>>;
    /**
     * Stores `app` if the row is still as `seen` (its updatedAt): false when another write came between
     * (the caller reads again and redoes its change). ConflictError('uid').
     */
    update(app: Application, seen: Pick<Application, 'updatedAt'>): Promise<boolean>;
    /**
     * Deletes the app, its endpoints and their undelivered tasks in one short transaction: from then on
     * nothing of it is found, published or delivered. Its messages, tasks and attempts are left to
     * purgeDeleted, so that deleting a big app holds no lock for long.
     */
    delete(id: string, now: number): Promise<boolean>;
    /**
     * Purges one batch of what deleted apps left: up to `limit` messages of one app with their tasks
     * and attempts (or up to `limit` of its attempts, in batches of their own before its messages), or,
     * once nothing of it is left, its record. Returns how many rows of the batch's kind it removed: 0
     * when nothing is left.
     */
    purgeDeleted(limit: number): Promise<number>;
  };
  eventTypes: {
    create(eventType: EventType): Promise<void>; // ConflictError('name')
    get(name: string): Promise<EventType | null>;
    /** The event types of these names that exist (archived or not), in no particular order. */
    getMany(names: readonly string[]): Promise<EventType[]>;
    /** iterator is the name; with `featureFlags`, only event types without a flag or with one of them. */
    list(query: EventTypeQuery): Promise<Page<EventType>>;
    /** Stores `eventType` if the row is still as `seen` (its updatedAt), as apps.update does. */
    update(eventType: EventType, seen: Pick<EventType, 'updatedAt'>): Promise<boolean>;
    /**
     * Stores all of them in one transaction, each only if still as `seen` (its updatedAt; null: a new
     * name): false, and nothing stored, when one was changed or created meanwhile.
     */
    putAll(writes: ReadonlyArray<{ eventType: EventType; seen: number | null }>): Promise<boolean>;
    delete(name: string): Promise<boolean>;
  };
  endpoints: {
    /**
     * Stores `endpoint` if its application still exists, checked as part of the write: false when it
     * was deleted (after the caller looked it up), and nothing is stored. ConflictError('uid'), uid
     * unique per app.
     */
    create(endpoint: Endpoint): Promise<boolean>;
    get(appId: string, idOrUid: string): Promise<Endpoint | null>;
    list(appId: string, query: PageQuery): Promise<Page<Endpoint>>;
    /** Every endpoint of an app, for subscription matching at publish time. */
    listAll(appId: string): Promise<Endpoint[]>;
    /**
     * A value that changes whenever an endpoint of the app is created, deleted, updated or disabled (each
     * sets a later updatedAt), not with the worker's failingSince and rate-limit bookkeeping: a cache of
     * listAll rereads it only then.
     */
    version(appId: string): Promise<string>;
    /**
     * Stores `endpoint` if the row is still as `seen` (its updatedAt, and failingSince, which the worker
     * sets): false when another write came between. ConflictError('uid'), uid unique per app.
     */
    update(endpoint: Endpoint, seen: Pick<Endpoint, 'updatedAt' | 'failingSince'>): Promise<boolean>;
    delete(appId: string, id: string): Promise<boolean>; // also deletes its pending tasks
    /**
     * Sets or clears failingSince; returns the value now stored. The worker clears it after every
     * success, so clearing writes nothing when no run is stored (and may skip the database when the
     * driver knows, as the only process writing it, that none is).
     */
    markHealth(id: string, healthy: boolean, now: number): Promise<number | null>;
    /**
     * Disables the endpoint; given `failingSince`, only while its run of failures is still that one (a
     * re-enable or a success meanwhile ended it). Returns whether it did.
     */
    disable(id: string, now: number, failingSince?: number): Promise<boolean>;
    /**
     * Reserves the endpoint's next rate-limit slot for one message, at the rate that applies now (its own,
     * else its application's): slots are 1000/rate ms apart and shared by every worker process. Returns
     * when the message may be sent (now, or later; now when no rate applies).
     */
    reserveSlot(id: string, now: number): Promise<number>;
    /**
     * After a rate-limit change: the slots of the endpoint (or, when `endpointId` is null, of the app's
     * endpoints that take the app's rate) start over at `at`, and their tasks waiting for a slot are due
     * by then, to take slots at the new rate. Returns how many tasks it moved.
     */
    resetRate(appId: string, endpointId: string | null, at: number): Promise<number>;
  };
  messages: {
    /** Inserts every item's message and its tasks (due at item.now) in one transaction: one durable commit. */
    publish(items: PublishItem[]): Promise<PublishResult[]>;
    get(appId: string, idOrEventId: string): Promise<Message | null>;
    list(appId: string, query: MessageQuery): Promise<Page<Message>>;
    expungeContent(appId: string, msgId: string): Promise<boolean>;
    /**
     * Drops the payload of every message of the application created before `before`, a few hundred
     * messages per commit (publishes and deliveries go on between them); returns how many it dropped.
     */
    expungeAll(appId: string, before: number): Promise<number>;
    /**
     * Drops the payload of up to `limit` messages whose expiresAt <= now and, where the driver was given a
     * retention, deletes messages older than it with their tasks and attempts (SQLite: up to `limit`
     * messages; PostgreSQL: whole days, in its hourly upkeep). Returns how many messages the batch
     * touched (expired, or read for deletion): the caller loops until 0.
     */
    expireBatch(now: number, limit: number): Promise<number>;
  };
  tasks: {
    claimDue(options: ClaimOptions): Promise<ClaimedTask[]>;
    /**
     * Records each attempt and moves its task on, all in ONE transaction (the worker group-commits
     * finished attempts: one durable commit per batch, not per attempt). Per input: false if the task
     * no longer exists; its attempt is then recorded only while its message and app exist (its endpoint
     * was deleted during it: the endpoint's history stays). An input the database refuses does not fail
     * the others: it alone is answered with the error, and the rest commit (see finishEachAlone).
     * Rejects only when the store cannot be reached. A finish under a lease the task no longer holds
     * (it expired and was taken over) records its attempt but moves the task only to delivered, and
     * never frees the lease of the attempt in flight.
     */
    finish(inputs: FinishInput[]): Promise<Array<boolean | Error>>;
    /**
     * Gives a claimed task back without an attempt until its rate-limit slot `at`; or, when the endpoint's
     * slots started over since (resetRate), until they did, to take a new one. Nothing when the task no
     * longer holds `lease`.
     */
    release(taskId: string, lease: number | null, at: number): Promise<void>;
    get(msgId: string, endpointId: string): Promise<DeliveryTask | null>;
    /** Makes the message's task for the endpoint due now, for resend; null if the message never targeted it. */
    resend(appId: string, msgId: string, endpointId: string, now: number): Promise<DeliveryTask | null>;
    /**
     * Makes every failed task of the endpoint created in [since, until) due now, but those of messages
     * whose payload expired or was expunged; returns how many.
     */
    recover(endpointId: string, since: number, until: number, now: number): Promise<number>;
    /**
     * Gives the endpoint a pending task (due at dueAtOf) for each message of its application created in
     * [since, until) that it would receive now (its event types and channels) and has none for it: one
     * published before it existed, or while it was disabled or took other events. Messages whose payload
     * expired or was expunged are passed over. A chunk of messages per commit; stops once the endpoint
     * is deleted. Returns how many tasks it made.
     */
    replayMissing(endpoint: Endpoint, since: number, until: number, now: number): Promise<number>;
    listForEndpoint(endpointId: string, query: TaskQuery): Promise<Page<TaskWithMessage>>;
    listForMessage(msgId: string, query: PageQuery): Promise<Page<TaskWithEndpoint>>;
    /** Tasks per status shown (core's shownStatus), of the messages created in [since, until). */
    stats(
      endpointId: string,
      range: { since?: number | null; until?: number | null },
    ): Promise<EndpointStats>;
    /**
     * The earliest time after `after` (all times without it) a task of an endpoint other than those of
     * `skip` comes due: a pending task's nextAt, or the end of a sending task's lease. Null if none:
     * lets an idle worker sleep until then.
     */
    nextDueAt(after?: number, skip?: readonly string[]): Promise<number | null>;
  };
  attempts: {
    get(appId: string, msgId: string, attemptId: string): Promise<Attempt | null>;
    list(appId: string, query: AttemptQuery): Promise<Page<Attempt>>;
    /** Replaces the stored response with 'EXPUNGED', as Svix does. */
    expungeContent(appId: string, msgId: string, attemptId: string): Promise<boolean>;
  };
  backgroundTasks: {
    /** Keeps a finished task; those finished more than BACKGROUND_TASK_KEEP_MS before it are forgotten. */
    put(task: BackgroundTask): Promise<void>;
    get(id: string): Promise<BackgroundTask | null>;
    /** Newest first unless asked otherwise. */
    list(query: BackgroundTaskQuery): Promise<Page<BackgroundTask>>;
  };
  /**
   * Responses replayed for a repeated `idempotency-key`, shared by every API process. A key's row is
   * either a running marker (its request is being handled; it expires at a short lease, after which the
   * request counts as abandoned, e.g. its process died) or a response (it expires after the replay
   * period). An expired row counts as absent.
   */
  idempotency: {
    /**
     * Atomically, also across processes: when no live row exists, stores a running marker held by
     * `owner` until `leaseUntil` and answers 'first'; otherwise answers what the live row holds.
     */
    begin(key: string, owner: string, now: number, leaseUntil: number): Promise<IdempotencyClaim>;
    /** Stores the response to replay (over the running marker). */
    put(key: string, response: IdempotentResponse, expiresAt: number): Promise<void>;
    /** Drops the running marker held by `owner`, if it still is one: the next caller runs the request. */
    abandon(key: string, owner: string): Promise<void>;
  };
  /** Small settings kept by the server itself (the admin token hash, the token-signing key). */
  settings: {
    get(key: string): Promise<string | null>;
    put(key: string, value: string): Promise<void>;
    /** Stores `value` unless the key has one; returns the stored value (every process agrees on it). */
    putIfAbsent(key: string, value: string): Promise<string>;
    /** Stores `value` if the key holds `expected` (null: has none); false when it held something else. */
    compareAndSet(key: string, expected: string | null, value: string): Promise<boolean>;
    /**
     * The time (ms) by the database's clock, where processes share the database and their own clocks may
     * disagree; null where one process owns it (its clock is the one).
     */
    clock(): Promise<number | null>;
  };
  close(): Promise<void>;
}
