// Messages: the publish hot path (messages and their tasks in one commit), lookups, lists, retention.

import { newId } from '../../core/ids.ts';
import type { PublishResult, Store } from '../store.ts';
import { type Db, json, mapRow, messageFilters, type Row, timeFilters } from './db.ts';
import { keysetPage } from './paginate.ts';

const BY_EVENT_ID = 'SELECT * FROM messages WHERE app_id = ? AND event_id = ?';
const INSERT_MESSAGE = `INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, created_at, expires_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
const INSERT_TASK = `INSERT INTO tasks (id, app_id, msg_id, endpoint_id, status, attempts, next_at, lease_until,
  created_at, updated_at) VALUES (?, ?, ?, ?, 1, 0, ?, NULL, ?, ?)`;

export function messagesSql(db: Db): Store['messages'] {
  const byEventId = db.stmt(BY_EVENT_ID);
  const insertMessage = db.stmt(INSERT_MESSAGE);
  const insertTask = db.stmt(INSERT_TASK);

  return {
    publish(items) {
      return db.grouped(() => {
        return items.map((item): PublishResult => {
          const m = item.message;
          if (m.eventId !== null) {
            // Checked inside the write transaction, so also catches a duplicate earlier in this batch.
            const existing = byEventId.get(m.appId, m.eventId) as Row | undefined;
            if (existing) return { ok: false, conflict: 'eventId', existing: mapRow.message(existing) };
          }
          insertMessage.run(
            m.id,
            m.appId,
            m.eventType,
            m.eventId,
            json(m.channels),
            m.payload,
            m.createdAt,
            m.expiresAt,
          );
          for (const endpointId of new Set(item.endpointIds)) {
            insertTask.run(newId('task', item.now), m.appId, m.id, endpointId, item.now, item.now, item.now);
          }
          return { ok: true };
        });
      });
    },
    async get(appId, idOrEventId) {
      const row =
        db.get('SELECT * FROM messages WHERE id = ? AND app_id = ?', idOrEventId, appId) ??
        db.get(BY_EVENT_ID, appId, idOrEventId);
      return row ? mapRow.message(row) : null;
    },
    async list(appId, query) {
      const where = ['m.app_id = ?'];
      const params: unknown[] = [appId];
      timeFilters('m.created_at', where, params, query);
      messageFilters('m', where, params, query);
      return keysetPage(
        db,
        {
          select: 'SELECT m.* FROM messages m',
          where,
          params,
          key: 'm.id',
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
        },
        mapRow.message,
      );
    },
    async expungeContent(appId, msgId) {
      return db.run('UPDATE messages SET payload = NULL WHERE id = ? AND app_id = ?', msgId, appId) > 0;
    },
    async expireBatch(now, limit) {
      // One short transaction per batch; the caller loops until it returns less than `limit`.
      return db.tx(() => {
        db.run(
          'DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? LIMIT ?)',
          now,
          limit,
        );
        return db.run(
          `UPDATE messages SET payload = NULL WHERE rowid IN
           (SELECT rowid FROM messages WHERE expires_at <= ? AND payload IS NOT NULL ORDER BY expires_at LIMIT ?)`,
          now,
          limit,
        );
      });
    },
  };
}
