// Reading messages and attempts, expunging content, and resending one delivery.
import { conflict, DoorbellError, notFound } from '../core/errors.ts';
import type { Attempt, Message, Page, PageQuery } from '../core/types.ts';
import type {
  AttemptQuery,
  MessageQuery,
  TaskQuery,
  TaskWithEndpoint,
  TaskWithMessage,
} from '../store/store.ts';
import { runTask } from './background-tasks.ts';
import { type AppDeps, requireAdmin, requireCapability, resolveApp, type Scope } from './context.ts';
import { resolveEndpoint } from './endpoints.ts';

export async function resolveMessage(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  msgIdOrEventId: string,
): Promise<Message> {
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  const message = await deps.store.messages.get(app.id, msgIdOrEventId);
  if (!message) throw notFound('message');
  return message;
}

export async function listMessages(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  query: MessageQuery,
): Promise<Page<Message>> {
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  return deps.store.messages.list(app.id, query);
}

export async function expungeMessage(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  msg: string,
): Promise<void> {
  requireAdmin(scope); // as in Svix: what is gone cannot be resent, and only the operator decides that
  const message = await resolveMessage(deps, scope, appIdOrUid, msg);
  await deps.store.messages.expungeContent(message.appId, message.id);
}

/** What expungeAllMessages did, as the Svix SDK reads a background task (ExpungeAllContentsOut). */
export interface ExpungeAllResult {
  id: string;
  status: 'finished';
  task: 'application.purge_content';
  updatedAt: number;
}

/**
 * Drops the payload of every message of the application published so far, as expungeMessage does one's
 * (the Svix SDK's message.expungeAllContents). Svix runs it as a background task; here it is done, a few
 * hundred messages per commit, by the time it answers, so the task it names has finished.
 */
export async function expungeAllMessages(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
): Promise<ExpungeAllResult> {
  requireAdmin(scope);
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  const now = deps.now();
  const task = 'application.purge_content';
  const { done } = await runTask(deps, task, now, () => deps.store.messages.expungeAll(app.id, now + 1));
  return { id: done.id, status: 'finished', task, updatedAt: done.updatedAt };
}

/**
 * Delivers the message to the endpoint again now (manual trigger); the caller wakes the worker. As in
 * Svix, only a message that was sent to the endpoint can be resent to it (a 404 otherwise).
 */
export async function resendMessage(
  deps: AppDeps,
  scope: Scope,
  ref: { app: string; msg: string; endpoint: string },
): Promise<void> {
  requireCapability(scope, 'CreateAttempts');
  const message = await resolveMessage(deps, scope, ref.app, ref.msg);
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  // Svix: a message whose payload expired or was expunged cannot be resent; say so instead of
  // accepting a resend that can only record a failed attempt.
  if (message.payload === null) {
    throw new DoorbellError(
      'bad_request',
      'the message payload has expired or was expunged: it cannot be resent',
    );
  }
  // A disabled endpoint is sent nothing: accepting would only mark a delivered message as failed. The
  // request is sound, the endpoint's state is not: a 409, which the API document lists for resend.
  if (endpoint.disabled) throw conflict('the endpoint is disabled: enable it to resend to it');
  const task = await deps.store.tasks.resend(message.appId, message.id, endpoint.id, deps.now());
  if (!task)
    throw new DoorbellError('not_found', 'the message was not sent to this endpoint: nothing to resend');
}

export async function listAttempts(
  deps: AppDeps,
  scope: Scope,
  appIdOrUid: string,
  query: AttemptQuery,
): Promise<Page<Attempt>> {
  const app = await resolveApp(deps.store, scope, appIdOrUid);
  return deps.store.attempts.list(app.id, query);
}

export async function getAttempt(
  deps: AppDeps,
  scope: Scope,
  ref: { app: string; msg: string; attempt: string },
): Promise<Attempt> {
  const message = await resolveMessage(deps, scope, ref.app, ref.msg);
  const attempt = await deps.store.attempts.get(message.appId, message.id, ref.attempt);
  if (!attempt) throw notFound('attempt');
  return attempt;
}

export async function expungeAttempt(
  deps: AppDeps,
  scope: Scope,
  ref: { app: string; msg: string; attempt: string },
): Promise<void> {
  requireAdmin(scope);
  const attempt = await getAttempt(deps, scope, ref);
  await deps.store.attempts.expungeContent(attempt.appId, attempt.msgId, attempt.id);
}

/** Messages attempted to one endpoint, with that delivery's status. */
export async function listEndpointMessages(
  deps: AppDeps,
  scope: Scope,
  ref: { app: string; endpoint: string },
  query: TaskQuery,
): Promise<Page<TaskWithMessage>> {
  const endpoint = await resolveEndpoint(deps, scope, ref.app, ref.endpoint);
  return deps.store.tasks.listForEndpoint(endpoint.id, query);
}

/** Endpoints one message was sent to, with that delivery's status. */
export async function listMessageEndpoints(
  deps: AppDeps,
  scope: Scope,
  ref: { app: string; msg: string },
  query: PageQuery,
): Promise<Page<TaskWithEndpoint>> {
  const message = await resolveMessage(deps, scope, ref.app, ref.msg);
  return deps.store.tasks.listForMessage(message.id, query);
}
