// The SQLite driver of the Store port: one file, WAL, durable commits, no other service.

import { closeSync, existsSync, mkdirSync, openSync, realpathSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type Store, StoreUnavailableError } from '../store.ts';
import { appsSql } from './apps-sql.ts';
import { attemptsSql } from './attempts-sql.ts';
import { backgroundTasksSql } from './background-tasks-sql.ts';
import { LOG_LIMIT_BYTES, startCheckpointer, WAL_PAGES } from './checkpointer.ts';
import { Db } from './db.ts';
import { endpointsSql, failingEndpoints } from './endpoints-sql.ts';
import { eventTypesSql } from './event-types-sql.ts';
import { idempotencySql, RUNNING, settingsSql } from './kv-sql.ts';
import { messagesSql, type SqliteMessages } from './messages-sql.ts';
import { migrate } from './migrate.ts';
import { tasksSql } from './tasks-sql.ts';
import { guardUnavailable, type Refusal } from './unavailable.ts';

export type SqliteStore = Store & { messages: SqliteMessages };

/**
 * Creates a folder and its missing parents, one level at a time: Node's recursive mkdir loops forever
 * where mkdir answers ENOENT for a path whose parent exists (inside /proc), instead of failing. Only its
 * owner may enter it: the database holds the key that signs app tokens.
 */
export function makeFolder(dir: string): void {
  if (existsSync(dir)) return;
  makeFolder(dirname(dir));
  try {
    mkdirSync(dir, 0o700);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw error; // made meanwhile by another process
  }
}

export interface SqliteStoreOptions {
  /** Run after the migrations, on the store's connection (`max_page_count = N` caps the file's size). */
  pragmas?: readonly string[];
  /** When set, messages.expireBatch also deletes messages older than this, with their tasks and attempts. */
  retentionMs?: number | null;
  /** Told when an fsync of the write-ahead log fails: the process must stop writing (see Db). */
  onSyncFailed?: (error: Error) => void;
}

/**
 * Holds `<path>.lock` until closed, or until the process ends however it ends (the system drops the lock):
 * one process serves a SQLite database. Two would each keep their own per-endpoint limits, rate-limit
 * clocks and caches. Throws if another process (or another store in this one) holds it.
 */
function lockDatabase(path: string): Database.Database {
  const lockPath = `${path}.lock`;
  // Its owner's only, as the database is (SQLite gives its journal the same mode).
  if (!existsSync(lockPath)) closeSync(openSync(lockPath, 'a', 0o600));
  const lock = new Database(lockPath, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE'); // the lock the transaction takes is kept after it
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
    return lock;
  } catch (error) {
    lock.close();
    if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') throw error;
    throw new Error(
      'it is in use by another Doorbell process: one process serves a SQLite database (several share PostgreSQL)',
    );
  }
}

/** Whether `path` names a database in memory, which only the connection that made it sees. */
export const inMemory = (path: string): boolean => path === ':memory:' || path === '';

/** Opens (creating if needed) a SQLite store at `path`, or ':memory:', and brings its schema up to date. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  const memory = inMemory(path);
  if (!memory) {
    makeFolder(dirname(path));
    // A new database is readable by its owner only (SQLite gives its -wal and -shm files the same mode):
    // it holds the key that signs app tokens and the admin token's hash. An existing file keeps its mode.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  }
  // Next to the file itself: a symlink to it names the same database.
  const lock = memory ? null : lockDatabase(realpathSync(path));
  let raw: Database.Database | undefined;
  let replaced: ReturnType<typeof watchFile> | null = null;
  try {
    raw = new Database(path);
    replaced = memory ? null : watchFile(path);
    raw.pragma('journal_mode = WAL');
    // FULL: a publish is acknowledged only after its commit is on disk.
    raw.pragma('synchronous = FULL');
    raw.pragma('busy_timeout = 5000');
    raw.pragma('foreign_keys = OFF'); // cascades are explicit deletes
    raw.pragma('temp_store = MEMORY');
    raw.pragma(`wal_autocheckpoint = ${WAL_PAGES}`); // checkpoints run on their own thread: checkpointer.ts
    raw.pragma(`journal_size_limit = ${LOG_LIMIT_BYTES}`); // the log's size once it starts over
    migrate(raw);
    for (const pragma of options.pragmas ?? []) raw.pragma(pragma);
    // SQLite opens a file it may read but not write without a word, and every write would fail once
    // serving: rewriting the header's user_version (unused) as it is finds out now.
    raw.pragma(`user_version = ${Number(raw.pragma('user_version', { simple: true }))}`);
    // One process serves the file: an idempotency key still running is a dead process's request, and
    // free now, not once its lease ends (a repeat would be answered 409 until then, up to a minute).
    raw.prepare(`DELETE FROM idempotency WHERE status_code = ${RUNNING}`).run();
  } catch (error) {
    replaced?.stop();
    raw?.close();
    lock?.close();
    throw explained(path, error);
  }
  const db = new Db(raw, options.onSyncFailed);
  const checkpointer = memory ? null : startCheckpointer(path);
  let closed = false;
  const mayFail = failingEndpoints(db);
  return guardUnavailable(
    {
      apps: appsSql(db, mayFail),
      eventTypes: eventTypesSql(db),
      endpoints: endpointsSql(db, mayFail),
      messages: messagesSql(db, options.retentionMs ?? null),
      tasks: tasksSql(db),
      attempts: attemptsSql(db),
      backgroundTasks: backgroundTasksSql(db),
      idempotency: idempotencySql(db),
      settings: settingsSql(db),
      async close() {
        if (closed) return;
        closed = true;
        replaced?.stop();
        try {
          await checkpointer?.stop();
          await db.close(); // commits queued writes first, and waits for their fsync
        } finally {
          lock?.close();
        }
      },
    },
    replaced,
  );
}

/** SQLite's "unable to open" and "readonly", with what the file system says of `path`. */
function explained(path: string, error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string') return error;
  let why: string | null = null;
  if (code.startsWith('SQLITE_READONLY')) {
    why = 'this user may not write it (the file, its folder, and its -wal and -shm files must be writable)';
  } else if (code.startsWith('SQLITE_CANTOPEN')) {
    const stat = statSync(path, { throwIfNoEntry: false });
    why = stat?.isDirectory() ? 'it is a folder' : 'this user may not read and write it, or its folder';
  }
  return why ? Object.assign(new Error(`${error.message}: ${why}`, { cause: error }), { code }) : error;
}

/**
 * Checks every second, and after any failed call, that `path` is still the file the store has open.
 * Deleted or replaced (a folder removed by hand, a file restored over it), the store would go on writing
 * to a file no one can open again: every acknowledged write would be lost at the next start. It refuses
 * calls instead (503), and a call that failed because of it (SQLite's "no such table" from a new file)
 * gets that refusal, not its own error.
 */
export function watchFile(path: string): Refusal & { stop(): void } {
  const identity = (stat: Stats | undefined) => (stat ? `${stat.dev}:${stat.ino}` : 'none');
  const opened = identity(statSync(path));
  const watch = {
    refusal: null as StoreUnavailableError | null,
    check() {
      if (watch.refusal) return;
      let now: string;
      try {
        now = identity(statSync(path, { throwIfNoEntry: false }));
      } catch {
        return; // cannot tell (a folder made unreadable): SQLite's own errors say what fails
      }
      if (now === opened) return;
      watch.refusal = new StoreUnavailableError(
        'the database file was deleted or replaced while in use: restart Doorbell',
      );
    },
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(watch.check, 1_000).unref();
  return watch;
}
