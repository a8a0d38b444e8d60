// Small key-value tables: publish idempotency (replayed responses, with expiry) and server settings.

import type { Store } from '../store.ts';
import type { Db } from './db.ts';

export function idempotencySql(db: Db): Store['idempotency'] {
  return {
    async get(key, now) {
      const row = db.get(
        'SELECT status_code, body FROM idempotency WHERE key = ? AND expires_at > ?',
        key,
        now,
      );
      return row ? { statusCode: row.status_code as number, body: row.body as string } : null;
    },
    async put(key, response, expiresAt) {
      db.run(
        `INSERT INTO idempotency (key, status_code, body, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
         expires_at = excluded.expires_at`,
        key,
        response.statusCode,
        response.body,
        expiresAt,
      );
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
  };
}
