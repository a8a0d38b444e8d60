// Chooses the store driver from the database setting: a postgres:// URL or a SQLite file path.

import type { Config } from '../config/config.ts';
import { listen, openPostgresStore, TASKS_CHANNEL } from '../store/postgres/postgres-store.ts';
import { openSqliteStoreThread } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';

export interface Database {
  store: Store;
  /**
   * Calls `fn` when another process may have made tasks due (PostgreSQL LISTEN/NOTIFY, reconnecting by
   * itself). On SQLite every writer is in this process, which wakes its worker directly.
   */
  onWork(fn: () => void): Promise<{ close(): Promise<void> }>;
}

export const isPostgres = (database: string): boolean => /^postgres(ql)?:\/\//.test(database);

export async function openDatabase(config: Readonly<Config>): Promise<Database> {
  const url = config.database;
  if (!isPostgres(url)) {
    return { store: await openSqliteStoreThread(url), onWork: async () => ({ close: async () => {} }) };
  }
  const store = await openPostgresStore(url, { retentionMs: config.retentionMs });
  return { store, onWork: (fn) => listen(url, TASKS_CHANNEL, () => fn()) };
}
