// Applications, and the cascade that deletes everything an application owns: at once what makes it
// live (the app, its endpoints, their undelivered tasks), then its history in batches (purgeDeleted).

import type { Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { conflictAs, json, mapRow, Params, type Pg, type Stmt, stmt } from './pg.ts';
import { deletePending } from './tasks-sql.ts';

const INSERT = stmt(`INSERT INTO apps (id, uid, name, rate_limit, metadata, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`);
const BY_ID_OR_UID = stmt(`SELECT * FROM apps WHERE id = $1
  UNION ALL SELECT * FROM apps WHERE uid = $1 AND NOT EXISTS (SELECT 1 FROM apps WHERE id = $1) LIMIT 1`);
const UPDATE = stmt(
  'UPDATE apps SET uid = $1, name = $2, rate_limit = $3, metadata = $4, updated_at = $5 WHERE id = $6 AND updated_at = $7',
);

// A batch of a deleted app's rows of one table, in key order from where the last batch ended: deleted
// rows stay in the index until vacuum, and a batch that started over would walk past them all again.
// Rows are deleted by key range and by the batch's range of days (the partitions to visit), never by a
// join to the batch: the planner costs that join as probing every day, and read the whole table instead.
function purgeBatch(table: string, key: string, also = ''): Stmt {
  return stmt(`WITH b AS (
      SELECT ${key} AS k, created_at AS at FROM ${table} WHERE app_id = $1 AND ${key} > $2 ORDER BY ${key} LIMIT $3),
    d AS (DELETE FROM ${table} WHERE app_id = $1 AND ${key} > $2 AND ${key} <= (SELECT max(k) FROM b)
      AND created_at BETWEEN (SELECT min(at) FROM b) AND (SELECT max(at) FROM b)
      RETURNING ${key} AS k)${also}
    SELECT count(*)::int AS n, max(k) AS last FROM d`);
}
// Attempts first: a process of the previous release (during a rolling upgrade) deletes them with their
// messages, and the app's record once no message is left, so none may be left then. Messages take their
// tasks with them (found through their msg_id index).
const PURGE = [
  purgeBatch('attempts', 'id'),
  purgeBatch('messages', 'id', ', t AS (DELETE FROM tasks WHERE msg_id = ANY (ARRAY(SELECT k FROM d)))'),
  purgeBatch('message_event_ids', 'event_id'),
];

/**
 * Deletes the endpoints whose app is gone: a process of a release before schema 14, still running in a
 * rolling upgrade, creates an endpoint without checking its app as part of the write, and so may leave
 * one, with its secrets and headers, of an app deleted meanwhile. Run by the hourly upkeep.
 */
export const DELETE_ORPHAN_ENDPOINTS = stmt(
  'DELETE FROM endpoints e WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = e.app_id)',
);

export function appsSql(db: Pg): Store['apps'] {
  let purged = { app: '', after: PURGE.map(() => '') };
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
    async delete(id, now) {
      const endpoints = await db.tx(async (sql) => {
        // Locked first: a publish key-share locks its apps, so it commits before this or finds the app gone.
        if ((await sql.run('SELECT 1 FROM apps WHERE id = $1 FOR UPDATE', [id])) === 0) return null;
        // Endpoints first, then their tasks in statements of their own (the pending ones once this has
        // committed, see deletePending): a recovery under way key-share locks its endpoint, so it is
        // waited for, and the tasks it made pending are seen.
        const endpoints = (
          await sql.rows<{ id: string }>('DELETE FROM endpoints WHERE app_id = $1 RETURNING id', [id])
        ).map((e) => e.id);
        await sql.run('DELETE FROM tasks WHERE endpoint_id = ANY ($1::text[]) AND status = 3', [endpoints]);
        await sql.run('DELETE FROM apps WHERE id = $1', [id]);
        await sql.run('INSERT INTO deleted_apps (id, deleted_at) VALUES ($1, $2)', [id, now]);
        return endpoints;
      });
      if (endpoints === null) return false;
      await deletePending(db, endpoints);
      return true;
    },
    async purgeDeleted(limit) {
      const batch = await db.tx(async (sql) => {
        // Each worker purges an app of its own.
        const app = await sql.one<{ id: string }>(
          'SELECT id FROM deleted_apps ORDER BY deleted_at LIMIT 1 FOR UPDATE SKIP LOCKED',
        );
        if (app === undefined) return { n: 0 };
        const after = purged.app === app.id ? purged.after : PURGE.map(() => '');
        for (const [step, statement] of PURGE.entries()) {
          const rows = await sql.one<{ n: number; last: string }>(statement, [app.id, after[step], limit]);
          if (rows!.n === 0) continue;
          const next = [...after];
          next[step] = rows!.last;
          return { n: rows!.n, app: app.id, after: next };
        }
        return { n: await sql.run('DELETE FROM deleted_apps WHERE id = $1', [app.id]) };
      });
      // Kept once committed: where this process's batches of the app ended, nothing of it is left before.
      if (batch.app) purged = { app: batch.app, after: batch.after };
      return batch.n;
    },
  };
}
