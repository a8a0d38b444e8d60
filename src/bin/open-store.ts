// Chooses the store driver from the database setting: a postgres:// URL or a SQLite file path.

import { resolve } from 'node:path';
import type { Config } from '../config/config.ts';
import { listen, openPostgresStore, TASKS_CHANNEL } from '../store/postgres/postgres-store.ts';
import { inMemory } from '../store/sqlite/sqlite-store.ts';
import { type Store, StoreUnavailableError } from '../store/store.ts';
import { openThreadStore } from '../store/thread/thread-store.ts';
import { type Delivery, startDelivery } from './delivery.ts';

type Address = { host: string; port: number };

export interface Database {
  store: Store;
  /** Starts delivery where the store lives; `own` are this server's addresses, never dialed. */
  startDelivery(own: readonly Address[]): Promise<Delivery>;
  /**
   * Calls `fn` when another process may have made tasks due (PostgreSQL LISTEN/NOTIFY, reconnecting by
   * itself). On SQLite every writer is in this process, and its commits wake the worker directly.
   */
  onWork(fn: () => void): Promise<{ close(): Promise<void> }>;
}

export const isPostgres = (database: string): boolean => /^postgres(ql)?:\/\//.test(database);

/**
 * A SQLite file as an absolute path (it depends on the working directory); a URL without its password,
 * which the driver also reads from the query string (`?password=`, and `?sslpassword=` for the TLS key).
 */
export function shownDatabase(database: string): string {
  if (database === ':memory:') return database;
  if (!database.includes('://')) return resolve(database);
  const url = new URL(database);
  if (url.password) url.password = '***';
  for (const name of ['password', 'sslpassword']) {
    if (url.searchParams.has(name)) url.searchParams.set(name, '***');
  }
  return url.href;
}

/**
 * SQLite runs on a thread of its own, with delivery beside it: the main thread serves the API, the
 * other one does the SQL and the deliveries, and only the API's store calls cross between them. The
 * reads whose cost grows with history go to a third thread with a read-only connection (a file only).
 */
export async function openSqliteThread(config: Readonly<Config>): Promise<Database> {
  // Without its database threads the process can neither accept nor deliver: exit, and be restarted.
  // Every acknowledged publish is already on disk.
  const lost = (error: Error) => {
    console.error(`doorbell: the database thread stopped (${error.message}); exiting`);
    process.exit(1);
  };
  const thread = await openThreadStore(new URL('./sqlite-thread.ts', import.meta.url), { config }, lost);
  const reader = !inMemory(config.database)
    ? await openThreadStore(
        new URL('./sqlite-reader-thread.ts', import.meta.url),
        { path: config.database },
        lost,
      ).catch(async (error: unknown) => {
        await thread.store.close();
        throw error;
      })
    : null;
  return {
    store: reader ? withReads(thread.store, reader.store) : thread.store,
    async startDelivery(own) {
      await thread.call('delivery', 'start', own);
      // Its commits wake it, on its own thread: nothing to wake from here.
      return {
        wake: () => {},
        stop: async () => void (await thread.call('delivery', 'stop')),
        inFlight: async () => Number(await thread.call('delivery', 'inFlight')),
      };
    },
    onWork: async () => ({ close: async () => {} }),
  };
}

/** `store`, with the methods `reads` has taken from it instead; closing closes both. */
function withReads(store: Store, reads: Store): Store {
  const merged: Record<string, unknown> = { ...store };
  for (const [ns, methods] of Object.entries(reads)) {
    if (typeof methods === 'object')
      merged[ns] = { ...(store as unknown as Record<string, object>)[ns], ...methods };
  }
  merged.close = async () => {
    try {
      await store.close();
    } finally {
      await reads.close();
    }
  };
  return merged as unknown as Store;
}

/**
 * A PostgreSQL database that cannot be reached fails with StoreUnavailableError, which waiting may fix
 * (see wait-for-database.ts); any other failure is thrown naming the database.
 */
export async function openDatabase(config: Readonly<Config>): Promise<Database> {
  const url = config.database;
  if (!isPostgres(url)) return openSqliteThread(config);
  const store = await openPostgresStore(url, {
    retentionMs: config.retentionMs,
    poolSize: config.poolSize,
  }).catch((error: unknown) => {
    throw error instanceof StoreUnavailableError ? error : cannotOpen(shownDatabase(url), error);
  });
  return {
    store,
    startDelivery: async (own) => startDelivery(store, config, own),
    onWork: (fn) => listen(url, TASKS_CHANNEL, () => fn()),
  };
}

function cannotOpen(where: string, error: unknown): Error {
  const said = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const shown = typeof code === 'string' && !said.includes(code) ? `${said} (${code})` : said;
  return new Error(`cannot open the database ${where}: ${shown}`, { cause: error });
}
