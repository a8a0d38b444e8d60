// Text files the CLI reads: UTF-8, as JSON and header dumps are, with one leading byte order mark (which
// Windows editors write) dropped.

/** The text without one leading byte order mark, which is no part of it. */
export function withoutBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, surrogates or code points past U+10FFFF; a sequence cut short counts at its first byte), or -1.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // How many continuation bytes follow, and the range of the first (the others are 0x80-0xbf).
    let [more, low, high] = [0, 0x80, 0xbf];
    if (lead >= 0xc2 && lead <= 0xdf) more = 1;
    else if (lead === 0xe0) [more, low] = [2, 0xa0];
    else if (lead === 0xed) [more, high] = [2, 0x9f];
    else if (lead >= 0xe1 && lead <= 0xef) more = 2;
    else if (lead === 0xf0) [more, low] = [3, 0x90];
    else if (lead >= 0xf1 && lead <= 0xf3) more = 3;
    else if (lead === 0xf4) [more, high] = [3, 0x8f];
    else return i;
    for (let k = 1; k <= more; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

/**
 * A file's bytes as UTF-8 text, without one leading byte order mark. Bytes that are not UTF-8 are
 * refused, naming the first and its offset in the file (the mark counted): decoded, each would become
 * U+FFFD, and the text would silently not be the file's.
 */
export function utf8Text(bytes: Buffer): string {
  const bad = invalidUtf8Offset(bytes);
  if (bad >= 0) {
    const byte = bytes[bad]!.toString(16).padStart(2, '0');
    throw new Error(`is not valid UTF-8: byte 0x${byte} at offset ${bad}`);
  }
  return withoutBom(bytes.toString('utf8'));
}
