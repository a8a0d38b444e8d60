// Custom headers an endpoint adds to every delivery, and the secrets that sign them.
import { invalid } from '../core/errors.ts';
import type { EndpointSecret } from '../core/types.ts';

// Headers the sender owns: signatures, the body's description and framing (expect, upgrade and
// keep-alive included: the HTTP client refuses to send them, so every attempt would fail; the body goes
// as it is, so a content-encoding would misdescribe it). Refused so a customer cannot forge or break them.
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'connection',
  'transfer-encoding',
  'te',
  'trailer',
  'expect',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'http2-settings',
]);
const RESERVED_PREFIXES = ['webhook-', 'svix-'];
// Svix redacts these on GET /headers and lists their names under `sensitive`.
const SENSITIVE = new Set([
  'authorization',
  'proxy-authorization',
  'x-auth-token',
  'www-authenticate',
  'proxy-authenticate',
]);
/**
 * A name as CGI-style receivers (WSGI, PHP, Rack) read it: they fold `-` and `_` into one (both become
 * HTTP_WEBHOOK_SIGNATURE), so `webhook_signature` would join the real one there, and break it.
 */
const folded = (name: string): string => name.toLowerCase().replaceAll('_', '-');
/** RFC 9110 field-name, also the schema pattern of header names given without a value. */
export const HEADER_NAME = "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$";
const TOKEN = new RegExp(HEADER_NAME);
// A value the HTTP client can send (RFC 9110 field-value: tab, visible ASCII, space, obs-text).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

// Custom headers go with every attempt, so they must fit what receivers accept: Apache refuses more than
// 100 header fields (LimitRequestFields), nginx a header line past 8 KiB, Node 16 KiB of headers in all.
const MAX_HEADERS = 64;
const MAX_HEADER_BYTES = 8 * 1024;

function sizeOf(headers: Record<string, string | null>): { count: number; bytes: number } {
  const sent = Object.entries(headers).filter(([, value]) => value !== null);
  // Names are ASCII and values Latin-1: one byte a character, and ": " and CRLF around each.
  const bytes = sent.reduce((sum, [name, value]) => sum + name.length + (value?.length ?? 0) + 4, 0);
  return { count: sent.length, bytes };
}

/**
 * Throws a validation error when headers are too many or too large to send with each attempt, unless
 * they are no more than `before` (headers stored before these limits may still be patched down).
 */
export function checkHeadersFit(
  headers: Record<string, string | null>,
  loc: readonly string[],
  before: Record<string, string> = {},
): void {
  const after = sizeOf(headers);
  if (after.count <= MAX_HEADERS && after.bytes <= MAX_HEADER_BYTES) return;
  const was = sizeOf(before);
  if (after.count <= was.count && after.bytes <= was.bytes) return;
  if (after.count > MAX_HEADERS) throw invalid(loc, `at most ${MAX_HEADERS} custom headers`);
  throw invalid(loc, `custom headers take at most ${MAX_HEADER_BYTES} bytes`);
}

/**
 * Throws a validation error naming the first header that may not be set: a null value (a removal)
 * may name any header, so that one stored before it was reserved can still be removed.
 */
export function checkHeaders(headers: Record<string, string | null>, loc: readonly string[]): void {
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) throw invalid([...loc, name], 'invalid header name');
    // A valid field-name, but as an object key it sets the prototype: it would be neither kept nor sent.
    if (name === '__proto__') throw invalid([...loc, name], 'header name __proto__ is not supported');
    if (seen.has(lower)) throw invalid([...loc, name], `header ${name} is given twice (names ignore case)`);
    seen.add(lower);
    if (value === null) continue;
    const as = folded(name);
    if (RESERVED.has(as) || RESERVED_PREFIXES.some((p) => as.startsWith(p))) {
      throw invalid([...loc, name], `header ${name} is set by Doorbell and cannot be overridden`);
    }
    if (BAD_VALUE.test(value)) {
      throw invalid(
        [...loc, name],
        'invalid header value: control characters and characters above U+00FF cannot be sent',
      );
    }
  }
}

/** PATCH semantics: a null value removes the header (names compare case-insensitively). */
export function mergeHeaders(
  current: Record<string, string>,
  patch: Record<string, string | null>,
): Record<string, string> {
  const out: Record<string, string> = { ...current };
  for (const [name, value] of Object.entries(patch)) {
    for (const key of Object.keys(out)) if (key.toLowerCase() === name.toLowerCase()) delete out[key];
    if (value !== null) out[name] = value;
  }
  return out;
}

export function redactHeaders(headers: Record<string, string>): {
  headers: Record<string, string>;
  sensitive: string[];
} {
  const shown: Record<string, string> = {};
  const sensitive: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (SENSITIVE.has(folded(name))) sensitive.push(name);
    else shown[name] = value;
  }
  return { headers: shown, sensitive };
}

/** The new key becomes current; older live keys keep signing until their expiry (at most `maxOld`). */
export function rotateSecrets(
  secrets: readonly EndpointSecret[],
  newKey: string,
  now: number,
  graceMs: number,
  maxOld: number,
): EndpointSecret[] {
  const old = secrets
    .filter((s) => s.expiresAt === null || s.expiresAt > now)
    .map((s) => ({ key: s.key, expiresAt: s.expiresAt ?? now + graceMs }))
    .filter((s) => s.expiresAt > now);
  return [{ key: newKey, expiresAt: null }, ...old.slice(0, maxOld)];
}
