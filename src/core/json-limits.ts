// What JSON.parse reads but Svix's server refuses (serde_json's reader): arrays and objects nested more
// than 128 deep, and numbers beyond a double's range (JSON.parse reads 1e400 as Infinity). Refused at the
// API's edge, so that no stored payload is one that other readers of the API, or the endpoints it is
// delivered to, cannot parse.

export const MAX_JSON_DEPTH = 128;

export interface JsonLimitIssue {
  /** Keys and indices from the top of the document to the value at fault. */
  path: string[];
  msg: string;
}

/** The first value of a parsed JSON document past those limits, or null when there is none. */
export function jsonLimitIssue(document: unknown): JsonLimitIssue | null {
  const path: string[] = []; // filled on the way back up, so read in reverse
  const msg = walk(document, 1, path);
  return msg === null ? null : { path: path.reverse(), msg };
}

/** Depth counts the arrays and objects entered, the document's own included. Runs on every request. */
function walk(value: unknown, depth: number, path: string[]): string | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? null : 'the number is out of range (beyond ±1.8e308)';
  }
  if (typeof value !== 'object' || value === null) return null;
  if (depth > MAX_JSON_DEPTH) return `arrays and objects nest more than ${MAX_JSON_DEPTH} deep`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const msg = walk(value[i], depth + 1, path);
      if (msg !== null) {
        path.push(String(i));
        return msg;
      }
    }
    return null;
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const msg = walk(object[key], depth + 1, path);
    if (msg !== null) {
      path.push(key);
      return msg;
    }
  }
  return null;
}
