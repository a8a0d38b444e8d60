// Expire-all for app-portal tokens: an application's calls fold into one record, compared with each
// token's issue time. A token issued in the same millisecond as a call counts as issued before it (it
// fails closed). Both times come from one clock (see app/auth.ts).

/**
 * Tokens issued at or before `dead` no longer work; those issued at or before `pending.before` stop
 * working at `pending.at`.
 */
export interface Cutoff {
  dead: number | null;
  pending: { before: number; at: number } | null;
}

/**
 * Adds a call made at `now` that ends the tokens issued so far after `delayMs`. Calls fold in any order
 * (another process's clock may be behind): a pending end is never moved later and its tokens never
 * dropped, so tokens issued between two delayed calls may end sooner than asked, never later.
 */
export function foldCutoff(current: Cutoff | null, now: number, delayMs: number): Cutoff {
  let dead = current?.dead ?? null;
  let pending = current?.pending ?? null;
  if (pending !== null && pending.at <= now) {
    dead = Math.max(dead ?? pending.before, pending.before);
    pending = null;
  }
  if (delayMs === 0) {
    dead = Math.max(dead ?? now, now);
    return { dead, pending: pending !== null && pending.before > dead ? pending : null };
  }
  const before = Math.max(now, pending?.before ?? now);
  const at = Math.min(now + delayMs, pending?.at ?? Number.POSITIVE_INFINITY);
  return { dead, pending: { before, at } };
}

/** When a token issued at `issuedAt` stops working by the cut-off: 0 when it has, Infinity for never. */
export function cutOffAt(cutoff: Cutoff | null, issuedAt: number): number {
  if (cutoff?.dead != null && issuedAt <= cutoff.dead) return 0;
  if (cutoff?.pending && issuedAt <= cutoff.pending.before) return cutoff.pending.at;
  return Number.POSITIVE_INFINITY;
}
