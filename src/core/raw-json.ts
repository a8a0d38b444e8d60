// The raw text of a member of a JSON object, or of an element of a JSON array, so that what Doorbell
// passes on is exactly what it was given (big integers, key order, number spelling, spacing): message
// payloads, and event type schemas with their examples. Input is JSON that JSON.parse already accepted;
// like JSON.parse, a repeated key means the last one. It runs on every publish over the whole body, so
// it compares char codes and lets indexOf (native, vectorised) cross the inside of strings, where most
// of a payload's bytes usually are.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipWs(text: string, i: number): number {
  let j = i;
  while (j < text.length && isWs(text.charCodeAt(j))) j++;
  return j;
}

/** Index just past the string starting at i (text[i] is '"'). */
function endOfString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) throw new SyntaxError('unterminated string');
    // The quote is escaped when an odd run of backslashes precedes it (the opening quote stops the walk).
    let b = quote - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((quote - 1 - b) % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** Index just past the object or array starting at i. */
function endOfContainer(text: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      j = endOfString(text, j);
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  throw new SyntaxError('unterminated container');
}

/** Index just past the value starting at i. */
function endOfValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return endOfString(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return endOfContainer(text, i);
  let j = i; // number, true, false, null
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (isWs(d) || d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET) break;
    j++;
  }
  return j;
}

/** Whether the key string text[start, end) (quotes included) decodes to `key`. */
function keyIs(text: string, start: number, end: number, key: string): boolean {
  const raw = text.slice(start + 1, end - 1);
  if (!raw.includes('\\')) return raw === key;
  return JSON.parse(text.slice(start, end)) === key; // escaped: let JSON decode it
}

/** The raw text of member `key` of the JSON object `text`; null when it has none. */
export function rawMember(text: string, key: string): string | null {
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return null;
  i = skipWs(text, i + 1);
  let found: string | null = null;
  while (i < text.length && text.charCodeAt(i) !== CLOSE_BRACE) {
    const keyEnd = endOfString(text, i);
    const matched = keyIs(text, i, keyEnd, key);
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueEnd = endOfValue(text, i);
    if (matched) found = text.slice(i, valueEnd);
    i = skipWs(text, valueEnd);
    if (text.charCodeAt(i) === COMMA) i = skipWs(text, i + 1);
  }
  return found;
}

/** The raw text of each element of the JSON array `text`, in one pass; null when it is not an array. */
export function rawElements(text: string): string[] | null {
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACKET) return null;
  i = skipWs(text, i + 1);
  const elements: string[] = [];
  while (i < text.length && text.charCodeAt(i) !== CLOSE_BRACKET) {
    const valueEnd = endOfValue(text, i);
    elements.push(text.slice(i, valueEnd));
    i = skipWs(text, valueEnd);
    if (text.charCodeAt(i) === COMMA) i = skipWs(text, i + 1);
  }
  return elements;
}
