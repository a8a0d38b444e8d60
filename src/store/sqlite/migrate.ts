// Schema migrations: numbered .sql files (NNN-name.sql) applied in order, each in its own transaction,
// recorded in schema_migrations. A database migrated by a newer release is refused, not guessed at.

import { readdirSync, readFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';

const DIR = new URL('./migrations/', import.meta.url);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(): Migration[] {
  return readdirSync(DIR)
    .filter((file) => /^\d+-.+\.sql$/.test(file))
    .map((file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(new URL(file, DIR), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

/** Applies pending migrations; returns the schema version now in place. */
export function migrate(db: BetterSqlite3.Database, migrations: Migration[] = loadMigrations()): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const known = migrations.at(-1)?.version ?? 0;
  const current =
    (db.prepare('SELECT max(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
  if (current > known) {
    throw new Error(
      `database schema version ${current} is newer than this release supports (${known}); upgrade Doorbell`,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }).immediate();
  }
  return Math.max(current, known);
}
