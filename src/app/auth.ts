// Tokens. The admin token is kept only as a sha256 hash. App-portal tokens are stateless: an
// HMAC-signed claim {app, exp, jti} under a key generated once and kept in the store's settings.
// Logout of an app token records its jti as revoked until it would have expired anyway.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Store } from '../store/store.ts';
import type { Scope } from './context.ts';

const ADMIN_HASH = 'admin_token_sha256';
const SIGNING_KEY = 'app_token_signing_key';
const REVOKED = 'revoked_app_token:';
const APP_TOKEN_PREFIX = 'appsk_';
export const DEFAULT_APP_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000; // Svix app-portal default: 7 days

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
  const token = `dbk_${randomBytes(24).toString('base64url')}`;
  await store.settings.put(ADMIN_HASH, sha256(token).toString('hex'));
  return { generated: token };
}

interface Claim {
  app: string;
  exp: number;
  jti: string;
}

export interface Authenticator {
  /** The scope a bearer token grants, or null when it is unknown, expired or revoked. */
  verify(token: string, now: number): Promise<Scope | null>;
  issueAppToken(appId: string, now: number, ttlMs?: number): Promise<string>;
  /** Revokes an app token (admin tokens are configured, not revoked by logout). */
  logout(token: string, now: number): Promise<void>;
}

export function createAuthenticator(store: Store): Authenticator {
  let adminHash: Buffer | null = null;
  let signingKey: Buffer | null = null;

  async function key(): Promise<Buffer> {
    if (signingKey) return signingKey;
    // Every process must sign with the same key: the first one stored wins, whoever proposes it.
    const stored = await store.settings.putIfAbsent(SIGNING_KEY, randomBytes(32).toString('hex'));
    signingKey = Buffer.from(stored, 'hex');
    return signingKey;
  }

  async function decode(token: string, now: number): Promise<Claim | null> {
    if (!token.startsWith(APP_TOKEN_PREFIX)) return null;
    const [body, mac] = token.slice(APP_TOKEN_PREFIX.length).split('.');
    if (!body || !mac) return null;
    const expected = createHmac('sha256', await key())
      .update(body)
      .digest();
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const claim = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claim;
    if (typeof claim.exp !== 'number' || claim.exp <= now) return null;
    if (await store.settings.get(REVOKED + claim.jti)) return null;
    return claim;
  }

  return {
    async verify(token, now) {
      adminHash ??= await store.settings.get(ADMIN_HASH).then((h) => (h ? Buffer.from(h, 'hex') : null));
      if (adminHash && timingSafeEqual(sha256(token), adminHash)) return { kind: 'admin' };
      const claim = await decode(token, now);
      return claim ? { kind: 'app', appId: claim.app, tokenId: claim.jti } : null;
    },
    async issueAppToken(appId, now, ttlMs = DEFAULT_APP_TOKEN_TTL_MS) {
      const claim: Claim = { app: appId, exp: now + ttlMs, jti: randomBytes(12).toString('base64url') };
      const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
      const mac = createHmac('sha256', await key())
        .update(body)
        .digest('base64url');
      return `${APP_TOKEN_PREFIX}${body}.${mac}`;
    },
    async logout(token, now) {
      const claim = await decode(token, now);
      if (claim) await store.settings.put(REVOKED + claim.jti, String(claim.exp));
    },
  };
}
