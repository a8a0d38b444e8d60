// The worker's claim: due pending tasks plus 'sending' tasks whose lease expired (a crashed worker's),
// capped per endpoint and dealt round-robin so one endpoint's backlog cannot take the whole batch.

import type { Endpoint, Message } from '../../core/types.ts';
import { toTask } from '../rows.ts';
import { type ClaimedTask, type ClaimOptions, RATE_HORIZON_MS, SLOT_GRACE_MS } from '../store.ts';
import type { Db } from './db.ts';
import { mapRow } from './db.ts';

// Fair claiming without scanning backlogs. The endpoints that have pending tasks are found by a loose
// index scan (one index probe per endpoint, however long its backlog); tasks are then dealt to them in
// rounds, each round giving every endpoint with room an equal share, read through that endpoint's own
// index. A capped endpoint's backlog is never read; endpoints take turns at being served first, and
// beyond one window of endpoints the next claim looks at the next window (this one does, if a window
// gave nothing). Tasks whose lease expired (a crashed worker's) come first, within the same caps. In the
// caller's reserve (ClaimOptions.mine) an application's endpoints share its room there as well.
const BUSY = `SELECT endpoint_id AS e, count(*) AS n FROM tasks INDEXED BY tasks_leased
  WHERE status = 3 AND lease_until > ? GROUP BY endpoint_id`;
const ENDED = `SELECT endpoint_id AS e, count(*) AS n FROM tasks
  WHERE id IN (SELECT value FROM json_each(?)) AND status = 3 AND lease_until > ? GROUP BY endpoint_id`;
// The caller's own tasks whose lease ended during their attempt still count, and are not taken over.
const HELD = `SELECT endpoint_id AS e, count(*) AS n FROM tasks
  WHERE id IN (SELECT value FROM json_each(@held)) AND id NOT IN (SELECT value FROM json_each(@ended))
    AND status = 3 AND lease_until <= @now GROUP BY endpoint_id`;
const EXPIRED = `SELECT rowid AS rid, endpoint_id AS e FROM tasks INDEXED BY tasks_leased
  WHERE status = 3 AND lease_until <= @now AND id NOT IN (SELECT value FROM json_each(@held))
  ORDER BY lease_until LIMIT @limit`;
const PENDING_ENDPOINTS = `WITH RECURSIVE e(id) AS (
    SELECT (SELECT endpoint_id FROM tasks INDEXED BY tasks_due_endpoint
      WHERE status = 1 AND endpoint_id > ? ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT endpoint_id FROM tasks INDEXED BY tasks_due_endpoint
      WHERE status = 1 AND endpoint_id > e.id ORDER BY endpoint_id LIMIT 1) FROM e WHERE e.id IS NOT NULL
  ) SELECT id FROM e WHERE id IS NOT NULL LIMIT ?`;
const DUE_FOR = `SELECT rowid FROM tasks INDEXED BY tasks_due_endpoint
  WHERE status = 1 AND endpoint_id = ? AND next_at <= ? ORDER BY next_at LIMIT ? OFFSET ?`;
// A rate-limited endpoint gives first its due tasks whose slot has come (claimed within SLOT_GRACE_MS
// of it, they keep it), then, of the others (no slot, or one that passed), at most its free slots
// within RATE_HORIZON_MS: each takes the next free slot. Taking the oldest due tasks whatever their
// slot, claims gave a large backlog without slots ever further slots while the tasks whose slot had
// come sorted after them and lost it (on PostgreSQL, nothing went until the whole backlog held one).
const SLOTTED_FOR = `SELECT rowid FROM tasks INDEXED BY tasks_due_endpoint
  WHERE status = 1 AND endpoint_id = ? AND next_at BETWEEN ? - ${SLOT_GRACE_MS} AND ?
    AND rate_wait = 1 ORDER BY next_at LIMIT ? OFFSET ?`;
const UNSLOTTED_FOR = `SELECT rowid FROM tasks INDEXED BY tasks_due_endpoint
  WHERE status = 1 AND endpoint_id = ? AND next_at <= ?
    AND NOT (rate_wait = 1 AND next_at >= ? - ${SLOT_GRACE_MS}) ORDER BY next_at LIMIT ? OFFSET ?`;
// The rate that applies to an endpoint now (its own, else its application's), and its next free slot.
export const RATE_OF = `SELECT coalesce(e.rate_limit, (SELECT a.rate_limit FROM apps a WHERE a.id = e.app_id)) AS rate,
  e.rate_next_free AS free FROM endpoints e WHERE e.id = ?`;
const MAX_ENDPOINTS = 256; // endpoints considered per window; the rotation reaches the others next time
// A window that gave nothing (its endpoints at their caps, or nothing of theirs due yet) is followed by
// the next one, up to this many per claim: else what is due beyond it would wait for the next poll.
const MAX_WINDOWS = 16;
const APP_OF = 'SELECT app_id FROM endpoints WHERE id = ?';

/** Where the next claim starts: past the endpoints a full window looked at, and whom it serves first. */
export interface ClaimState {
  after: string;
  turn: number;
}

function pendingEndpoints(db: Db, state: ClaimState): string[] {
  const scan = db.stmt(PENDING_ENDPOINTS).pluck();
  const found = scan.all(state.after, MAX_ENDPOINTS) as string[];
  if (found.length < MAX_ENDPOINTS && state.after !== '') {
    // Wrap around to the endpoints at or before the starting point.
    const wrapped = scan.all('', MAX_ENDPOINTS - found.length) as string[];
    found.push(...wrapped.filter((id) => id <= state.after));
  }
  // With more endpoints than one window holds, the next claim looks at the next window.
  state.after = found.length === MAX_ENDPOINTS ? found[found.length - 1]! : '';
  // Whoever is first gets the rounding leftovers: take turns.
  const start = found.length === 0 ? 0 : state.turn++ % found.length;
  return found.slice(start).concat(found.slice(0, start));
}

function pick(db: Db, o: ClaimOptions, state: ClaimState): number[] {
  const used = new Map<string, number>();
  for (const row of db.all<{ e: string; n: number }>(BUSY, o.now)) used.set(row.e, row.n);
  if (o.ended?.length) {
    for (const row of db.all<{ e: string; n: number }>(ENDED, JSON.stringify(o.ended), o.now)) {
      used.set(row.e, (used.get(row.e) ?? 0) - row.n);
    }
  }
  const held = JSON.stringify(o.held ?? []);
  if (o.held?.length) {
    for (const row of db.all<{ e: string; n: number }>(HELD, {
      held,
      ended: JSON.stringify(o.ended ?? []),
      now: o.now,
    })) {
      used.set(row.e, (used.get(row.e) ?? 0) + row.n);
    }
  }
  const cap = Math.min(o.perEndpoint, o.mine?.cap ?? o.perEndpoint);
  // In the caller's reserve, each application's room as well.
  const appUsed = new Map(Object.entries(o.mine?.apps ?? {}));
  const appOf = appsOf(db);
  const room = (e: string) => {
    const left = cap - (used.get(e) ?? 0);
    return o.mine ? Math.min(left, o.mine.appCap - (appUsed.get(appOf(e)) ?? 0)) : left;
  };
  const use = (e: string, n: number) => {
    used.set(e, (used.get(e) ?? 0) + n);
    if (o.mine) appUsed.set(appOf(e), (appUsed.get(appOf(e)) ?? 0) + n);
  };
  const picked: number[] = [];
  for (const c of db.all<{ rid: number; e: string }>(EXPIRED, { now: o.now, held, limit: o.limit })) {
    if (room(c.e) <= 0) continue;
    use(c.e, 1);
    picked.push(c.rid);
  }
  const taken = new Map<string, number>(); // endpoint → due tasks read so far (the next OFFSET)
  const dueFor = db.stmt(DUE_FOR).pluck();
  const takeDue = dueTaker(db, o.now, (e, want) => {
    const rows = dueFor.all(e, o.now, want, taken.get(e) ?? 0) as number[];
    taken.set(e, (taken.get(e) ?? 0) + rows.length);
    return rows;
  });
  let windows = 0;
  do {
    let active = pendingEndpoints(db, state).filter((e) => room(e) > 0);
    while (active.length > 0 && picked.length < o.limit) {
      const share = Math.max(1, Math.floor((o.limit - picked.length) / active.length));
      const next: string[] = [];
      for (const e of active) {
        const want = Math.min(share, room(e), o.limit - picked.length);
        if (want <= 0) continue;
        const rows = takeDue(e, want);
        picked.push(...rows);
        use(e, rows.length);
        if (rows.length === want && room(e) > 0) next.push(e); // it may have more
      }
      active = next;
    }
  } while (picked.length === 0 && state.after !== '' && ++windows < MAX_WINDOWS);
  return picked;
}

/**
 * Reads up to `want` more due tasks of an endpoint: through `plain` without a rate limit; with one, its
 * tasks whose slot has come, then of the others at most its free slots within RATE_HORIZON_MS of `now`
 * (from its next free one, or now) not yet given to a task of this claim.
 */
function dueTaker(
  db: Db,
  now: number,
  plain: (e: string, want: number) => number[],
): (e: string, want: number) => number[] {
  const rateOf = db.stmt(RATE_OF);
  const slotted = db.stmt(SLOTTED_FOR).pluck();
  const unslotted = db.stmt(UNSLOTTED_FOR).pluck();
  // endpoint → its free slots left (null: no rate) and the tasks read so far of each kind (OFFSETs)
  const seen = new Map<string, { slots: number | null; held: number; fresh: number }>();
  return (e, want) => {
    let s = seen.get(e);
    if (s === undefined) {
      const r = rateOf.get(e) as { rate: number | null; free: number | null } | undefined;
      const rate = r?.rate ?? 0;
      const ahead = now + RATE_HORIZON_MS - Math.max(r?.free ?? 0, now);
      s = { slots: rate > 0 ? Math.max(0, Math.ceil((ahead * rate) / 1000)) : null, held: 0, fresh: 0 };
      seen.set(e, s);
    }
    if (s.slots === null) return plain(e, want);
    const held = slotted.all(e, now, now, want, s.held) as number[];
    s.held += held.length;
    const fresh = unslotted.all(e, now, now, Math.min(s.slots, want - held.length), s.fresh) as number[];
    s.fresh += fresh.length;
    s.slots -= fresh.length;
    return held.concat(fresh);
  };
}

/** The application of an endpoint, looked up once per claim (a deleted endpoint's tasks stand alone). */
function appsOf(db: Db): (endpointId: string) => string {
  const apps = new Map<string, string>();
  const lookup = db.stmt(APP_OF).pluck();
  return (e) => {
    let app = apps.get(e);
    if (app === undefined) {
      app = (lookup.get(e) as string | undefined) ?? e;
      apps.set(e, app);
    }
    return app;
  };
}

const LEASE = `UPDATE tasks SET status = 3, lease_until = @until, next_at = NULL, updated_at = @now,
  rate_wait = CASE WHEN rate_wait = 1 AND next_at >= @now - ${SLOT_GRACE_MS} THEN 1 ELSE 0 END
  WHERE rowid IN (SELECT value FROM json_each(@picked)) RETURNING rowid AS rid, *`;

/**
 * Leases the due tasks `o` allows. Orphans (their message or endpoint is gone) can never be sent: they
 * are failed, and the endpoints found gone are told to `gone`, whose other pending tasks are left from
 * a delete cut short (a crash between its commits).
 */
export function claimDue(
  db: Db,
  o: ClaimOptions,
  state: ClaimState,
  gone: (endpointIds: string[]) => void,
): ClaimedTask[] {
  if (o.limit <= 0 || o.perEndpoint <= 0) return [];
  const picked = pick(db, o, state);
  if (picked.length === 0) return [];
  const lease = { until: o.now + o.leaseMs, now: o.now, picked: JSON.stringify(picked) };
  const tasks = db.all(LEASE, lease).map(toTask);
  const messages = new Map<string, Message>();
  const msgIds = JSON.stringify([...new Set(tasks.map((t) => t.msgId))]);
  for (const row of db.all('SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?))', msgIds)) {
    messages.set(row.id as string, mapRow.message(row));
  }
  const endpoints = new Map<string, Endpoint>();
  const epIds = JSON.stringify([...new Set(tasks.map((t) => t.endpointId))]);
  for (const row of db.all('SELECT * FROM endpoints WHERE id IN (SELECT value FROM json_each(?))', epIds)) {
    endpoints.set(row.id as string, mapRow.endpoint(row));
  }
  const claimed: ClaimedTask[] = [];
  const missing = new Set<string>();
  for (const task of tasks) {
    const message = messages.get(task.msgId);
    const endpoint = endpoints.get(task.endpointId);
    if (message && endpoint) claimed.push({ task, message, endpoint });
    else db.run('UPDATE tasks SET status = 2, lease_until = NULL WHERE id = ?', task.id);
    if (!endpoint) missing.add(task.endpointId);
  }
  if (missing.size > 0) gone([...missing]);
  return claimed;
}
