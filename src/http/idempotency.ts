// `idempotency-key` on a POST: the first successful (2xx) response (status and body) is kept for
// idempotencyTtlMs and replayed to any repeat from the same token for the same route and path (a trailing
// slash or a percent-escape aside; an id and a uid are two paths, as in Svix), by every API process
// sharing the store. The first request takes the key in the store (a running marker with a short lease);
// a repeat arriving while it runs waits for it: behind the request of this process that holds the key,
// or, when another process runs it, by asking the store again every pollMs, up to waitMs, then 409 (as
// Stripe answers a concurrent request with the same key). A first request that fails (4xx, 5xx) gives the
// key up, as in Svix, so that a corrected repeat runs; one whose process died loses it when its lease ends.
// A publish (and send-example) keeps its response in the commit of its message, so a process killed
// before it answered leaves the key answered: the repeat gets that message, not a second one.
// A kept response names the body it answered: the key sent again with another body is a 422, not the
// first body's response (a token minted read-only, say, answered with the full one minted first), as the
// IETF's Idempotency-Key draft asks (draft-ietf-httpapi-idempotency-key-header, "Error Scenarios").
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../core/errors.ts';
import type { IdempotentResponse, KeptResponse, Store } from '../store/store.ts';
import { sendJson } from './context.ts';

export interface IdempotencyTiming {
  /** How long a running marker holds its key: past it, its request counts as abandoned. */
  leaseMs: number;
  /** How long a repeat waits for the first request to finish before answering 409. */
  waitMs: number;
  /** How often a repeat asks the store while another process runs the first request. */
  pollMs: number;
}

const TIMING: IdempotencyTiming = { leaseMs: 60_000, waitMs: 30_000, pollMs: 25 };

/**
 * The request holding `key` in this process; `owner` names it as the holder of the store's marker, and
 * `request` the hash of its body. A handler that commits the response to keep in its own write (a publish: a
 * process killed between its commit and onSend would leave the key free, and a repeat would publish
 * again) gets it from `keep`; onSend then keeps nothing more.
 */
export interface IdempotentRequest {
  key: string;
  owner: string;
  request: string;
  keep(statusCode: number, text: string): KeptResponse;
  kept: boolean;
  done: () => void;
}

export function idempotencyHooks(
  store: Store,
  now: () => number,
  ttlMs: number,
  timing: IdempotencyTiming = TIMING,
) {
  const inFlight = new Map<string, Promise<void>>();
  // Owners unique across processes, so that a late abandon never drops a marker another request took
  // over after the lease ended.
  const processTag = randomBytes(9).toString('base64url');
  let ownerSeq = 0;

  // Requests without the header (nearly all of them) pass through synchronously through `done`, without
  // the promise and microtask turns of an async hook; the others return a promise, which Fastify awaits
  // as it would an async hook's.
  function preHandler(
    request: FastifyRequest,
    reply: FastifyReply,
    done: () => void,
  ): Promise<void> | undefined {
    const header = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof header !== 'string' || !request.scope) {
      done();
      return undefined;
    }
    checkKey(header, request.raw.rawHeaders);
    return begin(request, reply, header);
  }

  async function begin(request: FastifyRequest, reply: FastifyReply, header: string): Promise<void> {
    const { scope } = request;
    const token = scope.kind === 'admin' ? 'admin' : `app:${scope.appId}:${scope.tokenId}`;
    // The route and its decoded path parameters: a trailing slash or a percent-escape is the same path.
    const queryAt = request.url.indexOf('?');
    const query = queryAt < 0 ? '' : request.url.slice(queryAt);
    const target = `${request.routeOptions.url} ${JSON.stringify(request.params)}${query}`;
    const key = createHash('sha256')
      .update(`${token}\n${request.method} ${target}\n${header}`)
      .digest('base64url');
    const giveUpAt = performance.now() + timing.waitMs;
    const bodyHash = createHash('sha256')
      .update(request.rawBody ?? '')
      .digest('base64url');
    // The key is held in this process before the store is asked (and while it is polled), so repeats
    // arriving here meanwhile wait on that instead of asking the store too.
    const pending = await claimWhenFree(key, bodyHash, keptBody(request), giveUpAt);
    if (!pending) return conflict(reply, header);
    try {
      for (;;) {
        const at = now();
        const found = await store.idempotency.begin(key, pending.owner, at, at + timing.leaseMs);
        if (found.state === 'first') {
          request.idempotency = pending;
          return;
        }
        if (found.state === 'done') {
          pending.done();
          const answered = found.response.request;
          if (answered !== null && answered !== bodyHash)
            throw invalid(
              ['header', 'idempotency-key'],
              'was used with another request body: send the same body to get its response, or use a new key',
            );
          return await replay(request, reply, found.response);
        }
        if (performance.now() + timing.pollMs > giveUpAt || request.raw.socket?.destroyed) {
          pending.done();
          return conflict(reply, header);
        }
        await sleep(timing.pollMs);
      }
    } catch (error) {
      pending.done();
      throw error;
    }
  }

  /** Waits until no request of this process holds `key`, then holds it; null past `giveUpAt`. */
  async function claimWhenFree(
    key: string,
    bodyHash: string,
    kept: (text: string) => string,
    giveUpAt: number,
  ): Promise<IdempotentRequest | null> {
    for (let running = inFlight.get(key); running; running = inFlight.get(key)) {
      const left = giveUpAt - performance.now();
      if (left <= 0 || !(await settlesWithin(running, left))) return null;
    }
    return claim(key, bodyHash, kept);
  }

  /**
   * Marks `key` as running until `done` (which is safe to call twice: abort, then onSend); `kept` is
   * what of a response's text the key replays.
   */
  function claim(key: string, request: string, kept: (text: string) => string): IdempotentRequest {
    let release = () => {};
    const running = new Promise<void>((resolve) => (release = resolve));
    inFlight.set(key, running);
    const pending: IdempotentRequest = {
      key,
      owner: `${processTag}.${++ownerSeq}`,
      request,
      keep: (statusCode, text) => {
        pending.kept = true;
        return { key, response: { statusCode, body: kept(text), request }, expiresAt: now() + ttlMs };
      },
      kept: false,
      done: () => {
        if (inFlight.get(key) === running) inFlight.delete(key);
        release();
      },
    };
    return pending;
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

  async function keep(pending: IdempotentRequest, statusCode: number, payload: unknown): Promise<unknown> {
    try {
      if (statusCode >= 200 && statusCode < 300 && (typeof payload === 'string' || payload == null)) {
        if (pending.kept) return payload; // committed with the handler's write
        const { key, response, expiresAt } = pending.keep(
          statusCode,
          typeof payload === 'string' ? payload : '',
        );
        await store.idempotency.put(key, response, expiresAt);
      } else {
        await store.idempotency.abandon(pending.key, pending.owner);
      }
    } catch (error) {
      // Nothing is kept: a repeat may run again, rather than wait for the lease to end.
      await store.idempotency.abandon(pending.key, pending.owner).catch(() => {});
      throw error;
    } finally {
      pending.done();
    }
    return payload;
  }

  // The handler carries on after the client went away and its onSend still puts or abandons the
  // store's marker: giving the key up here could let a repeat run while it still publishes. Only this
  // process's hold ends, in case the lifecycle never reaches onSend: repeats then ask the store.
  function onRequestAbort(request: FastifyRequest): void {
    request.idempotency?.done();
  }

  return { preHandler, onSend, onRequestAbort };
}

/** What of a response's text a key of this request's route replays: see FastifyContextConfig['idempotent']. */
function keptBody(request: FastifyRequest): (text: string) => string {
  const kept = request.routeOptions.config.idempotent;
  return (text) => (kept && text !== '' ? kept.keep(text) : text);
}

async function replay(
  request: FastifyRequest,
  reply: FastifyReply,
  stored: IdempotentResponse,
): Promise<void> {
  // The response to one request (a token, say), whatever the first one's headers said: no cache keeps it.
  void reply.header('idempotent-replayed', 'true').header('cache-control', 'no-store');
  if (stored.statusCode === 204 || stored.body === '') return void reply.code(stored.statusCode).send();
  const kept = request.routeOptions.config.idempotent;
  const body = kept ? await kept.replay(request, stored.body) : stored.body;
  return void sendJson(reply, stored.statusCode, body);
}

/**
 * A key is one header of 1 to 255 printable ASCII characters (Stripe's bound; a UUID fits). An empty one
 * (or one of spaces, which HTTP trims to empty) would otherwise be dropped without a word, and the repeat
 * it was to guard would run again.
 */
function checkKey(header: string, rawHeaders: readonly string[]): void {
  let lines = 0; // Node joins repeated lines into one value with ", ": two keys would pass for one
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === 'idempotency-key') lines++;
  const why =
    lines > 1
      ? 'must be given once'
      : header.trim() === ''
        ? 'must not be empty'
        : header.length > MAX_KEY
          ? `must be at most ${MAX_KEY} characters`
          : /[^\x20-\x7e]/.test(header)
            ? 'must be printable ASCII'
            : null;
  if (why !== null) throw invalid(['header', 'idempotency-key'], why);
}

const MAX_KEY = 255;

function conflict(reply: FastifyReply, header: string): void {
  void reply.code(409).send({
    code: 'conflict',
    detail: `a request with idempotency-key ${JSON.stringify(header)} is still being processed; retry later`,
  });
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
