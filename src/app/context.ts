// What every use-case receives: the store port, the frozen config, a clock, and who is asking.
import type { Config } from '../config/config.ts';
import { conflict, forbidden, invalid, notFound } from '../core/errors.ts';
import type { Application } from '../core/types.ts';
import { ConflictError, type Store } from '../store/store.ts';

export interface AppDeps {
  store: Store;
  config: Readonly<Config>;
  now: () => number;
}

/**
 * What an app-portal token may do beyond reading its application (Svix's AppPortalCapability; `ViewBase`,
 * reading, is always granted; transformations do not exist here).
 */
export const CAPABILITIES = [
  'ViewBase',
  'ViewEndpointSecret',
  'ManageEndpointSecret',
  'ManageTransformations',
  'CreateAttempts',
  'ManageEndpoint',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/**
 * Who a request acts for: the operator (admin token) or one application (app-portal token), with the
 * capabilities it was issued with (null: all of them).
 */
export type Scope =
  | { kind: 'admin' }
  | {
      kind: 'app';
      appId: string;
      tokenId: string;
      featureFlags: readonly string[];
      capabilities: readonly Capability[] | null;
    };

export function requireAdmin(scope: Scope): void {
  if (scope.kind !== 'admin') throw forbidden();
}

/** An app-portal token must hold one of `any` (the admin token holds all). */
export function requireCapability(scope: Scope, ...any: Capability[]): void {
  if (scope.kind === 'admin' || scope.capabilities === null) return;
  if (!any.some((c) => scope.capabilities?.includes(c)))
    throw forbidden(`this token needs the capability ${any.join(' or ')}`);
}

/** Looks an application up by id or uid; another tenant's application is "not found", never "forbidden". */
export async function resolveApp(store: Store, scope: Scope, idOrUid: string): Promise<Application> {
  const app = await store.apps.get(idOrUid);
  if (!app || (scope.kind === 'app' && app.id !== scope.appId)) throw notFound('application');
  return app;
}

/** Turns a driver's unique-constraint error into the catalogue's `conflict`. */
export async function mapConflict<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ConflictError) throw conflict(`${error.field} already exists`);
    throw error;
  }
}

// Each concurrent writer of another process that got in first makes a modify read again; this many
// rounds outlast a burst. Those of this process wait for each other instead (oneAtATime).
const MODIFY_ROUNDS = 32;

/**
 * A read-modify-write of one row that loses no concurrent write: `write` stores the change only if the
 * row is still as `read` found it (the drivers compare updatedAt), else the change is made again on a
 * fresh read. `change` gets an updatedAt past the one it saw, so that two writes in one millisecond
 * still tell each other apart. (Without it, 20 concurrent header patches kept 4 to 9 of their headers.)
 * The modifies of one row (`key`) in this process run one after the other: in a burst, each round that
 * one of them won sent all the others round again, and past MODIFY_ROUNDS the last ones answered 409
 * (10 of 60 header patches at once). A caller that has just read the row passes it as `first`. A change
 * that changes nothing is not written (its updatedAt stays).
 */
/** The updatedAt of a write to `current` at `now`: later than the one it replaces, whatever the clock says. */
export const nextUpdatedAt = (now: number, current: { updatedAt: number }): number =>
  Math.max(now, current.updatedAt + 1);

export async function modify<T extends { updatedAt: number }>(
  key: (row: T) => string,
  now: () => number,
  read: () => Promise<T>,
  change: (current: T, updatedAt: number) => T | Promise<T>,
  write: (next: T, seen: T) => Promise<boolean>,
  first?: T,
): Promise<{ before: T; after: T }> {
  const found = first ?? (await read());
  return oneAtATime(key(found), async (waited) => {
    for (let round = 1; ; round++) {
      // Read again after waiting for the others: the row they wrote is the one to change.
      const before = round === 1 && !waited ? found : await read();
      const after = await change(before, nextUpdatedAt(now(), before));
      // Nothing to store: the same PUT sent many times at once would otherwise keep failing each other.
      if (sameBut('updatedAt', before, after)) return { before, after: before };
      if (await mapConflict(write(after, before))) return { before, after };
      if (round === MODIFY_ROUNDS) throw conflict('changed by other requests meanwhile: send it again');
    }
  });
}

const queues = new Map<string, Promise<void>>();

/** Runs `fn` once the calls queued before it under `key` have settled, telling it whether there were any. */
export async function oneAtATime<R>(key: string, fn: (waited: boolean) => Promise<R>): Promise<R> {
  const ahead = queues.get(key);
  const run = ahead === undefined ? fn(false) : ahead.then(() => fn(true));
  const settled = run.then(
    () => {},
    () => {},
  );
  queues.set(key, settled);
  try {
    return await run;
  } finally {
    if (queues.get(key) === settled) queues.delete(key);
  }
}

/** Whether a and b hold the same values (as JSON), but for `key`. */
const sameBut = <T extends object>(key: keyof T, a: T, b: T): boolean =>
  JSON.stringify({ ...a, [key]: null }) === JSON.stringify({ ...b, [key]: null });

/**
 * A uid (or event type name) that a request creates its object with, taken from a path or a name: "."
 * and ".." are what clients resolve a path segment to the parent with (a DELETE of the endpoint ".."
 * would delete its application). Objects that already hold one are still found.
 */
export function refuseDotUid(uid: string, loc: readonly string[]): void {
  if (uid === '.' || uid === '..') throw invalid(loc, 'may not be "." or "..": a path would name the parent');
}

/**
 * Runs a PUT upsert. Two PUTs of one new id can both find nothing and both create: the loser's create
 * conflicts (ConflictError), and it runs once more, now finding the winner's row to update. A conflict
 * that remains (another object holds the uid) answers 409.
 */
export async function upsert<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
  return mapConflict(run());
}
