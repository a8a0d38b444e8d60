// Harness for end-to-end tests that run Doorbell in-process: start it on a free loopback port over an
// in-memory store, call its API with the admin token, and poll until a condition holds. Receivers
// come from ./receiver.ts.
import assert from 'node:assert/strict';
import { type Running, startDoorbell } from '../../src/bin/serve.ts';
import { type DeliveryConfig, makeConfig } from '../../src/config/config.ts';

export const TOKEN = 'test-admin-token';

/**
 * Starts Doorbell with fast, deterministic retries (0, 50, 50 ms, no jitter, 100 ms penalty) that
 * may deliver to 127.0.0.0/8; `delivery` overrides any of these.
 */
export function start(delivery: Partial<DeliveryConfig> = {}): Promise<Running> {
  return startDoorbell(
    makeConfig({
      port: 0,
      database: ':memory:',
      adminToken: TOKEN,
      delivery: {
        retrySchedule: [0, 50, 50],
        jitter: 0,
        penaltyMs: 100,
        allowSubnets: ['127.0.0.0/8'],
        ...delivery,
      },
    }),
  );
}

async function request(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** Calls `base`/api/v1`path` with the admin token; the body is parsed JSON, or null when empty. */
export async function api(base: string, method: string, path: string, body?: unknown) {
  const { status, text } = await request(base, method, path, body);
  return { status, body: text ? JSON.parse(text) : null };
}

/** Like `api`, but asserts a 2xx answer and returns the parsed body. */
export async function apiOk(base: string, method: string, path: string, body?: unknown) {
  const { status, text } = await request(base, method, path, body);
  assert.ok(status < 300, `${method} ${path} → ${status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Polls `fn` every 20 ms until it returns something other than undefined or false; fails after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
