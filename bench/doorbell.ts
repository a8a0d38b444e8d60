// Doorbell under load: the real `doorbell serve` as a child process, driven over its HTTP API.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Pool, request } from 'undici';
import {
  awaitDeliveries,
  cpuSeconds,
  freePort,
  makeTempDir,
  peakRssMiB,
  type Sink,
  spawnNode,
  stopChild,
} from './children.ts';
import { makePayload, nowMs, percentile, runBounded, waitUntil } from './lib.ts';

export type DoorbellServer = {
  url: string;
  pid: number;
  authHeaders: Record<string, string>;
  api<T>(method: 'GET' | 'POST', path: string, body?: unknown, expect?: number): Promise<T>;
  peakRssMiB(): Promise<number>;
  cpuSeconds(): Promise<number>;
  stop(): Promise<number | null>;
};

export async function startDoorbell(workerConcurrency: number): Promise<DoorbellServer> {
  const port = await freePort();
  const token = `bench_${randomBytes(12).toString('hex')}`;
  const db = join(makeTempDir(), 'bench.db');
  // DOORBELL_BENCH_NODE_ARGS passes flags to the server's node, e.g. '--cpu-prof --cpu-prof-dir=prof'.
  const args = [
    ...(process.env.DOORBELL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    '--import',
    'tsx',
    'src/bin/doorbell.ts',
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
  ];
  args.push('--database', db, '--allow-subnets', '127.0.0.0/8', '--concurrency', String(workerConcurrency));
  const child: ChildProcess = spawnNode(args, { DOORBELL_ADMIN_TOKEN: token });
  const tail: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail.push(...chunk.split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  });
  const url = `http://127.0.0.1:${port}`;
  const authHeaders = { authorization: `Bearer ${token}` };
  const failed = (): Error => new Error(`doorbell exited (${child.exitCode}):\n${tail.join('\n')}`);

  const ready = await waitUntil(
    async () => {
      if (child.exitCode !== null) throw failed();
      const res = await request(`${url}/api/v1/health/ping`).catch(() => null);
      await res?.body.dump();
      return res?.statusCode === 204;
    },
    60_000,
    100,
  );
  if (!ready) throw new Error(`doorbell not ready after 60 s:\n${tail.join('\n')}`);

  return {
    url,
    pid: child.pid!,
    authHeaders,
    async api<T>(
      method: 'GET' | 'POST',
      path: string,
      body?: unknown,
      expect = method === 'POST' ? 201 : 200,
    ) {
      const res = await request(`${url}${path}`, {
        method,
        headers: { ...authHeaders, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode !== expect) throw new Error(`${method} ${path} → ${res.statusCode}: ${text}`);
      return JSON.parse(text) as T;
    },
    peakRssMiB: () => peakRssMiB(child.pid!),
    cpuSeconds: () => cpuSeconds(child.pid!),
    stop: () => stopChild(child),
  };
}

export type PublishRun = {
  acked: number;
  errors: number;
  firstError?: string;
  ackPerSec: number;
  publishP50: number;
  publishP99: number;
  expected: number;
  delivered: number;
  duplicates: number;
  complete: boolean;
  deliveriesPerSec: number;
  ttfdP50: number;
  ttfdP99: number;
};

export type PublishOptions = {
  server: DoorbellServer;
  sink: Sink;
  appId: string;
  endpoints: number;
  events: number;
  concurrency: number;
  /** Messages per second; unpaced when absent. */
  rate?: number;
  deliveryTimeoutMs: number;
  label: string;
};

/** Publishes `events` 1 KiB messages and waits for every delivery to reach the sink. */
export async function publishRun(o: PublishOptions): Promise<PublishRun> {
  await o.sink.reset();
  const pool = new Pool(o.server.url, { connections: o.concurrency, pipelining: 1 });
  const startedAt = new Map<string, number>();
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const path = `/api/v1/app/${o.appId}/msg`;
  const start = nowMs();
  let lastAck = start;
  const rate = o.rate;
  const pace = rate === undefined ? undefined : (i: number) => start + (i * 1000) / rate;
  try {
    await runBounded(
      o.events,
      o.concurrency,
      async (i) => {
        const t0 = nowMs();
        const res = await pool.request({
          method: 'POST',
          path,
          headers: { ...o.server.authHeaders, 'content-type': 'application/json' },
          body: JSON.stringify({ eventType: 'bench.event', payload: makePayload(i) }),
        });
        const text = await res.body.text();
        const t1 = nowMs();
        if (res.statusCode !== 202) {
          errors++;
          firstError ??= `${res.statusCode}: ${text.slice(0, 200)}`;
          return;
        }
        startedAt.set((JSON.parse(text) as { id: string }).id, t0);
        latencies.push(t1 - t0);
        lastAck = t1;
      },
      pace,
    );
  } finally {
    await pool.close();
  }
  const publishSeconds = (lastAck - start) / 1000;
  const expected = startedAt.size * o.endpoints;
  console.error(`bench: ${o.label}: ${startedAt.size} published in ${publishSeconds.toFixed(1)} s`);
  const complete = await awaitDeliveries(o.sink, expected, o.deliveryTimeoutMs, o.label);
  const dump = await o.sink.dump();
  const ttfd: number[] = [];
  for (const [id, t0] of startedAt) {
    const at = dump.firstAt[id];
    if (at !== undefined) ttfd.push(at - t0);
  }
  return {
    acked: startedAt.size,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    ackPerSec: startedAt.size / publishSeconds,
    publishP50: percentile(latencies, 50),
    publishP99: percentile(latencies, 99),
    expected,
    delivered: dump.unique,
    duplicates: dump.total - dump.unique,
    complete,
    deliveriesPerSec: dump.unique / ((dump.lastAt - start) / 1000),
    ttfdP50: percentile(ttfd, 50),
    ttfdP99: percentile(ttfd, 99),
  };
}
