// Daily partitions of messages, their labels and attempts (RANGE on created_at, [day start, next day start) in UTC).
//
// Partitions are created ahead of time (yesterday through AHEAD_DAYS from now) at open and by each
// maintenance run, so the publish path never waits on DDL. A row for a day outside that window (a clock
// far off, a test on a fixed clock) gets its partition on demand before the insert. There is no default
// partition: rows parked there would make every later CREATE of an overlapping day scan and move them.
//
// Retention drops whole days (DROP TABLE: instant, no dead tuples, no vacuum debt) instead of deleting
// rows one by one. DDL on a partition needs a short ACCESS EXCLUSIVE lock on the parent: it runs with
// a lock_timeout so that it never queues in front of the publish path for long; a run that times out
// simply leaves the work to the next one.
//
// A day's partitions are analyzed by `analyze` once their rows changed by more than autovacuum's
// default threshold (50 rows and a tenth of the table) since they were last analyzed, by it or by
// autovacuum. Unanalyzed, the planner guesses an endpoint's share of a day and may read the whole day
// and sort it for a page; this keeps the plans from depending on the server's autovacuum, which may be
// off, and which also waits for its next round (a minute by default) after midnight.

import { TaskStatus } from '../../core/types.ts';
import { LOCK_ANALYZE, LOCK_PARTITIONS, LOCK_SPACE } from './migrate.ts';
import type { Pg } from './pg.ts';

export const DAY_MS = 86_400_000;
export const AHEAD_DAYS = 7;
const TABLES = ['messages', 'message_labels', 'attempts'] as const;
type Table = (typeof TABLES)[number];
const CLEANUP_BATCH = 5000;
const CLEANUP_MAX_BATCHES = 100; // per run; the next run continues

export interface MaintenanceReport {
  created: string[];
  dropped: string[];
  /** Tasks and eventId index rows of messages in dropped days, deleted in small batches. */
  cleaned: number;
}

const dayName = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '');
export const partitionName = (table: string, day: number) => `${table}_p${dayName(day)}`;

function dayOf(name: string): number | null {
  const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS : null;
}

// The partitions (c) of the tables named by $1 (p), in this schema.
const PARTITIONS = `FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
  WHERE p.relname = ANY($1::text[]) AND p.relnamespace = current_schema()::regnamespace`;
const LIST = `SELECT c.relname AS name, p.relname AS parent ${PARTITIONS}`;
// Those changed past the threshold (see the top of this file), or only $2 if it still is.
const STALE = `SELECT c.relname AS name ${PARTITIONS}
  AND (SELECT n_mod_since_analyze FROM pg_stat_user_tables s WHERE s.relid = c.oid) > 50 + 0.1 * greatest(c.reltuples, 0)
  AND ($2::text IS NULL OR c.relname = $2) ORDER BY right(c.relname, 8) DESC, c.relname`;
// A run's time: a first run over many days unanalyzed (autovacuum off) goes on in the next ones.
const ANALYZE_BUDGET_MS = 10_000;

/** Whether a day of messages up to `day` has a partition still. */
async function messagesUpTo(sql: Pick<Pg, 'rows'>, day: number): Promise<boolean> {
  const rows = await sql.rows<{ name: string }>(LIST, [['messages']]);
  return rows.some((r) => (dayOf(r.name) ?? Number.POSITIVE_INFINITY) <= day);
}

export class Partitions {
  readonly #db: Pg;
  readonly #known = new Set<number>(); // days whose partitions exist in every table
  #queue: Promise<unknown> = Promise.resolve(); // DDL runs one at a time in this process

  constructor(db: Pg) {
    this.#db = db;
  }

  /** The days that have a partition, per partitioned table. */
  async #days(): Promise<Map<string, Set<number>>> {
    const rows = await this.#db.rows<{ name: string; parent: string }>(LIST, [TABLES]);
    const days = new Map<string, Set<number>>(TABLES.map((t) => [t, new Set()]));
    for (const r of rows) {
      const day = dayOf(r.name);
      if (day !== null) days.get(r.parent)?.add(day);
    }
    return days;
  }

  /** The days that have a partition in every partitioned table. */
  async list(): Promise<number[]> {
    const days = await this.#days();
    const [first, ...rest] = TABLES.map((t) => days.get(t)!);
    return [...first!].filter((d) => rest.every((s) => s.has(d)));
  }

  async load(): Promise<void> {
    this.#known.clear();
    for (const day of await this.list()) this.#known.add(day);
  }

  /** Makes sure rows created at these times have a partition to go to. */
  ensureFor(times: Iterable<number>): Promise<void> | undefined {
    const missing = new Set<number>();
    for (const t of times) {
      const day = Math.floor(t / DAY_MS);
      if (!this.#known.has(day)) missing.add(day);
    }
    return missing.size > 0 ? this.#create([...missing]) : undefined;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #create(days: number[]): Promise<void> {
    return this.#serial(async () => {
      const todo = days.filter((d) => !this.#known.has(d));
      if (todo.length === 0) return;
      await this.#db.tx(async (sql) => {
        await sql.run("SET LOCAL lock_timeout = '10s'");
        await sql.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, LOCK_PARTITIONS]);
        for (const day of todo) {
          for (const table of TABLES) {
            // Names and bounds are computed here, never taken from input.
            await sql.run(
              `CREATE TABLE IF NOT EXISTS ${partitionName(table, day)} PARTITION OF ${table}
               FOR VALUES FROM (${day * DAY_MS}) TO (${(day + 1) * DAY_MS})`,
            );
          }
        }
      });
      for (const day of todo) this.#known.add(day);
    });
  }

  /**
   * Creates the days ahead of `now`; with a retention, drops every day that ended at least `retentionMs`
   * before `now` (messages and attempts alike), and deletes the tasks and eventId rows of dropped days.
   * A message day still holding a payload that has not expired yet (a message published with a longer
   * retention) is kept until that payload expires, and one with a delivery still to try (its payload
   * gone, it fails unsent) until it has. A day of attempts is kept while a day of messages up to it is:
   * a message's attempts come on its day or later, and go with it.
   */
  async maintain(now: number, retentionMs: number | null): Promise<MaintenanceReport> {
    const today = Math.floor(now / DAY_MS);
    const report: MaintenanceReport = { created: [], dropped: [], cleaned: 0 };
    await this.load();
    const ahead: number[] = [];
    for (let d = today - 1; d <= today + AHEAD_DAYS; d++) if (!this.#known.has(d)) ahead.push(d);
    await this.#create(ahead);
    report.created = ahead.flatMap((d) => TABLES.map((t) => partitionName(t, d)));
    if (retentionMs === null) return report;

    const cutoffDay = Math.floor((now - retentionMs) / DAY_MS); // days before it ended by the cutoff
    const rows = await this.#db.rows<{ name: string; parent: string }>(LIST, [TABLES]);
    // Messages first: a day's labels go with its messages, or stay while they stay.
    rows.sort((a, b) => TABLES.indexOf(a.parent as Table) - TABLES.indexOf(b.parent as Table));
    for (const { name, parent } of rows) {
      const day = dayOf(name);
      if (day === null || day >= cutoffDay) continue;
      // Checked and dropped under the lock: another process may have dropped it since it was listed
      // (reading it then failed the whole run).
      const outcome = await this.#serial(() =>
        this.#db
          .tx(async (sql) => {
            await sql.run("SET LOCAL lock_timeout = '5s'");
            await sql.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, LOCK_PARTITIONS]);
            const exists = async (table: string) =>
              (await sql.one<{ t: string | null }>('SELECT to_regclass($1) AS t', [table]))?.t != null;
            if (!(await exists(name))) return 'gone';
            const live =
              parent === 'messages'
                ? await sql.one(
                    `SELECT 1 FROM ${name} WHERE payload IS NOT NULL AND expires_at > $1
                     UNION ALL SELECT 1 FROM tasks WHERE msg_created_at >= $2 AND msg_created_at < $3
                       AND status IN (${TaskStatus.pending}, ${TaskStatus.sending}) LIMIT 1`,
                    [now, day * DAY_MS, (day + 1) * DAY_MS],
                  )
                : parent === 'message_labels'
                  ? await exists(partitionName('messages', day))
                  : await messagesUpTo(sql, day);
            if (live) return 'kept';
            await sql.run(`DROP TABLE ${name}`);
            return 'dropped';
          })
          .catch((error: { code?: string }) => {
            if (error.code === '55P03') return 'kept'; // lock_timeout: try again next run
            throw error;
          }),
      );
      if (outcome === 'kept') continue;
      this.#known.delete(day);
      if (outcome === 'dropped') report.dropped.push(name);
    }
    report.cleaned = await this.#cleanup(cutoffDay);
    return report;
  }

  /**
   * Analyzes the partitions changed past the threshold (see the top of this file), the newest days
   * first, each in a transaction of its own, for up to ANALYZE_BUDGET_MS; returns their names. One
   * process at a time: another that finds the lock taken leaves the rest to it. A partition that cannot
   * be analyzed now is left to the next run, and never fails the sweep it runs in (its payload expiry
   * and purges come after it).
   */
  async analyze(now: () => number = Date.now): Promise<string[]> {
    const started = now();
    const stale = await this.#db.rows<{ name: string }>(STALE, [TABLES, null]);
    const analyzed: string[] = [];
    for (const { name } of stale) {
      if (now() - started > ANALYZE_BUDGET_MS) break;
      const outcome = await this.#db
        .tx(async (sql) => {
          const lock = await sql.one<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS ok', [
            LOCK_SPACE,
            LOCK_ANALYZE,
          ]);
          if (!lock?.ok) return 'busy';
          // Listed before the lock: another process may have analyzed it since, or retention dropped it.
          if ((await sql.rows(STALE, [TABLES, name])).length === 0) return 'done';
          // Below deadlock_timeout (1 s by default): a wait for autovacuum's own pass on the partition
          // gives up before it would cancel that pass.
          await sql.run("SET LOCAL lock_timeout = '500ms'");
          await sql.run(`ANALYZE ${name}`); // a name from the catalog, never from input
          return 'analyzed';
        })
        .catch(() => 'skipped'); // dropped meanwhile, locked, too slow, or the database gone
      if (outcome === 'busy') break;
      if (outcome === 'analyzed') analyzed.push(name);
    }
    return analyzed;
  }

  /** Deletes tasks and eventId rows whose message day is before cutoffDay and no longer exists. */
  async #cleanup(cutoffDay: number): Promise<number> {
    const messageDays = (await this.#days()).get('messages') ?? new Set<number>();
    const kept = [...messageDays].filter((d) => d < cutoffDay);
    const statements = [
      `DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE msg_created_at < $1
         AND NOT (msg_created_at / ${DAY_MS} = ANY($2::bigint[])) LIMIT ${CLEANUP_BATCH})`,
      `DELETE FROM message_event_ids WHERE (app_id, event_id) IN (SELECT app_id, event_id FROM message_event_ids
         WHERE created_at < $1 AND NOT (created_at / ${DAY_MS} = ANY($2::bigint[]))
         LIMIT ${CLEANUP_BATCH})`,
    ];
    let total = 0;
    for (const sql of statements) {
      for (let i = 0; i < CLEANUP_MAX_BATCHES; i++) {
        const n = await this.#db.run(sql, [cutoffDay * DAY_MS, kept]);
        total += n;
        if (n < CLEANUP_BATCH) break;
      }
    }
    return total;
  }
}
