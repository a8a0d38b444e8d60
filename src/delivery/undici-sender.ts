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
import type { SendResult } from '../core/outcome.ts';
import { blockedRange, type Cidr, canonicalAddress, isAllowedAddress } from '../core/ssrf.ts';

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
  connectionsPerOrigin?: number; // default 128
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
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connect timeout (${target})`;
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return `connection closed (${target})`;
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
    return { blocked: { kind: 'blocked', reason: `blocked address ${literal}`, durationMs: 0 } };
  }
  return { origin: url.origin, path: `${url.pathname}${url.search}`, host: url.host };
}

/** Reads at most `cap` bytes of a body; past cap + DISCARD_LIMIT the connection is dropped. */
function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    body.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (kept < cap) {
        const part = chunk.length <= cap - kept ? chunk : chunk.subarray(0, cap - kept);
        chunks.push(part);
        kept += part.length;
      }
      if (seen > cap + DISCARD_LIMIT) {
        body.destroy(); // a huge body is not worth reading
        resolve(Buffer.concat(chunks, kept).toString('utf8'));
      }
    });
    body.on('end', () => resolve(Buffer.concat(chunks, kept).toString('utf8')));
    body.on('error', reject);
  });
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
          const shown = addresses[0]?.address ?? hostname;
          return callback(new BlockedError(`blocked address ${shown} (from ${hostname})`), '', 0);
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
    connector(connectOptions, callback);
  };

  const agent = new Agent({
    connect,
    connections: options.connectionsPerOrigin ?? 128,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    // The AbortSignal below is the real deadline; undici's idle timers only back it up.
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

  async function send(request: SendRequest): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const t = target(request.url);
    if ('blocked' in t) return t.blocked;
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await agent.request({
        origin: t.origin,
        path: t.path,
        method: 'POST',
        headers: withUserAgent(request.headers),
        body: request.body,
        signal: abort.signal,
      });
      const body = await readCapped(response.body, bodyCap);
      return {
        kind: 'response',
        status: response.statusCode,
        headers: response.headers,
        body,
        durationMs: elapsed(),
      };
    } catch (error) {
      if (abort.signal.aborted) return { kind: 'timeout', durationMs: elapsed(), limitMs: timeoutMs };
      const { code, message, blocked } = errorCode(error);
      if (blocked) return { kind: 'blocked', reason: message, durationMs: elapsed() };
      return { kind: 'error', reason: describeError(code, message, t.host), durationMs: elapsed() };
    } finally {
      clearTimeout(deadline);
    }
  }

  return {
    send,
    async close() {
      await agent.close();
    },
  };
}
