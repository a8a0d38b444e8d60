// Rows to domain objects, shared by the drivers: both schemas use the same column names. A driver says
// how its JSON columns arrive (SQLite: text; PostgreSQL: already parsed); booleans come as 0/1 or
// true/false and both read right through Boolean().

import { idFloor } from '../core/ids.ts';
import type {
  Application,
  Attempt,
  DeliveryTask,
  Endpoint,
  EventType,
  Message,
  TaskNext,
  TaskStatusName,
  TriggerTypeName,
} from '../core/types.ts';
import { TASK_STATUS_NAMES, TaskStatus, TriggerType } from '../core/types.ts';
import type { AttemptQuery, MessageFilters } from './store.ts';

export type Row = Record<string, unknown>;

const HEAD = [
  'id',
  'app_id',
  'event_type',
  'event_id',
  'channels',
  'created_at',
  'expires_at',
  'deliver_at',
  'tags',
];

/**
 * The columns of messages alias `m` but the payload, and the payload's size in bytes (payload_bytes):
 * lists read payloads only for a page already cut to size (PAGE_BYTES), or not at all.
 */
export const messageHead = (m: string): string =>
  `${HEAD.map((c) => `${m}.${c}`).join(', ')}, octet_length(${m}.payload) AS payload_bytes`;

/** A row's payload_bytes (see messageHead), as keyset pages weigh them. */
export const payloadBytes = (r: Row): number => Number(r.payload_bytes ?? 0);

/** A label row's kind: a message's channel or tag, as message_labels holds them. */
export type LabelKind = 'c' | 't';

/**
 * The labels a list is filtered by (its channel, then its tag), and the filters left besides them. A
 * list reads through one label's rows, newest first (the rarer, given two), and checks the other on each
 * message.
 */
export function listLabels<Q extends MessageFilters>(
  query: Q,
): { labels: Array<[LabelKind, string]>; rest: Q } {
  const labels: Array<[LabelKind, string]> = [];
  if (query.channel) labels.push(['c', query.channel]);
  if (query.tag) labels.push(['t', query.tag]);
  return { labels, rest: { ...query, channel: null, tag: null } };
}

/** Whether a list is filtered by what its messages have (a channel, a tag, event types). */
export const filtersMessages = (query: MessageFilters): boolean =>
  Boolean(query.channel || query.tag || query.eventTypes?.length);

/** Messages counted per label, or over a list's event types, at most (about a millisecond). */
export const FEW = 10_000;

/** The filter a list reads through, and the query's other filters, checked on each of its messages. */
export type RareFilter<Q> =
  | { label: [LabelKind, string]; eventTypes?: undefined; rest: Q }
  | { label?: undefined; eventTypes: string[]; rest: Q };

/**
 * Of a list's filters on what its messages have, the one the fewest messages have (all its event types
 * together), when fewer than FEW do: the list then reads through those messages, where walking its own
 * index and checking each message may read the whole history. Counts are up to FEW.
 */
export function rareFilter<Q extends MessageFilters>(
  query: Q,
  counts: { labels: number[]; eventTypes: number },
): RareFilter<Q> | null {
  const candidates: Array<{ n: number; pick: RareFilter<Q> }> = listLabels(query).labels.map((label, i) => ({
    n: counts.labels[i]!,
    pick: { label, rest: { ...query, [label[0] === 'c' ? 'channel' : 'tag']: null } },
  }));
  if ((query.eventTypes?.length ?? 0) > 0) {
    const eventTypes = [...new Set(query.eventTypes)];
    candidates.push({ n: counts.eventTypes, pick: { eventTypes, rest: { ...query, eventTypes: null } } });
  }
  const [best] = candidates.filter((c) => c.n < FEW).sort((a, b) => a.n - b.n);
  return best?.pick ?? null;
}

export const statusName = (status: number): TaskStatusName => TASK_STATUS_NAMES[status] ?? 'pending';

/**
 * An endpoint stats' range as bounds on its tasks' message ids, which begin with the message's creation
 * time (core/ids.ts), as the tasks' own: the endpoint's index seeks to the range, where a filter on the
 * time column read the endpoint's whole history (500,000 tasks over 90 days on SQLite: 135 → 55 ms).
 */
export const statsWindow = (range: { since?: number | null; until?: number | null }): [string, string] => [
  range.since == null ? 'msg_' : idFloor('msg', range.since),
  range.until == null ? 'msg_~' : idFloor('msg', range.until),
];

const triggerName = (n: unknown): TriggerTypeName => (n === TriggerType.manual ? 'manual' : 'scheduled');

export function toTask(r: Row): DeliveryTask {
  return {
    id: r.id as string,
    appId: r.app_id as string,
    msgId: r.msg_id as string,
    endpointId: r.endpoint_id as string,
    status: statusName(r.status as number),
    attempts: r.attempts as number,
    nextAt: r.next_at as number | null,
    leaseUntil: r.lease_until as number | null,
    trigger: triggerName(r.trigger_type),
    rateSlot: Number(r.rate_wait) === 1,
    restore: r.restore_status == null ? null : toNext(r.restore_status as number, r.restore_at),
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

/** A task's next state from its status and next_at columns (the inverse of taskColumns). */
function toNext(status: number, at: unknown): TaskNext {
  if (status === TaskStatus.success) return { status: 'success' };
  if (status === TaskStatus.pending) return { status: 'pending', at: at as number };
  return { status: 'fail' };
}

/** A task's next state as its status and next_at columns. */
export function taskColumns(next: TaskNext): [status: number, nextAt: number | null] {
  switch (next.status) {
    case 'success':
      return [TaskStatus.success, null];
    case 'pending':
      return [TaskStatus.pending, next.at];
    case 'fail':
      return [TaskStatus.fail, null];
    default: {
      const _exhaustive: never = next;
      return _exhaustive;
    }
  }
}

/**
 * An attempt list's status and status-code-class filters as WHERE terms on `a`, in literals the failed
 * attempts' partial index matches. An attempt succeeded exactly when its response was a 2xx, so a class
 * names a status too: a rare class among an endpoint's many attempts is then found through that index
 * (500,000 attempts: 270 ms before, 9 ms).
 */
export function attemptStatusTerms({ status, statusCodeClass: cls }: AttemptQuery): string[] {
  const terms: string[] = [];
  if (status != null) terms.push(`a.status = ${status === 'success' ? 0 : 2}`);
  if (cls == null) return terms;
  terms.push(`a.status = ${cls === 200 ? 0 : 2}`);
  // 0: no response; otherwise the hundreds class (100 = 1xx … 500 = 5xx).
  const code = Number(cls);
  terms.push(
    code === 0 ? 'a.response_status_code = 0' : `a.response_status_code BETWEEN ${code} AND ${code + 99}`,
  );
  return terms;
}

export function toAttempt(r: Row): Attempt {
  return {
    id: r.id as string,
    appId: r.app_id as string,
    msgId: r.msg_id as string,
    endpointId: r.endpoint_id as string,
    url: r.url as string,
    status: r.status === 0 ? 'success' : 'fail',
    responseStatusCode: r.response_status_code as number,
    response: r.response as string,
    responseDurationMs: r.response_duration_ms as number,
    triggerType: triggerName(r.trigger_type),
    createdAt: r.created_at as number,
  };
}

/** Mappers for the tables with JSON columns, given how the driver decodes a (non-null) JSON value. */
export function jsonRows(decode: (value: unknown) => unknown) {
  const json = <T>(value: unknown): T => (value === null || value === undefined ? null : decode(value)) as T;
  return {
    app: (r: Row): Application => ({
      id: r.id as string,
      uid: r.uid as string | null,
      name: r.name as string,
      rateLimit: r.rate_limit as number | null,
      metadata: json(r.metadata),
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    }),
    eventType: (r: Row): EventType => ({
      name: r.name as string,
      description: r.description as string,
      schemas: r.schemas as string | null, // text in both drivers: the exact JSON given
      archived: Boolean(r.archived),
      deprecated: Boolean(r.deprecated),
      featureFlag: r.feature_flag as string | null,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    }),
    endpoint: (r: Row): Endpoint => ({
      id: r.id as string,
      appId: r.app_id as string,
      uid: r.uid as string | null,
      url: r.url as string,
      description: r.description as string,
      version: r.version as number,
      rateLimit: r.rate_limit as number | null,
      disabled: Boolean(r.disabled),
      filterTypes: json(r.filter_types),
      channels: json(r.channels),
      metadata: json(r.metadata),
      headers: json(r.headers),
      secrets: json(r.secrets),
      failingSince: r.failing_since as number | null,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    }),
    message: (r: Row): Message => ({
      id: r.id as string,
      appId: r.app_id as string,
      eventType: r.event_type as string,
      eventId: r.event_id as string | null,
      channels: json(r.channels),
      payload: (r.payload ?? null) as string | null,
      createdAt: r.created_at as number,
      expiresAt: r.expires_at as number,
      deliverAt: r.deliver_at as number | null,
      tags: json(r.tags),
    }),
  };
}

/** In name order: two transactions writing the same event types lock them in one order, never deadlock. */
export const inNameOrder = <T extends { eventType: EventType }>(writes: readonly T[]): T[] =>
  [...writes].sort((a, b) => (a.eventType.name < b.eventType.name ? -1 : 1));
