// A thin wrapper over a better-sqlite3 connection: a statement cache (each SQL text is prepared once),
// immediate transactions, and a group commit that folds the writes issued in one turn of the event
// loop into a single commit.
//
// Durability: grouped commits run with synchronous=NORMAL (in WAL mode a commit is then only written,
// not fsynced); when a batch carries something acknowledged to a client (a publish), its writes are
// settled only after an fsync of the WAL file, run on libuv's thread pool, so the event loop never
// blocks on the disk while the batch waits. That fsync covers every commit before it. Worker
// bookkeeping (claims, finished attempts) needs no fsync of its own: it survives a process crash, and
// a power loss can only make a task be delivered again (at-least-once). Rare API writes use tx(),
// which commits with synchronous=FULL.
//
// Transactions raise the database's own failures (disk full, I/O error…) as StoreUnavailableError, for
// code inside the store that tells them apart (finishEachAlone); the store's guardUnavailable does the
// same for every method, which also covers statements run outside a transaction.

import { closeSync, fdatasync, openSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { type IdPrefix, idFloor } from '../../core/ids.ts';
import { jsonRows, type Row } from '../rows.ts';
import { ConflictError, type MessageFilters } from '../store.ts';
import { unavailableAs } from './unavailable.ts';

export type { Row };

interface Job {
  fn: () => unknown;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class Db {
  readonly raw: BetterSqlite3.Database;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  readonly #batch: BetterSqlite3.Transaction<(jobs: Job[]) => unknown[]>;
  readonly #isolated: BetterSqlite3.Transaction<(jobs: Job[]) => Array<() => void>>;
  #jobs: Job[] = [];
  #scheduled = false;
  #durable = true; // the connection's current synchronous setting: FULL (true) or NORMAL
  readonly #walPath: string | null;
  #walFd: number | null = null;
  readonly #syncing = new Set<Promise<void>>();

  readonly #onSyncFailed: (error: Error) => void;

  /**
   * `onSyncFailed`: told when an fsync of the log fails, after the batch that waited for it failed. The
   * later commits are not safe to acknowledge: Linux reports a failed writeback once and may have
   * dropped the pages, so a later fsync succeeds over a log that has lost part of itself, and recovery
   * stops at the first frame lost. The server stops there (as PostgreSQL does); a restart recovers
   * what reached the disk.
   */
  constructor(raw: BetterSqlite3.Database, onSyncFailed: (error: Error) => void = () => {}) {
    this.raw = raw;
    this.#onSyncFailed = onSyncFailed;
    this.#walPath = raw.memory ? null : `${raw.name}-wal`;
    // The queued jobs run bare, in one transaction. Should one throw, that transaction is rolled back and
    // the batch runs again with each job in a savepoint (a nested transaction), so that only the job
    // that threw fails. Jobs must therefore be safe to run twice; the hot-path jobs report conflicts as
    // values, so throwing is rare, and what they touch outside the database tolerates a rerun (a claim's
    // rotation; a TaskOffer's promises, all given back when the publish settles).
    this.#batch = raw.transaction((jobs: Job[]) => jobs.map((job) => job.fn()));
    const savepoint = raw.transaction((fn: () => unknown) => fn());
    this.#isolated = raw.transaction((jobs: Job[]) =>
      jobs.map((job) => {
        try {
          const value = savepoint(job.fn);
          return () => job.resolve(value);
        } catch (error) {
          // After some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_NOMEM) SQLite may roll back
          // the whole transaction, not just the savepoint (https://sqlite.org/lang_transaction.html,
          // "Response To Errors Within A Transaction"). The later jobs would then each commit on their
          // own, outside the batch: fail the batch instead.
          if (!raw.inTransaction) throw error;
          return () => job.reject(unavailableAs(error));
        }
      }),
    );
  }

  stmt(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.raw.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  get<T = Row>(sql: string, ...params: unknown[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  all<T = Row>(sql: string, ...params: unknown[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  run(sql: string, ...params: unknown[]): number {
    return this.stmt(sql).run(...params).changes;
  }

  #sync(durable: boolean): void {
    if (this.#durable === durable) return;
    this.raw.pragma(durable ? 'synchronous = FULL' : 'synchronous = NORMAL');
    this.#durable = durable;
  }

  /** Runs fn in one immediate, durable transaction (the write lock is taken up front: no upgrade deadlock). */
  tx<T>(fn: () => T): T {
    try {
      this.#sync(true);
      return this.raw.transaction(fn).immediate();
    } catch (error) {
      throw unavailableAs(error);
    }
  }

  /**
   * Queues a write; every write queued in this turn commits together, and one that throws fails alone.
   * The commit waits for fsync when any of its writes is `durable`.
   */
  grouped<T>(fn: () => T, durable = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ fn, durable, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits the queued writes now. */
  flush(): void {
    const jobs = this.#jobs;
    this.#jobs = [];
    this.#scheduled = false;
    if (jobs.length === 0) return;
    let settle: Array<() => void>;
    try {
      this.#sync(false);
      try {
        const values = this.#batch.immediate(jobs);
        settle = jobs.map((job, i) => () => job.resolve(values[i]));
      } catch {
        settle = this.#isolated.immediate(jobs);
      }
    } catch (error) {
      for (const job of jobs) job.reject(unavailableAs(error));
      return;
    }
    const durable: Array<{ job: Job; done: () => void }> = [];
    for (const [i, job] of jobs.entries()) {
      const done = settle[i]!;
      if (job.durable) durable.push({ job, done });
      else done();
    }
    if (durable.length === 0) return;
    const synced = this.#syncWal().then(
      () => {
        for (const d of durable) d.done();
      },
      (error: unknown) => {
        for (const d of durable) d.job.reject(unavailableAs(error));
      },
    );
    this.#syncing.add(synced);
    void synced.finally(() => this.#syncing.delete(synced));
  }

  /**
   * fdatasync of the WAL file on the thread pool: every commit so far becomes durable. fdatasync, as
   * SQLite's own unix VFS uses on Linux for its syncs: the data and the file size, without the mtime's
   * journal commit that makes fsync slower (here 1.9 → 1.5 ms on average under load).
   */
  #syncWal(): Promise<void> {
    if (this.#walPath === null) return Promise.resolve();
    try {
      this.#walFd ??= openSync(this.#walPath, 'r');
    } catch (error) {
      return Promise.reject(error); // its folder was removed: the batch fails, the process goes on
    }
    const fd = this.#walFd;
    return new Promise((resolve, reject) =>
      fdatasync(fd, (error) => {
        if (error === null) return resolve();
        reject(error);
        // After the batch's rejection has settled, which tells its callers.
        setImmediate(() => this.#onSyncFailed(error));
      }),
    );
  }

  async close(): Promise<void> {
    this.flush();
    await Promise.all(this.#syncing);
    this.#statements.clear();
    this.raw.close();
    if (this.#walFd !== null) closeSync(this.#walFd);
  }
}

/** Runs fn, turning a unique-constraint violation into ConflictError(field). */
export function conflictAs<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      throw new ConflictError(field);
    }
    throw error;
  }
}

export const json = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));

/** The driver's row mappers: JSON columns are stored as text. */
export const mapRow = jsonRows((value) => JSON.parse(value as string));

/** Appends `channel` / `eventTypes` filters on a message alias. */
export function messageFilters(
  alias: string,
  where: string[],
  params: unknown[],
  query: MessageFilters,
): void {
  if (query.channel) {
    where.push(`EXISTS (SELECT 1 FROM json_each(${alias}.channels) WHERE value = ?)`);
    params.push(query.channel);
  }
  if (query.tag) {
    where.push(`EXISTS (SELECT 1 FROM json_each(${alias}.tags) WHERE value = ?)`);
    params.push(query.tag);
  }
  if (query.eventTypes && query.eventTypes.length > 0) {
    where.push(`${alias}.event_type IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(query.eventTypes));
  }
}

/**
 * Appends `before` / `after` filters on a createdAt column; and, given the rows' id (whose time is
 * their creation time, see core/ids.ts), the same bounds on the id, which the index an id-keyed list
 * scans can seek to: on the time column alone, a bound far back in a long history read every row
 * after it.
 */
export function timeFilters(
  column: string,
  where: string[],
  params: unknown[],
  range: { before?: number | null; after?: number | null },
  id?: { key: string; prefix: IdPrefix },
): void {
  if (range.before != null) {
    where.push(`${column} < ?`);
    params.push(range.before);
    if (id) {
      where.push(`${id.key} < ?`);
      params.push(idFloor(id.prefix, range.before));
    }
  }
  if (range.after != null) {
    where.push(`${column} > ?`);
    params.push(range.after);
    if (id) {
      where.push(`${id.key} >= ?`);
      params.push(idFloor(id.prefix, range.after + 1));
    }
  }
}
