// Query-string helpers shared by the list routes.
import { invalid } from '../core/errors.ts';
import { type IdPrefix, isId } from '../core/ids.ts';
import type { PageQuery } from '../core/types.ts';
import { FROM_FAR_END, readIterator } from '../store/page.ts';

const NAME = /^[a-zA-Z0-9\-_.]{1,256}$/;

/**
 * `key` is what the list's iterators hold: ids of one prefix, or event type names. An iterator this
 * server did not return is a 422 naming it, not an empty page that reads as "no data"; an empty one is none.
 * `order` only where the list's schema has it (elsewhere Svix ignores it).
 */
export function pageQuery(
  q: { limit?: number; iterator?: string | null },
  key: IdPrefix | 'name',
  order?: 'ascending' | 'descending',
): PageQuery {
  const iterator = q.iterator || null;
  if (iterator !== null) {
    const { cursor } = readIterator(iterator);
    if (cursor === null || !(key === 'name' ? NAME.test(cursor) : isId(key, cursor)))
      throw invalid(['query', 'iterator'], 'not an iterator returned by this list');
  }
  return { limit: q.limit ?? 50, iterator, ...(order ? { order } : {}) };
}

/**
 * A validated RFC 3339 time in milliseconds. Digits past the millisecond (the Python and Go SDKs send
 * microseconds) are dropped, or with `up` count as the next millisecond: an exclusive upper bound (`before`,
 * `until`) then keeps the items of the millisecond it falls in (items are stored to the millisecond).
 */
export function toMs(value: string | null | undefined, round: 'down' | 'up' = 'down'): number | null {
  if (value === null || value === undefined) return null;
  const ms = Date.parse(value);
  return round === 'up' && /\.\d{3}\d*[1-9]/.test(value) ? ms + 1 : ms;
}

/**
 * A page of a list (newest first) filtered by `before` / `after`, which Svix ignores once an iterator is
 * passed: the iterator alone says where a page starts. As in Svix, `after` is where the list starts: the
 * page holds the items just after it, and its prevIterator walks on to newer ones (the newest items past
 * it would leave the rest unreachable). Together both apply (the reference makes each its own filter), so
 * an inverted range is an empty page.
 */
export function timedPageQuery(
  q: { limit?: number; iterator?: string | null; before?: string | null; after?: string | null },
  key: IdPrefix,
): PageQuery & { before: number | null; after: number | null } {
  const page = pageQuery(q, key);
  if (page.iterator) return { ...page, before: null, after: null };
  const after = toMs(q.after);
  return { ...page, before: toMs(q.before, 'up'), after, iterator: after === null ? null : FROM_FAR_END };
}

/** `event_types=a,b` (svix SDK) or repeated `event_types=a&event_types=b`; each name is validated. */
export function eventTypesFilter(values: string[] | undefined): string[] | null {
  if (!values || values.length === 0) return null;
  const names = values.flatMap((v) => v.split(',')).filter((v) => v !== '');
  for (const name of names) {
    if (!NAME.test(name)) throw invalid(['query', 'event_types'], `invalid event type name: ${name}`);
  }
  return names.length > 0 ? names : null;
}

/**
 * The query string as fastify's own parser reads it (a repeated key gives an array), except that
 * `event_types[]=a` and `event_types[0]=a` count as `event_types=a`, as Svix's server reads them.
 */
export function parseQueryString(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [given, value] of new URLSearchParams(text)) {
    const key = /^event_types\[\d*\]$/.test(given) ? 'event_types' : given;
    const had = out[key];
    if (had === undefined) out[key] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[key] = [had, value];
  }
  return out;
}
