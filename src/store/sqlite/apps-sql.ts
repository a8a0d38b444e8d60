// Applications, and the cascade that deletes everything an application owns.

import type { Store } from '../store.ts';
import { conflictAs, type Db, json, mapRow } from './db.ts';
import { keysetPage } from './paginate.ts';

export function appsSql(db: Db): Store['apps'] {
  return {
    async create(a) {
      conflictAs('uid', () =>
        db.run(
          'INSERT INTO apps (id, uid, name, rate_limit, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          a.id,
          a.uid,
          a.name,
          a.rateLimit,
          json(a.metadata),
          a.createdAt,
          a.updatedAt,
        ),
      );
    },
    async get(idOrUid) {
      const row =
        db.get('SELECT * FROM apps WHERE id = ?', idOrUid) ??
        db.get('SELECT * FROM apps WHERE uid = ?', idOrUid);
      return row ? mapRow.app(row) : null;
    },
    async list(page) {
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM apps',
          where: [],
          params: [],
          key: 'id',
          keyOf: (r) => r.id as string,
          page,
          defaultOrder: 'ascending',
        },
        mapRow.app,
      );
    },
    async update(a) {
      conflictAs('uid', () =>
        db.run(
          'UPDATE apps SET uid = ?, name = ?, rate_limit = ?, metadata = ?, updated_at = ? WHERE id = ?',
          a.uid,
          a.name,
          a.rateLimit,
          json(a.metadata),
          a.updatedAt,
          a.id,
        ),
      );
    },
    async delete(id) {
      return db.tx(() => {
        db.run('DELETE FROM attempts WHERE app_id = ?', id);
        db.run('DELETE FROM tasks WHERE msg_id IN (SELECT id FROM messages WHERE app_id = ?)', id);
        db.run('DELETE FROM messages WHERE app_id = ?', id);
        db.run('DELETE FROM endpoints WHERE app_id = ?', id);
        return db.run('DELETE FROM apps WHERE id = ?', id) > 0;
      });
    },
  };
}
