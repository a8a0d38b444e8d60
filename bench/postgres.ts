// PostgreSQL for the benchmark: a temp database with a random name on the server given by --postgres,
// dropped at the end, and also on any exit (a synchronous drop runs from the exit cleanup).
import { spawnSync } from 'node:child_process';
import { createDatabase, dropDatabaseSql, withClient } from '../test/support/postgres.ts';
import { cpuSeconds, onCleanup, repoRoot } from './children.ts';

export type BenchDatabase = {
  name: string;
  url: string;
  /** CPU seconds used so far by each server backend of this database (server on this host). */
  backendCpu(): Promise<Map<number, number>>;
  drop(): Promise<void>;
};

/** Blocking drop for the exit path, in a child node (no event loop is left in an exit handler). */
function dropSync(serverUrl: string, name: string): void {
  const script =
    "const pg=require('pg');const c=new pg.Client({connectionString:process.env.U,connectionTimeoutMillis:5000});" +
    "c.on('error',()=>{});c.connect().then(()=>c.query(process.env.Q)).catch(e=>console.error(e.message)).finally(()=>c.end())";
  spawnSync(process.execPath, ['-e', script], {
    cwd: repoRoot,
    env: { ...process.env, U: serverUrl, Q: dropDatabaseSql(name) },
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 15_000,
  });
}

/** Creates `doorbell_bench_<random>` on the server at `serverUrl` (any database of it, e.g. /postgres). */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const db = await createDatabase(serverUrl, 'doorbell_bench_');
  const unregister = onCleanup(() => dropSync(serverUrl, db.name));
  return {
    name: db.name,
    url: db.url,
    async backendCpu() {
      const { rows } = await withClient(serverUrl, (c) =>
        c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [db.name]),
      );
      const cpu = await Promise.all(rows.map(async (r) => [r.pid, await cpuSeconds(r.pid)] as const));
      return new Map(cpu.filter(([, s]) => Number.isFinite(s)));
    },
    async drop() {
      await db.drop();
      unregister();
    },
  };
}

/** CPU seconds between two `backendCpu()` samples; backends opened in between count from zero. */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}

const LOOPBACK = new Set(['localhost', '[::1]']);

/** Null when the server is on loopback and answers, else why it cannot be used. */
export async function probePostgres(serverUrl: string): Promise<string | null> {
  let host: string;
  try {
    host = new URL(serverUrl).hostname;
  } catch {
    return `--postgres is not a URL: ${serverUrl}`;
  }
  if (!LOOPBACK.has(host) && !/^127\.\d+\.\d+\.\d+$/.test(host))
    return `--postgres must be on loopback (127.0.0.0/8, ::1), got ${host}`;
  try {
    await withClient(serverUrl, (c) => c.query('SELECT 1'));
    return null;
  } catch (err) {
    return `cannot reach PostgreSQL at ${host} (${(err as Error).message})`;
  }
}
