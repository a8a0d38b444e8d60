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

export function toPage<T>(
  rows: Row[],
  limit: number,
  backwards: boolean,
  keyOf: (row: Row) => string,
  map: (row: Row) => T,
): Page<T> {
  const kept = rows.slice(0, limit);
  if (backwards) kept.reverse();
  const first = kept[0];
  const last = kept[kept.length - 1];
  return {
    data: kept.map(map),
    iterator: last ? forward(keyOf(last)) : null,
    prevIterator: first ? `-${keyOf(first)}` : null,
    done: rows.length <= limit,
  };
}
