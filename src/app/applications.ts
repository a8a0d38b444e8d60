// Applications: the tenants of the outbound side.
import { invalid, notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Application, Metadata, Page, PageQuery } from '../core/types.ts';
import {
  type AppDeps,
  mapConflict,
  modify,
  refuseDotUid,
  requireAdmin,
  resolveApp,
  type Scope,
  upsert,
} from './context.ts';
import type { PublishCache } from './publish-cache.ts';

/** Application writes also forget the publish path's cached copy. */
export interface ApplicationDeps extends AppDeps {
  cache: PublishCache;
}

export interface ApplicationInput {
  name: string;
  uid?: string | null;
  rateLimit?: number | null;
  metadata?: Metadata;
}

export type ApplicationPatch = Partial<ApplicationInput>;

export function buildApplication(input: ApplicationInput, now: number): Application {
  return {
    id: newId('app', now),
    uid: input.uid ?? null,
    name: input.name,
    rateLimit: input.rateLimit ?? null,
    metadata: input.metadata ?? {},
    createdAt: now,
    updatedAt: now,
  };
}

export async function createApplication(
  deps: AppDeps,
  scope: Scope,
  input: ApplicationInput,
  getIfExists: boolean,
): Promise<{ app: Application; created: boolean }> {
  requireAdmin(scope);
  const existing = async () => (getIfExists && input.uid ? await deps.store.apps.get(input.uid) : null);
  const found = await existing();
  if (found) return { app: found, created: false };
  const app = buildApplication(input, deps.now());
  try {
    await mapConflict(deps.store.apps.create(app));
  } catch (error) {
    // The same create sent at once: with get_if_exists, the one that lost the race gets the winner's app.
    const raced = await existing();
    if (raced) return { app: raced, created: false };
    throw error;
  }
  return { app, created: true };
}

export async function getApplication(deps: AppDeps, scope: Scope, idOrUid: string): Promise<Application> {
  return resolveApp(deps.store, scope, idOrUid);
}

export async function listApplications(
  deps: AppDeps,
  scope: Scope,
  query: PageQuery,
): Promise<Page<Application>> {
  requireAdmin(scope);
  return deps.store.apps.list(query);
}

const isAppId = (idOrUid: string): boolean => idOrUid.startsWith('app_');

/**
 * PUT: replaces the application, or creates it (with the path value as uid unless the body names one)
 * when it does not exist. A path that names none finds it by the body's uid: what the same PUT made, or
 * renamed, the last time.
 */
export async function upsertApplication(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
  input: ApplicationInput,
): Promise<{ app: Application; created: boolean }> {
  requireAdmin(scope);
  return upsert(async () => {
    const now = deps.now();
    const byPath = await deps.store.apps.get(idOrUid);
    // An application id names one that exists or none: creating another under a new id would make
    // every repeat of the same PUT create one more.
    if (!byPath && isAppId(idOrUid)) throw notFound('application');
    const existing = byPath ?? (input.uid ? await deps.store.apps.get(input.uid) : null);
    if (!existing) {
      if (!input.uid) refuseDotUid(idOrUid, ['path', 'app_id']);
      const app = buildApplication({ ...input, uid: input.uid ?? idOrUid }, now);
      await deps.store.apps.create(app);
      return { app, created: true };
    }
    const replace = (current: Application, updatedAt: number): Application => ({
      ...current,
      name: input.name,
      // Addressed by its uid, the app keeps it unless the body names another: the same PUT repeated
      // finds the same app (by id, a body without uid clears it, as a full replacement does).
      uid: input.uid ?? (idOrUid === current.id ? null : current.uid),
      rateLimit: input.rateLimit ?? null,
      metadata: input.metadata ?? {},
      updatedAt,
    });
    const app = await changeApplication(deps, scope, existing.id, replace, existing);
    return { app, created: false };
  });
}

export async function patchApplication(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
  patch: ApplicationPatch,
): Promise<Application> {
  requireAdmin(scope);
  return changeApplication(deps, scope, idOrUid, (current, updatedAt) => ({
    ...current,
    name: patch.name ?? current.name,
    uid: patch.uid !== undefined ? patch.uid : current.uid,
    rateLimit: patch.rateLimit !== undefined ? patch.rateLimit : current.rateLimit,
    metadata: patch.metadata ?? current.metadata,
    updatedAt,
  }));
}

/**
 * Changes an application without losing a concurrent change (modify), then forgets its cached copy.
 * `current`: the application as the caller has just read it.
 */
async function changeApplication(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
  change: (current: Application, updatedAt: number) => Application,
  current?: Application,
): Promise<Application> {
  const { before, after } = await modify(
    (a) => `app:${a.id}`,
    deps.now,
    () => resolveApp(deps.store, scope, idOrUid),
    change,
    (next, seen) => deps.store.apps.update(next, seen),
    current,
  );
  deps.cache.invalidate(after.id);
  // Messages waiting for slots at the old rate take new ones (slots are reserved at the rate of the moment).
  if (after.rateLimit !== before.rateLimit) await deps.store.endpoints.resetRate(after.id, null, deps.now());
  return after;
}

export async function deleteApplication(deps: ApplicationDeps, scope: Scope, idOrUid: string): Promise<void> {
  requireAdmin(scope);
  const app = await resolveApp(deps.store, scope, idOrUid);
  // Deleted meanwhile by a request that resolved it too: that one answered 204, this one did not delete it.
  if (!(await deps.store.apps.delete(app.id, deps.now()))) throw notFound('application');
  deps.cache.invalidate(app.id);
}

/**
 * Svix: MessageIn.application and AppPortalAccessIn.application create the application when the path
 * names none that exists, under the path's uid; otherwise they are ignored. Only the admin may create.
 */
export async function getOrCreateApp(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
  input: ApplicationInput | null | undefined,
): Promise<Application> {
  return (await findApp(deps, scope, idOrUid)) ?? (await createNamedApp(deps, scope, idOrUid, input)).app;
}

/** The application the path names (cached, see PublishCache), or null; another app's is not found. */
export async function findApp(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
): Promise<Application | null> {
  const existing = await deps.cache.app(deps.store, idOrUid);
  if (existing && scope.kind === 'app' && existing.id !== scope.appId) throw notFound('application');
  return existing;
}

/**
 * What getOrCreateApp does once findApp found none: 404 unless `input` may create it; `created` is
 * false when another request created it first.
 */
export async function createNamedApp(
  deps: ApplicationDeps,
  scope: Scope,
  idOrUid: string,
  input: ApplicationInput | null | undefined,
): Promise<{ app: Application; created: boolean }> {
  if (!input || scope.kind !== 'admin' || isAppId(idOrUid))
    return { app: await resolveApp(deps.store, scope, idOrUid), created: false }; // 404
  // As in Svix: the body names the uid the path looks for, so that the next call finds what this one made.
  const loc = ['body', 'application', 'uid'];
  if (!input.uid) throw invalid(loc, `must be set to "${idOrUid}" (the path) to create the application`);
  if (input.uid !== idOrUid) throw invalid(loc, `must match the application uid in the path ("${idOrUid}")`);
  const app = buildApplication(input, deps.now());
  try {
    await deps.store.apps.create(app);
    return { app, created: true };
  } catch (error) {
    const raced = await deps.store.apps.get(idOrUid);
    if (raced) return { app: raced, created: false };
    throw error;
  }
}
