import assert from 'node:assert/strict';
import fs, {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteThread } from '../../src/bin/open-store.ts';
import { makeConfig } from '../../src/config/config.ts';
import { newId } from '../../src/core/ids.ts';
import type { Endpoint, TaskNext } from '../../src/core/types.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { appsSql } from '../../src/store/sqlite/apps-sql.ts';
import { attemptsSql } from '../../src/store/sqlite/attempts-sql.ts';
import { LOG_LIMIT_BYTES, WAL_PAGES } from '../../src/store/sqlite/checkpointer.ts';
import { Db } from '../../src/store/sqlite/db.ts';
import { endpointsSql } from '../../src/store/sqlite/endpoints-sql.ts';
import { messagesSql } from '../../src/store/sqlite/messages-sql.ts';
import { migrate } from '../../src/store/sqlite/migrate.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tasksSql } from '../../src/store/sqlite/tasks-sql.ts';
import { type MessageFilters, type MessageQuery, StoreUnavailableError } from '../../src/store/store.ts';
import {
  describeStoreContract,
  mkApp,
  mkAttempt,
  mkEndpoint,
  mkMessage,
} from '../../src/store/store-contract.ts';
import { openThreadStore } from '../../src/store/thread/thread-store.ts';
import { until } from '../support/in-process.ts';

describeStoreContract('sqlite', { open: async () => openSqliteStore(':memory:'), close: (s) => s.close() });
// On a file, as `doorbell serve` runs it: its reads of history go to a thread and a connection of their own.
const threadFiles = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-thread-'));
after(() => rmSync(threadFiles, { recursive: true, force: true }));
let threadFile = 0;
describeStoreContract('sqlite on its own thread, with a reader thread', {
  open: async () =>
    (await openSqliteThread(makeConfig({ database: join(threadFiles, `${++threadFile}.db`) }))).store,
  close: (s) => s.close(),
});

describe('sqlite store on a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const T0 = 1_700_000_000_000;

  it('frees at open the idempotency keys a dead process was running, and keeps their responses', async () => {
    const path = join(dir, 'idempotency.db');
    let store = openSqliteStore(path);
    const ok = { statusCode: 202, body: '{"id":"msg_1"}', request: 'r' };
    await store.idempotency.put('answered', ok, T0 + 60_000);
    assert.deepEqual(await store.idempotency.begin('running', 'dead', T0, T0 + 60_000), { state: 'first' });
    await store.close(); // as a process killed would leave them
    store = openSqliteStore(path);
    assert.deepEqual(await store.idempotency.begin('running', 'next', T0 + 1, T0 + 60_001), {
      state: 'first',
    });
    assert.deepEqual(await store.idempotency.begin('answered', 'next', T0 + 1, T0 + 60_001), {
      state: 'done',
      response: ok,
    });
    await store.close();
  });

  it('a success after a reopen ends the run of failures stored before it', async () => {
    const path = join(dir, 'health.db');
    let store = openSqliteStore(path);
    const app = mkApp(T0);
    await store.apps.create(app);
    const ep = mkEndpoint(app.id, T0);
    await store.endpoints.create(ep);
    assert.equal(await store.endpoints.markHealth(ep.id, false, T0 + 1), T0 + 1);
    await store.close();
    store = openSqliteStore(path);
    assert.equal(await store.endpoints.markHealth(ep.id, true, T0 + 2), null);
    assert.equal((await store.endpoints.get(app.id, ep.id))?.failingSince, null);
    await store.close();
  });

  it('creates the folder, persists across reopen, and passes an integrity check', async () => {
    const path = join(dir, 'nested', 'doorbell.db');
    const appId = newId('app', T0);
    const msgId = newId('msg', T0);
    const epId = newId('ep', T0);
    let store = openSqliteStore(path);
    await store.apps.create({
      id: appId,
      uid: 'acme',
      name: 'Acme',
      rateLimit: null,
      metadata: {},
      createdAt: T0,
      updatedAt: T0,
    });
    await store.endpoints.create(mkEndpoint(appId, T0, { id: epId }));
    await store.messages.publish([
      {
        message: {
          id: msgId,
          appId,
          eventType: 'a.b',
          eventId: 'e1',
          deliverAt: null,
          tags: null,
          channels: null,
          payload: '{}',
          createdAt: T0,
          expiresAt: T0 + 1000,
        },
        endpointIds: [epId],
        now: T0,
      },
    ]);
    await store.settings.put('k', 'v');
    await store.close();

    store = openSqliteStore(path);
    try {
      assert.equal((await store.apps.get('acme'))?.id, appId);
      assert.equal((await store.messages.get(appId, 'e1'))?.id, msgId);
      assert.equal((await store.tasks.get(msgId, epId))?.status, 'pending');
      assert.equal(await store.settings.get('k'), 'v');
    } finally {
      await store.close();
    }

    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(
        db.prepare('SELECT version FROM schema_migrations').pluck().all(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
      );
    } finally {
      db.close();
    }
  });

  it("a new database and the folder made for it are its owner's only; an existing file keeps its mode", async () => {
    const path = join(dir, 'private', 'doorbell.db');
    const store = openSqliteStore(path);
    try {
      await store.settings.put('k', 'v'); // a write: the log exists
      const mode = (p: string) => statSync(p).mode & 0o777;
      assert.equal(mode(join(dir, 'private')), 0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}.lock`])
        assert.equal(mode(file), 0o600, file);
    } finally {
      await store.close();
    }
    const shared = join(dir, 'shared.db');
    new Database(shared).close();
    chmodSync(shared, 0o640);
    await openSqliteStore(shared).close();
    assert.equal(statSync(shared).mode & 0o777, 0o640);
  });

  it('a database it may read but not write is refused at open, saying so', async () => {
    const path = join(dir, 'read-only.db');
    await openSqliteStore(path).close();
    // As a file this user may not write: SQLite opens it read-only without a word (root writes any file).
    assert.throws(() => openSqliteStore(path, { pragmas: ['query_only = 1'] }), {
      code: 'SQLITE_READONLY',
      message: /^attempt to write a readonly database: this user may not write it/,
    });
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    assert.throws(() => openSqliteStore(folder), {
      message: /^unable to open database file: it is a folder$/,
    });
  });

  it('one store at a time serves a file: a second is refused until the first is closed', async () => {
    const path = join(dir, 'one.db');
    const first = openSqliteStore(path);
    try {
      assert.throws(() => openSqliteStore(path), /in use by another Doorbell process/);
      symlinkSync(path, join(dir, 'link.db'));
      assert.throws(() => openSqliteStore(join(dir, 'link.db')), /in use by another Doorbell/, 'a symlink');
      // On its own thread (as `serve` opens it), the same refusal reaches the caller.
      await assert.rejects(openSqliteThread(makeConfig({ database: path })), /in use by another Doorbell/);
      await first.apps.create(mkApp(T0)); // the first serves on
    } finally {
      await first.close();
    }
    await openSqliteStore(path).close();
  });

  it('a database file deleted or replaced while in use refuses every call (503), not lose them', async () => {
    for (const change of ['deleted', 'replaced'] as const) {
      const path = join(dir, `${change}.db`);
      const store = openSqliteStore(path);
      try {
        await store.apps.create(mkApp(T0));
        if (change === 'deleted') rmSync(path);
        else {
          await openSqliteStore(join(dir, 'other.db')).close();
          renameSync(join(dir, 'other.db'), path); // another file restored over it
        }
        const deadline = Date.now() + 5_000;
        let refused: unknown = null;
        // Writes may still succeed until the check comes round; one that fails in SQLite's own way
        // (a replaced file: no such table) fails with the refusal instead.
        while (refused === null && Date.now() < deadline) {
          refused = await store.apps.create(mkApp(T0)).then(
            () => null,
            (error: unknown) => error,
          );
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.ok(refused instanceof StoreUnavailableError, `${change}: ${refused}`);
        assert.match(refused.message, /was deleted or replaced while in use: restart Doorbell/);
      } finally {
        await store.close();
      }
    }
    // Its folder removed before the first publish: the publish's sync cannot open the log.
    const path = join(dir, 'removed', 'doorbell.db');
    const store = openSqliteStore(path);
    try {
      const app = mkApp(T0);
      await store.apps.create(app);
      const endpoint = mkEndpoint(app.id, T0);
      await store.endpoints.create(endpoint);
      rmSync(join(dir, 'removed'), { recursive: true });
      const publish = store.messages.publish([
        { message: mkMessage(app.id, T0), endpointIds: [endpoint.id], now: T0 },
      ]);
      await assert.rejects(publish, (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError, `${error}`);
        assert.match(error.message, /was deleted or replaced while in use: restart Doorbell/);
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('refuses a schema newer than it knows', async () => {
    const path = join(dir, 'future.db');
    await openSqliteStore(path).close();
    const db = new Database(path);
    db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999-future', 0)",
    ).run();
    db.close();
    assert.throws(() => openSqliteStore(path), /schema version 999 is newer/);
    // On its own thread, the same refusal reaches the caller as the opening's rejection.
    await assert.rejects(openSqliteThread(makeConfig({ database: path })), /schema version 999 is newer/);
  });
});

describe('sqlite message labels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-labels-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const T0 = 1_700_000_000_000;
  const DAY = 86_400_000;

  it("indexes the channels and tags of messages stored before it, and deletes a message's with it", async () => {
    const path = join(dir, 'labels.db');
    const raw = new Database(path);
    migrate(raw, loadMigrations(new URL('../../src/store/sqlite/migrations/', import.meta.url)).slice(0, 8));
    raw.exec(`INSERT INTO apps (id, name, metadata, created_at, updated_at) VALUES ('app_old', 'a', '{}', 0, 0);
      INSERT INTO messages (id, app_id, event_type, channels, tags, payload, created_at, expires_at) VALUES
        ('${newId('msg', T0)}', 'app_old', 'a', '["eu","eu"]', '["t"]', '{}', ${T0}, ${T0 + DAY}),
        ('${newId('msg', T0 + 1)}', 'app_old', 'a', NULL, NULL, '{}', ${T0 + 1}, ${T0 + DAY}),
        ('${newId('msg', T0 + 2)}', 'app_old', 'a', '["us"]', '[]', '{}', ${T0 + 2}, ${T0 + DAY})`);
    raw.close();
    const labels = () => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare('SELECT kind, value FROM message_labels ORDER BY msg_id, kind, value').raw().all();
      } finally {
        db.close();
      }
    };

    const store = openSqliteStore(path, { retentionMs: 10 * DAY });
    try {
      const [first, , third] = (await store.messages.list('app_old', { limit: 9, order: 'ascending' })).data;
      const ids = async (q: MessageQuery) => (await store.messages.list('app_old', q)).data.map((m) => m.id);
      assert.deepEqual(await ids({ limit: 9, channel: 'eu' }), [first!.id]);
      assert.deepEqual(await ids({ limit: 9, tag: 't' }), [first!.id]);
      assert.deepEqual(await ids({ limit: 9, channel: 'us' }), [third!.id]);
      assert.deepEqual(labels(), [
        ['c', 'eu'],
        ['t', 't'],
        ['c', 'us'],
      ]);

      // A new app's message, with its labels; the app deleted: they go with its history.
      const app = mkApp(T0 + 5 * DAY);
      await store.apps.create(app);
      const later = mkMessage(app.id, T0 + 5 * DAY, { channels: ['eu'], tags: ['t', 'u'] });
      await store.messages.publish([{ message: later, endpointIds: [], now: later.createdAt }]);
      assert.equal(labels().length, 6);
      await store.apps.delete(app.id, T0 + 5 * DAY);
      while ((await store.apps.purgeDeleted(1)) > 0);
      assert.equal(labels().length, 3);
      // Past the retention of the old messages: theirs go too.
      while ((await store.messages.expireBatch(T0 + 11 * DAY, 2)) > 0);
      assert.deepEqual(labels(), []);
    } finally {
      await store.close();
    }
  });
});

describe('sqlite upgrade', () => {
  it('deletes the endpoints that an older release left of deleted applications', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-upgrade-'));
    const path = join(dir, 'old.db');
    try {
      const raw = new Database(path);
      migrate(
        raw,
        loadMigrations(new URL('../../src/store/sqlite/migrations/', import.meta.url)).slice(0, 13),
      );
      raw.exec(`INSERT INTO apps (id, name, metadata, created_at, updated_at) VALUES ('app_1', 'a', '{}', 0, 0);
        INSERT INTO endpoints (id, app_id, url, description, version, disabled, metadata, headers, secrets,
          created_at, updated_at) VALUES
          ('ep_live', 'app_1', 'https://example.com/', '', 1, 0, '{}', '{}', '[]', 0, 0),
          ('ep_orphan', 'app_gone', 'https://example.com/', '', 1, 0, '{}', '{}', '[]', 0, 0)`);
      raw.close();
      const store = openSqliteStore(path);
      try {
        assert.deepEqual(
          (await store.endpoints.listAll('app_1')).map((e) => e.id),
          ['ep_live'],
        );
        assert.deepEqual(await store.endpoints.listAll('app_gone'), []);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-checkpoint-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const T0 = 1_700_000_000_000;
  const payload = JSON.stringify({ data: 'x'.repeat(1000) });

  async function world(path: string) {
    const store = openSqliteStore(path);
    const app = mkApp(T0);
    await store.apps.create(app);
    const ep = mkEndpoint(app.id, T0);
    await store.endpoints.create(ep);
    const publish = (n: number) =>
      store.messages.publish(
        Array.from({ length: n }, () => ({
          message: mkMessage(app.id, T0, { payload }),
          endpointIds: [ep.id],
          now: T0,
        })),
      );
    return { store, publish };
  }
  const size = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

  it('copies the log into the database file in the background, below the automatic threshold', async () => {
    const path = join(dir, 'background.db');
    const { store, publish } = await world(path);
    const before = size(path);
    await publish(50); // about 60 pages: far below the store's own automatic checkpoint
    const copied = await waitFor(() => size(path) > before + 50 * 1000);
    const bytes = size(path);
    await store.close();
    assert.ok(copied, `the database file grew from ${before} to ${bytes} bytes`);
  });

  it('keeps the log bounded under a steady stream of commits, and the file whole', async () => {
    const path = join(dir, 'steady.db');
    const { store, publish } = await world(path);
    let largest = 0;
    for (let i = 0; i < 1500; i++) {
      await publish(16);
      largest = Math.max(largest, size(`${path}-wal`));
    }
    await store.close();
    // 24,000 messages of 1 KiB wrote about 100 MiB of log; it starts over past WAL_PAGES.
    assert.ok(largest < (WAL_PAGES + 1024) * 4120, `the log reached ${largest} bytes`);
    const raw = new Database(path, { readonly: true });
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal(raw.prepare('SELECT count(*) FROM messages').pluck().get(), 24_000);
    raw.close();
  });
});

/** Polls `check` every 10 ms for up to 5 s; resolves whether it came true. */
async function waitFor(check: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

describe('sqlite retention', () => {
  const T0 = 1_700_000_000_000;
  const DAY = 86_400_000;

  /** A store in memory with `retentionMs`, and an app with an endpoint. */
  async function retaining(retentionMs: number) {
    const store = openSqliteStore(':memory:', { retentionMs });
    const app = mkApp(T0);
    await store.apps.create(app);
    const ep = mkEndpoint(app.id, T0);
    await store.endpoints.create(ep);
    return { store, app, ep };
  }

  it('deletes messages older than the retention with their tasks and attempts, a batch at a time', async () => {
    const { store, app, ep } = await retaining(10 * DAY);
    // Payloads kept for the retention, as publish sets them, unless said otherwise.
    const publish = async (at: number, expiresAt = at + 10 * DAY) => {
      const message = mkMessage(app.id, at, { expiresAt });
      await store.messages.publish([{ message, endpointIds: [ep.id], now: at }]);
      return message;
    };
    const old = [await publish(T0), await publish(T0 + 1), await publish(T0 + 2)];
    const kept = await publish(T0 + 5 * DAY);
    // Its payload kept longer (its own retention, or a deliverAt ahead): it stays until that expires.
    const held = await publish(T0 + 3, T0 + 12 * DAY);
    for (const c of await store.tasks.claimDue({
      now: T0 + 5 * DAY,
      limit: 10,
      leaseMs: 30_000,
      perEndpoint: 10,
    })) {
      const at = T0 + 5 * DAY + 1;
      const attempt = mkAttempt(c.message, ep.id, at);
      await store.tasks.finish([
        { taskId: c.task.id, lease: c.task.leaseUntil, attempt, next: { status: 'success' }, now: at },
      ]);
    }
    const now = T0 + 10 * DAY + 100; // past the retention of the first three, not of the fourth
    let batches = 0;
    while ((await store.messages.expireBatch(now, 2)) > 0) batches++;
    assert.ok(batches >= 2, 'at most `limit` messages per batch');
    for (const m of old) {
      assert.equal(await store.messages.get(app.id, m.id), null);
      assert.equal(await store.tasks.get(m.id, ep.id), null);
      assert.equal((await store.attempts.list(app.id, { limit: 10, msgId: m.id })).data.length, 0);
    }
    assert.equal((await store.messages.get(app.id, kept.id))?.payload, kept.payload, 'kept whole');
    assert.equal((await store.tasks.get(kept.id, ep.id))?.status, 'success');
    assert.equal((await store.attempts.list(app.id, { limit: 10, msgId: kept.id })).data.length, 1);
    assert.equal((await store.messages.get(app.id, held.id))?.payload, held.payload, 'held whole');
    while ((await store.messages.expireBatch(T0 + 12 * DAY, 2)) > 0);
    assert.equal(await store.messages.get(app.id, held.id), null);
    assert.equal(await store.tasks.get(held.id, ep.id), null);
    await store.close();
  });

  it('records no attempt for a message deleted during it (its endpoint deleted, then the message expired)', async () => {
    const { store, app, ep } = await retaining(DAY);
    const message = mkMessage(app.id, T0, { expiresAt: T0 + DAY });
    await store.messages.publish([{ message, endpointIds: [ep.id], now: T0 }]);
    const [c] = await store.tasks.claimDue({ now: T0, limit: 1, leaseMs: 30_000, perEndpoint: 1 });
    await store.endpoints.delete(app.id, ep.id);
    while ((await store.messages.expireBatch(T0 + DAY + 100, 10)) > 0);
    const attempt = mkAttempt(message, ep.id, T0 + DAY + 100);
    const finished = await store.tasks.finish([
      {
        taskId: c!.task.id,
        lease: c!.task.leaseUntil,
        attempt,
        next: { status: 'success' },
        now: attempt.createdAt,
      },
    ]);
    assert.deepEqual(finished, [false]);
    assert.equal(await store.attempts.get(app.id, message.id, attempt.id), null);
    await store.close();
  });

  it('keeps a message past the retention while a delivery of it is still to try, until that ends', async () => {
    const { store, app, ep } = await retaining(DAY);
    const message = mkMessage(app.id, T0, { expiresAt: T0 + DAY });
    await store.messages.publish([{ message, endpointIds: [ep.id], now: T0 }]);
    const sweep = async (at: number) => {
      while ((await store.messages.expireBatch(at, 10)) > 0);
    };
    // An attempt at `at` that fails, with `next` after it; in flight (sending) until `finish`.
    const fail = async (at: number, next: TaskNext) => {
      const [c] = await store.tasks.claimDue({ now: at, limit: 1, leaseMs: 30_000, perEndpoint: 1 });
      await sweep(at);
      assert.equal((await store.tasks.get(message.id, ep.id))?.status, 'sending', 'kept while in flight');
      const attempt = mkAttempt(message, ep.id, at, { status: 'fail', responseStatusCode: 500 });
      await store.tasks.finish([{ taskId: c!.task.id, lease: c!.task.leaseUntil, attempt, next, now: at }]);
    };
    await fail(T0, { status: 'pending', at: T0 + 2 * DAY }); // a retry due after the retention
    await sweep(T0 + DAY + 100);
    assert.equal((await store.messages.get(app.id, message.id))?.payload, null, 'its payload expired');
    assert.equal((await store.tasks.get(message.id, ep.id))?.status, 'pending', 'its retry kept');
    await fail(T0 + 2 * DAY, { status: 'fail' }); // unsent: the payload is gone
    await sweep(T0 + 2 * DAY + 1);
    assert.equal(await store.messages.get(app.id, message.id), null);
    assert.equal(await store.tasks.get(message.id, ep.id), null);
    await store.close();
  });

  it('passes over the messages it keeps: those past them go in the same sweep, and they at the next', async () => {
    const { store, app, ep } = await retaining(DAY);
    const publish = async (at: number, endpointIds: string[]) => {
      const message = mkMessage(app.id, at, { expiresAt: at + DAY });
      await store.messages.publish([{ message, endpointIds, now: at }]);
      return message;
    };
    // Five with a delivery still to try (never claimed), then five with none: a batch of 2 reads on.
    const kept = [];
    for (let i = 0; i < 5; i++) kept.push(await publish(T0 + i, [ep.id]));
    const gone = [];
    for (let i = 5; i < 10; i++) gone.push(await publish(T0 + i, []));
    const sweep = async (at: number) => {
      while ((await store.messages.expireBatch(at, 2)) > 0);
    };
    const at = T0 + 2 * DAY;
    await sweep(at);
    for (const m of gone) assert.equal(await store.messages.get(app.id, m.id), null);
    for (const m of kept) assert.notEqual(await store.messages.get(app.id, m.id), null);
    await sweep(at); // the next sweep starts over, and ends
    for (const m of kept) assert.notEqual(await store.messages.get(app.id, m.id), null);
    // Their deliveries end: the next sweep deletes them.
    await store.endpoints.delete(app.id, ep.id);
    await sweep(at);
    for (const m of kept) assert.equal(await store.messages.get(app.id, m.id), null);
    await store.close();
  });
});

describe('sqlite list plans', () => {
  /**
   * A database in memory, migrated, that records each statement it runs (with its values in place) from
   * here on; and the plan of such a statement, its lines on one.
   */
  function recording() {
    const statements: string[] = [];
    const raw = new Database(':memory:', { verbose: (sql) => statements.push(String(sql)) });
    migrate(raw);
    statements.length = 0;
    const plan = (sql: string) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((p) => p.detail)
        .join(' | ');
    return { raw, db: new Db(raw), statements, plan };
  }

  /** The plans of the reads of messages that `list` makes for this query. */
  async function listPlans(query: MessageQuery): Promise<string[]> {
    const { raw, db, statements, plan } = recording();
    await messagesSql(db).list(mkApp().id, query);
    const plans = statements.filter((sql) => sql.startsWith('SELECT') && sql.includes(' m.id, ')).map(plan);
    raw.close();
    return plans;
  }

  it("an endpoint's stats seek their range in the endpoint's index, without walking its older history", async () => {
    const { raw, db, statements, plan } = recording();
    await tasksSql(db).stats('ep_1', { since: Date.now() - 86_400_000, until: Date.now() });
    assert.equal(statements.length, 1);
    assert.match(
      plan(statements[0]!),
      /SEARCH t USING INDEX tasks_endpoint_msg \(endpoint_id=\? AND msg_id>\? AND msg_id<\?\)/,
    );
    raw.close();
  });

  it('a list filtered by event type seeks each type in its index, without walking the history between', async () => {
    const plans = await listPlans({ limit: 10, eventTypes: ['a.b', 'c.d'], before: Date.now() });
    assert.equal(plans.length, 2, 'one read per event type');
    for (const plan of plans) {
      assert.match(plan, /SEARCH m USING INDEX messages_app_type \(app_id=\? AND event_type=\?/);
    }
  });

  it("a list filtered by channel or tag reads that label's messages only, in order", async () => {
    for (const query of [{ channel: 'eu' }, { tag: 't', eventTypes: ['a.b'] }]) {
      const plans = await listPlans({ limit: 10, after: 5, ...query });
      assert.equal(plans.length, 1);
      // The label's rows by their key, newest first (no sort), each message by its id.
      assert.match(
        plans[0]!,
        /^SEARCH l USING PRIMARY KEY \(app_id=\? AND kind=\? AND value=\? AND msg_id>\?\)/,
      );
      assert.match(plans[0]!, /SEARCH m USING INDEX sqlite_autoindex_messages_1 \(id=\?\)/);
      assert.doesNotMatch(plans[0]!, /TEMP B-TREE/);
    }
  });

  it("deleting a message finds each of its labels by its key, without reading the others'", () => {
    const raw = new Database(':memory:');
    migrate(raw);
    const trigger = raw
      .prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'message_labels_remove'")
      .pluck()
      .get() as string;
    const body = trigger.slice(trigger.indexOf('BEGIN') + 'BEGIN'.length, trigger.lastIndexOf('END'));
    const statements = body
      .split(';')
      .map((sql) => sql.trim())
      .filter(Boolean);
    assert.equal(statements.length, 2);
    for (const sql of statements) {
      // The deleted row's columns as parameters, as the trigger runs it.
      const plan = raw
        .prepare(`EXPLAIN QUERY PLAN ${sql.replace(/OLD\.(\w+)/g, ':$1')}`)
        .all({ app_id: 'app', id: 'msg', channels: '[]', tags: '[]' }) as { detail: string }[];
      const details = plan.map((p) => p.detail).join(' | ');
      assert.match(
        details,
        /^SEARCH message_labels USING PRIMARY KEY \(app_id=\? AND kind=\? AND value=\? AND msg_id=\?\)/,
      );
      assert.doesNotMatch(details, /SCAN message_labels/);
    }
    raw.close();
  });

  it('a list filtered by a channel and a tag reads through the one fewer messages have', async () => {
    const { raw, db, statements } = recording();
    const messages = messagesSql(db);
    const app = mkApp();
    const T0 = Date.now();
    // 40 messages on channel `busy`, 3 of them tagged `few`; 40 on no channel tagged `many`.
    const items = Array.from({ length: 80 }, (_, i) =>
      mkMessage(
        app.id,
        T0 + i,
        i < 40 ? { channels: ['busy'], tags: i % 13 === 0 ? ['few'] : null } : { tags: ['many'] },
      ),
    );
    raw
      .prepare("INSERT INTO apps (id, name, metadata, created_at, updated_at) VALUES (?, 'a', '{}', 0, 0)")
      .run(app.id);
    await messages.publish(items.map((message) => ({ message, endpointIds: [], now: T0 })));
    const through = async (channel: string, tag: string) => {
      statements.length = 0;
      const page = await messages.list(app.id, { limit: 50, channel, tag });
      const [list] = statements.filter((sql) => sql.includes('FROM message_labels l'));
      return {
        ids: page.data.length,
        through: /l\.kind = '(.)' AND l\.value = '([^']*)'/.exec(list!)!.slice(1),
      };
    };
    assert.deepEqual(await through('busy', 'few'), { ids: 4, through: ['t', 'few'] });
    assert.deepEqual(await through('busy', 'many'), { ids: 0, through: ['c', 'busy'] });
    assert.deepEqual(await through('none', 'many'), { ids: 0, through: ['c', 'none'] });
    raw.close();
  });
  it("an endpoint's lists filtered by what few messages have read through those; by what many have, through the endpoint's", async () => {
    const { raw, db, statements, plan } = recording();
    // 10,005 messages to the endpoint, all on the channel `many` and of type `a.b`; five also on `few`,
    // of type `c.d`, each with a failed attempt.
    const app = mkApp(0, { id: 'app_1' });
    await appsSql(db, new Set()).create(app);
    await endpointsSql(db, new Set()).create(mkEndpoint(app.id, 0, { id: 'ep_1' }));
    raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005)
      INSERT INTO messages (id, app_id, event_type, channels, payload, created_at, expires_at)
        SELECT printf('msg_%026d', i), 'app_1', CASE WHEN i % 2001 = 0 THEN 'c.d' ELSE 'a.b' END,
          CASE WHEN i % 2001 = 0 THEN '["many","few"]' ELSE '["many"]' END, '{}', i, i + 1000000 FROM n;
      INSERT INTO tasks (id, app_id, msg_id, endpoint_id, status, attempts, created_at, updated_at)
        SELECT 'task_' || substr(id, 5), 'app_1', id, 'ep_1', 2, 1, created_at, created_at FROM messages;
      INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code, response,
          response_duration_ms, trigger_type, created_at)
        SELECT 'atmpt_' || substr(id, 5), 'app_1', id, 'ep_1', 'https://example.com/', 2, 500, '', 1, 0,
          created_at FROM messages;`);
    const tasks = tasksSql(db);
    const attempts = attemptsSql(db);
    /** How many the list found, what it read through, and how (the plan's lines, on one). */
    const through = async (list: () => Promise<{ data: unknown[] }>) => {
      statements.length = 0;
      const n = (await list()).data.length;
      const from = / FROM (message_labels l|messages m|tasks t|attempts a)\b/;
      const read = statements.find((sql) => from.test(sql))!;
      return { n, through: from.exec(read)![1], plan: plan(read) };
    };
    const byKey =
      /SEARCH t USING INDEX tasks_(msg|endpoint)_\w+ \((msg_id=\? AND endpoint_id|endpoint_id=\? AND msg_id)=\?\)/;
    const list = (q: MessageFilters) => () => tasks.listForEndpoint('ep_1', { limit: 10, ...q });
    for (const [q, n, from] of [
      [{ channel: 'few' }, 5, 'message_labels l'],
      [{ eventTypes: ['c.d'] }, 5, 'messages m'],
      [{ channel: 'many', eventTypes: ['c.d'] }, 5, 'messages m'],
      [{ channel: 'many' }, 10, 'tasks t'],
      [{ channel: 'many', eventTypes: ['a.b', 'c.d'] }, 10, 'tasks t'],
    ] as Array<[MessageFilters, number, string]>) {
      const got = await through(list(q));
      assert.deepEqual([got.n, got.through], [n, from], JSON.stringify(q));
      if (from !== 'tasks t') assert.match(got.plan, byKey, JSON.stringify(q));
    }
    // Each message's attempts through their message's index (the endpoint's would read all of them, for each).
    const tried = (q: MessageFilters) => () =>
      attempts.list('app_1', { limit: 10, endpointId: 'ep_1', ...q });
    for (const [q, n, from] of [
      [{ channel: 'few' }, 5, 'message_labels l'],
      [{ eventTypes: ['c.d'] }, 5, 'messages m'],
      [{ channel: 'many' }, 10, 'attempts a'],
    ] as Array<[MessageFilters, number, string]>) {
      const got = await through(tried(q));
      assert.deepEqual([got.n, got.through], [n, from], JSON.stringify(q));
      if (from !== 'attempts a') assert.match(got.plan, /SEARCH a USING INDEX attempts_msg \(msg_id=\?\)/);
    }
    raw.close();
  });

  it("an endpoint's failed deliveries and failed attempts are read through their own indexes", async () => {
    const { raw, db, statements, plan } = recording();
    const [app, ep] = ['app_1', 'ep_1'];
    await tasksSql(db).listForEndpoint(ep, { limit: 10, status: 'fail' });
    await attemptsSql(db).list(app, { limit: 10, endpointId: ep, status: 'fail' });
    // A class other than 2xx is a failure: the rare 4xx among many successes are not looked for in them.
    for (const statusCodeClass of [0, 400, 500] as const)
      await attemptsSql(db).list(app, { limit: 10, endpointId: ep, statusCodeClass });
    const plans = statements.filter((sql) => / FROM (tasks t|attempts a) /.test(sql)).map(plan);
    raw.close();
    assert.equal(plans.length, 5);
    assert.match(plans[0]!, /SEARCH t USING INDEX tasks_endpoint_failed \(endpoint_id=\?\)/);
    for (const attempts of plans.slice(1))
      assert.match(attempts, /SEARCH a USING INDEX attempts_endpoint_failed \(endpoint_id=\?\)/);
  });
});

describe('sqlite reads of history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-reads-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A store (as `doorbell serve` opens it) of 400,000 messages on the channel `common`, 20,000 tagged `other`. */
  async function history(name: string) {
    const path = join(dir, `${name}.db`);
    const app = mkApp();
    const setup = openSqliteStore(path);
    await setup.apps.create(app);
    await setup.close();
    const raw = new Database(path);
    raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
      INSERT INTO messages (id, app_id, event_type, channels, payload, created_at, expires_at)
      SELECT printf('msg_%026d', i), '${app.id}', 'a.b', '["common"]', '{}', i, i + 1000000 FROM n;
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
      INSERT INTO messages (id, app_id, event_type, tags, payload, created_at, expires_at)
      SELECT printf('msg_%026d', 400000 + i), '${app.id}', 'a.b', '["other"]', '{}', i, i + 1000000 FROM n;`);
    raw.close();
    const { store } = await openSqliteThread(makeConfig({ database: path }));
    // A list of the channel and of the tag 20,000 other messages have (both too common to tell which is
    // the rarer): it reads every message of the channel.
    const walk = () => store.messages.list(app.id, { limit: 10, channel: 'common', tag: 'other' });
    const publish = (payload = '{}') => {
      const message = mkMessage(app.id, Date.now(), { payload });
      return store.messages
        .publish([{ message, endpointIds: [], now: message.createdAt }])
        .then(() => message);
    };
    return { store, app, path, walk, publish };
  }

  it('a list walking a long history holds up no publish: it reads on a thread of its own', async () => {
    const { store, app, walk, publish } = await history('history');
    try {
      const settled: string[] = [];
      // Three lists asked for at once, then a publish: it commits while they read, however slow a
      // commit is on a busy disk, unless it waits for them.
      const listed = [1, 2, 3].map((n) =>
        walk().then((page) => settled.push(`list ${n} of ${page.data.length}`)),
      );
      const published = publish().then((message) => {
        settled.push('publish');
        return message;
      });
      const [message] = await Promise.all([published, ...listed]);
      assert.equal(settled.length, 4);
      assert.notEqual(settled.at(-1), 'publish', settled.join(', '));
      assert.deepEqual(
        settled.filter((s) => s !== 'publish'),
        ['list 1 of 0', 'list 2 of 0', 'list 3 of 0'],
      );
      // and the reads see what was just committed
      const page = await store.messages.list(app.id, { limit: 1 });
      assert.deepEqual(
        page.data.map((m) => m.id),
        [message.id],
      );
    } finally {
      await store.close();
    }
  });

  it("a list reads one snapshot: a message's endpoints deleted meanwhile are listed whole or not at all", async () => {
    const { store, app, publish } = await history('snapshot');
    try {
      const eps = Array.from({ length: 120 }, () => mkEndpoint(app.id));
      for (const ep of eps) await store.endpoints.create(ep);
      const message = mkMessage(app.id, Date.now());
      const ids = eps.map((e) => e.id);
      await store.messages.publish([{ message, endpointIds: ids, now: message.createdAt }]);
      let deleting = true;
      let lists = 0;
      const lister = async () => {
        while (deleting) {
          const page = await store.tasks.listForMessage(message.id, { limit: 250 });
          for (const { task, endpoint } of page.data) assert.equal(endpoint?.id, task.endpointId);
          lists++;
        }
      };
      // A lister that fails stops and keeps its error for the end (the deletes go on meanwhile).
      const listers = [lister(), lister()].map((done) =>
        done.then(
          () => null,
          (error: unknown) => error,
        ),
      );
      for (const ep of eps) await store.endpoints.delete(app.id, ep.id);
      deleting = false;
      for (const error of await Promise.all(listers)) if (error) throw error;
      assert.ok(lists > 0);
      await publish(); // still serving
    } finally {
      await store.close();
    }
  });

  it('lists back to back do not keep the log from starting over', async () => {
    const { store, path, walk, publish } = await history('log');
    let reading = true;
    let walked = () => {};
    const reader = async () => {
      while (reading) {
        await walk();
        walked();
      }
    };
    const readers = [reader(), reader()];
    // Its file only grows until the log starts over, when it is cut back to LOG_LIMIT_BYTES.
    const sizes: number[] = [];
    try {
      // 140 MiB of commits while a list is always running. A list holds the log for as long as it
      // reads, which on a busy machine is 150 publishes here: each 40 wait for a list to end, so that
      // the commits span many lists however slow they run.
      const payload = `{"a":"${'x'.repeat(700 * 1024)}"}`;
      for (let i = 0; i < 200; i++) {
        if (i % 40 === 39) await new Promise<void>((resolve) => (walked = resolve));
        await publish(payload);
        sizes.push(statSync(`${path}-wal`).size);
      }
    } finally {
      reading = false;
      await Promise.all(readers);
      await store.close();
    }
    assert.ok(
      sizes.some((size, i) => i > 0 && size < sizes[i - 1]!),
      `the log never started over: ${sizes.at(-1)} bytes`,
    );
    assert.ok(Math.max(...sizes) <= 3 * LOG_LIMIT_BYTES, `the log reached ${Math.max(...sizes)} bytes`);
  });
});

describe('sqlite work on a large backlog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-backlog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A store whose endpoint has 5,000 tasks in `status` (2: failed, 1: pending an hour ahead; `rateWait`:
   * for their rate slots), and another endpoint.
   */
  async function backlog(name: string, status: 1 | 2, rateWait = 0) {
    const path = join(dir, `${name}.db`);
    const app = mkApp();
    const [ep, other] = [
      mkEndpoint(app.id, Date.now(), { rateLimit: rateWait ? 1 : null }),
      mkEndpoint(app.id),
    ];
    const setup = openSqliteStore(path);
    await setup.apps.create(app);
    for (const e of [ep, other]) await setup.endpoints.create(e);
    await setup.close();
    const t0 = Date.now() - 60_000;
    const raw = new Database(path);
    const message = raw.prepare(
      'INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const task = raw.prepare(`INSERT INTO tasks (id, app_id, msg_id, endpoint_id, status, attempts, next_at,
      created_at, updated_at, rate_wait) VALUES (?, ?, ?, ?, ?, 5, ?, ?, ?, ?)`);
    raw.transaction(() => {
      for (let i = 0; i < 5000; i++) {
        const id = newId('msg', t0 + i);
        message.run(id, app.id, 'a.b', '{}', t0 + i, t0 + 1e9);
        const nextAt = status === 1 ? t0 + 3_600_000 : null;
        task.run(newId('task', t0 + i), app.id, id, ep.id, status, nextAt, t0 + i, t0 + i, rateWait);
      }
    })();
    raw.close();
    const store = openSqliteStore(path);
    /** What settled first: `work`, or a publish to the other endpoint made just after it began. */
    const beside = async (work: Promise<string>) => {
      const settled: string[] = [];
      const m = mkMessage(app.id, Date.now());
      await Promise.all([
        work.then((what) => settled.push(what)),
        store.messages.publish([{ message: m, endpointIds: [other.id], now: m.createdAt }]).then(() => {
          settled.push('published');
        }),
      ]);
      return settled;
    };
    const count = (sql: string) => {
      const check = new Database(path, { readonly: true });
      const n = check.prepare(sql).pluck().get();
      check.close();
      return n;
    };
    return { store, app, ep, t0, beside, count, path };
  }

  it('recovers it in chunks, each a commit of its own: a publish meanwhile does not wait for the end', async () => {
    const { store, ep, t0, beside, count } = await backlog('recover', 2);
    try {
      const now = Date.now();
      const settled = await beside(store.tasks.recover(ep.id, t0, now, now).then((n) => `recovered ${n}`));
      assert.deepEqual(settled, ['published', 'recovered 5000']);
    } finally {
      await store.close();
    }
    assert.equal(count('SELECT count(*) FROM tasks WHERE status = 1'), 5001, 'all due, and the publish');
  });

  it('a recovery stops where its endpoint is deleted: it leaves nothing of it pending', async () => {
    const { store, app, ep, t0, count } = await backlog('recover-delete', 2);
    try {
      const now = Date.now();
      const recovering = store.tasks.recover(ep.id, t0, now, now);
      await new Promise((resolve) => setImmediate(resolve)); // its first chunk is committed
      assert.equal(await store.endpoints.delete(app.id, ep.id), true);
      assert.equal(await recovering, 2000);
    } finally {
      await store.close();
    }
    assert.equal(count(`SELECT count(*) FROM tasks WHERE endpoint_id = '${ep.id}' AND status = 1`), 0);
  });

  it('frees the tasks waiting for rate slots in chunks, at a rate change: a publish meanwhile does not wait for the end', async () => {
    const { store, app, ep, beside, count } = await backlog('rate', 1, 1);
    const now = Date.now();
    try {
      const settled = await beside(store.endpoints.resetRate(app.id, ep.id, now).then((n) => `freed ${n}`));
      assert.deepEqual(settled, ['published', 'freed 5000']);
    } finally {
      await store.close();
    }
    const due = `SELECT count(*) FROM tasks WHERE endpoint_id = '${ep.id}' AND status = 1 AND next_at = ${now}`;
    assert.equal(count(`${due} AND rate_wait = 0`), 5000);
  });

  it('a rate change frees each waiting task once: one that took a new slot meanwhile keeps it', async () => {
    const { store, app, ep } = await backlog('rate-again', 1, 1);
    try {
      const now = Date.now();
      let done = false;
      const resetting = store.endpoints.resetRate(app.id, ep.id, now).finally(() => {
        done = true;
      });
      // A worker claims freed tasks as soon as there are, and puts them back until slots at the new rate,
      // as the rate gate does.
      let claimed: Awaited<ReturnType<typeof store.tasks.claimDue>> = [];
      while (claimed.length === 0 && !done) {
        claimed = await store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
      }
      // One: at 1/s, the tasks without a slot are claimed as far as the free slots within a second.
      assert.equal(claimed.length, 1, 'claimed before the reset ended');
      const slots = new Map<string, number>();
      for (const { task } of claimed) {
        const slot = await store.endpoints.reserveSlot(ep.id, now);
        slots.set(task.id, slot);
        await store.tasks.release(task.id, task.leaseUntil, slot);
      }
      assert.equal(await resetting, 5000);
      for (const { task, message } of claimed) {
        const after = await store.tasks.get(message.id, ep.id);
        assert.deepEqual([after?.id, after?.nextAt, after?.rateSlot], [task.id, slots.get(task.id), true]);
      }
    } finally {
      await store.close();
    }
  });

  it('a rate change frees the tasks that waited before it: one put back at the new rate ahead of its walk keeps its slot', async () => {
    const { store, app, ep } = await backlog('rate-ahead', 1, 1);
    try {
      const now = Date.now();
      // A new message's task (after every waiting one in the walk's order), claimed before the change.
      const message = mkMessage(app.id, now);
      await store.messages.publish([{ message, endpointIds: [ep.id], now }]);
      const [claimed] = await store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
      assert.equal(claimed?.message.id, message.id);
      const resetting = store.endpoints.resetRate(app.id, ep.id, now);
      // Its attempt ends as the walk begins: the rate gate takes the second slot at the new rate.
      await store.endpoints.reserveSlot(ep.id, now);
      const slot = await store.endpoints.reserveSlot(ep.id, now);
      assert.equal(slot, now + 1000);
      await store.tasks.release(claimed!.task.id, claimed!.task.leaseUntil, slot);
      assert.equal(await resetting, 5000, 'the tasks that waited before the change');
      const after = await store.tasks.get(message.id, ep.id);
      assert.deepEqual([after?.nextAt, after?.rateSlot], [slot, true]);
    } finally {
      await store.close();
    }
  });

  it("deletes a deleted endpoint's pending tasks in chunks: a publish meanwhile does not wait for the end", async () => {
    const { store, app, ep, beside, count } = await backlog('delete', 1);
    try {
      const settled = await beside(store.endpoints.delete(app.id, ep.id).then((gone) => `deleted ${gone}`));
      assert.deepEqual(settled, ['published', 'deleted true']);
    } finally {
      await store.close();
    }
    assert.equal(count(`SELECT count(*) FROM tasks WHERE endpoint_id = '${ep.id}'`), 0);
    assert.equal(count('SELECT count(*) FROM tasks'), 1, 'the publish');
  });

  it('a claim that finds an endpoint gone deletes all its pending tasks (a delete cut short by a crash)', async () => {
    const { store, ep, t0, count, path } = await backlog('cut-short', 1);
    try {
      const raw = new Database(path); // the endpoint's row was deleted, its tasks were not yet
      raw.prepare('DELETE FROM endpoints WHERE id = ?').run(ep.id);
      raw.close();
      const due = { now: t0 + 3_600_000, leaseMs: 60_000, perEndpoint: 10 };
      assert.deepEqual(await store.tasks.claimDue({ ...due, limit: 10 }), []);
      const pending = `SELECT count(*) FROM tasks WHERE endpoint_id = '${ep.id}' AND status = 1`;
      await until('its pending tasks are gone', () => count(pending) === 0);
      assert.equal(count(`SELECT count(*) FROM tasks WHERE endpoint_id = '${ep.id}' AND status = 2`), 10);
    } finally {
      await store.close();
    }
  });
});

describe('sqlite store on its own thread', () => {
  it('fails calls with StoreUnavailableError and says so once when the thread ends unasked', async () => {
    const lost: Error[] = [];
    const entry = new URL('../support/short-lived-store-thread.ts', import.meta.url);
    const { store, call } = await openThreadStore(entry, {}, (error) => lost.push(error));
    assert.equal(await store.apps.get('nothing'), null);
    await assert.rejects(call('test', 'end', 3), StoreUnavailableError);
    await assert.rejects(store.apps.get('nothing'), StoreUnavailableError);
    assert.equal(lost.length, 1);
    assert.match(lost[0]!.message, /store thread exited \(3\)/);
  });

  it('does not report a thread ended by close', async () => {
    const lost: Error[] = [];
    const entry = new URL('../support/short-lived-store-thread.ts', import.meta.url);
    const { store } = await openThreadStore(entry, {}, (error) => lost.push(error));
    await store.close();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the thread's exit event
    assert.deepEqual(lost, []);
    await assert.rejects(store.apps.get('nothing'), StoreUnavailableError);
  });
});

describe('sqlite publishOffering: new tasks handed to a worker in this process', () => {
  const T0 = 1_700_000_000_000;
  const LEASE = 30_000;

  async function setup(endpoints = 1) {
    const store = openSqliteStore(':memory:');
    const app = mkApp(T0);
    await store.apps.create(app);
    const eps: Endpoint[] = [];
    for (let i = 0; i < endpoints; i++) {
      const ep = mkEndpoint(app.id, T0 + i);
      await store.endpoints.create(ep);
      eps.push(ep);
    }
    const item = (at: number) => ({
      message: mkMessage(app.id, at),
      endpointIds: eps.map((e) => e.id),
      now: at,
    });
    return { store, eps, item };
  }

  /** An offer that takes what `accept` says yes to, and records what it was asked. */
  const offer = (accept: (endpointId: string) => boolean = () => true) => {
    const asked: string[] = [];
    const take = (e: string): boolean => {
      asked.push(e);
      return accept(e);
    };
    return { asked, leaseMs: LEASE, take };
  };

  it('leases the tasks to the offer while nothing is due; a claim then finds nothing', async () => {
    const { store, eps, item } = await setup(2);
    const published = item(T0 + 10);
    const out = await store.messages.publishOffering([published], offer());
    assert.deepEqual(out.results, [{ ok: true }]);
    assert.equal(out.queued, 0);
    assert.deepEqual(
      out.handed.map((h) => [
        h.task.endpointId,
        h.task.status,
        h.task.leaseUntil,
        h.endpoint.url,
        h.message.id,
      ]),
      eps.map((e) => [e.id, 'sending', T0 + 10 + LEASE, e.url, published.message.id]),
    );
    const task = await store.tasks.get(published.message.id, eps[0]!.id);
    assert.equal(task?.status, 'sending');
    assert.equal(task?.leaseUntil, T0 + 10 + LEASE);
    const claimed = await store.tasks.claimDue({ now: T0 + 20, limit: 10, leaseMs: LEASE, perEndpoint: 10 });
    assert.deepEqual(claimed, []);
    await store.close();
  });

  it('never skips ahead of a due task: anything due leaves the new tasks pending, unasked', async () => {
    const { store, item } = await setup();
    await store.messages.publish([item(T0 + 10)]);
    const o = offer();
    const out = await store.messages.publishOffering([item(T0 + 20)], o);
    assert.deepEqual([out.handed.length, out.queued, o.asked.length], [0, 1, 0]);
    const claimed = await store.tasks.claimDue({ now: T0 + 30, limit: 10, leaseMs: LEASE, perEndpoint: 10 });
    assert.equal(claimed.length, 2);
    await store.close();
  });

  it('counts a lease that has ended as due (its worker is gone)', async () => {
    const { store, item } = await setup();
    const first = await store.messages.publishOffering([item(T0 + 10)], { leaseMs: 5, take: () => true });
    assert.equal(first.handed.length, 1);
    const out = await store.messages.publishOffering([item(T0 + 20)], offer());
    assert.deepEqual([out.handed.length, out.queued], [0, 1]);
    await store.close();
  });

  it('once the offer says no, the rest of the call is left pending too', async () => {
    const { store, eps, item } = await setup(2);
    const o = offer((e) => e !== eps[0]!.id);
    const out = await store.messages.publishOffering([item(T0 + 10), item(T0 + 11)], o);
    assert.deepEqual([out.handed.length, out.queued], [0, 4]);
    assert.deepEqual(o.asked, [eps[0]!.id]);
    await store.close();
  });

  it("neither makes nor offers a task for a missing endpoint or another app's, and reports event id conflicts as publish does", async () => {
    const { store, eps, item } = await setup();
    const other = mkApp(T0);
    await store.apps.create(other);
    const foreign = mkEndpoint(other.id, T0);
    await store.endpoints.create(foreign);
    const gone = { ...item(T0 + 10), endpointIds: ['ep_missing', foreign.id] };
    const dup = item(T0 + 11);
    dup.message.eventId = 'evt-1';
    const again = { ...item(T0 + 12) };
    again.message.eventId = 'evt-1';
    const o = offer();
    const out = await store.messages.publishOffering([gone, dup, again], o);
    assert.deepEqual(
      out.results.map((r) => r.ok),
      [true, true, false],
    );
    // Nothing left pending either: the offer stays open for the next item's task.
    const ep = eps[0]!.id;
    assert.deepEqual([out.handed.map((h) => h.task.endpointId), out.queued, o.asked], [[ep], 0, [ep]]);
    assert.equal(await store.tasks.get(gone.message.id, foreign.id), null);
    await store.close();
  });
});

describe('sqlite group commit', () => {
  it('fails only the job that throws: its writes are undone, the others commit together', async () => {
    const db = new Db(new Database(':memory:'));
    db.raw.exec('CREATE TABLE t (v INTEGER NOT NULL)');
    const insert = (v: number) => () => db.run('INSERT INTO t (v) VALUES (?)', v);
    const jobs = [
      db.grouped(insert(1), false),
      db.grouped(() => {
        insert(2)();
        throw new Error('job 2 failed');
      }, false),
      db.grouped(insert(3), false),
    ];
    const outcomes = await Promise.allSettled(jobs);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
      [1, 'job 2 failed', 1],
    );
    assert.deepEqual(db.all('SELECT v FROM t ORDER BY v'), [{ v: 1 }, { v: 3 }]);
    await db.close();
  });

  it('on a full disk fails the job with StoreUnavailableError, and never commits another outside the batch', async () => {
    for (const file of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'doorbell-full-'));
      const raw = new Database(file ? join(dir, 'full.db') : ':memory:');
      if (file) raw.pragma('journal_mode = WAL');
      raw.exec('CREATE TABLE t (v TEXT NOT NULL)');
      raw.pragma(`max_page_count = ${(raw.pragma('page_count', { simple: true }) as number) + 4}`);
      const db = new Db(raw);
      const insert = (v: string) => () => db.run('INSERT INTO t (v) VALUES (?)', v);
      const values = ['a', 'x'.repeat(100_000), 'b'];
      const outcomes = await Promise.allSettled(values.map((v) => db.grouped(insert(v), false)));
      const stored = new Set(db.all<{ v: string }>('SELECT v FROM t').map((r) => r.v));
      for (const [i, outcome] of outcomes.entries()) {
        // A job is answered as it went: committed and resolved, or refused as unavailable and absent.
        if (outcome.status === 'fulfilled') assert.ok(stored.has(values[i]!), `job ${i} resolved`);
        else {
          assert.ok(outcome.reason instanceof StoreUnavailableError, String(outcome.reason));
          assert.equal(outcome.reason.reason, 'SQLITE_FULL');
          assert.ok(!stored.has(values[i]!), `job ${i} rejected but committed`);
        }
      }
      assert.equal(outcomes[1]!.status, 'rejected');
      assert.equal(await db.grouped(insert('c'), false), 1); // the database serves again
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failed fsync of the log fails the batch that waited for it, then tells the store to stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-eio-'));
    const raw = new Database(join(dir, 'eio.db'));
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE t (v INTEGER NOT NULL)');
    const told: string[] = [];
    const db = new Db(raw, (error) => told.push((error as NodeJS.ErrnoException).code ?? ''));
    const insert = () => db.run('INSERT INTO t (v) VALUES (1)');
    const real = fs.fdatasync;
    try {
      assert.equal(await db.grouped(insert), 1);
      fs.fdatasync = ((_fd: number, callback: (error: Error | null) => void) => {
        const error = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        process.nextTick(callback, error);
      }) as typeof fs.fdatasync;
      syncBuiltinESMExports();
      const failed = db.grouped(insert);
      await assert.rejects(failed, (error) => error instanceof StoreUnavailableError);
      assert.deepEqual(told, []); // the batch's callers hear first
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(told, ['EIO']);
    } finally {
      fs.fdatasync = real;
      syncBuiltinESMExports();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
