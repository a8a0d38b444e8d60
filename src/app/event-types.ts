// Event types: the catalogue of kinds of events. Reads are open to app tokens; writes are admin-only.
// Archived types are refused for new messages and new endpoint filters (checkNotArchived).
import { conflict, invalid, notFound } from '../core/errors.ts';
import { rawElements, rawMember } from '../core/raw-json.ts';
import { type EventType, isJsonObject, type Page } from '../core/types.ts';
import type { EventTypeQuery } from '../store/store.ts';
import {
  type AppDeps,
  mapConflict,
  modify,
  refuseDotUid,
  requireAdmin,
  type Scope,
  upsert,
} from './context.ts';
import type { PublishCache } from './publish-cache.ts';

/** Writes also forget the publish path's cached copy. */
export interface EventTypeDeps extends AppDeps {
  cache: PublishCache;
}

export interface EventTypeInput {
  name: string;
  description: string;
  /** The JSON text of the schemas as the client wrote it (EventType.schemas). */
  schemas?: string | null;
  archived?: boolean;
  deprecated?: boolean;
  featureFlag?: string | null;
}

export type EventTypePatch = Partial<Omit<EventTypeInput, 'name'>>;

// Far beyond any real JSON schema, and far below the nesting at which storing or answering it would
// exhaust the stack (a 500 at about 4,000 levels).
const MAX_SCHEMA_DEPTH = 100;

/**
 * The schemas' text as given (null for none or `null`), refused (422) when nested deeper than
 * MAX_SCHEMA_DEPTH, or holding a number too large for a double (1e400 parses as Infinity: no JSON
 * library of a receiver could read such an example, and Svix's server refuses it too).
 */
function checkSchemas(
  text: string | null | undefined,
  loc: readonly string[] = ['body', 'schemas'],
): string | null {
  const schemas: unknown = text == null ? null : JSON.parse(text);
  const pending: Array<[unknown, number]> = [[schemas, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (typeof value === 'number' && !Number.isFinite(value))
      throw invalid(loc, 'holds a number too large to keep (beyond ±1.8e308)');
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_SCHEMA_DEPTH)
      throw invalid(loc, `must not be nested more than ${MAX_SCHEMA_DEPTH} levels deep`);
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  return schemas === null ? null : (text as string);
}

/** The event type `input` describes, as of `now` (its schemas checked at `loc`: checkSchemas). */
export function build(input: EventTypeInput, now: number, loc?: readonly string[]): EventType {
  return {
    name: input.name,
    description: input.description,
    schemas: checkSchemas(input.schemas, loc),
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
  const existing = await deps.store.eventTypes.get(input.name);
  if (!existing) {
    refuseDotUid(input.name, ['body', 'name']);
    return mapConflict(createNew(deps, input));
  }
  const revive = (current: EventType, updatedAt: number): EventType => {
    if (!current.archived) throw conflict('name already exists');
    return { ...build(input, updatedAt), archived: false, createdAt: current.createdAt };
  };
  return changeEventType(deps, scope, input.name, revive, existing);
}

/** Stores a new event type (ConflictError when its name is taken meanwhile). */
async function createNew(deps: EventTypeDeps, input: EventTypeInput): Promise<EventType> {
  const eventType = build(input, deps.now());
  await deps.store.eventTypes.create(eventType);
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
  return upsert(async () => {
    const existing = await deps.store.eventTypes.get(input.name);
    if (!existing) {
      refuseDotUid(input.name, ['path', 'event_type_name']);
      return { eventType: await createNew(deps, input), created: true };
    }
    const replace = (current: EventType, updatedAt: number): EventType => ({
      ...build(input, updatedAt),
      createdAt: current.createdAt,
    });
    return { eventType: await changeEventType(deps, scope, input.name, replace, existing), created: false };
  });
}

export function patchEventType(
  deps: EventTypeDeps,
  scope: Scope,
  name: string,
  patch: EventTypePatch,
): Promise<EventType> {
  requireAdmin(scope);
  const schemas = patch.schemas !== undefined ? checkSchemas(patch.schemas) : undefined;
  return changeEventType(deps, scope, name, (current, updatedAt) => ({
    ...current,
    description: patch.description ?? current.description,
    schemas: schemas !== undefined ? schemas : current.schemas,
    archived: patch.archived ?? current.archived,
    deprecated: patch.deprecated ?? current.deprecated,
    featureFlag: patch.featureFlag !== undefined ? patch.featureFlag : current.featureFlag,
    updatedAt,
  }));
}

/** Svix archives on delete; `expunge` removes the row for good. */
export async function deleteEventType(
  deps: EventTypeDeps,
  scope: Scope,
  name: string,
  expunge: boolean,
): Promise<void> {
  requireAdmin(scope);
  if (expunge) {
    await getEventType(deps, scope, name);
    if (!(await deps.store.eventTypes.delete(name))) throw notFound('event type');
    deps.cache.forgetEventType(name);
  } else {
    await changeEventType(deps, scope, name, (current, updatedAt) => ({
      ...current,
      archived: true,
      updatedAt,
    }));
  }
}

/** Changes an event type without losing a concurrent change (modify), then forgets its cached copy. */
async function changeEventType(
  deps: EventTypeDeps,
  scope: Scope,
  name: string,
  change: (current: EventType, updatedAt: number) => EventType,
  current?: EventType,
): Promise<EventType> {
  const { after } = await modify(
    (t) => `event-type:${t.name}`,
    deps.now,
    () => getEventType(deps, scope, name),
    change,
    (next, seen) => deps.store.eventTypes.update(next, seen),
    current,
  );
  deps.cache.forgetEventType(name);
  return after;
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

/**
 * An example payload for send-example, as its JSON text: entry `index` of the newest schema's `examples`
 * (its `example` counts as the first), or {} when no schema has one; an index past the examples is a
 * 422. The text is the example's as written: parsed and serialised again, it would lose integers past
 * 2^53, `1.0`, key order and escapes.
 */
export function examplePayload(eventType: EventType | null, index = 0): string {
  const text = eventType?.schemas ?? '{}';
  const schemas = JSON.parse(text) as Record<string, unknown>;
  const versions = Object.keys(schemas).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const schema = schemas[version] as { examples?: unknown[]; example?: unknown } | undefined;
    const examples = Array.isArray(schema?.examples) ? schema.examples : [];
    const listed = examples.length > 0;
    const all = listed ? examples : schema?.example !== undefined ? [schema.example] : [];
    if (all.length === 0) continue;
    if (index >= all.length)
      throw invalid(['body', 'exampleIndex'], `the event type's schema has ${all.length} example(s)`);
    const example = all[index];
    if (!isJsonObject(example))
      throw invalid(
        ['body', 'exampleIndex'],
        `example ${index} of the event type's schema is not a JSON object`,
      );
    // rawMember takes a repeated key's last value, as JSON.parse did above.
    const schemaText = rawMember(text, version)!;
    return listed
      ? rawElements(rawMember(schemaText, 'examples')!)![index]!
      : rawMember(schemaText, 'example')!;
  }
  if (index > 0) throw invalid(['body', 'exampleIndex'], "the event type's schemas have no examples");
  return '{}';
}
