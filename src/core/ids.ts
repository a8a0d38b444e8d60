// Prefixed, time-sortable ids: prefix + 10 chars of time (ms, Crockford base32) + 16 chars of tail.
// Lexicographic order is creation order, so ids double as keyset cursors. The first id of a millisecond
// has a random tail, and each later one in the same millisecond the tail before it plus one (as ULID's
// monotonic mode): a client paging forward (prevIterator) past an id never misses one made after it in
// this process, committed later in that order (a random tail could sort below the cursor).

import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export type IdPrefix = 'app' | 'ep' | 'msg' | 'task' | 'atmpt' | 'qtask';

// Ids made in the same millisecond share their time part: remember the last one encoded.
let lastMs = -1;
let lastTime = '';

function encodeTime(ms: number): string {
  if (ms === lastMs) return lastTime;
  let out = '';
  let n = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  lastMs = ms;
  lastTime = out;
  return out;
}

// One system call fills randomness for 256 ids instead of one call per id.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

function randomTail(): Uint8Array {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 16;
  return pool.subarray(poolOffset - 16, poolOffset);
}

// ALPHABET[x % 32] + ALPHABET[y % 32] at index (x % 32) * 32 + (y % 32): two chars per lookup.
const PAIRS = Array.from({ length: 1024 }, (_, i) => `${ALPHABET[i >> 5]}${ALPHABET[i & 31]}`);

function encodeTail(random: Uint8Array): string {
  let tail = '';
  for (let i = 0; i < 16; i += 2) tail += PAIRS[(((random[i] ?? 0) & 31) << 5) | ((random[i + 1] ?? 0) & 31)];
  return tail;
}

let lastTailMs = -1;
let lastTail = '';

/** The tail after `tail` (base32, one more), or null past the last (16 Zs: 2^80 ids in a millisecond). */
function nextTail(tail: string): string | null {
  let end = tail.length - 1;
  while (end >= 0 && tail[end] === 'Z') end--;
  if (end < 0) return null;
  const bumped = ALPHABET[ALPHABET.indexOf(tail[end] ?? '0') + 1];
  return `${tail.slice(0, end)}${bumped}${'0'.repeat(tail.length - end - 1)}`;
}

/** An id made at `now`; `random` (tests) fixes its tail. */
export function newId(prefix: IdPrefix, now: number, random?: Uint8Array): string {
  if (random) return `${prefix}_${encodeTime(now)}${encodeTail(random)}`;
  const next = now === lastTailMs ? nextTail(lastTail) : null;
  lastTail = next ?? encodeTail(randomTail());
  lastTailMs = now;
  return `${prefix}_${encodeTime(now)}${lastTail}`;
}

const MAX_TIME = 32 ** 10 - 1; // what ten characters of time hold

/**
 * The smallest id of this prefix created at `ms`: a cursor for "created at or after". A time before 1970
 * or past the last one ids hold is the first or last one they do.
 */
export function idFloor(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(Math.min(Math.max(ms, 0), MAX_TIME))}`;
}

const BODY = new RegExp(`^[${ALPHABET}]{26}$`);

export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && BODY.test(value.slice(prefix.length + 1));
}
