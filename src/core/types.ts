// Domain types shared by every layer. Times are epoch milliseconds (numbers) inside the engine;
// the HTTP edge turns them into ISO-8601 strings.

export type Metadata = Record<string, string>;

export interface Application {
  id: string; // app_…
  uid: string | null;
  name: string;
  rateLimit: number | null; // messages per second, applied to each endpoint that sets none
  metadata: Metadata;
  createdAt: number;
  updatedAt: number;
}

export interface EventType {
  name: string;
  description: string;
  // The JSON text of an object of versions' schemas, exactly as given: its examples are sent as written.
  schemas: string | null;
  archived: boolean;
  deprecated: boolean;
  featureFlag: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface EndpointSecret {
  key: string; // whsec_… (symmetric)
  expiresAt: number | null; // null: the current secret; otherwise an old one signing until then
}

export interface Endpoint {
  id: string; // ep_…
  appId: string;
  uid: string | null;
  url: string;
  description: string;
  version: number;
  rateLimit: number | null; // messages per second; null: unlimited
  disabled: boolean;
  filterTypes: string[] | null; // null: every event type
  channels: string[] | null; // null: every message regardless of its channels
  metadata: Metadata;
  headers: Record<string, string>;
  secrets: EndpointSecret[]; // newest first; secrets[0] is current
  failingSince: number | null; // start of the current run of failed attempts
  createdAt: number;
  updatedAt: number;
}

export interface Message {
  id: string; // msg_…
  appId: string;
  eventType: string;
  eventId: string | null;
  channels: string[] | null;
  payload: string | null; // the exact JSON bytes to send (UTF-8); null once expunged or expired
  createdAt: number;
  expiresAt: number; // payload retention
  deliverAt: number | null; // MessageIn.deliverAt: its first attempts wait until then; null: at once
  tags: string[] | null; // free-form, for filtering lists
}

/** A message's payload is a JSON object (MessageIn.payload), as its receivers and SDKs expect. */
/**
 * Free text: any string without U+0000, which a PostgreSQL text column cannot hold, nor an unpaired
 * surrogate (a JSON escape such as \ud800), which is not UTF-8 and would read back changed. Written to
 * mean the same with and without the u flag (Ajv has it, generated clients' regexes often not): any
 * character but NUL and surrogates, or a surrogate pair.
 */
export const PLAIN_TEXT = '^(?:[^\\u0000\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$';

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Delivery state of one message for one endpoint (Svix MessageStatus). */
export const TaskStatus = { success: 0, pending: 1, fail: 2, sending: 3 } as const;
export type TaskStatusName = keyof typeof TaskStatus;
/** The status names by their TaskStatus number (Svix's MessageStatus). */
export const TASK_STATUS_NAMES: readonly TaskStatusName[] = ['success', 'pending', 'fail', 'sending'];

/** What a task becomes after an attempt. */
export type TaskNext = { status: 'success' } | { status: 'pending'; at: number } | { status: 'fail' };

export interface DeliveryTask {
  id: string; // task_…
  appId: string;
  msgId: string;
  endpointId: string;
  status: TaskStatusName;
  attempts: number; // scheduled attempts made so far: the retry schedule's position (manual ones don't move it)
  nextAt: number | null; // when the next attempt is due (pending only)
  leaseUntil: number | null; // while sending: the lease
  trigger: TriggerTypeName; // what made the next attempt due: the schedule, or a resend or recover
  rateSlot: boolean; // put back until its rate-limit slot, and claimed in time for it (SLOT_GRACE_MS): sent at once
  restore: TaskNext | null; // while a manual attempt is due or in flight: where its failure leaves the task
  createdAt: number;
  updatedAt: number;
}

/**
 * The status and next attempt the API shows for a task. While a manual attempt (resend, recover) is queued
 * or in flight, that is the state its failure would return to: as in Svix, a message's status for an
 * endpoint changes only when an attempt ends.
 */
export function shownStatus(task: Pick<DeliveryTask, 'status' | 'nextAt' | 'restore'>): {
  status: TaskStatusName;
  nextAt: number | null;
} {
  const restore = task.restore;
  // While sending, a nextAt is a resend queued behind the attempt: no next attempt is shown.
  if (restore === null)
    return { status: task.status, nextAt: task.status === 'sending' ? null : task.nextAt };
  return { status: restore.status, nextAt: restore.status === 'pending' ? restore.at : null };
}

export const TriggerType = { scheduled: 0, manual: 1 } as const;
export type TriggerTypeName = keyof typeof TriggerType;

export interface Attempt {
  id: string; // atmpt_…
  appId: string;
  msgId: string;
  endpointId: string;
  url: string;
  status: 'success' | 'fail';
  responseStatusCode: number; // 0 when no response arrived (connection error, timeout, blocked)
  response: string; // first bytes of the response body, or the reason no response arrived
  responseDurationMs: number;
  triggerType: TriggerTypeName;
  createdAt: number;
}

/** What the classification of one HTTP try says to do next. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number; penalty?: boolean }
  | { kind: 'disable'; reason: string }
  | { kind: 'fail'; reason: string };

/** A page of a keyset-paginated list, newest first unless asked otherwise. */
export interface Page<T> {
  data: T[];
  iterator: string | null; // pass back to get the next page
  prevIterator: string | null;
  done: boolean;
}

export interface PageQuery {
  limit: number;
  iterator?: string | null; // an id; a leading '-' asks for the page before it (prevIterator)
  order?: 'ascending' | 'descending';
}
