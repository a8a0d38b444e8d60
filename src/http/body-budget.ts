// Large request bodies held at once, on every route (a DELETE's body is read too). A body is read whole,
// then decoded and parsed, and a publish's payload crosses to the database thread: while its request
// runs, a body costs about five times its size (200 publishes of 1 MiB at once took 1.2 GB). Bodies of
// SMALL bytes or more (as declared; a chunked one counts as the route's limit) are let in while their sum
// stays within the budget, first come first served; the others wait, their bytes left in the socket
// meanwhile. One body alone is always let in. A body that has waited WAIT_MS is refused with a 503 to
// send it again. The admin token's bodies have the budget to themselves; other tokens' (and public
// routes') share a quarter of it apart, so that app-portal tokens sending bodies to routes that will
// refuse them cannot hold up the admin's publishes. A GET or HEAD has no body to wait for.
import type { FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';
import { closeAfter } from './errors.ts';

const SMALL = 64 * 1024;
const WAIT_MS = 10_000;

interface Waiting {
  bytes: number;
  enter(): void;
}

/** The budget's bookkeeping: `ask` calls `enter` once the bytes fit (at once, or later, in turn). */
export function bodyBudget(maxBytes: number) {
  let held = 0;
  const queue: Waiting[] = [];
  const admitNext = (): void => {
    while (queue.length > 0 && (held === 0 || held + queue[0]!.bytes <= maxBytes)) {
      const next = queue.shift()!;
      held += next.bytes;
      next.enter();
    }
  };
  return {
    ask(waiting: Waiting): void {
      queue.push(waiting);
      admitNext();
    },
    /** Gives back what `waiting` held, or takes it out of the line if it never entered. */
    leave(waiting: Waiting, entered: boolean): void {
      if (entered) held -= waiting.bytes;
      else queue.splice(queue.indexOf(waiting), 1);
      admitNext();
    },
  };
}

/** The preParsing hook that holds large bodies to `maxBytes` in all. */
export function bodyAdmission(maxBytes: number, waitMs = WAIT_MS): preParsingHookHandler {
  const admin = bodyBudget(maxBytes);
  const others = bodyBudget(maxBytes / 4);
  return (request, reply, payload, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') return done(null, payload);
    const budget = request.scope?.kind === 'admin' ? admin : others;
    const limit = request.routeOptions.bodyLimit ?? 0;
    const { 'content-length': length, 'transfer-encoding': chunked } = request.headers;
    const bytes = Math.min(length !== undefined ? Number(length) : chunked !== undefined ? limit : 0, limit);
    if (!(bytes >= SMALL)) return done(null, payload);
    let state: 'waiting' | 'in' | 'out' = 'waiting';
    const waiting: Waiting = {
      bytes,
      enter() {
        state = 'in';
        clearTimeout(timer);
        done(null, payload);
      },
    };
    const { socket } = request.raw;
    const out = (): void => {
      clearTimeout(timer);
      socket.off('close', out);
      if (state !== 'out') budget.leave(waiting, state === 'in');
      state = 'out';
    };
    const timer = setTimeout(() => {
      out();
      refuse(request, reply);
    }, waitMs);
    // Answered or gone: its bytes are given back, or it leaves the line. A response queued behind another
    // on its connection (pipelined) never closes once the connection is gone: the connection's end counts.
    reply.raw.once('close', out);
    socket.once('close', out);
    budget.ask(waiting);
  };
}

function refuse(request: FastifyRequest, reply: FastifyReply): void {
  closeAfter(request, reply);
  void reply
    .code(503)
    .header('retry-after', '1')
    .send({ code: 'unavailable', detail: 'too many large request bodies are being read: send it again' });
}
