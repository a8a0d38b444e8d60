// Finds the raw text of the top-level "payload" member of a JSON object, so the bytes delivered to
// endpoints are exactly the bytes the publisher sent (big integers, key order, number spelling).
// Input is JSON that JSON.parse already accepted; like JSON.parse, a repeated key means the last one.

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(text: string, i: number): number {
  let j = i;
  while (j < text.length && WS.has(text.charCodeAt(j))) j++;
  return j;
}

/** Index just past the string starting at i (text[i] is '"'). */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === 0x5c)
      j += 2; // backslash: skip the escaped char
    else if (c === 0x22) return j + 1;
    else j++;
  }
  throw new SyntaxError('unterminated string');
}

/** Index just past the value starting at i. */
function endOfValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return endOfString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const d = text[j];
      if (d === '"') {
        j = endOfString(text, j);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw new SyntaxError('unterminated container');
  }
  let j = i; // number, true, false, null
  while (
    j < text.length &&
    !WS.has(text.charCodeAt(j)) &&
    text[j] !== ',' &&
    text[j] !== '}' &&
    text[j] !== ']'
  )
    j++;
  return j;
}

export function rawMember(text: string, key: string): string | null {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return null;
  i = skipWs(text, i + 1);
  let found: string | null = null;
  while (i < text.length && text[i] !== '}') {
    const keyEnd = endOfString(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueEnd = endOfValue(text, i);
    if (name === key) found = text.slice(i, valueEnd);
    i = skipWs(text, valueEnd);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return found;
}
