// Schema migrations: numbered .sql files (NNN-name.sql) applied in order, each in its own transaction,
// recorded in schema_migrations. Many processes may start at once: the whole run holds a session-level
// advisory lock, so one process migrates while the others wait and then find nothing left to do.
// A database migrated by a newer release is refused, not guessed at.

import { readdirSync, readFileSync } from 'node:fs';
import type { Pg } from './pg.ts';

const DIR = new URL('./migrations/', import.meta.url);

/** Advisory lock keys (two int4 form): the first number namespaces Doorbell's locks in the database. */
export const LOCK_SPACE = 0x0d0b;
export const LOCK_MIGRATE = 1;
export const LOCK_PARTITIONS = 2;
/** Per-endpoint claim locks use this first key and a hash of the endpoint id as the second. */
export const LOCK_SPACE_ENDPOINT = 0x0d0c;

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
export async function migrate(db: Pg, migrations: Migration[] = loadMigrations()): Promise<number> {
  const client = await db.pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      const known = migrations.at(-1)?.version ?? 0;
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM schema_migrations',
      );
      const current = rows[0]?.v ?? 0;
      if (current > known) {
        throw new Error(
          `database schema version ${current} is newer than this release supports (${known}); upgrade Doorbell`,
        );
      }
      for (const m of migrations) {
        if (m.version <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [m.version, m.name, Date.now()],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      }
      return Math.max(current, known);
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE])
        .catch((error: Error) => {
          broken = error; // a session lock that cannot be released dies with its connection
        });
    }
  } finally {
    client.release(broken);
  }
}
