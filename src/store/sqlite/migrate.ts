// Applies the driver's migrations (src/store/migrations.ts), each in its own transaction, recorded in
// schema_migrations.

import type BetterSqlite3 from 'better-sqlite3';
import { loadMigrations, type Migration, pending } from '../migrations.ts';

const DIR = new URL('./migrations/', import.meta.url);

/** Applies pending migrations; returns the schema version now in place. */
export function migrate(db: BetterSqlite3.Database, migrations: Migration[] = loadMigrations(DIR)): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const current =
    (db.prepare('SELECT max(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
  const todo = pending(migrations, current);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of todo) {
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }).immediate();
  }
  return todo.at(-1)?.version ?? current;
}
