// The composition root: builds the store, the API and the delivery side from one frozen config.

import type { FastifyInstance } from 'fastify';
import { initAdminToken } from '../app/auth.ts';
import type { Config } from '../config/config.ts';
import { buildServer } from '../http/server.ts';
import type { Store } from '../store/store.ts';
import type { Delivery } from './delivery.ts';
import { openDatabase } from './open-store.ts';

export interface Running {
  url: string;
  /** The admin token when this start generated it (printed once, stored only as a hash). */
  generatedToken: string | null;
  store: Store;
  server: FastifyInstance;
  /** Stops accepting requests, drains attempts in flight, closes the database. */
  close(): Promise<void>;
}

/** Roles 'all' (API and delivery in one process) and 'api' (API only; workers deliver). */
export async function startDoorbell(config: Readonly<Config>): Promise<Running> {
  if (config.role === 'worker') throw new Error('the worker role has no API: use startWorker');
  const now = Date.now;
  const db = await openDatabase(config);
  const { store } = db;
  const { generated } = await initAdminToken(store, config);
  let delivery: Delivery | null = null;
  const server = await buildServer({ store, config, now, wake: () => delivery?.wake() });
  await server.listen({ host: config.host, port: config.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const own = { host: config.host, port };
  // One connection serves the API and delivery: SQLite has one writer at a time, and a second
  // connection would wait for the lock (its busy handler sleeps whole milliseconds) instead of working.
  const started = config.role === 'all' ? await db.startDelivery([own]) : null;
  delivery = started;
  const listener = started ? await db.onWork(() => started.wake()) : null;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    generatedToken: generated,
    store,
    server,
    async close() {
      await server.close();
      await listener?.close();
      await started?.stop();
      await store.close();
    },
  };
}

/** The 'worker' role: delivery only, no HTTP listener. */
export async function startWorker(
  config: Readonly<Config>,
): Promise<{ store: Store; close(): Promise<void> }> {
  const { store, onWork, startDelivery } = await openDatabase(config);
  // A worker does not listen, but the API processes it serves do, where the configuration they share
  // says (--host, --port): that address is the platform's own, never dialed.
  const delivery = await startDelivery([{ host: config.host, port: config.port }]);
  const listener = await onWork(() => delivery.wake());
  return {
    store,
    async close() {
      await listener.close();
      await delivery.stop();
      await store.close();
    },
  };
}
