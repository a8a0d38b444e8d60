// A thin wrapper over a pg.Pool: bigint columns as numbers, named (prepared) statements for static SQL,
// transactions that give a broken connection back to be destroyed, and unique violations as ConflictError.
//
// Recovery: pg.Pool drops a client whose connection failed and dials a fresh one on the next checkout,
// so once the database is back every call works again. Errors on idle clients are reported on the pool
// ('error' event) and must be handled, or Node would crash the process.

import { createHash } from 'node:crypto';
import pg from 'pg';
import { jsonRows, type Row } from '../rows.ts';
import { ConflictError, type MessageFilters, StoreUnavailableError } from '../store.ts';

export type { Row };

/** A statement prepared once per connection under a name derived from its text. */
export interface Stmt {
  readonly text: string;
  readonly name: string;
}

/**
 * Cross-joined into a statement that returns rows (one row, no column used), it lets the statement's
 * transaction commit without waiting for its WAL to reach the disk. For worker bookkeeping (claims and
 * attempt results) only, as on SQLite: a database crash can then only lose its last fraction of a
 * second (three wal_writer_delay), whose tasks are leased again and sent again (at-least-once).
 */
export const ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) async_commit";

export function stmt(text: string): Stmt {
  return { text, name: `db_${createHash('sha1').update(text).digest('hex').slice(0, 20)}` };
}

// Epoch milliseconds and counts are bigint (int8, oid 20): safe as JS numbers below 2^53.
const INT8 = 20;
const parseInt8 = (value: string) => Number(value);
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8
      ? parseInt8
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

type Client = pg.Pool | pg.PoolClient;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) that say the server cannot
// serve the call now, whatever the call: class 08 connection exception; class 53 insufficient resources
// (53100 disk full, 53200 out of memory, 53300 too many connections); 57P01 admin shutdown, 57P02 crash
// shutdown, 57P03 cannot connect now (starting up or in recovery); 58030 I/O error; 25006 read-only
// transaction (a standby after a failover).
const UNAVAILABLE_SQLSTATE = /^(?:08|53)[0-9A-Z]{3}$|^57P0[123]$|^58030$|^25006$/;

/**
 * True when the error says the database cannot serve calls for now, not that the statement was wrong: a
 * socket error, a connection timeout or termination, or one of the SQLSTATEs above.
 */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) {
    return true;
  }
  const message = error instanceof Error ? error.message : '';
  // 55000 (object not in prerequisite state) is also what a database that takes no connections answers
  // (ALLOW_CONNECTIONS false); the code alone would also cover statements that are wrong.
  if (code === '55000' && /not currently accepting connections/.test(message)) return true;
  // 57014 is also a cancel on request; the statement timeout (below) says the server is overloaded.
  if (code === '57014' && /statement timeout/.test(message)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/.test(
    message,
  );
}

/** Rethrows a connection failure as StoreUnavailableError, anything else as it is. */
function rethrow(error: unknown): never {
  throw isUnavailable(error) ? new StoreUnavailableError(error) : error;
}

/** What both the pool and a transaction can run. */
export interface Sql {
  rows<T = Row>(sql: string | Stmt, params?: unknown[]): Promise<T[]>;
  one<T = Row>(sql: string | Stmt, params?: unknown[]): Promise<T | undefined>;
  /** The number of rows the statement changed. */
  run(sql: string | Stmt, params?: unknown[]): Promise<number>;
}

/**
 * How long a statement of the API or the worker may wait for its answer. A connection that stops
 * answering without closing (a network partition, a frozen failover) would otherwise hold its caller
 * until TCP gives up, minutes later: past this the call fails (503) and the connection is dropped.
 * Above the partition upkeep's lock_timeout (10 s). Migrations, which may run long, have none.
 * The server's statement_timeout, a little shorter, stops a statement that the client gave up on (one
 * stuck behind a lock would otherwise keep running and holding its own locks).
 */
const QUERY_TIMEOUT_MS = 15_000;
const statementTimeout = (queryTimeoutMs: number) => Math.floor(queryTimeoutMs * 0.9);
/**
 * A transaction left idle this long (its process paused or stuck between two statements) is ended by
 * the server, rolled back, and its locks freed: a worker paused inside a claim would otherwise hold its
 * endpoint's claim lock, and every other worker would skip that endpoint, for as long as the pause.
 */
const IDLE_IN_TRANSACTION_MS = 5_000;

/**
 * How long a new connection may take to be set up, the whole handshake included, and a call may wait for
 * a pooled one: 3 s, or the URL's `connect_timeout` (seconds, as libpq reads it), for a database far away.
 */
export function connectTimeoutMs(url: string): number {
  const seconds = Number(new URL(url).searchParams.get('connect_timeout') ?? '');
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 3_000;
}

function sqlOf(client: Client, timeoutMs: number): Sql {
  const query = (sql: string | Stmt, values: unknown[] = []) => {
    // pg reads query_timeout from the query's config too; its types list it on the client's only.
    const config: pg.QueryConfig & { query_timeout: number } =
      typeof sql === 'string'
        ? { text: sql, values, query_timeout: timeoutMs }
        : { text: sql.text, name: sql.name, values, query_timeout: timeoutMs };
    return client.query(config).catch(rethrow);
  };
  return {
    async rows<T>(sql: string | Stmt, params?: unknown[]) {
      return (await query(sql, params)).rows as T[];
    },
    async one<T>(sql: string | Stmt, params?: unknown[]) {
      return (await query(sql, params)).rows[0] as T | undefined;
    },
    async run(sql: string | Stmt, params?: unknown[]) {
      return (await query(sql, params)).rowCount ?? 0;
    },
  };
}

const isReadTimeout = (error: Error): boolean =>
  /Query read timeout/.test(`${error.message} ${(error.cause as Error | undefined)?.message ?? ''}`);

/** Closes the pool's idle connections. pg-pool (3.x) has no public way but end(): its own list, if there. */
function dropIdle(pool: pg.Pool): void {
  const own = pool as unknown as {
    _idle?: Array<{ client: pg.PoolClient }>;
    _remove?: (c: pg.PoolClient) => void;
  };
  for (const { client } of own._idle?.slice() ?? []) own._remove?.(client);
}

export class Pg implements Sql {
  readonly pool: pg.Pool;
  readonly #sql: Sql;
  readonly #timeoutMs: number;

  constructor(url: string, poolSize: number, queryTimeoutMs = QUERY_TIMEOUT_MS) {
    this.#timeoutMs = queryTimeoutMs;
    this.pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      types,
      keepAlive: true,
      // A checkout fails fast while the database is down: the API answers 503 instead of hanging.
      connectionTimeoutMillis: connectTimeoutMs(url),
      idleTimeoutMillis: 30_000,
      statement_timeout: statementTimeout(queryTimeoutMs),
      idle_in_transaction_session_timeout: Math.min(IDLE_IN_TRANSACTION_MS, statementTimeout(queryTimeoutMs)),
      // Every statement here is short; the planner costs a probe of the messages by key as one in every
      // day's partition (run-time pruning is not costed), and past jit_above_cost compiled a recover of
      // 3,000 tasks for 2.1 s that ran in 80 ms. A URL's own `options` replace this.
      options: '-c jit=off',
    });
    // A connection that dies while idle (restart, failover) is removed by the pool; nothing else to do.
    this.pool.on('error', () => {});
    // A killed connection can emit 'error' again after the pool released it with the query's error
    // (pg-pool then listens no more): unheard, it would crash the process. Queries get their own errors.
    this.pool.on('connect', (client) => client.on('error', () => {}));
    // A connection that stopped answering (a partition, a frozen failover) is dropped once its statement
    // times out; the idle ones opened over the same path are likely silent too, and each would be found
    // out only by a statement of its own, 15 s at a time. They are dropped with it and opened anew.
    this.pool.on('release', (error?: Error) => {
      if (error && isReadTimeout(error)) dropIdle(this.pool);
    });
    this.#sql = sqlOf(this.pool, queryTimeoutMs);
  }

  rows<T = Row>(sql: string | Stmt, params?: unknown[]): Promise<T[]> {
    return this.#sql.rows<T>(sql, params);
  }

  one<T = Row>(sql: string | Stmt, params?: unknown[]): Promise<T | undefined> {
    return this.#sql.one<T>(sql, params);
  }

  run(sql: string | Stmt, params?: unknown[]): Promise<number> {
    return this.#sql.run(sql, params);
  }

  /**
   * Runs fn on one connection of its own. fn reports a failed statement that leaves the connection
   * unusable by calling `broken`; such a connection, or one that failed while checked out, is destroyed
   * instead of going back to the pool.
   */
  async session<T>(fn: (client: pg.PoolClient, broken: (error: Error) => void) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch(rethrow);
    let failed: Error | undefined;
    const broken = (error: Error) => {
      failed = error;
    };
    // While a client is checked out the pool does not listen for its errors: a connection killed
    // between two statements would emit an unhandled 'error' and crash the process.
    client.on('error', broken);
    try {
      return await fn(client, broken);
    } finally {
      client.off('error', broken);
      client.release(failed);
    }
  }

  /** Runs fn in one READ COMMITTED transaction on one connection. */
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.session(async (client, broken) => {
      const sql = sqlOf(client, this.#timeoutMs);
      try {
        await sql.run('BEGIN');
        const value = await fn(sql);
        await sql.run('COMMIT');
        return value;
      } catch (error) {
        // A connection that failed (or stopped answering) is dropped, not rolled back; a rollback that
        // fails means the same: the pool must not reuse it.
        if (error instanceof StoreUnavailableError) broken(error);
        else await sql.run('ROLLBACK').catch(broken);
        throw error;
      }
    });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Runs fn, turning a unique violation (SQLSTATE 23505) into ConflictError(field). */
export async function conflictAs<T>(field: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if ((error as { code?: unknown }).code === '23505') throw new ConflictError(field);
    throw error;
  }
}

/** The driver's row mappers: pg returns json and jsonb columns already parsed. */
export const mapRow = jsonRows((value) => value);

export const json = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));

/** A SQL text builder that numbers its parameters ($1, $2, …) as they are added. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Joins to each row of `alias` its message as `m`, found by its key (msg_id, and `at`: the column that
 * holds the message's created_at, its day) in a lateral subquery that cannot be merged into a join
 * (LIMIT). Joined plainly, the planner costs the probe as one in every day's partition (run-time
 * pruning is not costed), and hashed every message of every day instead, or, underestimating the
 * matches, sorted them all: 350 ms for the first page of an endpoint's 100,000 messages over 90 days.
 */
export const withMessage = (alias: string, at: string): string =>
  `CROSS JOIN LATERAL (SELECT * FROM messages m
    WHERE m.id = ${alias}.msg_id AND m.created_at = ${alias}.${at} LIMIT 1) m`;

/** Appends `channel` / `eventTypes` filters on a message alias. */
export function messageFilters(alias: string, where: string[], p: Params, query: MessageFilters): void {
  if (query.channel) where.push(`${alias}.channels ? ${p.add(query.channel)}`);
  if (query.tag) where.push(`${alias}.tags ? ${p.add(query.tag)}`);
  if (query.eventTypes && query.eventTypes.length > 0) {
    where.push(`${alias}.event_type = ANY(${p.add(query.eventTypes)}::text[])`);
  }
}

/** Appends `before` / `after` filters on a createdAt column. */
export function timeFilters(
  column: string,
  where: string[],
  p: Params,
  range: { before?: number | null; after?: number | null },
): void {
  if (range.before != null) where.push(`${column} < ${p.add(range.before)}`);
  if (range.after != null) where.push(`${column} > ${p.add(range.after)}`);
}

/**
 * Runs `statement` over a backlog a chunk at a time: its last parameter is where the previous chunk
 * ended ('' at first), and it answers the chunk's last key (null once none is left) and `n`, what it
 * changed. Returns the sum of `n`.
 */
export async function byChunks(sql: Sql, statement: Stmt, params: unknown[]): Promise<number> {
  let changed = 0;
  for (let after = ''; ; ) {
    const chunk = await sql.one<{ last: string | null; n: number }>(statement, [...params, after]);
    changed += chunk!.n;
    if (chunk!.last === null) return changed;
    after = chunk!.last;
  }
}
