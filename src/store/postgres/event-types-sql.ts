// Event types, keyed and paginated by name.

import type { EventType } from '../../core/types.ts';
import { inNameOrder } from '../rows.ts';
import type { Store } from '../store.ts';
import { keysetPage } from './paginate.ts';
import { conflictAs, mapRow, Params, type Pg, type Sql, stmt } from './pg.ts';

// `json` keeps the text it was given, and ::text reads it back as it is (pg would parse it).
const SELECT = `SELECT name, description, schemas::text AS schemas, archived, deprecated, feature_flag,
  created_at, updated_at FROM event_types`;
const SELECT_BARE = SELECT.replace('schemas::text AS schemas', 'NULL AS schemas');
const INSERT_TEXT = `INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag,
  created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;
const INSERT = stmt(INSERT_TEXT);
const INSERT_NEW = stmt(`${INSERT_TEXT} ON CONFLICT DO NOTHING`);
const UPDATE = stmt(`UPDATE event_types SET description = $1, schemas = $2, archived = $3, deprecated = $4,
  feature_flag = $5, updated_at = $6 WHERE name = $7 AND updated_at = $8`);

const insertParams = (e: EventType) => [
  e.name,
  e.description,
  e.schemas,
  e.archived,
  e.deprecated,
  e.featureFlag,
  e.createdAt,
  e.updatedAt,
];

/** Stores `e` if its row is still as seen (its updatedAt). */
async function update(sql: Sql, e: EventType, seen: number): Promise<boolean> {
  const params = [
    e.description,
    e.schemas,
    e.archived,
    e.deprecated,
    e.featureFlag,
    e.updatedAt,
    e.name,
    seen,
  ];
  return (await sql.run(UPDATE, params)) > 0;
}

export function eventTypesSql(db: Pg): Store['eventTypes'] {
  return {
    async create(e) {
      await conflictAs('name', () => db.run(INSERT, insertParams(e)));
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
          select: query.withContent === false ? SELECT_BARE : SELECT,
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
    update(e, seen) {
      return update(db, e, seen.updatedAt);
    },
    async putAll(writes) {
      const stale = new Error('changed meanwhile');
      try {
        await db.tx(async (sql) => {
          for (const { eventType: e, seen } of inNameOrder(writes)) {
            const stored =
              seen === null ? (await sql.run(INSERT_NEW, insertParams(e))) > 0 : await update(sql, e, seen);
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
      return (await db.run('DELETE FROM event_types WHERE name = $1', [name])) > 0;
    },
  };
}
