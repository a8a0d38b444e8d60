// Chooses the store driver from the database setting.

import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';

export function openStore(database: string): Store {
  if (/^postgres(ql)?:\/\//.test(database)) {
    throw new Error('PostgreSQL databases are not supported by this build yet; use a SQLite file path');
  }
  return openSqliteStore(database);
}
