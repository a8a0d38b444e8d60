// Messages: the publish hot path (messages and their tasks in one statement, so one commit), lookups,
// lists, retention.
//
// Group commit: publish calls made while a previous commit is in flight are merged into the next one,
// so under load one commit (one WAL flush) carries many publishes. The batch is a single statement:
// the input travels as two JSON parameters that json_to_recordset turns into rows, and multi-row
// INSERTs (eventId index, messages, tasks) run as data-modifying CTEs: one round trip, atomic.

import { type Batcher, createBatcher } from '../../core/batcher.ts';
import { idFloor, newId } from '../../core/ids.ts';
import type { Message } from '../../core/types.ts';
import { listLabels, messageHead, payloadBytes } from '../rows.ts';
import {
  dueAtOf,
  PUBLISH_QUEUE_WAIT,
  type PublishItem,
  type PublishResult,
  type Store,
  StoreUnavailableError,
} from '../store.ts';
import { idTime } from './id-time.ts';
import { keysetPage } from './paginate.ts';
import type { Partitions } from './partitions.ts';
import {
  byChunks,
  mapRow,
  messageFilters,
  Params,
  type Pg,
  type Row,
  stmt,
  timeFilters,
  withMessage,
} from './pg.ts';

export const TASKS_CHANNEL = 'doorbell_tasks';

// eventId conflicts (with earlier messages or earlier items of the same batch) skip the item alone:
// ON CONFLICT DO NOTHING on the eventId table, then only the winners' messages and tasks are inserted.
// The batch's apps are found by key (as FINISH finds its tasks, see tasks-sql.ts) and key-share
// locked, as a foreign key check would: an app deleted after the caller looked it up skips its items
// (the delete locks the app row first, so either it waits for this commit and removes its rows, or
// this statement waits for it and finds the app gone).
// Tasks go only to endpoints of their message's app, found by key: an endpoint deleted since the caller
// listed it (one reading a cached list) gets no task, which would fail unsent and unseen. Not locked:
// an endpoint delete holds its row until it has deleted all of the endpoint's tasks, which for a dead
// endpoint's backlog takes seconds, and every tenant's publishes would wait in the batches that named
// it. A delete committing while this statement runs may so leave a task, which the claim fails as an
// orphan, unsent.
// The NOTIFY is delivered at commit, to workers of every process. An inserted message's idempotency
// response ($3) is kept in the same statement.
// Rows answered: ('m', id) per inserted message, ('a', id) per live app, ('n', NULL) for the NOTIFY.
export const PUBLISH = stmt(`WITH input AS (
    SELECT * FROM json_to_recordset($1::json) AS x(id text, app_id text, event_type text, event_id text,
      channels jsonb, payload text, created_at bigint, expires_at bigint, deliver_at bigint, tags jsonb)
  ), task_input AS (
    SELECT * FROM json_to_recordset($2::json) AS t(id text, app_id text, msg_id text, msg_created_at bigint,
      endpoint_id text, now bigint, due_at bigint)
  ), live AS (
    SELECT id FROM apps WHERE id = ANY(ARRAY(SELECT app_id FROM input)) FOR KEY SHARE
  ), ep AS (
    SELECT id, app_id FROM endpoints
    WHERE id = ANY(ARRAY(SELECT endpoint_id FROM task_input)) AND app_id IN (SELECT id FROM live)
  ), ev AS (
    INSERT INTO message_event_ids (app_id, event_id, msg_id, created_at)
    SELECT app_id, event_id, id, created_at FROM input
    WHERE event_id IS NOT NULL AND app_id IN (SELECT id FROM live)
    ON CONFLICT DO NOTHING RETURNING msg_id
  ), msg AS (
    INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, created_at, expires_at,
      deliver_at, tags)
    SELECT id, app_id, event_type, event_id, channels, payload, created_at, expires_at, deliver_at, tags
    FROM input
    WHERE app_id IN (SELECT id FROM live) AND (event_id IS NULL OR id IN (SELECT msg_id FROM ev))
    RETURNING id
  ), task AS (
    INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts, next_at,
      lease_until, created_at, updated_at)
    SELECT t.id, t.app_id, t.msg_id, t.msg_created_at, t.endpoint_id, 1, 0, t.due_at, NULL, t.now, t.now
    FROM task_input t
    WHERE t.msg_id IN (SELECT id FROM msg) AND (t.endpoint_id, t.app_id) IN (SELECT id, app_id FROM ep)
    RETURNING 1
  ), kept AS (
    INSERT INTO idempotency (key, status_code, body, request, expires_at)
    SELECT k.key, k.status_code, k.body, k.request, k.expires_at
    FROM json_to_recordset($3::json) AS k(msg_id text, key text, status_code int, body text, request text,
      expires_at bigint)
    WHERE k.msg_id IN (SELECT id FROM msg)
    ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
      request = excluded.request, expires_at = excluded.expires_at
  )
  SELECT 'm' AS kind, id FROM msg UNION ALL SELECT 'a', id FROM live
  UNION ALL SELECT 'n', NULL FROM (SELECT pg_notify('${TASKS_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM task)) n`);
export const EXISTING = stmt(`SELECT m.* FROM message_event_ids x ${withMessage('x', 'created_at')}
  WHERE (x.app_id, x.event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`);
const BY_ID = stmt('SELECT * FROM messages WHERE id = $1 AND created_at = $2 AND app_id = $3');
// Each message by its key (id and created_at: the partition it is in), as run-time partition pruning needs.
const PAYLOADS = stmt(`SELECT k.id, (SELECT payload FROM messages m WHERE m.id = k.id AND m.created_at = k.at)
  AS payload FROM unnest($1::text[], $2::bigint[]) AS k(id, at)`);

const BY_EVENT_ID = stmt(`SELECT m.* FROM message_event_ids x
  JOIN messages m ON m.id = x.msg_id AND m.created_at = x.created_at WHERE x.app_id = $1 AND x.event_id = $2`);
const EXPUNGE = stmt('UPDATE messages SET payload = NULL WHERE id = $1 AND created_at = $2 AND app_id = $3');
const EXPIRE_IDEMPOTENCY = stmt(`DELETE FROM idempotency WHERE key IN
  (SELECT key FROM idempotency WHERE expires_at <= $1 LIMIT $2)`);
// The batch's messages by id within its range of days (the partitions to visit), not by a join to the
// batch: the planner costs that join as probing every day, and read every message of every day instead.
const EXPIRE = stmt(`WITH x AS (SELECT id, created_at FROM messages
    WHERE expires_at <= $1 AND payload IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)
  UPDATE messages SET payload = NULL WHERE id = ANY (ARRAY(SELECT id FROM x))
    AND created_at BETWEEN (SELECT min(created_at) FROM x) AND (SELECT max(created_at) FROM x)`);
// A chunk of an application's messages after a cursor ($3) and before an id ($2), in id order, found by
// id within their range of days (as EXPIRE); as many as the retention sweeps at once.
const EXPUNGE_ALL = stmt(`WITH c AS (
    SELECT id, created_at FROM messages WHERE app_id = $1 AND id < $2 AND id > $3 ORDER BY id LIMIT 250
  ), u AS (
    UPDATE messages SET payload = NULL WHERE id = ANY (ARRAY(SELECT id FROM c))
      AND created_at BETWEEN (SELECT min(created_at) FROM c) AND (SELECT max(created_at) FROM c)
      AND payload IS NOT NULL
    RETURNING 1
  )
  SELECT (SELECT max(id) FROM c) AS last, (SELECT count(*)::int FROM u) AS n`);

// A list filtered by channel or tag walks that label's rows in order and finds each message by its key.
const LABELLED = `message_labels l ${withMessage('l', 'created_at')}`;

const eventKey = (m: Message) => `${m.appId}\u0000${m.eventId}`;

/**
 * The statement went out and no answer came back: the connection was lost, or went silent past the
 * query timeout. It may have committed (a silent server, or the answer lost), and a statement held in
 * the network may even run after the client gave up. Unlike a refused connection, this 503 may not be
 * retried blindly.
 */
function sentUnanswered(error: unknown): error is StoreUnavailableError {
  if (!(error instanceof StoreUnavailableError)) return false;
  return (
    /Query read timeout|Connection terminated unexpectedly/.test(error.said) || error.reason === 'ECONNRESET'
  );
}

function mayHaveCommitted(error: StoreUnavailableError): StoreUnavailableError {
  const why = new Error(
    `the database did not answer the publish (${error.said}): it may have been stored. Retry with the same eventId, which answers 409 if it was`,
  );
  return new StoreUnavailableError(Object.assign(why, { code: error.reason }));
}

async function publishBatch(db: Pg, partitions: Partitions, items: PublishItem[]): Promise<PublishResult[]> {
  const pending = partitions.ensureFor(items.map((i) => i.message.createdAt));
  if (pending) await pending;
  const messages: Record<string, unknown>[] = [];
  const tasks: Record<string, unknown>[] = [];
  const kept: Record<string, unknown>[] = [];
  for (const { message: m, endpointIds, now, kept: k } of items) {
    if (k) {
      const { statusCode, body, request } = k.response;
      kept.push({
        msg_id: m.id,
        key: k.key,
        status_code: statusCode,
        body,
        request,
        expires_at: k.expiresAt,
      });
    }
    messages.push({
      id: m.id,
      app_id: m.appId,
      event_type: m.eventType,
      event_id: m.eventId,
      channels: m.channels,
      payload: m.payload,
      created_at: m.createdAt,
      expires_at: m.expiresAt,
      deliver_at: m.deliverAt,
      tags: m.tags,
    });
    const dueAt = dueAtOf(m, now);
    for (const endpointId of new Set(endpointIds)) {
      tasks.push({
        id: newId('task', now),
        app_id: m.appId,
        msg_id: m.id,
        msg_created_at: m.createdAt,
        endpoint_id: endpointId,
        now,
        due_at: dueAt,
      });
    }
  }
  const rows = await db
    .rows<{ kind: 'm' | 'a' | 'n'; id: string | null }>(PUBLISH, [
      JSON.stringify(messages),
      JSON.stringify(tasks),
      JSON.stringify(kept),
    ])
    .catch((error: unknown) => {
      throw sentUnanswered(error) ? mayHaveCommitted(error) : error;
    });
  const inserted = new Set(rows.filter((r) => r.kind === 'm').map((r) => r.id));
  const live = new Set(rows.filter((r) => r.kind === 'a').map((r) => r.id));
  const results: PublishResult[] = items.map(() => ({ ok: true }));
  const winners = new Map<string, Message>(); // eventId → the message of this batch that took it
  const lost: number[] = [];
  for (const [i, { message: m }] of items.entries()) {
    if (inserted.has(m.id)) {
      if (m.eventId !== null) winners.set(eventKey(m), m);
    } else if (!live.has(m.appId)) results[i] = { ok: false, conflict: 'appDeleted' };
    else lost.push(i);
  }
  if (lost.length === 0) return results;
  const unresolved = lost.filter((i) => !winners.has(eventKey(items[i]!.message)));
  const existing = new Map<string, Message>(winners);
  if (unresolved.length > 0) {
    const ms = unresolved.map((i) => items[i]!.message);
    const found = await db.rows(EXISTING, [ms.map((m) => m.appId), ms.map((m) => m.eventId)]);
    for (const row of found) {
      const m = mapRow.message(row);
      existing.set(eventKey(m), m);
    }
  }
  for (const i of lost) {
    const m = items[i]!.message;
    const other = existing.get(eventKey(m));
    // The eventId's message was dropped by retention a moment ago: nothing to return, ask to retry.
    if (!other) throw new Error(`eventId ${m.eventId} is being released by retention; retry`);
    results[i] = { ok: false, conflict: 'eventId', existing: other };
  }
  return results;
}

const MAX_COMMITS_IN_FLIGHT = 2;

export type GroupCommit = Batcher<PublishItem[], PublishResult[]>;

/**
 * Merges concurrent publish calls into one statement. A merged batch the database refused is retried
 * call by call, so that one call's fault fails it alone; one that could not reach the database fails
 * every call at once (retried, each would wait as long again).
 */
export function publisher(db: Pg, partitions: Partitions): GroupCommit {
  const run = (items: PublishItem[]) => publishBatch(db, partitions, items);
  const flush = async (calls: PublishItem[][]): Promise<Array<PublishResult[] | Error>> => {
    try {
      const results = await run(calls.flat());
      let at = 0;
      return calls.map((items) => {
        at += items.length;
        return results.slice(at - items.length, at);
      });
    } catch (error) {
      if (calls.length === 1 || error instanceof StoreUnavailableError) throw error;
      return Promise.all(calls.map((items) => run(items).catch((e: unknown) => asError(e))));
    }
  };
  return createBatcher(flush, Number.POSITIVE_INFINITY, MAX_COMMITS_IN_FLIGHT, PUBLISH_QUEUE_WAIT);
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Messages from rows of messageHead, with their payloads read now, unless `withContent` is false. */
export async function withPayloads(db: Pg, rows: Row[], withContent = true): Promise<Message[]> {
  const payloads = new Map<unknown, unknown>();
  if (withContent && rows.length > 0) {
    const params = [rows.map((r) => r.id), rows.map((r) => r.created_at)];
    for (const r of await db.rows(PAYLOADS, params)) payloads.set(r.id, r.payload);
  }
  return rows.map((r) => mapRow.message({ ...r, payload: payloads.get(r.id) }));
}

export function messagesSql(
  db: Pg,
  group: GroupCommit,
  maintain: (now: number) => Promise<unknown>,
): Store['messages'] {
  const byId = async (appId: string, id: string): Promise<Row | undefined> => {
    const at = id.startsWith('msg_') ? idTime(id) : null;
    return at === null ? undefined : db.one(BY_ID, [id, at, appId]);
  };
  return {
    async publish(items) {
      return items.length === 0 ? [] : group.add(items);
    },
    async get(appId, idOrEventId) {
      const row = (await byId(appId, idOrEventId)) ?? (await db.one(BY_EVENT_ID, [appId, idOrEventId]));
      return row ? mapRow.message(row) : null;
    },
    async list(appId, query) {
      const { labels, rest } = listLabels(query);
      const [label, also] = labels;
      const p = new Params();
      const where = label
        ? [`l.app_id = ${p.add(appId)}`, `l.kind = ${p.add(label[0])}`, `l.value = ${p.add(label[1])}`]
        : [`m.app_id = ${p.add(appId)}`];
      if (also) {
        // As a semi-join, the planner starts from the rarer of the two labels (its statistics say which).
        where.push(`EXISTS (SELECT 1 FROM message_labels x WHERE x.app_id = l.app_id AND x.kind = ${p.add(also[0])}
          AND x.value = ${p.add(also[1])} AND x.msg_id = l.msg_id AND x.created_at = l.created_at)`);
      }
      // Through the label's rows when there is one; their time bounds prune their partitions.
      const alias = label ? 'l' : 'm';
      timeFilters(`${alias}.created_at`, where, p, query);
      const byType = !label && (query.eventTypes?.length ?? 0) > 0;
      messageFilters('m', where, p, byType ? { ...rest, eventTypes: null } : rest);
      const page = await keysetPage(
        db,
        {
          select: `SELECT ${messageHead('m')} FROM ${label ? LABELLED : 'messages m'}`,
          where,
          params: p,
          key: label ? 'l.msg_id' : 'm.id',
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
          timeColumn: `${alias}.created_at`,
          ...(query.withContent === false ? {} : { bytes: payloadBytes }),
          ...(byType ? { oneOf: { column: 'm.event_type', values: query.eventTypes! } } : {}),
        },
        (r) => r,
      );
      return { ...page, data: await withPayloads(db, page.data, query.withContent) };
    },
    async expungeContent(appId, msgId) {
      const at = idTime(msgId);
      return at !== null && (await db.run(EXPUNGE, [msgId, at, appId])) > 0;
    },
    expungeAll(appId, before) {
      // One short statement per chunk, each its own commit, as a recovery goes.
      return byChunks(db, EXPUNGE_ALL, [appId, idFloor('msg', before)]);
    },
    async expireBatch(now, limit) {
      // Partition upkeep and analysis piggyback on the retention sweep (see postgres-store.ts).
      await maintain(now);
      // One short statement per batch; the caller loops until it returns 0.
      await db.run(EXPIRE_IDEMPOTENCY, [now, limit]);
      return db.run(EXPIRE, [now, limit]);
    },
  };
}
