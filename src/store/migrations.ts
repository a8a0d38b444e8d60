// Schema migrations as numbered .sql files (NNN-name.sql) in a driver's migrations/ folder, applied in
// order. A database migrated by a newer release is refused, not guessed at.

import { readdirSync, readFileSync } from 'node:fs';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations in `dir` (a folder URL), oldest first. */
export function loadMigrations(dir: URL): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+-.+\.sql$/.test(file))
    .map((file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(new URL(file, dir), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

/** The migrations still to apply over schema version `current`; throws if `current` is from a newer release. */
export function pending(migrations: readonly Migration[], current: number): Migration[] {
  const known = migrations.at(-1)?.version ?? 0;
  if (current > known) {
    throw new Error(
      `database schema version ${current} is newer than this release supports (${known}); upgrade Doorbell`,
    );
  }
  return migrations.filter((m) => m.version > current);
}
