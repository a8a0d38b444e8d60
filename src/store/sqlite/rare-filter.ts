// Lists filtered by what their messages have (a channel, a tag, event types) read through the messages
// that have it when few do, instead of walking every row of the list's own index and checking each.

import { type LabelKind, listLabels } from '../rows.ts';
import type { MessageFilters } from '../store.ts';
import type { Db } from './db.ts';

/** Messages counted per label or event type, at most: about a millisecond. */
export const FEW = 10_000;

const LABEL_COUNT = `SELECT count(*) FROM (SELECT 1 FROM message_labels
  WHERE app_id = ? AND kind = ? AND value = ? LIMIT ${FEW})`;
const TYPE_COUNT = `SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY messages_app_type
  WHERE app_id = ? AND event_type = ? LIMIT ${FEW})`;

/** How many of the application's messages have the label, counted up to FEW. */
export const labelCount = (db: Db, appId: string, [kind, value]: [LabelKind, string]): number =>
  db.stmt(LABEL_COUNT).pluck().get(appId, kind, value) as number;

const typeCount = (db: Db, appId: string, type: string): number =>
  db.stmt(TYPE_COUNT).pluck().get(appId, type) as number;

/** The filter to read a list through, and the query's other filters, checked on each of its messages. */
export type RareFilter<Q> =
  | { label: [LabelKind, string]; eventTypes?: undefined; rest: Q }
  | { label?: undefined; eventTypes: string[]; rest: Q };

/** The query's filter that the fewest messages have, when fewer than FEW do (all its event types together). */
export function rareFilter<Q extends MessageFilters>(db: Db, appId: string, query: Q): RareFilter<Q> | null {
  const { labels } = listLabels(query);
  let best: { n: number; pick: RareFilter<Q> } | null = null;
  for (const label of labels) {
    const n = labelCount(db, appId, label);
    const rest = { ...query, [label[0] === 'c' ? 'channel' : 'tag']: null };
    if (n < FEW && (best === null || n < best.n)) best = { n, pick: { label, rest } };
  }
  const types = [...new Set(query.eventTypes ?? [])];
  if (types.length > 0) {
    let n = 0;
    for (const type of types) if (n < FEW) n += typeCount(db, appId, type);
    if (n < FEW && (best === null || n < best.n))
      best = { n, pick: { eventTypes: types, rest: { ...query, eventTypes: null } } };
  }
  return best?.pick ?? null;
}
