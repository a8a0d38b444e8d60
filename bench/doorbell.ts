// Doorbell under load: the real `doorbell serve` as a child process, driven over its HTTP API.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Pool, request } from 'undici';
import {
  awaitDeliveries,
  cpuSeconds,
  firstDeliveryTimes,
  freePort,
  makeTempDir,
  peakRssMiB,
  type Sink,
  spawnNode,
  stopChild,
} from './children.ts';
import { makePayload, nowMs, percentile, runBounded, waitUntil } from './lib.ts';

/** A Doorbell deployment: one process (role all), or one API process and N worker processes. */
export type DoorbellServer = {
  url: string;
  pids: number[];
  authHeaders: Record<string, string>;
  api<T>(method: 'GET' | 'POST', path: string, body?: unknown, expect?: number): Promise<T>;
  /** Peak RSS (VmHWM) of each process, summed, and the largest. */
  peakRssMiB(): Promise<{ sum: number; max: number }>;
  /** CPU seconds used so far, summed over the processes. */
  cpuSeconds(): Promise<number>;
  /** SIGTERM to every process; resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
};

export type DoorbellOptions = {
  workerConcurrency: number;
  /** A postgres:// URL; a SQLite file in a temp dir when absent. */
  database?: string;
  /** Worker processes beside one `--role api` process; 0 runs a single `--role all` process. */
  workers?: number;
};

/** Spawns `doorbell serve`; resolves once it is ready (ping answers 204, or the worker's start line). */
async function spawnServe(
  role: 'all' | 'api' | 'worker',
  database: string,
  port: number,
  env: NodeJS.ProcessEnv,
  workerConcurrency: number,
): Promise<ChildProcess> {
  // DOORBELL_BENCH_NODE_ARGS passes flags to the server's node, e.g. '--cpu-prof --cpu-prof-dir=prof'.
  const args = [
    ...(process.env.DOORBELL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    '--import',
    'tsx',
    'src/bin/doorbell.ts',
    'serve',
    ...(role === 'worker' ? [] : ['--port', String(port), '--host', '127.0.0.1']),
  ];
  args.push(
    '--database',
    database,
    '--allow-subnets',
    '127.0.0.0/8',
    '--concurrency',
    String(workerConcurrency),
  );
  if (role !== 'all') args.push('--role', role);
  const child: ChildProcess = spawnNode(args, env);
  const lines: string[] = [];
  let workerStarted = false;
  let recent = ''; // the start line may arrive split over two chunks
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    recent = (recent + chunk).slice(-4096);
    workerStarted ||= recent.includes('Doorbell worker started');
    lines.push(...chunk.split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 30));
  });
  const tail = (): string => lines.join('\n');
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const ready = await waitUntil(
    async () => {
      if (exited()) throw new Error('exited');
      if (role === 'worker') return workerStarted;
      const res = await request(`http://127.0.0.1:${port}/api/v1/health/ping`).catch(() => null);
      await res?.body.dump();
      return res?.statusCode === 204;
    },
    60_000,
    100,
  ).catch(() => false);
  if (ready) return child;
  const why = exited() ? `exited (${child.exitCode ?? child.signalCode})` : 'not ready after 60 s';
  await stopChild(child, 2000);
  throw new Error(`doorbell ${role} ${why}:\n${tail()}`);
}

export async function startDoorbell(o: DoorbellOptions): Promise<DoorbellServer> {
  const token = `bench_${randomBytes(12).toString('hex')}`;
  const env = { DOORBELL_ADMIN_TOKEN: token };
  const database = o.database ?? join(makeTempDir(), 'bench.db');
  const workers = o.workers ?? 0;
  const port = await freePort();
  const started: ChildProcess[] = [];
  try {
    started.push(await spawnServe(workers > 0 ? 'api' : 'all', database, port, env, o.workerConcurrency));
    for (let w = 0; w < workers; w++) {
      started.push(await spawnServe('worker', database, port, env, o.workerConcurrency));
    }
  } catch (err) {
    await Promise.all(started.map((child) => stopChild(child, 2000)));
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  const authHeaders = { authorization: `Bearer ${token}` };
  const pids = started.map((child) => child.pid!);

  return {
    url,
    pids,
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
    async peakRssMiB() {
      const each = await Promise.all(pids.map(peakRssMiB));
      return { sum: each.reduce((a, b) => a + b, 0), max: Math.max(...each) };
    },
    async cpuSeconds() {
      const each = await Promise.all(pids.map(cpuSeconds));
      return each.reduce((a, b) => a + b, 0);
    },
    stop: () => Promise.all(started.map((child) => stopChild(child))),
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
  server: Pick<DoorbellServer, 'url' | 'authHeaders'>;
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
  const ttfd = firstDeliveryTimes(startedAt, dump);
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
