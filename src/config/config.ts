// The one configuration object, parsed once at the composition root, frozen, passed down.
// Defaults follow the configuration table of the README; each line says where its number comes from.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface DeliveryConfig {
  /** Delay before each attempt; the first is 0 (sent once committed). Length = attempts in all. */
  retrySchedule: readonly number[];
  jitter: number; // ± fraction of each delay
  penaltyMs: number; // minimum next delay after a timeout or a 429
  attemptTimeoutMs: number; // total deadline of one attempt
  connectTimeoutMs: number;
  responseBodyCap: number; // bytes of the response body kept
  autoDisableAfterMs: number; // continuous failure before an endpoint is disabled
  concurrency: number; // attempts in flight per worker process
  perEndpointConcurrency: number; // attempts in flight per endpoint
  allowSubnets: readonly string[]; // CIDRs opened to delivery despite the SSRF rules
}

/** What a process runs: the API, delivery, or both (the default, and the only sensible one on SQLite). */
export type Role = 'api' | 'worker' | 'all';

export interface Config {
  role: Role;
  host: string;
  port: number;
  database: string; // a file path (SQLite) or a postgres:// URL
  poolSize: number; // PostgreSQL connections per process (the LISTEN connection aside)
  adminToken: string | null; // from the environment; otherwise generated on first start
  publicUrl: string | null; // how clients reach this server, for app-portal URLs
  delivery: DeliveryConfig;
  rotationGraceMs: number;
  maxOldSecrets: number;
  idempotencyTtlMs: number;
  retentionMs: number;
  bodyLimit: number;
  /** Large request bodies (64 KiB and more) read and handled at once, in bytes in all (see body-budget). */
  bodyBytesInFlight: number;
  /** A request must arrive whole within this, or its connection is closed (408). */
  requestTimeoutMs: number;
  /** A connection whose client takes none of its response for this long is closed (see send-timeout). */
  sendTimeoutMs: number;
}

export const defaultDelivery: DeliveryConfig = {
  // Svix; Standard Webhooks example: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
  retrySchedule: [0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
  jitter: 0.2, // Svix worker
  penaltyMs: 60 * SECOND, // Svix worker
  attemptTimeoutMs: 15 * SECOND, // Svix cloud; the spec recommends 15–30 s
  connectTimeoutMs: 5 * SECOND,
  responseBodyCap: 64 * 1024,
  autoDisableAfterMs: 5 * DAY, // Svix
  concurrency: 512,
  perEndpointConcurrency: 128,
  allowSubnets: [],
};

export const defaults: Config = {
  role: 'all',
  host: '127.0.0.1',
  port: 8071,
  database: '.doorbell/doorbell.db',
  poolSize: 10,
  adminToken: null,
  publicUrl: null,
  delivery: defaultDelivery,
  rotationGraceMs: 24 * HOUR, // Svix, Outpost
  maxOldSecrets: 10,
  idempotencyTtlMs: 24 * HOUR, // Svix keeps 12 h
  retentionMs: 90 * DAY, // Svix
  bodyLimit: 1024 * 1024,
  bodyBytesInFlight: 32 * 1024 * 1024,
  // A 1 MiB body at 35 KB/s. A client trickling its body, or never sending it, would otherwise hold its
  // connection for good (fastify's default is no limit).
  requestTimeoutMs: 30 * SECOND,
  sendTimeoutMs: 60 * SECOND, // nginx's send_timeout
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : DeepPartial<T[K]> };

/** Merges overrides onto the defaults and freezes the result. */
export function makeConfig(overrides: DeepPartial<Config> = {}): Readonly<Config> {
  const delivery = Object.freeze({ ...defaultDelivery, ...(overrides.delivery ?? {}) });
  return Object.freeze({ ...defaults, ...overrides, delivery } as Config);
}
