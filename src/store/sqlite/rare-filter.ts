// The counts that tell which of a list's filters on its messages to read through (rows.ts rareFilter).

import { FEW, type LabelKind, listLabels, type RareFilter, rareFilter } from '../rows.ts';
import type { MessageFilters } from '../store.ts';
import type { Db } from './db.ts';

const LABEL_COUNT = `SELECT count(*) FROM (SELECT 1 FROM message_labels
  WHERE app_id = ? AND kind = ? AND value = ? LIMIT ${FEW})`;
const TYPE_COUNT = `SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY messages_app_type
  WHERE app_id = ? AND event_type IN (SELECT value FROM json_each(?)) LIMIT ${FEW})`;

/** How many of the application's messages have the label, counted up to FEW. */
export const labelCount = (db: Db, appId: string, [kind, value]: [LabelKind, string]): number =>
  db.stmt(LABEL_COUNT).pluck().get(appId, kind, value) as number;

/** The query's filter to read through, if any (see rareFilter); reads synchronously. */
export function rareFilterOf<Q extends MessageFilters>(
  db: Db,
  appId: string,
  query: Q,
): RareFilter<Q> | null {
  const types = query.eventTypes ?? [];
  return rareFilter(query, {
    labels: listLabels(query).labels.map((label) => labelCount(db, appId, label)),
    eventTypes:
      types.length === 0 ? 0 : (db.stmt(TYPE_COUNT).pluck().get(appId, JSON.stringify(types)) as number),
  });
}
