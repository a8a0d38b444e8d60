// Keyset pagination on a unique, ordered key (prefixed time-sortable ids, or event type names).
// Svix semantics: `iterator` continues after the last item; `prevIterator` is '-' + the first item's key
// and walks the other way; `done` says nothing is left in the direction just walked.

import type { Page, PageQuery } from '../../core/types.ts';
import { readIterator, toPage } from '../page.ts';
import type { Db, Row } from './db.ts';

export interface KeysetQuery {
  select: string; // SELECT … FROM … (no WHERE)
  where: string[];
  params: unknown[];
  key: string; // the SQL expression of the key
  keyOf: (row: Row) => string;
  page: PageQuery;
  defaultOrder: 'ascending' | 'descending';
  /** The bytes a row brings to a page (see PAGE_BYTES): for messages, their payloads'. */
  bytes?: (row: Row) => number;
  /**
   * The rows whose `column` is one of `values`, read value by value through an index that leads with
   * the column and then the key: a value that few rows have is then found at once, where a filter on
   * the key's index would walk every row in between (a rare event type, through the whole history).
   */
  oneOf?: { column: string; values: readonly string[] };
}

export function keysetPage<T>(db: Db, q: KeysetQuery, map: (row: Row) => T): Page<T> {
  const descending = (q.page.order ?? q.defaultOrder) === 'descending';
  const { backwards, cursor } = readIterator(q.page.iterator);
  const scanDescending = backwards ? !descending : descending;
  const where = [...q.where];
  const params = [...q.params];
  if (cursor) {
    where.push(`${q.key} ${scanDescending ? '<' : '>'} ?`);
    params.push(cursor);
  }
  const limit = Math.max(0, q.page.limit);
  const text = (also: string[]) => {
    const all = [...where, ...also];
    const order = scanDescending ? 'DESC' : 'ASC';
    return `${q.select}${all.length > 0 ? ` WHERE ${all.join(' AND ')}` : ''} ORDER BY ${q.key} ${order} LIMIT ?`;
  };
  if (!q.oneOf)
    return toPage(db.all(text([]), ...params, limit + 1), limit, backwards, q.keyOf, map, q.bytes);
  // Each value's first limit + 1 rows in scan order; together, the first limit + 1 of their union.
  const one = text([`${q.oneOf.column} = ?`]);
  const rows = [...new Set(q.oneOf.values)].flatMap((value) => db.all(one, ...params, value, limit + 1));
  const sign = scanDescending ? -1 : 1;
  rows.sort((a, b) => (q.keyOf(a) < q.keyOf(b) ? -sign : sign));
  return toPage(rows.slice(0, limit + 1), limit, backwards, q.keyOf, map, q.bytes);
}
