// Builds the API over a real store (SQLite ':memory:' or a fresh PostgreSQL database) for
// fastify.inject() tests.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { initAdminToken } from '../../src/app/auth.ts';
import { makeConfig } from '../../src/config/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { type Driver, testDatabase } from '../support/in-process.ts';

export const ADMIN = 'test-admin-token';

export interface Harness {
  app: FastifyInstance;
  store: Store;
  wakes: () => number;
  /** inject with the admin token unless headers say otherwise; JSON bodies as objects, raw strings or bytes. */
  call(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Res>;
  close(): Promise<void>;
}

export interface Res {
  status: number;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON response bodies
  json: any;
  headers: Record<string, unknown>;
}

/** On PostgreSQL the database is created for this harness and dropped by `close`. */
export async function harness(driver: Driver = 'sqlite'): Promise<Harness> {
  const db = await testDatabase(driver);
  let store: Store;
  try {
    store = driver === 'sqlite' ? openSqliteStore(db.url) : await openPostgresStore(db.url, { poolSize: 4 });
  } catch (error) {
    await db.drop();
    throw error;
  }
  const config = makeConfig({ adminToken: ADMIN, delivery: { allowSubnets: ['127.0.0.0/8'] } });
  await initAdminToken(store, config);
  let clock = Date.UTC(2030, 0, 1);
  let wakes = 0;
  const app = await buildServer({ store, config, now: () => clock++, wake: () => wakes++ });
  return {
    app,
    store,
    wakes: () => wakes,
    async call(method, url, body, headers = {}) {
      const res = await app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined
          ? { payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }
          : {}),
      });
      let json: unknown = null;
      try {
        json = res.body ? JSON.parse(res.body) : null;
      } catch {
        json = null;
      }
      return { status: res.statusCode, body: res.body, json, headers: res.headers };
    },
    async close() {
      try {
        await app.close();
        await store.close();
      } finally {
        await db.drop();
      }
    },
  };
}
