// Small key-value tables: publish idempotency (replayed responses, with expiry) and server settings.

import type { IdempotencyClaim, KeptResponse, Store } from '../store.ts';
import type { Db } from './db.ts';

// A running marker is a row with status_code 0 (no HTTP status), its owner in body and its lease in
// expires_at: the existing columns, so no migration.
export const RUNNING = 0;
const LIVE = 'SELECT status_code, body, request FROM idempotency WHERE key = ? AND expires_at > ?';
const UPSERT = `INSERT INTO idempotency (key, status_code, body, request, expires_at) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
  request = excluded.request, expires_at = excluded.expires_at`;

type Row = { status_code: number; body: string; request: string | null };

function claimOf(row: Row): IdempotencyClaim {
  if (row.status_code === RUNNING) return { state: 'running' };
  return { state: 'done', response: { statusCode: row.status_code, body: row.body, request: row.request } };
}

/** Stores the response a key replays (over its running marker), in the caller's transaction if any. */
export function keepResponse(db: Db, { key, response, expiresAt }: KeptResponse): void {
  db.run(UPSERT, key, response.statusCode, response.body, response.request, expiresAt);
}

export function idempotencySql(db: Db): Store['idempotency'] {
  return {
    async begin(key, owner, now, leaseUntil) {
      // What a live row says was true when read (a 'running' caller asks again later), so a plain read
      // answers most calls; only taking the key needs the write transaction, which reads again.
      const live = db.get<Row>(LIVE, key, now);
      if (live) return claimOf(live);
      // Not durable: a marker lost with the machine only lets a repeat run, as a crash would.
      return db.grouped((): IdempotencyClaim => {
        const row = db.get<Row>(LIVE, key, now);
        if (row) return claimOf(row);
        db.run(UPSERT, key, RUNNING, owner, null, leaseUntil);
        return { state: 'first' };
      }, false);
    },
    async put(key, response, expiresAt) {
      keepResponse(db, { key, response, expiresAt });
    },
    async abandon(key, owner) {
      db.run('DELETE FROM idempotency WHERE key = ? AND status_code = ? AND body = ?', key, RUNNING, owner);
    },
  };
}

export function settingsSql(db: Db): Store['settings'] {
  return {
    async get(key) {
      const row = db.get('SELECT value FROM settings WHERE key = ?', key);
      return row ? (row.value as string) : null;
    },
    async put(key, value) {
      db.run(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        key,
        value,
      );
    },
    async putIfAbsent(key, value) {
      db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value);
      return db.get('SELECT value FROM settings WHERE key = ?', key)?.value as string;
    },
    async compareAndSet(key, expected, value) {
      if (expected === null)
        return (
          db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value) >
          0
        );
      return db.run('UPDATE settings SET value = ? WHERE key = ? AND value = ?', value, key, expected) > 0;
    },
    async clock() {
      return null; // one process owns the file (the lock beside it)
    },
  };
}
