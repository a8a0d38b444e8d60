// The page a keyset query returns, for both drivers. A query fetches limit + 1 rows in scan order: the
// extra row only tells whether more remain. Svix semantics: `iterator` continues after the last item;
// `prevIterator` is '-' + the first item's key and walks the other way. A key that itself starts with
// '-' (an event type name may) is given '~' in front in a forward iterator, so "after -a" and "before a"
// differ; ids and names never contain '~'.

import type { Page } from '../core/types.ts';
import type { Row } from './rows.ts';

/**
 * An iterator no list returns: backwards from the far end, so that a page holds the first items of the
 * list's other end (a list filtered by `after` starts at that time, as in Svix).
 */
export const FROM_FAR_END = '-';

/** Where an iterator this module made points: after (or, backwards, before) `cursor`. */
export function readIterator(iterator: string | null | undefined): {
  backwards: boolean;
  cursor: string | null;
} {
  if (!iterator) return { backwards: false, cursor: null };
  if (iterator.startsWith('-')) return { backwards: true, cursor: iterator.slice(1) };
  return { backwards: false, cursor: iterator.startsWith('~') ? iterator.slice(1) : iterator };
}

const forward = (key: string) => (key.startsWith('-') ? `~${key}` : key);

/**
 * One page holds at most this many bytes of content, however many items `limit` asks for (a page holds
 * one item at least): 250 messages of 1 MiB, or applications whose names or event types whose schemas
 * run to 1 MiB, would be 250 MiB in memory and on the wire. A page cut short says it is not done, and its
 * iterator continues after it. Messages count their payloads (read once the page is cut); other rows
 * count their text.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

/** About the bytes a row's values bring to a page: its text and JSON, and a few bytes per other value. */
function rowBytes(row: Row): number {
  let n = 0;
  for (const value of Object.values(row)) {
    if (typeof value === 'string') n += value.length;
    else if (typeof value === 'object' && value !== null)
      n += Buffer.isBuffer(value) ? value.length : JSON.stringify(value).length;
    else n += 8;
  }
  return n;
}

/** An endpoint's row as a page counts it: its API form writes its filter types twice (eventTypes, filterTypes). */
export const endpointBytes = (row: Row): number =>
  rowBytes(row) + rowBytes({ filterTypes: row.filter_types });

/** The rows of a page in scan order: at most `limit`, and within PAGE_BYTES by `bytes`. */
function pageRows(rows: Row[], limit: number, bytes: (row: Row) => number = rowBytes): Row[] {
  const kept = rows.slice(0, limit);
  let total = 0;
  for (const [i, row] of kept.entries()) {
    total += bytes(row);
    if (total > PAGE_BYTES && i > 0) return kept.slice(0, i);
  }
  return kept;
}

export function toPage<T>(
  rows: Row[],
  limit: number,
  backwards: boolean,
  keyOf: (row: Row) => string,
  map: (row: Row) => T,
  bytes?: (row: Row) => number,
): Page<T> {
  const kept = pageRows(rows, limit, bytes);
  const done = kept.length === rows.length;
  if (backwards) kept.reverse();
  const first = kept[0];
  const last = kept[kept.length - 1];
  return {
    data: kept.map(map),
    iterator: last ? forward(keyOf(last)) : null,
    prevIterator: first ? `-${keyOf(first)}` : null,
    done,
  };
}
