// Harness for end-to-end tests that run Doorbell in-process: start it on a free loopback port over a
// SQLite ':memory:' store or a fresh PostgreSQL database, call its API with the admin token, and poll
// until a condition holds. Receivers come from ./receiver.ts.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { type Running, startDoorbell } from '../../src/bin/serve.ts';
import { type DeliveryConfig, makeConfig } from '../../src/config/config.ts';
import { createTempDatabase, pgSkipReason, type TempDatabase } from './postgres.ts';

export const TOKEN = 'test-admin-token';

export type Driver = 'sqlite' | 'postgres';

export interface DriverRun {
  driver: Driver;
  /** Why this driver's suites skip (PostgreSQL unreachable); undefined when they run. */
  skip: string | undefined;
}

/**
 * The drivers the end-to-end suites run on: SQLite, then PostgreSQL (skipped with the reason when the
 * server does not answer; pgSkipReason throws under CI=true instead). DOORBELL_TEST_DRIVERS
 * (comma-separated, e.g. `sqlite`) narrows the list.
 */
export async function drivers(): Promise<DriverRun[]> {
  const wanted = process.env.DOORBELL_TEST_DRIVERS?.split(',').map((d) => d.trim());
  const all: Driver[] = ['sqlite', 'postgres'];
  const runs: DriverRun[] = [];
  for (const driver of all.filter((d) => !wanted || wanted.includes(d))) {
    runs.push({ driver, skip: driver === 'postgres' ? await pgSkipReason() : undefined });
  }
  return runs;
}

/** Declares `suite` once per driver inside `describe(driver)`; a skipped driver gets an empty, skipped suite. */
export async function describeEachDriver(suite: (driver: Driver) => void): Promise<void> {
  for (const { driver, skip } of await drivers()) {
    if (skip) describe(driver, { skip }, () => {});
    else describe(driver, () => suite(driver));
  }
}

/**
 * A database setting for `driver`: `sqlitePath` (by default ':memory:'), or a new PostgreSQL database
 * that `drop` removes.
 */
export async function testDatabase(
  driver: Driver,
  sqlitePath = ':memory:',
): Promise<{ url: string; drop(): Promise<void> }> {
  switch (driver) {
    case 'sqlite':
      return { url: sqlitePath, drop: async () => {} };
    case 'postgres': {
      const db: TempDatabase = await createTempDatabase();
      return { url: db.url, drop: () => db.drop() };
    }
    default: {
      const _exhaustive: never = driver;
      throw new Error(`unknown driver ${_exhaustive}`);
    }
  }
}

/**
 * Starts Doorbell (role all) on `driver` with fast, deterministic retries (0, 50, 50 ms, no jitter,
 * 100 ms penalty) that may deliver to 127.0.0.0/8; `delivery` overrides any of these. On PostgreSQL
 * the database is created for this start and dropped by `close`.
 */
export async function start(
  delivery: Partial<DeliveryConfig> = {},
  driver: Driver = 'sqlite',
): Promise<Running> {
  const db = await testDatabase(driver);
  let running: Running;
  try {
    running = await startDoorbell(
      makeConfig({
        port: 0,
        database: db.url,
        adminToken: TOKEN,
        delivery: {
          retrySchedule: [0, 50, 50],
          jitter: 0,
          penaltyMs: 100,
          allowSubnets: ['127.0.0.0/8'],
          ...delivery,
        },
      }),
    );
  } catch (error) {
    await db.drop();
    throw error;
  }
  return {
    url: running.url,
    generatedToken: running.generatedToken,
    store: running.store,
    server: running.server,
    inFlight: running.inFlight,
    async close() {
      try {
        await running.close();
      } finally {
        await db.drop();
      }
    },
  };
}

async function request(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** Calls `base`/api/v1`path` with the admin token; the body is parsed JSON, or null when empty. */
export async function api(base: string, method: string, path: string, body?: unknown) {
  const { status, text } = await request(base, method, path, body);
  return { status, body: text ? JSON.parse(text) : null };
}

/** Like `api`, but asserts a 2xx answer and returns the parsed body. */
export async function apiOk(base: string, method: string, path: string, body?: unknown) {
  const { status, text } = await request(base, method, path, body);
  assert.ok(status < 300, `${method} ${path} → ${status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Polls `fn` every 20 ms until it returns something other than undefined or false; fails after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
