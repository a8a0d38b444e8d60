// Small helpers shared by the benchmark phases.

/** Milliseconds on CLOCK_MONOTONIC: comparable across processes on the same host. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Nearest-rank percentile (p in 0..100); NaN for an empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** A JSON object that serialises to exactly `bytes` bytes (ASCII). */
export function makePayload(seq: number, bytes = 1024): Record<string, unknown> {
  const base = { type: 'bench.event', seq, data: '' };
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  return { ...base, data: 'x'.repeat(Math.max(0, pad)) };
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` in flight.
 * `startAt(i)`, when given, is the monotonic time before which item i must not start (pacing).
 */
export async function runBounded(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  startAt?: (i: number) => number,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      if (startAt) {
        const wait = startAt(i) - nowMs();
        if (wait > 1) await sleep(wait);
      }
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Polls `done()` every `everyMs` until it is true or `timeoutMs` elapses; returns whether it finished. */
export async function waitUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    if (await done()) return true;
    await sleep(everyMs);
  }
  return done();
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
