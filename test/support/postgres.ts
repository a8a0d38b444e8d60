// PostgreSQL for tests: each test gets a database of its own, with a random name, dropped after.
// The server is DOORBELL_TEST_PG (an admin URL), by default the local one with trust auth. Without a
// reachable server the PostgreSQL tests skip with the reason, except under CI=true, where they fail.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env.DOORBELL_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `fn` on a client of its own connected to `url`, closed after. */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
  connectTimeoutMs = 3000,
): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A one-connection pool on `url` for a test to look into the database. Its errors are ignored: when the
 * database is dropped (WITH FORCE) right after `end()`, the server may still tell the closing connection
 * that it was terminated, and an unhandled 'error' would crash the test process.
 */
export function probePool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  return pool;
}

const admin = <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => withClient(ADMIN_URL, fn);

/** Whether the server answers. */
export async function pgAvailable(): Promise<boolean> {
  try {
    await admin((c) => c.query('SELECT 1'));
    return true;
  } catch {
    return false;
  }
}

/** Why PostgreSQL tests must skip, or undefined when they can run. Throws under CI=true instead. */
export async function pgSkipReason(): Promise<string | undefined> {
  if (await pgAvailable()) return undefined;
  const where = new URL(ADMIN_URL).host;
  if (process.env.CI === 'true')
    throw new Error(`PostgreSQL not reachable at ${where}, and CI=true requires it`);
  return `PostgreSQL not reachable at ${where}`;
}

export interface TempDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export const dropDatabaseSql = (name: string): string => `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;

/** Creates `<prefix><random>` on the server of `serverUrl` (any of its databases); `drop` removes it. */
export async function createDatabase(serverUrl: string, prefix: string): Promise<TempDatabase> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      await withClient(serverUrl, (c) => c.query(dropDatabaseSql(name)));
    },
  };
}

export const createTempDatabase = (): Promise<TempDatabase> => createDatabase(ADMIN_URL, 'doorbell_test_');

export async function withTempDatabase<T>(fn: (db: TempDatabase) => Promise<T>): Promise<T> {
  const db = await createTempDatabase();
  try {
    return await fn(db);
  } finally {
    await db.drop();
  }
}

/** Ends every connection to the database (as a restart or a failover would), except the admin's own. */
export async function killConnections(name: string): Promise<number> {
  return admin(async (c) => {
    const { rowCount } = await c.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return rowCount ?? 0;
  });
}
