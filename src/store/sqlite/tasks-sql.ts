// Delivery tasks: finishing attempts (hot path), release, resend, recover, lists and stats.

import { idFloor } from '../../core/ids.ts';
import { singleFlight } from '../../core/single-flight.ts';
import { TaskStatus, TriggerType } from '../../core/types.ts';
import {
  filtersMessages,
  messageHead,
  payloadBytes,
  statsWindow,
  statusName,
  taskColumns,
  toTask,
} from '../rows.ts';
import { finishEachAlone, type Store } from '../store.ts';
import { claimDue } from './claim-sql.ts';
import { type Db, mapRow, messageFilters, type Row, timeFilters } from './db.ts';
import { keysetPage } from './paginate.ts';
import { rareFilterOf } from './rare-filter.ts';
import { replayMissing } from './replay-sql.ts';

const MINE = '(status = 3 AND lease_until = @lease)';
const LATE_SUCCESS = '(@status = 0 AND trigger_type = 0)';
const SUCCESS_UNDER_MANUAL = '(@status = 0 AND trigger_type = 1)'; // what a waiting manual attempt now restores
// The status the API shows (core's shownStatus): while a manual attempt is pending, the one it restores.
const SHOWN_STATUS = 'coalesce(t.restore_status, t.status)';

// A finish under the lease the task still holds moves it on. A sending task with next_at set was
// resent during its attempt: it becomes due then, as a manual attempt, whose failure leaves it where this
// attempt puts it (restore_*). Manual attempts don't move the schedule.
// A finish under a lease taken over since (it expired: the attempt is being made again) records its
// attempt and changes nothing else, unless it delivered: a task is never "un-delivered", and a success
// stands even while another attempt is in flight (for a manual attempt, as what its failure returns to).
// So a late finish never frees the lease of an attempt in flight: never two attempts at once.
const FINISH = `UPDATE tasks SET attempts = attempts + @counted, updated_at = @now,
  status = CASE WHEN ${MINE} THEN (CASE WHEN next_at IS NOT NULL THEN 1 ELSE @status END)
    WHEN ${LATE_SUCCESS} THEN 0 ELSE status END,
  next_at = CASE WHEN ${MINE} THEN coalesce(next_at, @nextAt) WHEN ${LATE_SUCCESS} THEN NULL ELSE next_at END,
  lease_until = CASE WHEN ${MINE} OR ${LATE_SUCCESS} THEN NULL ELSE lease_until END,
  rate_wait = CASE WHEN ${MINE} OR ${LATE_SUCCESS} THEN 0 ELSE rate_wait END,
  trigger_type = CASE WHEN ${MINE} THEN (next_at IS NOT NULL) ELSE trigger_type END,
  restore_status = CASE WHEN ${MINE} THEN (CASE WHEN next_at IS NOT NULL THEN @status END)
    WHEN ${SUCCESS_UNDER_MANUAL} THEN 0 ELSE restore_status END,
  restore_at = CASE WHEN ${MINE} THEN (CASE WHEN next_at IS NOT NULL THEN @nextAt END)
    WHEN ${SUCCESS_UNDER_MANUAL} THEN NULL ELSE restore_at END
  WHERE id = @id`;
const ATTEMPT_INTO = `attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code, response,
  response_duration_ms, trigger_type, created_at)`;
const ATTEMPT_ROW = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?';
const INSERT_ATTEMPT = `INSERT INTO ${ATTEMPT_INTO} VALUES (${ATTEMPT_ROW})`;
// The attempt of a task gone during it, its endpoint deleted: kept while its message and app are (the
// endpoint's history stays, and the receiver may have taken the webhook).
const INSERT_ORPHAN_ATTEMPT = `INSERT INTO ${ATTEMPT_INTO} SELECT ${ATTEMPT_ROW}
  WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?) AND EXISTS (SELECT 1 FROM apps WHERE id = ?)`;
// A task waits for its rate-limit slot, unless the endpoint's slots were reset (a rate-limit change)
// since the slot was reserved: it then comes back when the slots start over, to take a new one.
// rate_wait says it then holds its slot (see DeliveryTask.rateSlot), rate_change after which of the
// endpoint's rate changes it took it (see resetRate).
const RELEASE = `UPDATE tasks SET status = 1, lease_until = NULL,
  next_at = CAST(min(@at, coalesce((SELECT rate_next_free FROM endpoints WHERE id = tasks.endpoint_id), @at)) AS INTEGER),
  rate_wait = coalesce((SELECT rate_next_free FROM endpoints WHERE id = tasks.endpoint_id), @at) >= @at,
  rate_change = coalesce((SELECT rate_changes FROM endpoints WHERE id = tasks.endpoint_id), 0)
  WHERE id = @id AND status = 3 AND lease_until = @lease`;
// A task in flight keeps its lease (never two attempts at once); its finish makes it due (see FINISH).
// Otherwise the state it leaves is kept, for a failure of the manual attempt to return to, unless it
// already waits for one (a second resend); a task waiting for its rate slot gives it up, and returns
// due at once, to take a new one.
const RESEND = `UPDATE tasks SET status = CASE WHEN status = 3 THEN 3 ELSE 1 END,
  restore_status = CASE WHEN status = 3 OR trigger_type = 1 THEN restore_status ELSE status END,
  restore_at = CASE WHEN status = 3 OR trigger_type = 1 THEN restore_at WHEN rate_wait = 1 THEN @now
    ELSE next_at END,
  lease_until = CASE WHEN status = 3 THEN lease_until END, next_at = @now, trigger_type = 1, updated_at = @now,
  rate_wait = 0 WHERE app_id = @appId AND msg_id = @msgId AND endpoint_id = @endpointId RETURNING *`;

/**
 * Tasks per commit in work over a whole backlog (recovery here; deleting pending tasks and freeing rate
 * waits in endpoints-sql.ts): each chunk a commit of its own, so that publishes and deliveries go between.
 */
export const TASK_CHUNK = 2000;
// The first chunk starts at a message id (>=), the others after the last one seen (>); all end before
// `until`'s first id. None is read once the endpoint is gone (deleted while it recovers).
const recoverChunk = (from: '>=' | '>') => `SELECT msg_id FROM tasks INDEXED BY tasks_endpoint_msg
  WHERE endpoint_id = @endpoint AND msg_id ${from} @cursor AND msg_id < @end
  AND EXISTS (SELECT 1 FROM endpoints WHERE id = @endpoint) ORDER BY msg_id LIMIT ${TASK_CHUNK}`;
const recoverTasks = (from: '>=' | '>') => `UPDATE tasks SET status = 1, next_at = @now, lease_until = NULL,
  trigger_type = 1, updated_at = @now, rate_wait = 0, restore_status = 2, restore_at = NULL
  WHERE endpoint_id = @endpoint AND msg_id ${from} @cursor AND msg_id <= @last AND status = 2
  AND created_at >= @since AND created_at < @until
  AND EXISTS (SELECT 1 FROM messages m WHERE m.id = tasks.msg_id AND m.payload IS NOT NULL)`;

const DELETE_PENDING = `DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks INDEXED BY tasks_due_endpoint
  WHERE status = 1 AND endpoint_id = ? LIMIT ${TASK_CHUNK})`;

/**
 * Deletes the pending tasks of deleted endpoints, a chunk at a time, each a commit of its own that the
 * next one waits to be on disk: a dead endpoint's backlog (300,000 tasks took 1.2 s) would otherwise
 * hold every publish and delivery until it was gone. What a crash leaves behind, the claim finds
 * (see claimDue).
 */
export async function deletePending(db: Db, endpointIds: readonly string[]): Promise<void> {
  for (const id of endpointIds) {
    let deleted = TASK_CHUNK;
    while (deleted === TASK_CHUNK) deleted = await db.grouped(() => db.run(DELETE_PENDING, id));
  }
}

const SKIPPED = 'endpoint_id NOT IN (SELECT value FROM json_each(?))';
const NEXT_PENDING = `SELECT next_at FROM tasks INDEXED BY tasks_due
  WHERE status = 1 AND next_at > ? AND ${SKIPPED} ORDER BY next_at LIMIT 1`;
const NEXT_LEASE_END = `SELECT lease_until FROM tasks INDEXED BY tasks_leased
  WHERE status = 3 AND lease_until > ? AND ${SKIPPED} ORDER BY lease_until LIMIT 1`;

export function tasksSql(db: Db): Store['tasks'] {
  const finish = db.stmt(FINISH);
  const insertAttempt = db.stmt(INSERT_ATTEMPT);
  const insertOrphanAttempt = db.stmt(INSERT_ORPHAN_ATTEMPT);

  const byIds = (table: string, ids: string[]): Row[] =>
    db.all(
      `SELECT * FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`,
      JSON.stringify([...new Set(ids)]),
    );

  const claimState = { after: '', turn: 0 };
  // The pending tasks of an endpoint a claim found gone, deleted in the background.
  const purgeGone = singleFlight((endpointId) => deletePending(db, [endpointId]));

  return {
    claimDue(options) {
      return db.grouped(() => claimDue(db, options, claimState, purgeGone), false);
    },
    finish(inputs) {
      return finishEachAlone(
        inputs,
        (batch) =>
          db.grouped(
            () =>
              batch.map(({ taskId, lease, attempt: a, next, now }) => {
                const [status, nextAt] = taskColumns(next);
                const counted = a.triggerType === 'scheduled' ? 1 : 0;
                const row = [
                  a.id,
                  a.appId,
                  a.msgId,
                  a.endpointId,
                  a.url,
                  a.status === 'success' ? TaskStatus.success : TaskStatus.fail,
                  a.responseStatusCode,
                  a.response,
                  a.responseDurationMs,
                  TriggerType[a.triggerType],
                  a.createdAt,
                ];
                if (finish.run({ counted, now, status, nextAt, lease, id: taskId }).changes === 0) {
                  insertOrphanAttempt.run(...row, a.msgId, a.appId);
                  return false;
                }
                insertAttempt.run(...row);
                return true;
              }),
            false,
          ),
        async (a) =>
          db.get(
            'SELECT 1 FROM attempts WHERE id = ? AND endpoint_id = ? AND msg_id = ?',
            a.id,
            a.endpointId,
            a.msgId,
          ) !== undefined,
      );
    },
    release(taskId, lease, at) {
      return db.grouped(() => {
        db.run(RELEASE, { at, lease, id: taskId });
      }, false);
    },
    async get(msgId, endpointId) {
      const row = db.get('SELECT * FROM tasks WHERE msg_id = ? AND endpoint_id = ?', msgId, endpointId);
      return row ? toTask(row) : null;
    },
    async resend(appId, msgId, endpointId, now) {
      const row = db.get(RESEND, { now, appId, msgId, endpointId });
      return row ? toTask(row) : null;
    },
    async recover(endpointId, since, until, now) {
      // A chunk of the endpoint's tasks at a time, each in a commit of its own: a recovery of a day of
      // failures (hundreds of thousands) would otherwise hold every publish and delivery until it ended.
      // A task's message id holds its creation time (both are the publish's): the walk goes from since
      // to until.
      let cursor = idFloor('msg', since);
      const end = idFloor('msg', until);
      let from: '>=' | '>' = '>=';
      let recovered = 0;
      for (;;) {
        const chunk = await db.grouped(() => {
          const at = { endpoint: endpointId, cursor, end };
          const last = db.all<{ msg_id: string }>(recoverChunk(from), at).at(-1)?.msg_id;
          if (last === undefined) return { last, n: 0 };
          return { last, n: db.run(recoverTasks(from), { ...at, last, now, since, until }) };
        });
        recovered += chunk.n;
        if (chunk.last === undefined) return recovered;
        [cursor, from] = [chunk.last, '>'];
      }
    },
    replayMissing(endpoint, since, until, now) {
      return replayMissing(db, endpoint, since, until, now);
    },
    async listForEndpoint(endpointId, query) {
      const appId = filtersMessages(query)
        ? db.get<{ app_id: string }>('SELECT app_id FROM endpoints WHERE id = ?', endpointId)?.app_id
        : undefined;
      const rare = appId === undefined ? null : rareFilterOf(db, appId, query);
      // Through the endpoint's tasks; or, filtered by what few messages have, through those messages
      // (CROSS JOIN: SQLite then reads them first), each task found by its key.
      let from = 'tasks t JOIN messages m ON m.id = t.msg_id';
      let key = 't.msg_id';
      const where = ['t.endpoint_id = ?'];
      const params: unknown[] = [endpointId];
      if (rare?.label) {
        from = 'message_labels l CROSS JOIN tasks t CROSS JOIN messages m';
        key = 'l.msg_id';
        where.push('l.app_id = ?', 'l.kind = ?', 'l.value = ?', 't.msg_id = l.msg_id', 'm.id = l.msg_id');
        params.push(appId, ...rare.label);
      } else if (rare?.eventTypes) {
        from = 'messages m INDEXED BY messages_app_type CROSS JOIN tasks t';
        key = 'm.id';
        where.push('m.app_id = ?', 't.msg_id = m.id');
        params.push(appId);
      }
      if (query.status != null) {
        // A literal, that the failed tasks' own index matches.
        where.push(`${SHOWN_STATUS} = ${TaskStatus[query.status]}`);
      }
      timeFilters('t.created_at', where, params, query, { key, prefix: 'msg' });
      messageFilters('m', where, params, rare?.rest ?? query);
      // Keyed by message id, as Svix's "attempted messages" list is.
      const page = keysetPage(
        db,
        {
          select: `SELECT t.*, octet_length(m.payload) AS payload_bytes FROM ${from}`,
          where,
          params,
          key,
          keyOf: (r) => r.msg_id as string,
          page: query,
          defaultOrder: 'descending',
          ...(query.withContent === false ? {} : { bytes: payloadBytes }),
          ...(rare?.eventTypes ? { oneOf: { column: 'm.event_type', values: rare.eventTypes } } : {}),
        },
        toTask,
      );
      // The page is cut to size already: its messages are read whole, or without payloads.
      const rows = db.all(
        `SELECT ${query.withContent === false ? messageHead('m') : 'm.*'} FROM messages m
          WHERE id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(page.data.map((t) => t.msgId)),
      );
      const messages = new Map(rows.map((r) => [r.id, mapRow.message(r)]));
      return { ...page, data: page.data.map((task) => ({ task, message: messages.get(task.msgId)! })) };
    },
    async listForMessage(msgId, query) {
      // Keyed by endpoint id, as Svix's "endpoints of a message" list is.
      const page = keysetPage(
        db,
        {
          select: 'SELECT t.* FROM tasks t JOIN endpoints e ON e.id = t.endpoint_id',
          where: ['t.msg_id = ?'],
          params: [msgId],
          key: 't.endpoint_id',
          keyOf: (r) => r.endpoint_id as string,
          page: query,
          defaultOrder: 'descending',
        },
        toTask,
      );
      const endpoints = new Map(
        byIds(
          'endpoints',
          page.data.map((t) => t.endpointId),
        ).map((r) => [r.id, mapRow.endpoint(r)]),
      );
      return {
        ...page,
        data: page.data.map((task) => ({ task, endpoint: endpoints.get(task.endpointId)! })),
      };
    },
    async stats(endpointId, range) {
      const stats = { success: 0, pending: 0, fail: 0, sending: 0 };
      const rows = db.all(
        `SELECT ${SHOWN_STATUS} AS status, count(*) AS n FROM tasks t INDEXED BY tasks_endpoint_msg
         WHERE endpoint_id = ? AND msg_id >= ? AND msg_id < ? GROUP BY 1`,
        endpointId,
        ...statsWindow(range),
      );
      for (const row of rows) {
        stats[statusName(row.status as number)] = row.n as number;
      }
      return stats;
    },
    async nextDueAt(after = -1, skip = []) {
      // A pending task's nextAt, or a lease's end: an expired lease makes a crashed worker's task claimable.
      // In index order, past the skipped endpoints' entries (a min() would read every entry after `after`).
      const skipped = JSON.stringify(skip);
      const pending = db.stmt(NEXT_PENDING).pluck().get(after, skipped) as number | undefined;
      const leased = db.stmt(NEXT_LEASE_END).pluck().get(after, skipped) as number | undefined;
      if (pending === undefined) return leased ?? null;
      return leased === undefined ? pending : Math.min(pending, leased);
    },
  };
}
