// `idempotency-key` on a POST: the first response (status and body) is kept for idempotencyTtlMs and
// replayed to any repeat from the same scope for the same route. A repeat that arrives while the first
// is still running waits for it.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IdempotentResponse, Store } from '../store/store.ts';
import { sendJson } from './context.ts';

export function idempotencyHooks(store: Store, now: () => number, ttlMs: number) {
  const inFlight = new Map<string, Promise<void>>();

  // Requests without the header (nearly all of them) pass through synchronously through `done`, without
  // the promise and microtask turns of an async hook; the others return a promise, which Fastify awaits
  // as it would an async hook's.
  function preHandler(
    request: FastifyRequest,
    reply: FastifyReply,
    done: () => void,
  ): Promise<void> | undefined {
    const header = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof header !== 'string' || header === '' || !request.scope) {
      done();
      return undefined;
    }
    return begin(request, reply, header);
  }

  async function begin(request: FastifyRequest, reply: FastifyReply, header: string): Promise<void> {
    const scope = request.scope.kind === 'admin' ? 'admin' : `app:${request.scope.appId}`;
    const key = createHash('sha256')
      .update(`${scope}\n${request.method} ${request.url}\n${header}`)
      .digest('base64url');
    while (inFlight.has(key)) await inFlight.get(key);
    // The key is claimed before the store is asked, so a repeat arriving during that lookup waits too.
    const pending = claim(key);
    let stored: IdempotentResponse | null;
    try {
      stored = await store.idempotency.get(key, now());
    } catch (error) {
      pending.done();
      throw error;
    }
    if (!stored) {
      request.idempotency = pending;
      return;
    }
    pending.done();
    void reply.header('idempotent-replayed', 'true');
    if (stored.statusCode === 204 || stored.body === '') return void reply.code(stored.statusCode).send();
    return void sendJson(reply, stored.statusCode, stored.body);
  }

  /** Marks `key` as running until `done` (which is safe to call twice: abort, then onSend). */
  function claim(key: string): { key: string; done: () => void } {
    let release = () => {};
    const running = new Promise<void>((resolve) => (release = resolve));
    inFlight.set(key, running);
    return {
      key,
      done: () => {
        if (inFlight.get(key) === running) inFlight.delete(key);
        release();
      },
    };
  }

  function onSend(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: null, payload: unknown) => void,
  ): Promise<unknown> | undefined {
    const pending = request.idempotency;
    if (!pending) {
      done(null, payload);
      return undefined;
    }
    request.idempotency = null;
    return keep(pending, reply.statusCode, payload);
  }

  async function keep(
    pending: { key: string; done: () => void },
    statusCode: number,
    payload: unknown,
  ): Promise<unknown> {
    try {
      if (statusCode < 500 && (typeof payload === 'string' || payload == null)) {
        const body = typeof payload === 'string' ? payload : '';
        await store.idempotency.put(pending.key, { statusCode, body }, now() + ttlMs);
      }
    } finally {
      pending.done();
    }
    return payload;
  }

  function onRequestAbort(request: FastifyRequest): void {
    request.idempotency?.done();
  }

  return { preHandler, onSend, onRequestAbort };
}
