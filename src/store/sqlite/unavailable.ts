// Which SQLite failures are the database's, not the caller's: they become StoreUnavailableError, which
// the API answers with 503 and Retry-After. better-sqlite3 errors carry SQLite's extended result code
// as a name (SQLITE_IOERR_WRITE, SQLITE_BUSY_TIMEOUT…); see https://sqlite.org/rescode.html.
import { StoreUnavailableError } from '../store.ts';

// FULL: disk full (or max_page_count reached). IOERR*: the OS reported an I/O error. BUSY*/LOCKED*:
// another connection held the lock past busy_timeout. READONLY*: the file or its folder cannot be
// written. CANTOPEN*: the file (or its journal) cannot be opened. NOMEM: out of memory. PROTOCOL: a
// WAL locking race that persisted.
const SQLITE_CODES = /^SQLITE_(?:FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|NOMEM|PROTOCOL)(?:_[A-Z_]+)?$/;
// What node:fs reports when the write-ahead log cannot be synced (db.ts syncs it itself): an I/O error,
// a full or read-only disk, a log gone from under the database, no file descriptor left.
const FS_CODES = new Set(['EIO', 'ENOSPC', 'EDQUOT', 'EROFS', 'ENOENT', 'EMFILE', 'ENFILE']);

/** True when `error` says the database cannot serve calls for now, whatever the call. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (SQLITE_CODES.test(code) || FS_CODES.has(code));
}

/** `error` as StoreUnavailableError when it is one of those failures, as it is otherwise. */
export function unavailableAs(error: unknown): unknown {
  return error instanceof StoreUnavailableError || !isUnavailable(error)
    ? error
    : new StoreUnavailableError(error);
}

type Methods = Record<string, (...args: never[]) => Promise<unknown>>;

/** What says the database can no longer be served (watchFile): `check` looks again, now. */
export interface Refusal {
  readonly refusal: StoreUnavailableError | null;
  check(): void;
}

/**
 * The same store, with every method's unavailable failure raised as StoreUnavailableError; while
 * `watch` holds a refusal, every call but `close` fails with it, unstarted. A call that fails has `watch`
 * check first: if that finds a refusal, the call fails with it instead of its own error.
 */
export function guardUnavailable<S extends object>(store: S, watch: Refusal | null = null): S {
  const guard =
    (fn: (...args: never[]) => Promise<unknown>, refusing = watch) =>
    async (...args: never[]): Promise<unknown> => {
      if (refusing?.refusal) throw refusing.refusal;
      try {
        return await fn(...args);
      } catch (error) {
        refusing?.check();
        throw refusing?.refusal ?? unavailableAs(error);
      }
    };
  const guarded: Record<string, unknown> = {};
  for (const [ns, value] of Object.entries(store)) {
    guarded[ns] =
      typeof value === 'function' // close
        ? guard(value as (...args: never[]) => Promise<unknown>, null)
        : Object.fromEntries(Object.entries(value as Methods).map(([name, fn]) => [name, guard(fn)]));
  }
  return guarded as S;
}
