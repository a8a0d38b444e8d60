// One delivery attempt of a claimed task: sign with every live secret, send, classify the outcome, and
// decide the task's next state (success, a retry at a time from the schedule, or failure). What it
// returns is recorded by the worker, which owns the loop around it.

import type { Config } from '../config/config.ts';
import { newId } from '../core/ids.ts';
import { classify, failureReason, responseText } from '../core/outcome.ts';
import { nextAttempt } from '../core/retry-schedule.ts';
import { webhookHeaders } from '../core/signing.ts';
import type { Attempt, AttemptOutcome, DeliveryTask, TaskNext } from '../core/types.ts';
import type { ClaimedTask } from '../store/store.ts';
import type { Sender } from './undici-sender.ts';

export interface AttemptDeps {
  delivery: Readonly<Config['delivery']>;
  sender: Sender;
  now: () => number;
  random: () => number;
}

/**
 * The attempt could not be made for want of this process's own resources (file descriptors…): nothing
 * reached the endpoint, and nothing is recorded against it. The task is sent once its lease ends.
 */
export class LocalFault extends Error {
  override name = 'LocalFault';
}

export interface AttemptDone {
  attempt: Attempt;
  next: TaskNext;
  outcome: AttemptOutcome;
}

type AttemptResult = Pick<Attempt, 'status' | 'responseStatusCode' | 'response' | 'responseDurationMs'>;

export function attemptOf(task: DeliveryTask, url: string, at: number, result: AttemptResult): Attempt {
  const { appId, msgId, endpointId } = task;
  return {
    id: newId('atmpt', at),
    appId,
    msgId,
    endpointId,
    url,
    ...result,
    triggerType: task.trigger,
    createdAt: at,
  };
}

export async function sendAttempt(
  { task, message, endpoint }: ClaimedTask,
  deps: AttemptDeps,
): Promise<AttemptDone> {
  const started = deps.now();
  let outcome: AttemptOutcome;
  let statusCode = 0;
  let response: string;
  let durationMs = 0;
  if (message.payload === null) {
    outcome = { kind: 'fail', reason: 'payload expired or expunged' };
    response = outcome.reason;
  } else {
    const secrets = endpoint.secrets
      .filter((s) => s.expiresAt === null || s.expiresAt > started)
      .map((s) => s.key);
    const signed = webhookHeaders({
      msgId: message.id,
      timestamp: Math.floor(started / 1000),
      body: message.payload,
      secrets,
    });
    const result = await deps.sender.send({
      url: endpoint.url,
      headers: { ...endpoint.headers, ...signed },
      body: message.payload,
    });
    if (result.kind === 'error' && result.local) throw new LocalFault(`not sent: ${result.reason}`);
    outcome = classify(result, deps.now());
    durationMs = result.durationMs;
    if (result.kind === 'response') {
      statusCode = result.status;
      response = responseText(result);
    } else {
      response = failureReason(result);
    }
  }
  const finishedAt = deps.now();
  const attempt = attemptOf(task, endpoint.url, finishedAt, {
    status: outcome.kind === 'delivered' ? 'success' : 'fail',
    responseStatusCode: statusCode,
    response,
    responseDurationMs: durationMs,
  });
  return { attempt, next: decide(outcome, task, finishedAt, deps), outcome };
}

/**
 * A failed manual attempt (resend, recover) changes nothing but the attempts recorded, as in Svix: the
 * operator asked for one try, so it is not retried, and the task goes back to where it was (a delivered
 * message stays delivered; a message being retried keeps its schedule).
 */
export function decide(
  outcome: AttemptOutcome,
  task: DeliveryTask,
  at: number,
  deps: Pick<AttemptDeps, 'delivery' | 'random'>,
): TaskNext {
  if (outcome.kind === 'delivered') return { status: 'success' };
  // No state to return to: the resend came during a scheduled attempt whose process died before
  // recording it (the lease ran out). That attempt is made again, now.
  if (task.trigger === 'manual') return task.restore ?? { status: 'pending', at };
  const n = nextAttempt({
    attempt: task.attempts + 1,
    outcome,
    schedule: deps.delivery.retrySchedule,
    jitter: deps.delivery.jitter,
    penaltyMs: deps.delivery.penaltyMs,
    now: at,
    random: deps.random,
  });
  return 'at' in n ? { status: 'pending', at: n.at } : { status: 'fail' };
}
