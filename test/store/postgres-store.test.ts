import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuthenticator } from '../../src/app/auth.ts';
import { openDatabase } from '../../src/bin/open-store.ts';
import { makeConfig } from '../../src/config/config.ts';
import { idFloor, newId } from '../../src/core/ids.ts';
import type { Message } from '../../src/core/types.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { appsSql } from '../../src/store/postgres/apps-sql.ts';
import { attemptsSql } from '../../src/store/postgres/attempts-sql.ts';
import { claimDue } from '../../src/store/postgres/claim-sql.ts';
import { EXISTING, messagesSql, PUBLISH, publisher } from '../../src/store/postgres/messages-sql.ts';
import { LOCK_ANALYZE, LOCK_MIGRATE, LOCK_SPACE, migrate } from '../../src/store/postgres/migrate.ts';
import { AHEAD_DAYS, DAY_MS, Partitions, partitionName } from '../../src/store/postgres/partitions.ts';
import { connectTimeoutMs, Pg, type Row, type Sql, type Stmt } from '../../src/store/postgres/pg.ts';
import { listen, openPostgresStore, TASKS_CHANNEL } from '../../src/store/postgres/postgres-store.ts';
import { REPLAY_CHUNK } from '../../src/store/postgres/replay-sql.ts';
import { FINISH, RECOVER, tasksSql } from '../../src/store/postgres/tasks-sql.ts';
import {
  type AttemptQuery,
  type Store,
  StoreUnavailableError,
  type TaskQuery,
} from '../../src/store/store.ts';
import {
  describeStoreContract,
  mkApp,
  mkEndpoint,
  mkMessage,
  purgeAll,
} from '../../src/store/store-contract.ts';
import { until } from '../support/in-process.ts';
import { startPgProxy, viaPort } from '../support/pg-proxy.ts';
import {
  createTempDatabase,
  killConnections,
  pgSkipReason,
  probePool,
  type TempDatabase,
  withTempDatabase,
} from '../support/postgres.ts';

const skip = await pgSkipReason();

/** A store on a temporary database, and beside it a connection of its own (`sql`): closed after `fn`. */
async function withStore(
  options: Parameters<typeof openPostgresStore>[1],
  fn: (store: Store, sql: Pg, db: TempDatabase) => Promise<void>,
) {
  await withTempDatabase(async (db) => {
    const store = await openPostgresStore(db.url, options);
    const sql = new Pg(db.url, 1);
    try {
      await fn(store, sql, db);
    } finally {
      await sql.close();
      await store.close();
    }
  });
}

if (skip) {
  describe('store contract: postgres', { skip }, () => {});
} else {
  const databases = new Map<Store, TempDatabase>();
  describeStoreContract('postgres', {
    async open() {
      const db = await createTempDatabase();
      const store = await openPostgresStore(db.url, { poolSize: 4 });
      databases.set(store, db);
      return store;
    },
    async close(store) {
      await store.close();
      await databases.get(store)?.drop();
      databases.delete(store);
    },
  });

  describe('postgres store: scale-out', () => {
    const T0 = Date.UTC(2024, 0, 10, 12);
    const LEASE = 60_000;

    async function seed(store: Store, endpoints: number, perEndpoint: number) {
      const app = mkApp(T0, { metadata: {} });
      await store.apps.create(app);
      const eps: string[] = [];
      for (let i = 0; i < endpoints; i++) {
        const ep = mkEndpoint(app.id, T0, { headers: {} });
        eps.push(ep.id);
        await store.endpoints.create(ep);
      }
      const items = [];
      for (let i = 0; i < perEndpoint; i++) {
        for (const ep of eps) items.push({ message: message(app.id, T0), endpointIds: [ep], now: T0 });
      }
      await store.messages.publish(items);
      return { app, eps };
    }

    const message = (appId: string, at: number, over: Partial<Message> = {}): Message =>
      mkMessage(appId, at, { payload: '{"a":1}', expiresAt: at + 86_400_000, ...over });

    /** Two stores on one temporary database, as two processes would have: closed after `fn`. */
    async function withTwoStores(
      poolSize: number,
      fn: (a: Store, b: Store, db: TempDatabase) => Promise<void>,
    ) {
      await withTempDatabase(async (db) => {
        const [a, b] = await Promise.all([
          openPostgresStore(db.url, { poolSize }),
          openPostgresStore(db.url, { poolSize }),
        ]);
        try {
          await fn(a, b, db);
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      });
    }

    it("a claim into the caller's reserve counts what the caller holds, not other processes' leases", async () => {
      await withTwoStores(2, async (a, b) => {
        const { eps } = await seed(a, 1, 10);
        const ep = eps[0]!;
        const options = { now: T0 + 1, leaseMs: LEASE, perEndpoint: 8 };
        // Another process holds 4 of the endpoint's tasks.
        assert.equal((await a.tasks.claimDue({ ...options, limit: 4 })).length, 4);
        // This one, in its reserve (at most 2 of an endpoint's, of which it holds 1), gets 1 more.
        const mine = { cap: 2, held: { [ep]: 1 }, appCap: 8, apps: {} };
        assert.equal((await b.tasks.claimDue({ ...options, limit: 10, mine })).length, 1);
        // The endpoint's cap over every process still holds: 8 in flight at most.
        const more = await b.tasks.claimDue({
          ...options,
          limit: 10,
          mine: { cap: 8, held: { [ep]: 2 }, appCap: 8, apps: {} },
        });
        assert.equal(more.length, 3);
      });
    });

    it('app tokens: an expire-all ends a token issued just before it by a process whose clock runs ahead', async () => {
      await withTwoStores(2, async (a, b) => {
        const [ahead, behind] = [createAuthenticator(a), createAuthenticator(b)];
        const now = Date.now();
        const token = await ahead.issueAppToken('app_1', now + 5_000); // its clock: 5 s ahead
        await behind.expireAll('app_1', now, 0);
        assert.equal(await createAuthenticator(a).verify(token, now + 5_000), null);
        assert.equal(await createAuthenticator(b).verify(token, now), null);
        await new Promise((r) => setTimeout(r, 5)); // one issued in the cut-off's millisecond ends too
        const later = await ahead.issueAppToken('app_1', now + 5_000);
        assert.ok(await createAuthenticator(b).verify(later, now), 'a token issued after it works');
      });
    });

    it('two stores claiming at once never exceed a per-endpoint cap together, nor claim a task twice', async () => {
      await withTwoStores(4, async (a, b, db) => {
        const probe = probePool(db.url);
        try {
          const CAP = 3;
          const { eps } = await seed(a, 4, 25);
          const claimedOnce = new Set<string>();
          let maxSeen = 0;
          const worker = async (store: Store, n: number) => {
            for (let idle = 0; idle < 50; ) {
              const now = T0 + 1;
              const claimed = await store.tasks.claimDue({ now, limit: 5, leaseMs: LEASE, perEndpoint: CAP });
              const { rows } = await probe.query<{ n: string }>(
                'SELECT count(*) AS n FROM tasks WHERE status = 3 GROUP BY endpoint_id',
              );
              for (const r of rows) maxSeen = Math.max(maxSeen, Number(r.n));
              for (const c of claimed) {
                assert.ok(!claimedOnce.has(c.task.id), `task ${c.task.id} claimed twice (worker ${n})`);
                claimedOnce.add(c.task.id);
              }
              if (claimed.length === 0) {
                idle++;
                await new Promise((r) => setImmediate(r));
                continue;
              }
              idle = 0;
              await store.tasks.finish(
                claimed.map((c) => ({
                  taskId: c.task.id,
                  lease: c.task.leaseUntil,
                  attempt: {
                    id: newId('atmpt', now),
                    appId: c.task.appId,
                    msgId: c.task.msgId,
                    endpointId: c.task.endpointId,
                    url: c.endpoint.url,
                    status: 'success',
                    responseStatusCode: 200,
                    response: '',
                    responseDurationMs: 1,
                    triggerType: 'scheduled',
                    createdAt: now,
                  },
                  next: { status: 'success' },
                  now,
                })),
              );
              if (claimedOnce.size === eps.length * 25) return;
            }
          };
          await Promise.all([worker(a, 1), worker(a, 2), worker(b, 3), worker(b, 4)]);
          assert.equal(claimedOnce.size, eps.length * 25, 'every task was delivered');
          assert.ok(maxSeen <= CAP, `at most ${CAP} in flight per endpoint, saw ${maxSeen}`);
          for (const ep of eps) {
            assert.deepEqual(await a.tasks.stats(ep, {}), { success: 25, pending: 0, fail: 0, sending: 0 });
          }
          // Both stores fill the cap together, not each on its own.
          await seed(a, 1, 10).then(async ({ eps: [ep] }) => {
            const got = await Promise.all(
              [a, b, a, b].map((s) =>
                s.tasks.claimDue({ now: T0 + 2, limit: 10, leaseMs: LEASE, perEndpoint: CAP }),
              ),
            );
            assert.ok(got.flat().length <= CAP);
            const again = await b.tasks.claimDue({
              now: T0 + 2,
              limit: 10,
              leaseMs: LEASE,
              perEndpoint: CAP,
            });
            assert.equal(got.flat().length + again.length, CAP);
            assert.equal((await a.tasks.stats(ep!, {})).sending, CAP);
          });
        } finally {
          await probe.end();
        }
      });
    });

    it('creates partitions ahead, and drops a day once it is past retention', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const probe = probePool(db.url);
        const partitionsOf = async (table: string) =>
          (
            await probe.query<{ name: string }>(
              `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = $1::regclass ORDER BY 1`,
              [table],
            )
          ).rows.map((r) => r.name);
        try {
          const today = Math.floor(Date.now() / DAY_MS);
          for (const table of ['messages', 'message_labels', 'attempts']) {
            const names = await partitionsOf(table);
            for (let d = today; d <= today + AHEAD_DAYS; d++)
              assert.ok(names.includes(partitionName(table, d)));
          }
          // A fixed clock far from now: the days are created on demand, then kept ahead by maintenance.
          const { app, eps } = await seed(store, 1, 2);
          const day0 = Math.floor(T0 / DAY_MS);
          const report = await store.maintainPartitions(T0, null);
          assert.ok(report.created.includes(partitionName('messages', day0 + AHEAD_DAYS)));
          const [c] = await store.tasks.claimDue({ now: T0, limit: 1, leaseMs: LEASE, perEndpoint: 9 });
          const attempt = {
            id: newId('atmpt', T0 + 5),
            appId: app.id,
            msgId: c!.message.id,
            endpointId: eps[0]!,
            url: 'https://example.com/hook',
            status: 'success' as const,
            responseStatusCode: 200,
            response: 'ok',
            responseDurationMs: 3,
            triggerType: 'scheduled' as const,
            createdAt: T0 + 5,
          };
          await store.tasks.finish([
            {
              taskId: c!.task.id,
              lease: c!.task.leaseUntil,
              attempt,
              next: { status: 'success' },
              now: T0 + 5,
            },
          ]);
          // Published with a long retention: its day is kept while the payload lives.
          const later = T0 + 3 * DAY_MS;
          const kept = message(app.id, later, { expiresAt: later + 100 * DAY_MS, channels: ['kept'] });
          await store.messages.publish([{ message: kept, endpointIds: eps, now: later }]);

          const now = T0 + 10 * DAY_MS;
          const dropped = await store.maintainPartitions(now, 5 * DAY_MS);
          // Every day before now - retention: messages and their labels but the day with a live payload,
          // and day0, whose other message is still to be delivered; attempts before day0 (those of a
          // message kept are kept with it).
          const expected = [partitionName('attempts', day0 - 1)];
          for (let d = day0 - 1; d < day0 + 5; d++) {
            if (d !== day0 + 3 && d !== day0)
              expected.push(partitionName('messages', d), partitionName('message_labels', d));
          }
          assert.deepEqual(dropped.dropped.sort(), expected.sort());
          assert.deepEqual(await store.attempts.get(app.id, c!.message.id, attempt.id), attempt);
          assert.notEqual(await store.messages.get(app.id, c!.message.id), null);
          // Its delivery ends (its payload gone, unsent): the day goes at the next run.
          const [other] = await store.tasks.claimDue({ now, limit: 1, leaseMs: LEASE, perEndpoint: 9 });
          const inFlight = await store.maintainPartitions(now, 5 * DAY_MS);
          assert.deepEqual(inFlight.dropped, [], 'kept while its delivery is in flight');
          await store.tasks.finish([
            {
              taskId: other!.task.id,
              lease: other!.task.leaseUntil,
              attempt: {
                ...attempt,
                id: newId('atmpt', now),
                msgId: other!.message.id,
                status: 'fail',
                createdAt: now,
              },
              next: { status: 'fail' },
              now,
            },
          ]);
          const again = await store.maintainPartitions(now, 5 * DAY_MS);
          // Day0's messages go with their attempts, and those of the days up to the next day kept.
          assert.deepEqual(again.dropped.sort(), [
            partitionName('attempts', day0),
            partitionName('attempts', day0 + 1),
            partitionName('attempts', day0 + 2),
            partitionName('message_labels', day0),
            partitionName('messages', day0),
          ]);
          assert.equal(await store.messages.get(app.id, c!.message.id), null);
          assert.equal(await store.attempts.get(app.id, c!.message.id, attempt.id), null);
          assert.ok((await partitionsOf('attempts')).includes(partitionName('attempts', day0 + 3)));
          assert.equal(await store.tasks.get(c!.message.id, eps[0]!), null, 'tasks of a dropped day go too');
          assert.deepEqual(await store.messages.get(app.id, kept.id), kept);
          const byChannel = await store.messages.list(app.id, { limit: 9, channel: 'kept' });
          assert.deepEqual(
            byChannel.data.map((m) => m.id),
            [kept.id],
          );
          assert.notEqual(await store.tasks.get(kept.id, eps[0]!), null);
          assert.ok((await partitionsOf('messages')).includes(partitionName('messages', day0 + 3)));
          assert.ok(
            (await partitionsOf('messages')).includes(partitionName('messages', day0 + 10 + AHEAD_DAYS)),
          );
          // Publishing still works on every day around now.
          const fresh = message(app.id, now);
          assert.deepEqual(await store.messages.publish([{ message: fresh, endpointIds: eps, now }]), [
            { ok: true },
          ]);
        } finally {
          await probe.end();
          await store.close();
        }
      });
    });

    it('processes sweeping at once each drop what the other has not: none fails on a table just dropped', async () => {
      await withTempDatabase(async (db) => {
        const stores = await Promise.all([0, 1, 2].map(() => openPostgresStore(db.url, { poolSize: 2 })));
        try {
          await stores[0]!.maintainPartitions(T0, null); // the days around T0, and some ahead
          for (let round = 1; round <= 3; round++) {
            const now = T0 + (round * AHEAD_DAYS * DAY_MS) / 3;
            const reports = await Promise.all(stores.map((store) => store.maintainPartitions(now, DAY_MS)));
            const dropped = reports.flatMap((r) => r.dropped);
            assert.equal(new Set(dropped).size, dropped.length, 'each table dropped once');
          }
        } finally {
          await Promise.all(stores.map((store) => store.close()));
        }
      });
    });

    it('an endpoint created while its app is deleted is refused or deleted with it: none outlives it', async () => {
      await withStore({ poolSize: 4 }, async (store, sql) => {
        const outcomes = new Set<boolean>();
        for (let i = 0; i < 40; i++) {
          const app = mkApp(T0, { metadata: {} });
          await store.apps.create(app);
          const [created] = await Promise.all([
            store.endpoints.create(mkEndpoint(app.id, T0, { headers: {} })),
            store.apps.delete(app.id, T0),
          ]);
          outcomes.add(created);
        }
        const orphans = await sql.one<{ n: number }>(`SELECT count(*)::int AS n FROM endpoints e
          WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = e.app_id)`);
        assert.equal(orphans!.n, 0, `endpoints left of deleted apps (creates answered ${[...outcomes]})`);
      });
    });

    it('an upgrade deletes the endpoints an older release left of deleted apps, and so does the hourly upkeep', async () => {
      await withTempDatabase(async (db) => {
        const old = new Pg(db.url, 1);
        const DIR = new URL('../../src/store/postgres/migrations/', import.meta.url);
        const insert = (id: string, appId: string) =>
          old.run(
            `INSERT INTO endpoints (id, app_id, url, description, version, disabled, metadata, headers,
            secrets, created_at, updated_at) VALUES ($1, $2, 'https://example.com/', '', 1, false, '{}', '{}', '[]', 0, 0)`,
            [id, appId],
          );
        try {
          await migrate(old, loadMigrations(DIR).slice(0, 13));
          await old.run(
            `INSERT INTO apps (id, name, metadata, created_at, updated_at) VALUES ('app_1', 'a', '{}', 0, 0)`,
          );
          await insert('ep_live', 'app_1');
          await insert('ep_orphan', 'app_gone');
          const store = await openPostgresStore(db.url, { poolSize: 2 });
          try {
            const ids = async () =>
              (await old.rows<{ id: string }>('SELECT id FROM endpoints ORDER BY id')).map((r) => r.id);
            assert.deepEqual(await ids(), ['ep_live']);
            // A process of the previous release creates one while the app is deleted (rolling upgrade),
            // even after the app's purge.
            await store.apps.delete('app_1', T0);
            while ((await store.apps.purgeDeleted(10)) > 0);
            await insert('ep_late', 'app_1');
            await store.messages.expireBatch(Date.now(), 250);
            assert.deepEqual(await ids(), []);
          } finally {
            await store.close();
          }
        } finally {
          await old.close();
        }
      });
    });

    it("indexes the channels and tags of messages stored before it or by an older release, and deletes an app's with it", async () => {
      await withTempDatabase(async (db) => {
        const old = new Pg(db.url, 1);
        const DIR = new URL('../../src/store/postgres/migrations/', import.meta.url);
        const day = Math.floor(T0 / DAY_MS);
        try {
          await migrate(old, loadMigrations(DIR).slice(0, 8));
          await old.run(`CREATE TABLE ${partitionName('messages', day)} PARTITION OF messages
            FOR VALUES FROM (${day * DAY_MS}) TO (${(day + 1) * DAY_MS})`);
          await old.run(`INSERT INTO apps (id, name, metadata, created_at, updated_at) VALUES ('app_old', 'a', '{}', 0, 0);
            INSERT INTO messages (id, app_id, event_type, channels, tags, payload, created_at, expires_at) VALUES
              ('${newId('msg', T0)}', 'app_old', 'a', '["eu","eu"]', '["t"]', '{}', ${T0}, ${T0 + DAY_MS}),
              ('${newId('msg', T0 + 1)}', 'app_old', 'a', NULL, 'null', '{}', ${T0 + 1}, ${T0 + DAY_MS}),
              ('${newId('msg', T0 + 2)}', 'app_old', 'a', '["us"]', '[]', '{}', ${T0 + 2}, ${T0 + DAY_MS})`);
        } finally {
          await old.close();
        }
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const probe = probePool(db.url);
        const labels = async () =>
          (await probe.query('SELECT kind, value FROM message_labels ORDER BY msg_id, kind, value')).rows.map(
            (r) => `${r.kind}:${r.value}`,
          );
        try {
          const [first, , third] = (await store.messages.list('app_old', { limit: 9, order: 'ascending' }))
            .data;
          const ids = async (channel: string | null, tag: string | null = null) =>
            (await store.messages.list('app_old', { limit: 9, channel, tag })).data.map((m) => m.id);
          assert.deepEqual(await ids('eu'), [first!.id]);
          assert.deepEqual(await ids(null, 't'), [first!.id]);
          assert.deepEqual(await ids('us'), [third!.id]);
          assert.deepEqual(await labels(), ['c:eu', 't:t', 'c:us']);
          // A process of the previous release, still running in a rolling upgrade, inserts as it did.
          const late = newId('msg', T0 + 3);
          await probe.query(`INSERT INTO messages (id, app_id, event_type, channels, tags, payload, created_at,
            expires_at) VALUES ('${late}', 'app_old', 'a', '["us", "eu"]', NULL, '{}', ${T0 + 3}, ${T0 + DAY_MS})`);
          assert.deepEqual(await ids('eu'), [late, first!.id]);
          assert.deepEqual(await ids('us', 't'), []);
          await store.apps.delete('app_old', T0);
          while ((await store.apps.purgeDeleted(1)) > 0);
          assert.deepEqual(await labels(), []);
        } finally {
          await probe.end();
          await store.close();
        }
      });
    });

    it('several processes starting at once migrate once; a newer schema is refused', async () => {
      await withTempDatabase(async (db) => {
        const stores = await Promise.all(
          Array.from({ length: 6 }, () => openPostgresStore(db.url, { poolSize: 1 })),
        );
        const probe = probePool(db.url);
        try {
          const { rows } = await probe.query<{ version: number }>('SELECT version FROM schema_migrations');
          assert.deepEqual(
            rows.map((r) => r.version),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
          );
          assert.equal(await stores[3]!.settings.get('x'), null);
          await probe.query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999-future', 0)",
          );
          await assert.rejects(
            openPostgresStore(db.url),
            /schema version 999 is newer than this release supports/,
          );
        } finally {
          await probe.end();
          await Promise.all(stores.map((s) => s.close()));
        }
      });
    });

    it('an open whose session is ended during migrations fails with StoreUnavailableError', async () => {
      // A server shutting down while a process starts: a caller waits and tries again, as for a refusal.
      await withTempDatabase(async (db) => {
        const probe = probePool(db.url);
        const holder = await probe.connect();
        try {
          await holder.query('SELECT pg_advisory_lock($1, $2)', [LOCK_SPACE, LOCK_MIGRATE]);
          const opening = openPostgresStore(db.url, { poolSize: 1 });
          opening.catch(() => {}); // asserted below
          let waiting: number | undefined;
          for (let i = 0; i < 200 && waiting === undefined; i++) {
            const { rows } = await holder.query<{ pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            );
            waiting = rows[0]?.pid;
            if (waiting === undefined) await new Promise((r) => setTimeout(r, 25));
          }
          assert.ok(waiting, 'the open waits for the migration lock');
          await holder.query('SELECT pg_terminate_backend($1)', [waiting]);
          await assert.rejects(opening, (error: unknown) => {
            assert.ok(error instanceof StoreUnavailableError, String(error));
            assert.equal(error.reason, '57P01');
            return true;
          });
        } finally {
          holder.release();
          await probe.end();
        }
      });
    });

    it('recovers by itself after its connections are killed', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 3 });
        try {
          await store.settings.put('k', 'v');
          assert.ok((await killConnections(db.name)) > 0);
          let value: string | null = null;
          for (let i = 0; i < 20 && value === null; i++) {
            // The first calls may fail (the caller answers 503); the pool then dials new connections.
            value = await store.settings.get('k').catch((error: unknown) => {
              assert.ok(error instanceof Error);
              return null;
            });
            if (value === null) await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(value, 'v');
        } finally {
          await store.close();
        }
      });
    });

    it('a connection that stops answering fails its call after the query timeout (503) and is dropped', async () => {
      await withTempDatabase(async (db) => {
        // Open connections stop forwarding while their sockets stay open, as in a partition or a
        // failover; new connections go through.
        const proxy = await startPgProxy(0);
        // One connection: a dead one kept in the pool would fail every later call.
        const store = await openPostgresStore(viaPort(db, proxy.port), { poolSize: 1, queryTimeoutMs: 500 });
        try {
          await store.settings.put('k', 'v');
          proxy.freeze();
          const started = Date.now();
          await assert.rejects(store.settings.get('k'), StoreUnavailableError);
          assert.ok(Date.now() - started < 5_000, 'failed within the timeout, not when TCP gives up');
          assert.equal(await store.settings.get('k'), 'v', 'a fresh connection serves the next call');
          // The same in a transaction, whose first statement (BEGIN) is the one that waits.
          proxy.freeze();
          await assert.rejects(store.apps.delete(newId('app', T0), T0), StoreUnavailableError);
          assert.equal(await store.apps.delete(newId('app', T0), T0), false, 'and the next transaction');
        } finally {
          await store.close();
          await proxy.close();
        }
      });
    });

    it('once a statement times out, the idle connections go too: the next call opens a fresh one', async () => {
      await withTempDatabase(async (db) => {
        const proxy = await startPgProxy(0);
        const sql = new Pg(viaPort(db, proxy.port), 3, 500);
        try {
          // Three connections at once; idle, each would answer the next call.
          await Promise.all([1, 2, 3].map(() => sql.rows('SELECT pg_sleep(0.05)')));
          assert.equal(proxy.connections(), 3);
          proxy.freeze(); // a partition: all three stop answering, none closes
          await assert.rejects(sql.rows('SELECT 1'), StoreUnavailableError);
          assert.deepEqual(await sql.rows('SELECT 1 AS one'), [{ one: 1 }], 'not another silent one');
          assert.equal(proxy.connections(), 4);
        } finally {
          await sql.close();
          await proxy.close();
        }
      });
    });

    it("the URL's connect_timeout (seconds, as in libpq) sets how long a connection may take", async () => {
      assert.equal(connectTimeoutMs('postgres://u@db/doorbell'), 3_000);
      assert.equal(connectTimeoutMs('postgres://u@db/doorbell?sslmode=require&connect_timeout=10'), 10_000);
      for (const odd of ['0', '-1', 'soon', ''])
        assert.equal(connectTimeoutMs(`postgres://u@db/doorbell?connect_timeout=${odd}`), 3_000, odd);
      await withTempDatabase(async (db) => {
        // The server is not sent it (an unknown startup parameter would be refused).
        const store = await openPostgresStore(`${db.url}?connect_timeout=10`, { poolSize: 1 });
        try {
          await store.settings.put('k', 'v');
          assert.equal(await store.settings.get('k'), 'v');
        } finally {
          await store.close();
        }
      });
    });

    it('serve opens at most --pool-size connections for its calls', async () => {
      await withTempDatabase(async (db) => {
        const opened = await openDatabase(makeConfig({ database: db.url, poolSize: 2 }));
        const locker = probePool(db.url);
        const probe = probePool(db.url);
        const waiting = async () => {
          const { rows } = await probe.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            [db.name],
          );
          return Number(rows[0]?.n);
        };
        const client = await locker.connect();
        try {
          // Every call waits behind the lock, holding its connection: the pool opens all it may.
          await client.query('BEGIN; LOCK TABLE settings IN ACCESS EXCLUSIVE MODE');
          const calls = Array.from({ length: 6 }, (_, i) => opened.store.settings.get(`k${i}`));
          for (let i = 0; i < 50 && (await waiting()) < 2; i++) await new Promise((r) => setTimeout(r, 20));
          await new Promise((r) => setTimeout(r, 200)); // room for a third, were the pool larger
          const seen = await waiting();
          await client.query('COMMIT');
          assert.equal(seen, 2);
          assert.deepEqual(await Promise.all(calls), Array(6).fill(null));
        } finally {
          client.release();
          await Promise.all([locker.end(), probe.end()]);
          await opened.store.close();
        }
      });
    });

    it('a publish whose answer does not come back says it may have been stored, as it was', async () => {
      await withTempDatabase(async (db) => {
        // Once told to, statements go on reaching the server, but its answers are held back.
        const proxy = await startPgProxy(0);
        const store = await openPostgresStore(viaPort(db, proxy.port), { poolSize: 1, queryTimeoutMs: 500 });
        const direct = new Pg(db.url, 1);
        try {
          const now = Date.now();
          const app = mkApp(now, { id: newId('app', now) });
          await store.apps.create(app);
          proxy.freeze('answers');
          const message = mkMessage(app.id, now, { id: newId('msg', now) });
          await assert.rejects(
            store.messages.publish([{ message, endpointIds: [], now }]),
            (error: Error) =>
              error instanceof StoreUnavailableError && /it may have been stored/.test(error.message),
          );
          const stored = await direct.rows('SELECT id FROM messages WHERE id = $1', [message.id]);
          assert.deepEqual(stored, [{ id: message.id }], 'it was: the 503 must not say it is unsent');
        } finally {
          await Promise.all([store.close(), direct.close()]);
          await proxy.close();
        }
      });
    });

    /** An endpoint whose last `n` ms each hold a failed task, its message's payload stored. */
    async function failed(store: Store, sql: Pg, n: number) {
      const { app, eps } = await seed(store, 1, 0);
      const now = Date.now();
      const ids = Array.from({ length: n }, (_, i) => newId('msg', now - n + i));
      const at = `$3::bigint - ${n + 1} + g`; // the time its message id holds
      await sql.run(
        `INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
          SELECT id, $2, 'a', '{}', ${at}, $3::bigint + ${DAY_MS} FROM unnest($1::text[]) WITH ORDINALITY u(id, g)`,
        [ids, app.id, now],
      );
      await sql.run(
        `INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts, next_at,
            lease_until, created_at, updated_at)
          SELECT 'task_' || g, $2, id, ${at}, $4, 2, 1, NULL, NULL, ${at}, 0
          FROM unnest($1::text[]) WITH ORDINALITY u(id, g)`,
        [ids, app.id, now, eps[0]],
      );
      return { app, ep: eps[0]!, now };
    }

    /** Resolves once a session on database `name` waits for a lock. */
    const lockWaited = (sql: Pg, name: string, what: string) =>
      until(what, async () => {
        const row = await sql.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
          [name],
        );
        return row!.n > 0;
      });

    /** Tasks pending or sending, on any endpoint. */
    const undelivered = async (sql: Pg) =>
      (await sql.one<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE status IN (1, 3)'))!.n;

    it('a recovery beside a delete of its endpoint waits for it, and leaves nothing of it pending', async () => {
      await withStore({ poolSize: 2 }, async (store, sql, db) => {
        const other = probePool(db.url);
        const deleting = await other.connect();
        try {
          const { ep, now } = await failed(store, sql, 100);
          // The endpoint delete's transaction, as endpoints.delete runs it, not committed yet.
          await deleting.query('BEGIN');
          await deleting.query('DELETE FROM endpoints WHERE id = $1', [ep]);
          await deleting.query('DELETE FROM tasks WHERE endpoint_id = $1 AND status IN (1, 3)', [ep]);
          const recovering = store.tasks.recover(ep, now - 100, now, now);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await deleting.query('COMMIT');
          assert.equal(await recovering, 0);
          assert.equal(await undelivered(sql), 0);
        } finally {
          deleting.release();
          await other.end();
        }
      });
    });

    it('a publish beside a delete of one of its endpoints does not wait for it; a task it leaves is never sent', async () => {
      await withStore({ poolSize: 2 }, async (store, _sql, db) => {
        const other = probePool(db.url);
        const deleting = await other.connect();
        try {
          const { app, eps } = await seed(store, 2, 1); // also creates the day's partitions
          const [kept, gone] = [eps[0]!, eps[1]!];
          // The endpoint delete's transaction, as endpoints.delete runs it, not committed yet: it holds the
          // endpoint's row for as long as a dead endpoint's backlog of tasks takes to delete.
          await deleting.query('BEGIN');
          await deleting.query('DELETE FROM endpoints WHERE id = $1', [gone]);
          await deleting.query('DELETE FROM tasks WHERE endpoint_id = $1 AND status IN (1, 3)', [gone]);
          const m = message(app.id, T0);
          const publishing = store.messages.publish([{ message: m, endpointIds: eps, now: T0 }]);
          const held = new Promise((resolve) => setTimeout(resolve, 5000, 'held'));
          assert.deepEqual(await Promise.race([publishing, held]), [{ ok: true }]);
          await deleting.query('COMMIT');
          const claimed = await store.tasks.claimDue({
            now: T0,
            limit: 10,
            leaseMs: 60_000,
            perEndpoint: 10,
          });
          assert.deepEqual(
            claimed.filter((c) => c.message.id === m.id).map((c) => c.endpoint.id),
            [kept],
          );
          assert.equal((await store.tasks.get(m.id, gone))?.status, 'fail');
        } finally {
          deleting.release();
          await other.end();
        }
      });
    });

    it('a claim that finds an endpoint gone deletes all its pending tasks (a delete cut short by a crash)', async () => {
      await withStore({ poolSize: 2 }, async (store, sql) => {
        const { eps } = await seed(store, 1, 2500); // more than a chunk
        // The endpoint's row was deleted, its tasks were not yet.
        await sql.run('DELETE FROM endpoints WHERE id = $1', [eps[0]]);
        const claimed = await store.tasks.claimDue({ now: T0, limit: 10, leaseMs: 60_000, perEndpoint: 10 });
        assert.deepEqual(claimed, []);
        const left = async () =>
          (await sql.one<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE status IN (1, 3)'))!.n;
        await until('its pending tasks are gone', async () => (await left()) === 0);
      });
    });

    it("an app delete holds no lock while it deletes its endpoints' pending tasks: publishes go on", async () => {
      await withStore({ poolSize: 3 }, async (store, sql, db) => {
        const other = probePool(db.url);
        const blocker = await other.connect();
        try {
          const { app, eps } = await seed(store, 1, 3);
          const bystander = await seed(store, 1, 0);
          // One of the pending tasks is locked by another transaction: the deletion of the endpoint's
          // backlog waits there, as it would take its time over a dead endpoint's millions.
          await blocker.query('BEGIN');
          await blocker.query('SELECT 1 FROM tasks WHERE id = (SELECT min(id) FROM tasks) FOR UPDATE');
          const deleting = store.apps.delete(app.id, T0);
          await lockWaited(sql, db.name, 'the delete to wait for a lock');
          const held = new Promise((resolve) => setTimeout(resolve, 5000, 'held'));
          const publish = (appId: string, endpointId: string) =>
            Promise.race([
              store.messages.publish([{ message: message(appId, T0), endpointIds: [endpointId], now: T0 }]),
              held,
            ]);
          assert.deepEqual(await publish(bystander.app.id, bystander.eps[0]!), [{ ok: true }]);
          assert.deepEqual(await publish(app.id, eps[0]!), [{ ok: false, conflict: 'appDeleted' }]);
          await blocker.query('COMMIT');
          assert.equal(await deleting, true);
          const left = await sql.one<{ n: number }>(
            'SELECT count(*)::int AS n FROM tasks WHERE endpoint_id = $1 AND status IN (1, 3)',
            [eps[0]],
          );
          assert.equal(left!.n, 0);
        } finally {
          blocker.release();
          await other.end();
        }
      });
    });

    it('an app delete beside a recovery leaves nothing of its endpoints pending', async () => {
      await withStore({ poolSize: 3 }, async (store, sql, db) => {
        const other = probePool(db.url);
        const blocker = await other.connect();
        try {
          const { app, ep, now } = await failed(store, sql, 1000);
          // The delete is held at the endpoint's row, which another transaction has locked (as a slot
          // reservation or a health mark does), while the recovery runs.
          await blocker.query('BEGIN');
          await blocker.query('SELECT 1 FROM endpoints WHERE id = $1 FOR NO KEY UPDATE', [ep]);
          const deleting = store.apps.delete(app.id, now);
          await lockWaited(sql, db.name, 'the delete to wait for a lock');
          await store.tasks.recover(ep, now - 1000, now, now);
          await blocker.query('COMMIT');
          assert.equal(await deleting, true);
          assert.equal(await undelivered(sql), 0);
        } finally {
          blocker.release();
          await other.end();
        }
      });
    });

    it('a recovery of 100,000 failed tasks goes in chunks, each well within the statement timeout', async () => {
      // A statement may take 0.9 s: as one statement, the recovery took about 3 s.
      await withStore({ poolSize: 1, queryTimeoutMs: 1000 }, async (store, sql) => {
        const { ep, now } = await failed(store, sql, 100_000);
        assert.equal(await store.tasks.recover(ep, now - 100_000, now, now), 100_000);
        const due = await sql.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM tasks WHERE status = 1 AND next_at = $1',
          [now],
        );
        assert.equal(due!.n, 100_000);
      });
    });

    /** `n` tasks of a new endpoint of rate 1/s, put back an hour ahead to wait for their rate slots. */
    async function waiting(store: Store, sql: Pg, n: number) {
      const app = mkApp(T0, { metadata: {} });
      const ep = mkEndpoint(app.id, T0, { headers: {}, rateLimit: 1 });
      await store.apps.create(app);
      await store.endpoints.create(ep);
      const now = Date.now();
      await sql.run(
        `INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts, next_at,
            lease_until, created_at, updated_at, rate_wait)
          SELECT 'task_' || lpad(g::text, 26, '0'), $1, m.id, $3, $2, 1, 1, $3::bigint + 3600000, NULL, $3, $3, 1
          FROM generate_series(1, $4) g, LATERAL (SELECT 'msg_' || lpad(g::text, 26, '0') AS id) m`,
        [app.id, ep.id, now, n],
      );
      await sql.run(
        `INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
          SELECT 'msg_' || lpad(g::text, 26, '0'), $1, 'a', '{}', $2, $2::bigint + ${DAY_MS} FROM generate_series(1, $3) g`,
        [app.id, now, n],
      );
      return { app, ep, now };
    }

    it('a rate change frees 100,000 waiting tasks in chunks, each well within the statement timeout', async () => {
      // A statement may take 0.9 s: as one statement, freeing them took about 2.3 s.
      await withStore({ poolSize: 1, queryTimeoutMs: 1000 }, async (store, sql) => {
        const { app, ep, now } = await waiting(store, sql, 100_000);
        assert.equal(await store.endpoints.resetRate(app.id, ep.id, now), 100_000);
        const due = await sql.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM tasks WHERE status = 1 AND next_at = $1 AND rate_wait = 0',
          [now],
        );
        assert.equal(due!.n, 100_000);
      });
    });

    it('a task put back to wait during a rate change keeps the slot it took at the new rate', async () => {
      await withStore({ poolSize: 3 }, async (store, sql, db) => {
        const other = probePool(db.url);
        const blocker = await other.connect();
        try {
          const { app, ep, now } = await waiting(store, sql, 5000);
          // A new message's task (its id after every waiting one), claimed before the change.
          const message = mkMessage(app.id, now, { id: newId('msg', now) });
          await store.messages.publish([{ message, endpointIds: [ep.id], now: now - 1000 }]);
          const [claimed] = await store.tasks.claimDue({ now, limit: 1, leaseMs: 30_000, perEndpoint: 1 });
          assert.equal(claimed?.message.id, message.id);
          // The walk is held in its second chunk, on a task another transaction has locked.
          await blocker.query('BEGIN');
          await blocker.query(`SELECT 1 FROM tasks WHERE id = 'task_' || lpad('3000', 26, '0') FOR UPDATE`);
          const resetting = store.endpoints.resetRate(app.id, ep.id, now);
          await lockWaited(sql, db.name, 'the walk to wait for a lock');
          // Its attempt ends: the rate gate takes a slot at the new rate and puts the task back to wait.
          const putBack = (async () => {
            const slot = await store.endpoints.reserveSlot(ep.id, now);
            await store.tasks.release(claimed!.task.id, claimed!.task.leaseUntil, slot);
            return slot;
          })();
          await new Promise((resolve) => setTimeout(resolve, 200));
          await blocker.query('COMMIT');
          assert.equal(await resetting, 5000);
          const slot = await putBack;
          const after = await store.tasks.get(message.id, ep.id);
          assert.deepEqual([after?.nextAt, after?.rateSlot], [slot, true]);
        } finally {
          blocker.release();
          await other.end();
        }
      });
    });

    it('a statement past the timeout is stopped by the server too (503); a migration has no timeout', async () => {
      await withTempDatabase(async (db) => {
        const sql = new Pg(db.url, 1, 500);
        const probe = new Pg(db.url, 1);
        try {
          await assert.rejects(sql.run('SELECT pg_sleep(3)'), StoreUnavailableError);
          const running = await probe.rows(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'",
          );
          assert.deepEqual(running, [], 'the abandoned statement no longer runs');
          const slow = { version: 1, name: 'slow', sql: 'SELECT pg_sleep(1)' };
          assert.equal(await migrate(sql, [slow]), 1);
          await assert.rejects(
            sql.run('SELECT pg_sleep(3)'),
            StoreUnavailableError,
            'the timeout is back after',
          );
        } finally {
          await Promise.all([sql.close(), probe.close()]);
        }
      });
    });

    it('a transaction left idle (its process paused) is ended by the server, and its locks freed', async () => {
      await withTempDatabase(async (db) => {
        const sql = new Pg(db.url, 1, 500); // idle at most 450 ms in a transaction
        const probe = new Pg(db.url, 1);
        try {
          const paused = sql.tx(async (tx) => {
            await tx.one('SELECT pg_try_advisory_xact_lock(42)');
            await new Promise((resolve) => setTimeout(resolve, 1_500)); // paused between two statements
            await tx.run('SELECT 1');
          });
          paused.catch(() => {}); // asserted below
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          const during = await probe.one('SELECT pg_try_advisory_xact_lock(42) AS taken');
          assert.deepEqual(during, { taken: true }, 'free while the holder is still paused');
          await assert.rejects(paused, StoreUnavailableError);
          assert.deepEqual(await sql.one('SELECT 1 AS one'), { one: 1 }, 'the pool goes on');
        } finally {
          await Promise.all([sql.close(), probe.close()]);
        }
      });
    });

    it('a connection killed while checked out fails that call, not the process; the next call works', async () => {
      await withTempDatabase(async (db) => {
        const sql = new Pg(db.url, 1);
        try {
          await assert.rejects(
            sql.session(async (client) => {
              await client.query('SELECT 1');
              const lost = new Promise((resolve) => client.once('error', resolve));
              await killConnections(db.name);
              await lost; // the kill arrived between two statements
              await client.query('SELECT 1');
            }),
          );
          assert.deepEqual(await sql.one('SELECT 1 AS one'), { one: 1 });
        } finally {
          await sql.close();
        }
      });
    });

    it('an app delete waits for a publish that holds the app, then removes what it stored', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 3 });
        const probe = probePool(db.url);
        const other = probePool(db.url);
        const publishing = await other.connect();
        try {
          const { app } = await seed(store, 1, 1); // also creates the day's partitions
          // A publish statement in flight: it has key-share locked the app and inserted, not yet committed.
          const m = message(app.id, T0);
          await publishing.query('BEGIN');
          await publishing.query('SELECT 1 FROM apps WHERE id = $1 FOR KEY SHARE', [app.id]);
          await publishing.query(
            `INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)`,
            [m.id, app.id, m.eventType, m.payload, m.createdAt, m.expiresAt],
          );
          const deleting = store.apps.delete(app.id, T0);
          const waiting = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
          for (let i = 0; (await probe.query(waiting)).rows[0].n === 0; i++) {
            assert.ok(i < 500, 'the delete never waited for the publish');
            await new Promise((r) => setTimeout(r, 10));
          }
          await publishing.query('COMMIT');
          assert.equal(await deleting, true);
          await purgeAll(store);
          const left = await probe.query('SELECT count(*)::int AS n FROM messages WHERE app_id = $1', [
            app.id,
          ]);
          assert.equal(left.rows[0].n, 0);
        } finally {
          publishing.release();
          await Promise.all([probe.end(), other.end()]);
          await store.close();
        }
      });
    });

    /** An app of 5 messages with eventIds, one of them attempted, deleted: what its purge must remove. */
    async function deletedApp(store: Store) {
      const { app, eps } = await seed(store, 1, 0);
      const items = Array.from({ length: 5 }, (_, i) => ({
        message: message(app.id, T0, { eventId: `evt-${i}` }),
        endpointIds: eps,
        now: T0,
      }));
      await store.messages.publish(items);
      const [claimed] = await store.tasks.claimDue({
        now: T0,
        limit: 1,
        leaseMs: 30_000,
        perEndpoint: 1,
      });
      const at = T0 + 1;
      await store.tasks.finish([
        {
          taskId: claimed!.task.id,
          lease: claimed!.task.leaseUntil,
          now: at,
          next: { status: 'success' },
          attempt: {
            id: newId('atmpt', at),
            appId: app.id,
            msgId: claimed!.message.id,
            endpointId: eps[0]!,
            url: 'https://example.com/',
            status: 'success',
            responseStatusCode: 200,
            response: 'ok',
            responseDurationMs: 1,
            triggerType: 'scheduled',
            createdAt: at,
          },
        },
      ]);
      assert.equal(await store.apps.delete(app.id, at), true);
      return app;
    }
    const leftOf = async (probe: ReturnType<typeof probePool>, appId: string) => {
      const left: Record<string, number> = {};
      for (const table of ['messages', 'message_event_ids', 'tasks', 'attempts']) {
        const { rows } = await probe.query(`SELECT count(*)::int AS n FROM ${table} WHERE app_id = $1`, [
          appId,
        ]);
        left[table] = rows[0].n;
      }
      const { rows } = await probe.query('SELECT count(*)::int AS n FROM deleted_apps');
      return { ...left, deleted_apps: rows[0].n };
    };
    const none = { messages: 0, message_event_ids: 0, tasks: 0, attempts: 0, deleted_apps: 0 };

    it('purging a deleted app removes its messages, eventIds, tasks and attempts, a batch at a time', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const probe = probePool(db.url);
        try {
          const app = await deletedApp(store);
          // The attempt, messages 2 + 2 + 1, eventIds 2 + 2 + 1, then the app's record.
          assert.equal(await purgeAll(store, 2), 8);
          assert.deepEqual(await leftOf(probe, app.id), none);
        } finally {
          await probe.end();
          await store.close();
        }
      });
    });

    it('a purge begun by this release and finished by the previous one (a rolling upgrade) leaves nothing', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const probe = probePool(db.url);
        try {
          const app = await deletedApp(store);
          assert.ok((await store.apps.purgeDeleted(5)) > 0);
          // The previous release's batches: messages with their tasks and attempts, then eventIds, then
          // the app's record once neither is left.
          for (;;) {
            const { rows } = await probe.query(
              `WITH m AS (DELETE FROM messages WHERE (id, created_at) IN
                (SELECT id, created_at FROM messages WHERE app_id = $1 LIMIT 5) RETURNING id),
              t AS (DELETE FROM tasks WHERE msg_id IN (SELECT id FROM m)),
              a AS (DELETE FROM attempts WHERE msg_id IN (SELECT id FROM m))
              SELECT count(*)::int AS n FROM m`,
              [app.id],
            );
            if (rows[0].n > 0) continue;
            const ids = await probe.query('DELETE FROM message_event_ids WHERE app_id = $1', [app.id]);
            if (ids.rowCount! > 0) continue;
            await probe.query('DELETE FROM deleted_apps WHERE id = $1', [app.id]);
            break;
          }
          assert.deepEqual(await leftOf(probe, app.id), none);
        } finally {
          await probe.end();
          await store.close();
        }
      });
    });

    it('NOTIFY wakes listeners of other processes, and the listener reconnects by itself', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const wakes: Array<() => void> = [];
        const woken = () => new Promise<void>((resolve) => wakes.push(resolve));
        const listener = await listen(db.url, TASKS_CHANNEL, () => {
          for (const w of wakes.splice(0)) w();
        });
        try {
          const { app, eps } = await seed(store, 1, 0);
          let wake = woken();
          await store.messages.publish([{ message: message(app.id, T0), endpointIds: eps, now: T0 }]);
          await wake;
          wake = woken();
          await killConnections(db.name); // the listener's connection too
          await wake; // called once after reconnecting
          wake = woken();
          const m = message(app.id, T0);
          for (;;) {
            // The store's pool may need a try to notice its connections are gone.
            const ok = await store.messages.publish([{ message: m, endpointIds: eps, now: T0 }]).then(
              () => true,
              () => false,
            );
            if (ok) break;
          }
          await wake;
          wake = woken();
          await store.tasks.resend(app.id, m.id, eps[0]!, T0 + 1);
          await wake;
        } finally {
          await listener.close();
          await store.close();
        }
      });
    });
  });

  describe('postgres store: a LISTEN connection that stops answering', () => {
    it('is found out by its heartbeat and replaced, and the listener is called once reconnected', async () => {
      await withTempDatabase(async (db) => {
        const proxy = await startPgProxy(0);
        const calls: string[] = [];
        const listener = await listen(viaPort(db, proxy.port), TASKS_CHANNEL, (p) => calls.push(p), 200);
        const direct = new Pg(db.url, 1);
        try {
          await direct.run(`NOTIFY ${TASKS_CHANNEL}, 'before'`);
          await until('the notification', () => calls.includes('before'));
          proxy.freeze(); // no error, no close: only the heartbeat can tell
          await until('the call after reconnecting', () => calls.includes(''), 10_000);
          await direct.run(`NOTIFY ${TASKS_CHANNEL}, 'after'`);
          await until('a notification on the new connection', () => calls.includes('after'));
          assert.equal(proxy.connections(), 2);
        } finally {
          await listener.close();
          await direct.close();
          await proxy.close();
        }
      });
    });
  });

  describe('postgres store: a rolling upgrade', () => {
    it("a previous release's response to an expired key names no request: the hash before it is not kept", async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 2 });
        const probe = probePool(db.url);
        try {
          const T0 = Date.now();
          await store.idempotency.put('k', { statusCode: 202, body: '{"id":"a"}', request: 'H1' }, T0);
          // The previous release's statements, which know nothing of the request column.
          await probe.query(
            `INSERT INTO idempotency (key, status_code, body, expires_at) VALUES ('k', 0, 'old', $1)
             ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
             expires_at = excluded.expires_at`,
            [T0 + 60_000],
          );
          await probe.query(
            `UPDATE idempotency SET status_code = 202, body = '{"id":"b"}', expires_at = $1 WHERE key = 'k'`,
            [T0 + 60_000],
          );
          assert.deepEqual(await store.idempotency.begin('k', 'new', T0 + 1, T0 + 61), {
            state: 'done',
            response: { statusCode: 202, body: '{"id":"b"}', request: null },
          });
        } finally {
          await probe.end();
          await store.close();
        }
      });
    });
  });

  describe('postgres store: commits of the worker', () => {
    const T0 = Date.now();
    /** Notes each transaction's synchronous_commit as it stands just before its commit. */
    class Watching extends Pg {
      readonly seen: string[] = [];
      override tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
        return super.tx(async (sql) => {
          const value = await fn(sql);
          const row = await sql.one<{ synchronous_commit: string }>('SHOW synchronous_commit');
          this.seen.push(row!.synchronous_commit);
          return value;
        });
      }
    }

    it('claims and finishes commit without waiting for the WAL flush; publishes wait for it', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 1 });
        const sql = new Watching(db.url, 1);
        try {
          const app = mkApp(T0, { id: newId('app', T0) });
          await store.apps.create(app);
          const ep = mkEndpoint(app.id, T0, { id: newId('ep', T0) });
          await store.endpoints.create(ep);
          const m = mkMessage(app.id, T0, { id: newId('msg', T0) });
          const message = {
            ...m,
            app_id: m.appId,
            event_type: m.eventType,
            created_at: T0,
            expires_at: T0 + 1,
          };
          const task = {
            id: newId('task', T0),
            app_id: app.id,
            msg_id: m.id,
            msg_created_at: T0,
            endpoint_id: ep.id,
            now: T0,
            due_at: T0,
          };
          await sql.tx((s) => s.rows(PUBLISH, [JSON.stringify([message]), JSON.stringify([task]), '[]']));
          const options = { now: T0, limit: 10, leaseMs: 30_000, perEndpoint: 10 };
          const claimed = await claimDue(sql, options, { after: '', turn: 0, recent: [] }, () => {});
          assert.equal(claimed.length, 1);
          const attempt = {
            id: newId('atmpt', T0),
            app_id: app.id,
            msg_id: m.id,
            msg_created_at: T0,
            endpoint_id: ep.id,
            url: ep.url,
            status: 0,
            response_status_code: 204,
            response: '',
            response_duration_ms: 1,
            trigger_type: 0,
            created_at: T0,
          };
          const finish = [{ ...attempt, i: 0, task_id: task.id, next_status: 0, now: T0 }];
          await sql.tx((s) => s.rows(FINISH, [JSON.stringify(finish)]));
          assert.deepEqual(sql.seen, ['on', 'off', 'off'], 'publish, claim, finish');
        } finally {
          await sql.close();
          await store.close();
        }
      });
    });
  });

  describe('postgres store: plans of the hot statements', () => {
    const T0 = Date.UTC(2024, 0, 10, 12);
    type PlanNode = {
      'Node Type': string;
      'Relation Name'?: string;
      'Actual Rows'?: number;
      'Index Name'?: string;
      Plans?: PlanNode[];
    };
    /** The relations a plan reads with a sequential scan. */
    const seqScans = (node: PlanNode): string[] => [
      ...(node['Node Type'] === 'Seq Scan' ? [node['Relation Name'] ?? '?'] : []),
      ...(node.Plans ?? []).flatMap(seqScans),
    ];
    const explain = async (sql: Pg, text: string, params: unknown[]): Promise<string[]> => {
      const [row] = await sql.rows<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) ${text}`,
        params,
      );
      return seqScans(row!['QUERY PLAN'][0].Plan);
    };

    it('a list filtered by channel or tag reads its rows in order; by both, it starts from the rarer', async () => {
      await withTempDatabase(async (db) => {
        const store = await openPostgresStore(db.url, { poolSize: 1 });
        const lists: Array<[string, unknown[]]> = [];
        class Recording extends Pg {
          override rows<T = Row>(text: string | Stmt, params?: unknown[]): Promise<T[]> {
            if (typeof text === 'string' && text.includes('message_labels l'))
              lists.push([text, params ?? []]);
            return super.rows<T>(text, params);
          }
        }
        const sql = new Recording(db.url, 1);
        try {
          // 20,000 messages on channel `common` with tag `all`; three of them on channel `rare` too.
          const at = Date.now();
          await sql.run(`INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
            SELECT 'msg_' || lpad(g::text, 26, '0'), 'app_1', 'a', '{}', ${at}, ${at} FROM generate_series(1, 20000) g`);
          await sql.run(`INSERT INTO message_labels (app_id, kind, value, msg_id, created_at)
            SELECT 'app_1', k.kind, k.value, m.id, m.created_at FROM messages m, (VALUES ('c', 'common'), ('t', 'all')) k(kind, value)
            UNION ALL SELECT 'app_1', 'c', 'rare', id, created_at FROM messages WHERE id IN (SELECT id FROM messages LIMIT 3)`);
          await sql.run('ANALYZE messages, message_labels');
          const messages = messagesSql(sql, publisher(sql, new Partitions(sql)), async () => {});
          for (const query of [
            { channel: 'common' },
            { tag: 'all' },
            { channel: 'common', tag: 'all' },
            { channel: 'rare', tag: 'all' },
            { channel: 'common', tag: 'none' },
          ]) {
            lists.length = 0;
            await messages.list('app_1', { limit: 10, ...query });
            const [text, params] = lists[0]!;
            const [row] = await sql.rows<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
              `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
              params,
            );
            const most = (node: PlanNode): number =>
              Math.max(node['Actual Rows'] ?? 0, ...(node.Plans ?? []).map(most));
            // Not every message of the label (20,000), nor each of them sorted.
            assert.ok(
              most(row!['QUERY PLAN'][0].Plan) <= 11,
              `${JSON.stringify(query)}: ${JSON.stringify(row)}`,
            );
          }
        } finally {
          await sql.close();
          await store.close();
        }
      });
    });

    it("deleting a message reads its own labels only, not the application's", async () => {
      await withStore({ poolSize: 1 }, async (_store, sql) => {
        const at = Date.now();
        await sql.run(`INSERT INTO messages (id, app_id, event_type, channels, tags, payload, created_at, expires_at)
        SELECT 'msg_' || lpad(g::text, 26, '0'), 'app_1', 'a', jsonb_build_array('c' || g % 50, 'd' || g % 7),
          jsonb_build_array('t' || g % 70), '{}', ${at}, ${at} FROM generate_series(1, 20000) g`);
        // Not analyzed, as a new day's partition is until autovacuum gets to it: the planner guesses.
        // Index pages of message_labels read so far, as this connection's statistics count them.
        const pages = async () => {
          await sql.run('SELECT pg_stat_force_next_flush()');
          const row = await sql.one<{ n: string }>(`SELECT sum(idx_blks_hit + idx_blks_read) AS n
          FROM pg_statio_user_indexes WHERE relname LIKE 'message_labels%'`);
          return Number(row!.n);
        };
        const before = await pages();
        // 50 in one statement: past its fifth call, the trigger runs a generic plan (it read 41,000
        // pages when it joined the labels to the function's rows).
        await sql.run(`DELETE FROM messages WHERE id IN
        (SELECT 'msg_' || lpad(g::text, 26, '0') FROM generate_series(1001, 1050) g)`);
        const read = (await pages()) - before;
        // A few levels per label, three labels per message; the application's day is hundreds of pages.
        assert.ok(read <= 50 * 15, `index pages read: ${read}`);
        const left = await sql.one<{ n: number }>('SELECT count(*)::int AS n FROM message_labels');
        assert.equal(left!.n, 3 * (20000 - 50));
      });
    });

    /** Rows of these tables (messages and attempts: every day's) `sql`'s one connection has read, as its statistics count them. */
    const rowsRead = async (sql: Pg, tables = ['messages', 'attempts']): Promise<number> => {
      await sql.run('SELECT pg_stat_force_next_flush()');
      const row = await sql.one<{ n: string }>(
        `SELECT sum(seq_tup_read + coalesce(idx_tup_fetch, 0)) AS n FROM pg_stat_user_tables
          WHERE relname LIKE ANY (SELECT t || '%' FROM unnest($1::text[]) t)`,
        [tables],
      );
      return Number(row!.n);
    };

    it('lists filtered by thousands of event types answer well within the statement timeout', async () => {
      await withTempDatabase(async (db) => {
        // A statement may take 0.9 s: one subquery per type took seconds to plan (3,800 fit in a request).
        const store = await openPostgresStore(db.url, { poolSize: 1, queryTimeoutMs: 1000 });
        try {
          const app = mkApp(T0, { metadata: {} });
          const ep = mkEndpoint(app.id, T0, { headers: {} });
          await store.apps.create(app);
          await store.endpoints.create(ep);
          const m = mkMessage(app.id, Date.now(), { eventType: 'c' });
          await store.messages.publish([{ message: m, endpointIds: [ep.id], now: m.createdAt }]);
          const eventTypes = [...Array.from({ length: 3800 }, (_, i) => `t${i}`), 'c'];
          const lists = [
            store.messages.list(app.id, { limit: 10, eventTypes }),
            store.tasks.listForEndpoint(ep.id, { limit: 10, eventTypes }),
            store.attempts.list(app.id, { limit: 10, eventTypes, endpointId: ep.id }),
          ];
          assert.deepEqual(
            (await Promise.all(lists)).map((page) => page.data.length),
            [1, 1, 0],
          );
        } finally {
          await store.close();
        }
      });
    });

    it("an endpoint's lists filtered by status, channel or event type read a page's rows, not its history", async () => {
      await withStore({ poolSize: 1 }, async (store, sql) => {
        // 20,000 deliveries of one endpoint over the 20 whole days before today, each with its attempt;
        // one in 1,000 failed, on the channel `rare` and of the type `rare`, the others on `common`.
        await store.apps.create(mkApp(T0, { id: 'app_1', metadata: {} }));
        await store.endpoints.create(mkEndpoint('app_1', T0, { id: 'ep_1', headers: {} }));
        const first = Math.floor(Date.now() / DAY_MS) - 20;
        await new Partitions(sql).ensureFor(Array.from({ length: 21 }, (_, d) => (first + d) * DAY_MS));
        const rows = `FROM generate_series(1, 20000) g, LATERAL (SELECT lpad(g::text, 26, '0') AS n,
        ${first * DAY_MS} + g::bigint * ${DAY_MS / 1000} AS t, (CASE WHEN g % 1000 = 0 THEN 2 ELSE 0 END) AS s) x`;
        await sql.run(`INSERT INTO messages (id, app_id, event_type, channels, payload, created_at, expires_at)
        SELECT 'msg_' || n, 'app_1', CASE WHEN s = 2 THEN 'rare' ELSE 'a' END,
          CASE WHEN s = 2 THEN '["rare"]'::jsonb ELSE '["common"]'::jsonb END, '{}', t, t + ${100 * DAY_MS} ${rows}`);
        await sql.run(`INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
        SELECT 'task_' || n, 'app_1', 'msg_' || n, t, 'ep_1', s, 1, NULL, NULL, t, t ${rows}`);
        await sql.run(`INSERT INTO attempts (id, app_id, msg_id, msg_created_at, endpoint_id, url, status,
          response_status_code, response, response_duration_ms, trigger_type, created_at)
        SELECT 'atmpt_' || n, 'app_1', 'msg_' || n, t, 'ep_1', 'https://example.com/', s, 500, '', 1, 0, t ${rows}`);
        const tables = ['tasks', 'messages', 'message_labels', 'attempts'];
        // On `sql`'s connection, whose reads rowsRead counts.
        const [tasks, attempts] = [tasksSql(sql, new Partitions(sql)), attemptsSql(sql)];
        // Which of a channel and event types is rare is counted, up to 10,000 messages each.
        const queries: Array<[TaskQuery & AttemptQuery, number, number]> = [
          [{ limit: 50 }, 50, 500],
          [{ limit: 50, status: 'fail' }, 20, 500],
          [{ limit: 50, channel: 'rare' }, 20, 500],
          [{ limit: 50, eventTypes: ['rare', 'other'] }, 20, 500],
          [{ limit: 50, channel: 'common' }, 50, 10_000 + 500],
          [{ limit: 50, channel: 'common', eventTypes: ['rare'] }, 0, 10_000 + 500],
        ];
        for (const analyzed of [false, true]) {
          if (analyzed) await sql.run('ANALYZE');
          for (const [query, n, most] of queries) {
            const attemptQuery = {
              ...query,
              endpointId: 'ep_1',
              status: query.status === 'fail' ? 'fail' : null,
            } as const;
            for (const [what, list] of [
              ['deliveries', () => tasks.listForEndpoint('ep_1', query)],
              ['attempts', () => attempts.list('app_1', attemptQuery)],
            ] as const) {
              const before = await rowsRead(sql, tables);
              assert.equal((await list()).data.length, n);
              const read = (await rowsRead(sql, tables)) - before;
              const about = `${what} ${JSON.stringify(query)} of 20,000 (analyzed: ${analyzed})`;
              // Unanalyzed, the walk through an endpoint's attempts reads them all and sorts them (the
              // planner guesses each day's partition holds a few): the sweep analyzes them (test below).
              const walk = !query.status && !query.eventTypes && query.channel !== 'rare';
              if (what === 'attempts' && !analyzed && walk) continue;
              assert.ok(read <= most, `rows read listing ${about}: ${read}`);
            }
          }
        }
      });
    });

    it("the sweep analyzes the days whose rows changed: an endpoint's attempts page then reads a page", async () => {
      await withStore({ poolSize: 2 }, async (store, sql, db) => {
        // 20,000 attempts of one endpoint, 1,000 a day over the 20 whole days before today, and one today.
        const first = Math.floor(Date.now() / DAY_MS) - 20;
        const days = Array.from({ length: 21 }, (_, d) => first + d);
        await new Partitions(sql).ensureFor(days.map((d) => d * DAY_MS));
        await sql.run(`INSERT INTO attempts (id, app_id, msg_id, msg_created_at, endpoint_id, url, status,
          response_status_code, response, response_duration_ms, trigger_type, created_at)
        SELECT 'atmpt_' || lpad(g::text, 26, '0'), 'app_1', 'msg_' || g, t, 'ep_1', 'https://example.com/', 0,
          200, '', 1, 0, t FROM generate_series(1, 20000) g,
          LATERAL (SELECT ${first * DAY_MS} + (g - 1)::bigint * ${DAY_MS / 1000} AS t) x`);
        await sql.run(
          `INSERT INTO attempts (id, app_id, msg_id, msg_created_at, endpoint_id, url, status,
          response_status_code, response, response_duration_ms, trigger_type, created_at)
          VALUES ('atmpt_today', 'app_1', 'msg_today', $1, 'ep_1', 'https://example.com/', 0, 200, '', 1, 0, $1)`,
          [(first + 20) * DAY_MS],
        );
        const attempts = attemptsSql(sql); // on `sql`'s connection, whose reads rowsRead counts
        const pageRead = async () => {
          const before = await rowsRead(sql, ['attempts']);
          const page = await attempts.list('app_1', { limit: 50, endpointId: 'ep_1', status: null });
          assert.equal(page.data.length, 50);
          return (await rowsRead(sql, ['attempts'])) - before;
        };
        // Not analyzed, the planner guesses a few rows a day: it reads every day and sorts them.
        const unanalyzed = await pageRead();
        assert.ok(unanalyzed > 10_000, `rows read unanalyzed: ${unanalyzed}`);

        // Today's one row is below the threshold; messages and labels did not change.
        const changed = days.slice(0, 20).map((d) => partitionName('attempts', d));
        const newestFirst = [...changed].reverse();
        const other = new Pg(db.url, 1);
        try {
          // While another process analyzes (holds the lock), this one leaves the work to it.
          await other.tx(async (held) => {
            await held.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, LOCK_ANALYZE]);
            assert.deepEqual(await new Partitions(sql).analyze(), []);
          });
          // A run stops once past its time (10 s): here the first took 20 s.
          const clock = [0, 0, 20_000];
          assert.deepEqual(await new Partitions(sql).analyze(() => clock.shift()!), newestFirst.slice(0, 1));
          // A partition that autovacuum (here a lock like its own) holds is left to the next run.
          await other.tx(async (held) => {
            await held.run(`LOCK TABLE ${newestFirst[1]} IN SHARE UPDATE EXCLUSIVE MODE`);
            assert.deepEqual(await new Partitions(sql).analyze(), newestFirst.slice(2));
          });
        } finally {
          await other.close();
        }
        await store.messages.expireBatch(Date.now(), 250);
        const analyzed = await sql.rows<{ name: string }>(
          'SELECT relname AS name FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname',
        );
        assert.deepEqual(
          analyzed.map((r) => r.name),
          changed,
        );
        const read = await pageRead();
        assert.ok(read <= 500, `rows read analyzed: ${read}`);
      });
    });

    // Joined to their batch, both statements read every message of every day, once per batch: the
    // planner costs the join as probing each day's partition for each row of the batch.
    it("the retention sweep and an app's purge read their batch's days, not every message", async () => {
      await withStore({ poolSize: 1 }, async (_store, sql) => {
        // 31,000 messages over the 30 whole days before today (not analyzed, as new days are until
        // autovacuum comes), one in 31 of them of an app being purged, with its tasks and attempts; the
        // oldest 500 have expired.
        const at = (Math.floor(Date.now() / DAY_MS) - 30) * DAY_MS;
        const partitions = new Partitions(sql);
        await partitions.ensureFor(Array.from({ length: 31 }, (_, d) => at + d * DAY_MS));
        const rows = `FROM generate_series(1, 31000) g, LATERAL (SELECT lpad(g::text, 26, '0') AS n,
        ${at} + g::bigint * ${Math.floor((30 * DAY_MS) / 31000)} AS t, g % 31 = 0 AS gone) x`;
        await sql.run(`INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
        SELECT 'msg_' || n, CASE WHEN gone THEN 'app_gone' ELSE 'app_1' END, 'a', '{}', t,
          CASE WHEN g <= 500 THEN t ELSE t + ${100 * DAY_MS} END ${rows}`);
        await sql.run(`INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
        SELECT 'task_' || n, 'app_gone', 'msg_' || n, t, 'ep_1', 0, 1, NULL, NULL, t, t ${rows} WHERE gone`);
        await sql.run(`INSERT INTO attempts (id, app_id, msg_id, msg_created_at, endpoint_id, url, status,
          response_status_code, response, response_duration_ms, trigger_type, created_at)
        SELECT 'atmpt_' || n, 'app_gone', 'msg_' || n, t, 'ep_1', 'https://example.com/', 0, 200, '', 1, 0, t
        ${rows} WHERE gone`);
        await sql.run("INSERT INTO deleted_apps (id, deleted_at) VALUES ('app_gone', 0)");
        const read = () => rowsRead(sql);
        const messages = messagesSql(sql, publisher(sql, partitions), async () => {});
        let before = await read();
        assert.equal(await messages.expireBatch(Date.now(), 250), 250);
        assert.equal(await messages.expireBatch(Date.now(), 250), 250);
        const expiring = (await read()) - before;
        // Each batch is within a day of 1,033 messages.
        assert.ok(expiring <= 10_000, `rows read expiring 500 payloads: ${expiring}`);

        const apps = appsSql(sql);
        before = await read();
        // 1,000 messages and 1,000 attempts in batches of 100: past the fifth, generic plans.
        assert.equal(await purgeAll({ apps } as Store, 100), 21);
        const purging = (await read()) - before;
        assert.ok(purging <= 20_000, `rows read purging 2,000: ${purging}`);
        const left = await sql.one<{
          n: number;
        }>(`SELECT (SELECT count(*) FROM messages WHERE app_id = 'app_gone')
        + (SELECT count(*) FROM attempts) + (SELECT count(*) FROM tasks) AS n`);
        assert.equal(Number(left!.n), 0);
      });
    });

    it("a recover, a publish of a taken eventId and an endpoint's list find each message by its key, not by reading every day", async () => {
      await withStore({ poolSize: 1 }, async (store, sql) => {
        // 20,000 failed messages over the 20 whole days before today (a day of a few hundred may be
        // scanned at the cost of its index), each with an eventId.
        const app = mkApp(T0, { metadata: {} });
        const ep = mkEndpoint(app.id, T0, { headers: {} });
        await store.apps.create(app);
        await store.endpoints.create(ep);
        const first = Math.floor(Date.now() / DAY_MS) - 20;
        const at = first * DAY_MS;
        const times = Array.from({ length: 20_000 }, (_, i) => at + i * Math.floor((20 * DAY_MS) / 20_000));
        const ids = times.map((t) => newId('msg', t));
        await new Partitions(sql).ensureFor(Array.from({ length: 21 }, (_, d) => at + d * DAY_MS));
        const rows = 'FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY u(id, t, g)';
        const insert = (text: string, ...more: string[]) => sql.run(text, [ids, times, app.id, ...more]);
        await insert(`INSERT INTO messages (id, app_id, event_type, event_id, payload, created_at, expires_at)
        SELECT id, $3, 'a', 'e' || g, '{}', t, t + ${100 * DAY_MS} ${rows}`);
        await insert(`INSERT INTO message_event_ids (app_id, event_id, msg_id, created_at)
        SELECT $3, 'e' || g, id, t ${rows}`);
        await insert(
          `INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
        SELECT 'task_' || g, $3, id, t, $4, 2, 1, NULL, NULL, t, t ${rows}`,
          ep.id,
        );
        // Today's and the days ahead are empty, and scanned at no cost.
        const full = new Set(Array.from({ length: 20 }, (_, d) => partitionName('messages', first + d)));
        const eventIds = Array.from({ length: 50 }, (_, i) => `e${i * 400 + 1}`);
        // Not analyzed (a new day's partition): the join read every day's messages.
        const existing = await explain(sql, EXISTING.text, [eventIds.map(() => app.id), eventIds]);
        assert.deepEqual(
          existing.filter((r) => full.has(r)),
          [],
        );
        await sql.run('ANALYZE');
        // Analyzed: as one statement, the recovery's EXISTS hashed every day's messages.
        const now = Date.now();
        const since = now - 2 * DAY_MS;
        const recover = [now, ep.id, since, now, idFloor('msg', since), idFloor('msg', now), ''];
        assert.deepEqual(
          (await explain(sql, RECOVER.text, recover)).filter((r) => full.has(r)),
          [],
        );
        // Costed as probing every day for each of 2,000 tasks, it was compiled (2 s where it ran in 80 ms).
        await sql.run('BEGIN');
        const [plan] = await sql.rows<{ 'QUERY PLAN': [Record<string, unknown>] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${RECOVER.text}`,
          recover,
        );
        await sql.run('ROLLBACK');
        assert.equal(plan!['QUERY PLAN'][0].JIT, undefined);
        // Two days of failures, in chunks of 2,000.
        const tasks = tasksSql(sql, new Partitions(sql));
        assert.equal(await tasks.recover(ep.id, since, now, now), times.filter((t) => t >= since).length);
        // The first page of the endpoint's messages hashed all of them and sorted them (350 ms at 100,000).
        const before = await rowsRead(sql);
        assert.equal((await tasks.listForEndpoint(ep.id, { limit: 50 })).data.length, 50);
        const listing = (await rowsRead(sql)) - before;
        assert.ok(listing <= 1000, `rows read listing 50 of 20,000: ${listing}`);
      });
    });

    it("a recovery's generic plan updates each chunk's tasks, not every failed task of the window", async () => {
      await withStore({ poolSize: 1 }, async (_store, sql) => {
        // 20,000 tasks of one endpoint, two in five failed, analyzed.
        await sql.run(`INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
        SELECT 'task_' || g, 'app_1', 'msg_' || lpad(g::text, 26, '0'), ${T0}, 'ep_1',
          CASE WHEN g % 5 < 2 THEN 2 ELSE 0 END, 1, NULL, NULL, ${T0} + g, ${T0} FROM generate_series(1, 20000) g`);
        await sql.run('ANALYZE tasks');
        await sql.run(`PREPARE recover AS ${RECOVER.text}`);
        await sql.run('SET plan_cache_mode = force_generic_plan');
        const [row] = await sql.rows<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `EXPLAIN (FORMAT JSON) EXECUTE recover(${T0}, 'ep_1', ${T0}, ${T0 + 30_000}, 'msg_', 'msg_Z', '')`,
        );
        const indexes = (node: PlanNode): string[] => [
          ...(node['Relation Name'] === 'tasks' && node['Index Name'] ? [node['Index Name']] : []),
          ...(node.Plans ?? []).flatMap(indexes),
        ];
        const used = indexes(row!['QUERY PLAN'][0].Plan);
        assert.ok(!used.includes('tasks_endpoint_status'), `indexes of tasks: ${used}`);
      });
    });

    it("a replay's generic plan reads a chunk of the app's messages by key, and each one's task by key", async () => {
      await withStore({ poolSize: 1 }, async (_store, sql) => {
        // 20,000 messages of two apps within the hour, each with a task, analyzed.
        const at = Date.now() - 3_600_000;
        await sql.run(`INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
          SELECT 'msg_' || lpad(g::text, 26, '0'), 'app_' || g % 2, 'a', '{}', ${at} + g, ${at} + 1e9
          FROM generate_series(1, 20000) g`);
        await sql.run(`INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
          SELECT 'task_' || g, 'app_' || g % 2, 'msg_' || lpad(g::text, 26, '0'), ${at} + g, 'ep_' || g % 2, 0, 1,
          NULL, NULL, ${at}, ${at} FROM generate_series(1, 20000) g`);
        await sql.run('ANALYZE messages, tasks');
        await sql.run(`PREPARE replay AS ${REPLAY_CHUNK.text}`);
        await sql.run('SET plan_cache_mode = force_generic_plan');
        const [row] = await sql.rows<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `EXPLAIN (FORMAT JSON) EXECUTE replay('app_1', 'ep_1', 'msg_', 'msg_Z', '', ${at}, ${at + 30_000})`,
        );
        assert.deepEqual(seqScans(row!['QUERY PLAN'][0].Plan), []);
      });
    });

    // Their inputs are JSON rows, which the planner estimates at 100: joined on them alone, a table of
    // fewer than some 100,000 rows is read whole, however few rows the batch names.
    it('a finish and a publish find their tasks, apps and endpoints by key, in tables the planner knows are large', async () => {
      await withStore({ poolSize: 1 }, async (_store, sql) => {
        await sql.run(`INSERT INTO apps (id, uid, name, rate_limit, metadata, created_at, updated_at)
        SELECT 'app_' || g, NULL, 'a', NULL, '{}', 0, 0 FROM generate_series(1, 20000) g`);
        await sql.run(`INSERT INTO endpoints (id, app_id, url, description, version, disabled, metadata, headers,
          secrets, created_at, updated_at)
        SELECT 'ep_' || g, 'app_' || g, 'https://example.com', '', 1, false, '{}', '{}', '[]', 0, 0
        FROM generate_series(1, 20000) g`);
        await sql.run(`INSERT INTO tasks (id, app_id, msg_id, msg_created_at, endpoint_id, status, attempts,
          next_at, lease_until, created_at, updated_at)
        SELECT 'task_' || g, 'app_1', 'msg_' || g, 0, 'ep_1', 0, 1, NULL, NULL, 0, 0 FROM generate_series(1, 20000) g`);
        await sql.run('ANALYZE apps, endpoints, tasks');
        const finish = [{ i: 0, task_id: 'task_7', next_status: 0, now: T0, id: 'atmpt_1', app_id: 'app_1' }];
        assert.deepEqual(await explain(sql, FINISH.text, [JSON.stringify(finish)]), []);
        const message = { id: 'msg_x', app_id: 'app_1', event_type: 'e', payload: '{}', created_at: T0 };
        const task = { id: 'task_x', app_id: 'app_1', msg_id: 'msg_x', endpoint_id: 'ep_1', now: T0 };
        const scans = await explain(sql, PUBLISH.text, [
          JSON.stringify([message]),
          JSON.stringify([task]),
          '[]',
        ]);
        assert.ok(!scans.includes('apps'), `publish reads apps whole: ${scans}`);
        assert.ok(!scans.includes('endpoints'), `publish reads endpoints whole: ${scans}`);
      });
    });
  });
}
