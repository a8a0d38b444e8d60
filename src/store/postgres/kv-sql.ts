// Small key-value tables: publish idempotency (replayed responses, with expiry) and server settings.

import type { Store } from '../store.ts';
import { type Pg, stmt } from './pg.ts';

const GET_IDEMPOTENT = stmt('SELECT status_code, body FROM idempotency WHERE key = $1 AND expires_at > $2');
const PUT_IDEMPOTENT =
  stmt(`INSERT INTO idempotency (key, status_code, body, expires_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
  expires_at = excluded.expires_at`);

export function idempotencySql(db: Pg): Store['idempotency'] {
  return {
    async get(key, now) {
      const row = await db.one<{ status_code: number; body: string }>(GET_IDEMPOTENT, [key, now]);
      return row ? { statusCode: row.status_code, body: row.body } : null;
    },
    async put(key, response, expiresAt) {
      await db.run(PUT_IDEMPOTENT, [key, response.statusCode, response.body, expiresAt]);
    },
  };
}

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
      const row = await db.one<{ value: string }>(
        `WITH i AS (INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value)
          SELECT value FROM i UNION ALL SELECT value FROM settings WHERE key = $1 LIMIT 1`,
        [key, value],
      );
      return row?.value ?? value;
    },
  };
}
