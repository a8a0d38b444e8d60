// replay-missing: tasks for an endpoint's missing messages, a chunk of its application's messages at a time.

import { idFloor, newId } from '../../core/ids.ts';
import { matches } from '../../core/subscription.ts';
import { type Endpoint, TaskStatus } from '../../core/types.ts';
import { dueAtOf } from '../store.ts';
import type { Db } from './db.ts';

const CHUNK_SIZE = 500;
// The messages of a commit (a few ms of the writer), from the app's id index; `missing`: the message
// still has its payload and no task for the endpoint. None once the endpoint is gone. One lower bound on
// the id, the window's start and then the last chunk's end: given both, SQLite scanned from the start,
// and each chunk read again every message the ones before it had.
const chunkSql = (from: '>=' | '>') => `SELECT m.id, m.event_type, m.channels, m.created_at, m.deliver_at,
    m.payload IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.msg_id = m.id AND t.endpoint_id = @endpoint)
      AS missing
  FROM messages m INDEXED BY messages_app
  WHERE m.app_id = @app AND m.id ${from} @cursor AND m.id < @end
    AND m.created_at >= @since AND m.created_at < @until
    AND EXISTS (SELECT 1 FROM endpoints WHERE id = @endpoint)
  ORDER BY m.id LIMIT ${CHUNK_SIZE}`;
const INSERT = `INSERT INTO tasks (id, app_id, msg_id, endpoint_id, status, attempts, next_at, lease_until,
  created_at, updated_at) VALUES (?, ?, ?, ?, ${TaskStatus.pending}, 0, ?, NULL, ?, ?)`;

interface Row {
  id: string;
  event_type: string;
  channels: string | null;
  created_at: number;
  deliver_at: number | null;
  missing: number;
}

/** See Store['tasks'].replayMissing. */
export async function replayMissing(
  db: Db,
  endpoint: Endpoint,
  since: number,
  until: number,
  now: number,
): Promise<number> {
  const at = { app: endpoint.appId, endpoint: endpoint.id, end: idFloor('msg', until), since, until };
  let [cursor, from, made] = [idFloor('msg', since), '>=' as '>=' | '>', 0];
  for (;;) {
    const chunk = await db.grouped(() => {
      const rows = db.all<Row>(chunkSql(from), { ...at, cursor });
      let n = 0;
      for (const r of rows) {
        const message = { eventType: r.event_type, channels: r.channels && JSON.parse(r.channels) };
        if (!r.missing || !matches(endpoint, message)) continue;
        const dueAt = dueAtOf({ deliverAt: r.deliver_at }, now);
        db.run(INSERT, newId('task', now), endpoint.appId, r.id, endpoint.id, dueAt, r.created_at, now);
        n++;
      }
      return { last: rows.at(-1)?.id, n, full: rows.length === CHUNK_SIZE };
    });
    made += chunk.n;
    if (!chunk.full || chunk.last === undefined) return made;
    [cursor, from] = [chunk.last, '>'];
  }
}
