// Keyset pagination on a unique, ordered key (prefixed time-sortable ids, or event type names).
// Svix semantics: `iterator` continues after the last item; `prevIterator` is '-' + the first item's key
// and walks the other way; `done` says nothing is left in the direction just walked.

import type { Page, PageQuery } from '../../core/types.ts';
import { readIterator, toPage } from '../page.ts';
import { idTime } from './id-time.ts';
import type { Params, Row, Sql } from './pg.ts';

export interface KeysetQuery {
  select: string; // SELECT … FROM … (no WHERE)
  where: string[];
  params: Params;
  key: string; // the SQL expression of the key
  keyOf: (row: Row) => string;
  page: PageQuery;
  defaultOrder: 'ascending' | 'descending';
  /** The bytes a row brings to a page (see PAGE_BYTES): for messages, their payloads'. */
  bytes?: (row: Row) => number;
  /** The partition key of a time-partitioned table: the cursor's embedded time then prunes partitions. */
  timeColumn?: string;
  /**
   * The rows whose `column` is one of `values`, read value by value through an index that leads with
   * the column and then the key: a value that few rows have is then found at once, where a filter on
   * the key's index would walk every row in between (a rare event type, through the whole history).
   * `keyColumn`: the key's column in the select's rows, when not the key's own name.
   */
  oneOf?: { column: string; values: readonly string[]; keyColumn?: string };
}

/** Values of a oneOf read by a subquery each, at most (see keysetPage). */
export const ONE_BY_ONE = 16;

export async function keysetPage<T>(sql: Sql, q: KeysetQuery, map: (row: Row) => T): Promise<Page<T>> {
  const descending = (q.page.order ?? q.defaultOrder) === 'descending';
  const { backwards, cursor } = readIterator(q.page.iterator);
  const scanDescending = backwards ? !descending : descending;
  const where = [...q.where];
  const p = q.params;
  if (cursor) {
    where.push(`${q.key} ${scanDescending ? '<' : '>'} ${p.add(cursor)}`);
    const at = q.timeColumn ? idTime(cursor) : null;
    if (at !== null) where.push(`${q.timeColumn} ${scanDescending ? '<=' : '>='} ${p.add(at)}`);
  }
  const limit = Math.max(0, q.page.limit);
  const limitParam = p.add(limit + 1);
  const orderBy = (key: string) => `ORDER BY ${key} ${scanDescending ? 'DESC' : 'ASC'} LIMIT ${limitParam}`;
  let text = `${q.select}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ${orderBy(q.key)}`;
  if (q.oneOf) {
    const { column, keyColumn } = q.oneOf;
    const values = [...new Set(q.oneOf.values)];
    // Each value's first limit + 1 rows in scan order; together, the first limit + 1 of their union. Up
    // to ONE_BY_ONE values, a subquery each, whose value the planner sees: it reads a rare one through
    // its index (given a value it does not know, it may walk the key's index instead). More, one lateral
    // subquery for all, planned once (thousands of subqueries took seconds to plan).
    const pageKey = `page.${keyColumn ?? q.key.slice(q.key.indexOf('.') + 1)}`;
    if (values.length <= ONE_BY_ONE) {
      const one = (value: string) =>
        `(${q.select} WHERE ${[...where, `${column} = ${p.add(value)}`].join(' AND ')} ${orderBy(q.key)})`;
      text = `SELECT page.* FROM (${values.map(one).join(' UNION ALL ')}) page ${orderBy(pageKey)}`;
    } else {
      where.push(`${column} = one_of.value`);
      text = `SELECT page.* FROM unnest(${p.add(values)}::text[]) AS one_of(value)
        CROSS JOIN LATERAL (${q.select} WHERE ${where.join(' AND ')} ${orderBy(q.key)}) page ${orderBy(pageKey)}`;
    }
  }
  const rows = await sql.rows(text, p.values);
  return toPage(rows, limit, backwards, q.keyOf, map, q.bytes);
}
