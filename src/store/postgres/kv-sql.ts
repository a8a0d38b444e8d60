// Small key-value tables: publish idempotency (replayed responses, with expiry) and server settings.

import type { IdempotencyClaim, Store } from '../store.ts';
import { type Pg, type Stmt, stmt } from './pg.ts';

// A running marker is a row with status_code 0 (no HTTP status), its owner in body and its lease in
// expires_at: the existing columns, so no migration.
const RUNNING = 0;
// Reads the live row (a response, or another caller's running marker) or, when there is none (absent,
// or expired: a response past its replay period, an abandoned marker), takes the key. A live row seen
// by the read is not touched: replays and polls write nothing. ON CONFLICT decides between concurrent
// callers; when the conflicting row came from a caller that committed meanwhile, no row comes back and
// the statement runs again (insertOrRead).
const BEGIN = stmt(`WITH live AS (
    SELECT status_code, body, request FROM idempotency WHERE key = $1 AND expires_at > $3),
  taken AS (
    INSERT INTO idempotency (key, status_code, body, expires_at)
    SELECT $1, ${RUNNING}, $2, $4 WHERE NOT EXISTS (SELECT 1 FROM live)
    ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
      request = NULL, expires_at = excluded.expires_at
    WHERE idempotency.expires_at <= $3
    RETURNING key)
  SELECT true AS first, 0 AS status_code, '' AS body, NULL AS request FROM taken
  UNION ALL
  SELECT false, status_code, body, request FROM live`);
const PUT_IDEMPOTENT =
  stmt(`INSERT INTO idempotency (key, status_code, body, request, expires_at) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
  request = excluded.request, expires_at = excluded.expires_at`);
const ABANDON = stmt(`DELETE FROM idempotency WHERE key = $1 AND status_code = ${RUNNING} AND body = $2`);
// An insert-or-read statement (ON CONFLICT, then a read of the row) returns nothing when the row that
// made it conflict was committed by another caller during the statement: the read's snapshot predates
// it. A second run, with a later snapshot, sees it; more runs are for a row that keeps changing.
const READ_TRIES = 3;
const CLOCK = stmt('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');

/** The statement's first row, running it again while it returns none (see READ_TRIES); undefined if it never did. */
async function insertOrRead<T>(db: Pg, statement: Stmt, params: unknown[]): Promise<T | undefined> {
  for (let i = 0; i < READ_TRIES; i++) {
    const row = await db.one<T>(statement, params);
    if (row) return row;
  }
  return undefined;
}

type Row = { first: boolean; status_code: number; body: string; request: string | null };

function claimOf(row: Row): IdempotencyClaim {
  if (row.first) return { state: 'first' };
  if (row.status_code === RUNNING) return { state: 'running' };
  return { state: 'done', response: { statusCode: row.status_code, body: row.body, request: row.request } };
}

export function idempotencySql(db: Pg): Store['idempotency'] {
  return {
    async begin(key, owner, now, leaseUntil) {
      const row = await insertOrRead<Row>(db, BEGIN, [key, owner, now, leaseUntil]);
      // None: someone else keeps changing the row; as good as running, the caller asks again later.
      return row ? claimOf(row) : { state: 'running' };
    },
    async put(key, response, expiresAt) {
      await db.run(PUT_IDEMPOTENT, [key, response.statusCode, response.body, response.request, expiresAt]);
    },
    async abandon(key, owner) {
      await db.run(ABANDON, [key, owner]);
    },
  };
}

const PUT_IF_ABSENT = stmt(`WITH i AS (
    INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value)
  SELECT value FROM i UNION ALL SELECT value FROM settings WHERE key = $1 LIMIT 1`);

export function settingsSql(db: Pg): Store['settings'] {
  return {
    async get(key) {
      const row = await db.one<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
      return row ? row.value : null;
    },
    async put(key, value) {
      await db.run(
        'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        [key, value],
      );
    },
    async putIfAbsent(key, value) {
      const row = await insertOrRead<{ value: string }>(db, PUT_IF_ABSENT, [key, value]);
      if (!row) throw new Error(`setting ${key} neither stored nor readable`);
      return row.value;
    },
    async compareAndSet(key, expected, value) {
      if (expected === null)
        return (
          (await db.run('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
            key,
            value,
          ])) > 0
        );
      return (
        (await db.run('UPDATE settings SET value = $1 WHERE key = $2 AND value = $3', [
          value,
          key,
          expected,
        ])) > 0
      );
    },
    async clock() {
      const row = await db.one<{ now: number }>(CLOCK);
      return row!.now;
    },
  };
}
