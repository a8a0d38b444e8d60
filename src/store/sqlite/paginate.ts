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
  /** The payload bytes a row brings, for pages of messages (see PAGE_PAYLOAD_BYTES). */
  bytes?: (row: Row) => number;
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
  const sql = `${q.select}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${q.key} ${
    scanDescending ? 'DESC' : 'ASC'
  } LIMIT ?`;
  const rows = db.all(sql, ...params, limit + 1);
  return toPage(rows, limit, backwards, q.keyOf, map, q.bytes);
}
