// What one HTTP try produced (SendResult) and what it means for the delivery (AttemptOutcome).
// Rules follow the Standard Webhooks spec and Svix's worker; see the README's defaults.

import { parseHttpDate } from './http-date.ts';
import type { AttemptOutcome } from './types.ts';

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export type SendResult =
  | { kind: 'response'; status: number; headers: ResponseHeaders; body: string; durationMs: number }
  /** limitMs: the deadline that expired, when the sender knows it (used in the reason); `stage`: where. */
  | { kind: 'timeout'; durationMs: number; limitMs?: number; stage?: 'connect' }
  /** Refused, reset, DNS failure, TLS…; `local`: this process lacked a resource (EMFILE…), so nothing went out. */
  | { kind: 'error'; reason: string; durationMs: number; local?: true }
  | { kind: 'blocked'; reason: string; durationMs: number }; // refused by the SSRF guard

const DELAY_SECONDS = /^\d+$/;

/**
 * Retry-After (RFC 9110 §10.2.3) as a delay in ms from `now`: either delay-seconds or an HTTP-date in
 * any of the three forms a recipient must accept (RFC 9110 §5.6.7). A date in the past gives 0.
 * Anything else gives undefined.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  if (DELAY_SECONDS.test(raw)) {
    // Past what a number holds exactly, the delay is simply very long (the caller clamps it).
    return Math.min(Number(raw) * 1000, Number.MAX_SAFE_INTEGER);
  }
  const at = parseHttpDate(raw, now);
  return at === undefined ? undefined : Math.max(0, at - now);
}

function header(headers: ResponseHeaders, name: string): string | string[] | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

function retry(reason: string, retryAfterMs: number | undefined, penalty: boolean): AttemptOutcome {
  const outcome: AttemptOutcome = { kind: 'retry', reason };
  if (retryAfterMs !== undefined) outcome.retryAfterMs = retryAfterMs;
  if (penalty) outcome.penalty = true;
  return outcome;
}

// The 3xx statuses that point elsewhere (RFC 9110 §15.4); a 304 or 300 is just a failure.
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Classifies one try. Only 2xx is success; 3xx is a failure and never followed; 410 Gone disables the
 * endpoint (Standard Webhooks spec). 429 and timeouts carry a penalty (Svix worker). Everything else retries.
 */
export function classify(result: SendResult, now: number): AttemptOutcome {
  switch (result.kind) {
    case 'response': {
      const { status } = result;
      if (status >= 200 && status < 300) return { kind: 'delivered' };
      if (status === 410) return { kind: 'disable', reason: 'HTTP 410 (Gone)' };
      if (REDIRECTS.has(status)) return retry(`redirect (HTTP ${status}) not followed`, undefined, false);
      const retryAfterMs = parseRetryAfter(header(result.headers, 'retry-after'), now);
      return retry(`HTTP ${status}`, retryAfterMs, status === 429);
    }
    case 'timeout':
      return retry(failureReason(result), undefined, true);
    case 'error':
    case 'blocked':
      return retry(failureReason(result), undefined, false);
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}

/**
 * What an attempt keeps of a response: its body, or for a redirect without one (the usual kind) where it
 * pointed, so that the attempt says why it failed and which URL the endpoint should now name.
 */
export function responseText(result: Extract<SendResult, { kind: 'response' }>): string {
  const { status, body } = result;
  if (body !== '' || !REDIRECTS.has(status)) return body;
  const location = header(result.headers, 'location');
  const to = typeof location === 'string' ? ` to ${asUtf8(location)}` : '';
  return `redirect (HTTP ${status})${to} not followed`;
}

/**
 * A header value as its bytes say in UTF-8 (the parser gives one character a byte; invalid bytes become
 * U+FFFD, as in bodies), cut at MAX_LOCATION characters, never within one.
 */
function asUtf8(value: string): string {
  const text = Buffer.from(value, 'latin1').toString('utf8');
  return text.length <= MAX_LOCATION ? text : Array.from(text).slice(0, MAX_LOCATION).join('');
}

const MAX_LOCATION = 2048;

/** Why no usable response arrived, for the stored attempt ('' for a response: its body is stored). */
export function failureReason(result: SendResult): string {
  switch (result.kind) {
    case 'response':
      return '';
    case 'timeout':
      return `${result.stage ? `${result.stage} ` : ''}timeout after ${result.limitMs ?? Math.round(result.durationMs)} ms`;
    case 'error':
    case 'blocked':
      return result.reason;
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}

/** The HTTP status stored with an attempt: 0 when no response arrived. */
export function statusCodeOf(result: SendResult): number {
  return result.kind === 'response' ? result.status : 0;
}
