// Every id embeds its creation time (src/core/ids.ts: prefix_ + 10 Crockford base32 chars of ms), and
// the stores create messages and attempts with createdAt equal to that time. Decoding it lets a lookup
// by id name the one partition that holds the row.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The creation time encoded in a prefixed id, or null if the value is not shaped like one. */
export function idTime(id: string): number | null {
  const start = id.indexOf('_') + 1;
  if (start === 0 || id.length < start + 10) return null;
  let ms = 0;
  for (let i = start; i < start + 10; i++) {
    const digit = ALPHABET.indexOf(id[i]!);
    if (digit < 0) return null;
    ms = ms * 32 + digit;
  }
  return ms;
}
