// Drops expired payloads, and purges what deleted applications left, in small batches, so no sweep
// holds a long lock.

import type { Store } from '../store/store.ts';

// Small enough that a publish waiting behind a batch on SQLite's one writer waits a few ms (250: ~6 ms).
const BATCH = 250;
const INTERVAL_MS = 60_000;

export interface Sweeper {
  /** Runs batches until nothing expired or deleted is left; returns how many rows went. */
  sweep(): Promise<number>;
  stop(): void;
}

export function startRetention(store: Store, now: () => number): Sweeper {
  /** Runs `batch` until it removes nothing, letting requests in between batches. */
  async function drain(batch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await batch();
      total += n;
      if (n === 0) return total;
      await new Promise((r) => setImmediate(r));
    }
  }
  const sweep = async (): Promise<number> =>
    (await drain(() => store.messages.expireBatch(now(), BATCH))) +
    (await drain(() => store.apps.purgeDeleted(BATCH)));
  const timer = setInterval(() => {
    sweep().catch((error: unknown) => console.error('doorbell retention: sweep failed:', error));
  }, INTERVAL_MS);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
