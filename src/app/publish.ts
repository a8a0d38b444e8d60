// Publishing: validate, match endpoints, then commit the message and its delivery tasks.
// Concurrent publishes are group-committed: one store transaction (one fsync) per batch.
import { createBatcher } from '../core/batcher.ts';
import { within } from '../core/deadline.ts';
import { conflict, notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { matches } from '../core/subscription.ts';
import type { Application, Message } from '../core/types.ts';
import { emit } from '../observability/events.ts';
import {
  type KeptResponse,
  PUBLISH_QUEUE_WAIT,
  type PublishItem,
  type PublishResult,
  type Store,
  StoreUnavailableError,
} from '../store/store.ts';
import { type ApplicationInput, createNamedApp, findApp } from './applications.ts';
import { type AppDeps, requireAdmin, requireCapability, type Scope } from './context.ts';
import { resolveEndpoint } from './endpoints.ts';
import { checkNotArchived, examplePayload, getEventType } from './event-types.ts';
import type { PublishCache } from './publish-cache.ts';

export interface Publisher {
  publish(item: PublishItem): Promise<PublishResult>;
  /** Resolves once everything submitted so far is committed. */
  drain(): Promise<void>;
}

// Publish batches committing at once: a batch's round trip to the store is not waited for by the next
// one, while batches stay large (the items of one event-loop turn share one). On SQLite, 4 beat 16 in
// the bench (fewer, larger store calls); on PostgreSQL each is a transaction on a pooled connection,
// which delivery needs too.
const BATCHES_IN_FLIGHT = 4;
const MAX_BATCH = 512;

/** Batches concurrent publishes into one store call; `onCommitted` runs after each batch (wake the worker). */
export function createPublisher(store: Store, onCommitted: () => void): Publisher {
  const commit = async (items: PublishItem[]): Promise<PublishResult[]> => {
    const results = await store.messages.publish(items);
    onCommitted();
    return results;
  };
  // A publish stuck behind batches that do not commit fails unsent after PUBLISH_QUEUE_WAIT.
  const batcher = createBatcher(commit, MAX_BATCH, BATCHES_IN_FLIGHT, PUBLISH_QUEUE_WAIT);
  return { publish: (item) => batcher.add(item), drain: () => batcher.drain() };
}

export interface PublishDeps extends AppDeps {
  cache: PublishCache;
  publisher: Publisher;
}

export interface PublishInput {
  eventType: string;
  eventId?: string | null;
  channels?: string[] | null;
  payload: string; // the exact JSON text of MessageIn.payload
  retentionMs?: number | null;
  application?: ApplicationInput | null;
  /** Epoch ms: the first attempts wait until then (one that has passed is at once). */
  deliverAt?: number | null;
  tags?: string[] | null;
}

/** What an idempotency key of the request replays once `message` is committed, kept in that commit. */
export type KeepFor = (message: Message) => KeptResponse;

async function commit(
  deps: PublishDeps,
  message: Message,
  endpointIds: string[],
  keep?: KeepFor,
): Promise<Message> {
  const item = { message, endpointIds, now: message.createdAt };
  const result = await deps.publisher.publish(keep ? { ...item, kept: keep(message) } : item);
  if (!result.ok && result.conflict === 'appDeleted') throw notFound('application');
  if (!result.ok) throw conflict(`a message with eventId ${message.eventId} already exists`);
  emit('message:published', {
    appId: message.appId,
    msgId: message.id,
    eventType: message.eventType,
    endpoints: endpointIds.length,
  });
  return message;
}

/**
 * The reads before a publish (each a cached lookup, with its own connection and statement limits) are
 * bounded together: on a database slow to answer, a publish is then answered within this, the queue's
 * wait and the publish statement's own limits (see docs/operations.md), the message unsent (an
 * application it creates may still be created: a retry with the same uid finds it).
 */
export const LOOKUPS_MS = 5_000;
const lookupsLate = () =>
  new StoreUnavailableError(
    `the database did not answer the reads before the publish within ${LOOKUPS_MS / 1000} s: retry`,
  );

/**
 * The application a message would be published to (null when it does not exist), read with the event
 * type, which must not be archived. Read together: on a database far away, each read after another is
 * a round trip more.
 */
async function appForEventType(
  deps: PublishDeps,
  scope: Scope,
  appIdOrUid: string,
  eventTypeName: string,
): Promise<Application | null> {
  const [eventType, app] = await Promise.all([
    deps.cache.eventType(deps.store, eventTypeName),
    findApp(deps, scope, appIdOrUid),
  ]);
  checkNotArchived(eventType, ['body', 'eventType']);
  return app;
}

export async function publishMessage(
  deps: PublishDeps,
  scope: Scope,
  appIdOrUid: string,
  input: PublishInput,
  keep?: KeepFor,
): Promise<Message> {
  // As in Svix: publishing is the operator's; an app-portal token manages endpoints and reads messages.
  requireAdmin(scope);
  const lookups = async () => {
    // The event type is checked before the application may be created.
    const found = await appForEventType(deps, scope, appIdOrUid, input.eventType);
    if (found) return { app: found, endpoints: await deps.cache.endpoints(deps.store, found.id) };
    const { app, created } = await createNamedApp(deps, scope, appIdOrUid, input.application);
    // An application this publish created has no endpoints yet.
    return { app, endpoints: created ? [] : await deps.cache.endpoints(deps.store, app.id) };
  };
  const { app, endpoints } = await within(lookups(), LOOKUPS_MS, lookupsLate);
  const now = deps.now();
  const message: Message = {
    id: newId('msg', now),
    appId: app.id,
    eventType: input.eventType,
    eventId: input.eventId ?? null,
    channels: input.channels ?? null,
    payload: input.payload,
    createdAt: now,
    // Kept for its retention after it is first sent, not only after it was published.
    expiresAt: Math.max(now, input.deliverAt ?? now) + (input.retentionMs ?? deps.config.retentionMs),
    deliverAt: input.deliverAt ?? null,
    tags: input.tags?.length ? input.tags : null,
  };
  const endpointIds = endpoints.filter((e) => !e.disabled && matches(e, message)).map((e) => e.id);
  return commit(deps, message, endpointIds, keep);
}

/**
 * The Svix SDK's message.precheck: whether a message of this event type and channels, published now,
 * would go to any endpoint (an archived type is refused as publishing refuses it).
 */
export async function precheckMessage(
  deps: PublishDeps,
  scope: Scope,
  appIdOrUid: string,
  input: Pick<PublishInput, 'eventType' | 'channels'>,
): Promise<boolean> {
  requireAdmin(scope);
  const app = await appForEventType(deps, scope, appIdOrUid, input.eventType);
  if (!app) throw notFound('application');
  const message = { eventType: input.eventType, channels: input.channels ?? null };
  return (await deps.cache.endpoints(deps.store, app.id)).some((e) => matches(e, message));
}

// Svix's test event: it needs no event type, and its payload is fixed.
const PING = { eventType: 'svix.ping', payload: '{"success": true}' };

/**
 * Publishes an example message of an event type (from its schema's examples, or {}) to one endpoint
 * only; `svix.ping` sends Svix's ping.
 */
export async function sendExample(
  deps: PublishDeps,
  scope: Scope,
  ref: { app: string; endpoint: string },
  eventTypeName: string,
  exampleIndex = 0,
  keep?: KeepFor,
): Promise<Message> {
  requireCapability(scope, 'CreateAttempts');
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  let payload = PING.payload;
  if (eventTypeName !== PING.eventType) {
    const eventType = await getEventType(deps, scope, eventTypeName);
    checkNotArchived(eventType, ['body', 'eventType']);
    payload = examplePayload(eventType, exampleIndex);
  }
  if (endpoint.disabled) throw conflict('the endpoint is disabled: enable it to send it an example');
  const now = deps.now();
  const message: Message = {
    id: newId('msg', now),
    appId: endpoint.appId,
    eventType: eventTypeName,
    eventId: null,
    channels: null,
    payload,
    createdAt: now,
    expiresAt: now + deps.config.retentionMs,
    deliverAt: null,
    tags: null,
  };
  return commit(deps, message, [endpoint.id], keep);
}
