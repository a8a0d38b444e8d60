// The worker's claim: due pending tasks plus 'sending' tasks whose lease expired (a crashed worker's),
// capped per endpoint and dealt round-robin so one endpoint's backlog cannot take the whole batch.

import type { DeliveryTask, Endpoint, Message, TaskStatusName } from '../../core/types.ts';
import type { ClaimedTask, ClaimOptions } from '../store.ts';
import type { Db, Row } from './db.ts';
import { toEndpoint } from './endpoints-sql.ts';
import { toMessage } from './messages-sql.ts';

const STATUS_NAMES: readonly TaskStatusName[] = ['success', 'pending', 'fail', 'sending'];

export const statusName = (status: number): TaskStatusName => STATUS_NAMES[status] ?? 'pending';

export function toTask(r: Row): DeliveryTask {
  return {
    id: r.id as string,
    appId: r.app_id as string,
    msgId: r.msg_id as string,
    endpointId: r.endpoint_id as string,
    status: statusName(r.status as number),
    attempts: r.attempts as number,
    nextAt: r.next_at as number | null,
    leaseUntil: r.lease_until as number | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

// Candidates come from a bounded scan of the due index, ranked per endpoint: a task's `slot` is the
// endpoint's in-flight count plus its rank among that endpoint's candidates; it fits while slot <= cap,
// and ordering by slot deals one task per endpoint per round. When the bounded scan is crowded by the
// backlog of capped endpoints, each endpoint with room is probed through its own index instead, so a
// slow endpoint's backlog never hides the others' work (and never costs a walk over that backlog).
const BUSY = `SELECT endpoint_id AS e, count(*) AS n FROM tasks INDEXED BY tasks_leased
  WHERE status = 3 AND lease_until > ? GROUP BY endpoint_id`;
const DUE = `SELECT rowid AS rid, endpoint_id AS e, next_at AS due FROM tasks INDEXED BY tasks_due
  WHERE status = 1 AND next_at <= ? ORDER BY next_at LIMIT ?`;
const EXPIRED = `SELECT rowid AS rid, endpoint_id AS e, lease_until AS due FROM tasks INDEXED BY tasks_leased
  WHERE status = 3 AND lease_until <= ? ORDER BY lease_until LIMIT ?`;
const DUE_FOR = `SELECT rowid AS rid, endpoint_id AS e, next_at AS due FROM tasks INDEXED BY tasks_due_endpoint
  WHERE status = 1 AND endpoint_id = ? AND next_at <= ? ORDER BY next_at LIMIT ?`;

interface Candidate {
  rid: number;
  e: string;
  due: number;
}

/** Rotates where the per-endpoint probe starts, so no endpoint is always served first. */
export interface ClaimState {
  probeFrom: number;
}

function pick(db: Db, o: ClaimOptions, state: ClaimState): number[] {
  const used = new Map<string, number>();
  for (const row of db.all<{ e: string; n: number }>(BUSY, o.now)) used.set(row.e, row.n);
  // Bounded: under one endpoint's backlog a wide scan would read rows it can only skip (the probe
  // below serves the others through their own index).
  const scan = Math.min(o.limit * 4, 128);
  const due = db.all<Candidate>(DUE, o.now, scan);
  const candidates = due.concat(db.all<Candidate>(EXPIRED, o.now, scan));
  candidates.sort((a, b) => a.due - b.due || a.rid - b.rid);
  const slotted: Array<Candidate & { slot: number }> = [];
  for (const c of candidates) {
    const slot = (used.get(c.e) ?? 0) + 1;
    if (slot > o.perEndpoint) continue;
    used.set(c.e, slot);
    slotted.push({ ...c, slot });
  }
  slotted.sort((a, b) => a.slot - b.slot || a.due - b.due || a.rid - b.rid);
  const picked = slotted.slice(0, o.limit);
  // Slots taken by candidates beyond the limit are given back before probing.
  for (const c of slotted.slice(o.limit)) used.set(c.e, (used.get(c.e) ?? 1) - 1);
  if (picked.length < o.limit && due.length === scan) probe(db, o, state, used, picked);
  return picked.map((c) => c.rid);
}

function probe(
  db: Db,
  o: ClaimOptions,
  state: ClaimState,
  used: Map<string, number>,
  picked: Candidate[],
): void {
  const taken = new Set(picked.map((c) => c.rid));
  const endpoints = db.stmt('SELECT id FROM endpoints ORDER BY id').pluck().all() as string[];
  const start = state.probeFrom % Math.max(1, endpoints.length);
  state.probeFrom = start + 1;
  for (let i = 0; i < endpoints.length && picked.length < o.limit; i++) {
    const e = endpoints[(start + i) % endpoints.length]!;
    const room = Math.min(o.perEndpoint - (used.get(e) ?? 0), o.limit - picked.length);
    if (room <= 0) continue;
    const alreadyPicked = picked.filter((c) => c.e === e).length;
    for (const c of db.all<Candidate>(DUE_FOR, e, o.now, room + alreadyPicked)) {
      if (taken.has(c.rid) || picked.length >= o.limit || (used.get(e) ?? 0) >= o.perEndpoint) continue;
      taken.add(c.rid);
      used.set(e, (used.get(e) ?? 0) + 1);
      picked.push(c);
    }
  }
}

const LEASE = `UPDATE tasks SET status = 3, lease_until = ?, next_at = NULL, updated_at = ?
  WHERE rowid IN (SELECT value FROM json_each(?)) RETURNING rowid AS rid, *`;

export function claimDue(db: Db, o: ClaimOptions, state: ClaimState): ClaimedTask[] {
  if (o.limit <= 0 || o.perEndpoint <= 0) return [];
  const picked = pick(db, o, state);
  if (picked.length === 0) return [];
  const order = new Map(picked.map((rid, i) => [rid, i]));
  const tasks = db
    .all(LEASE, o.now + o.leaseMs, o.now, JSON.stringify(picked))
    .sort((a, b) => (order.get(a.rid as number) ?? 0) - (order.get(b.rid as number) ?? 0))
    .map(toTask);
  const messages = new Map<string, Message>();
  const msgIds = JSON.stringify([...new Set(tasks.map((t) => t.msgId))]);
  for (const row of db.all('SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?))', msgIds)) {
    messages.set(row.id as string, toMessage(row));
  }
  const endpoints = new Map<string, Endpoint>();
  const epIds = JSON.stringify([...new Set(tasks.map((t) => t.endpointId))]);
  for (const row of db.all('SELECT * FROM endpoints WHERE id IN (SELECT value FROM json_each(?))', epIds)) {
    endpoints.set(row.id as string, toEndpoint(row));
  }
  const claimed: ClaimedTask[] = [];
  for (const task of tasks) {
    const message = messages.get(task.msgId);
    const endpoint = endpoints.get(task.endpointId);
    if (message && endpoint) claimed.push({ task, message, endpoint });
    // An orphan (its message or endpoint is gone) can never be sent: fail it instead of re-leasing forever.
    else db.run('UPDATE tasks SET status = 2, lease_until = NULL WHERE id = ?', task.id);
  }
  return claimed;
}
