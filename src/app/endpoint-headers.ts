// Custom headers an endpoint adds to every delivery, and the secrets that sign them.
import { invalid } from '../core/errors.ts';
import type { EndpointSecret } from '../core/types.ts';

// Headers the sender owns: signatures and framing. Refused so a customer cannot forge or break them.
const RESERVED = new Set(['host', 'content-length', 'content-type', 'connection', 'transfer-encoding']);
const RESERVED_PREFIXES = ['webhook-', 'svix-'];
// Svix redacts these on GET /headers and lists their names under `sensitive`.
const SENSITIVE = new Set([
  'authorization',
  'proxy-authorization',
  'x-auth-token',
  'www-authenticate',
  'proxy-authenticate',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/; // RFC 9110 field-name
const BAD_VALUE = /[\r\n\0]/;

/** Throws a validation error naming the first header that may not be set. */
export function checkHeaders(headers: Record<string, string | null>, loc: readonly string[]): void {
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) throw invalid([...loc, name], 'invalid header name');
    if (RESERVED.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p))) {
      throw invalid([...loc, name], `header ${name} is set by Doorbell and cannot be overridden`);
    }
    if (value !== null && BAD_VALUE.test(value)) throw invalid([...loc, name], 'invalid header value');
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
    if (SENSITIVE.has(name.toLowerCase())) sensitive.push(name);
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
