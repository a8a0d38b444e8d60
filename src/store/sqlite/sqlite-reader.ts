// A second connection to the database a store serves, that only reads: on a thread of its own, a list
// that walks a long history then holds up no commit and no delivery on the store's thread. In WAL mode
// it reads while the store writes, and each read sees every commit made before it began: a write
// acknowledged to a client is seen by the reads that follow.

import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Store } from '../store.ts';
import { attemptsSql } from './attempts-sql.ts';
import { LOG_LIMIT_BYTES } from './checkpointer.ts';
import { Db } from './db.ts';
import { messagesSql } from './messages-sql.ts';
import { watchFile } from './sqlite-store.ts';
import { tasksSql } from './tasks-sql.ts';
import { guardUnavailable } from './unavailable.ts';

/** The reads whose cost grows with the history they look through: lists with filters, and stats. */
export interface SqliteReads {
  messages: Pick<Store['messages'], 'list'>;
  tasks: Pick<Store['tasks'], 'listForEndpoint' | 'listForMessage' | 'stats'>;
  attempts: Pick<Store['attempts'], 'list'>;
  close(): Promise<void>;
}

const SETTLE_STEP_MS = 10;
const SETTLE_MAX_MS = 250;
// After a wait that ended with the log still long (another connection holds a snapshot in it: a backup,
// a replication tool, a shell), the reads of the next second do not wait: queued, they would add up.
const STUCK_MS = 1_000;

export function openSqliteReader(path: string): SqliteReads {
  const raw = new Database(path, { fileMustExist: true });
  const replaced = watchFile(path);
  raw.pragma('query_only = 1');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('temp_store = MEMORY');
  const db = new Db(raw);
  const log = `${path}-wal`;

  /**
   * Reads that follow each other without a pause keep the log from starting over (each holds a
   * snapshot in it), and it grows by every commit: 37 → 154 MiB in 20 s of back-to-back lists beside
   * 100 publishes/s. Past LOG_LIMIT_BYTES, a read first waits, holding nothing, for the writer to start
   * the log over (its file is then cut back), copying the log into the database meanwhile; at most
   * SETTLE_MAX_MS, and no longer than one step once the writer is idle with all of the log copied (its
   * next commit starts the log over: a read that begins now reads the database file, not the log).
   */
  let stuckAt = -Infinity;
  async function settleLog(): Promise<void> {
    const long = () => (statSync(log, { throwIfNoEntry: false })?.size ?? 0) > LOG_LIMIT_BYTES;
    if (performance.now() - stuckAt < STUCK_MS) return;
    let copied = -1; // the log's length when a pass last found all of it copied
    for (const start = performance.now(); long(); ) {
      if (performance.now() - start >= SETTLE_MAX_MS) {
        stuckAt = performance.now();
        return;
      }
      let pass: { busy: number; log: number; checkpointed: number } | undefined;
      try {
        [pass] = raw.pragma('wal_checkpoint(PASSIVE)') as (typeof pass)[];
      } catch {} // busy with the checkpoint thread's own pass: that one copies it
      const all = pass !== undefined && pass.busy === 0 && pass.checkpointed === pass.log;
      if (all && pass!.log === copied) return; // nothing written for a step: the writer is idle
      copied = all ? pass!.log : -1;
      await sleep(SETTLE_STEP_MS);
    }
  }

  /**
   * A read whose statements all see one snapshot: a list reads its page, then what the page names (a
   * list of a message's endpoints, its endpoints), and a delete committed in between must not leave a
   * name with nothing behind it. The methods read synchronously: the transaction spans all they read.
   * Reads run one at a time, each settling the log just before it begins: reads asked for together
   * would otherwise all look at the log first, then hold it one after the other.
   */
  let last: Promise<unknown> = Promise.resolve();
  const inSnapshot =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const read = last.then(async () => {
        await settleLog();
        raw.exec('BEGIN');
        try {
          return await fn(...args);
        } finally {
          raw.exec('COMMIT');
        }
      });
      last = read.catch(() => {});
      return read;
    };
  const [messages, tasks, attempts] = [messagesSql(db), tasksSql(db), attemptsSql(db)];
  return guardUnavailable(
    {
      messages: { list: inSnapshot(messages.list) },
      tasks: {
        listForEndpoint: inSnapshot(tasks.listForEndpoint),
        listForMessage: inSnapshot(tasks.listForMessage),
        stats: inSnapshot(tasks.stats),
      },
      attempts: { list: inSnapshot(attempts.list) },
      async close() {
        replaced.stop();
        await db.close();
      },
    },
    replaced,
  );
}
