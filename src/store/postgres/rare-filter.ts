// The counts that tell which of a list's filters on its messages to read through (rows.ts rareFilter).

import { FEW, listLabels, type RareFilter, rareFilter } from '../rows.ts';
import type { MessageFilters } from '../store.ts';
import { ONE_BY_ONE } from './paginate.ts';
import { Params, type Pg } from './pg.ts';

/** The query's filter to read through, if any (see rareFilter): one statement, when it has any. */
export async function rareFilterOf<Q extends MessageFilters>(
  db: Pg,
  appId: string,
  query: Q,
): Promise<RareFilter<Q> | null> {
  const { labels } = listLabels(query);
  // More types than a list reads one by one (ONE_BY_ONE) are taken as many messages'.
  const types = [...new Set(query.eventTypes ?? [])];
  const countTypes = types.length <= ONE_BY_ONE;
  if (labels.length === 0 && (types.length === 0 || !countTypes)) return null;
  const p = new Params();
  const app = p.add(appId);
  const counted = (from: string) => `(SELECT count(*)::int FROM (SELECT 1 FROM ${from} LIMIT ${FEW}) x)`;
  const columns = labels.map(
    ([kind, value], i) =>
      `${counted(`message_labels WHERE app_id = ${app} AND kind = ${p.add(kind)} AND value = ${p.add(value)}`)} AS l${i}`,
  );
  // Type by type, each a parameter the planner sees (for any of them, it may scan every message).
  const typeCounts = countTypes
    ? types.map((type) => counted(`messages WHERE app_id = ${app} AND event_type = ${p.add(type)}`))
    : [String(FEW)];
  columns.push(`${typeCounts.length === 0 ? '0' : typeCounts.join(' + ')} AS types`);
  const row = (await db.one<Record<string, number>>(`SELECT ${columns.join(', ')}`, p.values))!;
  return rareFilter(query, { labels: labels.map((_, i) => row[`l${i}`]!), eventTypes: row.types! });
}
