// Copies the write-ahead log into the database file on a thread of its own, so the store's thread does
// not. SQLite's automatic checkpoint runs inside the commit that crosses its threshold: it copies the
// pages and fsyncs the log and the database file on the committing thread, which under load blocked the
// store's thread for 5–12 ms several times a second (and up to ~60 ms when the disk was slow), delaying
// every publish and delivery behind it.
//
// Here a second connection runs a PASSIVE checkpoint every INTERVAL_MS: it copies what has been committed
// so far and fsyncs, without blocking the writer (https://sqlite.org/c3ref/wal_checkpoint_v2.html). The
// log starts over only when a writer finds everything in it copied, which a steady stream of commits
// rarely allows, so the store's own automatic checkpoint stays on, with a higher threshold (WAL_PAGES):
// it then copies only the little written since the last pass, and lets the log start over. Should this
// thread fail, that automatic checkpoint still bounds the log.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export const WAL_PAGES = 8192; // the store connection's wal_autocheckpoint: 32 MiB of 4 KiB pages
/** The log's file is cut back to this when it starts over (journal_size_limit); longer, it is too long. */
export const LOG_LIMIT_BYTES = 2 * WAL_PAGES * 4096;
const INTERVAL_MS = 100;

const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');
// Plain JavaScript: this thread needs no TypeScript loader. Errors (a full disk, a busy lock while
// another checkpoint runs) are left to the next pass; the store's own writes report the database's state.
const SOURCE = `const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing the database at `path` (in WAL mode) from a thread of its own. */
export function startCheckpointer(path: string): Checkpointer {
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { driver: DRIVER, path, intervalMs: INTERVAL_MS },
  });
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // The thread ends; the store's automatic checkpoint takes over, in the store's thread.
  worker.on('error', (error) =>
    console.error(`doorbell: the checkpoint thread failed (${error.message}); the store checkpoints itself`),
  );
  return {
    async stop() {
      worker.ref(); // waited for now
      worker.postMessage('stop');
      await exited;
    },
  };
}
