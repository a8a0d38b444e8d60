// Applications, and the cascade that deletes everything an application owns: at once what makes it
// live (the app, its endpoints, their undelivered tasks), then its history in batches (purgeDeleted).

import type { Store } from '../store.ts';
import { conflictAs, type Db, json, mapRow } from './db.ts';
import { deleteSending } from './endpoints-sql.ts';
import { deleteMessages } from './messages-sql.ts';
import { keysetPage } from './paginate.ts';
import { deletePending } from './tasks-sql.ts';

/** `mayFail`: see failingEndpoints. */
export function appsSql(db: Db, mayFail: Set<string>): Store['apps'] {
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
    async update(a, seen) {
      const changed = conflictAs('uid', () =>
        db.run(
          'UPDATE apps SET uid = ?, name = ?, rate_limit = ?, metadata = ?, updated_at = ? WHERE id = ? AND updated_at = ?',
          a.uid,
          a.name,
          a.rateLimit,
          json(a.metadata),
          a.updatedAt,
          a.id,
          seen.updatedAt,
        ),
      );
      return changed > 0;
    },
    async delete(id, now) {
      const endpoints = db.tx(() => {
        if (db.run('DELETE FROM apps WHERE id = ?', id) === 0) return null;
        const ids = db.all<{ id: string }>('SELECT id FROM endpoints WHERE app_id = ?', id).map((e) => e.id);
        deleteSending(db, 'SELECT id FROM endpoints WHERE app_id = ?', id);
        db.run('DELETE FROM endpoints WHERE app_id = ?', id);
        db.run('INSERT INTO deleted_apps (id, deleted_at) VALUES (?, ?)', id, now);
        return ids;
      });
      if (endpoints === null) return false;
      for (const endpoint of endpoints) mayFail.delete(endpoint);
      await deletePending(db, endpoints);
      return true;
    },
    purgeDeleted(limit) {
      // Not durable: a batch lost in a crash is purged again.
      return db.grouped(() => {
        const app = db.get<{ id: string }>('SELECT id FROM deleted_apps ORDER BY deleted_at LIMIT 1');
        if (app === undefined) return 0;
        const ids = db
          .all<{ id: string }>('SELECT id FROM messages WHERE app_id = ? LIMIT ?', app.id, limit)
          .map((m) => m.id);
        const messages = deleteMessages(db, ids);
        if (messages > 0) return messages;
        return db.run('DELETE FROM deleted_apps WHERE id = ?', app.id);
      }, false);
    },
  };
}
