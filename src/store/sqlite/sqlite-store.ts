// The SQLite driver of the Store port: one file, WAL, durable commits, no other service.

import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../store.ts';
import { appsSql } from './apps-sql.ts';
import { attemptsSql } from './attempts-sql.ts';
import { startCheckpointer, WAL_PAGES } from './checkpointer.ts';
import { Db } from './db.ts';
import { endpointsSql } from './endpoints-sql.ts';
import { eventTypesSql } from './event-types-sql.ts';
import { idempotencySql, settingsSql } from './kv-sql.ts';
import { messagesSql, type SqliteMessages } from './messages-sql.ts';
import { migrate } from './migrate.ts';
import { tasksSql } from './tasks-sql.ts';
import { guardUnavailable } from './unavailable.ts';

export type SqliteStore = Store & { messages: SqliteMessages };

/**
 * Creates a folder and its missing parents, one level at a time: Node's recursive mkdir loops forever
 * where mkdir answers ENOENT for a path whose parent exists (inside /proc), instead of failing. Only its
 * owner may enter it: the database holds the key that signs app tokens.
 */
function makeFolder(dir: string): void {
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
}

/** Opens (creating if needed) a SQLite store at `path`, or ':memory:', and brings its schema up to date. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  const memory = path === ':memory:' || path === '';
  if (!memory) {
    makeFolder(dirname(path));
    // A new database is readable by its owner only (SQLite gives its -wal and -shm files the same mode):
    // it holds the key that signs app tokens and the admin token's hash. An existing file keeps its mode.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  }
  const raw = new Database(path);
  try {
    raw.pragma('journal_mode = WAL');
    // FULL: a publish is acknowledged only after its commit is on disk.
    raw.pragma('synchronous = FULL');
    raw.pragma('busy_timeout = 5000');
    raw.pragma('foreign_keys = OFF'); // cascades are explicit deletes
    raw.pragma('temp_store = MEMORY');
    raw.pragma(`wal_autocheckpoint = ${WAL_PAGES}`); // checkpoints run on their own thread: checkpointer.ts
    migrate(raw);
    for (const pragma of options.pragmas ?? []) raw.pragma(pragma);
  } catch (error) {
    raw.close();
    throw error;
  }
  const db = new Db(raw);
  const checkpointer = memory ? null : startCheckpointer(path);
  let closed = false;
  return guardUnavailable({
    apps: appsSql(db),
    eventTypes: eventTypesSql(db),
    endpoints: endpointsSql(db),
    messages: messagesSql(db, options.retentionMs ?? null),
    tasks: tasksSql(db),
    attempts: attemptsSql(db),
    idempotency: idempotencySql(db),
    settings: settingsSql(db),
    async close() {
      if (closed) return;
      closed = true;
      await checkpointer?.stop();
      await db.close(); // commits queued writes first, and waits for their fsync
    },
  });
}
