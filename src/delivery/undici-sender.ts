// The HTTP sender: one POST per attempt through a shared keep-alive pool, guarded against SSRF.
// Never throws: every failure becomes a SendResult. The rules are those of the README, "Refusing internal targets".
//  - IP-literal hosts are checked before dialing (Node skips a custom lookup for literals).
//  - Hostnames resolve once (dns.lookup, all addresses); blocked ones are dropped; only the rest is dialed.
//  - No redirects (undici 7 follows none without its redirect interceptor); no proxy from the environment.
//  - One total deadline covers connect, headers and body, so a trickling receiver cannot stretch it.

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { ipLiteral } from '../core/endpoint-url.ts';
import type { ResponseHeaders, SendResult } from '../core/outcome.ts';
import { blockedRange, blockedReason, type Cidr, canonicalAddress, isAllowedAddress } from '../core/ssrf.ts';
import { responseText } from './response-text.ts';

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface Sender {
  send(request: SendRequest): Promise<SendResult>;
  close(): Promise<void>;
}

export interface SenderOptions {
  timeoutMs: number; // total deadline including the body read
  connectTimeoutMs: number;
  bodyCap: number; // bytes of the response body kept
  allow: readonly Cidr[]; // allowlisted subnets
  refuse?: readonly { host: string; port: number }[]; // the platform's own listen addresses
  /**
   * At least the attempts in flight at once (the worker's concurrency): endpoints sharing an origin then
   * never queue behind each other for a connection, where time spent waiting would count against the
   * attempt's deadline and time out attempts that were never sent. Default 128.
   */
  connectionsPerOrigin?: number;
}

const USER_AGENT = 'Doorbell-Webhooks/0.1';
const DISCARD_LIMIT = 256 * 1024; // past the cap, drain this much more to keep the connection, then drop it

/** Raised inside the connector when DNS returned nothing we may dial. */
class BlockedError extends Error {
  readonly code = 'EDOORBELLBLOCKED';
}

const canonical = canonicalAddress;

/** Decides whether an address:port is the platform itself. An unspecified host matches every local address. */
function makeRefuser(
  refuse: readonly { host: string; port: number }[],
): (address: string, port: number) => boolean {
  if (refuse.length === 0) return () => false;
  const exact = new Set<string>();
  const anyLocal = new Set<number>();
  for (const { host, port } of refuse) {
    const key = canonical(host === 'localhost' ? '127.0.0.1' : host);
    if (key === null || key === canonical('0.0.0.0') || key === canonical('::')) anyLocal.add(port);
    else exact.add(`${key}|${port}`);
    if (host === 'localhost') exact.add(`${canonical('::1')}|${port}`);
    // Dialed, the unspecified addresses reach this host's own listeners, whatever address they are on.
    for (const unspecified of ['0.0.0.0', '::']) exact.add(`${canonical(unspecified)}|${port}`);
  }
  const local = new Set<string>([canonical('0.0.0.0')!, canonical('::')!]);
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const key = canonical(info.address);
      if (key !== null) local.add(key);
    }
  }
  return (address, port) => {
    const key = canonical(address);
    if (key === null) return false;
    if (exact.has(`${key}|${port}`)) return true;
    return anyLocal.has(port) && (local.has(key) || blockedRange(key) === 'loopback');
  };
}

function withUserAgent(headers: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(headers)) if (name.toLowerCase() === 'user-agent') return headers;
  return { 'user-agent': USER_AGENT, ...headers };
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/** Errors of this process's own resources (file descriptors, memory), which say nothing of the endpoint. */
const LOCAL_FAULTS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

function errorCode(error: unknown): { code: string | undefined; message: string; blocked: boolean } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof BlockedError)
      return { code: current.code, message: current.message, blocked: true };
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET')
      return { code, message: current.message, blocked: false };
    if (current.cause === undefined) break;
    current = current.cause;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: (error as { code?: string } | null)?.code, message, blocked: false };
}

function describeError(code: string | undefined, message: string, target: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused (${target})`;
    case 'ECONNRESET':
      return `connection reset (${target})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'ENODATA':
      return `DNS lookup failed for ${target} (${code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable (${target})`;
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      // undici's words for a response it cannot read, such as a 100 Continue that was not asked for.
      if (message === 'bad response') return `invalid response: not HTTP, or a 100 Continue (${target})`;
      if (message === 'bad upgrade') return `invalid response: 101 Switching Protocols (${target})`;
      return `connection closed (${target})`;
    case 'ERR_ASSERTION': // a status line undici cannot take, such as status 050
      return `invalid response (${target})`;
    default:
      if (code !== undefined && /CERT|TLS|SSL/.test(code)) return `TLS error: ${code} (${target})`;
      return code === undefined ? `${message} (${target})` : `${code}: ${message} (${target})`;
  }
}

interface Target {
  origin: string;
  path: string;
  host: string;
}

/** Parses a delivery URL once; an unusable or blocked one becomes the result every send returns. */
function parseTarget(
  raw: string,
  allow: readonly Cidr[],
  refused: (address: string, port: number) => boolean,
): Target | { blocked: SendResult } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { blocked: { kind: 'error', reason: 'invalid URL', durationMs: 0 } };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { blocked: { kind: 'blocked', reason: `unsupported scheme ${url.protocol}`, durationMs: 0 } };
  }
  const port = Number(url.port) || defaultPort(url.protocol);
  const literal = ipLiteral(url.hostname);
  if (literal !== null && (!isAllowedAddress(literal, allow) || refused(literal, port))) {
    return { blocked: { kind: 'blocked', reason: blockedReason(literal, allow), durationMs: 0 } };
  }
  return { origin: url.origin, path: `${url.pathname}${url.search}`, host: url.host };
}

// Abort reasons. They never reach a result: the attempt has settled (or timed out) when it raises them.
const DEADLINE = new Error('total deadline exceeded');
const OVERSIZE = new Error('response body past the discard limit');

// A receiver that closes idle keep-alive connections sooner than we do, without a `Keep-Alive` hint, can
// close one just as a request goes out on it: the request fails before any answer, mostly unread. Such
// a request is sent once more at once, on another connection and within its deadline, as Go's client
// does for requests that carry an idempotency key (a webhook's id is one). The connection must have
// carried an exchange before (something was read on it) and nothing of this answer have come, not even
// a 1xx: a receiver that reads the request and then closes without a word gets it twice.
const STALE_RETRIES = 1;

/** What the connector notes on an error of its connection (see `connect`). */
type Noted = Error & { code?: string; readBefore?: number; readAtError?: number };

/** Whether a request failed, unanswered, on a connection that had already carried an exchange. */
function onStaleConnection(error: Noted): boolean {
  const { code, readBefore = 0, readAtError } = error;
  const closed =
    code === 'UND_ERR_SOCKET'
      ? error.message === 'other side closed' || error.message === 'closed'
      : code === 'ECONNRESET' || code === 'EPIPE';
  return closed && readBefore > 0 && readAtError === readBefore;
}

/**
 * One attempt as a raw undici dispatch handler: the response body is collected straight from the
 * parser (capped), and one timer is the total deadline. This avoids, per request, an AbortController
 * and its listeners, a Readable body stream and the promise chain of `agent.request`.
 * Settles exactly once; later callbacks (the error that follows our own abort) are ignored.
 */
class Attempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private timedOut = false;
  private settled = false;
  private status = 0;
  private headers: ResponseHeaders = {};
  private chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;
  private retries = 0;
  private readonly timer: NodeJS.Timeout;
  readonly result: Promise<SendResult>;
  private resolve!: (result: SendResult) => void;

  constructor(
    private readonly target: Target,
    private readonly timeoutMs: number,
    private readonly bodyCap: number,
    private readonly started: number,
    private readonly dispatch: (attempt: Attempt) => void,
  ) {
    this.result = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.timer = setTimeout(expire, timeoutMs, this);
  }

  /**
   * The deadline passed: the attempt is a timeout now, unless its status has arrived (the rest of the
   * body is then not waited for). A request still waiting for a connection has nothing to abort yet;
   * onRequestStart aborts it before anything is written.
   */
  expire(): void {
    if (this.settled) return;
    this.timedOut = true;
    const controller = this.controller;
    if (this.status !== 0) this.respond(true);
    else this.settle({ kind: 'timeout', durationMs: this.elapsed(), limitMs: this.timeoutMs });
    controller?.abort(DEADLINE); // its error callback finds the attempt settled
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Past its deadline by the clock, though its timer has not run yet (a busy loop): nothing is written.
    if (!this.timedOut && performance.now() - this.started >= this.timeoutMs) this.expire();
    if (this.timedOut) controller.abort(DEADLINE);
    else this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: ResponseHeaders,
  ): void {
    if (status < 200) return; // 1xx informational: the final response follows
    this.status = status;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.seen += chunk.length;
    const room = this.bodyCap - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (this.seen > this.bodyCap + DISCARD_LIMIT) {
      this.respond(); // a huge body is not worth reading: keep what we have, drop the connection
      controller.abort(OVERSIZE);
    }
  }

  onResponseEnd(): void {
    this.respond();
  }

  /**
   * The status, once it has arrived, is the receiver's answer even if its body then fails (a reset, or
   * a 204 that announces a length it never sends): a 2xx is delivered, not sent again.
   */
  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.settled) return;
    if (this.status !== 0) this.respond(true);
    else if (this.retries < STALE_RETRIES && onStaleConnection(error as Noted)) {
      this.retries++;
      this.controller = null;
      queueMicrotask(() => this.dispatch(this)); // once undici has finished with the closed connection
    } else this.settle(this.failure(error));
  }

  /** Maps why no response arrived (a timeout has settled before the error its abort raises). */
  private failure(error: Error): SendResult {
    const durationMs = this.elapsed();
    const { code, message, blocked } = errorCode(error);
    if (blocked) return { kind: 'blocked', reason: message, durationMs };
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'timeout', durationMs, stage: 'connect' };
    const reason = describeError(code, message, this.target.host);
    return { kind: 'error', reason, durationMs, ...(LOCAL_FAULTS.has(code ?? '') ? { local: true } : {}) };
  }

  /** `cut`: the body ended early (an error or the deadline), so what was kept may end mid-character. */
  private respond(cut = false): void {
    if (this.settled) return;
    const { chunks, kept } = this;
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, kept);
    this.settle({
      kind: 'response',
      status: this.status,
      headers: this.headers,
      body: responseText(bytes, this.bodyCap, cut || this.seen > kept),
      durationMs: this.elapsed(),
    });
  }

  private settle(result: SendResult): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.controller = null;
    this.resolve(result);
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.started);
  }
}

/**
 * The deadline's timer: the attempt expires once the sockets have been read. Timers run first when the
 * event loop comes round (after a pause, a long GC), and an answer that arrived before the deadline may
 * still be waiting in the socket: it is the answer, not a timeout.
 */
function expire(attempt: Attempt): void {
  setImmediate(expireNow, attempt);
}

function expireNow(attempt: Attempt): void {
  attempt.expire();
}

export function createSender(options: SenderOptions): Sender {
  const { allow, timeoutMs, bodyCap } = options;
  const refused = makeRefuser(options.refuse ?? []);

  // A resolver bound to the destination port (the refuse list is address + port).
  const guardedLookup =
    (port: number): LookupFunction =>
    (hostname, lookupOptions, callback) => {
      const family = (lookupOptions as LookupOptions).family;
      dnsLookup(hostname, { all: true, family: family ?? 0 }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        const usable = addresses.filter(
          (a) => isAllowedAddress(a.address, allow) && !refused(a.address, port),
        );
        const first = usable[0];
        if (first === undefined) {
          const shown = addresses[0]?.address;
          const reason = shown ? blockedReason(shown, allow, hostname) : `blocked address ${hostname}`;
          return callback(new BlockedError(reason), '', 0);
        }
        if ((lookupOptions as LookupOptions).all)
          return (callback as (e: null, a: LookupAddress[]) => void)(null, usable);
        return callback(null, first.address, first.family);
      });
    };

  const connectors = new Map<number, buildConnector.connector>();
  const connect: buildConnector.connector = (connectOptions, callback) => {
    const port = Number(connectOptions.port) || defaultPort(connectOptions.protocol);
    let connector = connectors.get(port);
    if (connector === undefined) {
      connector = buildConnector({ timeout: options.connectTimeoutMs, lookup: guardedLookup(port) });
      connectors.set(port, connector);
    }
    connector(connectOptions, (...result) => {
      // onStaleConnection needs what the connection had read when the request went out, and when it
      // failed. A request is written in one turn (its body is a string), once the last answer has been
      // read whole: the bytes read at its last write are the earlier exchanges'.
      const socket = result[1];
      if (socket) {
        let readBefore = 0;
        const write = socket.write;
        socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
          readBefore = this.bytesRead;
          return write.apply(this, args);
        } as typeof write;
        socket.on('error', (e: Noted) => {
          e.readBefore ??= readBefore;
          e.readAtError ??= socket.bytesRead;
        });
      }
      callback(...result);
    });
  };

  const agent = new Agent({
    connect,
    connections: options.connectionsPerOrigin ?? 128,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    // A receiver's response headers (a large cookie, say) up to 64 KiB: Node's 16 KiB default failed
    // such deliveries for good, every attempt alike.
    maxHeaderSize: 64 * 1024,
    // Each attempt's own timer is the real deadline; undici's idle timers only back it up.
    headersTimeout: timeoutMs + 1_000,
    bodyTimeout: timeoutMs + 1_000,
  });

  // Endpoint URLs repeat: parse and check each once (bounded, so a flood of distinct URLs cannot grow it).
  const targets = new Map<string, Target | { blocked: SendResult }>();
  function target(raw: string): Target | { blocked: SendResult } {
    let t = targets.get(raw);
    if (t === undefined) {
      t = parseTarget(raw, allow, refused);
      if (targets.size >= 10_000) targets.clear();
      targets.set(raw, t);
    }
    return t;
  }

  function send(request: SendRequest): Promise<SendResult> {
    const started = performance.now();
    const t = target(request.url);
    if ('blocked' in t) return Promise.resolve(t.blocked);
    const options: Dispatcher.DispatchOptions = {
      origin: t.origin,
      path: t.path,
      method: 'POST',
      headers: withUserAgent(request.headers),
      body: request.body,
    };
    const dispatch = (attempt: Attempt) => {
      try {
        agent.dispatch(options, attempt);
      } catch (error) {
        // undici reports its own failures through the handler; this only catches malformed input.
        attempt.onResponseError(undefined, error instanceof Error ? error : new Error(String(error)));
      }
    };
    const attempt = new Attempt(t, timeoutMs, bodyCap, started, dispatch);
    dispatch(attempt);
    return attempt.result;
  }

  return {
    send,
    async close() {
      await agent.close();
    },
  };
}
