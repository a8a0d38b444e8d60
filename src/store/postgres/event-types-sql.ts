// Event types, keyed and paginated by name.

import type { Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { conflictAs, mapRow, Params, type Pg, stmt } from './pg.ts';

// `json` keeps the text it was given, and ::text reads it back as it is (pg would parse it).
const SELECT = `SELECT name, description, schemas::text AS schemas, archived, deprecated, feature_flag,
  created_at, updated_at FROM event_types`;
const INSERT = stmt(`INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag,
  created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`);
const UPDATE = stmt(`UPDATE event_types SET description = $1, schemas = $2, archived = $3, deprecated = $4,
  feature_flag = $5, updated_at = $6 WHERE name = $7 AND updated_at = $8`);

export function eventTypesSql(db: Pg): Store['eventTypes'] {
  return {
    async create(e) {
      await conflictAs('name', () =>
        db.run(INSERT, [
          e.name,
          e.description,
          e.schemas,
          e.archived,
          e.deprecated,
          e.featureFlag,
          e.createdAt,
          e.updatedAt,
        ]),
      );
    },
    async get(name) {
      const row = await db.one(`${SELECT} WHERE name = $1`, [name]);
      return row ? mapRow.eventType(row) : null;
    },
    async getMany(names) {
      const rows = await db.rows(`${SELECT} WHERE name = ANY($1::text[])`, [names]);
      return rows.map(mapRow.eventType);
    },
    list(query) {
      const params = new Params();
      const where = query.includeArchived ? [] : ['NOT archived'];
      if (query.featureFlags)
        where.push(`(feature_flag IS NULL OR feature_flag = ANY(${params.add(query.featureFlags)}))`);
      return keysetPage(
        db,
        {
          select: SELECT,
          where,
          params,
          key: 'name',
          keyOf: (r) => r.name as string,
          page: query,
          defaultOrder: 'ascending',
        },
        mapRow.eventType,
      );
    },
    async update(e, seen) {
      const changed = await db.run(UPDATE, [
        e.description,
        e.schemas,
        e.archived,
        e.deprecated,
        e.featureFlag,
        e.updatedAt,
        e.name,
        seen.updatedAt,
      ]);
      return changed > 0;
    },
    async delete(name) {
      return (await db.run('DELETE FROM event_types WHERE name = $1', [name])) > 0;
    },
  };
}
