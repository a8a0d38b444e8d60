// Domain objects to Svix-shaped DTOs. Times become ISO-8601; renamed fields are sent under both names.
import type {
  Application,
  Attempt,
  DeliveryTask,
  Endpoint,
  EventType,
  Message,
  Page,
} from '../core/types.ts';
import { shownStatus, TaskStatus, TriggerType } from '../core/types.ts';

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function applicationOut(app: Application) {
  return {
    id: app.id,
    uid: app.uid,
    name: app.name,
    metadata: app.metadata,
    throttleRate: app.rateLimit,
    rateLimit: app.rateLimit,
    createdAt: iso(app.createdAt),
    updatedAt: iso(app.updatedAt),
  };
}

/** EventTypeOut as JSON text: the schemas' text is spliced in as it was given (EventType.schemas). */
export function eventTypeJson(eventType: EventType, withContent = true): string {
  const head = JSON.stringify({
    name: eventType.name,
    description: eventType.description,
    archived: eventType.archived,
    deprecated: eventType.deprecated,
    featureFlag: eventType.featureFlag,
    featureFlags: eventType.featureFlag === null ? null : [eventType.featureFlag],
    createdAt: iso(eventType.createdAt),
    updatedAt: iso(eventType.updatedAt),
  });
  return withContent ? `${head.slice(0, -1)},"schemas":${eventType.schemas ?? 'null'}}` : head;
}

export function endpointOut(endpoint: Endpoint) {
  return {
    id: endpoint.id,
    uid: endpoint.uid,
    url: endpoint.url,
    description: endpoint.description,
    version: endpoint.version,
    disabled: endpoint.disabled,
    eventTypes: endpoint.filterTypes,
    filterTypes: endpoint.filterTypes,
    channels: endpoint.channels,
    metadata: endpoint.metadata,
    throttleRate: endpoint.rateLimit,
    rateLimit: endpoint.rateLimit,
    createdAt: iso(endpoint.createdAt),
    updatedAt: iso(endpoint.updatedAt),
  };
}

/** A task's status fields, as shown (see shownStatus). */
export function statusFields(task: DeliveryTask) {
  const { status, nextAt } = shownStatus(task);
  return { status: TaskStatus[status], statusText: status, nextAttempt: isoOrNull(nextAt) };
}

export function attemptOut(attempt: Attempt, withContent = true) {
  return {
    id: attempt.id,
    msgId: attempt.msgId,
    endpointId: attempt.endpointId,
    url: attempt.url,
    response: withContent ? attempt.response : '{}', // as Svix answers without content
    responseStatusCode: attempt.responseStatusCode,
    responseDurationMs: attempt.responseDurationMs,
    status: TaskStatus[attempt.status],
    statusText: attempt.status,
    triggerType: TriggerType[attempt.triggerType],
    timestamp: iso(attempt.createdAt),
  };
}

/**
 * MessageOut as JSON text. The payload is spliced in as stored, so integers beyond 2^53, key order and
 * number spelling come back exactly as published (a JSON.parse round trip would change them).
 */
export function messageJson(message: Message, withContent: boolean, extra: object = {}): string {
  const head = JSON.stringify({
    id: message.id,
    eventType: message.eventType,
    eventId: message.eventId,
    channels: message.channels,
    ...(message.deliverAt === null ? {} : { deliverAt: iso(message.deliverAt) }),
    ...(message.tags === null ? {} : { tags: message.tags }),
    timestamp: iso(message.createdAt),
    ...extra,
  });
  // The field is required in MessageOut: without content it is {}; once the payload expired or was
  // expunged, {"expired":true}, as Svix says it.
  const payload = withContent ? (message.payload ?? '{"expired":true}') : '{}';
  return `${head.slice(0, -1)},"payload":${payload}}`;
}

/**
 * A message's JSON without its payload (`{}` in its place): messageJson writes the payload last, and
 * the fields before it are JSON strings, where `,"payload":` cannot appear (their quotes are escaped).
 */
export function withoutPayload(json: string, payload = '{}'): string {
  return `${json.slice(0, json.indexOf(',"payload":'))},"payload":${payload}}`;
}

export function pageOut<T, U>(page: Page<T>, map: (item: T) => U) {
  return {
    data: page.data.map(map),
    iterator: page.iterator,
    prevIterator: page.prevIterator,
    done: page.done,
  };
}

/** A list response whose items are already JSON text. */
export function pageJson<T>(page: Page<T>, toJson: (item: T) => string): string {
  const tail = JSON.stringify({ iterator: page.iterator, prevIterator: page.prevIterator, done: page.done });
  return `{"data":[${page.data.map(toJson).join(',')}],${tail.slice(1)}`;
}
