// Builds the API over a real SQLite ':memory:' store for fastify.inject() tests.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { initAdminToken } from '../../src/app/auth.ts';
import { makeConfig } from '../../src/config/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

export const ADMIN = 'test-admin-token';

export interface Harness {
  app: FastifyInstance;
  store: Store;
  wakes: () => number;
  /** inject with the admin token unless headers say otherwise; JSON bodies as objects or raw strings. */
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

export async function harness(): Promise<Harness> {
  const store = openSqliteStore(':memory:');
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
        ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
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
      await app.close();
      await store.close();
    },
  };
}
