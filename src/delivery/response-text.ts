// The response body as stored with an attempt: text of at most `cap` bytes in UTF-8.

const decoder = new TextDecoder('utf-8'); // non-fatal: invalid sequences become U+FFFD (WHATWG Encoding)

/**
 * Decodes the kept prefix of a response body for storage. `truncated` says the body went on past
 * `bytes`: an incomplete character at the cut is then dropped rather than turned into U+FFFD.
 * U+0000 becomes U+FFFD too (PostgreSQL text cannot hold it). Each replacement takes 3 bytes in UTF-8
 * where the byte it replaces took 1, so the text is cut again, at a character boundary, to fit `cap`.
 */
export function responseText(bytes: Uint8Array, cap: number, truncated: boolean): string {
  // stream: true holds back a trailing sequence that is incomplete instead of replacing it.
  const text = decoder.decode(bytes, { stream: truncated }).replaceAll('\u0000', '\ufffd');
  if (truncated) decoder.decode(); // reset the held-back bytes for the next call
  return fitUtf8(text, cap);
}

/** The longest prefix of `text` that is at most `cap` bytes in UTF-8 and ends on a whole character. */
export function fitUtf8(text: string, cap: number): string {
  // A UTF-16 code unit never takes more than 3 bytes in UTF-8 (a surrogate pair takes 4 for 2 units).
  if (text.length * 3 <= cap) return text;
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length <= cap) return text;
  // encoded[cap] is the first byte left out: if it continues a character (10xxxxxx), leave out that
  // whole character. `text` is well-formed, so its encoding is valid UTF-8 and the prefix is too.
  let end = Math.max(0, cap);
  while (end > 0 && (encoded[end]! & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end).toString('utf8');
}
