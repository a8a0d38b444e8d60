import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteThread } from '../../src/bin/open-store.ts';
import { makeConfig } from '../../src/config/config.ts';
import { newId } from '../../src/core/ids.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import { describeStoreContract } from '../../src/store/store-contract.ts';
import { openThreadStore } from '../../src/store/thread/thread-store.ts';

describeStoreContract('sqlite', { open: async () => openSqliteStore(':memory:'), close: (s) => s.close() });
describeStoreContract('sqlite on its own thread', {
  open: async () => (await openSqliteThread(makeConfig({ database: ':memory:' }))).store,
  close: (s) => s.close(),
});

describe('sqlite store on a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-sqlite-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const T0 = 1_700_000_000_000;

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
    await store.messages.publish([
      {
        message: {
          id: msgId,
          appId,
          eventType: 'a.b',
          eventId: 'e1',
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
      assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').pluck().all(), [1]);
    } finally {
      db.close();
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
