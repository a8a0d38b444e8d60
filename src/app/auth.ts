// Tokens. The admin token is kept only as a sha256 hash. App-portal tokens are stateless: an
// HMAC-signed claim {app, exp, jti} under a key generated once and kept in the store's settings.
// Logout of an app token records its jti as revoked until it would have expired anyway. Expiring all
// of an application's tokens records a cut-off: tokens issued before it stop working (token-cutoff.ts).
// Issue times and cut-offs are read off one clock, the database's where processes share it: a process
// whose clock ran ahead would otherwise issue tokens that outlive an expire-all made just after.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config.ts';
import { conflict } from '../core/errors.ts';
import { type Cutoff, cutOffAt, foldCutoff } from '../core/token-cutoff.ts';
import type { Store } from '../store/store.ts';
import type { Capability, Scope } from './context.ts';

const ADMIN_HASH = 'admin_token_sha256';
const SIGNING_KEY = 'app_token_signing_key';
const REVOKED = 'revoked_app_token:';
const CUTOFF = 'app_token_cutoff:';
const CUTOFF_TRIES = 100;
const APP_TOKEN_PREFIX = 'appsk_';
export const DEFAULT_APP_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000; // Svix app-portal default: 7 days
// Verified tokens are remembered so that a request costs a map lookup, not a hash (admin) or an HMAC
// and a store read (app). The admin hash is read once per process, so an admin token stays valid for
// the process lifetime; an app token is re-checked after VERIFIED_TTL_MS (a logout by another process
// shows within that time, a logout here at once) and never outlives its expiry.
const VERIFIED_TTL_MS = 1000;
const VERIFIED_MAX = 1024;
const VERIFIED_MAX_TOKEN_LENGTH = 1024; // longer spellings of a valid token are verified every time

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

export async function initAdminToken(
  store: Store,
  config: Readonly<Config>,
): Promise<{ generated: string | null }> {
  if (config.adminToken) {
    await store.settings.put(ADMIN_HASH, sha256(config.adminToken).toString('hex'));
    return { generated: null };
  }
  if (await store.settings.get(ADMIN_HASH)) return { generated: null };
  // Several API processes starting at once on one database: one token wins, and only its process prints it.
  const token = `dbk_${randomBytes(24).toString('base64url')}`;
  const hash = sha256(token).toString('hex');
  return { generated: (await store.settings.putIfAbsent(ADMIN_HASH, hash)) === hash ? token : null };
}

interface Claim {
  app: string;
  exp: number;
  jti: string;
  iat?: number; // issued at (ms); absent in tokens issued before expire-all existed: the oldest
  ff?: string[]; // feature flags, when issued with some
  cap?: Capability[]; // capabilities, when limited to some
}

export interface Authenticator {
  /** The scope a bearer token grants, or null when it is unknown, expired or revoked. */
  verify(token: string, now: number): Promise<Scope | null>;
  /** The scope of a token verified recently, without I/O; undefined when it needs `verify`. */
  cached(token: string, now: number): Scope | undefined;
  issueAppToken(
    appId: string,
    now: number,
    ttlMs?: number,
    featureFlags?: readonly string[],
    capabilities?: readonly Capability[] | null,
  ): Promise<string>;
  /** Revokes an app token (admin tokens are configured, not revoked by logout). */
  logout(token: string, now: number): Promise<void>;
  /** Every token of the app issued until `now` stops working after `delayMs`. */
  expireAll(appId: string, now: number, delayMs: number): Promise<void>;
}

/** Token → scope for tokens that verified, bounded (oldest dropped first), each until its own time. */
class VerifiedTokens {
  readonly #entries = new Map<string, { scope: Scope; until: number }>();

  get(token: string, now: number): Scope | undefined {
    const hit = this.#entries.get(token);
    if (!hit) return undefined;
    if (hit.until > now) return hit.scope;
    this.#entries.delete(token);
    return undefined;
  }

  /** Scopes are shared by every request that presents the token, hence frozen. */
  set(token: string, scope: Scope, until: number): void {
    if (token.length > VERIFIED_MAX_TOKEN_LENGTH) return;
    Object.freeze(scope);
    if (this.#entries.size >= VERIFIED_MAX && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(token, { scope, until });
  }

  /** Forgets app tokens by their id (a logout) or their app (expire-all). */
  forget(match: { tokenId: string } | { appId: string }): void {
    for (const [token, { scope }] of this.#entries) {
      if (scope.kind !== 'app') continue;
      if ('tokenId' in match ? scope.tokenId === match.tokenId : scope.appId === match.appId)
        this.#entries.delete(token);
    }
  }
}

export function createAuthenticator(store: Store): Authenticator {
  let adminHash: Buffer | null = null;
  let signingKey: Buffer | null = null;
  const verified = new VerifiedTokens();
  // Bumped around every logout: a check that overlapped one does not cache what it read before it.
  let logouts = 0;

  async function key(): Promise<Buffer> {
    if (signingKey) return signingKey;
    // Every process must sign with the same key: the first one stored wins, whoever proposes it.
    const stored = await store.settings.putIfAbsent(SIGNING_KEY, randomBytes(32).toString('hex'));
    signingKey = Buffer.from(stored, 'hex');
    return signingKey;
  }

  /** The time a token is issued or a cut-off made: see the top of this file. */
  async function sharedNow(now: number): Promise<number> {
    return (await store.settings.clock()) ?? now;
  }

  /** A valid token's claim, with when its application's expire-all ends it (Infinity: never). */
  async function decode(token: string, now: number): Promise<{ claim: Claim; endsAt: number } | null> {
    if (!token.startsWith(APP_TOKEN_PREFIX)) return null;
    const parts = token.slice(APP_TOKEN_PREFIX.length).split('.');
    const [body, mac] = parts;
    if (parts.length !== 2 || !body || !mac) return null;
    // The MAC's text is compared, not its decoding, which skips stray characters: one spelling per token.
    const expected = Buffer.from(
      createHmac('sha256', await key())
        .update(body)
        .digest('base64url'),
    );
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const claim = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claim;
    if (typeof claim.exp !== 'number' || claim.exp <= now) return null;
    if (await store.settings.get(REVOKED + claim.jti)) return null;
    const cutoff = await store.settings.get(CUTOFF + claim.app);
    const endsAt = cutOffAt(cutoff === null ? null : (JSON.parse(cutoff) as Cutoff), claim.iat ?? 0);
    return endsAt <= now ? null : { claim, endsAt };
  }

  async function check(token: string, now: number): Promise<Scope | null> {
    const epoch = logouts; // caches an app scope only if no logout overlapped this check
    adminHash ??= await store.settings.get(ADMIN_HASH).then((h) => (h ? Buffer.from(h, 'hex') : null));
    if (adminHash && timingSafeEqual(sha256(token), adminHash)) {
      verified.set(token, { kind: 'admin' }, Number.POSITIVE_INFINITY);
      return { kind: 'admin' };
    }
    const decoded = await decode(token, now);
    if (!decoded) return null;
    const { claim, endsAt } = decoded;
    const scope: Scope = {
      kind: 'app',
      appId: claim.app,
      tokenId: claim.jti,
      featureFlags: claim.ff ?? [],
      capabilities: claim.cap ?? null,
    };
    if (epoch === logouts) verified.set(token, scope, Math.min(claim.exp, endsAt, now + VERIFIED_TTL_MS));
    return scope;
  }

  return {
    async verify(token, now) {
      return verified.get(token, now) ?? check(token, now);
    },
    cached(token, now) {
      return verified.get(token, now);
    },
    async issueAppToken(
      appId,
      now,
      ttlMs = DEFAULT_APP_TOKEN_TTL_MS,
      featureFlags = [],
      capabilities = null,
    ) {
      const jti = randomBytes(12).toString('base64url');
      const claim: Claim = { app: appId, exp: now + ttlMs, jti, iat: await sharedNow(now) };
      if (featureFlags.length > 0) claim.ff = [...featureFlags];
      if (capabilities !== null) claim.cap = [...capabilities];
      const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
      const mac = createHmac('sha256', await key())
        .update(body)
        .digest('base64url');
      return `${APP_TOKEN_PREFIX}${body}.${mac}`;
    },
    async logout(token, now) {
      const claim = (await decode(token, now))?.claim;
      if (!claim) return;
      logouts++;
      verified.forget({ tokenId: claim.jti });
      try {
        await store.settings.put(REVOKED + claim.jti, String(claim.exp));
      } finally {
        // A check that read "not revoked" before the write and cached it since is forgotten here; one
        // still running sees the epoch moved and does not cache.
        logouts++;
        verified.forget({ tokenId: claim.jti });
      }
    },
    async expireAll(appId, now, delayMs) {
      logouts++;
      try {
        const at = await sharedNow(now);
        // Compare-and-set: of calls made at once (here or in another process), none is lost.
        for (let tries = 1; ; tries++) {
          const current = await store.settings.get(CUTOFF + appId);
          const fold = foldCutoff(current === null ? null : (JSON.parse(current) as Cutoff), at, delayMs);
          if (await store.settings.compareAndSet(CUTOFF + appId, current, JSON.stringify(fold))) return;
          if (tries === CUTOFF_TRIES)
            throw conflict('too many expire-all calls at once for this application: retry');
        }
      } finally {
        logouts++;
        verified.forget({ appId });
      }
    },
  };
}
