// Per-endpoint rate limit as evenly spaced slots: `rate` messages per second means one slot every
// 1000/rate ms. A task that finds its slot in the future is put back until then, holding that slot,
// so a backlog drains at exactly the rate instead of retrying in a herd.

export interface Slot {
  at: number; // when this message may be sent
  nextFree: number; // the first free slot after it
}

export function reserveSlot(nextFree: number | undefined, rate: number, now: number): Slot {
  const at = Math.max(now, nextFree ?? now);
  return { at, nextFree: at + 1000 / rate };
}
