// Prefixed, time-sortable ids: prefix + 10 chars of time (ms, Crockford base32) + 16 random chars.
// Lexicographic order is creation order (within a millisecond, random), so ids double as keyset cursors.

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

export function newId(prefix: IdPrefix, now: number, random: Uint8Array = randomTail()): string {
  return `${prefix}_${encodeTime(now)}${encodeTail(random)}`;
}

/** The smallest id of this prefix created at `ms`: a cursor for "created at or after". */
export function idFloor(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(ms)}`;
}

const BODY = new RegExp(`^[${ALPHABET}]{26}$`);

export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && BODY.test(value.slice(prefix.length + 1));
}
