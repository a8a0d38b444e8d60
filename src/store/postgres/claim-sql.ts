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
import { type ClaimedTask, type ClaimOptions, RATE_HORIZON_MS, SLOT_GRACE_MS } from '../store.ts';
import { LOCK_SPACE_ENDPOINT } from './migrate.ts';
import { ASYNC_COMMIT, mapRow, type Pg, type Row, type Sql, stmt } from './pg.ts';

// A claim is three statements (plus BEGIN and COMMIT, which does not wait for the WAL flush: see
// ASYNC_COMMIT): START finds the candidate endpoints and tries their advisory locks; FIRST reads the
// in-flight counts (its snapshot is taken after START's locks) and leases the first round; further
// ROUNDs only when some endpoints filled their share.

// The first endpoint past `after` with pending tasks, with the earliest time one of them is due: one
// probe of tasks_due_endpoint, which holds each endpoint's pending tasks in due order.
const NEXT = (after: string) => `SELECT endpoint_id AS id, next_at AS at FROM tasks
      WHERE status = 1 AND endpoint_id > ${after} ORDER BY endpoint_id, next_at LIMIT 1`;
// Endpoints with pending tasks, by a loose index scan (one probe per endpoint, however long its
// backlog): from the starting point $1 on, then (unless $1 is '') wrapping around to those at or
// before it, numbered n in that order and at most $5 of them. Of those, the first $2 with a task due
// at $3, read only as far as needed: endpoints whose tasks all wait for a later retry are passed over.
// Besides, the endpoints $6 the last claim served, if they have a task due: an endpoint in steady use
// is served at every claim, however many endpoints lie between the starting point and it. Then the
// endpoints of expired leases not already found. Each is tried for its advisory lock exactly once, in
// the select list over the materialized lists. kind: 0 due, 1 due and served last time, 2 only an
// expired lease; and when fewer than $2 were due, a row of kind 3 with the last endpoint looked at and
// how many were (n), where the next claim goes on.
const START = stmt(`WITH RECURSIVE a(id, at, n) AS (
    SELECT x.id, x.at, 1 FROM (${NEXT('$1::text')}) x
    UNION ALL SELECT x.id, x.at, a.n + 1 FROM a CROSS JOIN LATERAL (${NEXT('a.id')}) x WHERE a.n < $5
  ), b(id, at, n) AS (
    SELECT x.id, x.at, (SELECT count(*) FROM a)::int + 1 FROM (${NEXT("''")}) x WHERE $1::text <> ''
    UNION ALL SELECT x.id, x.at, b.n + 1 FROM b CROSS JOIN LATERAL (${NEXT('b.id')}) x
      WHERE b.id < $1::text AND b.n < $5
  ), scanned AS (SELECT id, at, n FROM a UNION ALL SELECT id, at, n FROM b WHERE id <= $1::text AND n <= $5),
  due AS MATERIALIZED (SELECT id, n FROM scanned WHERE at <= $3 AND id <> ALL($6::text[]) LIMIT $2),
  recent AS MATERIALIZED (SELECT r.id FROM unnest($6::text[]) AS r(id) WHERE EXISTS (SELECT 1 FROM tasks
      WHERE status = 1 AND endpoint_id = r.id AND next_at <= $3)),
  expired AS MATERIALIZED (SELECT DISTINCT endpoint_id AS id FROM (SELECT endpoint_id FROM tasks
      WHERE status = 3 AND lease_until <= $3 ORDER BY lease_until LIMIT $4) x
    WHERE endpoint_id NOT IN (SELECT id FROM due UNION ALL SELECT id FROM recent)),
  found AS (SELECT id, n, 0 AS kind FROM due UNION ALL SELECT id, NULL, 1 FROM recent
    UNION ALL SELECT id, NULL, 2 FROM expired)
  SELECT id, n, kind, pg_try_advisory_xact_lock(${LOCK_SPACE_ENDPOINT}, hashtext(id)) AS locked
  FROM found, ${ASYNC_COMMIT}
  UNION ALL (SELECT id, n, 3, false FROM scanned WHERE (SELECT count(*) FROM due) < $2 ORDER BY n DESC LIMIT 1)`);

// Leases the rows whose ids `picked` lists, and returns each with its message and (once per endpoint) its endpoint.
// Each endpoint's due tasks come from its own index (tasks_due_endpoint); the update finds the rows by
// primary key (= ANY(ARRAY(…)), never a hash join over the table); message and endpoint are fetched per
// row by key, the message from the one partition its time names (run-time partition pruning).
const lease = (now: string, until: string, extra: string, join: string) => `claimed AS (
    UPDATE tasks SET status = 3, lease_until = ${until}, next_at = NULL, updated_at = ${now},
      rate_wait = CASE WHEN rate_wait = 1 AND next_at >= ${now} - ${SLOT_GRACE_MS} THEN 1 ELSE 0 END
    WHERE id = ANY(ARRAY(SELECT id FROM picked)) RETURNING *
  ), numbered AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.endpoint_id) AS nth FROM claimed c
  )
  SELECT c.*${extra},
    (SELECT row_to_json(m) FROM messages m WHERE m.id = c.msg_id AND m.created_at = c.msg_created_at) AS message,
    CASE WHEN c.nth = 1 THEN (SELECT row_to_json(ep) FROM endpoints ep WHERE ep.id = c.endpoint_id) END AS endpoint
  FROM numbered c${join}`;
// Up to want.n due tasks of each endpoint, oldest first. A rate-limited endpoint (want.slots, its free
// slots within RATE_HORIZON_MS, is not null) gives first its tasks whose slot has come (they keep it:
// see SLOT_GRACE_MS), then at most want.slots of the others, each of which takes the next free slot.
// Taking the oldest due tasks whatever their slot, a claim gave a large backlog without slots ever
// further slots, a claim's worth at a time, while the tasks whose slot had come sorted after them and
// lost it: nothing went until the whole backlog held a slot (a minute for 100,000 tasks). Endpoints
// without a rate read their index as before.
const slotted = (now: string) => `slotted AS MATERIALIZED (SELECT want.e, t.id FROM want CROSS JOIN LATERAL (
      SELECT id FROM tasks WHERE status = 1 AND endpoint_id = want.e AND rate_wait = 1
        AND next_at <= ${now} AND next_at >= ${now} - ${SLOT_GRACE_MS}
      ORDER BY next_at LIMIT want.n FOR UPDATE SKIP LOCKED) t WHERE want.slots IS NOT NULL AND want.n > 0)`;
const due = (now: string) => `SELECT t.id FROM want CROSS JOIN LATERAL (
      SELECT id FROM tasks WHERE status = 1 AND endpoint_id = want.e AND next_at <= ${now}
      ORDER BY next_at LIMIT want.n FOR UPDATE SKIP LOCKED) t WHERE want.slots IS NULL AND want.n > 0
    UNION ALL SELECT id FROM slotted
    UNION ALL SELECT t.id FROM want CROSS JOIN LATERAL (
      SELECT id FROM tasks WHERE status = 1 AND endpoint_id = want.e AND next_at <= ${now}
        AND NOT (rate_wait = 1 AND next_at >= ${now} - ${SLOT_GRACE_MS})
      ORDER BY next_at LIMIT least(want.slots, want.n - (SELECT count(*) FROM slotted s WHERE s.e = want.e))
      FOR UPDATE SKIP LOCKED) t WHERE want.slots > 0 AND want.n > 0`;
/** The rate that applies to a row of `endpoints` now: its own, else its application's. */
export const RATE_NOW =
  'coalesce(rate_limit, (SELECT a.rate_limit FROM apps a WHERE a.id = endpoints.app_id))';
// An endpoint's free rate slots within RATE_HORIZON_MS of now (the slots from its next free one, or
// now, 1000/rate ms apart), at the rate that applies; NULL without one.
const SLOTS = (e: string, now: string) => `(SELECT greatest(0, ceil((${now}::float8 + ${RATE_HORIZON_MS}
      - greatest(coalesce(x.rate_next_free, 0), ${now}::float8)) * x.r / 1000.0))::int
    FROM (SELECT rate_next_free, ${RATE_NOW} AS r FROM endpoints WHERE id = ${e}) x WHERE x.r > 0)`;

// The first round, for the locked endpoints $1 (in turn order), now $2, limit $3, cap $4, lease end $5,
// ended attempts $6, the caller's held tasks $7, and the caller's own cap $10 with the tasks it holds
// now $9 of endpoints $8. Room: the cap less the leases in force and the held tasks, ended attempts
// aside, and at most the own cap less what the caller holds. With an application cap $11 (else each
// endpoint stands alone, under the limit), an application's endpoints share its room: the cap less what
// $13 counts for it in $12. Expired leases (up to $3, oldest first; seq keeps that order for ties) are
// taken over while their endpoint and application have room. Every endpoint still with room then wants
// an equal share of what is left (at least 1, and never past the limit nor its application's room:
// earlier endpoints in turn order go first). Each row carries its endpoint's turn (_o), want (_n), room
// after the takeovers (_room), application (_a) and its room after the takeovers (_aroom), its free rate
// slots (_slots, see SLOTS), and whether it was a takeover.
const FIRST = stmt(`WITH ep AS MATERIALIZED (SELECT e, o, CASE WHEN $11::int IS NULL THEN e
      ELSE coalesce((SELECT app_id FROM endpoints WHERE id = u.e), e) END AS a, ${SLOTS('u.e', '$2')} AS slots
    FROM unnest($1::text[]) WITH ORDINALITY AS u(e, o)),
  busy AS (SELECT endpoint_id AS e, count(*) AS n FROM tasks
    WHERE status = 3 AND (lease_until > $2 OR id = ANY($7::text[])) AND endpoint_id = ANY($1::text[])
      AND id <> ALL($6::text[])
    GROUP BY endpoint_id),
  old AS MATERIALIZED (SELECT endpoint_id AS e, id, lease_until FROM tasks
    WHERE status = 3 AND lease_until <= $2 AND endpoint_id = ANY($1::text[]) AND id <> ALL($7::text[])
    ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED),
  mine AS (SELECT * FROM unnest($8::text[], $9::int[]) AS m(e, n)),
  room0 AS (SELECT ep.e, ep.o, ep.a, least($4 - coalesce(b.n, 0), $10 - coalesce(m.n, 0)) AS room
    FROM ep LEFT JOIN busy b ON b.e = ep.e LEFT JOIN mine m ON m.e = ep.e),
  apps0 AS (SELECT x.a, coalesce($11, $3) - coalesce(m.n, 0) AS room FROM (SELECT DISTINCT a FROM ep) x
    LEFT JOIN unnest($12::text[], $13::int[]) AS m(a, n) ON m.a = x.a),
  seq AS (SELECT e, id, row_number() OVER () AS s FROM old),
  takeover AS MATERIALIZED (SELECT e, a, id FROM (SELECT x.e, r.a, x.id, r.room, p.room AS aroom,
      row_number() OVER (PARTITION BY x.e ORDER BY x.s) AS k, row_number() OVER (PARTITION BY r.a ORDER BY x.s) AS ka
      FROM seq x JOIN room0 r ON r.e = x.e JOIN apps0 p ON p.a = r.a) y
    WHERE k <= room AND ka <= aroom),
  apps1 AS MATERIALIZED (SELECT p.a, p.room - (SELECT count(*) FROM takeover t WHERE t.a = p.a) AS room
    FROM apps0 p),
  room1 AS MATERIALIZED (SELECT r.e, r.o, r.a,
      least(r.room - (SELECT count(*) FROM takeover t WHERE t.e = r.e), p.room) AS room
    FROM room0 r JOIN apps1 p ON p.a = r.a),
  quota AS (SELECT f.free, greatest(1, f.free / greatest(1, (SELECT count(*) FROM room1 WHERE room > 0))) AS share
    FROM (SELECT $3 - (SELECT count(*) FROM takeover) AS free) f),
  capped AS (SELECT r.e, r.o, r.a, least(q.share, r.room) AS c, q.free FROM room1 r, quota q WHERE r.room > 0),
  fair AS (SELECT e, o, a, greatest(0, least(c, free - coalesce(sum(c) OVER (ORDER BY o
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS n FROM capped),
  want AS MATERIALIZED (SELECT f.e, greatest(0, least(f.n, p.room - coalesce(sum(f.n) OVER (PARTITION BY f.a
      ORDER BY f.o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))::int AS n, x.slots
    FROM fair f JOIN apps1 p ON p.a = f.a JOIN ep x ON x.e = f.e),
  ${slotted('$2')},
  picked AS (${due('$2')} UNION ALL SELECT id FROM takeover),
  ${lease(
    '$2',
    '$5',
    ', r._o, w.n AS _n, r._room, r._a, r._aroom, w.slots AS _slots, t.id IS NOT NULL AS _takeover',
    `
  LEFT JOIN (SELECT r.e, r.o::int AS _o, r.room::int AS _room, r.a AS _a, p.room::int AS _aroom
    FROM room1 r JOIN apps1 p ON p.a = r.a) r ON r.e = c.endpoint_id
  LEFT JOIN want w ON w.e = c.endpoint_id LEFT JOIN takeover t ON t.id = c.id`,
  )}`);
// A further round: up to n due tasks of each endpoint, and of a rate-limited one's tasks without a slot
// that has come, at most its free slots left.
const ROUND =
  stmt(`WITH want AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::int[], $5::int[]) AS w(e, n, slots)),
  ${slotted('$3')},
  picked AS (${due('$3')}),
  ${lease('$3', '$4', '', '')}`);
const FAIL_ORPHANS = stmt('UPDATE tasks SET status = 2, lease_until = NULL WHERE id = ANY($1::text[])');

const MAX_ENDPOINTS = 256; // endpoints with tasks due served per window; the rotation reaches the others next time
const MAX_SCANNED = 1024; // endpoints with pending tasks looked at per window, due or not
// A window that gave nothing (its endpoints at their caps or locked, or nothing of theirs due yet) is
// followed by the next one, up to this many per claim: else what is due beyond it would wait for the
// next poll.
const MAX_WINDOWS = 16;

/**
 * Where this process's next claim starts: past the endpoints a full window looked at, and who goes
 * first; and the endpoints its last claim served, looked at first.
 */
export interface ClaimState {
  after: string;
  turn: number;
  recent: string[];
}

interface Candidate {
  id: string;
  n: number | null;
  kind: 0 | 1 | 2 | 3;
  locked: boolean;
}

/** The endpoints this claim serves (locked for it), in turn order, then those with only expired leases. */
async function lockCandidates(sql: Sql, o: ClaimOptions, state: ClaimState): Promise<string[]> {
  const rows = await sql.rows<Candidate>(START, [
    state.after,
    MAX_ENDPOINTS,
    o.now,
    o.limit,
    MAX_SCANNED,
    state.recent,
  ]);
  const found = rows.filter((r) => r.kind === 0).sort((x, y) => x.n! - y.n!);
  const last = rows.find((r) => r.kind === 3);
  // The next window starts past the last endpoint served or looked at, or over again once all were.
  if (found.length === MAX_ENDPOINTS) state.after = found[found.length - 1]!.id;
  else state.after = last !== undefined && last.n! >= MAX_SCANNED ? last.id : '';
  const due = [...rows.filter((r) => r.kind === 1), ...found].map((r) => r.id);
  // Whoever is first gets the rounding leftovers: take turns.
  const start = due.length === 0 ? 0 : state.turn++ % due.length;
  const rotated = due.slice(start).concat(due.slice(0, start));
  for (const r of rows) if (r.kind === 2) rotated.push(r.id);
  const locked = new Set(rows.filter((r) => r.locked).map((r) => r.id));
  return rotated.filter((e) => locked.has(e));
}

/**
 * Leases the due tasks `o` allows. Orphans (their message or endpoint is gone) can never be sent: they
 * are failed, and the endpoints found gone are told to `gone` once this commits: their other pending
 * tasks are left from a delete cut short (a crash between its statements).
 */
export async function claimDue(
  db: Pg,
  o: ClaimOptions,
  state: ClaimState,
  gone: (endpointIds: string[]) => void,
): Promise<ClaimedTask[]> {
  if (o.limit <= 0 || o.perEndpoint <= 0) return [];
  const missing = new Set<string>();
  const claimed = await db.tx(async (sql) => {
    const claimed: ClaimedTask[] = [];
    const orphans: string[] = [];
    // A further window only when those before gave nothing: each claims up to the limit.
    let windows = 0;
    do await claimWindow(sql, o, state, claimed, orphans, missing);
    while (claimed.length + orphans.length === 0 && state.after !== '' && ++windows < MAX_WINDOWS);
    if (orphans.length > 0) await sql.run(FAIL_ORPHANS, [orphans]);
    if (claimed.length > 0) state.recent = [...new Set(claimed.map((c) => c.task.endpointId))];
    return claimed;
  });
  if (missing.size > 0) gone([...missing]);
  return claimed;
}

/** Claims from the next window of endpoints into `claimed`; tasks that can never be sent go to `orphans`. */
async function claimWindow(
  sql: Sql,
  o: ClaimOptions,
  state: ClaimState,
  claimed: ClaimedTask[],
  orphans: string[],
  missing: Set<string>, // the endpoints of orphans found gone
): Promise<void> {
  const locked = await lockCandidates(sql, o, state);
  if (locked.length === 0) return;
  const endpoints = new Map<string, Endpoint>();
  // A rate-limited endpoint's free slots not yet given to a task of this claim without one (see due).
  const slots = new Map<string, number | null>();
  /** Files a round's rows; returns how many fresh (not taken over) tasks each endpoint got. */
  const absorb = (rows: Row[]) => {
    const got = new Map<string, number>();
    for (const r of rows)
      if (r._slots !== undefined && !slots.has(r.endpoint_id as string))
        slots.set(r.endpoint_id as string, r._slots as number | null);
    for (const r of rows)
      if (r.endpoint) endpoints.set(r.endpoint_id as string, mapRow.endpoint(r.endpoint as Row));
    for (const r of rows) {
      const task = toTask(r);
      if (r._takeover !== true) got.set(task.endpointId, (got.get(task.endpointId) ?? 0) + 1);
      const free = slots.get(task.endpointId);
      if (free != null && r._takeover !== true && !task.rateSlot) slots.set(task.endpointId, free - 1);
      const endpoint = endpoints.get(task.endpointId);
      if (r.message && endpoint) claimed.push({ task, message: mapRow.message(r.message as Row), endpoint });
      else orphans.push(task.id);
      if (!endpoint) missing.add(task.endpointId);
    }
    return got;
  };

  const first = await sql.rows(FIRST, [
    locked,
    o.now,
    o.limit,
    o.perEndpoint,
    o.now + o.leaseMs,
    o.ended ?? [],
    o.held ?? [],
    Object.keys(o.mine?.held ?? {}),
    Object.values(o.mine?.held ?? {}),
    o.mine?.cap ?? o.perEndpoint,
    o.mine?.appCap ?? null,
    Object.keys(o.mine?.apps ?? {}),
    Object.values(o.mine?.apps ?? {}),
  ]);
  let taken = first.length;
  const got = absorb(first);
  // Room left per endpoint and per application, and the endpoints that got their whole share (in turn
  // order): they may get more.
  const room = new Map<string, number>();
  const appOf = new Map<string, string>();
  const appRoom = new Map<string, number>();
  const turn = new Map<string, number>();
  let active: string[] = [];
  for (const r of first) {
    const e = r.endpoint_id as string;
    if (r._n === null || room.has(e)) continue;
    const a = r._a as string;
    appOf.set(e, a);
    appRoom.set(a, (appRoom.get(a) ?? (r._aroom as number)) - (got.get(e) ?? 0));
    room.set(e, (r._room as number) - (got.get(e) ?? 0));
    turn.set(e, r._o as number);
    if (got.get(e) === r._n) active.push(e);
  }
  const hasRoom = (e: string) => room.get(e)! > 0 && appRoom.get(appOf.get(e)!)! > 0;
  active = active.filter(hasRoom).sort((a, b) => turn.get(a)! - turn.get(b)!);

  while (active.length > 0 && taken < o.limit) {
    // Every endpoint with room gets an equal share of what is left; those that filled it may get more.
    const share = Math.max(1, Math.floor((o.limit - taken) / active.length));
    const wants = new Map<string, number>();
    const planned = new Map<string, number>(); // per application
    let total = taken;
    for (const e of active) {
      const a = appOf.get(e)!;
      const want = Math.min(share, room.get(e)!, appRoom.get(a)! - (planned.get(a) ?? 0), o.limit - total);
      if (want <= 0) continue;
      wants.set(e, want);
      planned.set(a, (planned.get(a) ?? 0) + want);
      total += want;
    }
    const rows = await sql.rows(ROUND, [
      [...wants.keys()],
      [...wants.values()],
      o.now,
      o.now + o.leaseMs,
      [...wants.keys()].map((e) => slots.get(e) ?? null),
    ]);
    taken += rows.length;
    const more = absorb(rows);
    for (const [e, n] of more) {
      room.set(e, room.get(e)! - n);
      appRoom.set(appOf.get(e)!, appRoom.get(appOf.get(e)!)! - n);
    }
    active = [...wants].filter(([e, want]) => more.get(e) === want && hasRoom(e)).map(([e]) => e);
  }
}
