// Drops expired payloads, and purges what deleted applications left, in small batches, so no sweep
// holds a long lock.

import type { Store } from '../store/store.ts';
import { logFault } from './fault-log.ts';

// Small enough that a publish waiting behind a batch on SQLite's one writer waits a few ms (250: ~6 ms).
const BATCH = 250;
const INTERVAL_MS = 60_000;
// The first sweep comes soon after the start: a process restarted more often than the interval still
// sweeps, and what expired while it was down goes at once.
const FIRST_SWEEP_MS = 1_000;

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
  let stopped = false;
  const schedule = (ms: number): NodeJS.Timeout =>
    setTimeout(() => {
      sweep()
        .catch((error: unknown) => logFault('doorbell retention: sweep failed; next in a minute', error))
        .finally(() => {
          if (!stopped) timer = schedule(INTERVAL_MS);
        });
    }, ms).unref();
  let timer = schedule(FIRST_SWEEP_MS);
  return {
    sweep,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
