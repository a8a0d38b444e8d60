// Event types, keyed and paginated by name.

import type { EventType } from '../../core/types.ts';
import { inNameOrder } from '../rows.ts';
import type { Store } from '../store.ts';
import { conflictAs, type Db, mapRow } from './db.ts';
import { keysetPage } from './paginate.ts';

const INSERT = `INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag,
  created_at, updated_at)`;
const insertParams = (e: EventType) => [
  e.name,
  e.description,
  e.schemas,
  e.archived ? 1 : 0,
  e.deprecated ? 1 : 0,
  e.featureFlag,
  e.createdAt,
  e.updatedAt,
];

export function eventTypesSql(db: Db): Store['eventTypes'] {
  const update = (e: EventType, seen: number) =>
    db.run(
      `UPDATE event_types SET description = ?, schemas = ?, archived = ?, deprecated = ?, feature_flag = ?,
       updated_at = ? WHERE name = ? AND updated_at = ?`,
      e.description,
      e.schemas,
      e.archived ? 1 : 0,
      e.deprecated ? 1 : 0,
      e.featureFlag,
      e.updatedAt,
      e.name,
      seen,
    ) > 0;
  return {
    async create(e) {
      conflictAs('name', () => db.run(`${INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ...insertParams(e)));
    },
    async get(name) {
      const row = db.get('SELECT * FROM event_types WHERE name = ?', name);
      return row ? mapRow.eventType(row) : null;
    },
    async getMany(names) {
      return db
        .all(
          'SELECT * FROM event_types WHERE name IN (SELECT value FROM json_each(?))',
          JSON.stringify(names),
        )
        .map(mapRow.eventType);
    },
    async list(query) {
      const where = query.includeArchived ? [] : ['archived = 0'];
      const flags = query.featureFlags;
      if (flags) where.push(`(feature_flag IS NULL OR feature_flag IN (${flags.map(() => '?').join(',')}))`);
      return keysetPage(
        db,
        {
          select: 'SELECT * FROM event_types',
          where,
          params: [...(flags ?? [])],
          key: 'name',
          keyOf: (r) => r.name as string,
          page: query,
          defaultOrder: 'ascending',
        },
        mapRow.eventType,
      );
    },
    async update(e, seen) {
      return update(e, seen.updatedAt);
    },
    async putAll(writes) {
      const stale = new Error('changed meanwhile');
      try {
        db.tx(() => {
          for (const { eventType: e, seen } of inNameOrder(writes)) {
            const stored =
              seen === null
                ? db.run(
                    `${INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
                    ...insertParams(e),
                  ) > 0
                : update(e, seen);
            if (!stored) throw stale;
          }
        });
        return true;
      } catch (error) {
        if (error === stale) return false;
        throw error;
      }
    },
    async delete(name) {
      return db.run('DELETE FROM event_types WHERE name = ?', name) > 0;
    },
  };
}
