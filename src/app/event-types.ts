// Event types: the catalogue of kinds of events. Reads are open to app tokens; writes are admin-only.
// Archived types are refused for new messages and new endpoint filters (checkNotArchived).
import { invalid, notFound } from '../core/errors.ts';
import type { EventType, Page } from '../core/types.ts';
import type { EventTypeQuery } from '../store/store.ts';
import { type AppDeps, mapConflict, requireAdmin, type Scope, upsert } from './context.ts';
import type { PublishCache } from './publish-cache.ts';

/** Writes also forget the publish path's cached copy. */
export interface EventTypeDeps extends AppDeps {
  cache: PublishCache;
}

export interface EventTypeInput {
  name: string;
  description: string;
  schemas?: Record<string, unknown> | null;
  archived?: boolean;
  deprecated?: boolean;
  featureFlag?: string | null;
}

export type EventTypePatch = Partial<Omit<EventTypeInput, 'name'>>;

// Far beyond any real JSON schema, and far below the nesting at which storing or answering it would
// exhaust the stack (a 500 at about 4,000 levels).
const MAX_SCHEMA_DEPTH = 100;

/** The schemas as given, refused (422) when nested deeper than MAX_SCHEMA_DEPTH. */
function checkSchemas(schemas: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  const pending: Array<[unknown, number]> = [[schemas, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_SCHEMA_DEPTH)
      throw invalid(['body', 'schemas'], `must not be nested more than ${MAX_SCHEMA_DEPTH} levels deep`);
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  return schemas ?? null;
}

function build(input: EventTypeInput, now: number): EventType {
  return {
    name: input.name,
    description: input.description,
    schemas: checkSchemas(input.schemas),
    archived: input.archived ?? false,
    deprecated: input.deprecated ?? false,
    featureFlag: input.featureFlag ?? null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Creates the event type, or unarchives an archived one as the body describes it (as Svix does): 409 if live. */
export async function createEventType(
  deps: EventTypeDeps,
  scope: Scope,
  input: EventTypeInput,
): Promise<EventType> {
  requireAdmin(scope);
  const eventType = build(input, deps.now());
  const existing = await deps.store.eventTypes.get(input.name);
  if (existing?.archived) {
    const revived = { ...eventType, archived: false, createdAt: existing.createdAt };
    await deps.store.eventTypes.update(revived);
    deps.cache.forgetEventType(input.name);
    return revived;
  }
  await mapConflict(deps.store.eventTypes.create(eventType));
  deps.cache.forgetEventType(input.name);
  return eventType;
}

/** An app token sees event types without a feature flag, and those whose flag it was issued with. */
export const visible = (scope: Scope, eventType: EventType): boolean =>
  scope.kind === 'admin' ||
  eventType.featureFlag === null ||
  scope.featureFlags.includes(eventType.featureFlag);

export async function getEventType(deps: AppDeps, scope: Scope, name: string): Promise<EventType> {
  const eventType = await deps.store.eventTypes.get(name);
  if (!eventType || !visible(scope, eventType)) throw notFound('event type');
  return eventType;
}

export function listEventTypes(
  deps: AppDeps,
  scope: Scope,
  query: Omit<EventTypeQuery, 'featureFlags'>,
): Promise<Page<EventType>> {
  const featureFlags = scope.kind === 'app' ? scope.featureFlags : undefined;
  return deps.store.eventTypes.list({ ...query, featureFlags });
}

/** PUT: replaces the event type or creates it. */
export async function upsertEventType(
  deps: EventTypeDeps,
  scope: Scope,
  input: EventTypeInput,
): Promise<{ eventType: EventType; created: boolean }> {
  requireAdmin(scope);
  const result = await upsert(async () => {
    const now = deps.now();
    const existing = await deps.store.eventTypes.get(input.name);
    if (!existing) {
      const eventType = build(input, now);
      await deps.store.eventTypes.create(eventType);
      return { eventType, created: true };
    }
    const eventType: EventType = { ...build(input, now), createdAt: existing.createdAt };
    await deps.store.eventTypes.update(eventType);
    return { eventType, created: false };
  });
  deps.cache.forgetEventType(input.name);
  return result;
}

export async function patchEventType(
  deps: EventTypeDeps,
  scope: Scope,
  name: string,
  patch: EventTypePatch,
): Promise<EventType> {
  requireAdmin(scope);
  const existing = await getEventType(deps, scope, name);
  const eventType: EventType = {
    ...existing,
    description: patch.description ?? existing.description,
    schemas: patch.schemas !== undefined ? checkSchemas(patch.schemas) : existing.schemas,
    archived: patch.archived ?? existing.archived,
    deprecated: patch.deprecated ?? existing.deprecated,
    featureFlag: patch.featureFlag !== undefined ? patch.featureFlag : existing.featureFlag,
    updatedAt: deps.now(),
  };
  await deps.store.eventTypes.update(eventType);
  deps.cache.forgetEventType(name);
  return eventType;
}

/** Svix archives on delete; `expunge` removes the row for good. */
export async function deleteEventType(
  deps: EventTypeDeps,
  scope: Scope,
  name: string,
  expunge: boolean,
): Promise<void> {
  requireAdmin(scope);
  const existing = await getEventType(deps, scope, name);
  if (expunge) await deps.store.eventTypes.delete(name);
  else await deps.store.eventTypes.update({ ...existing, archived: true, updatedAt: deps.now() });
  deps.cache.forgetEventType(name);
}

/**
 * Svix: once archived, "new messages can not be sent with it and endpoints can not filter on it".
 * `loc` names the field that named it.
 */
export function checkNotArchived(eventType: EventType | null, loc: readonly string[]): void {
  if (eventType?.archived) {
    throw invalid(loc, `event type ${eventType.name} is archived; create it again to unarchive it`);
  }
}

/** An example payload for send-example: the first `examples` entry of the newest schema, or {}. */
export function examplePayload(eventType: EventType | null): unknown {
  const schemas = eventType?.schemas;
  if (!schemas) return {};
  const versions = Object.keys(schemas).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const schema = schemas[version] as { examples?: unknown[]; example?: unknown } | undefined;
    if (Array.isArray(schema?.examples) && schema.examples.length > 0) return schema.examples[0];
    if (schema?.example !== undefined) return schema.example;
  }
  return {};
}
