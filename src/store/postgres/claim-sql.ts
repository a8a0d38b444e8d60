// The worker's claim: due pending tasks plus 'sending' tasks whose lease expired (a crashed worker's),
// capped per endpoint and dealt round-robin so one endpoint's backlog cannot take the whole batch.
//
// Many processes claim from one database. FOR UPDATE SKIP LOCKED keeps two claims from taking the same
// row, but cannot keep them under a per-endpoint cap together: each would count the other's leases only
// after it commits. So a claim first takes a transaction-scoped advisory lock per endpoint
// (pg_try_advisory_xact_lock on a hash of its id) and serves only the endpoints it got; the in-flight
// count is read in a LATER statement, whose snapshot therefore includes every commit of the previous
// holder (the lock is released only after its commit is visible). A claim never waits: an endpoint
// locked by another process's claim is skipped this time. A hash collision only serialises two
// endpoints' claims. The alternative, a counter row per endpoint updated by claims and finishes, would
// need every finish and every lease expiry to write it, and an expired lease has no event to decrement.

import type { Endpoint } from '../../core/types.ts';
import { toTask } from '../rows.ts';
import type { ClaimedTask, ClaimOptions } from '../store.ts';
import { LOCK_SPACE_ENDPOINT } from './migrate.ts';
import { mapRow, type Pg, type Row, type Sql, stmt } from './pg.ts';

// Endpoints with pending tasks, by a loose index scan (one probe per endpoint, however long its
// backlog), from a starting point; and the endpoints of expired leases.
const CANDIDATES = stmt(`WITH RECURSIVE e(id) AS (
    SELECT (SELECT endpoint_id FROM tasks WHERE status = 1 AND endpoint_id > $1 ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT endpoint_id FROM tasks WHERE status = 1 AND endpoint_id > e.id ORDER BY endpoint_id LIMIT 1)
    FROM e WHERE e.id IS NOT NULL
  ), pending AS (SELECT id FROM e WHERE id IS NOT NULL LIMIT $2)
  SELECT id, false AS expired FROM pending
  UNION ALL
  SELECT DISTINCT endpoint_id, true FROM (SELECT endpoint_id FROM tasks
    WHERE status = 3 AND lease_until <= $3 ORDER BY lease_until LIMIT $4) x`);
const LOCK = stmt(`SELECT e FROM unnest($1::text[]) WITH ORDINALITY AS u(e, o)
  WHERE pg_try_advisory_xact_lock(${LOCK_SPACE_ENDPOINT}, hashtext(e)) ORDER BY o`);
// Leases in force per endpoint (id NULL), and expired leases to take over (n 0).
const BUSY = stmt(`SELECT endpoint_id AS e, count(*)::int AS n, NULL::text AS id FROM tasks
    WHERE status = 3 AND lease_until > $1 AND endpoint_id = ANY($2::text[]) GROUP BY endpoint_id
  UNION ALL
  SELECT endpoint_id, 0, id FROM (SELECT endpoint_id, id FROM tasks
    WHERE status = 3 AND lease_until <= $1 AND endpoint_id = ANY($2::text[])
    ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED) x`);
// One round: up to n due tasks of each endpoint (plus the expired leases chosen), leased and returned
// with their message and (once per endpoint) their endpoint.
// Each endpoint's due tasks come from its own index (tasks_due_endpoint); the update finds the rows by
// primary key (= ANY(ARRAY(…)), never a hash join over the table); message and endpoint are fetched per
// row by key, the message from the one partition its time names (run-time partition pruning).
const ROUND = stmt(`WITH want AS (SELECT * FROM unnest($1::text[], $2::int[]) AS w(e, n)),
  picked AS (
    SELECT t.id FROM want CROSS JOIN LATERAL (
      SELECT id FROM tasks WHERE status = 1 AND endpoint_id = want.e AND next_at <= $3
      ORDER BY next_at LIMIT want.n FOR UPDATE SKIP LOCKED) t
    UNION ALL SELECT unnest($4::text[])
  ), claimed AS (
    UPDATE tasks SET status = 3, lease_until = $5, next_at = NULL, updated_at = $3
    WHERE id = ANY(ARRAY(SELECT id FROM picked)) RETURNING *
  ), numbered AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.endpoint_id) AS nth FROM claimed c
  )
  SELECT c.*,
    (SELECT row_to_json(m) FROM messages m WHERE m.id = c.msg_id AND m.created_at = c.msg_created_at) AS message,
    CASE WHEN c.nth = 1 THEN (SELECT row_to_json(ep) FROM endpoints ep WHERE ep.id = c.endpoint_id) END AS endpoint
  FROM numbered c`);
const FAIL_ORPHANS = stmt('UPDATE tasks SET status = 2, lease_until = NULL WHERE id = ANY($1::text[])');

const MAX_ENDPOINTS = 256; // endpoints considered per claim; the rotation reaches the others next time

/** Where this process's next claim starts: past the endpoints a full window looked at, and who goes first. */
export interface ClaimState {
  after: string;
  turn: number;
}

async function candidates(sql: Sql, o: ClaimOptions, state: ClaimState): Promise<string[]> {
  const rows = await sql.rows<{ id: string; expired: boolean }>(CANDIDATES, [
    state.after,
    MAX_ENDPOINTS,
    o.now,
    o.limit,
  ]);
  const found = rows.filter((r) => !r.expired).map((r) => r.id);
  if (found.length < MAX_ENDPOINTS && state.after !== '') {
    // Wrap around to the endpoints at or before the starting point.
    const wrapped = await sql.rows<{ id: string }>(CANDIDATES, ['', MAX_ENDPOINTS - found.length, o.now, 0]);
    found.push(...wrapped.map((r) => r.id).filter((id) => id <= state.after));
  }
  state.after = found.length === MAX_ENDPOINTS ? found[found.length - 1]! : '';
  // Whoever is first gets the rounding leftovers: take turns.
  const start = found.length === 0 ? 0 : state.turn++ % found.length;
  const rotated = found.slice(start).concat(found.slice(0, start));
  const seen = new Set(rotated);
  for (const r of rows) if (r.expired && !seen.has(r.id)) rotated.push(r.id);
  return rotated;
}

export function claimDue(db: Pg, o: ClaimOptions, state: ClaimState): Promise<ClaimedTask[]> {
  if (o.limit <= 0 || o.perEndpoint <= 0) return Promise.resolve([]);
  return db.tx(async (sql) => {
    const found = await candidates(sql, o, state);
    if (found.length === 0) return [];
    const locked = (await sql.rows<{ e: string }>(LOCK, [found])).map((r) => r.e);
    if (locked.length === 0) return [];
    const used = new Map<string, number>();
    const room = (e: string) => o.perEndpoint - (used.get(e) ?? 0);
    const busy = await sql.rows<{ e: string; n: number; id: string | null }>(BUSY, [o.now, locked, o.limit]);
    for (const r of busy) if (r.id === null) used.set(r.e, r.n);
    let taken = 0;
    let explicit: string[] = [];
    for (const r of busy) {
      if (r.id === null || room(r.e) <= 0 || taken >= o.limit) continue;
      used.set(r.e, (used.get(r.e) ?? 0) + 1);
      explicit.push(r.id);
      taken++;
    }
    const claimed: ClaimedTask[] = [];
    const orphans: string[] = [];
    const endpoints = new Map<string, Endpoint>();
    let active = locked.filter((e) => room(e) > 0);
    while (explicit.length > 0 || (active.length > 0 && taken < o.limit)) {
      // Every endpoint with room gets an equal share of what is left; those that filled it may get more.
      const share = Math.max(1, Math.floor((o.limit - taken) / Math.max(1, active.length)));
      const wants = new Map<string, number>();
      let planned = taken;
      for (const e of active) {
        const want = Math.min(share, room(e), o.limit - planned);
        if (want <= 0) continue;
        wants.set(e, want);
        planned += want;
      }
      const expiredIds = new Set(explicit);
      const rows = await sql.rows(ROUND, [
        [...wants.keys()],
        [...wants.values()],
        o.now,
        explicit,
        o.now + o.leaseMs,
      ]);
      explicit = [];
      const got = new Map<string, number>();
      for (const r of rows)
        if (r.endpoint) endpoints.set(r.endpoint_id as string, mapRow.endpoint(r.endpoint as Row));
      for (const r of rows) {
        const task = toTask(r);
        if (!expiredIds.has(task.id)) {
          got.set(task.endpointId, (got.get(task.endpointId) ?? 0) + 1);
          used.set(task.endpointId, (used.get(task.endpointId) ?? 0) + 1);
          taken++;
        }
        const endpoint = endpoints.get(task.endpointId);
        // An orphan (its message or endpoint is gone) can never be sent: fail it instead of re-leasing forever.
        if (r.message && endpoint)
          claimed.push({ task, message: mapRow.message(r.message as Row), endpoint });
        else orphans.push(task.id);
      }
      active = [...wants].filter(([e, want]) => got.get(e) === want && room(e) > 0).map(([e]) => e);
    }
    if (orphans.length > 0) await sql.run(FAIL_ORPHANS, [orphans]);
    return claimed;
  });
}
