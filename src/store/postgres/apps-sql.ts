// Applications, and the cascade that deletes everything an application owns: at once what makes it
// live (the app, its endpoints, their undelivered tasks), then its history in batches (purgeDeleted).

import type { Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { conflictAs, json, mapRow, Params, type Pg, stmt } from './pg.ts';

const INSERT = stmt(`INSERT INTO apps (id, uid, name, rate_limit, metadata, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`);
const BY_ID_OR_UID = stmt(`SELECT * FROM apps WHERE id = $1
  UNION ALL SELECT * FROM apps WHERE uid = $1 AND NOT EXISTS (SELECT 1 FROM apps WHERE id = $1) LIMIT 1`);
const UPDATE = stmt(
  'UPDATE apps SET uid = $1, name = $2, rate_limit = $3, metadata = $4, updated_at = $5 WHERE id = $6 AND updated_at = $7',
);

// A batch of a deleted app's messages, with their tasks and attempts (found through their msg_id indexes).
const PURGE_MESSAGES = stmt(`WITH m AS (
    DELETE FROM messages WHERE (id, created_at) IN (SELECT id, created_at FROM messages WHERE app_id = $1 LIMIT $2)
    RETURNING id),
  t AS (DELETE FROM tasks WHERE msg_id IN (SELECT id FROM m)),
  a AS (DELETE FROM attempts WHERE msg_id IN (SELECT id FROM m))
  SELECT count(*)::int AS n FROM m`);
const PURGE_EVENT_IDS = stmt(`DELETE FROM message_event_ids WHERE (app_id, event_id) IN
  (SELECT app_id, event_id FROM message_event_ids WHERE app_id = $1 LIMIT $2)`);

export function appsSql(db: Pg): Store['apps'] {
  return {
    async create(a) {
      await conflictAs('uid', () =>
        db.run(INSERT, [a.id, a.uid, a.name, a.rateLimit, json(a.metadata), a.createdAt, a.updatedAt]),
      );
    },
    async get(idOrUid) {
      const row = await db.one(BY_ID_OR_UID, [idOrUid]);
      return row ? mapRow.app(row) : null;
    },
    list(page) {
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM apps',
          where: [],
          params: new Params(),
          key: 'id',
          keyOf: (r) => r.id as string,
          page,
          defaultOrder: 'ascending',
        },
        mapRow.app,
      );
    },
    async update(a, seen) {
      const changed = await conflictAs('uid', () =>
        db.run(UPDATE, [a.uid, a.name, a.rateLimit, json(a.metadata), a.updatedAt, a.id, seen.updatedAt]),
      );
      return changed > 0;
    },
    delete(id, now) {
      return db.tx(async (sql) => {
        // Locked first: a publish key-share locks its apps, so it commits before this or finds the app gone.
        if ((await sql.run('SELECT 1 FROM apps WHERE id = $1 FOR UPDATE', [id])) === 0) return false;
        await sql.run(
          'DELETE FROM tasks WHERE endpoint_id IN (SELECT id FROM endpoints WHERE app_id = $1) AND status IN (1, 3)',
          [id],
        );
        await sql.run('DELETE FROM endpoints WHERE app_id = $1', [id]);
        await sql.run('DELETE FROM apps WHERE id = $1', [id]);
        await sql.run('INSERT INTO deleted_apps (id, deleted_at) VALUES ($1, $2)', [id, now]);
        return true;
      });
    },
    purgeDeleted(limit) {
      return db.tx(async (sql) => {
        // Each worker purges an app of its own.
        const app = await sql.one<{ id: string }>(
          'SELECT id FROM deleted_apps ORDER BY deleted_at LIMIT 1 FOR UPDATE SKIP LOCKED',
        );
        if (app === undefined) return 0;
        const purged = await sql.one<{ n: number }>(PURGE_MESSAGES, [app.id, limit]);
        if (purged!.n > 0) return purged!.n;
        const eventIds = await sql.run(PURGE_EVENT_IDS, [app.id, limit]);
        if (eventIds > 0) return eventIds;
        return sql.run('DELETE FROM deleted_apps WHERE id = $1', [app.id]);
      });
    },
  };
}
