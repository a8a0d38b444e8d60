// Shared pieces of the multi-process tests on PostgreSQL: one `--role api` process and N `--role worker`
// processes on a temp database, local receivers that answer after a short delay (so attempts are in
// flight at any moment) and notice requests cut off by a killed worker, the API calls that set up an
// application with one endpoint per receiver, and the checks that follow a fault.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';
import { type Api, apiClient, FILTERED_TYPE, seqOf, sleep, TYPES, typeOf } from '../support/event-load.ts';
import { createTempDatabase, probePool, type TempDatabase } from '../support/postgres.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from '../support/receiver.ts';

export const ADMIN_TOKEN = 'multiprocess-test-admin-token';
export interface Cluster {
  api: DoorbellProcess;
  workers: DoorbellProcess[];
  all(): DoorbellProcess[];
  /** SIGKILLs whatever still runs. */
  kill(): Promise<void>;
}

/** Starts the API first (it migrates the schema), then the workers, all with the same `args`. */
async function startCluster(database: string, workers: number, args: string[]): Promise<Cluster> {
  const common = { database, adminToken: ADMIN_TOKEN };
  const api = await spawnDoorbell({ ...common, args: ['--role', 'api', ...args] });
  const cluster: Cluster = {
    api,
    workers: [],
    all: () => [api, ...cluster.workers],
    async kill() {
      await Promise.all(cluster.all().map((p) => p.kill('SIGKILL')));
    },
  };
  try {
    for (let i = 0; i < workers; i++) {
      const args2 = ['--role', 'worker', ...args];
      cluster.workers.push(await spawnDoorbell({ ...common, args: args2, ready: 'stderr-line' }));
    }
  } catch (error) {
    await cluster.kill();
    throw error;
  }
  return cluster;
}

export interface SlowReceiver extends Receiver {
  /** Requests whose connection closed before the answer was written (the sender died). */
  readonly aborted: readonly { request: ReceivedRequest; at: number }[];
  /** Requests received and not answered yet. */
  pending(): number;
  /** The connections of the requests now pending, keyed as connectionsOf keys them. */
  pendingConnections(): string[];
  /**
   * Never answers the requests now pending on `connections` (of a process about to be killed), so that
   * the kill, not a late answer racing it, ends them. Returns how many were held.
   */
  hold(connections: ReadonlySet<string>): number;
}

/** A receiver that answers `status(request)` after `delayMs()` milliseconds. */
async function startSlowReceiver(
  delayMs: () => number,
  status: (request: ReceivedRequest) => number = () => 200,
): Promise<SlowReceiver> {
  const aborted: { request: ReceivedRequest; at: number }[] = [];
  const waiting = new Set<ServerResponse>();
  const held = new Set<ServerResponse>();
  const receiver = await startReceiver({
    handle(request, res: ServerResponse) {
      waiting.add(res);
      const finish = () => {
        waiting.delete(res);
        held.delete(res);
      };
      res.once('close', () => {
        if (!res.writableFinished) aborted.push({ request, at: Date.now() });
        finish();
      });
      receiver.later(delayMs(), () => {
        if (res.destroyed || held.has(res)) return;
        const code = status(request);
        res.writeHead(code, { 'content-type': 'text/plain' }).end(code < 300 ? 'ok' : 'fail');
        finish();
      });
    },
  });
  return Object.assign(receiver, {
    aborted,
    pending: () => waiting.size,
    pendingConnections: () => [...waiting].map(connectionOf),
    hold(connections: ReadonlySet<string>) {
      for (const res of waiting) if (connections.has(connectionOf(res))) held.add(res);
      return held.size;
    },
  });
}

/**
 * The receivers these tests publish to, in this order: steady; flaky, refusing the first attempt of every
 * fourth message so that retries cross the faults; and one to be given a filter. Each goes into `into` as
 * it starts, so a teardown closes whatever started.
 */
async function startReceivers(
  delayMs: () => number,
  into: SlowReceiver[],
): Promise<{ steady: SlowReceiver; flaky: SlowReceiver; filtered: SlowReceiver }> {
  const start = async (status?: (request: ReceivedRequest) => number) => {
    const receiver = await startSlowReceiver(delayMs, status);
    into.push(receiver);
    return receiver;
  };
  const steady = await start();
  const flaky = await start((r) => (r.attempt === 1 && seqOf(r.body) % 4 === 0 ? 500 : 200));
  const filtered = await start();
  return { steady, flaky, filtered };
}

export interface Setup {
  appId: string;
  endpointId: Map<Receiver, string>;
  secret: Map<Receiver, string>;
}

/** Declares the event types, creates an application and one endpoint per receiver (`filtered` gets one type). */
async function setupApp(api: Api, receivers: Receiver[], filtered: Receiver | null): Promise<Setup> {
  // Svix refuses endpoint filters naming unknown event types, so declare them first.
  for (const name of TYPES) await api.call('POST', '/api/v1/event-type', { name, description: name });
  const app = (await api.call('POST', '/api/v1/app', { name: 'multiprocess test' })) as { id: string };
  const setup: Setup = { appId: app.id, endpointId: new Map(), secret: new Map() };
  for (const r of receivers) {
    const filter = r === filtered ? { filterTypes: [FILTERED_TYPE] } : {};
    const path = `/api/v1/app/${app.id}/endpoint`;
    const ep = (await api.call('POST', path, { url: r.url, ...filter })) as { id: string };
    const { key } = (await api.call('GET', `${path}/${ep.id}/secret`)) as { key: string };
    setup.endpointId.set(r, ep.id);
    setup.secret.set(r, key);
  }
  return setup;
}

export interface Scenario extends Setup {
  db: TempDatabase;
  cluster: Cluster;
  api: Api;
  /** steady, flaky, filtered (see startReceivers). */
  receivers: SlowReceiver[];
  flaky: SlowReceiver;
  filtered: SlowReceiver;
  /** Queries the test database on a pool of its own, opened at the first call. */
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface ScenarioOptions {
  workers: number;
  /** --concurrency of each worker, and the publishing client's connections. */
  concurrency: number;
  /** --attempt-timeout: leases last twice as long. */
  attemptTimeout: string;
  /** How long the receivers take to answer each request. */
  delayMs: () => number;
}

/** The retry schedule of these tests: retries cross the faults and end well within their bounds. */
const RETRY_SCHEDULE = '0,20ms,50ms,100ms,200ms,500ms,1s,1s';

/**
 * A temp database, the three receivers, an API process and `workers` worker processes, and an
 * application with an endpoint per receiver; all torn down after the test, whatever of it started.
 */
export async function startScenario(t: TestContext, o: ScenarioOptions): Promise<Scenario> {
  let db: TempDatabase | null = null;
  let cluster: Cluster | null = null;
  let api: Api | null = null;
  let sql: pg.Pool | null = null;
  const receivers: SlowReceiver[] = [];
  t.after(async () => {
    await cluster?.kill();
    await api?.pool.destroy();
    await Promise.all(receivers.map((r) => r.close()));
    await sql?.end();
    await db?.drop();
  });
  db = await createTempDatabase();
  const { flaky, filtered } = await startReceivers(o.delayMs, receivers);
  cluster = await startCluster(db.url, o.workers, [
    ...['--allow-subnets', '127.0.0.0/8', '--retry-schedule', RETRY_SCHEDULE],
    ...['--attempt-timeout', o.attemptTimeout, '--concurrency', String(o.concurrency)],
  ]);
  api = apiClient(cluster.api.url, ADMIN_TOKEN, o.concurrency);
  const setup = await setupApp(api, receivers, filtered);
  const url = db.url;
  const query = async <T>(text: string, params: unknown[] = []): Promise<T[]> => {
    sql ??= probePool(url);
    return (await sql.query(text, params)).rows as T[];
  };
  return { ...setup, db, cluster, api, receivers, flaky, filtered, query };
}

/** Polls until no delivery task is left unfinished or `ms` passed; returns how many are left. */
export async function awaitTasksFinished(s: Pick<Scenario, 'query'>, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const [row] = await s.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE status <> 0');
    if (row!.n === 0 || Date.now() >= deadline) return row!.n;
    await sleep(100);
  }
}

/** Every tenth request of each receiver verifies with the standardwebhooks library. */
export function assertSignatures(s: Pick<Scenario, 'receivers' | 'secret'>): void {
  for (const r of s.receivers as Receiver[]) {
    const sample = new Set(r.requests.filter((_, i) => i % 10 === 0));
    const { verified, failures } = r.verify(s.secret.get(r)!, (q) => sample.has(q));
    assert.deepEqual(failures.slice(0, 5), [], 'signatures verify with the standardwebhooks library');
    assert.equal(verified, sample.size);
  }
}

/** Which acked message ids each receiver must get: all of them, or the filtered type only. */
export function expectedIds(
  acked: Map<string, number>,
  receivers: Receiver[],
  filtered: Receiver | null,
): Map<Receiver, string[]> {
  const all = [...acked.keys()];
  const some = [...acked].filter(([, seq]) => typeOf(seq) === FILTERED_TYPE).map(([id]) => id);
  return new Map(receivers.map((r) => [r, r === filtered ? some : all]));
}

/**
 * Polls until every receiver has a 2xx for each of its expected ids, `ms` passed, or `giveUp()` says
 * waiting is pointless; returns what is missing, per receiver.
 */
export async function awaitDelivery(
  expected: Map<Receiver, string[]>,
  ms: number,
  giveUp: () => boolean = () => false,
): Promise<string[][]> {
  const missing = () =>
    [...expected].map(([r, ids]) => {
      const got = r.successes();
      return ids.filter((id) => !got.has(id));
    });
  const deadline = Date.now() + ms;
  let left = missing();
  while (left.some((m) => m.length > 0) && Date.now() < deadline && !giveUp()) {
    await sleep(100);
    left = missing();
  }
  return left;
}

/** The connection a request arrived on, seen from the sender: its local port > its remote port. */
const connectionOf = (res: ServerResponse): string => `${res.socket?.remotePort}>${res.socket?.localPort}`;

/**
 * The TCP connections of a process's sockets, from /proc (Linux), as "local port>remote port": which
 * requests at a receiver come from which worker process. The pair, since one local port number can
 * serve connections to two different addresses (another process's, to another receiver).
 */
export function connectionsOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return new Set();
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const connections = new Set<string>();
  const port = (address: string) => Number.parseInt(address.split(':')[1]!, 16);
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …; ports in hex.
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) connections.add(`${port(cols[1]!)}>${port(cols[2]!)}`);
    }
  }
  return connections;
}
