// Endpoints: the URLs an application's customers registered, with filters, secrets and headers.
import { randomBytes } from 'node:crypto';
import { checkEndpointUrl } from '../core/endpoint-url.ts';
import { invalid, notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { generateSecret, isValidSecret, normalizeSecret } from '../core/signing.ts';
import type { Cidr } from '../core/ssrf.ts';
import type { Endpoint, Metadata, Page, PageQuery } from '../core/types.ts';
import {
  type AppDeps,
  mapConflict,
  modify,
  refuseDotUid,
  requireCapability,
  resolveApp,
  type Scope,
  upsert,
} from './context.ts';
import { checkHeaders, checkHeadersFit } from './endpoint-headers.ts';
import { checkNotArchived, visible } from './event-types.ts';
import type { PublishCache } from './publish-cache.ts';

export interface EndpointDeps extends AppDeps {
  allow: readonly Cidr[]; // CIDRs opened despite the SSRF rules (config.delivery.allowSubnets)
  cache: PublishCache;
}

export interface EndpointInput {
  url: string;
  uid?: string | null;
  description?: string;
  version?: number;
  rateLimit?: number | null;
  disabled?: boolean;
  filterTypes?: string[] | null;
  /** The body field that carried filterTypes (the reference's eventTypes or the SDK's filterTypes): errors name it. */
  filterTypesField?: 'eventTypes' | 'filterTypes';
  channels?: string[] | null;
  metadata?: Metadata;
  headers?: Record<string, string>;
  secret?: string | null;
}

export type EndpointPatch = Partial<Omit<EndpointInput, 'headers'>>;

function checkUrl(deps: EndpointDeps, raw: string): string {
  const checked = checkEndpointUrl(raw, [...deps.allow]);
  if (!checked.ok) throw invalid(['body', 'url'], checked.reason);
  // Stored as parsed (as Svix's server stores a URL): what was checked is what every reader sees.
  return checked.url;
}

function checkSecret(secret: string | null | undefined): string {
  if (secret === null || secret === undefined) return generateSecret(randomBytes(24));
  if (!isValidSecret(secret)) throw invalid(['body', 'secret'], 'secret must be base64 of 24..64 bytes');
  return normalizeSecret(secret);
}

/**
 * As in Svix, filters name event types of the catalogue, and not archived ones. Names the endpoint
 * already filtered on stay, so an endpoint keeps its filter when its event type is archived. An event
 * type the token may not see (its feature flag) does not exist for it.
 */
async function checkFilterTypes(
  deps: AppDeps,
  scope: Scope,
  filterTypes: readonly string[] | null | undefined,
  had: readonly string[] | null,
  field: string | undefined,
): Promise<void> {
  const added = (filterTypes ?? []).filter((name) => !had?.includes(name));
  if (added.length === 0) return;
  const found = new Map((await deps.store.eventTypes.getMany(added)).map((e) => [e.name, e]));
  const loc = ['body', field ?? 'filterTypes'];
  for (const name of added) {
    const eventType = found.get(name);
    if (eventType === undefined || !visible(scope, eventType))
      throw invalid(loc, `event type ${name} does not exist; create it first`);
    checkNotArchived(eventType, loc);
  }
}

function build(deps: EndpointDeps, appId: string, input: EndpointInput, now: number): Endpoint {
  if (input.headers) {
    checkHeaders(input.headers, ['body', 'headers']);
    checkHeadersFit(input.headers, ['body', 'headers']);
  }
  return {
    id: newId('ep', now),
    appId,
    uid: input.uid ?? null,
    url: checkUrl(deps, input.url),
    description: input.description ?? '',
    version: input.version ?? 1,
    rateLimit: input.rateLimit ?? null,
    disabled: input.disabled ?? false,
    filterTypes: input.filterTypes ?? null,
    channels: input.channels ?? null,
    metadata: input.metadata ?? {},
    headers: input.headers ?? {},
    secrets: [{ key: checkSecret(input.secret), expiresAt: null }],
    failingSince: null,
    createdAt: now,
    updatedAt: now,
  };
}

export async function resolveEndpoint(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  endpointIdOrUid: string,
): Promise<Endpoint> {
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  const endpoint = await deps.store.endpoints.get(app.id, endpointIdOrUid);
  if (!endpoint) throw notFound('endpoint');
  return endpoint;
}

export async function createEndpoint(
  deps: EndpointDeps,
  scope: Scope,
  appIdOrUid: string,
  input: EndpointInput,
): Promise<Endpoint> {
  requireCapability(scope, 'ManageEndpoint');
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  const endpoint = build(deps, app.id, input, deps.now());
  await checkFilterTypes(deps, scope, endpoint.filterTypes, null, input.filterTypesField);
  if (!(await mapConflict(deps.store.endpoints.create(endpoint)))) throw notFound('application');
  deps.cache.invalidate(app.id);
  return endpoint;
}

export async function listEndpoints(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  query: PageQuery,
): Promise<Page<Endpoint>> {
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  return deps.store.endpoints.list(app.id, query);
}

/**
 * PUT: replaces the endpoint's settings (secrets and headers stay), or creates it under the path uid
 * unless the body names one. A path that names none finds it by the body's uid, as for applications.
 */
export async function upsertEndpoint(
  deps: EndpointDeps,
  scope: Scope,
  appIdOrUid: string,
  endpointIdOrUid: string,
  input: Omit<EndpointInput, 'secret' | 'headers'>,
): Promise<{ endpoint: Endpoint; created: boolean }> {
  requireCapability(scope, 'ManageEndpoint');
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  return upsert(async () => {
    const byPath = await deps.store.endpoints.get(app.id, endpointIdOrUid);
    if (!byPath && endpointIdOrUid.startsWith('ep_')) throw notFound('endpoint');
    const existing = byPath ?? (input.uid ? await deps.store.endpoints.get(app.id, input.uid) : null);
    if (!existing) {
      if (!input.uid) refuseDotUid(endpointIdOrUid, ['path', 'endpoint_id']);
      await checkFilterTypes(deps, scope, input.filterTypes, null, input.filterTypesField);
      const endpoint = build(deps, app.id, { ...input, uid: input.uid ?? endpointIdOrUid }, deps.now());
      if (!(await deps.store.endpoints.create(endpoint))) throw notFound('application');
      deps.cache.invalidate(app.id);
      return { endpoint, created: true };
    }
    const replace = async (current: Endpoint, updatedAt: number): Promise<Endpoint> => {
      await checkFilterTypes(deps, scope, input.filterTypes, current.filterTypes, input.filterTypesField);
      return {
        ...current,
        url: checkUrl(deps, input.url),
        // As for applications: addressed by its uid, the endpoint keeps it unless the body names another.
        uid: input.uid ?? (endpointIdOrUid === current.id ? null : current.uid),
        description: input.description ?? '',
        version: input.version ?? current.version,
        rateLimit: input.rateLimit ?? null,
        disabled: input.disabled ?? false,
        filterTypes: input.filterTypes ?? null,
        channels: input.channels ?? null,
        metadata: input.metadata ?? {},
        failingSince: failingSince(current, input.disabled ?? false, input.disabled),
        updatedAt,
      };
    };
    const endpoint = await changeEndpoint(deps, scope, app.id, existing.id, replace, existing);
    return { endpoint, created: false };
  });
}

export async function patchEndpoint(
  deps: EndpointDeps,
  scope: Scope,
  appIdOrUid: string,
  endpointIdOrUid: string,
  patch: EndpointPatch,
): Promise<Endpoint> {
  requireCapability(scope, 'ManageEndpoint');
  return changeEndpoint(deps, scope, appIdOrUid, endpointIdOrUid, async (current, updatedAt) => {
    await checkFilterTypes(deps, scope, patch.filterTypes, current.filterTypes, patch.filterTypesField);
    const pick = <K extends keyof Endpoint & keyof EndpointPatch>(key: K): Endpoint[K] =>
      patch[key] !== undefined ? (patch[key] as Endpoint[K]) : current[key];
    return {
      ...current,
      url: patch.url !== undefined ? checkUrl(deps, patch.url) : current.url,
      uid: pick('uid'),
      description: pick('description'),
      version: pick('version'),
      rateLimit: pick('rateLimit'),
      disabled: pick('disabled'),
      filterTypes: pick('filterTypes'),
      channels: pick('channels'),
      metadata: pick('metadata'),
      secrets:
        patch.secret !== undefined && patch.secret !== null
          ? [{ key: checkSecret(patch.secret), expiresAt: null }]
          : current.secrets,
      failingSince: failingSince(current, pick('disabled'), patch.disabled),
      updatedAt,
    };
  });
}

/**
 * The failure clock of auto-disable after a change: an endpoint enabled again, or told `disabled: false`,
 * starts afresh (kept, the next failure would disable it again at once).
 */
function failingSince(current: Endpoint, disabled: boolean, asked: boolean | undefined): number | null {
  return !disabled && (current.disabled || asked === false) ? null : current.failingSince;
}

/**
 * Changes an endpoint without losing a concurrent change (modify; the worker's failingSince and disable
 * included), then drops the cached copy. Messages waiting for slots at an old rate take new ones (slots
 * are reserved at the rate of the moment). `current`: the endpoint as the caller has just read it.
 */
export async function changeEndpoint(
  deps: EndpointDeps,
  scope: Scope,
  appIdOrUid: string,
  endpointIdOrUid: string,
  change: (current: Endpoint, updatedAt: number) => Endpoint | Promise<Endpoint>,
  current?: Endpoint,
): Promise<Endpoint> {
  const { before, after } = await modify(
    (e) => `endpoint:${e.id}`,
    deps.now,
    () => resolveEndpoint(deps, scope, appIdOrUid, endpointIdOrUid),
    change,
    (next, seen) => deps.store.endpoints.update(next, seen),
    current,
  );
  deps.cache.invalidate(after.appId);
  if (after.rateLimit !== before.rateLimit)
    await deps.store.endpoints.resetRate(after.appId, after.id, after.updatedAt);
  return after;
}

export async function deleteEndpoint(
  deps: EndpointDeps,
  scope: Scope,
  appIdOrUid: string,
  endpointIdOrUid: string,
): Promise<void> {
  requireCapability(scope, 'ManageEndpoint');
  const endpoint = await resolveEndpoint(deps, scope, appIdOrUid, endpointIdOrUid);
  if (!(await deps.store.endpoints.delete(endpoint.appId, endpoint.id))) throw notFound('endpoint');
  deps.cache.invalidate(endpoint.appId);
}
