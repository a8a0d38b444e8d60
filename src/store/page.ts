// The page a keyset query returns, for both drivers. A query fetches limit + 1 rows in scan order: the
// extra row only tells whether more remain. Svix semantics: `iterator` continues after the last item;
// `prevIterator` is '-' + the first item's key and walks the other way.

import type { Page } from '../core/types.ts';
import type { Row } from './rows.ts';

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
    iterator: last ? keyOf(last) : null,
    prevIterator: first ? `-${keyOf(first)}` : null,
    done: rows.length <= limit,
  };
}
