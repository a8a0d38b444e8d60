// The raw loopback bound: undici with keep-alive straight to the sink.
import { Pool } from 'undici';
import type { Sink } from './children.ts';
import { makePayload, nowMs, runBounded } from './lib.ts';

export type RawResult = { requests: number; seconds: number; perSecond: number; errors: number };

export async function runRaw(
  sink: Sink,
  count: number,
  concurrency: number,
  warmup: number,
): Promise<RawResult> {
  const pool = new Pool(sink.url, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify(makePayload(0));
  let errors = 0;
  const post = async (i: number, prefix: string): Promise<void> => {
    const res = await pool.request({
      method: 'POST',
      path: '/raw',
      headers: { 'content-type': 'application/json', 'webhook-id': `${prefix}${i}` },
      body,
    });
    await res.body.dump();
    if (res.statusCode !== 204) errors++;
  };
  try {
    await runBounded(warmup, concurrency, (i) => post(i, 'warm_'));
    errors = 0;
    const start = nowMs();
    await runBounded(count, concurrency, (i) => post(i, 'raw_'));
    const seconds = (nowMs() - start) / 1000;
    return { requests: count, seconds, perSecond: count / seconds, errors };
  } finally {
    await pool.close();
    await sink.reset();
  }
}
