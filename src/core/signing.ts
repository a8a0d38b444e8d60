// Standard Webhooks symmetric signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
// `${id}.${timestamp}.${body}`, keyed with the base64-decoded secret, sent as 'v1,<base64>'.

import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DEFAULT_TOLERANCE_SEC = 300;

export interface SignInput {
  msgId: string;
  timestamp: number; // integer seconds
  body: string;
  secrets: readonly string[]; // one signature per live secret (rotation)
}

/** A new secret: 'whsec_' + base64 of the given 24..64 random bytes. */
export function generateSecret(random: Uint8Array): string {
  if (random.length < MIN_KEY_BYTES || random.length > MAX_KEY_BYTES) {
    throw new RangeError(
      `secret needs ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} random bytes, got ${random.length}`,
    );
  }
  return PREFIX + Buffer.from(random).toString('base64');
}

function keyBytes(secret: string): Buffer | null {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return null;
  const key = Buffer.from(encoded, 'base64');
  return key.length >= MIN_KEY_BYTES && key.length <= MAX_KEY_BYTES ? key : null;
}

/** Optional 'whsec_' prefix plus canonical base64 of 24..64 bytes (Svix: ^(whsec_)?[a-zA-Z0-9+/=]{32,100}$). */
export function isValidSecret(secret: string): boolean {
  return keyBytes(secret) !== null;
}

/** Adds the 'whsec_' prefix when missing. */
export function normalizeSecret(secret: string): string {
  return secret.startsWith(PREFIX) ? secret : PREFIX + secret;
}

function requireKey(secret: string): Buffer {
  const key = keyBytes(secret);
  if (!key) throw new Error('invalid webhook secret');
  return key;
}

/**
 * A string body is signed as its UTF-8 bytes; given bytes are signed as they are. A string is hashed in
 * one update with its prefix: 7 µs against 10 for two updates, for a 1 KiB body.
 */
function digest(key: Buffer, msgId: string, timestamp: number | string, body: string | Uint8Array): Buffer {
  const hmac = createHmac('sha256', key);
  if (typeof body === 'string') return hmac.update(`${msgId}.${timestamp}.${body}`).digest();
  return hmac.update(`${msgId}.${timestamp}.`).update(body).digest();
}

/** The webhook-signature value: 'v1,<b64>' per secret, space-separated. Throws on an invalid secret. */
export function signatureHeader(input: SignInput): string {
  return input.secrets
    .map(
      (secret) =>
        `v1,${digest(requireKey(secret), input.msgId, input.timestamp, input.body).toString('base64')}`,
    )
    .join(' ');
}

/** Every header of an outbound webhook: Standard Webhooks names, their svix-* twins, and the content type. */
export function webhookHeaders(input: SignInput): Record<string, string> {
  const id = input.msgId;
  const timestamp = String(input.timestamp);
  const signature = signatureHeader(input);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
    'svix-id': id,
    'svix-timestamp': timestamp,
    'svix-signature': signature,
  };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export interface VerifyInput {
  headers: Record<string, string | undefined>;
  /** The body as received: bytes that are not valid UTF-8 must be given as bytes, not decoded text. */
  body: string | Uint8Array;
  secret: string;
  now: number; // ms
  toleranceSec?: number; // both directions; default 300
}

function lookup(headers: Record<string, string | undefined>, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

/** Verifies a signed webhook given webhook-* or svix-* headers. Compares in constant time. */
export function verifySignature(input: VerifyInput): VerifyResult {
  const { headers } = input;
  const brand =
    lookup(headers, 'webhook-id') === undefined && lookup(headers, 'svix-id') !== undefined
      ? 'svix'
      : 'webhook';
  const id = lookup(headers, `${brand}-id`);
  const timestampText = lookup(headers, `${brand}-timestamp`);
  const signatures = lookup(headers, `${brand}-signature`);
  if (!id) return { ok: false, reason: `missing ${brand}-id header` };
  if (!timestampText) return { ok: false, reason: `missing ${brand}-timestamp header` };
  if (!signatures) return { ok: false, reason: `missing ${brand}-signature header` };

  const key = keyBytes(input.secret);
  if (!key) return { ok: false, reason: 'invalid secret' };
  if (!/^\d+$/.test(timestampText)) return { ok: false, reason: 'invalid timestamp' };
  const timestamp = Number(timestampText);
  const tolerance = input.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const nowSec = Math.floor(input.now / 1000);
  if (timestamp < nowSec - tolerance) return { ok: false, reason: 'timestamp too old' };
  if (timestamp > nowSec + tolerance) return { ok: false, reason: 'timestamp too new' };

  // The base64 text is compared, as the Standard Webhooks libraries do: decoding would skip characters
  // that are not base64 and accept a signature they refuse.
  const expected = Buffer.from(digest(key, id, timestampText, input.body).toString('base64'));
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(entry.slice(comma + 1));
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no matching signature' };
}
