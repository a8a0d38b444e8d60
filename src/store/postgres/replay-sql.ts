// replay-missing: tasks for an endpoint's missing messages, a chunk of its application's messages at a time
// (see sqlite/replay-sql.ts).

import { idFloor, newId } from '../../core/ids.ts';
import { matches } from '../../core/subscription.ts';
import type { Endpoint } from '../../core/types.ts';
import { dueAtOf } from '../store.ts';
import { TASKS_CHANNEL } from './messages-sql.ts';
import { type Pg, stmt } from './pg.ts';

const CHUNK_SIZE = 500;
// A chunk of the app's messages of the window from its id index, pruned to the window's days; `missing`:
// the message still has its payload and no task for the endpoint. None once the endpoint is gone.
export const REPLAY_CHUNK = stmt(`SELECT m.id, m.event_type, m.channels, m.created_at, m.deliver_at,
    m.payload IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.msg_id = m.id AND t.endpoint_id = $2)
      AS missing
  FROM messages m
  WHERE m.app_id = $1 AND m.id >= $3 AND m.id < $4 AND m.id > $5 AND m.created_at >= $6 AND m.created_at < $7
    AND EXISTS (SELECT 1 FROM endpoints WHERE id = $2)
  ORDER BY m.id LIMIT ${CHUNK_SIZE}`);
// The endpoint's row is key-share locked: a delete under way is waited for, and then nothing is inserted.
// A message deleted meanwhile (retention) gets none; a task made meanwhile (a resend racing) is kept.
const INSERT = stmt(`WITH ep AS (SELECT id FROM endpoints WHERE id = $2 FOR KEY SHARE), made AS (
    INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts, next_at, lease_until,
      created_at, updated_at)
    SELECT x.id, x.app_id, x.msg_id, x.msg_created_at, ep.id, 1, 0, x.due_at, NULL, x.msg_created_at, $3
    FROM json_to_recordset($1::json) AS x(id text, app_id text, msg_id text, msg_created_at bigint, due_at bigint)
      CROSS JOIN ep
    WHERE (SELECT true FROM messages m WHERE m.id = x.msg_id AND m.created_at = x.msg_created_at)
    ON CONFLICT (msg_id, endpoint_id) DO NOTHING RETURNING 1
  )
  SELECT n, (SELECT pg_notify('${TASKS_CHANNEL}', '') WHERE n > 0) IS NULL AS quiet
  FROM (SELECT count(*)::int AS n FROM made) c`);

interface Row {
  id: string;
  event_type: string;
  channels: string[] | null;
  created_at: number;
  deliver_at: number | null;
  missing: boolean;
}

/** See Store['tasks'].replayMissing. */
export async function replayMissing(
  db: Pg,
  endpoint: Endpoint,
  since: number,
  until: number,
  now: number,
): Promise<number> {
  const window = [endpoint.appId, endpoint.id, idFloor('msg', since), idFloor('msg', until)];
  let [after, made] = ['', 0];
  for (;;) {
    const rows = await db.rows<Row>(REPLAY_CHUNK, [...window, after, since, until]);
    const tasks = rows
      .filter((r) => r.missing && matches(endpoint, { eventType: r.event_type, channels: r.channels }))
      .map((r) => ({
        id: newId('task', now),
        app_id: endpoint.appId,
        msg_id: r.id,
        msg_created_at: r.created_at,
        due_at: dueAtOf({ deliverAt: r.deliver_at }, now),
      }));
    if (tasks.length > 0)
      made += (await db.one<{ n: number }>(INSERT, [JSON.stringify(tasks), endpoint.id, now]))!.n;
    if (rows.length < CHUNK_SIZE) return made;
    after = rows.at(-1)!.id;
  }
}
