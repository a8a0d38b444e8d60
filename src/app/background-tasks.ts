// Svix's background tasks: the work over many messages a call runs (recover, replay, expunge of all
// contents) is done by the time it answers here, and kept to be looked up by the id it answered with.

import { notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Page } from '../core/types.ts';
import type { BackgroundTask, BackgroundTaskQuery } from '../store/store.ts';
import { type AppDeps, requireAdmin, type Scope } from './context.ts';

/** Runs `work`, started at `now`, as a background task of kind `task`; keeps it once finished. */
export async function runTask<T>(
  deps: AppDeps,
  task: string,
  now: number,
  work: () => Promise<T>,
): Promise<{ done: BackgroundTask; result: T }> {
  const id = newId('qtask', now);
  const result = await work();
  const done: BackgroundTask = { id, task, status: 'finished', data: {}, updatedAt: deps.now() };
  await deps.store.backgroundTasks.put(done);
  return { done, result };
}

export async function getBackgroundTask(deps: AppDeps, scope: Scope, id: string): Promise<BackgroundTask> {
  requireAdmin(scope);
  const task = await deps.store.backgroundTasks.get(id);
  if (!task) throw notFound('background task');
  return task;
}

/** `status`: every task kept has finished, so `running` and `failed` match none. */
export async function listBackgroundTasks(
  deps: AppDeps,
  scope: Scope,
  query: BackgroundTaskQuery & { status?: string | null },
): Promise<Page<BackgroundTask>> {
  requireAdmin(scope);
  const { status, ...rest } = query;
  if (status === 'running' || status === 'failed')
    return { data: [], iterator: null, prevIterator: null, done: true };
  return deps.store.backgroundTasks.list(rest);
}
