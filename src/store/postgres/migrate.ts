// Applies the driver's migrations (src/store/migrations.ts), each in its own transaction, recorded in
// schema_migrations. Many processes may start at once: the whole run holds a session-level advisory
// lock, so one process migrates while the others wait and then find nothing left to do.

import { loadMigrations, type Migration, pending } from '../migrations.ts';
import type { Pg } from './pg.ts';

const DIR = new URL('./migrations/', import.meta.url);

/** Advisory lock keys (two int4 form): the first number namespaces Doorbell's locks in the database. */
export const LOCK_SPACE = 0x0d0b;
export const LOCK_MIGRATE = 1;
export const LOCK_PARTITIONS = 2;
export const LOCK_ANALYZE = 3;
/** Per-endpoint claim locks use this first key and a hash of the endpoint id as the second. */
export const LOCK_SPACE_ENDPOINT = 0x0d0c;

/** Applies pending migrations; returns the schema version now in place. */
export async function migrate(db: Pg, migrations: Migration[] = loadMigrations(DIR)): Promise<number> {
  return db.session(async (client, broken) => {
    try {
      // No statement timeout: a migration may run long, and others wait for its lock meanwhile.
      await client.query('SET statement_timeout = 0');
      await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM schema_migrations',
      );
      const current = rows[0]?.v ?? 0;
      const todo = pending(migrations, current);
      for (const m of todo) {
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
      return todo.at(-1)?.version ?? current;
    } finally {
      // A session lock that cannot be released dies with its connection.
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]).catch(broken);
      await client.query('RESET statement_timeout').catch(broken);
    }
  });
}
