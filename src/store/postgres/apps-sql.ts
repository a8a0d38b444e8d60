// Applications, and the cascade that deletes everything an application owns.

import type { Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { conflictAs, json, mapRow, Params, type Pg, stmt } from './pg.ts';

const INSERT = stmt(`INSERT INTO apps (id, uid, name, rate_limit, metadata, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`);
const BY_ID_OR_UID = stmt(`SELECT * FROM apps WHERE id = $1
  UNION ALL SELECT * FROM apps WHERE uid = $1 AND NOT EXISTS (SELECT 1 FROM apps WHERE id = $1) LIMIT 1`);
const UPDATE = stmt(
  'UPDATE apps SET uid = $1, name = $2, rate_limit = $3, metadata = $4, updated_at = $5 WHERE id = $6',
);

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
    async update(a) {
      await conflictAs('uid', () =>
        db.run(UPDATE, [a.uid, a.name, a.rateLimit, json(a.metadata), a.updatedAt, a.id]),
      );
    },
    delete(id) {
      return db.tx(async (sql) => {
        // Locked first: a publish key-share locks its apps, so it commits before this or finds the app gone.
        await sql.run('SELECT 1 FROM apps WHERE id = $1 FOR UPDATE', [id]);
        // Attempts and messages are found per partition through their app_id indexes.
        await sql.run('DELETE FROM attempts WHERE app_id = $1', [id]);
        await sql.run('DELETE FROM tasks WHERE endpoint_id IN (SELECT id FROM endpoints WHERE app_id = $1)', [
          id,
        ]);
        await sql.run('DELETE FROM message_event_ids WHERE app_id = $1', [id]);
        await sql.run('DELETE FROM messages WHERE app_id = $1', [id]);
        await sql.run('DELETE FROM endpoints WHERE app_id = $1', [id]);
        return (await sql.run('DELETE FROM apps WHERE id = $1', [id])) > 0;
      });
    },
  };
}
