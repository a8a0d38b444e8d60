// Endpoints of an application; uid is unique per application.

import type { Endpoint } from '../../core/types.ts';
import { endpointBytes } from '../page.ts';
import type { Store } from '../store.ts';
import { RATE_OF } from './claim-sql.ts';
import { conflictAs, type Db, json, mapRow } from './db.ts';
import { keysetPage } from './paginate.ts';
import { deletePending, TASK_CHUNK } from './tasks-sql.ts';

/**
 * Deletes the sending tasks of the endpoints that `endpoints` (SQL taking one parameter) selects, through
 * the partial index (at most a worker's concurrency of them); their pending ones go with deletePending.
 */
export function deleteSending(db: Db, endpoints: string, param: string): void {
  db.run(
    `DELETE FROM tasks INDEXED BY tasks_leased WHERE status = 3 AND endpoint_id IN (${endpoints})`,
    param,
  );
}

// The next chunk of the tasks that took their slots before the change (@change), in rowid order after
// the last one freed: one put back to wait since, at a slot of the new rate, keeps it.
const FREE_WAITING = `UPDATE tasks SET next_at = min(next_at, @at), rate_wait = 0 WHERE rowid IN
  (SELECT rowid FROM tasks INDEXED BY tasks_rate_waiting WHERE status = 1 AND rate_wait = 1
   AND endpoint_id = @id AND rowid > @after AND rate_change < @change ORDER BY rowid LIMIT ${TASK_CHUNK})
  RETURNING rowid`;

const columns = (e: Endpoint) => [
  e.uid,
  e.url,
  e.description,
  e.version,
  e.rateLimit,
  e.disabled ? 1 : 0,
  json(e.filterTypes),
  json(e.channels),
  json(e.metadata),
  json(e.headers),
  json(e.secrets),
  e.failingSince,
  e.updatedAt,
];

/**
 * The endpoints that may have a run of failures stored (a superset): one process serves the file, so
 * every write of failingSince goes through endpointsSql, and the worker's clear after each success, the
 * common case, skips the database for the others. Deleting an endpoint, or its application, drops it.
 */
export function failingEndpoints(db: Db): Set<string> {
  return new Set(
    db.all<{ id: string }>('SELECT id FROM endpoints WHERE failing_since IS NOT NULL').map((r) => r.id),
  );
}

export function endpointsSql(db: Db, mayFail: Set<string>): Store['endpoints'] {
  const noting = (e: Endpoint) => {
    if (e.failingSince !== null) mayFail.add(e.id);
  };
  return {
    async create(e) {
      noting(e);
      const stored = conflictAs('uid', () =>
        db.run(
          `INSERT INTO endpoints (uid, url, description, version, rate_limit, disabled, filter_types, channels,
           metadata, headers, secrets, failing_since, updated_at, id, app_id, created_at)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?)`,
          ...columns(e),
          e.id,
          e.appId,
          e.createdAt,
          e.appId,
        ),
      );
      return stored > 0;
    },
    async get(appId, idOrUid) {
      const row =
        db.get('SELECT * FROM endpoints WHERE app_id = ? AND id = ?', appId, idOrUid) ??
        db.get('SELECT * FROM endpoints WHERE app_id = ? AND uid = ?', appId, idOrUid);
      return row ? mapRow.endpoint(row) : null;
    },
    async list(appId, page) {
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM endpoints',
          where: ['app_id = ?'],
          params: [appId],
          key: 'id',
          keyOf: (r) => r.id as string,
          page,
          defaultOrder: 'descending', // newest first, as Svix lists endpoints
          bytes: endpointBytes,
        },
        mapRow.endpoint,
      );
    },
    async listAll(appId) {
      return db.all('SELECT * FROM endpoints WHERE app_id = ? ORDER BY id', appId).map(mapRow.endpoint);
    },
    async version(appId) {
      const rows = db.all('SELECT id, updated_at FROM endpoints WHERE app_id = ? ORDER BY id', appId);
      return rows.map((r) => `${r.id} ${r.updated_at}`).join(',');
    },
    async update(e, seen) {
      noting(e);
      const changed = conflictAs('uid', () =>
        db.run(
          `UPDATE endpoints SET uid = ?, url = ?, description = ?, version = ?, rate_limit = ?, disabled = ?,
           filter_types = ?, channels = ?, metadata = ?, headers = ?, secrets = ?, failing_since = ?, updated_at = ?
           WHERE id = ? AND app_id = ? AND updated_at = ? AND failing_since IS ?`,
          ...columns(e),
          e.id,
          e.appId,
          seen.updatedAt,
          seen.failingSince,
        ),
      );
      return changed > 0;
    },
    async delete(appId, id) {
      const gone = db.tx(() => {
        const deleted = db.run('DELETE FROM endpoints WHERE app_id = ? AND id = ?', appId, id) > 0;
        // Undelivered work goes with it (a sending task's late finish then finds nothing); history stays.
        if (deleted) deleteSending(db, '?', id);
        return deleted;
      });
      if (gone) {
        mayFail.delete(id);
        await deletePending(db, [id]);
      }
      return gone;
    },
    async markHealth(id, healthy, now) {
      // Called after every attempt: writes only when the value changes.
      if (healthy) {
        if (!mayFail.delete(id)) return null;
        return db
          .grouped(() => {
            db.run(
              'UPDATE endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL',
              id,
            );
            return null;
          }, false)
          .catch((error: unknown) => {
            mayFail.add(id); // not cleared: the next success tries again
            throw error;
          });
      }
      mayFail.add(id);
      return db.grouped(() => {
        db.run('UPDATE endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL', now, id);
        const row = db.get('SELECT failing_since FROM endpoints WHERE id = ?', id);
        return (row?.failing_since as number | null | undefined) ?? null;
      }, false);
    },
    reserveSlot(id, now) {
      return db.grouped(() => {
        const rate = db.get<{ rate: number | null }>(RATE_OF, id)?.rate ?? null;
        if (rate === null || rate <= 0) return now;
        const step = 1000 / rate;
        const at = db.get<{ at: number }>(
          `UPDATE endpoints SET rate_next_free = max(coalesce(rate_next_free, 0), ?) + ? WHERE id = ?
            RETURNING rate_next_free - ? AS at`,
          now,
          step,
          id,
          step,
        )?.at;
        return at === undefined ? now : Math.ceil(at);
      }, false);
    },
    async disable(id, now, failingSince) {
      // Past the updatedAt a concurrent update saw, even within one millisecond.
      const changed = db.run(
        `UPDATE endpoints SET disabled = 1, updated_at = max(updated_at + 1, ?)
         WHERE id = ? AND (? IS NULL OR failing_since = ?)`,
        now,
        id,
        failingSince ?? null,
        failingSince ?? null,
      );
      return changed > 0;
    },
    async resetRate(appId, endpointId, at) {
      // Each endpoint counts its rate changes; a task put back to wait for a slot notes the count then.
      const changed = await db.grouped(() =>
        db.all<{ id: string; change: number }>(
          `UPDATE endpoints SET rate_next_free = ?, rate_changes = rate_changes + 1
           WHERE app_id = ? AND (id = ? OR (? IS NULL AND rate_limit IS NULL)) RETURNING id, rate_changes AS change`,
          at,
          appId,
          endpointId,
          endpointId,
        ),
      );
      // A chunk of waiting tasks at a time, each a commit of its own (see deletePending): a backlog
      // behind a slow rate may hold many (100,000 took 0.3 s). A crash in between leaves the rest
      // waiting for the slots they hold.
      let moved = 0;
      for (const { id, change } of changed) {
        let after = 0;
        for (;;) {
          const freed = await db.grouped(() =>
            db.all<{ rowid: number }>(FREE_WAITING, { at, id, after, change }),
          );
          moved += freed.length;
          if (freed.length < TASK_CHUNK) break;
          after = Math.max(...freed.map((r) => r.rowid));
        }
      }
      return moved;
    },
  };
}
