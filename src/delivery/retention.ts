// Drops expired payloads in small batches, so no sweep holds a long lock.

import type { Store } from '../store/store.ts';

const BATCH = 1000;
const INTERVAL_MS = 60_000;

export interface Sweeper {
  /** Runs batches until nothing expired is left; returns how many payloads were dropped. */
  sweep(): Promise<number>;
  stop(): void;
}

export function startRetention(store: Store, now: () => number): Sweeper {
  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await store.messages.expireBatch(now(), BATCH);
      total += n;
      if (n < BATCH) return total;
      await new Promise((r) => setImmediate(r)); // let requests in between batches
    }
  }
  const timer = setInterval(() => {
    sweep().catch((error: unknown) => console.error('doorbell retention: sweep failed:', error));
  }, INTERVAL_MS);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
