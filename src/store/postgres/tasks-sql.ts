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
import { type FinishInput, finishEachAlone, type Store } from '../store.ts';
import { type ClaimState, claimDue } from './claim-sql.ts';
import { idTime } from './id-time.ts';
import { TASKS_CHANNEL, withPayloads } from './messages-sql.ts';
import { keysetPage } from './paginate.ts';
import type { Partitions } from './partitions.ts';
import {
  ASYNC_COMMIT,
  byChunks,
  mapRow,
  messageFilters,
  Params,
  type Pg,
  type Row,
  type Sql,
  stmt,
  timeFilters,
  withMessage,
} from './pg.ts';
import { rareFilterOf } from './rare-filter.ts';
import { replayMissing } from './replay-sql.ts';

/** Tasks per statement of work over a backlog (a recovery, a rate change), as on SQLite. */
export const TASK_CHUNK = 2000;

const DELETE_PENDING = stmt(`DELETE FROM tasks WHERE id = ANY (ARRAY(
  SELECT id FROM tasks WHERE endpoint_id = $1 AND status = 1 LIMIT ${TASK_CHUNK}))`);

/**
 * Deletes the pending tasks of deleted endpoints, a chunk per statement, once their delete has
 * committed. In its transaction, a dead endpoint's backlog (2,000,000 tasks took 1.2 s) kept the rows
 * deleted, an app's too, locked until the last task was gone: publishes to that app waited, and with
 * them the other tenants' in the same batches. What a crash leaves behind, the claim finds (see
 * claimDue).
 */
export async function deletePending(db: Pg, endpointIds: readonly string[]): Promise<void> {
  for (const id of endpointIds) while ((await db.run(DELETE_PENDING, [id])) === TASK_CHUNK);
}

// A finish under the lease the task still holds moves it on; one under a lease taken over since records
// its attempt and changes nothing else unless it delivered (see sqlite/tasks-sql.ts, FINISH).
// A sending task with next_at set was resent during its attempt: it becomes due then, as a manual attempt,
// whose failure leaves it where this attempt puts it (restore_*). Manual attempts don't move the schedule.
// One statement per batch: the tasks are moved on, and the attempts inserted (multi-row, from the same JSON
// input); that of a task gone during it (its endpoint deleted) is kept while its message and app are
// (see sqlite/tasks-sql.ts; one that races an app's delete and outlives its purge is in no list, and
// goes with its day's partition), each found by its key in a subquery per row (as EXISTS, the planner
// hashes every app and message). The commit does not wait for the WAL flush
// (ASYNC_COMMIT). The tasks are found by primary key (= ANY(ARRAY(…))): joined on the JSON rows alone
// (estimated at 100), the planner scans the whole table while it holds fewer than some 100,000 rows,
// which cost 10 ms a finish at 15,000 tasks.
const MINE = '(t.status = 3 AND t.lease_until = x.lease)';
const LATE_SUCCESS = '(x.next_status = 0 AND t.trigger_type = 0)';
const SUCCESS_UNDER_MANUAL = '(x.next_status = 0 AND t.trigger_type = 1)'; // what a waiting manual attempt now restores
// The status the API shows (core's shownStatus): while a manual attempt is pending, the one it restores.
const SHOWN_STATUS = 'coalesce(t.restore_status, t.status)';
const ENDPOINT_APP = stmt('SELECT app_id FROM endpoints WHERE id = $1');
export const FINISH = stmt(`WITH input AS (
    SELECT * FROM json_to_recordset($1::json) AS x(i int, task_id text, lease bigint, next_status smallint,
      next_at bigint, now bigint, id text, app_id text, msg_id text, msg_created_at bigint, endpoint_id text,
      url text, status smallint, response_status_code int, response text, response_duration_ms int,
      trigger_type smallint, created_at bigint)
  ), done AS (
    UPDATE tasks t SET attempts = t.attempts + 1 - x.trigger_type, updated_at = x.now,
      status = CASE WHEN ${MINE} THEN (CASE WHEN t.next_at IS NOT NULL THEN 1 ELSE x.next_status END)
        WHEN ${LATE_SUCCESS} THEN 0 ELSE t.status END,
      next_at = CASE WHEN ${MINE} THEN coalesce(t.next_at, x.next_at) WHEN ${LATE_SUCCESS} THEN NULL
        ELSE t.next_at END,
      lease_until = CASE WHEN ${MINE} OR ${LATE_SUCCESS} THEN NULL ELSE t.lease_until END,
      rate_wait = CASE WHEN ${MINE} OR ${LATE_SUCCESS} THEN 0 ELSE t.rate_wait END,
      trigger_type = CASE WHEN ${MINE} THEN (CASE WHEN t.next_at IS NOT NULL THEN 1 ELSE 0 END)
        ELSE t.trigger_type END,
      restore_status = CASE WHEN ${MINE} THEN (CASE WHEN t.next_at IS NOT NULL THEN x.next_status END)
        WHEN ${SUCCESS_UNDER_MANUAL} THEN 0 ELSE t.restore_status END,
      restore_at = CASE WHEN ${MINE} THEN (CASE WHEN t.next_at IS NOT NULL THEN x.next_at END)
        WHEN ${SUCCESS_UNDER_MANUAL} THEN NULL ELSE t.restore_at END
    FROM input x WHERE t.id = ANY(ARRAY(SELECT task_id FROM input)) AND t.id = x.task_id RETURNING x.i
  ), recorded AS (
    INSERT INTO attempts (id, app_id, msg_id, msg_created_at, endpoint_id, url, status, response_status_code,
      response, response_duration_ms, trigger_type, created_at)
    SELECT id, app_id, msg_id, msg_created_at, endpoint_id, url, status, response_status_code, response,
      response_duration_ms, trigger_type, created_at FROM input x WHERE i IN (SELECT i FROM done) OR (
        (SELECT true FROM apps a WHERE a.id = x.app_id)
        AND (SELECT true FROM messages m WHERE m.id = x.msg_id AND m.created_at = x.msg_created_at))
  )
  SELECT i FROM done, ${ASYNC_COMMIT}`);
const RECORDED = stmt(
  'SELECT 1 FROM attempts WHERE id = $1 AND created_at = $2 AND endpoint_id = $3 AND msg_id = $4',
);
// A task waits for its rate-limit slot, unless the endpoint's slots were reset (a rate-limit change)
// since the slot was reserved: it then comes back when the slots start over, to take a new one.
// rate_wait says it then holds its slot (see DeliveryTask.rateSlot). The endpoint's row is read locked:
// a reset of its slots in progress (endpoints-sql.ts, RESET_SLOTS) is waited for, and read once committed.
const RELEASE = stmt(`UPDATE tasks t SET status = 1, lease_until = NULL,
  next_at = least($2, f.free)::bigint, rate_wait = CASE WHEN f.free >= $2 THEN 1 ELSE 0 END
  FROM (SELECT coalesce((SELECT rate_next_free FROM endpoints e, tasks x
    WHERE x.id = $1 AND e.id = x.endpoint_id FOR SHARE OF e), $2) AS free) f
  WHERE t.id = $1 AND t.status = 3 AND t.lease_until = $3`);
const GET = stmt('SELECT * FROM tasks WHERE msg_id = $1 AND endpoint_id = $2');
// A task in flight keeps its lease (never two attempts at once); its finish makes it due (see FINISH).
// Otherwise the state it leaves is kept, for a failure of the manual attempt to return to, unless it
// already waits for one (a second resend); a task waiting for its rate slot gives it up, and returns
// due at once, to take a new one.
const RESEND = stmt(`WITH r AS (
    UPDATE tasks SET status = CASE WHEN status = 3 THEN 3 ELSE 1 END,
      restore_status = CASE WHEN status = 3 OR trigger_type = 1 THEN restore_status ELSE status END,
      restore_at = CASE WHEN status = 3 OR trigger_type = 1 THEN restore_at WHEN rate_wait = 1 THEN $1 ELSE next_at END,
      lease_until = CASE WHEN status = 3 THEN lease_until END, next_at = $1, trigger_type = 1, updated_at = $1,
      rate_wait = 0 WHERE app_id = $2 AND msg_id = $3 AND endpoint_id = $4 RETURNING *
  ) SELECT r.* FROM r, LATERAL (SELECT pg_notify('${TASKS_CHANNEL}', '')) n`);
// A chunk of the endpoint's tasks in message id order ($5..$6: a task's message id holds its creation
// time, so the walk goes from since to until), after the last one ($7), each a statement of its own: as
// one statement, a recovery of 500,000 failed tasks outlasted the statement timeout, and never could be
// done. The walk stops once the endpoint is deleted; its row is key-share locked, so that a delete under
// way is waited for and then seen (beside it, a chunk made tasks pending that the delete had not seen).
// `status + 0`: not through the endpoint's index of (status, created_at), which the generic plan (from
// the sixth chunk) chose, reading every failed task of the window for each chunk. Each task's message is
// checked by its key in a subquery per task: as an EXISTS, the planner made it a join that it costs as
// probing every day for each task, and hashed every message of every day instead. A chunk that made
// tasks due wakes the workers (`quiet` is false).
export const RECOVER = stmt(`WITH c AS (
    SELECT msg_id FROM tasks WHERE endpoint_id = $2 AND msg_id >= $5 AND msg_id < $6 AND msg_id > $7
      AND EXISTS (SELECT 1 FROM endpoints WHERE id = $2 FOR KEY SHARE) ORDER BY msg_id LIMIT ${TASK_CHUNK}
  ), u AS (
    UPDATE tasks SET status = 1, next_at = $1, lease_until = NULL, trigger_type = 1, updated_at = $1, rate_wait = 0,
      restore_status = 2, restore_at = NULL
    WHERE endpoint_id = $2 AND msg_id > $7 AND msg_id <= (SELECT max(msg_id) FROM c)
      AND status + 0 = 2 AND created_at >= $3 AND created_at < $4
      AND (SELECT m.payload IS NOT NULL FROM messages m
        WHERE m.id = tasks.msg_id AND m.created_at = tasks.msg_created_at)
    RETURNING 1
  )
  SELECT (SELECT max(msg_id) FROM c) AS last, n, (SELECT pg_notify('${TASKS_CHANNEL}', '') WHERE n > 0) IS NULL AS quiet
  FROM (SELECT count(*)::int AS n FROM u) u`);
// The earliest due time after $1 of each endpoint with pending tasks but those of $2 (a loose scan of
// the per-endpoint index: one probe per endpoint), and the earliest lease end after $1 of the others.
const NEXT_DUE = stmt(`WITH RECURSIVE e(id) AS (
    SELECT (SELECT endpoint_id FROM tasks WHERE status = 1 ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT endpoint_id FROM tasks WHERE status = 1 AND endpoint_id > e.id ORDER BY endpoint_id LIMIT 1)
    FROM e WHERE e.id IS NOT NULL
  )
  SELECT (SELECT min((SELECT next_at FROM tasks WHERE status = 1 AND endpoint_id = e.id AND next_at > $1
      ORDER BY next_at LIMIT 1)) FROM e WHERE e.id IS NOT NULL AND e.id <> ALL($2::text[])) AS pending,
    (SELECT min(lease_until) FROM tasks WHERE status = 3 AND lease_until > $1
      AND endpoint_id <> ALL($2::text[])) AS leased`);

function finishRow(i: number, { taskId, lease, attempt: a, next, now }: FinishInput) {
  const [nextStatus, nextAt] = taskColumns(next);
  return {
    i,
    task_id: taskId,
    lease,
    next_status: nextStatus,
    next_at: nextAt,
    now,
    id: a.id,
    app_id: a.appId,
    msg_id: a.msgId,
    msg_created_at: idTime(a.msgId) ?? 0,
    endpoint_id: a.endpointId,
    url: a.url,
    status: a.status === 'success' ? TaskStatus.success : TaskStatus.fail,
    response_status_code: a.responseStatusCode,
    response: a.response,
    response_duration_ms: a.responseDurationMs,
    trigger_type: TriggerType[a.triggerType],
    created_at: a.createdAt,
  };
}

/** Splits inputs into rounds in which each task appears once (two finishes of one task apply in order). */
function rounds(inputs: FinishInput[]): Array<Array<[number, FinishInput]>> {
  const out: Array<Array<[number, FinishInput]>> = [];
  const depth = new Map<string, number>();
  for (const [i, input] of inputs.entries()) {
    const d = depth.get(input.taskId) ?? 0;
    depth.set(input.taskId, d + 1);
    const round = out[d] ?? [];
    round.push([i, input]);
    out[d] = round;
  }
  return out;
}

async function finishRound(sql: Sql, round: Array<[number, FinishInput]>, results: boolean[]): Promise<void> {
  const rows = await sql.rows<{ i: number }>(FINISH, [
    JSON.stringify(round.map(([i, x]) => finishRow(i, x))),
  ]);
  for (const r of rows) results[r.i] = true;
}

async function finishBatch(db: Pg, inputs: FinishInput[]): Promise<boolean[]> {
  const results = inputs.map(() => false);
  const all = rounds(inputs);
  if (all.length === 1) await finishRound(db, all[0]!, results);
  else {
    await db.tx(async (sql) => {
      for (const round of all) await finishRound(sql, round, results);
    });
  }
  return results;
}

export function tasksSql(db: Pg, partitions: Partitions): Store['tasks'] {
  const claimState: ClaimState = { after: '', turn: 0, recent: [] };
  // The pending tasks of an endpoint a claim found gone, deleted in the background.
  const purgeGone = singleFlight((endpointId) => deletePending(db, [endpointId]));
  return {
    claimDue(options) {
      return claimDue(db, options, claimState, purgeGone);
    },
    async finish(inputs) {
      if (inputs.length === 0) return [];
      const pending = partitions.ensureFor(inputs.map((x) => x.attempt.createdAt));
      if (pending) await pending;
      return finishEachAlone(
        inputs,
        (batch) => finishBatch(db, batch),
        async (a) => (await db.one(RECORDED, [a.id, a.createdAt, a.endpointId, a.msgId])) !== undefined,
      );
    },
    async release(taskId, lease, at) {
      await db.run(RELEASE, [taskId, at, lease]);
    },
    async get(msgId, endpointId) {
      const row = await db.one(GET, [msgId, endpointId]);
      return row ? toTask(row) : null;
    },
    async resend(appId, msgId, endpointId, now) {
      const row = await db.one(RESEND, [now, appId, msgId, endpointId]);
      return row ? toTask(row) : null;
    },
    recover(endpointId, since, until, now) {
      return byChunks(db, RECOVER, [
        now,
        endpointId,
        since,
        until,
        idFloor('msg', since),
        idFloor('msg', until),
      ]);
    },
    replayMissing(endpoint, since, until, now) {
      return replayMissing(db, endpoint, since, until, now);
    },
    async listForEndpoint(endpointId, query) {
      const appId = filtersMessages(query)
        ? (await db.one<{ app_id: string }>(ENDPOINT_APP, [endpointId]))?.app_id
        : undefined;
      const rare = appId === undefined ? null : await rareFilterOf(db, appId, query);
      const p = new Params();
      const endpoint = p.add(endpointId);
      // Through the endpoint's tasks; or, filtered by what few messages have, through those messages, each
      // one's task found by its key (a lateral subquery: see withMessage).
      const task = (at: string) =>
        `CROSS JOIN LATERAL (SELECT * FROM tasks t WHERE t.msg_id = ${at} AND t.endpoint_id = ${endpoint} LIMIT 1) t`;
      let from: string;
      let key = 't.msg_id';
      let timeColumn: string | undefined;
      const where: string[] = [];
      if (rare?.label) {
        from = `message_labels l ${task('l.msg_id')} ${withMessage('l', 'created_at')}`;
        key = 'l.msg_id';
        timeColumn = 'l.created_at';
        where.push(
          `l.app_id = ${p.add(appId)}`,
          `l.kind = ${p.add(rare.label[0])}`,
          `l.value = ${p.add(rare.label[1])}`,
        );
      } else if (rare?.eventTypes) {
        from = `messages m ${task('m.id')}`;
        key = 'm.id';
        timeColumn = 'm.created_at';
        where.push(`m.app_id = ${p.add(appId)}`);
      } else {
        // Filtered by what many messages have, each task's message is found by its key, until the page
        // is full: hashing every message instead (once, as a join) took 4 s over 1,000,000.
        from = `tasks t ${withMessage('t', 'msg_created_at')}`;
        where.push(`t.endpoint_id = ${endpoint}`);
      }
      if (query.status != null) {
        // A literal, that the failed tasks' own index matches.
        where.push(`${SHOWN_STATUS} = ${TaskStatus[query.status]}`);
      }
      timeFilters(timeColumn ?? 't.created_at', where, p, query);
      messageFilters('m', where, p, rare?.rest ?? query);
      // Keyed by message id, as Svix's "attempted messages" list is.
      const page = await keysetPage(
        db,
        {
          select: `SELECT t.*, (SELECT row_to_json(x) FROM (SELECT ${messageHead('m')}) x) AS message FROM ${from}`,
          where,
          params: p,
          key,
          keyOf: (r) => r.msg_id as string,
          page: query,
          defaultOrder: 'descending',
          ...(timeColumn ? { timeColumn } : {}),
          ...(rare?.eventTypes
            ? { oneOf: { column: 'm.event_type', values: rare.eventTypes, keyColumn: 'msg_id' } }
            : {}),
          ...(query.withContent === false ? {} : { bytes: (r: Row) => payloadBytes(r.message as Row) }),
        },
        (r) => r,
      );
      const messages = await withPayloads(
        db,
        page.data.map((r) => r.message as Row),
        query.withContent,
      );
      return { ...page, data: page.data.map((r, i) => ({ task: toTask(r), message: messages[i]! })) };
    },
    async listForMessage(msgId, query) {
      const p = new Params();
      // Keyed by endpoint id, as Svix's "endpoints of a message" list is.
      return keysetPage(
        db,
        {
          select:
            'SELECT t.*, row_to_json(e) AS endpoint FROM tasks t JOIN endpoints e ON e.id = t.endpoint_id',
          where: [`t.msg_id = ${p.add(msgId)}`],
          params: p,
          key: 't.endpoint_id',
          keyOf: (r) => r.endpoint_id as string,
          page: query,
          defaultOrder: 'descending',
        },
        (r) => ({ task: toTask(r), endpoint: mapRow.endpoint(r.endpoint as Row) }),
      );
    },
    async stats(endpointId, range) {
      const [from, to] = statsWindow(range);
      const stats = { success: 0, pending: 0, fail: 0, sending: 0 };
      const rows = await db.rows<{ status: number; n: number }>(
        `SELECT ${SHOWN_STATUS} AS status, count(*)::int AS n FROM tasks t
         WHERE endpoint_id = $1 AND msg_id >= $2 AND msg_id < $3 GROUP BY 1`,
        [endpointId, from, to],
      );
      for (const row of rows) stats[statusName(row.status)] = row.n;
      return stats;
    },
    async nextDueAt(after = -1, skip = []) {
      // A pending task's nextAt, or a lease's end: an expired lease makes a crashed worker's task claimable.
      const row = await db.one<{ pending: number | null; leased: number | null }>(NEXT_DUE, [after, skip]);
      const pending = row?.pending ?? null;
      const leased = row?.leased ?? null;
      if (pending === null) return leased;
      return leased === null ? pending : Math.min(pending, leased);
    },
  };
}
