// Event types, keyed and paginated by name.

import type { EventType } from '../../core/types.ts';
import { inNameOrder } from '../rows.ts';
import type { Store } from '../store.ts';
import { conflictAs, type Db, mapRow } from './db.ts';
import { keysetPage } from './paginate.ts';

const INSERT = `INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag,
  created_at, updated_at) VALUES (@name, @description, @schemas, @archived, @deprecated, @featureFlag,
  @createdAt, @updatedAt)`;
const SELECT_BARE = `SELECT name, description, NULL AS schemas, archived, deprecated, feature_flag, created_at,
  updated_at FROM event_types`;
/** An event type as the statements' named parameters. */
const params = (e: EventType) => ({ ...e, archived: e.archived ? 1 : 0, deprecated: e.deprecated ? 1 : 0 });

export function eventTypesSql(db: Db): Store['eventTypes'] {
  const update = (e: EventType, seen: number) =>
    db.run(
      `UPDATE event_types SET description = @description, schemas = @schemas, archived = @archived,
       deprecated = @deprecated, feature_flag = @featureFlag, updated_at = @updatedAt
       WHERE name = @name AND updated_at = @seen`,
      { ...params(e), seen },
    ) > 0;

  return {
    async create(e) {
      conflictAs('name', () => db.run(INSERT, params(e)));
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
          select: query.withContent === false ? SELECT_BARE : 'SELECT * FROM event_types',
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
              seen === null ? db.run(`${INSERT} ON CONFLICT DO NOTHING`, params(e)) > 0 : update(e, seen);
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
