// The composition root: builds the store, the API, the sender and the worker from one frozen config.

import { randomInt } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { initAdminToken } from '../app/auth.ts';
import type { Config } from '../config/config.ts';
import { parseCidrs } from '../core/ssrf.ts';
import { startRetention } from '../delivery/retention.ts';
import { createSender } from '../delivery/undici-sender.ts';
import { createWorker, type Worker } from '../delivery/worker.ts';
import { buildServer } from '../http/server.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';

export interface Running {
  url: string;
  /** The admin token when this start generated it (printed once, stored only as a hash). */
  generatedToken: string | null;
  store: Store;
  server: FastifyInstance;
  worker: Worker;
  /** Stops accepting requests, drains attempts in flight, closes the database. */
  close(): Promise<void>;
}

export function openStore(database: string): Store {
  if (/^postgres(ql)?:\/\//.test(database)) {
    throw new Error('PostgreSQL databases are not supported by this build yet; use a SQLite file path');
  }
  return openSqliteStore(database);
}

const random = () => randomInt(0, 2 ** 48 - 1) / 2 ** 48;

export async function startDoorbell(config: Readonly<Config>): Promise<Running> {
  const now = Date.now;
  const store = openStore(config.database);
  const { generated } = await initAdminToken(store, config);
  let worker: Worker | null = null;
  const server = await buildServer({ store, config, now, wake: () => worker?.wake() });
  await server.listen({ host: config.host, port: config.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const sender = createSender({
    timeoutMs: config.delivery.attemptTimeoutMs,
    connectTimeoutMs: config.delivery.connectTimeoutMs,
    bodyCap: config.delivery.responseBodyCap,
    allow: parseCidrs(config.delivery.allowSubnets),
    refuse: [{ host: config.host, port }],
  });
  const running = createWorker({ store, config, sender, now, random });
  worker = running;
  running.start();
  const retention = startRetention(store, now);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    generatedToken: generated,
    store,
    server,
    worker: running,
    async close() {
      retention.stop();
      await server.close();
      await running.stop();
      await sender.close();
      await store.close();
    },
  };
}
