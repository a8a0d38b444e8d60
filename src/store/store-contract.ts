// The Store conformance suite: written once, run by every driver's test file on a fixed clock.
// Each test opens a fresh store from the harness and closes it, so drivers start empty every time.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type IdPrefix, newId } from '../core/ids.ts';
import type {
  Application,
  Attempt,
  DeliveryTask,
  Endpoint,
  EventType,
  Message,
  Page,
  TaskNext,
} from '../core/types.ts';
import {
  BACKGROUND_TASK_KEEP_MS,
  type BackgroundTask,
  type ClaimedTask,
  ConflictError,
  type FinishInput,
  type MessageFilters,
  type MessageQuery,
  type PublishResult,
  RATE_HORIZON_MS,
  SLOT_GRACE_MS,
  type Store,
} from './store.ts';

export interface StoreHarness {
  open(): Promise<Store>;
  close(store: Store): Promise<void>;
}

const T0 = 1_700_000_000_000;
const LEASE = 30_000;
let seq = 0;

/** Ids that sort by creation time, then by creation order within a millisecond. */
function id(prefix: IdPrefix, at: number): string {
  const bytes = new Uint8Array(16);
  for (let i = 15, n = ++seq; i >= 0; i--, n = Math.floor(n / 32)) bytes[i] = n % 32;
  return newId(prefix, at, bytes);
}

/** Sample rows for driver tests: time-sorted ids, overridable fields. */
export const mkApp = (at = T0, over: Partial<Application> = {}): Application => ({
  id: id('app', at),
  uid: null,
  name: 'Acme',
  rateLimit: null,
  metadata: { tier: 'gold' },
  createdAt: at,
  updatedAt: at,
  ...over,
});

export const mkEndpoint = (appId: string, at = T0, over: Partial<Endpoint> = {}): Endpoint => ({
  id: id('ep', at),
  appId,
  uid: null,
  url: 'https://example.com/hook',
  description: '',
  version: 1,
  rateLimit: null,
  disabled: false,
  filterTypes: null,
  channels: null,
  metadata: {},
  headers: { 'x-team': 'a' },
  secrets: [{ key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', expiresAt: null }],
  failingSince: null,
  createdAt: at,
  updatedAt: at,
  ...over,
});

export const mkMessage = (appId: string, at = T0, over: Partial<Message> = {}): Message => ({
  id: id('msg', at),
  appId,
  eventType: 'invoice.paid',
  eventId: null,
  channels: null,
  payload: '{"amount":1}',
  createdAt: at,
  expiresAt: at + 90 * 86_400_000,
  deliverAt: null,
  tags: null,
  ...over,
});

export const mkEventType = (name: string, at = T0, over: Partial<EventType> = {}): EventType => ({
  name,
  description: `${name} happened`,
  schemas: null,
  archived: false,
  deprecated: false,
  featureFlag: null,
  createdAt: at,
  updatedAt: at,
  ...over,
});

export const mkAttempt = (
  m: Message,
  endpointId: string,
  at: number,
  over: Partial<Attempt> = {},
): Attempt => ({
  id: id('atmpt', at),
  appId: m.appId,
  msgId: m.id,
  endpointId,
  url: 'https://example.com/hook',
  status: 'success',
  responseStatusCode: 200,
  response: 'ok',
  responseDurationMs: 12,
  triggerType: 'scheduled',
  createdAt: at,
  ...over,
});

async function rejectsConflict(p: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ConflictError && e.field === field);
}

/** An app with endpoints, and a publisher of messages to all of them. */
async function world(s: Store, endpoints = 1) {
  const app = mkApp();
  await s.apps.create(app);
  const eps: Endpoint[] = [];
  for (let i = 0; i < endpoints; i++) {
    const ep = mkEndpoint(app.id);
    await s.endpoints.create(ep);
    eps.push(ep);
  }
  const publish = async (at = T0, over: Partial<Message> = {}, to: Endpoint[] = eps): Promise<Message> => {
    const m = mkMessage(app.id, at, over);
    const [r] = await s.messages.publish([{ message: m, endpointIds: to.map((e) => e.id), now: at }]);
    assert.deepEqual(r, { ok: true });
    return m;
  };
  return { app, eps, ep: eps[0]!, publish };
}

const claim = (s: Store, now: number, limit = 100, perEndpoint = 100) =>
  s.tasks.claimDue({ now, limit, leaseMs: LEASE, perEndpoint });

const finishOne = async (s: Store, input: FinishInput) => (await s.tasks.finish([input]))[0];

/** The finish of an attempt at `task`, made under the lease the task had when claimed. */
const finishing = (
  task: Pick<DeliveryTask, 'id' | 'leaseUntil'>,
  attempt: Attempt,
  next: TaskNext,
  now: number,
): FinishInput => ({ taskId: task.id, lease: task.leaseUntil, attempt, next, now });

/** Purges what deleted apps left, as the retention sweep does; returns how many batches it took. */
export async function purgeAll(s: Store, limit = 100): Promise<number> {
  let batches = 0;
  for (let n = await s.apps.purgeDeleted(limit); n > 0; n = await s.apps.purgeDeleted(limit)) {
    assert.ok(n <= limit, `a batch of ${limit} removed ${n}`);
    batches++;
  }
  return batches;
}

export function describeStoreContract(name: string, harness: StoreHarness): void {
  const test = (title: string, fn: (s: Store) => Promise<void>) =>
    it(title, async () => {
      const s = await harness.open();
      try {
        await fn(s);
      } finally {
        await harness.close(s);
      }
    });

  describe(`store contract: ${name}`, () => {
    describe('apps', () => {
      test('create, get by id or uid, update, uid conflicts', async (s) => {
        const a = mkApp(T0, { uid: 'acme' });
        await s.apps.create(a);
        assert.deepEqual(await s.apps.get(a.id), a);
        assert.deepEqual(await s.apps.get('acme'), a);
        assert.equal(await s.apps.get('nope'), null);
        await rejectsConflict(s.apps.create(mkApp(T0, { uid: 'acme' })), 'uid');
        const b = mkApp(T0 + 1, { uid: 'beta' });
        await s.apps.create(b);
        await rejectsConflict(s.apps.update({ ...b, uid: 'acme' }, b), 'uid');
        const renamed = { ...a, name: 'Acme 2', uid: null, rateLimit: 5, metadata: {}, updatedAt: T0 + 9 };
        assert.equal(await s.apps.update(renamed, a), true);
        assert.deepEqual(await s.apps.get(a.id), renamed);
        assert.equal(await s.apps.get('acme'), null);
        // A write that read the row before another one changed it is refused: the caller reads again.
        assert.equal(await s.apps.update({ ...a, name: 'stale', updatedAt: T0 + 10 }, a), false);
        assert.deepEqual(await s.apps.get(a.id), renamed);
      });

      test('list pages forwards and backwards, ascending by default', async (s) => {
        const apps = Array.from({ length: 5 }, (_, i) => mkApp(T0 + i));
        for (const a of [...apps].reverse()) await s.apps.create(a);
        const ids = apps.map((a) => a.id);
        const p1 = await s.apps.list({ limit: 2 });
        assert.deepEqual(
          p1.data.map((a) => a.id),
          ids.slice(0, 2),
        );
        assert.equal(p1.done, false);
        assert.equal(p1.iterator, ids[1]);
        assert.equal(p1.prevIterator, `-${ids[0]}`);
        const p2 = await s.apps.list({ limit: 2, iterator: p1.iterator });
        assert.deepEqual(
          p2.data.map((a) => a.id),
          ids.slice(2, 4),
        );
        const p3 = await s.apps.list({ limit: 2, iterator: p2.iterator });
        assert.deepEqual(
          p3.data.map((a) => a.id),
          ids.slice(4),
        );
        assert.equal(p3.done, true);
        const back = await s.apps.list({ limit: 2, iterator: p3.prevIterator });
        assert.deepEqual(
          back.data.map((a) => a.id),
          ids.slice(2, 4),
        );
        assert.equal(back.done, false);
        const first = await s.apps.list({ limit: 2, iterator: back.prevIterator });
        assert.deepEqual(
          first.data.map((a) => a.id),
          ids.slice(0, 2),
        );
        assert.equal(first.done, true);
        const desc = await s.apps.list({ limit: 3, order: 'descending' });
        assert.deepEqual(
          desc.data.map((a) => a.id),
          [...ids].reverse().slice(0, 3),
        );
        const desc2 = await s.apps.list({ limit: 3, order: 'descending', iterator: desc.iterator });
        assert.deepEqual(
          desc2.data.map((a) => a.id),
          [ids[1], ids[0]],
        );
        assert.equal(desc2.done, true);
      });

      test('delete: the app, its endpoints and undelivered tasks at once, its history in batches', async (s) => {
        const { app, ep, publish } = await world(s);
        const other = await world(s);
        const msgs = [await publish(), await publish(), await publish()];
        const claimed = await claim(s, T0, 2); // two tasks are sending, one is pending
        const kept = await other.publish();
        const [m, sending] = claimed.map((x) => x.message);
        const pending = msgs.find((x) => x.id !== m!.id && x.id !== sending!.id)!;
        assert.ok(m && sending && pending);
        const c = claimed[0]!;
        const attempt = mkAttempt(m, ep.id, T0 + 1);
        await finishOne(s, finishing(c.task, attempt, { status: 'success' }, T0 + 1));
        assert.equal(await s.apps.delete(app.id, T0 + 2), true);
        assert.equal(await s.apps.get(app.id), null);
        assert.equal(await s.endpoints.get(app.id, ep.id), null);
        // Nothing of it is delivered any more.
        assert.equal(await s.tasks.get(pending.id, ep.id), null);
        assert.equal(await s.tasks.get(sending.id, ep.id), null);
        assert.deepEqual(
          (await claim(s, T0 + 1e9)).map((x) => x.message.id),
          [kept.id],
        );
        // Three messages in batches of two (a driver may take their attempts apart), then the app's record.
        assert.ok((await purgeAll(s, 2)) >= 3);
        for (const x of msgs) assert.equal(await s.messages.get(app.id, x.id), null);
        assert.equal(await s.tasks.get(m.id, ep.id), null);
        assert.equal(await s.attempts.get(app.id, m.id, attempt.id), null);
        assert.equal((await s.attempts.list(app.id, { limit: 10 })).data.length, 0);
        assert.equal(await s.apps.delete(app.id, T0 + 3), false);
        assert.equal(await s.apps.purgeDeleted(2), 0);
        // The other application is untouched.
        assert.deepEqual(await s.messages.get(other.app.id, kept.id), kept);
        assert.notEqual(await s.tasks.get(kept.id, other.ep.id), null);
      });
    });

    describe('event types', () => {
      test('create, conflict on name, get, update, delete', async (s) => {
        const e = mkEventType('invoice.paid', T0, {
          schemas: '{"1": {"type": "object", "maximum": 12345678901234567890, "minimum": 1.0}}',
          featureFlag: 'beta',
        });
        await s.eventTypes.create(e);
        assert.deepEqual(await s.eventTypes.get('invoice.paid'), e);
        await rejectsConflict(s.eventTypes.create(mkEventType('invoice.paid')), 'name');
        const updated = { ...e, description: 'paid', archived: true, deprecated: true, updatedAt: T0 + 5 };
        assert.equal(await s.eventTypes.update(updated, e), true);
        assert.deepEqual(await s.eventTypes.get('invoice.paid'), updated);
        // A write based on the row as it was before `updated` stores nothing.
        assert.equal(await s.eventTypes.update({ ...e, description: 'stale', updatedAt: T0 + 6 }, e), false);
        assert.deepEqual(await s.eventTypes.get('invoice.paid'), updated);
        assert.equal(await s.eventTypes.delete('invoice.paid'), true);
        assert.equal(await s.eventTypes.get('invoice.paid'), null);
        assert.equal(await s.eventTypes.delete('invoice.paid'), false);
      });

      test('putAll stores every write or, when one is stale, none', async (s) => {
        const kept = mkEventType('a.kept', T0);
        const changed = mkEventType('b.changed', T0);
        await s.eventTypes.create(kept);
        await s.eventTypes.create(changed);
        const fresh = mkEventType('c.new', T0 + 1, { schemas: '{"1": {"type": "object"}}' });
        const archived = { ...changed, archived: true, updatedAt: T0 + 1 };
        const stale = [
          { eventType: fresh, seen: null },
          { eventType: archived, seen: changed.updatedAt },
          { eventType: { ...kept, description: 'stale', updatedAt: T0 + 1 }, seen: T0 - 1 },
        ];
        assert.equal(await s.eventTypes.putAll(stale), false);
        assert.equal(await s.eventTypes.get('c.new'), null, 'the new one is not stored either');
        assert.deepEqual(await s.eventTypes.get('b.changed'), changed);
        const taken = [
          { eventType: archived, seen: changed.updatedAt },
          { eventType: mkEventType('a.kept', T0 + 1), seen: null },
        ];
        assert.equal(await s.eventTypes.putAll(taken), false, 'a new name already taken');
        assert.deepEqual(await s.eventTypes.get('b.changed'), changed);

        assert.equal(await s.eventTypes.putAll(stale.slice(0, 2)), true);
        assert.deepEqual(await s.eventTypes.get('c.new'), fresh);
        assert.deepEqual(await s.eventTypes.get('b.changed'), archived);
        assert.deepEqual(await s.eventTypes.get('a.kept'), kept);
        assert.equal(await s.eventTypes.putAll([]), true);
      });

      test('putAll from two callers at once, given in opposite orders, stores one and fails neither', async (s) => {
        const names = Array.from({ length: 20 }, (_, i) => `race.${String(i).padStart(2, '0')}`);
        for (const name of names) await s.eventTypes.create(mkEventType(name, T0));
        for (let round = 1; round <= 5; round++) {
          const current = await s.eventTypes.getMany(names);
          const writes = (tag: string) =>
            current.map((e) => ({
              eventType: { ...e, description: tag, updatedAt: e.updatedAt + 1 },
              seen: e.updatedAt,
            }));
          const stored = await Promise.all([
            s.eventTypes.putAll(writes('a')),
            s.eventTypes.putAll(writes('b').reverse()),
          ]);
          assert.equal(stored.filter(Boolean).length, 1, `round ${round}: ${stored}`);
          const tags = new Set((await s.eventTypes.getMany(names)).map((e) => e.description));
          assert.equal(tags.size, 1, 'all of one write, none of the other');
        }
      });

      test('list by name, hiding archived unless asked', async (s) => {
        for (const n of ['c.x', 'a.x', 'd.x', 'b.x']) await s.eventTypes.create(mkEventType(n));
        await s.eventTypes.create(mkEventType('bb.archived', T0, { archived: true }));
        const p1 = await s.eventTypes.list({ limit: 2, includeArchived: false });
        assert.deepEqual(
          p1.data.map((e) => e.name),
          ['a.x', 'b.x'],
        );
        assert.equal(p1.iterator, 'b.x');
        const p2 = await s.eventTypes.list({ limit: 2, includeArchived: false, iterator: p1.iterator });
        assert.deepEqual(
          p2.data.map((e) => e.name),
          ['c.x', 'd.x'],
        );
        assert.equal(p2.done, true);
        const all = await s.eventTypes.list({ limit: 10, includeArchived: true });
        assert.deepEqual(
          all.data.map((e) => e.name),
          ['a.x', 'b.x', 'bb.archived', 'c.x', 'd.x'],
        );
        const desc = await s.eventTypes.list({ limit: 1, includeArchived: false, order: 'descending' });
        assert.deepEqual(
          desc.data.map((e) => e.name),
          ['d.x'],
        );
      });

      test('lists of big event types and applications are paged by size too', async (s) => {
        // Three of 1.5 MiB each: two fit on a page (PAGE_BYTES), the third goes to the next.
        const text = 'x'.repeat(1.5 * 1024 * 1024);
        for (const n of ['a.big', 'b.big', 'c.big'])
          await s.eventTypes.create(
            mkEventType(n, T0, { schemas: JSON.stringify({ '1': { description: text } }) }),
          );
        const apps = [0, 1, 2].map((i) => mkApp(T0 + i, { name: text }));
        for (const a of apps) await s.apps.create(a);
        const types = await s.eventTypes.list({ limit: 50, includeArchived: false });
        assert.deepEqual([types.data.map((e) => e.name), types.done], [['a.big', 'b.big'], false]);
        const rest = await s.eventTypes.list({ limit: 50, includeArchived: false, iterator: types.iterator });
        assert.deepEqual([rest.data.map((e) => e.name), rest.done], [['c.big'], true]);
        // Without their content, schemas are neither read nor counted.
        const bare = await s.eventTypes.list({ limit: 50, includeArchived: false, withContent: false });
        assert.deepEqual(
          [bare.data.map((e) => [e.name, e.schemas]), bare.done],
          [
            [
              ['a.big', null],
              ['b.big', null],
              ['c.big', null],
            ],
            true,
          ],
        );
        const listed = await s.apps.list({ limit: 50 });
        assert.deepEqual(
          [listed.data.map((a) => a.id), listed.done],
          [apps.slice(0, 2).map((a) => a.id), false],
        );
        // Filter types of 0.9 MiB each, which an endpoint's API form writes twice: two fit on a page.
        const filterTypes = Array.from({ length: 9000 }, (_, i) => `${'t'.repeat(96)}.${i}`);
        const eps = [0, 1, 2].map((i) => mkEndpoint(apps[0]!.id, T0 + i, { filterTypes }));
        for (const e of eps) await s.endpoints.create(e);
        const endpoints = await s.endpoints.list(apps[0]!.id, { limit: 50 });
        assert.deepEqual(
          [endpoints.data.map((e) => e.id), endpoints.done],
          [[eps[2]!.id, eps[1]!.id], false],
        );
      });

      test('names that start with "-" page forwards and back without being read as a prevIterator', async (s) => {
        for (const n of ['-a', 'a', '-b', 'b']) await s.eventTypes.create(mkEventType(n));
        const all = (await s.eventTypes.list({ limit: 10, includeArchived: false })).data.map((e) => e.name);
        const walk = async (start: string | null, next: (p: Page<EventType>) => string | null) => {
          const seen: string[] = [];
          let iterator = start;
          for (let i = 0; i < 10; i++) {
            const page = await s.eventTypes.list({ limit: 1, includeArchived: false, iterator });
            if (page.data.length === 0) break;
            seen.push(...page.data.map((e) => e.name));
            iterator = next(page);
          }
          return seen;
        };
        assert.deepEqual(await walk(null, (p) => p.iterator), all);
        const first = await s.eventTypes.list({ limit: 1, includeArchived: false });
        const back = await walk(first.prevIterator, (p) => p.prevIterator);
        assert.deepEqual(back, []);
        const fromEnd = await walk(`-${all[all.length - 1]}`, (p) => p.prevIterator);
        assert.deepEqual(fromEnd, all.slice(0, -1).reverse());
      });

      test('getMany: the named event types that exist, archived or not', async (s) => {
        const live = mkEventType('a.live');
        const archived = mkEventType('b.archived', T0, { archived: true });
        await s.eventTypes.create(live);
        await s.eventTypes.create(archived);
        await s.eventTypes.create(mkEventType('c.other'));
        const found = await s.eventTypes.getMany(['b.archived', 'unknown', 'a.live']);
        assert.deepEqual(
          found.sort((x, y) => x.name.localeCompare(y.name)),
          [live, archived],
        );
        assert.deepEqual(await s.eventTypes.getMany(['unknown']), []);
        assert.deepEqual(await s.eventTypes.getMany([]), []);
      });

      test('list with feature flags: unflagged ones and those flagged with one of them', async (s) => {
        for (const [name, featureFlag] of [
          ['a', null],
          ['b', 'beta'],
          ['c', 'gamma'],
          ['d', 'beta'],
        ] as const) {
          await s.eventTypes.create(mkEventType(name, T0, { featureFlag }));
        }
        const names = async (featureFlags?: string[]) =>
          (await s.eventTypes.list({ limit: 10, includeArchived: false, featureFlags })).data.map(
            (e) => e.name,
          );
        assert.deepEqual(await names(), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await names([]), ['a']);
        assert.deepEqual(await names(['beta']), ['a', 'b', 'd']);
        assert.deepEqual(await names(['gamma', 'beta']), ['a', 'b', 'c', 'd']);
      });
    });

    describe('endpoints', () => {
      test('rate slots are 1/rate apart, shared by every caller, and start at once when idle', async (s) => {
        const { app, eps } = await world(s, 3);
        for (const ep of eps.slice(0, 2)) await s.endpoints.update({ ...ep, rateLimit: 5 }, ep);
        const [a, b, c] = [eps[0]!.id, eps[1]!.id, eps[2]!.id];
        const slots = [];
        for (let i = 0; i < 4; i++) slots.push(await s.endpoints.reserveSlot(a, T0));
        assert.deepEqual(slots, [T0, T0 + 200, T0 + 400, T0 + 600]);
        assert.equal(await s.endpoints.reserveSlot(b, T0), T0, 'each endpoint has its own slots');
        assert.equal(await s.endpoints.reserveSlot(a, T0 + 60_000), T0 + 60_000);
        assert.deepEqual(
          [await s.endpoints.reserveSlot(c, T0), await s.endpoints.reserveSlot(c, T0)],
          [T0, T0],
        );
        await s.apps.update({ ...app, rateLimit: 2 }, app); // the rate of its endpoints that set none
        assert.deepEqual(
          [await s.endpoints.reserveSlot(c, T0), await s.endpoints.reserveSlot(c, T0)],
          [T0, T0 + 500],
        );
      });
      test('resetRate: tasks waiting for a slot are due again and slots start over; retries keep their time', async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const [a, b] = [eps[0]!, { ...eps[1]!, rateLimit: 5 }];
        const [m1, m2, m3] = [
          await publish(T0, {}, [a]),
          await publish(T0, {}, [a]),
          await publish(T0, {}, [b]),
        ];
        // Claimed before the rates are set: at 1/s, a claim takes one task without a slot a second.
        const claimed = await claim(s, T0);
        await s.apps.update({ ...app, rateLimit: 1 }, app); // a takes the app's rate, b has its own
        await s.endpoints.update(b, eps[1]!);
        for (const c of claimed) {
          if (c.task.msgId !== m2!.id) await s.tasks.release(c.task.id, c.task.leaseUntil, T0 + 40_000);
          else {
            const attempt = mkAttempt(m2!, a.id, T0 + 1);
            await finishOne(s, finishing(c.task, attempt, { status: 'pending', at: T0 + 50_000 }, T0 + 1));
          }
        }
        for (let i = 0; i < 3; i++) await s.endpoints.reserveSlot(a.id, T0);
        const dueAt = async (m: Message) => (await s.tasks.get(m.id, m === m3 ? b.id : a.id))?.nextAt;

        assert.equal(await s.endpoints.resetRate(app.id, a.id, T0 + 10), 1);
        assert.deepEqual(
          [await dueAt(m1!), await dueAt(m2!), await dueAt(m3!)],
          [T0 + 10, T0 + 50_000, T0 + 40_000],
        );
        assert.equal(await s.endpoints.reserveSlot(a.id, T0 + 10), T0 + 10, 'the old reservations are gone');

        // The app's rate applies to endpoints without one of their own: b keeps waiting.
        // At 1/s, the slot just taken is the only free one within a second: the claim waits for the next.
        assert.deepEqual(await claim(s, T0 + 10), []);
        const [again] = await claim(s, T0 + 1010);
        await s.tasks.release(
          again!.task.id,
          again!.task.leaseUntil,
          await s.endpoints.reserveSlot(a.id, T0 + 10),
        );
        assert.equal(await s.endpoints.resetRate(app.id, null, T0 + 20), 1);
        assert.deepEqual([await dueAt(m1!), await dueAt(m3!)], [T0 + 20, T0 + 40_000]);
        assert.equal(await s.endpoints.resetRate(app.id, b.id, T0 + 30), 1);
        assert.equal(await dueAt(m3!), T0 + 30);
        assert.equal(await s.endpoints.resetRate(mkApp().id, null, T0 + 30), 0, 'another app: nothing');
      });
      test('a rate change frees the tasks that took their slots before it, whatever the clock of their claim', async (s) => {
        const { app, ep, publish } = await world(s);
        await s.endpoints.update({ ...ep, rateLimit: 1 }, ep);
        const now = Date.now();
        const m = await publish(now);
        // Claimed by a worker whose clock runs a minute ahead, and put back for a slot ten minutes out.
        const ahead = now + 60_000;
        const [c] = await claim(s, ahead);
        await s.tasks.release(c!.task.id, c!.task.leaseUntil, ahead + 600_000);
        assert.equal(await s.endpoints.resetRate(app.id, ep.id, now), 1);
        const freed = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([freed?.nextAt, freed?.rateSlot], [now, false]);
      });
      test('a task resent while it waits for its rate slot gives the slot up: a failed manual attempt leaves it due', async (s) => {
        const { app, ep, publish } = await world(s);
        await s.endpoints.update({ ...ep, rateLimit: 1 }, ep);
        const m = await publish();
        const [c] = await claim(s, T0);
        await s.tasks.release(c!.task.id, c!.task.leaseUntil, T0 + 600_000);
        const resent = await s.tasks.resend(app.id, m.id, ep.id, T0 + 1);
        assert.deepEqual(resent?.restore, { status: 'pending', at: T0 + 1 }, 'not its slot ten minutes out');
        assert.equal(resent?.rateSlot, false);
      });
      test('a task given a slot before a reset, and put back after it, waits only until the reset', async (s) => {
        const { app, ep, publish } = await world(s);
        await s.endpoints.update({ ...ep, rateLimit: 1 }, ep);
        const m = await publish();
        const [c] = await claim(s, T0);
        for (let i = 0; i < 5; i++) await s.endpoints.reserveSlot(ep.id, T0);
        const slot = await s.endpoints.reserveSlot(ep.id, T0);
        assert.equal(slot, T0 + 5000);
        await s.endpoints.resetRate(app.id, ep.id, T0 + 10); // the task is in flight: not waiting yet
        await s.tasks.release(c!.task.id, c!.task.leaseUntil, slot);
        const freed = await s.tasks.get(m.id, ep.id);
        assert.deepEqual(
          [freed?.nextAt, freed?.rateSlot],
          [T0 + 10, false],
          'due at the reset, without a slot',
        );
        // Without a reset in between, the task waits for its slot.
        const [again] = await claim(s, T0 + 10);
        const next = await s.endpoints.reserveSlot(ep.id, T0 + 10);
        await s.endpoints.reserveSlot(ep.id, T0 + 10);
        await s.tasks.release(again!.task.id, again!.task.leaseUntil, next + 1000);
        const parked = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([parked?.nextAt, parked?.rateSlot], [T0 + 1010, true]);
        const [back] = await claim(s, T0 + 1010);
        assert.equal(back?.task.rateSlot, true, 'claimed holding its slot');
        await finishOne(
          s,
          finishing(
            back!.task,
            mkAttempt(m, ep.id, T0 + 1011),
            { status: 'pending', at: T0 + 5000 },
            T0 + 1011,
          ),
        );
        assert.equal((await s.tasks.get(m.id, ep.id))?.rateSlot, false, 'a retry holds no slot');
      });
      test('a slot claimed in time is kept; one claimed later than SLOT_GRACE_MS after it is given up', async (s) => {
        const { ep, publish } = await world(s);
        const [m1, m2] = [await publish(), await publish()];
        const [c1, c2] = await claim(s, T0); // before the rate is set: at 1/s, one would wait for the next claim
        await s.endpoints.update({ ...ep, rateLimit: 1 }, ep);
        await s.tasks.release(c1!.task.id, c1!.task.leaseUntil, T0 + 1000);
        await s.tasks.release(c2!.task.id, c2!.task.leaseUntil, T0 + 2000);
        // Both are due at T0 + 2000 + SLOT_GRACE_MS: the first slot passed long before (a restart, a stall).
        const back = await claim(s, T0 + 2000 + SLOT_GRACE_MS);
        const slots = new Map(back.map((c) => [c.task.msgId, c.task.rateSlot]));
        assert.deepEqual([slots.get(m1.id), slots.get(m2.id)], [false, true]);
      });
      test('a rate-limited backlog without slots: tasks whose slot has come go first, the backlog takes slots a second ahead', async (s) => {
        const { ep, publish } = await world(s);
        await s.endpoints.update({ ...ep, rateLimit: 5 }, ep);
        const [m1, m2] = [await publish(), await publish()];
        const first = await claim(s, T0);
        assert.equal(first.length, 2);
        // As the rate gate does: the slots at T0 … T0 + 800 are taken; the two wait for the last two.
        for (let i = 0; i < 3; i++) await s.endpoints.reserveSlot(ep.id, T0);
        for (const c of first)
          await s.tasks.release(c.task.id, c.task.leaseUntil, await s.endpoints.reserveSlot(ep.id, T0));
        // A backlog due before those slots, none of it holding one (deliverAt, a restart, a rate change).
        for (let i = 0; i < 150; i++) await publish(T0 + 1);
        let now = T0 + 600;
        let gave = 0;
        let latest = 0;
        const seen = new Map<string, boolean>(); // message → claimed holding its slot
        for (; now <= T0 + 900; now += 20) {
          for (const c of await claim(s, now)) {
            seen.set(c.task.msgId, c.task.rateSlot);
            if (c.task.rateSlot) continue; // sent at once
            gave++;
            const slot = await s.endpoints.reserveSlot(ep.id, now);
            latest = Math.max(latest, slot);
            if (slot > now) await s.tasks.release(c.task.id, c.task.leaseUntil, slot);
          }
          if (now === T0 + 600)
            assert.equal(seen.get(m1.id), true, 'its slot came: claimed ahead of the backlog');
        }
        assert.equal(seen.get(m2.id), true, 'so is the second, at its slot');
        assert.deepEqual(
          [(await s.tasks.get(m1.id, ep.id))?.status, (await s.tasks.get(m2.id, ep.id))?.status],
          ['sending', 'sending'],
        );
        assert.ok(gave > 0 && gave <= 8, `${gave} tasks of the backlog given slots`);
        assert.ok(latest < now + RATE_HORIZON_MS, `slots given out to ${latest - now} ms ahead`);
      });
      test('create, get by id or uid within the app, uid unique per app', async (s) => {
        const a = mkApp();
        const b = mkApp();
        await s.apps.create(a);
        await s.apps.create(b);
        const ep = mkEndpoint(a.id, T0, {
          uid: 'main',
          filterTypes: ['invoice.paid'],
          channels: ['eu'],
          metadata: { k: 'v' },
          rateLimit: 10,
          secrets: [
            { key: 'whsec_new', expiresAt: null },
            { key: 'whsec_old', expiresAt: T0 + 1000 },
          ],
        });
        await s.endpoints.create(ep);
        assert.deepEqual(await s.endpoints.get(a.id, ep.id), ep);
        assert.deepEqual(await s.endpoints.get(a.id, 'main'), ep);
        assert.equal(await s.endpoints.get(b.id, 'main'), null);
        assert.equal(await s.endpoints.get(b.id, ep.id), null);
        await s.endpoints.create(mkEndpoint(b.id, T0, { uid: 'main' }));
        await rejectsConflict(s.endpoints.create(mkEndpoint(a.id, T0, { uid: 'main' })), 'uid');
        const second = mkEndpoint(a.id, T0 + 1, { uid: 'second' });
        await s.endpoints.create(second);
        await rejectsConflict(s.endpoints.update({ ...second, uid: 'main' }, second), 'uid');
        const changed = {
          ...ep,
          url: 'https://example.org/x',
          disabled: true,
          filterTypes: null,
          version: 2,
          updatedAt: ep.updatedAt + 1,
        };
        assert.equal(await s.endpoints.update(changed, ep), true);
        assert.deepEqual(await s.endpoints.get(a.id, ep.id), changed);
        // Refused once the row changed since it was read: another update, or the worker's health mark.
        assert.equal(await s.endpoints.update({ ...ep, version: 3 }, ep), false);
        const failing = await s.endpoints.markHealth(ep.id, false, T0 + 5);
        assert.equal(failing, T0 + 5);
        assert.equal(await s.endpoints.update({ ...changed, version: 4 }, changed), false);
        assert.equal(
          await s.endpoints.update({ ...changed, version: 4 }, { ...changed, failingSince: failing }),
          true,
        );
        // A disable, even within the millisecond of the read, moves updatedAt past it.
        const read = (await s.endpoints.get(a.id, ep.id))!;
        await s.endpoints.disable(ep.id, read.updatedAt);
        assert.equal(await s.endpoints.update({ ...read, disabled: false }, read), false);
        assert.deepEqual(
          (await s.endpoints.listAll(a.id)).map((e) => e.id),
          [ep.id, second.id],
        );
      });

      test("an app's endpoints version changes with each endpoint write, not with the worker's bookkeeping", async (s) => {
        const a = mkApp();
        const other = mkApp(T0, { id: 'app_other', uid: 'other' });
        await s.apps.create(a);
        await s.apps.create(other);
        let last = await s.endpoints.version(a.id);
        const changed = async (what: string) => {
          const version = await s.endpoints.version(a.id);
          assert.notEqual(version, last, what);
          last = version;
        };
        const ep = mkEndpoint(a.id, T0, { rateLimit: 10 });
        await s.endpoints.create(ep);
        await changed('created');
        const otherVersion = await s.endpoints.version(other.id);
        await s.endpoints.update({ ...ep, filterTypes: ['a.b'], updatedAt: T0 + 1 }, ep);
        await changed('updated');
        await s.endpoints.markHealth(ep.id, false, T0 + 2);
        await s.endpoints.reserveSlot(ep.id, T0 + 2);
        assert.equal(await s.endpoints.version(a.id), last, 'health and rate bookkeeping');
        await s.endpoints.disable(ep.id, T0 + 1); // within the millisecond of the update
        await changed('disabled');
        await s.endpoints.delete(a.id, ep.id);
        await changed('deleted');
        await s.endpoints.create(mkEndpoint(a.id, T0, { id: 'ep_again', uid: null }));
        await changed('another created');
        assert.equal(await s.endpoints.version(other.id), otherVersion, "another app's");
      });

      test('an endpoint is stored only while its application exists', async (s) => {
        const a = mkApp();
        await s.apps.create(a);
        const kept = mkEndpoint(a.id, T0);
        assert.equal(await s.endpoints.create(kept), true);
        assert.equal(await s.endpoints.create(mkEndpoint(mkApp().id, T0)), false);
        // Deleted after the caller looked it up: nothing outlives it.
        await s.apps.delete(a.id, T0);
        assert.equal(await s.endpoints.create(mkEndpoint(a.id, T0)), false);
        assert.deepEqual(await s.endpoints.listAll(a.id), []);
      });

      test('list pages newest first by default', async (s) => {
        const a = mkApp();
        await s.apps.create(a);
        const eps = Array.from({ length: 3 }, (_, i) => mkEndpoint(a.id, T0 + i));
        for (const e of eps) await s.endpoints.create(e);
        const other = mkApp();
        await s.apps.create(other);
        await s.endpoints.create(mkEndpoint(other.id));
        const p1 = await s.endpoints.list(a.id, { limit: 2 });
        assert.deepEqual(
          p1.data.map((e) => e.id),
          [eps[2]!.id, eps[1]!.id],
        );
        const p2 = await s.endpoints.list(a.id, { limit: 2, iterator: p1.iterator });
        assert.deepEqual(
          p2.data.map((e) => e.id),
          [eps[0]!.id],
        );
        assert.equal(p2.done, true);
        const back = await s.endpoints.list(a.id, { limit: 2, iterator: p2.prevIterator });
        assert.deepEqual(
          back.data.map((e) => e.id),
          [eps[2]!.id, eps[1]!.id],
        );
        assert.equal(back.done, true);
      });

      test('markHealth clears a run however it was stored: by markHealth, a create or an update', async (s) => {
        const { app, ep } = await world(s);
        const failing = mkEndpoint(app.id, T0 + 1, { failingSince: T0 });
        await s.endpoints.create(failing);
        assert.equal(await s.endpoints.markHealth(failing.id, true, T0 + 2), null);
        assert.equal((await s.endpoints.get(app.id, failing.id))?.failingSince, null);
        const updated = { ...ep, failingSince: T0 + 3, updatedAt: T0 + 3 };
        assert.equal(await s.endpoints.update(updated, ep), true);
        assert.equal(await s.endpoints.markHealth(ep.id, true, T0 + 4), null);
        assert.equal((await s.endpoints.get(app.id, ep.id))?.failingSince, null);
        // A success with nothing stored leaves the endpoint as it is.
        assert.equal(await s.endpoints.markHealth(ep.id, true, T0 + 5), null);
        assert.deepEqual(await s.endpoints.get(app.id, ep.id), { ...updated, failingSince: null });
      });

      test('markHealth keeps the first failure time; disable', async (s) => {
        const { app, ep } = await world(s);
        assert.equal(await s.endpoints.markHealth(ep.id, false, T0 + 10), T0 + 10);
        assert.equal(await s.endpoints.markHealth(ep.id, false, T0 + 20), T0 + 10);
        assert.equal((await s.endpoints.get(app.id, ep.id))?.failingSince, T0 + 10);
        assert.equal(await s.endpoints.markHealth(ep.id, true, T0 + 30), null);
        assert.equal((await s.endpoints.get(app.id, ep.id))?.failingSince, null);
        // A run's disable holds only while that run stands: here it ended (the success above).
        assert.equal(await s.endpoints.disable(ep.id, T0 + 35, T0 + 10), false);
        assert.equal((await s.endpoints.get(app.id, ep.id))?.disabled, false);
        assert.equal(await s.endpoints.markHealth(ep.id, false, T0 + 36), T0 + 36);
        assert.equal(await s.endpoints.disable(ep.id, T0 + 40, T0 + 36), true);
        const got = await s.endpoints.get(app.id, ep.id);
        assert.equal(got?.disabled, true);
        assert.equal(got?.updatedAt, T0 + 40);
        assert.equal(await s.endpoints.disable(ep.id, T0 + 41), true, 'a 410 disables whatever the run');
      });

      test('delete removes its undelivered tasks', async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const [a, b] = [eps[0]!, eps[1]!];
        const m = await publish();
        assert.equal(await s.endpoints.delete(app.id, a.id), true);
        assert.equal(await s.endpoints.get(app.id, a.id), null);
        assert.equal(await s.tasks.get(m.id, a.id), null);
        assert.notEqual(await s.tasks.get(m.id, b.id), null);
        const claimed = await claim(s, T0);
        assert.deepEqual(
          claimed.map((c) => c.endpoint.id),
          [b.id],
        );
        assert.equal(await s.endpoints.delete(app.id, a.id), false);
      });
    });

    describe('messages', () => {
      test('publish commits messages and tasks; eventId conflicts alone inside a batch', async (s) => {
        const { app, eps } = await world(s, 2);
        const ids = eps.map((e) => e.id);
        const first = mkMessage(app.id, T0, { eventId: 'evt-1', channels: ['eu'] });
        const dup = mkMessage(app.id, T0, { eventId: 'evt-1' });
        const other = mkMessage(app.id, T0, { eventId: 'evt-2' });
        const results = await s.messages.publish([
          { message: first, endpointIds: ids, now: T0 },
          { message: dup, endpointIds: ids, now: T0 },
          { message: other, endpointIds: [ids[0]!], now: T0 },
        ]);
        assert.deepEqual(results, [
          { ok: true },
          { ok: false, conflict: 'eventId', existing: first },
          { ok: true },
        ]);
        assert.deepEqual(await s.messages.get(app.id, first.id), first);
        assert.deepEqual(await s.messages.get(app.id, 'evt-2'), other);
        assert.equal(await s.messages.get(app.id, dup.id), null);
        const [again] = await s.messages.publish([
          { message: mkMessage(app.id, T0, { eventId: 'evt-2' }), endpointIds: ids, now: T0 },
        ]);
        assert.deepEqual(again, { ok: false, conflict: 'eventId', existing: other });
        const task = await s.tasks.get(first.id, ids[1]!);
        assert.equal(task?.status, 'pending');
        assert.equal(task?.attempts, 0);
        assert.equal(task?.nextAt, T0);
        assert.equal(task?.appId, app.id);
        assert.equal(await s.tasks.get(other.id, ids[1]!), null);
        // eventId is unique per app only.
        const b = await world(s);
        const [elsewhere] = await s.messages.publish([
          { message: mkMessage(b.app.id, T0, { eventId: 'evt-1' }), endpointIds: [], now: T0 },
        ]);
        assert.deepEqual(elsewhere, { ok: true });
        assert.equal(await s.messages.get(b.app.id, first.id), null);
      });

      test('publish to an app deleted since it was looked up stores nothing of it', async (s) => {
        const live = await world(s);
        const gone = await world(s);
        assert.equal(await s.apps.delete(gone.app.id, T0), true);
        const kept = mkMessage(live.app.id);
        const results = await s.messages.publish([
          { message: mkMessage(gone.app.id), endpointIds: [gone.ep.id], now: T0 },
          { message: kept, endpointIds: [live.ep.id], now: T0 },
          { message: mkMessage(gone.app.id, T0, { eventId: 'e' }), endpointIds: [gone.ep.id], now: T0 },
        ]);
        const refused = { ok: false, conflict: 'appDeleted' };
        assert.deepEqual(results, [refused, { ok: true }, refused]);
        assert.equal((await s.messages.list(gone.app.id, { limit: 50 })).data.length, 0);
        assert.deepEqual(
          (await claim(s, T0)).map((c) => c.message.id),
          [kept.id],
        );
      });

      test("publish makes no task for an endpoint deleted since it was looked up, nor for another app's", async (s) => {
        const { app, eps } = await world(s, 2);
        const [kept, gone] = [eps[0]!, eps[1]!];
        const other = await world(s);
        assert.equal(await s.endpoints.delete(app.id, gone.id), true);
        const m = mkMessage(app.id);
        const results = await s.messages.publish([
          { message: m, endpointIds: [gone.id, kept.id, other.ep.id], now: T0 },
        ]);
        assert.deepEqual(results, [{ ok: true }]);
        assert.deepEqual(await s.messages.get(app.id, m.id), m);
        assert.equal((await s.tasks.get(m.id, kept.id))?.status, 'pending');
        assert.equal(await s.tasks.get(m.id, gone.id), null);
        assert.equal(await s.tasks.get(m.id, other.ep.id), null);
        assert.equal((await s.tasks.stats(other.ep.id, {})).pending, 0);
        assert.deepEqual(
          (await claim(s, T0)).map((c) => c.endpoint.id),
          [kept.id],
        );
      });

      test('publishes racing the app delete: each is refused or deleted with the app', async (s) => {
        const { app, ep } = await world(s);
        const msgs = Array.from({ length: 30 }, () => mkMessage(app.id));
        const [deleted, ...results] = await Promise.all([
          s.apps.delete(app.id, T0),
          ...msgs.map((m) => s.messages.publish([{ message: m, endpointIds: [ep.id], now: T0 }])),
        ]);
        assert.equal(deleted, true);
        for (const [r] of results as PublishResult[][]) assert.ok(r?.ok || r?.conflict === 'appDeleted');
        assert.deepEqual(await claim(s, T0 + 1e9), []);
        await purgeAll(s);
        assert.equal((await s.messages.list(app.id, { limit: 50 })).data.length, 0);
        for (const m of msgs) assert.equal(await s.tasks.get(m.id, ep.id), null);
      });

      test('concurrent publishes all commit', async (s) => {
        const { app, ep } = await world(s);
        const msgs = Array.from({ length: 20 }, () => mkMessage(app.id));
        const results = await Promise.all(
          msgs.map((m) => s.messages.publish([{ message: m, endpointIds: [ep.id], now: T0 }])),
        );
        assert.ok(results.every(([r]) => r?.ok === true));
        assert.equal((await s.messages.list(app.id, { limit: 50 })).data.length, 20);
        assert.equal((await claim(s, T0)).length, 20);
      });

      test('list is newest first and filters by time, channel, tag and event type', async (s) => {
        const { app, publish } = await world(s);
        const m1 = await publish(T0, { channels: ['eu', 'vip'] });
        const m2 = await publish(T0 + 10, { eventType: 'user.created', tags: ['project_1', 'a/b#c'] });
        const m3 = await publish(T0 + 20, { channels: ['us'] });
        const ids = (p: { data: Message[] }) => p.data.map((m) => m.id);
        const p1 = await s.messages.list(app.id, { limit: 2 });
        assert.deepEqual(ids(p1), [m3.id, m2.id]);
        assert.equal(p1.done, false);
        const p2 = await s.messages.list(app.id, { limit: 2, iterator: p1.iterator });
        assert.deepEqual(ids(p2), [m1.id]);
        assert.equal(p2.done, true);
        const back = await s.messages.list(app.id, { limit: 2, iterator: p2.prevIterator });
        assert.deepEqual(ids(back), [m3.id, m2.id]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, order: 'ascending' })), [
          m1.id,
          m2.id,
          m3.id,
        ]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, before: T0 + 20 })), [m2.id, m1.id]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, after: T0 })), [m3.id, m2.id]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, after: -1000 })), [
          m3.id,
          m2.id,
          m1.id,
        ]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, channel: 'vip' })), [m1.id]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, tag: 'a/b#c' })), [m2.id]);
        assert.deepEqual(ids(await s.messages.list(app.id, { limit: 9, tag: 'project' })), []);
        assert.deepEqual((await s.messages.get(app.id, m2.id))?.tags, ['project_1', 'a/b#c']);
        assert.deepEqual(
          ids(await s.messages.list(app.id, { limit: 9, eventTypes: ['user.created', 'other'] })),
          [m2.id],
        );
        assert.deepEqual(ids(await s.messages.list(mkApp().id, { limit: 9 })), []);
      });

      test('a list filtered by several event types pages through their messages in order, both ways', async (s) => {
        const { app, publish } = await world(s);
        const types = ['a.one', 'b.two', 'c.other', 'a.one', 'b.two', 'a.one', 'c.other', 'b.two'];
        const sent: Message[] = [];
        for (const [i, eventType] of types.entries()) {
          sent.push(await publish(T0 + i, { eventType, channels: i % 2 === 0 ? ['even'] : null }));
        }
        const wanted = sent.filter((m) => m.eventType !== 'c.other').map((m) => m.id);
        const filter = { eventTypes: ['b.two', 'a.one', 'b.two', 'missing'] };
        const walk = async (order: 'ascending' | 'descending') => {
          const seen: string[] = [];
          let page = await s.messages.list(app.id, { limit: 2, order, ...filter });
          for (;;) {
            seen.push(...page.data.map((m) => m.id));
            if (page.done) return { seen, page };
            page = await s.messages.list(app.id, { limit: 2, order, iterator: page.iterator, ...filter });
          }
        };
        const down = await walk('descending');
        assert.deepEqual(down.seen, [...wanted].reverse());
        assert.deepEqual((await walk('ascending')).seen, wanted);
        // Back from the last page ([1, 0]): the page before it, newest first.
        const back = await s.messages.list(app.id, { limit: 2, iterator: down.page.prevIterator, ...filter });
        assert.deepEqual(
          back.data.map((m) => m.id),
          [sent[4]!.id, sent[3]!.id],
        );
        const evenOnes = await s.messages.list(app.id, {
          limit: 9,
          channel: 'even',
          before: T0 + 6,
          ...filter,
        });
        assert.deepEqual(
          evenOnes.data.map((m) => m.id),
          [sent[4]!.id, sent[0]!.id],
        );
      });

      test('a list filtered by channel or tag pages through its messages in order, both ways', async (s) => {
        const { app, publish } = await world(s);
        const other = await world(s);
        const sent: Message[] = [];
        for (let i = 0; i < 12; i++) {
          const channels = [['eu', 'eu'], ['us'], null, ['eu', 'vip']][i % 4] ?? null;
          const tags = i % 3 === 0 ? ['t1', 't2'] : i % 3 === 1 ? ['t2'] : null;
          sent.push(await publish(T0 + i, { channels, tags, eventType: i % 2 === 0 ? 'a' : 'b' }));
          await other.publish(T0 + i, { channels, tags }); // another app's: never listed
        }
        const filters: MessageQuery[] = [
          { limit: 2, channel: 'eu' },
          { limit: 3, tag: 't2' },
          { limit: 2, channel: 'eu', tag: 't1' },
          { limit: 2, tag: 't1', eventTypes: ['a'] },
          { limit: 2, channel: 'vip', after: T0 + 3, before: T0 + 11 },
          { limit: 2, channel: 'none' },
        ];
        const matches = (q: MessageQuery, m: Message) =>
          (!q.channel || (m.channels ?? []).includes(q.channel)) &&
          (!q.tag || (m.tags ?? []).includes(q.tag)) &&
          (!q.eventTypes || q.eventTypes.includes(m.eventType)) &&
          (q.after == null || m.createdAt > q.after) &&
          (q.before == null || m.createdAt < q.before);
        for (const filter of filters) {
          const wanted = sent.filter((m) => matches(filter, m)).map((m) => m.id);
          for (const order of ['ascending', 'descending'] as const) {
            const seen: string[] = [];
            const pages: Page<Message>[] = [];
            let page = await s.messages.list(app.id, { ...filter, order });
            for (;;) {
              pages.push(page);
              seen.push(...page.data.map((m) => m.id));
              if (page.done) break;
              page = await s.messages.list(app.id, { ...filter, order, iterator: page.iterator });
            }
            const label = JSON.stringify({ ...filter, order });
            assert.deepEqual(seen, order === 'ascending' ? wanted : [...wanted].reverse(), label);
            if (pages.length < 2) continue;
            // Back from the last page: the one before it.
            const back = await s.messages.list(app.id, { ...filter, order, iterator: page.prevIterator });
            assert.deepEqual(
              back.data.map((m) => m.id),
              pages.at(-2)!.data.map((m) => m.id),
              label,
            );
          }
        }
      });

      test('lists of big messages are paged by size too, and read no payload without content', async (s) => {
        const { app, ep, publish } = await world(s);
        // Three payloads of 1.5 MiB: two fit on a page (PAGE_BYTES), the third goes to the next.
        const big = `{"a":"${'x'.repeat(1.5 * 1024 * 1024)}"}`;
        const sent: Message[] = [];
        for (let i = 0; i < 3; i++) sent.push(await publish(T0 + i, { payload: big }));
        const [m1, m2, m3] = sent.map((m) => m.id);
        for (const list of [
          (q: MessageQuery) => s.messages.list(app.id, q),
          async (q: MessageQuery) => {
            const page = await s.tasks.listForEndpoint(ep.id, q);
            return { ...page, data: page.data.map((x) => x.message) };
          },
        ]) {
          const p1 = await list({ limit: 50 });
          assert.deepEqual(
            p1.data.map((m) => [m.id, m.payload]),
            [
              [m3, big],
              [m2, big],
            ],
          );
          assert.equal(p1.done, false);
          const p2 = await list({ limit: 50, iterator: p1.iterator });
          assert.deepEqual(
            p2.data.map((m) => m.id),
            [m1],
          );
          assert.equal(p2.done, true);
          const bare = await list({ limit: 50, withContent: false });
          assert.deepEqual(
            bare.data.map((m) => [m.id, m.payload]),
            [
              [m3, null],
              [m2, null],
              [m1, null],
            ],
          );
          assert.equal(bare.done, true);
        }
      });

      test('expungeContent and expireBatch drop payloads', async (s) => {
        const { app, publish } = await world(s);
        const old1 = await publish(T0, { expiresAt: T0 + 100 });
        const old2 = await publish(T0, { expiresAt: T0 + 200 });
        const fresh = await publish(T0, { expiresAt: T0 + 10_000 });
        assert.equal(await s.messages.expireBatch(T0 + 50, 10), 0);
        assert.equal(await s.messages.expireBatch(T0 + 500, 1), 1);
        assert.equal(await s.messages.expireBatch(T0 + 500, 10), 1);
        assert.equal(await s.messages.expireBatch(T0 + 500, 10), 0);
        assert.equal((await s.messages.get(app.id, old1.id))?.payload, null);
        assert.equal((await s.messages.get(app.id, old2.id))?.payload, null);
        assert.equal((await s.messages.get(app.id, fresh.id))?.payload, fresh.payload);
        assert.equal(await s.messages.expungeContent(app.id, fresh.id), true);
        assert.equal((await s.messages.get(app.id, fresh.id))?.payload, null);
        assert.equal(await s.messages.expungeContent(mkApp().id, fresh.id), false);
      });

      test("expungeAll drops the payloads of one application's messages published before a time", async (s) => {
        const { app, ep } = await world(s);
        const other = await world(s);
        // More than two chunks of either driver, one expunged already.
        const items = Array.from({ length: 507 }, (_, i) => ({
          message: mkMessage(app.id, T0 + i),
          endpointIds: [ep.id],
          now: T0 + i,
        }));
        await s.messages.publish(items);
        assert.ok(await s.messages.expungeContent(app.id, items[3]!.message.id));
        const theirs = await other.publish(T0);
        const later = mkMessage(app.id, T0 + 1000);
        await s.messages.publish([{ message: later, endpointIds: [ep.id], now: T0 + 1000 }]);
        assert.equal(await s.messages.expungeAll(app.id, T0 + 1000), 506);
        for (const { message } of items)
          assert.equal((await s.messages.get(app.id, message.id))?.payload, null);
        assert.equal((await s.messages.get(app.id, later.id))?.payload, later.payload, 'published after');
        assert.equal((await s.messages.get(other.app.id, theirs.id))?.payload, theirs.payload, 'another app');
        assert.equal(await s.messages.expungeAll(app.id, T0 + 1000), 0);
        assert.equal(await s.messages.expungeAll(mkApp().id, T0 + 1000), 0);
      });
    });

    describe('claiming', () => {
      test('claims due tasks only, leases them, returns task, message and endpoint', async (s) => {
        const { ep, publish } = await world(s);
        const due = await publish(T0);
        await publish(T0 + 1000); // due later
        const claimed = await claim(s, T0 + 10);
        assert.equal(claimed.length, 1);
        const [c] = claimed;
        assert.deepEqual(c?.message, due);
        assert.deepEqual(c?.endpoint, ep);
        assert.equal(c?.task.status, 'sending');
        assert.equal(c?.task.leaseUntil, T0 + 10 + LEASE);
        assert.equal(c?.task.msgId, due.id);
        assert.equal((await claim(s, T0 + 10)).length, 0, 'a leased task is not claimed twice');
        assert.equal((await claim(s, T0 + 1000)).length, 1);
        assert.equal((await s.tasks.get(due.id, ep.id))?.status, 'sending');
      });

      test("a message's tasks are first due at its deliverAt; one that has passed is due at once", async (s) => {
        const { app, ep, publish } = await world(s);
        const later = await publish(T0, { deliverAt: T0 + 60_000 });
        assert.deepEqual(await s.messages.get(app.id, later.id), later);
        assert.deepEqual(await s.tasks.nextDueAt(), T0 + 60_000);
        assert.equal((await s.tasks.get(later.id, ep.id))?.nextAt, T0 + 60_000);
        const past = await publish(T0 + 10, { deliverAt: T0 - 5_000 });
        const first = await claim(s, T0 + 59_999);
        assert.deepEqual(
          first.map((c) => c.message.id),
          [past.id],
        );
        assert.deepEqual(
          (await claim(s, T0 + 60_000)).map((c) => c.message.id),
          [later.id],
        );
      });

      test('nextDueAt(after, skip) skips what is due by then, and the skipped endpoints: pending tasks and leases alike', async (s) => {
        const { ep, publish } = await world(s);
        await publish(T0);
        await publish(T0, { deliverAt: T0 + 60_000 });
        assert.equal(await s.tasks.nextDueAt(), T0);
        assert.equal(await s.tasks.nextDueAt(T0), T0 + 60_000);
        await claim(s, T0); // leased until T0 + LEASE, before the other is due
        assert.equal(await s.tasks.nextDueAt(T0), T0 + LEASE);
        assert.equal(await s.tasks.nextDueAt(T0 + LEASE), T0 + 60_000);
        assert.equal(await s.tasks.nextDueAt(T0 + 60_000), null);
        assert.equal(await s.tasks.nextDueAt(T0, [ep.id]), null);
        assert.equal(await s.tasks.nextDueAt(T0, ['ep_other']), T0 + LEASE);
      });

      test('an expired lease makes the task claimable again', async (s) => {
        const { publish } = await world(s);
        await publish(T0);
        const [c] = await claim(s, T0);
        assert.equal((await claim(s, T0 + LEASE - 1)).length, 0);
        assert.equal(await s.tasks.nextDueAt(), T0 + LEASE);
        const again = await claim(s, T0 + LEASE);
        assert.equal(again.length, 1);
        assert.equal(again[0]?.task.id, c?.task.id);
        assert.equal(again[0]?.task.leaseUntil, T0 + 2 * LEASE);
      });

      test('respects the per-endpoint cap, counting tasks already in flight', async (s) => {
        const { publish } = await world(s);
        for (let i = 0; i < 5; i++) await publish(T0);
        assert.equal((await claim(s, T0, 100, 2)).length, 2);
        assert.equal((await claim(s, T0, 100, 2)).length, 0);
        assert.equal((await claim(s, T0, 100, 3)).length, 1);
        // Once those leases expire they no longer count, and are themselves claimable.
        assert.equal((await claim(s, T0 + LEASE, 100, 3)).length, 3);
      });

      test('does not count an ended attempt awaiting its finish against the cap', async (s) => {
        const { publish } = await world(s);
        for (let i = 0; i < 4; i++) await publish(T0);
        const held = await claim(s, T0, 100, 2);
        assert.equal(held.length, 2);
        const ended = [held[0]!.task.id, 'task_unknown'];
        const more = await s.tasks.claimDue({ now: T0, limit: 100, leaseMs: LEASE, perEndpoint: 2, ended });
        assert.equal(more.length, 1, 'one slot freed by the ended attempt');
        assert.equal((await claim(s, T0, 100, 2)).length, 0, 'without the hint, three count');
      });

      test("leaves the caller's held tasks whose lease ended, counting those in flight", async (s) => {
        const { ep, publish } = await world(s);
        for (let i = 0; i < 3; i++) await publish(T0);
        const [a, b] = await claim(s, T0, 100, 2);
        const held = [a!.task.id, b!.task.id];
        // Paused through the lease while both attempts were in flight.
        const at = { now: T0 + LEASE, limit: 100, leaseMs: LEASE };
        assert.equal((await s.tasks.claimDue({ ...at, perEndpoint: 2, held })).length, 0, 'no room');
        const [c, ...rest] = await s.tasks.claimDue({ ...at, perEndpoint: 2, held, ended: [a!.task.id] });
        assert.equal(rest.length, 0);
        assert.ok(c && !held.includes(c.task.id), 'the pending task, in the slot the ended attempt freed');
        assert.equal((await s.tasks.get(a!.message.id, ep.id))?.leaseUntil, T0 + LEASE, 'a keeps its lease');
        assert.equal((await claim(s, T0 + LEASE, 100, 3)).length, 2, 'without the hint, both are taken over');
      });

      test('is fair: one endpoint with a backlog cannot take the whole batch', async (s) => {
        const { app, eps } = await world(s, 3);
        const [busy, b, c] = [eps[0]!, eps[1]!, eps[2]!];
        const items = [];
        for (let i = 0; i < 20; i++)
          items.push({ message: mkMessage(app.id, T0), endpointIds: [busy.id], now: T0 });
        items.push({ message: mkMessage(app.id, T0 + 5), endpointIds: [b.id, c.id], now: T0 + 5 });
        await s.messages.publish(items);
        const claimed = await claim(s, T0 + 10, 6, 10);
        const per = (id: string) => claimed.filter((x) => x.endpoint.id === id).length;
        assert.equal(claimed.length, 6);
        assert.equal(per(b.id), 1);
        assert.equal(per(c.id), 1);
        assert.equal(per(busy.id), 4);
        // A capped endpoint's older backlog does not hide newer work of others.
        await publish1(s, app.id, b.id, T0 + 6);
        const next = await claim(s, T0 + 10, 1, 4);
        assert.deepEqual(
          next.map((x) => x.endpoint.id),
          [b.id],
        );
      });
      test("in the caller's reserve, an application's endpoints share its room", async (s) => {
        const busy = await world(s, 3);
        const other = await world(s, 1);
        for (let i = 0; i < 2; i++) {
          await busy.publish(T0);
          await other.publish(T0);
        }
        // The caller holds 1 of busy's tasks in its reserve, where an application takes at most 2.
        const mine = { cap: 1, held: {}, appCap: 2, apps: { [busy.app.id]: 1 } };
        const claimed = await s.tasks.claimDue({ now: T0, limit: 10, leaseMs: LEASE, perEndpoint: 10, mine });
        const per = (appId: string) => claimed.filter((c) => c.task.appId === appId).length;
        assert.equal(per(busy.app.id), 1, 'busy: its room less what the caller holds');
        assert.equal(per(other.app.id), 1, 'other: one per endpoint');
        const rest = await s.tasks.claimDue({ now: T0, limit: 10, leaseMs: LEASE, perEndpoint: 10 });
        assert.equal(rest.length, 6, 'outside the reserve, no application room');
      });
      test('looks past a window of endpoints with nothing due', async (s) => {
        const { eps, publish } = await world(s, 300);
        // Every endpoint has a task due in an hour; the last one (past the first window) has one due now.
        await publish(T0 + 3_600_000);
        const last = eps.at(-1)!;
        await publish(T0, {}, [last]);
        const claimed = await claim(s, T0);
        assert.deepEqual(
          claimed.map((c) => c.endpoint.id),
          [last.id],
        );
      });
      test('serves every endpoint while another has a long backlog, never beyond the cap', async (s) => {
        const { app, eps } = await world(s, 2);
        const [a, b] = [eps[0]!, eps[1]!];
        const items = [];
        for (let i = 0; i < 30; i++)
          items.push({ message: mkMessage(app.id, T0), endpointIds: [a.id], now: T0 });
        for (let i = 0; i < 5; i++)
          items.push({ message: mkMessage(app.id, T0 + 1), endpointIds: [b.id], now: T0 + 1 });
        await s.messages.publish(items);
        const got: string[] = [];
        for (let round = 0; round < 10; round++) {
          const claimed = await claim(s, T0 + 10, 2, 3);
          if (round < 2) assert.equal(claimed.length, 2);
          got.push(...claimed.map((c) => c.endpoint.id));
        }
        assert.ok(got.slice(0, 4).includes(b.id), 'the second endpoint is served early');
        assert.equal(got.filter((e) => e === a.id).length, 3);
        assert.equal(got.filter((e) => e === b.id).length, 3);
      });
    });

    describe('finishing', () => {
      test('success, retry and failure each record the attempt and move the task', async (s) => {
        const { app, ep, publish } = await world(s);
        const m = await publish();
        let [c] = await claim(s, T0);
        const a1 = mkAttempt(m, ep.id, T0 + 1, { status: 'fail', responseStatusCode: 500, response: 'boom' });
        assert.equal(
          await finishOne(s, finishing(c!.task, a1, { status: 'pending', at: T0 + 5000 }, T0 + 1)),
          true,
        );
        let t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.attempts, t?.nextAt, t?.leaseUntil], ['pending', 1, T0 + 5000, null]);
        assert.deepEqual(await s.attempts.get(app.id, m.id, a1.id), a1);
        assert.equal((await claim(s, T0 + 4999)).length, 0);
        [c] = await claim(s, T0 + 5000);
        const a2 = mkAttempt(m, ep.id, T0 + 5001, {
          status: 'fail',
          responseStatusCode: 0,
          response: 'timeout',
        });
        await finishOne(s, finishing(c!.task, a2, { status: 'fail' }, T0 + 5001));
        t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.attempts, t?.nextAt], ['fail', 2, null]);
        assert.equal(await s.tasks.nextDueAt(), null);
        await s.tasks.resend(app.id, m.id, ep.id, T0 + 6000);
        [c] = await claim(s, T0 + 6000);
        const a3 = mkAttempt(m, ep.id, T0 + 6001, { triggerType: 'manual' });
        await finishOne(s, finishing(c!.task, a3, { status: 'success' }, T0 + 6001));
        t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual(
          [t?.status, t?.attempts, t?.updatedAt],
          ['success', 2, T0 + 6001],
          'manual: not counted',
        );
        assert.deepEqual(await s.attempts.get(app.id, m.id, a3.id), a3);
      });

      test("a finish for a task whose endpoint was deleted keeps its attempt in the message's history", async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const m = await publish();
        const claimed = await claim(s, T0);
        const [gone, kept] = [
          claimed.find((c) => c.endpoint.id === eps[0]!.id)!,
          claimed.find((c) => c.endpoint.id === eps[1]!.id)!,
        ];
        await s.endpoints.delete(app.id, eps[0]!.id);
        const ag = mkAttempt(m, eps[0]!.id, T0 + 1);
        const ak = mkAttempt(m, eps[1]!.id, T0 + 1);
        const results = await s.tasks.finish([
          finishing(gone.task, ag, { status: 'success' }, T0 + 1),
          finishing(kept.task, ak, { status: 'success' }, T0 + 1),
        ]);
        assert.deepEqual(results, [false, true], 'the task is gone');
        assert.deepEqual(await s.attempts.get(app.id, m.id, ag.id), ag);
        assert.deepEqual(await s.attempts.get(app.id, m.id, ak.id), ak);
        const listed = await s.attempts.list(app.id, { limit: 10, msgId: m.id });
        assert.deepEqual(listed.data.map((a) => a.id).sort(), [ag.id, ak.id].sort());
      });

      test("a finish for a task whose app was deleted records nothing: the app's history is gone", async (s) => {
        const { app, eps, publish } = await world(s, 1);
        const m = await publish();
        const [c] = await claim(s, T0);
        assert.equal(await s.apps.delete(app.id, T0), true);
        const a = mkAttempt(m, eps[0]!.id, T0 + 1);
        assert.deepEqual(await s.tasks.finish([finishing(c!.task, a, { status: 'success' }, T0 + 1)]), [
          false,
        ]);
        assert.equal(await s.attempts.get(app.id, m.id, a.id), null, 'before the purge has run');
      });

      test('an input the database refuses fails alone; the rest of its batch commits', async (s) => {
        const { app, eps, publish } = await world(s, 3);
        const m = await publish();
        const claimed = await claim(s, T0);
        const task = (i: number) => claimed.find((c) => c.endpoint.id === eps[i]!.id)!.task;
        const first = mkAttempt(m, eps[0]!.id, T0 + 1);
        const third = mkAttempt(m, eps[2]!.id, T0 + 1);
        const results = await s.tasks.finish([
          finishing(task(0), first, { status: 'success' }, T0 + 1),
          // The same attempt id again: the attempts table refuses it.
          finishing(task(1), { ...first, endpointId: eps[1]!.id }, { status: 'success' }, T0 + 1),
          finishing(task(2), third, { status: 'success' }, T0 + 1),
        ]);
        assert.equal(results[0], true);
        assert.ok(results[1] instanceof Error, 'the refused input gets its error');
        assert.equal(results[2], true);
        assert.deepEqual(await s.attempts.get(app.id, m.id, first.id), first);
        assert.deepEqual(await s.attempts.get(app.id, m.id, third.id), third);
        const statuses = await Promise.all(eps.map(async (ep) => (await s.tasks.get(m.id, ep.id))?.status));
        assert.deepEqual(statuses, ['success', 'sending', 'success'], 'the refused task keeps its lease');
      });

      test('a finish made again after it committed (its answer lost) is answered true, and counts once', async (s) => {
        const { app, ep, publish } = await world(s);
        const m = await publish();
        const [claimed] = await claim(s, T0);
        const attempt = mkAttempt(m, ep.id, T0 + 1, { status: 'fail', responseStatusCode: 500 });
        const input = finishing(claimed!.task, attempt, { status: 'pending', at: T0 + 5000 }, T0 + 1);
        assert.deepEqual(await s.tasks.finish([input]), [true]);
        assert.deepEqual(await s.tasks.finish([input]), [true]);
        const task = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([task?.status, task?.attempts, task?.nextAt], ['pending', 1, T0 + 5000]);
        const page = await s.attempts.list(app.id, { msgId: m.id, limit: 10 });
        assert.deepEqual(page.data, [attempt]);
      });

      test('a late finish after a lease takeover still counts but never un-delivers', async (s) => {
        const { app, ep, publish } = await world(s);
        const m = await publish();
        const [first] = await claim(s, T0);
        const [second] = await claim(s, T0 + LEASE); // the first worker looked dead
        assert.equal(second?.task.id, first?.task.id);
        const ok = mkAttempt(m, ep.id, T0 + LEASE + 1);
        await finishOne(s, finishing(second!.task, ok, { status: 'success' }, T0 + LEASE + 1));
        const late = mkAttempt(m, ep.id, T0 + LEASE + 2, { status: 'fail', responseStatusCode: 0 });
        assert.equal(
          await finishOne(
            s,
            finishing(first!.task, late, { status: 'pending', at: T0 + LEASE + 9 }, T0 + LEASE + 2),
          ),
          true,
        );
        const t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.attempts], ['success', 2]);
        assert.equal((await s.attempts.list(app.id, { limit: 10, msgId: m.id })).data.length, 2);
        assert.equal((await claim(s, T0 + 10 * LEASE)).length, 0);
      });

      test('a late finish or release leaves the lease of the attempt in flight; a late success stands', async (s) => {
        const { app, ep, publish } = await world(s);
        const m = await publish();
        const [first] = await claim(s, T0);
        const [second] = await claim(s, T0 + LEASE); // taken over: the first worker looked dead
        const late = (c: ClaimedTask, at: number, next: TaskNext) =>
          finishOne(
            s,
            finishing(
              c.task,
              mkAttempt(m, ep.id, at, { status: next.status === 'success' ? 'success' : 'fail' }),
              next,
              at,
            ),
          );
        assert.equal(await late(first!, T0 + LEASE + 1, { status: 'pending', at: T0 + LEASE + 2 }), true);
        await s.tasks.release(first!.task.id, first!.task.leaseUntil, T0 + LEASE + 2);
        let t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.leaseUntil], ['sending', second!.task.leaseUntil], 'still held');
        assert.deepEqual(await claim(s, T0 + LEASE + 5), [], 'never a second attempt at once');
        // The first attempt did deliver, its finish late: delivered it is, whatever the second one does.
        await late(first!, T0 + LEASE + 6, { status: 'success' });
        t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.leaseUntil], ['success', null]);
        await late(second!, T0 + LEASE + 7, { status: 'pending', at: T0 + LEASE + 9 });
        t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.nextAt], ['success', null]);
        assert.equal((await s.attempts.list(app.id, { limit: 10, msgId: m.id })).data.length, 3);
      });

      test('release gives a claimed task back without an attempt', async (s) => {
        const { ep, publish } = await world(s);
        const m = await publish();
        const [c] = await claim(s, T0);
        await s.tasks.release(c!.task.id, c!.task.leaseUntil, T0 + 700);
        const t = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([t?.status, t?.attempts, t?.nextAt, t?.leaseUntil], ['pending', 0, T0 + 700, null]);
        assert.equal(await s.tasks.nextDueAt(), T0 + 700);
        assert.equal((await claim(s, T0 + 699)).length, 0);
        assert.equal((await claim(s, T0 + 700)).length, 1);
      });
    });

    describe('task management', () => {
      test('resend makes an existing task due now; a message never sent to the endpoint has none', async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const m = await publish(T0, {}, [eps[0]!]);
        assert.equal(await s.tasks.resend(app.id, m.id, eps[1]!.id, T0 + 50), null);
        assert.equal(await s.tasks.get(m.id, eps[1]!.id), null, 'no task was created');
        const other = mkApp();
        await s.apps.create(other);
        assert.equal(await s.tasks.resend(other.id, m.id, eps[0]!.id, T0 + 50), null, 'another app');
        const [c] = await claim(s, T0, 10);
        assert.equal(c!.task.trigger, 'scheduled');
        await finishOne(s, finishing(c!.task, mkAttempt(m, eps[0]!.id, T0 + 1), { status: 'fail' }, T0 + 1));
        const again = await s.tasks.resend(app.id, m.id, eps[0]!.id, T0 + 60);
        assert.deepEqual(
          [again?.id, again?.status, again?.attempts, again?.nextAt, again?.trigger],
          [c!.task.id, 'pending', 1, T0 + 60, 'manual'],
        );
        // The resent attempt is manual; a retry it schedules is not.
        const resent = (await claim(s, T0 + 60, 10)).find((x) => x.task.id === c!.task.id)!;
        assert.equal(resent.task.trigger, 'manual');
        await finishOne(
          s,
          finishing(
            resent.task,
            mkAttempt(m, eps[0]!.id, T0 + 61),
            { status: 'pending', at: T0 + 70 },
            T0 + 61,
          ),
        );
        assert.equal((await s.tasks.get(m.id, eps[0]!.id))?.trigger, 'scheduled');
      });

      test('resend of a task in flight: never sent in parallel, sent again once its attempt ends', async (s) => {
        const { app, ep, publish } = await world(s);
        const m = await publish();
        const [c] = await claim(s, T0, 10);
        const during = await s.tasks.resend(app.id, m.id, ep.id, T0 + 5);
        assert.deepEqual([during?.status, during?.leaseUntil], ['sending', c!.task.leaseUntil]);
        assert.deepEqual(await claim(s, T0 + 5, 10), [], 'the lease holds: no second attempt at once');
        await finishOne(s, finishing(c!.task, mkAttempt(m, ep.id, T0 + 6), { status: 'success' }, T0 + 6));
        const after = await s.tasks.get(m.id, ep.id);
        assert.deepEqual([after?.status, after?.nextAt, after?.trigger], ['pending', T0 + 5, 'manual']);
        assert.deepEqual(after?.restore, { status: 'success' }, 'the attempt that ended delivered it');
        const [again] = await claim(s, T0 + 6, 10);
        assert.deepEqual([again?.task.id, again?.task.trigger], [c!.task.id, 'manual']);
      });

      test('resend keeps where the task was, for a failed manual attempt to leave it there', async (s) => {
        const { app, ep, publish } = await world(s);
        const [done, retrying] = [await publish(), await publish()];
        const finishAs = async (c: ClaimedTask | undefined, next: TaskNext, now: number) => {
          const attempt = mkAttempt(c!.message, ep.id, now, { triggerType: c!.task.trigger });
          await finishOne(s, finishing(c!.task, attempt, next, now));
        };
        const first = await claim(s, T0, 10);
        const byMsg = (id: string) => first.find((c) => c.message.id === id);
        await finishAs(byMsg(done.id), { status: 'success' }, T0 + 1);
        await finishAs(byMsg(retrying.id), { status: 'pending', at: T0 + 5000 }, T0 + 1);
        assert.deepEqual((await s.tasks.resend(app.id, done.id, ep.id, T0 + 10))?.restore, {
          status: 'success',
        });
        const retry = { status: 'pending', at: T0 + 5000 };
        assert.deepEqual((await s.tasks.resend(app.id, retrying.id, ep.id, T0 + 10))?.restore, retry);
        const listed = async (status: 'success' | 'pending') =>
          (await s.tasks.listForEndpoint(ep.id, { limit: 9, status })).data.map((x) => x.message.id);
        assert.deepEqual(
          [await listed('success'), await listed('pending')],
          [[done.id], [retrying.id]],
          'listed by the status they had while their manual attempts are queued',
        );
        assert.deepEqual(
          (await s.tasks.resend(app.id, retrying.id, ep.id, T0 + 11))?.restore,
          retry,
          'a second resend keeps the state before the first',
        );
        const manual = await claim(s, T0 + 11, 10);
        const restoreOf = (id: string) => manual.find((c) => c.message.id === id)?.task.restore;
        assert.deepEqual(
          manual.map((c) => c.task.trigger),
          ['manual', 'manual'],
        );
        assert.deepEqual([restoreOf(done.id), restoreOf(retrying.id)], [{ status: 'success' }, retry]);
        for (const c of manual) await finishAs(c, c.task.restore!, T0 + 12);
        const t = await s.tasks.get(retrying.id, ep.id);
        assert.deepEqual(
          [t?.status, t?.nextAt, t?.trigger, t?.attempts, t?.restore],
          ['pending', T0 + 5000, 'scheduled', 1, null],
          'the retry keeps its time and its place in the schedule',
        );
        assert.equal((await s.tasks.get(done.id, ep.id))?.status, 'success');
        const attempts = await s.attempts.list(app.id, { limit: 10, msgId: done.id });
        assert.deepEqual(attempts.data.map((a) => a.triggerType).sort(), ['manual', 'scheduled']);
      });

      test('recover re-queues failed tasks created in the range; stats counts by status', async (s) => {
        const { ep, publish } = await world(s);
        const msgs = [];
        for (let i = 0; i < 4; i++) msgs.push(await publish(T0 + i * 100));
        const claimed = await claim(s, T0 + 1000);
        assert.equal(claimed.length, 4);
        for (const c of claimed.slice(0, 3)) {
          await finishOne(
            s,
            finishing(
              c.task,
              mkAttempt(c.message, ep.id, T0 + 1001, { status: 'fail' }),
              { status: 'fail' },
              T0 + 1001,
            ),
          );
        }
        assert.deepEqual(await s.tasks.stats(ep.id, {}), { success: 0, pending: 0, fail: 3, sending: 1 });
        const failedAt = claimed
          .slice(0, 3)
          .map((c) => c.message.createdAt)
          .sort((a, b) => a - b);
        assert.deepEqual(await s.tasks.stats(ep.id, { since: failedAt[1], until: failedAt[2] }), {
          success: 0,
          pending: 0,
          fail: 1,
          sending: 0,
        });
        assert.equal(await s.tasks.recover(ep.id, failedAt[0]!, failedAt[2]!, T0 + 2000), 2);
        const stillFailed = { success: 0, pending: 0, fail: 3, sending: 1 };
        assert.deepEqual(
          await s.tasks.stats(ep.id, {}),
          stillFailed,
          'shown failed until their attempt ends',
        );
        const first = await claim(s, T0 + 2000);
        assert.deepEqual(
          first.map((c) => c.message.createdAt).sort((a, b) => a - b),
          failedAt.slice(0, 2),
        );
        assert.equal(await s.tasks.recover(ep.id, T0, T0 + 10_000, T0 + 2000), 1);
        const recovered = [...first, ...(await claim(s, T0 + 2000))];
        assert.ok(recovered.every((c) => c.task.restore?.status === 'fail'));
        assert.deepEqual(
          recovered.map((c) => c.task.trigger),
          ['manual', 'manual', 'manual'],
        );
        assert.deepEqual(
          await s.tasks.stats(ep.id, {}),
          stillFailed,
          'also while their attempts are in flight',
        );
        const failedList = await s.tasks.listForEndpoint(ep.id, { limit: 9, status: 'fail' });
        assert.equal(failedList.data.length, 3);
      });

      test('recover leaves the tasks of a message whose payload is gone: they could not be sent', async (s) => {
        const { app, ep, publish } = await world(s);
        const kept = await publish(T0);
        const expunged = await publish(T0 + 10);
        for (const c of await claim(s, T0 + 1000)) {
          const attempt = mkAttempt(c.message, ep.id, T0 + 1001, { status: 'fail' });
          await finishOne(s, finishing(c.task, attempt, { status: 'fail' }, T0 + 1001));
        }
        assert.ok(await s.messages.expungeContent(app.id, expunged.id));
        assert.equal(await s.tasks.recover(ep.id, T0, T0 + 10_000, T0 + 2000), 1);
        assert.deepEqual(
          (await claim(s, T0 + 2000)).map((c) => c.message.id),
          [kept.id],
        );
        assert.equal((await s.tasks.get(expunged.id, ep.id))?.status, 'fail');
      });

      test('replayMissing gives an endpoint the messages of its window it would take now and has no task for', async (s) => {
        const { app, ep: old, publish } = await world(s);
        const fresh = mkEndpoint(app.id, T0, { filterTypes: ['invoice.paid'], channels: ['eu'] });
        await s.endpoints.create(fresh);
        const eu = { channels: ['eu'] };
        await publish(T0 - 10, eu); // before the window
        const missed = await publish(T0 + 1, eu);
        await publish(T0 + 2, { channels: ['us'] });
        await publish(T0 + 3, { ...eu, eventType: 'user.created' });
        const expunged = await publish(T0 + 4, eu);
        assert.ok(await s.messages.expungeContent(app.id, expunged.id));
        const sent = await publish(T0 + 5, eu, [old, fresh]);
        const later = await publish(T0 + 6, { ...eu, deliverAt: T0 + 5000 });
        await publish(T0 + 100, eu); // after the window
        await world(s).then((other) => other.publish(T0 + 1, eu)); // another app's

        assert.equal(await s.tasks.replayMissing(fresh, T0, T0 + 50, T0 + 1000), 2);
        const task = (m: Message) => s.tasks.get(m.id, fresh.id);
        assert.deepEqual(
          [(await task(missed))?.status, (await task(missed))?.nextAt, (await task(later))?.nextAt],
          ['pending', T0 + 1000, T0 + 5000],
        );
        assert.equal((await task(sent))?.status, 'pending', 'its own task, untouched');
        assert.equal(await task(expunged), null);
        const claimed = await claim(s, T0 + 1000);
        assert.deepEqual(
          claimed
            .filter((c) => c.endpoint.id === fresh.id)
            .map((c) => c.message.id)
            .sort(),
          [missed.id, sent.id].sort(),
        );
        assert.equal(await s.tasks.replayMissing(fresh, T0, T0 + 50, T0 + 2000), 0, 'nothing missing now');

        await s.endpoints.delete(app.id, fresh.id);
        assert.equal(
          await s.tasks.replayMissing(
            { ...fresh, filterTypes: null, channels: null },
            T0 - 100,
            T0 + 200,
            T0 + 3000,
          ),
          0,
        );
      });

      test('replayMissing walks a long window a chunk at a time', async (s) => {
        const { app, publish } = await world(s);
        for (let i = 0; i < 1200; i++) await publish(T0 + i);
        const fresh = mkEndpoint(app.id);
        await s.endpoints.create(fresh);
        assert.equal(await s.tasks.replayMissing(fresh, T0, T0 + 1200, T0 + 2000), 1200);
      });

      test("an endpoint's deliveries and attempts filtered by channel, tag and event type page through in both orders", async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const [e0, e1] = [eps[0]!, eps[1]!];
        // 36 messages: channels, tags and types in overlapping cycles, each to e0, e1 or both.
        const sent: Array<{ m: Message; to: Endpoint[] }> = [];
        for (let i = 0; i < 36; i++) {
          const to = [[e0], [e1], [e0, e1]][i % 3]!;
          const m = await publish(
            T0 + i * 10,
            {
              channels: i % 4 === 0 ? ['eu'] : i % 4 === 1 ? ['us', 'eu'] : null,
              tags: i % 5 < 2 ? ['vip'] : null,
              eventType: ['a.one', 'b.two', 'c.three'][i % 3 === 2 ? 2 : i % 2]!,
            },
            to,
          );
          sent.push({ m, to });
        }
        const claimed = await claim(s, T0 + 1000);
        for (const c of claimed) {
          const attempt = mkAttempt(c.message, c.endpoint.id, c.message.createdAt + 1, { status: 'fail' });
          await finishOne(s, finishing(c.task, attempt, { status: 'fail' }, T0 + 1001));
        }
        const queries: MessageFilters[] = [
          { channel: 'eu' },
          { tag: 'vip' },
          { channel: 'us', tag: 'vip' },
          { eventTypes: ['b.two'] },
          { eventTypes: ['a.one', 'c.three'], channel: 'eu' },
          { eventTypes: ['c.three'], tag: 'vip' },
          // More types than some drivers read one by one.
          { eventTypes: [...Array.from({ length: 30 }, (_, i) => `x.${i}`), 'a.one', 'c.three'] },
        ];
        const matches = (m: Message, q: MessageFilters) =>
          (!q.channel || (m.channels ?? []).includes(q.channel)) &&
          (!q.tag || (m.tags ?? []).includes(q.tag)) &&
          (!q.eventTypes || q.eventTypes.includes(m.eventType));
        for (const q of queries) {
          for (const order of ['descending', 'ascending'] as const) {
            const expected = sent
              .filter(({ m, to }) => to.includes(e1) && matches(m, q))
              .map(({ m }) => m.id)
              .sort();
            if (order === 'descending') expected.reverse();
            const walk = async <T>(
              list: (iterator: string | null) => Promise<Page<T>>,
              idOf: (x: T) => string,
            ) => {
              const seen: string[] = [];
              let iterator: string | null = null;
              for (let pages = 0; pages < 20; pages++) {
                const page = await list(iterator);
                seen.push(...page.data.map(idOf));
                if (page.done) break;
                iterator = page.iterator;
              }
              return seen;
            };
            const tasks = await walk(
              (iterator) => s.tasks.listForEndpoint(e1.id, { limit: 2, iterator, order, ...q }),
              (x) => x.message.id,
            );
            assert.deepEqual(tasks, expected, `deliveries ${order} ${JSON.stringify(q)}`);
            const failed = await s.tasks.listForEndpoint(e1.id, { limit: 50, status: 'fail', order, ...q });
            assert.deepEqual(
              failed.data.map((x) => x.message.id),
              expected,
              `failed ${JSON.stringify(q)}`,
            );
            const attempts = await walk(
              (iterator) => s.attempts.list(app.id, { limit: 2, iterator, order, endpointId: e1.id, ...q }),
              (a) => a.msgId,
            );
            assert.deepEqual(attempts, expected, `attempts ${order} ${JSON.stringify(q)}`);
          }
        }
      });
      test("lists an endpoint's tasks by message and a message's tasks by endpoint", async (s) => {
        const { app, eps, publish } = await world(s, 3);
        const m1 = await publish(T0, { channels: ['eu'], tags: ['t1'] });
        const m2 = await publish(T0 + 10, { eventType: 'user.created' });
        const m3 = await publish(T0 + 20);
        const [c] = await claim(s, T0 + 20, 1);
        const e0 = eps[0]!;
        const p1 = await s.tasks.listForEndpoint(e0.id, { limit: 2 });
        assert.deepEqual(
          p1.data.map((x) => x.message.id),
          [m3.id, m2.id],
        );
        assert.ok(p1.data.every((x) => x.task.endpointId === e0.id));
        const p2 = await s.tasks.listForEndpoint(e0.id, { limit: 2, iterator: p1.iterator });
        assert.deepEqual(
          p2.data.map((x) => x.message.id),
          [m1.id],
        );
        assert.equal(p2.done, true);
        const filtered = (q: object) =>
          s.tasks.listForEndpoint(e0.id, { limit: 9, ...q }).then((p) => p.data.map((x) => x.message.id));
        assert.deepEqual(await filtered({ channel: 'eu' }), [m1.id]);
        assert.deepEqual(await filtered({ tag: 't1' }), [m1.id]);
        assert.deepEqual(await filtered({ eventTypes: ['user.created'] }), [m2.id]);
        assert.deepEqual(await filtered({ before: T0 + 10 }), [m1.id]);
        assert.deepEqual(await filtered({ after: T0 + 10 }), [m3.id]);
        const sendingEp = c!.endpoint.id;
        const sending = await s.tasks.listForEndpoint(sendingEp, { limit: 9, status: 'sending' });
        assert.deepEqual(
          sending.data.map((x) => x.task.id),
          [c!.task.id],
        );
        const forMsg = await s.tasks.listForMessage(m2.id, { limit: 2 });
        const epIds = eps
          .map((e) => e.id)
          .sort()
          .reverse();
        assert.deepEqual(
          forMsg.data.map((x) => x.endpoint.id),
          epIds.slice(0, 2),
        );
        const rest = await s.tasks.listForMessage(m2.id, { limit: 2, iterator: forMsg.iterator });
        assert.deepEqual(
          rest.data.map((x) => x.endpoint.id),
          epIds.slice(2),
        );
        assert.equal(rest.done, true);
        assert.equal(rest.data[0]?.task.msgId, m2.id);
        assert.equal(app.id, rest.data[0]?.endpoint.appId);
      });
    });

    describe('attempts', () => {
      test('list filters by message, endpoint, status, status class, channel and time; expunge', async (s) => {
        const { app, eps, publish } = await world(s, 2);
        const [e0, e1] = [eps[0]!, eps[1]!];
        const m1 = await publish(T0, { channels: ['eu'] });
        const m2 = await publish(T0 + 1, { eventType: 'user.created', tags: ['t2'] });
        const claimed = await claim(s, T0 + 10);
        const task = (m: Message, e: Endpoint) =>
          claimed.find((c) => c.message.id === m.id && c.endpoint.id === e.id)!.task;
        const a = [
          mkAttempt(m1, e0.id, T0 + 20, { responseStatusCode: 200 }),
          mkAttempt(m1, e1.id, T0 + 21, { status: 'fail', responseStatusCode: 503 }),
          mkAttempt(m2, e0.id, T0 + 22, { status: 'fail', responseStatusCode: 0, response: 'refused' }),
          mkAttempt(m2, e1.id, T0 + 23, { status: 'fail', responseStatusCode: 404 }),
        ];
        await s.tasks.finish([
          finishing(task(m1, e0), a[0]!, { status: 'success' }, T0 + 20),
          finishing(task(m1, e1), a[1]!, { status: 'pending', at: T0 + 99 }, T0 + 21),
          finishing(task(m2, e0), a[2]!, { status: 'pending', at: T0 + 99 }, T0 + 22),
          finishing(task(m2, e1), a[3]!, { status: 'fail' }, T0 + 23),
        ]);
        const ids = (q: object) =>
          s.attempts.list(app.id, { limit: 9, ...q }).then((p) => p.data.map((x) => x.id));
        const [x0, x1, x2, x3] = a.map((x) => x.id);
        assert.deepEqual(await ids({}), [x3, x2, x1, x0]);
        assert.deepEqual(await ids({ msgId: m1.id }), [x1, x0]);
        assert.deepEqual(await ids({ endpointId: e0.id }), [x2, x0]);
        assert.deepEqual(await ids({ status: 'success' }), [x0]);
        assert.deepEqual(await ids({ status: 'fail', endpointId: e1.id }), [x3, x1]);
        assert.deepEqual(await ids({ statusCodeClass: 0 }), [x2]);
        assert.deepEqual(await ids({ statusCodeClass: 200 }), [x0]);
        assert.deepEqual(await ids({ statusCodeClass: 400 }), [x3]);
        assert.deepEqual(await ids({ statusCodeClass: 500 }), [x1]);
        assert.deepEqual(await ids({ channel: 'eu' }), [x1, x0]);
        assert.deepEqual(await ids({ tag: 't2' }), [x3, x2]);
        assert.deepEqual(await ids({ tag: 't2', endpointId: e0.id }), [x2]);
        assert.deepEqual(await ids({ eventTypes: ['user.created'] }), [x3, x2]);
        assert.deepEqual(await ids({ before: T0 + 22 }), [x1, x0]);
        assert.deepEqual(await ids({ after: T0 + 21 }), [x3, x2]);
        const p1 = await s.attempts.list(app.id, { limit: 3 });
        const p2 = await s.attempts.list(app.id, { limit: 3, iterator: p1.iterator });
        assert.deepEqual(
          p2.data.map((x) => x.id),
          [x0],
        );
        assert.equal(p2.done, true);
        assert.deepEqual(await ids({ msgId: m1.id, order: 'ascending' }), [x0, x1]);
        assert.equal(await s.attempts.expungeContent(app.id, m2.id, x2!), true);
        assert.equal((await s.attempts.get(app.id, m2.id, x2!))?.response, 'EXPUNGED'); // as Svix writes it
        assert.equal(await s.attempts.get(app.id, m1.id, x2!), null);
        assert.equal(await s.attempts.expungeContent(app.id, m1.id, x2!), false);
      });
    });

    describe('background tasks', () => {
      const bg = (at: number, task = 'endpoint.recover'): BackgroundTask => ({
        id: newId('qtask', at),
        task,
        status: 'finished',
        data: { n: at - T0 },
        updatedAt: at,
      });

      test('kept, found by id, listed newest first and by kind, a page at a time', async (s) => {
        const tasks = [bg(T0), bg(T0 + 1, 'endpoint.replay'), bg(T0 + 2), bg(T0 + 3)];
        for (const t of tasks) await s.backgroundTasks.put(t);
        assert.deepEqual(await s.backgroundTasks.get(tasks[1]!.id), tasks[1]);
        assert.equal(await s.backgroundTasks.get(newId('qtask', T0)), null);
        const first = await s.backgroundTasks.list({ limit: 2 });
        assert.deepEqual(first.data, [tasks[3], tasks[2]]);
        const rest = await s.backgroundTasks.list({ limit: 2, iterator: first.iterator });
        assert.deepEqual([rest.data, rest.done], [[tasks[1], tasks[0]], true]);
        const replays = await s.backgroundTasks.list({ limit: 10, task: 'endpoint.replay' });
        assert.deepEqual(replays.data, [tasks[1]]);
      });

      test('one kept is forgotten once a task finishes more than the keep period after it', async (s) => {
        const old = bg(T0);
        await s.backgroundTasks.put(old);
        await s.backgroundTasks.put(bg(T0 + BACKGROUND_TASK_KEEP_MS - 1000));
        assert.deepEqual(await s.backgroundTasks.get(old.id), old, 'within the period');
        const late = bg(T0 + BACKGROUND_TASK_KEEP_MS + 1000);
        await s.backgroundTasks.put(late);
        assert.equal(await s.backgroundTasks.get(old.id), null);
        assert.equal((await s.backgroundTasks.list({ limit: 10 })).data.length, 2);
      });
    });

    describe('idempotency and settings', () => {
      test('idempotency: the first begin runs, then others see it running, then the response', async (s) => {
        const ok = { statusCode: 202, body: '{"id":"msg_1"}', request: 'r1' };
        assert.deepEqual(await s.idempotency.begin('k', 'a', T0, T0 + 60), { state: 'first' });
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 1, T0 + 61), { state: 'running' });
        assert.deepEqual(await s.idempotency.begin('other', 'b', T0 + 1, T0 + 61), { state: 'first' });
        await s.idempotency.put('k', ok, T0 + 100);
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 99, T0 + 159), {
          state: 'done',
          response: ok,
        });
        await s.idempotency.abandon('k', 'a'); // a response is no marker: kept
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 99, T0 + 159), {
          state: 'done',
          response: ok,
        });
      });
      test('idempotency: an expired response frees the key', async (s) => {
        await s.idempotency.put('k', { statusCode: 202, body: '{"id":"msg_1"}', request: 'r1' }, T0 + 100);
        assert.deepEqual(await s.idempotency.begin('k', 'a', T0 + 100, T0 + 160), { state: 'first' });
        await s.idempotency.put('k', { statusCode: 409, body: 'x', request: null }, T0 + 500);
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 200, T0 + 260), {
          state: 'done',
          response: { statusCode: 409, body: 'x', request: null },
        });
      });
      test('idempotency: abandon frees the key, for its owner only', async (s) => {
        assert.deepEqual(await s.idempotency.begin('k', 'a', T0, T0 + 60), { state: 'first' });
        await s.idempotency.abandon('k', 'b');
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 1, T0 + 61), { state: 'running' });
        await s.idempotency.abandon('k', 'a');
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 2, T0 + 62), { state: 'first' });
        await s.idempotency.abandon('nothing', 'a');
      });
      test('idempotency: a marker past its lease is abandoned; its late abandon spares the next', async (s) => {
        assert.deepEqual(await s.idempotency.begin('k', 'a', T0, T0 + 60), { state: 'first' });
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 59, T0 + 119), { state: 'running' });
        assert.deepEqual(await s.idempotency.begin('k', 'b', T0 + 60, T0 + 120), { state: 'first' });
        await s.idempotency.abandon('k', 'a');
        assert.deepEqual(await s.idempotency.begin('k', 'c', T0 + 61, T0 + 121), { state: 'running' });
        assert.deepEqual(await s.idempotency.begin('k', 'c', T0 + 120, T0 + 180), { state: 'first' });
      });
      test('idempotency: of concurrent begins exactly one runs, also over an expired row', async (s) => {
        await s.idempotency.put('old', { statusCode: 202, body: '{}', request: null }, T0);
        for (const key of ['k1', 'k2', 'k3', 'old']) {
          const found = await Promise.all(
            Array.from({ length: 8 }, (_, i) => s.idempotency.begin(key, `o${i}`, T0, T0 + 60)),
          );
          const states = found.map((f) => f.state).sort();
          assert.deepEqual(states, ['first', ...Array(7).fill('running')], key);
        }
      });

      test('settings putIfAbsent keeps the first value, for every caller', async (s) => {
        for (const key of ['key1', 'key2', 'key3']) {
          const values = await Promise.all(
            Array.from({ length: 8 }, (_, i) => s.settings.putIfAbsent(key, `v${i}`)),
          );
          assert.equal(new Set(values).size, 1, `${key}: ${values.join(' ')}`);
          assert.equal(await s.settings.get(key), values[0]);
          assert.equal(await s.settings.putIfAbsent(key, 'late'), values[0]);
        }
      });
      test('settings compareAndSet: one of concurrent writers from the same value wins', async (s) => {
        const tries = () =>
          Promise.all(Array.from({ length: 8 }, (_, i) => s.settings.compareAndSet('cas', null, `v${i}`)));
        const first = await tries();
        assert.equal(first.filter(Boolean).length, 1);
        const stored = await s.settings.get('cas');
        assert.equal(stored, `v${first.indexOf(true)}`);
        const next = await Promise.all(
          Array.from({ length: 8 }, (_, i) => s.settings.compareAndSet('cas', stored, `w${i}`)),
        );
        assert.equal(next.filter(Boolean).length, 1);
        assert.equal(await s.settings.compareAndSet('cas', 'stale', 'x'), false);
        assert.equal(await s.settings.get('cas'), `w${next.indexOf(true)}`);
      });
      test('settings get and overwrite', async (s) => {
        assert.equal(await s.settings.get('admin'), null);
        await s.settings.put('admin', 'h1');
        await s.settings.put('admin', 'h2');
        assert.equal(await s.settings.get('admin'), 'h2');
      });
    });
  });
}

async function publish1(s: Store, appId: string, endpointId: string, at: number): Promise<Message> {
  const m = mkMessage(appId, at);
  await s.messages.publish([{ message: m, endpointIds: [endpointId], now: at }]);
  return m;
}
