// The PostgreSQL driver of the Store port: many Doorbell processes (API and workers) share one database.
// Migrations run under an advisory lock; messages and attempts live in daily partitions; publishes are
// group-committed; claims skip locked rows and serialise per endpoint so caps hold across processes.

import { type Store, StoreUnavailableError } from '../store.ts';
import { appsSql, DELETE_ORPHAN_ENDPOINTS } from './apps-sql.ts';
import { attemptsSql } from './attempts-sql.ts';
import { backgroundTasksSql } from './background-tasks-sql.ts';
import { endpointsSql } from './endpoints-sql.ts';
import { eventTypesSql } from './event-types-sql.ts';
import { idempotencySql, settingsSql } from './kv-sql.ts';
import { messagesSql, publisher } from './messages-sql.ts';
import { migrate } from './migrate.ts';
import { type MaintenanceReport, Partitions } from './partitions.ts';
import { isUnavailable, Pg } from './pg.ts';
import { tasksSql } from './tasks-sql.ts';

export { listen } from './listen.ts';
export { TASKS_CHANNEL } from './messages-sql.ts';
export type { MaintenanceReport } from './partitions.ts';

export interface PostgresStoreOptions {
  poolSize?: number;
  /** How long a statement may wait for its answer (QUERY_TIMEOUT_MS by default). */
  queryTimeoutMs?: number;
  /**
   * When set, the hourly upkeep run from messages.expireBatch also drops the days of messages and
   * attempts older than this. Without it, that upkeep only creates partitions ahead.
   */
  retentionMs?: number | null;
}

export interface PostgresStore extends Store {
  /**
   * Creates the partitions of the days ahead of `now` and, given a retention, drops whole days that
   * ended `retentionMs` before `now` (and deletes their tasks). Safe to run from every process at once.
   */
  maintainPartitions(now: number, retentionMs: number | null): Promise<MaintenanceReport>;
}

const MAINTENANCE_EVERY_MS = 3_600_000;
const UPKEEP_RETRY_MS = 5 * 60_000;
const ANALYZE_EVERY_MS = 60_000; // as autovacuum's default round

/**
 * Connects, brings the schema up to date and creates the partitions ahead; `url` is a postgres:// URL.
 * A database that cannot be reached or cannot serve for now (refused, starting up, too many connections)
 * fails with StoreUnavailableError, which waiting may fix; anything else (a wrong password, a database
 * that does not exist, a schema newer than this release) as it is.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const db = new Pg(url, options.poolSize ?? 10, options.queryTimeoutMs);
  const partitions = new Partitions(db);
  try {
    await migrate(db);
    await partitions.maintain(Date.now(), null);
  } catch (error) {
    await db.close();
    // Migrations run on a session of their own, whose statements the driver does not classify.
    throw error instanceof StoreUnavailableError || !isUnavailable(error)
      ? error
      : new StoreUnavailableError(error);
  }
  let lastUpkeep = Number.NEGATIVE_INFINITY;
  let lastAnalyze = Number.NEGATIVE_INFINITY;
  const upkeep = async (now: number) => {
    if (Math.abs(now - lastUpkeep) >= MAINTENANCE_EVERY_MS) {
      lastUpkeep = now;
      try {
        await partitions.maintain(now, options.retentionMs ?? null);
        await db.run(DELETE_ORPHAN_ENDPOINTS);
      } catch (error) {
        // Tried again in a few minutes, not an hour; the sweeps between still expire payloads.
        lastUpkeep = now - MAINTENANCE_EVERY_MS + UPKEEP_RETRY_MS;
        throw error;
      }
    }
    if (Math.abs(now - lastAnalyze) >= ANALYZE_EVERY_MS) {
      lastAnalyze = now;
      await partitions.analyze();
    }
  };
  const group = publisher(db, partitions);
  let closed = false;
  return {
    apps: appsSql(db),
    eventTypes: eventTypesSql(db),
    endpoints: endpointsSql(db),
    messages: messagesSql(db, group, upkeep),
    tasks: tasksSql(db, partitions),
    attempts: attemptsSql(db),
    backgroundTasks: backgroundTasksSql(db),
    idempotency: idempotencySql(db),
    settings: settingsSql(db),
    maintainPartitions: (now, retentionMs) => partitions.maintain(now, retentionMs),
    async close() {
      if (closed) return;
      closed = true;
      await group.drain(); // publishes already accepted commit first
      await db.close();
    },
  };
}
