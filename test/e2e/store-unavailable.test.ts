// A database that cannot serve a call through no fault of the client (disk full, no connection slots)
// answers 503 with Retry-After and the usual error body, keeps nothing half-written, and the server
// answers again once the database can. A server shutting down answers the same way.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { initAdminToken } from '../../src/app/auth.ts';
import { startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { openThreadStore } from '../../src/store/thread/thread-store.ts';
import { until } from '../support/in-process.ts';
import { ADMIN_URL, createTempDatabase, pgSkipReason, withClient } from '../support/postgres.ts';

const config = makeConfig({ adminToken: 'test-admin-token', delivery: { allowSubnets: ['127.0.0.0/8'] } });

async function api(store: Store, log?: string[]): Promise<{ app: FastifyInstance; call: typeof call }> {
  await initAdminToken(store, config);
  // As serve logs: warnings and errors, one JSON line each.
  const stream = { write: (line: string) => log?.push(line) };
  const logger = log ? { level: 'warn', stream } : false;
  const app = await buildServer({ store, config, now: () => Date.now(), wake: () => {}, logger });
  const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, headers: res.headers, json: res.json() };
  };
  return { app, call };
}

function assertUnavailable(
  res: { status: number; headers: Record<string, unknown>; json: { code?: string; detail?: string } },
  detail: RegExp,
) {
  assert.equal(res.status, 503, JSON.stringify(res.json));
  assert.equal(res.headers['retry-after'], '5');
  assert.equal(res.json.code, 'unavailable');
  assert.match(String(res.json.detail), detail);
}

describe('sqlite: a full disk', () => {
  it('answers 503 with Retry-After, commits nothing of the refused publish, then serves again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-full-'));
    const path = join(dir, 'doorbell.db');
    await openSqliteStore(path).close();
    const raw = new Database(path);
    const pages = raw.pragma('page_count', { simple: true }) as number;
    // On the store's own thread, as the server runs it: the failure crosses the thread boundary.
    const thread = await openThreadStore(new URL('../support/capped-store-thread.ts', import.meta.url), {
      path,
      maxPages: pages + 16, // 64 KiB to grow by
    });
    const log: string[] = [];
    const { app, call } = await api(thread.store, log);
    try {
      assert.equal((await call('POST', '/api/v1/app', { name: 'Acme', uid: 'acme' })).status, 201);
      const ep = await call('POST', '/api/v1/app/acme/endpoint', { url: 'http://127.0.0.1:9/hook' });
      assert.equal(ep.status, 201);

      const big = { eventType: 'big', payload: { data: 'x'.repeat(256 * 1024) } };
      assertUnavailable(await call('POST', '/api/v1/app/acme/msg', big), /full/);
      // The operator is told, with the driver's code.
      const warnings = log.map((line) => JSON.parse(line)).filter((l) => l.level === 40);
      assert.deepEqual(
        warnings.map((w) => w.reason),
        ['SQLITE_FULL'],
      );
      // Another connection sees neither the message nor its task.
      const count = (table: string) => raw.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
      assert.equal(count('messages'), 0);
      assert.equal(count('tasks'), 0);

      const small = await call('POST', '/api/v1/app/acme/msg', { eventType: 'small', payload: { a: 1 } });
      assert.equal(small.status, 202, JSON.stringify(small.json));
      const list = await call('GET', '/api/v1/app/acme/msg');
      assert.deepEqual(
        list.json.data.map((m: { eventType: string }) => m.eventType),
        ['small'],
      );
      assert.equal(count('tasks'), 1);
    } finally {
      await app.close();
      await thread.store.close();
      raw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a database that takes no publishes (stuck behind a lock)', () => {
  it('answers a publish that waited 3 s for its batch 503, unsent, while those in flight wait on', async () => {
    const store = openSqliteStore(':memory:');
    const { app, call } = await api(store);
    const stuck: Array<() => void> = [];
    const publish = store.messages.publish.bind(store.messages);
    try {
      assert.equal((await call('POST', '/api/v1/app', { name: 'Acme', uid: 'acme' })).status, 201);
      store.messages.publish = async (items) => {
        await new Promise<void>((resolve) => stuck.push(resolve));
        return publish(items);
      };
      const send = () => call('POST', '/api/v1/app/acme/msg', { eventType: 'e', payload: {} });
      // Four batches in flight, each held; the fifth publish waits for one of them.
      const inFlight: Array<ReturnType<typeof send>> = [];
      for (let i = 0; i < 4; i++) {
        inFlight.push(send());
        await until('its batch is in flight', () => stuck.length === i + 1);
      }
      const started = Date.now();
      const late = await send();
      assertUnavailable(late, /has not taken publishes for 3 s/);
      assert.ok(Date.now() - started < 6_000, 'answered after its own wait, not after those ahead of it');
      for (const release of stuck) release();
      for (const res of await Promise.all(inFlight)) assert.equal(res.status, 202);
      const list = await call('GET', '/api/v1/app/acme/msg');
      assert.equal(list.json.data.length, 4, 'the late publish was never committed');
    } finally {
      for (const release of stuck) release();
      await app.close();
      await store.close();
    }
  });
});

describe('postgres: no connection slot left', async () => {
  const skip = await pgSkipReason();
  it('answers 503 with Retry-After (SQLSTATE 53300, then 55000 for a database closed to connections), then serves again', {
    skip,
  }, async () => {
    const db = await createTempDatabase();
    // Superusers ignore a database's connection limit: the store connects as a role of its own.
    const role = `doorbell_limited_${randomBytes(4).toString('hex')}`;
    const admin = (sql: string) => withClient(ADMIN_URL, (c) => c.query(sql));
    await admin(`CREATE ROLE ${role} LOGIN`);
    await admin(`ALTER DATABASE ${db.name} OWNER TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    let store: Store | undefined;
    let app: FastifyInstance | undefined;
    try {
      store = await openPostgresStore(url.toString(), { poolSize: 2 });
      const server = await api(store);
      app = server.app;
      assert.equal((await server.call('POST', '/api/v1/app', { name: 'Acme', uid: 'acme' })).status, 201);

      await admin(`ALTER DATABASE ${db.name} CONNECTION LIMIT 0`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
      // The first calls may meet a pooled connection that was just ended (also a 503); a new one is refused.
      let refused = false;
      for (let i = 0; i < 20 && !refused; i++) {
        const res = await server.call('GET', '/api/v1/app/acme');
        assertUnavailable(res, /database unavailable/);
        refused = /too many connections/.test(res.json.detail);
      }
      assert.ok(refused, 'no call was refused for want of a connection slot');

      await admin(`ALTER DATABASE ${db.name} CONNECTION LIMIT -1`);
      assert.equal((await server.call('GET', '/api/v1/app/acme')).status, 200);

      // A database that takes no connections at all answers SQLSTATE 55000: also a 503.
      await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
      let closed = false;
      for (let i = 0; i < 20 && !closed; i++) {
        const res = await server.call('GET', '/api/v1/app/acme');
        assertUnavailable(res, /database unavailable/);
        closed = /not currently accepting connections/.test(res.json.detail);
      }
      assert.ok(closed, 'no call met the closed database');
      await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
      assert.equal((await server.call('GET', '/api/v1/app/acme')).status, 200);
    } finally {
      await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`).catch(() => {});
      await app?.close();
      await store?.close();
      await db.drop();
      await admin(`DROP ROLE IF EXISTS ${role}`);
    }
  });
});

describe('a server shutting down', () => {
  it('closes the connection of a request that was running when it began to close, and closes at once', async () => {
    const running = await startDoorbell(
      makeConfig({ port: 0, database: ':memory:', adminToken: config.adminToken }),
    );
    const { hostname, port } = new URL(running.url);
    const body = JSON.stringify({ name: 'late' });
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
    });
    const ended = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /api/v1/app HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${config.adminToken}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100)); // the request is running
    const closed = running.close();
    socket.write(body.slice(5)); // the rest, once the server is closing
    await ended;
    assert.match(answer, /^HTTP\/1\.1 201 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    await closed; // not held by an idle kept-alive connection (for its 72 s keep-alive timeout)
  });

  it('answers a request that still arrives 503 with Retry-After and the usual error body', async () => {
    const store = openSqliteStore(':memory:');
    const { app, call } = await api(store);
    const closing = app.close();
    try {
      const res = await call('GET', '/api/v1/app');
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(res.headers.connection, 'close');
      assert.deepEqual(res.json, { code: 'unavailable', detail: 'the server is shutting down' });
    } finally {
      await closing;
      await store.close();
    }
  });
});
