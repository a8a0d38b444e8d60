// Event types written many at once, in one transaction:
// - imported from the webhooks of an OpenAPI document (core/openapi-webhooks.ts), as Svix's
//   POST /api/v1/event-type/import/openapi does: each is created, or updated and unarchived; with
//   `replaceAll`, every other live event type is archived; with `dryRun`, nothing is written and the
//   answer says what would be;
// - an environment's catalogue, as Svix's environment export and import carry it from one server to
//   another: each event type as it was exported, created or replaced.
import { conflict, DoorbellError, invalid } from '../core/errors.ts';
import { eventTypesFromOpenApi, type WebhookEventType } from '../core/openapi-webhooks.ts';
import type { EventType } from '../core/types.ts';
import { nextUpdatedAt, oneAtATime, requireAdmin, type Scope } from './context.ts';
import { readDocument } from './document-text.ts';
import { build, type EventTypeDeps, type EventTypeInput } from './event-types.ts';

export interface ImportInput {
  spec?: unknown;
  specRaw?: string | null;
  dryRun?: boolean;
  replaceAll?: boolean;
}

export interface ImportResult {
  /** The names of the event types created, changed or archived (or that would be, in a dry run). */
  modified: string[];
  /** In a dry run, the event types of the document among them, as they would be stored. */
  toModify?: WebhookEventType[];
}

const ROUNDS = 16;

type Write = { eventType: EventType; seen: number | null };

export async function importOpenApi(
  deps: EventTypeDeps,
  scope: Scope,
  input: ImportInput,
): Promise<ImportResult> {
  requireAdmin(scope);
  const imported = eventTypesFromOpenApi(...(await documentOf(input)));
  const plan = () => changes(deps, imported, input.replaceAll === true);
  if (!input.dryRun) return { modified: namesOf(await storeAll(deps, plan)) };
  const modified = namesOf(await plan());
  const names = new Set(modified);
  return { modified, toModify: imported.filter((e) => names.has(e.name)) };
}

const namesOf = (writes: readonly Write[]) => writes.map((w) => w.eventType.name);

/**
 * Stores the writes `plan` makes of the event types as they are now, all in one transaction, and forgets
 * the publish path's copies. A write between its reads and the transaction sends it round again. This
 * process's imports go one at a time: at once, each would send the others round again (a fleet that
 * imports its catalogue at each start, several per process).
 */
function storeAll(deps: EventTypeDeps, plan: () => Promise<Write[]>): Promise<Write[]> {
  return oneAtATime('event-types:import', async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const writes = await plan();
      if (await deps.store.eventTypes.putAll(writes)) {
        for (const { eventType } of writes) deps.cache.forgetEventType(eventType.name);
        return writes;
      }
    }
    throw conflict('event types changed by other requests meanwhile: send it again');
  });
}

/** The document, given as exactly one of `spec` (parsed JSON) and `specRaw` (YAML or JSON text). */
async function documentOf(input: ImportInput): Promise<[unknown, string[]]> {
  const given = [input.spec, input.specRaw].filter((v) => v !== undefined && v !== null).length;
  if (given !== 1)
    throw new DoorbellError('bad_request', 'give the document as exactly one of spec and specRaw');
  if (input.specRaw == null) return [input.spec, ['body', 'spec']];
  return [await readDocument(input.specRaw, ['body', 'specRaw']), ['body', 'specRaw']];
}

/** What to store, each with the updatedAt it was read at (null: new). */
async function changes(
  deps: EventTypeDeps,
  imported: readonly WebhookEventType[],
  replaceAll: boolean,
): Promise<Write[]> {
  const names = new Set(imported.map((e) => e.name));
  const existing = new Map((await deps.store.eventTypes.getMany([...names])).map((e) => [e.name, e]));
  const now = deps.now();
  const writes: Write[] = [];
  for (const e of imported) {
    const current = existing.get(e.name);
    const schemas = e.schemas === null ? null : JSON.stringify(e.schemas);
    const { description, deprecated } = e;
    if (!current) {
      writes.push({ eventType: build({ name: e.name, description, schemas, deprecated }, now), seen: null });
    } else if (!same(current, description, schemas, deprecated)) {
      const next = {
        ...current,
        description,
        schemas,
        deprecated,
        archived: false,
        updatedAt: nextUpdatedAt(now, current),
      };
      writes.push({ eventType: next, seen: current.updatedAt });
    }
  }
  if (replaceAll) {
    for (const current of await allEventTypes(deps, false)) {
      if (names.has(current.name)) continue;
      writes.push({
        eventType: { ...current, archived: true, updatedAt: nextUpdatedAt(now, current) },
        seen: current.updatedAt,
      });
    }
  }
  return writes;
}

/** Whether the stored event type already is as the document describes it (and live). */
function same(current: EventType, description: string, schemas: string | null, deprecated: boolean): boolean {
  const stored = current.schemas === null ? null : JSON.stringify(JSON.parse(current.schemas));
  return (
    !current.archived &&
    current.description === description &&
    current.deprecated === deprecated &&
    stored === schemas
  );
}

async function allEventTypes(deps: EventTypeDeps, includeArchived: boolean): Promise<EventType[]> {
  const all: EventType[] = [];
  let iterator: string | null = null;
  do {
    const page = await deps.store.eventTypes.list({ limit: 250, iterator, includeArchived });
    all.push(...page.data);
    iterator = page.done ? null : page.iterator;
  } while (iterator !== null);
  return all;
}

/** Every event type, archived ones too, by name. */
export async function exportEnvironment(deps: EventTypeDeps, scope: Scope): Promise<EventType[]> {
  requireAdmin(scope);
  return allEventTypes(deps, true);
}

/** Creates or replaces each event type as given (as a PUT of each would), all or none. */
export async function importEnvironment(
  deps: EventTypeDeps,
  scope: Scope,
  eventTypes: readonly EventTypeInput[],
): Promise<void> {
  requireAdmin(scope);
  const seen = new Set<string>();
  for (const [i, { name }] of eventTypes.entries()) {
    if (seen.has(name)) throw invalid(['body', 'eventTypes', String(i), 'name'], `${name} is given twice`);
    seen.add(name);
  }
  await storeAll(deps, async () => {
    const existing = await deps.store.eventTypes.getMany([...seen]);
    const byName = new Map(existing.map((e) => [e.name, e]));
    const now = deps.now();
    return eventTypes.map((input, i) => {
      const current = byName.get(input.name);
      const loc = ['body', 'eventTypes', String(i), 'schemas'];
      if (!current) return { eventType: build(input, now, loc), seen: null };
      const next = {
        ...build(input, nextUpdatedAt(now, current), loc),
        createdAt: current.createdAt,
      };
      return { eventType: next, seen: current.updatedAt };
    });
  });
}
