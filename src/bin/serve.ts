// The composition root: builds the store, the API and the delivery side from one frozen config.

import type { FastifyInstance } from 'fastify';
import { initAdminToken } from '../app/auth.ts';
import type { Config } from '../config/config.ts';
import { buildServer } from '../http/server.ts';
import type { Store } from '../store/store.ts';
import { capConnections, connectionCap, fileLimitWarning, openFileLimit } from './connection-cap.ts';
import type { Delivery } from './delivery.ts';
import { UsageError } from './flags.ts';
import { openDatabase } from './open-store.ts';

export interface Running {
  url: string;
  /** The admin token when this start generated it (printed once, stored only as a hash). */
  generatedToken: string | null;
  store: Store;
  server: FastifyInstance;
  /** Stops accepting requests, drains attempts in flight, closes the database. */
  close(): Promise<void>;
  /** Attempts claimed by this process and not recorded yet (0 without delivery), also while closing. */
  inFlight(): Promise<number>;
}

/** Roles 'all' (API and delivery in one process) and 'api' (API only; workers deliver). */
export async function startDoorbell(config: Readonly<Config>): Promise<Running> {
  if (config.role === 'worker') throw new Error('the worker role has no API: use startWorker');
  const now = Date.now;
  const db = await openDatabase(config);
  const { store } = db;
  // A configured token holds from the first request; a generated one is stored last (see below).
  const configured = config.adminToken ? await initAdminToken(store, config) : null;
  let started: Delivery | null = null;
  // Warnings and errors (a 503 with the driver's code, a 500 with its stack) as JSON lines on stderr.
  const logger = { level: 'warn', stream: process.stderr };
  const server = await buildServer({ store, config, now, wake: () => started?.wake(), logger });
  const fileLimit = openFileLimit();
  const cap = connectionCap(fileLimit, config);
  if (cap !== null) capConnections(server.server, cap);
  const short = fileLimitWarning(fileLimit, config);
  if (short !== null) process.stderr.write(`${short}\n`);
  let listener: { close(): Promise<void> } | null = null;
  const close = async (): Promise<void> => {
    // Delivery stops claiming at once, not once the server has closed: a request still arriving (a client
    // sending slowly) holds that close, and new attempts, retries ahead of their schedule, went out meanwhile.
    await Promise.all([started?.stop(), server.close().then(() => listener?.close())]);
    await store.close();
  };
  let port: number;
  let generated: string | null;
  try {
    await server.listen({ host: config.host, port: config.port }).catch((error: NodeJS.ErrnoException) => {
      // An address this machine does not have, or a name that does not resolve: the flag is wrong. (A
      // lookup that failed for now, EAI_AGAIN, is a failure like any other.)
      if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
        throw new UsageError(`--host: cannot listen on '${config.host}' (${error.code})`);
      if (error.code === 'EADDRINUSE') {
        const where = `${config.host}:${config.port}`;
        throw new Error(
          `cannot listen on ${where}: the port is in use (EADDRINUSE): choose another with --port (DOORBELL_PORT)`,
        );
      }
      throw error;
    });
    const address = server.server.address();
    port = typeof address === 'object' && address ? address.port : config.port;
    // One connection serves the API and delivery: SQLite has one writer at a time, and a second
    // connection would wait for the lock (its busy handler sleeps whole milliseconds) instead of working.
    const delivery = config.role === 'all' ? await db.startDelivery([{ host: config.host, port }]) : null;
    started = delivery;
    listener = delivery ? await db.onWork(() => delivery.wake()) : null;
    // Generated last, once everything has started: a start that fails (port taken, bad flag) has stored
    // no token it could not show, so the next start still generates and prints one.
    ({ generated } = configured ?? (await initAdminToken(store, config)));
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    generatedToken: generated,
    store,
    server,
    close,
    inFlight: async () => (await started?.inFlight()) ?? 0,
  };
}

/** The 'worker' role: delivery only, no HTTP listener. */
export async function startWorker(
  config: Readonly<Config>,
): Promise<Pick<Running, 'store' | 'close' | 'inFlight'>> {
  const { store, onWork, startDelivery } = await openDatabase(config);
  let delivery: Delivery | null = null;
  let listener: { close(): Promise<void> } | null = null;
  const close = async () => {
    await listener?.close();
    await delivery?.stop();
    await store.close();
  };
  try {
    // A worker does not listen, but the API processes it serves do, where the configuration they share
    // says (--host, --port): that address is the platform's own, never dialed.
    const started = await startDelivery([{ host: config.host, port: config.port }]);
    delivery = started;
    listener = await onWork(() => started.wake());
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { store, close, inFlight: async () => (await delivery?.inFlight()) ?? 0 };
}
