// Pieces shared by the load tests that kill processes (crash, multi-process): numbered events of three
// types, a seeded random source so a failing run can be replayed, an API client, and duplicate counts.
import { Pool } from 'undici';

export const TYPES = ['order.created', 'order.paid', 'order.shipped'] as const;
export const FILTERED_TYPE = 'order.created';

export type Payload = { seq: number; type: string; note: string };
export const typeOf = (seq: number): string => TYPES[seq % TYPES.length]!;
export const seqOf = (body: string): number => (JSON.parse(body) as Payload).seq;
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Small seeded PRNG (mulberry32), so a failing run can be replayed from its printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A PRNG seeded from the environment variable `name`, else at random; the test prints its seed. */
export function seeded(t: { diagnostic(message: string): void }, name: string): () => number {
  const seed = Number(process.env[name] ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`seed ${seed} (rerun with ${name}=${seed})`);
  return prng(seed);
}

/** Successful deliveries beyond the first, per webhook-id, summed. */
export function duplicates(successes: Map<string, number>): number {
  let n = 0;
  for (const count of successes.values()) n += Math.max(0, count - 1);
  return n;
}

export interface Api {
  pool: Pool;
  call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown>;
  /** Publishes event `seq`; the raw answer. */
  publish(appId: string, seq: number): Promise<{ status: number; body: string }>;
}

/** A client of the API; `timeoutMs` bounds each request, so a hung request becomes an error. */
export function apiClient(base: string, adminToken: string, connections: number, timeoutMs = 20_000): Api {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const pool = new Pool(base, { connections, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  return {
    pool,
    async call(method, path, body) {
      const res = await pool.request({
        method,
        path,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode}: ${text}`);
      return text === '' ? null : JSON.parse(text);
    },
    async publish(appId, seq) {
      const payload: Payload = { seq, type: typeOf(seq), note: `event ${seq}` };
      const res = await pool.request({
        method: 'POST',
        path: `/api/v1/app/${appId}/msg`,
        headers,
        body: JSON.stringify({ eventType: payload.type, payload }),
      });
      return { status: res.statusCode, body: await res.body.text() };
    },
  };
}
