// Sub-resources of an endpoint: secret, rotation, custom headers, stats, recovery.
import { randomBytes } from 'node:crypto';
import { conflict, invalid, invalidRange } from '../core/errors.ts';
import { generateSecret, isValidSecret, normalizeSecret } from '../core/signing.ts';
import type { Endpoint } from '../core/types.ts';
import type { EndpointStats, TaskQuery } from '../store/store.ts';
import { runTask } from './background-tasks.ts';
import { type AppDeps, requireCapability, type Scope } from './context.ts';
import {
  checkHeaders,
  checkHeadersFit,
  mergeHeaders,
  redactHeaders,
  rotateSecrets,
} from './endpoint-headers.ts';
import { changeEndpoint, type EndpointDeps, resolveEndpoint } from './endpoints.ts';

type Ref = { app: string; endpoint: string };

export async function getSecret(deps: AppDeps, scope: Scope, ref: Ref): Promise<string> {
  requireCapability(scope, 'ViewEndpointSecret', 'ManageEndpointSecret', 'ManageEndpoint');
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  return endpoint.secrets[0]?.key ?? '';
}

export async function rotateSecret(
  deps: EndpointDeps,
  scope: Scope,
  ref: Ref,
  input: { key?: string | null; gracePeriodSeconds?: number | null },
): Promise<void> {
  requireCapability(scope, 'ManageEndpointSecret', 'ManageEndpoint');
  if (input.key && !isValidSecret(input.key)) {
    throw invalid(['body', 'key'], 'secret must be base64 of 24..64 bytes');
  }
  const key = input.key ? normalizeSecret(input.key) : generateSecret(randomBytes(24));
  const graceMs =
    input.gracePeriodSeconds !== undefined && input.gracePeriodSeconds !== null
      ? input.gracePeriodSeconds * 1000
      : deps.config.rotationGraceMs;
  await changeEndpoint(deps, scope, ref.app, ref.endpoint, (current, updatedAt) => ({
    ...current,
    secrets: rotateSecrets(current.secrets, key, updatedAt, graceMs, deps.config.maxOldSecrets),
    updatedAt,
  }));
}

export async function getHeaders(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
): Promise<{ headers: Record<string, string>; sensitive: string[] }> {
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  return redactHeaders(endpoint.headers);
}

export async function setHeaders(
  deps: EndpointDeps,
  scope: Scope,
  ref: Ref,
  headers: Record<string, string | null>,
  mode: 'replace' | 'merge',
): Promise<void> {
  requireCapability(scope, 'ManageEndpoint');
  checkHeaders(headers, ['body', 'headers']);
  await changeEndpoint(deps, scope, ref.app, ref.endpoint, (current, updatedAt) => {
    const merged = mergeHeaders(mode === 'merge' ? current.headers : {}, headers);
    checkHeadersFit(merged, ['body', 'headers'], current.headers);
    return { ...current, headers: merged, updatedAt };
  });
}

// As in Svix: stats cover at most 28 days (by default the last 28), with 5 minutes of slack so that a
// client may ask for "now − 28 days" whatever its clock says. An `until` past now counts as now, as
// Svix's attempt statistics cut their range: a client whose clock is ahead asks "until now" too.
const STATS_WINDOW_MS = 28 * 24 * 3600 * 1000;
const STATS_SLACK_MS = 5 * 60 * 1000;

export async function endpointStats(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
  range: { since?: number | null; until?: number | null },
): Promise<EndpointStats & { canceled: number }> {
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  const until = Math.min(range.until ?? Infinity, deps.now());
  const since = range.since ?? until - STATS_WINDOW_MS;
  if (since > until) throw invalidRange("'since' cannot be after 'until' (or now)");
  if (until - since > STATS_WINDOW_MS + STATS_SLACK_MS)
    throw invalidRange("'since' cannot be more than 28 days before 'until'");
  const stats = await deps.store.tasks.stats(endpoint.id, { since, until });
  return { ...stats, canceled: 0 };
}

export interface BackgroundTaskResult<T extends string> {
  id: string;
  status: 'running'; // the spec's only value: the deliveries it made due are sent after the answer
  task: T;
  updatedAt: number;
  /** How many deliveries it made due. */
  due: number;
}

/** Makes every failed delivery to the endpoint in [since, until) due again; the worker then sends them. */
export function recoverEndpoint(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
  range: { since: number; until?: number | null },
): Promise<BackgroundTaskResult<'endpoint.recover'>> {
  return overWindow(deps, scope, ref, range, 'endpoint.recover', (endpoint, since, until, now) =>
    deps.store.tasks.recover(endpoint.id, since, until, now),
  );
}

/**
 * Svix's replay-missing: sends the endpoint the messages of [since, until) it would take now but never
 * got (published before it existed, or while it was disabled or took other events).
 */
export function replayMissing(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
  range: { since: number; until?: number | null },
): Promise<BackgroundTaskResult<'endpoint.replay'>> {
  return overWindow(deps, scope, ref, range, 'endpoint.replay', (endpoint, since, until, now) =>
    deps.store.tasks.replayMissing(endpoint, since, until, now),
  );
}

/** Which of the endpoint's deliveries a bulk replay resends, beside its window ('canceled': none). */
export type BulkReplayFilters = Pick<TaskQuery, 'channel' | 'tag' | 'eventTypes'> & {
  status: TaskQuery['status'] | 'canceled';
};

/**
 * Svix's bulk-replay: resends each delivery to the endpoint of a message of [since, until) that the
 * filters take, delivered or not, as a resend of each would (one manual attempt), but those whose
 * payload is gone. A page of deliveries at a time.
 */
export function bulkReplay(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
  range: { since: number; until?: number | null },
  filters: BulkReplayFilters,
): Promise<BackgroundTaskResult<'endpoint.bulk-replay'>> {
  const { status, ...rest } = filters;
  return overWindow(deps, scope, ref, range, 'endpoint.bulk-replay', async (endpoint, since, until, now) => {
    if (status === 'canceled') return 0; // Doorbell cancels no delivery
    const query = {
      ...rest,
      status,
      limit: 250,
      order: 'ascending' as const,
      after: since - 1,
      before: until,
    };
    let [iterator, resent] = [null as string | null, 0];
    for (;;) {
      const page = await deps.store.tasks.listForEndpoint(endpoint.id, { ...query, iterator });
      const sent = await Promise.all(
        page.data
          .filter(({ message }) => message.payload !== null)
          .map(({ task }) => deps.store.tasks.resend(endpoint.appId, task.msgId, endpoint.id, now)),
      );
      resent += sent.filter((task) => task !== null).length;
      if (page.done || page.iterator === null) return resent;
      iterator = page.iterator;
    }
  });
}

/** Runs `work` over the endpoint's messages of [since, until): until defaults to now. */
async function overWindow<T extends string>(
  deps: AppDeps,
  scope: Scope,
  ref: Ref,
  range: { since: number; until?: number | null },
  task: T,
  work: (endpoint: Endpoint, since: number, until: number, now: number) => Promise<number>,
): Promise<BackgroundTaskResult<T>> {
  requireCapability(scope, 'CreateAttempts');
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  if (endpoint.disabled) throw conflict('the endpoint is disabled: enable it to send it messages again');
  const now = deps.now();
  const until = range.until ?? now + 1;
  if (until < range.since) {
    throw range.until == null
      ? invalid(['body', 'since'], 'since must not be in the future')
      : invalid(['body', 'until'], 'until must not be before since');
  }
  const { done, result: due } = await runTask(deps, task, now, () => work(endpoint, range.since, until, now));
  return { id: done.id, status: 'running', task, updatedAt: now, due };
}
