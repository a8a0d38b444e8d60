// Messages: the publish hot path (messages and their tasks in one commit), lookups, lists, retention.

import { idFloor, newId } from '../../core/ids.ts';
import { type DeliveryTask, type Endpoint, type Message, TaskStatus } from '../../core/types.ts';
import { listLabels, messageHead, payloadBytes } from '../rows.ts';
import {
  type ClaimedTask,
  dueAtOf,
  type OfferedPublish,
  type PublishItem,
  type PublishResult,
  type Store,
  type TaskOffer,
} from '../store.ts';
import { type Db, json, mapRow, messageFilters, type Row, timeFilters } from './db.ts';
import { keepResponse } from './kv-sql.ts';
import { keysetPage } from './paginate.ts';
import { labelCount } from './rare-filter.ts';

const BY_EVENT_ID = 'SELECT * FROM messages WHERE app_id = ? AND event_id = ?';
const PAYLOADS = 'SELECT id, payload FROM messages WHERE id IN (SELECT value FROM json_each(?))';

const INSERT_MESSAGE = `INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, created_at,
  expires_at, deliver_at, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const INSERT_TASK = `INSERT INTO tasks (id, app_id, msg_id, endpoint_id, status, attempts, next_at, lease_until,
  created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`;
const { pending: PENDING, sending: SENDING } = TaskStatus;
// Anything a claim would take: a due pending task, or a sending task whose lease has ended.
const ANY_DUE = `SELECT EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_due WHERE status = 1 AND next_at <= ?)
  OR EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_leased WHERE status = 3 AND lease_until <= ?)`;

export type SqliteMessages = Store['messages'] & {
  /**
   * publish, handing the new tasks to `offer`'s worker while nothing else is due: a task never skips
   * ahead of one a claim would take, so retries and backlogs keep their turn. Once one task of the
   * call is left pending, the rest are too.
   */
  publishOffering(items: PublishItem[], offer: TaskOffer): Promise<OfferedPublish>;
};

function leasedTask(
  id: string,
  m: Message,
  endpointId: string,
  leaseUntil: number,
  now: number,
): DeliveryTask {
  return {
    id,
    appId: m.appId,
    msgId: m.id,
    endpointId,
    status: 'sending',
    attempts: 0,
    nextAt: null,
    leaseUntil,
    trigger: 'scheduled',
    rateSlot: false,
    restore: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Deletes these messages with their tasks and attempts; returns how many messages went. */
export function deleteMessages(db: Db, ids: string[]): number {
  const list = JSON.stringify(ids);
  db.run('DELETE FROM attempts WHERE msg_id IN (SELECT value FROM json_each(?))', list);
  db.run('DELETE FROM tasks WHERE msg_id IN (SELECT value FROM json_each(?))', list);
  return db.run('DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))', list);
}

/** Messages from rows of messageHead, with their payloads read now, unless `withContent` is false. */
function withPayloads(db: Db, rows: Row[], withContent = true): Message[] {
  const payloads = new Map<unknown, unknown>();
  if (withContent) {
    const ids = JSON.stringify(rows.map((r) => r.id));
    for (const r of db.all(PAYLOADS, ids)) payloads.set(r.id, r.payload);
  }
  return rows.map((r) => mapRow.message({ ...r, payload: payloads.get(r.id) }));
}

// An application's messages after a cursor and before an id (expungeAll), as many as the retention sweeps
// at once (250: a few ms of the writer each).
const EXPUNGE_ALL_CHUNK = `SELECT id FROM messages INDEXED BY messages_app WHERE app_id = ? AND id > ? AND id < ?
  ORDER BY id LIMIT 250`;
const EXPUNGE_ALL = `UPDATE messages SET payload = NULL
  WHERE app_id = ? AND id > ? AND id <= ? AND payload IS NOT NULL`;

/** `retentionMs`: messages older than this are deleted by expireBatch, with their tasks and attempts. */
export function messagesSql(db: Db, retentionMs: number | null = null): SqliteMessages {
  const byEventId = db.stmt(BY_EVENT_ID);
  const insertMessage = db.stmt(INSERT_MESSAGE);
  const insertTask = db.stmt(INSERT_TASK);
  const anyDue = db.stmt(ANY_DUE).pluck();
  const endpointById = db.stmt('SELECT * FROM endpoints WHERE id = ?');
  const appExists = db.stmt('SELECT EXISTS (SELECT 1 FROM apps WHERE id = ?)').pluck();
  let retiredAfter = ''; // where expireBatch's walk of the messages past retention goes on from

  /** Inserts the messages and their tasks; runs inside a grouped job. */
  function insert(items: PublishItem[], offer: TaskOffer | null): OfferedPublish {
    const handed: ClaimedTask[] = [];
    let queued = 0;
    let open = offer !== null && items.length > 0 && anyDue.get(items[0]!.now, items[0]!.now) === 0;
    const endpoints = new Map<string, Endpoint | undefined>();
    const endpoint = (id: string): Endpoint | undefined => {
      if (!endpoints.has(id)) {
        const row = endpointById.get(id) as Row | undefined;
        endpoints.set(id, row && mapRow.endpoint(row));
      }
      return endpoints.get(id);
    };
    // An app deleted after the caller looked it up (checked in the write transaction, once per app).
    const apps = new Map<string, boolean>();
    const live = (appId: string): boolean => {
      if (!apps.has(appId)) apps.set(appId, appExists.get(appId) === 1);
      return apps.get(appId)!;
    };
    const results = items.map((item): PublishResult => {
      const m = item.message;
      if (!live(m.appId)) return { ok: false, conflict: 'appDeleted' };
      if (m.eventId !== null) {
        // Checked inside the write transaction, so also catches a duplicate earlier in this batch.
        const existing = byEventId.get(m.appId, m.eventId) as Row | undefined;
        if (existing) return { ok: false, conflict: 'eventId', existing: mapRow.message(existing) };
      }
      insertMessage.run(
        m.id,
        m.appId,
        m.eventType,
        m.eventId,
        json(m.channels),
        m.payload,
        m.createdAt,
        m.expiresAt,
        m.deliverAt,
        json(m.tags),
      );
      if (item.kept) keepResponse(db, item.kept);
      const dueAt = dueAtOf(m, item.now);
      for (const endpointId of new Set(item.endpointIds)) {
        // An endpoint deleted since the caller listed it (a publish in flight, or one reading a cached
        // list) gets no task, which would fail unsent and unseen; nor does an endpoint of another app.
        const target = endpoint(endpointId);
        if (target?.appId !== m.appId) continue;
        const id = newId('task', item.now);
        if (open && dueAt === item.now && offer!.take(endpointId, m.appId)) {
          const leaseUntil = item.now + offer!.leaseMs;
          insertTask.run(id, m.appId, m.id, endpointId, SENDING, null, leaseUntil, item.now, item.now);
          handed.push({
            task: leasedTask(id, m, endpointId, leaseUntil, item.now),
            message: m,
            endpoint: target,
          });
        } else {
          open = false;
          queued++;
          insertTask.run(id, m.appId, m.id, endpointId, PENDING, dueAt, null, item.now, item.now);
        }
      }
      return { ok: true };
    });
    return { results, handed, queued };
  }

  return {
    publish(items) {
      return db.grouped(() => insert(items, null).results);
    },
    publishOffering(items, offer) {
      return db.grouped(() => insert(items, offer));
    },
    async get(appId, idOrEventId) {
      const row =
        db.get('SELECT * FROM messages WHERE id = ? AND app_id = ?', idOrEventId, appId) ??
        db.get(BY_EVENT_ID, appId, idOrEventId);
      return row ? mapRow.message(row) : null;
    },
    async list(appId, query) {
      const { labels, rest } = listLabels(query);
      // Given two, through the one fewer messages have: the other is checked on each.
      if (labels.length === 2 && labelCount(db, appId, labels[1]!) < labelCount(db, appId, labels[0]!))
        labels.reverse();
      const [label, also] = labels;
      // Through the label's rows when there is one (CROSS JOIN: SQLite then reads them first).
      const [from, key] = label
        ? ['message_labels l CROSS JOIN messages m ON m.id = l.msg_id', 'l.msg_id']
        : ['messages m', 'm.id'];
      const where = label ? ['l.app_id = ?', 'l.kind = ?', 'l.value = ?'] : ['m.app_id = ?'];
      const params: unknown[] = label ? [appId, ...label] : [appId];
      if (also) {
        where.push(
          'EXISTS (SELECT 1 FROM message_labels x WHERE (x.app_id, x.kind, x.value, x.msg_id) = (?, ?, ?, m.id))',
        );
        params.push(appId, ...also);
      }
      timeFilters('m.created_at', where, params, query, { key, prefix: 'msg' });
      const byType = !label && (query.eventTypes?.length ?? 0) > 0;
      messageFilters('m', where, params, byType ? { ...rest, eventTypes: null } : rest);
      const page = keysetPage(
        db,
        {
          select: `SELECT ${messageHead('m')} FROM ${from}`,
          where,
          params,
          key,
          keyOf: (r) => r.id as string,
          page: query,
          defaultOrder: 'descending',
          ...(query.withContent === false ? {} : { bytes: payloadBytes }),
          ...(byType ? { oneOf: { column: 'm.event_type', values: query.eventTypes! } } : {}),
        },
        (r) => r,
      );
      return { ...page, data: withPayloads(db, page.data, query.withContent) };
    },
    async expungeContent(appId, msgId) {
      return db.run('UPDATE messages SET payload = NULL WHERE id = ? AND app_id = ?', msgId, appId) > 0;
    },
    async expungeAll(appId, before) {
      // A chunk of the application's messages at a time, in id order (ids begin with their creation
      // time), each chunk a commit of its own: on the one writer, an application of a million messages
      // would otherwise hold every publish and delivery until it ended.
      const end = idFloor('msg', before);
      let [cursor, expunged] = ['', 0];
      for (;;) {
        const chunk = await db.grouped(() => {
          const last = db.all<{ id: string }>(EXPUNGE_ALL_CHUNK, appId, cursor, end).at(-1)?.id;
          if (last === undefined) return { last, n: 0 };
          return { last, n: db.run(EXPUNGE_ALL, appId, cursor, last) };
        });
        expunged += chunk.n;
        if (chunk.last === undefined) return expunged;
        cursor = chunk.last;
      }
    },
    async expireBatch(now, limit) {
      // One short transaction per batch; the caller loops until it returns 0. Not durable: a batch lost in
      // a crash is expired again.
      return db.grouped(() => {
        db.run(
          'DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? LIMIT ?)',
          now,
          limit,
        );
        const expired = db.run(
          `UPDATE messages SET payload = NULL WHERE rowid IN
           (SELECT rowid FROM messages WHERE expires_at <= ? AND payload IS NOT NULL ORDER BY expires_at LIMIT ?)`,
          now,
          limit,
        );
        if (retentionMs === null) return expired;
        // Ids begin with their creation time: the oldest first. A message whose payload is still kept
        // (its own retention, from deliverAt on, ends later) stays until the payload expires, and one
        // with a delivery still to try (its payload gone, it fails unsent) until it has; as on PostgreSQL.
        // Those stay first in line, so each batch reads on from where the last one stopped: a sweep
        // reads them once, not once a batch. Read, they count as touched: the caller goes on.
        const seen = db
          .all<{ id: string }>(
            `SELECT id FROM messages INDEXED BY messages_retired WHERE payload IS NULL AND id > ? AND id < ?
             ORDER BY id LIMIT ?`,
            retiredAfter,
            idFloor('msg', now - retentionMs),
            limit,
          )
          .map((m) => m.id);
        retiredAfter = seen.at(-1) ?? ''; // all read: the next sweep starts over
        const old = db
          .all<{ id: string }>(
            `SELECT value AS id FROM json_each(?) WHERE NOT EXISTS
               (SELECT 1 FROM tasks WHERE msg_id = value AND status IN (${PENDING}, ${SENDING}))`,
            JSON.stringify(seen),
          )
          .map((m) => m.id);
        deleteMessages(db, old);
        return expired + seen.length;
      }, false);
    },
  };
}
