// `idempotency-key` on a POST: the first response (status and body) is kept for idempotencyTtlMs and
// replayed to any repeat from the same scope for the same route. A repeat that arrives while the first
// is still running waits for it.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/store.ts';
import { sendJson } from './context.ts';

export function idempotencyHooks(store: Store, now: () => number, ttlMs: number) {
  const inFlight = new Map<string, Promise<void>>();

  async function preHandler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof header !== 'string' || header === '' || !request.scope) return;
    const scope = request.scope.kind === 'admin' ? 'admin' : `app:${request.scope.appId}`;
    const key = createHash('sha256')
      .update(`${scope}\n${request.method} ${request.url}\n${header}`)
      .digest('base64url');
    while (inFlight.has(key)) await inFlight.get(key);
    const stored = await store.idempotency.get(key, now());
    if (stored) {
      void reply.header('idempotent-replayed', 'true');
      if (stored.statusCode === 204 || stored.body === '') return void reply.code(stored.statusCode).send();
      return void sendJson(reply, stored.statusCode, stored.body);
    }
    let done = () => {};
    inFlight.set(key, new Promise<void>((resolve) => (done = resolve)));
    request.idempotency = {
      key,
      done: () => {
        inFlight.delete(key);
        done();
      },
    };
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const pending = request.idempotency;
    if (!pending) return payload;
    request.idempotency = null;
    try {
      if (reply.statusCode < 500 && (typeof payload === 'string' || payload == null)) {
        const body = typeof payload === 'string' ? payload : '';
        await store.idempotency.put(pending.key, { statusCode: reply.statusCode, body }, now() + ttlMs);
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
