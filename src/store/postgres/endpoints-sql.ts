// Endpoints of an application; uid is unique per application.

import { createBatcher } from '../../core/batcher.ts';
import type { Endpoint } from '../../core/types.ts';
import { endpointBytes } from '../page.ts';
import type { Store } from '../store.ts';
import { RATE_NOW } from './claim-sql.ts';
import { keysetPage } from './paginate.ts';
import { byChunks, conflictAs, json, mapRow, Params, type Pg, stmt } from './pg.ts';
import { deletePending, TASK_CHUNK } from './tasks-sql.ts';

/** Maps a row, or the same row as nested JSON (row_to_json: json columns are then already parsed). */

const columns = (e: Endpoint) => [
  e.uid,
  e.url,
  e.description,
  e.version,
  e.rateLimit,
  e.disabled,
  json(e.filterTypes),
  json(e.channels),
  json(e.metadata),
  json(e.headers),
  json(e.secrets),
  e.failingSince,
  e.updatedAt,
  e.id,
  e.appId,
];

// In one transaction: the endpoints' slots start over at $3 (their rows stay locked), then their tasks
// waiting for a slot are due by then, a chunk at a time in id order, each a statement of its own (as one,
// freeing 500,000 took 11 s, near the statement timeout). A task freed and claimed meanwhile waits for the
// lock to take its new slot (RELEASE), so none is put back to wait before the end and freed again.
const RESET_SLOTS = stmt(`UPDATE endpoints SET rate_next_free = $3
  WHERE app_id = $1 AND (id = $2 OR ($2::text IS NULL AND rate_limit IS NULL)) RETURNING id`);
const FREE_WAITING = stmt(`WITH c AS (
    SELECT id FROM tasks WHERE status = 1 AND rate_wait = 1 AND endpoint_id = $1 AND id > $3
    ORDER BY id LIMIT ${TASK_CHUNK}
  ), u AS (
    UPDATE tasks SET next_at = LEAST(next_at, $2), rate_wait = 0
    WHERE status = 1 AND rate_wait = 1 AND endpoint_id = $1 AND id > $3 AND id <= (SELECT max(id) FROM c) RETURNING 1
  ) SELECT (SELECT max(id) FROM c) AS last, (SELECT count(*)::int FROM u) AS n`);

const INSERT =
  stmt(`INSERT INTO endpoints (uid, url, description, version, rate_limit, disabled, filter_types,
  channels, metadata, headers, secrets, failing_since, updated_at, id, app_id, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`);
const UPDATE = stmt(`UPDATE endpoints SET uid = $1, url = $2, description = $3, version = $4, rate_limit = $5,
  disabled = $6, filter_types = $7, channels = $8, metadata = $9, headers = $10, secrets = $11,
  failing_since = $12, updated_at = $13 WHERE id = $14 AND app_id = $15
  AND updated_at = $16 AND failing_since IS NOT DISTINCT FROM $17`);
const BY_ID_OR_UID = stmt(`SELECT * FROM endpoints WHERE app_id = $1 AND id = $2
  UNION ALL SELECT * FROM endpoints WHERE app_id = $1 AND uid = $2
    AND NOT EXISTS (SELECT 1 FROM endpoints WHERE app_id = $1 AND id = $2) LIMIT 1`);
const LIST_ALL = stmt('SELECT * FROM endpoints WHERE app_id = $1 ORDER BY id');
const VERSION = stmt(`SELECT coalesce(string_agg(id || ' ' || updated_at, ',' ORDER BY id), '') AS v
  FROM endpoints WHERE app_id = $1`);
// Called after every attempt: writes only when the value changes, and reads the stored value back.
// A success clears its endpoint's run: the successes of one turn in one statement, since the worker
// clears after every success. It writes (and locks) only the rows where a run is stored.
const MARK_HEALTHY = stmt(
  'UPDATE endpoints SET failing_since = NULL WHERE id = ANY($1::text[]) AND failing_since IS NOT NULL',
);
const MARK_FAILING = stmt(`WITH u AS (UPDATE endpoints SET failing_since = $2
    WHERE id = $1 AND failing_since IS NULL RETURNING failing_since)
  SELECT failing_since FROM u UNION ALL SELECT failing_since FROM endpoints WHERE id = $1
    AND NOT EXISTS (SELECT 1 FROM u) LIMIT 1`);
// At the rate that applies now (the endpoint's own, else its application's); none: no slot to take. The
// step is read from the row being updated: a reservation that waited for the row lock while the rate
// changed uses the new rate, not the one its statement's snapshot saw.
const STEP = `1000.0 / ${RATE_NOW}`;
const RESERVE_SLOT =
  stmt(`UPDATE endpoints SET rate_next_free = greatest(coalesce(rate_next_free, 0), $2) + ${STEP}
  WHERE id = $1 AND ${STEP} > 0 RETURNING rate_next_free - ${STEP} AS at`);

export function endpointsSql(db: Pg): Store['endpoints'] {
  const clearRuns = createBatcher(
    async (ids: string[]) => {
      await db.run(MARK_HEALTHY, [[...new Set(ids)].sort()]);
      return ids.map(() => null);
    },
    1000,
    1, // one connection at most: the others publish and record attempts
  );
  return {
    create(e) {
      return db.tx(async (sql) => {
        // Key-share locked, as for a publish: a delete of the app (which locks it first) either waits
        // for this commit and removes the endpoint with the others, or is waited for and found.
        if ((await sql.run('SELECT 1 FROM apps WHERE id = $1 FOR KEY SHARE', [e.appId])) === 0) return false;
        await conflictAs('uid', () => sql.run(INSERT, [...columns(e), e.createdAt]));
        return true;
      });
    },
    async get(appId, idOrUid) {
      const row = await db.one(BY_ID_OR_UID, [appId, idOrUid]);
      return row ? mapRow.endpoint(row) : null;
    },
    list(appId, page) {
      const params = new Params();
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM endpoints',
          where: [`app_id = ${params.add(appId)}`],
          params,
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
      return (await db.rows(LIST_ALL, [appId])).map(mapRow.endpoint);
    },
    async version(appId) {
      return (await db.rows(VERSION, [appId]))[0]!.v as string;
    },
    async update(e, seen) {
      const changed = await conflictAs('uid', () =>
        db.run(UPDATE, [...columns(e), seen.updatedAt, seen.failingSince]),
      );
      return changed > 0;
    },
    async delete(appId, id) {
      const gone = await db.tx(async (sql) => {
        const gone = (await sql.run('DELETE FROM endpoints WHERE app_id = $1 AND id = $2', [appId, id])) > 0;
        // Undelivered work goes with it (a sending task's late finish then finds nothing); history stays.
        if (gone) await sql.run('DELETE FROM tasks WHERE endpoint_id = $1 AND status = 3', [id]);
        return gone;
      });
      if (gone) await deletePending(db, [id]);
      return gone;
    },
    async markHealth(id, healthy, now) {
      if (healthy) return clearRuns.add(id);
      const row = await db.one<{ failing_since: number | null }>(MARK_FAILING, [id, now]);
      return row?.failing_since ?? null;
    },
    async reserveSlot(id, now) {
      const row = await db.one<{ at: number }>(RESERVE_SLOT, [id, now]);
      return row === undefined ? now : Math.ceil(row.at);
    },
    async disable(id, now, failingSince) {
      // Past the updatedAt a concurrent update saw, even within one millisecond.
      const changed = await db.run(
        `UPDATE endpoints SET disabled = true, updated_at = greatest(updated_at + 1, $2)
         WHERE id = $1 AND ($3::bigint IS NULL OR failing_since = $3)`,
        [id, now, failingSince ?? null],
      );
      return changed > 0;
    },
    resetRate(appId, endpointId, at) {
      return db.tx(async (sql) => {
        const ids = (await sql.rows<{ id: string }>(RESET_SLOTS, [appId, endpointId, at])).map((r) => r.id);
        let freed = 0;
        for (const id of ids) freed += await byChunks(sql, FREE_WAITING, [id, at]);
        return freed;
      });
    },
  };
}
