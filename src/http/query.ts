// Query-string helpers shared by the list routes.
import { invalid } from '../core/errors.ts';
import { type IdPrefix, isId } from '../core/ids.ts';
import type { PageQuery } from '../core/types.ts';
import { readIterator } from '../store/page.ts';

const NAME = /^[a-zA-Z0-9\-_.]{1,256}$/;

/**
 * `key` is what the list's iterators hold: ids of one prefix, or event type names. An iterator this
 * server did not return is a 422 naming it, not an empty page that reads as "no data"; an empty one is none.
 */
export function pageQuery(
  q: { limit?: number; iterator?: string | null; order?: 'ascending' | 'descending' },
  key: IdPrefix | 'name',
): PageQuery {
  const iterator = q.iterator || null;
  if (iterator !== null) {
    const { cursor } = readIterator(iterator);
    if (cursor === null || !(key === 'name' ? NAME.test(cursor) : isId(key, cursor)))
      throw invalid(['query', 'iterator'], 'not an iterator returned by this list');
  }
  return { limit: q.limit ?? 50, iterator, ...(q.order ? { order: q.order } : {}) };
}

export function toMs(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  return Date.parse(value);
}

/** `before` / `after`, which Svix ignores once an iterator is passed: the iterator alone says where a page starts. */
// Together both apply (the reference makes each its own filter), so an inverted range is an empty page.
export function timeRange(q: { before?: string | null; after?: string | null; iterator?: string | null }) {
  if (q.iterator) return { before: null, after: null };
  return { before: toMs(q.before), after: toMs(q.after) };
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
