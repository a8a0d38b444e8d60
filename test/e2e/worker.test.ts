// End to end, the worker's behaviour under load and failure: auto-disable and its reset, per-endpoint
// rate limits, per-endpoint concurrency (a slow endpoint does not starve the others), and a SIGTERM
// that drains attempts in flight. Real composition root, real local receivers on 127.0.0.1.
// Lease expiry and crash takeover are covered by the store contract and the crash test.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Running, startDoorbell } from '../../src/bin/serve.ts';
import { type DeliveryConfig, makeConfig } from '../../src/config/config.ts';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';

const TOKEN = 'worker-test-admin-token';

interface Hit {
  id: string; // webhook-id
  at: number;
}

type Handler = (hit: Hit, res: ServerResponse) => void;

/** A receiver that records each request once its body has arrived, then lets `handler` answer it. */
async function listen(handler: Handler) {
  const hits: Hit[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const hit = { id: String(req.headers['webhook-id']), at: Date.now() };
      hits.push(hit);
      handler(hit, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hits,
    /** Answers after `ms`, with a timer cleared on close. */
    later(ms: number, fn: () => void) {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
    close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function start(delivery: Partial<DeliveryConfig> = {}): Promise<Running> {
  return startDoorbell(
    makeConfig({
      port: 0,
      database: ':memory:',
      adminToken: TOKEN,
      delivery: {
        retrySchedule: [0, 50, 50],
        jitter: 0,
        penaltyMs: 100,
        allowSubnets: ['127.0.0.0/8'],
        ...delivery,
      },
    }),
  );
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 15_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createApp(base: string): Promise<string> {
  return (await api(base, 'POST', '/app', { name: 'Worker test' })).id;
}

async function createEndpoint(base: string, appId: string, url: string, extra: object = {}): Promise<string> {
  return (await api(base, 'POST', `/app/${appId}/endpoint`, { url, ...extra })).id;
}

async function publish(base: string, appId: string, n = 0): Promise<string> {
  return (await api(base, 'POST', `/app/${appId}/msg`, { eventType: 'test.event', payload: { n } })).id;
}

type AttemptOut = { status: number; responseStatusCode: number; response: string };

async function attemptsOf(base: string, appId: string, msgId: string): Promise<AttemptOut[]> {
  return (await api(base, 'GET', `/app/${appId}/attempt/msg/${msgId}`)).data;
}

/** Resolves once the task of (message, endpoint) has reached a final state; returns that state. */
function settled(running: Running, msgId: string, endpointId: string) {
  return until(`task ${msgId} settled`, async () => {
    const task = await running.store.tasks.get(msgId, endpointId);
    return task && (task.status === 'success' || task.status === 'fail') ? task.status : undefined;
  });
}

describe('auto-disable', () => {
  test('an endpoint failing longer than autoDisableAfterMs is disabled; nothing more is sent to it', async () => {
    const running = await start({ autoDisableAfterMs: 300, retrySchedule: [0, ...Array(9).fill(100)] });
    const rx = await listen((_hit, res) => res.writeHead(500).end());
    const ok = await listen((_hit, res) => res.writeHead(200).end());
    try {
      const appId = await createApp(running.url);
      const epId = await createEndpoint(running.url, appId, rx.url);
      const first = await publish(running.url, appId, 1);
      await until(
        'disabled',
        async () => (await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}`)).disabled,
      );

      // The retry still pending when it was disabled is not sent: the schedule (10 tries) was cut short.
      assert.equal(await settled(running, first, epId), 'fail');
      const tries = rx.hits.length;
      assert.ok(tries >= 2 && tries < 10, `${tries} tries before disabling`);
      const recorded = await attemptsOf(running.url, appId, first);
      assert.equal(recorded.filter((a) => a.responseStatusCode === 500).length, tries);

      // A later message creates no HTTP attempt at it. A healthy endpoint added now shows when the
      // worker has handled that message (both tasks are due at once).
      const okId = await createEndpoint(running.url, appId, ok.url);
      const second = await publish(running.url, appId, 2);
      await settled(running, second, okId);
      const task = await running.store.tasks.get(second, epId);
      if (task) assert.equal(await settled(running, second, epId), 'fail');
      assert.equal(rx.hits.filter((h) => h.id === second).length, 0);
      for (const a of await attemptsOf(running.url, appId, second)) {
        assert.ok(a.responseStatusCode === 200 || /disabled/.test(a.response), JSON.stringify(a));
      }
      assert.equal(rx.hits.length, tries);
    } finally {
      await running.close();
      await Promise.all([rx.close(), ok.close()]);
    }
  });

  test('a success resets the failure run, so a later failure starts a new one', async () => {
    const running = await start({ autoDisableAfterMs: 300, retrySchedule: [0, 100] });
    const tries = new Map<string, number>();
    // Every message fails once, then succeeds.
    const rx = await listen((hit, res) => {
      const n = (tries.get(hit.id) ?? 0) + 1;
      tries.set(hit.id, n);
      res.writeHead(n === 1 ? 500 : 200).end();
    });
    try {
      const appId = await createApp(running.url);
      const epId = await createEndpoint(running.url, appId, rx.url);
      const first = await publish(running.url, appId, 1);
      assert.equal(await settled(running, first, epId), 'success');
      const firstFailure = rx.hits[0]!.at;
      assert.equal((await running.store.endpoints.get(appId, epId))?.failingSince, null);

      // Past the auto-disable window counted from the first failure: without the reset, the next
      // failure would find a run older than 300 ms and disable the endpoint.
      await sleep(Math.max(0, firstFailure + 400 - Date.now()));
      const second = await publish(running.url, appId, 2);
      assert.equal(await settled(running, second, epId), 'success');
      const endpoint = await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}`);
      assert.equal(endpoint.disabled, false);
      assert.equal(tries.get(second), 2);
    } finally {
      await running.close();
      await rx.close();
    }
  });

  test('a success that was claimed before a concurrent failure was recorded still ends the run', async () => {
    // Long retry delay: the failed message is not retried during the test, only the ordering matters.
    const running = await start({ retrySchedule: [0, 60_000] });
    const held: { id: string; res: ServerResponse }[] = [];
    const rx = await listen((hit, res) => held.push({ id: hit.id, res }));
    try {
      const appId = await createApp(running.url);
      const epId = await createEndpoint(running.url, appId, rx.url);
      const failing = await publish(running.url, appId, 1);
      const succeeding = await publish(running.url, appId, 2);
      // Both are in flight, so both were claimed while the endpoint had no failure run.
      await until('both in flight', () => held.length === 2);
      held
        .find((h) => h.id === failing)!
        .res.writeHead(500)
        .end();
      await until(
        'failure run started',
        async () => (await running.store.endpoints.get(appId, epId))?.failingSince,
      );
      held
        .find((h) => h.id === succeeding)!
        .res.writeHead(200)
        .end();
      assert.equal(await settled(running, succeeding, epId), 'success');
      await until(
        'failure run ended',
        async () => (await running.store.endpoints.get(appId, epId))?.failingSince === null,
      );
    } finally {
      await running.close();
      await rx.close();
    }
  });
});

describe('rate limits', () => {
  /** Publishes 10 messages at once to `appId` and returns the span from first to last arrival at `rx`. */
  async function spanOfTen(running: Running, appId: string, rx: Awaited<ReturnType<typeof listen>>) {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => publish(running.url, appId, i)));
    await until('ten deliveries', () => rx.hits.length >= 10);
    assert.deepEqual(new Set(rx.hits.map((h) => h.id)), new Set(ids));
    return rx.hits.at(-1)!.at - rx.hits[0]!.at;
  }

  // Ten evenly spaced slots 200 ms apart: at least 1800 ms from first to last arrival, less some slack
  // for the first request's connection setup.
  const MIN_SPAN = 1600;

  test('an endpoint with rateLimit 5 receives 10 messages no faster than 5 per second', async () => {
    const running = await start();
    const rx = await listen((_hit, res) => res.writeHead(200).end());
    try {
      const appId = await createApp(running.url);
      const epId = await createEndpoint(running.url, appId, rx.url, { rateLimit: 5 });
      assert.equal((await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}`)).rateLimit, 5);
      const span = await spanOfTen(running, appId, rx);
      assert.ok(span >= MIN_SPAN, `10 messages at 5/s arrived within ${span} ms`);
    } finally {
      await running.close();
      await rx.close();
    }
  });

  test("an application's rateLimit applies to each of its endpoints that sets none", async () => {
    const running = await start();
    const rx = await listen((_hit, res) => res.writeHead(200).end());
    try {
      const appId = (await api(running.url, 'POST', '/app', { name: 'Throttled', rateLimit: 5 })).id;
      await createEndpoint(running.url, appId, rx.url);
      const span = await spanOfTen(running, appId, rx);
      assert.ok(span >= MIN_SPAN, `10 messages at 5/s arrived within ${span} ms`);
    } finally {
      await running.close();
      await rx.close();
    }
  });
});

test('a slow endpoint does not starve the others', async () => {
  const running = await start({ perEndpointConcurrency: 2, concurrency: 8 });
  let slowInFlight = 0;
  let slowMaxInFlight = 0;
  let slowAnswered = 0;
  const slowAnsweredAtFastHit: number[] = [];
  const slow = await listen((_hit, res) => {
    slowInFlight++;
    slowMaxInFlight = Math.max(slowMaxInFlight, slowInFlight);
    slow.later(1000, () => {
      slowInFlight--;
      slowAnswered++;
      res.writeHead(200).end();
    });
  });
  const fast = await listen((_hit, res) => {
    slowAnsweredAtFastHit.push(slowAnswered);
    res.writeHead(200).end();
  });
  try {
    const appId = await createApp(running.url);
    await createEndpoint(running.url, appId, slow.url);
    await createEndpoint(running.url, appId, fast.url);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await publish(running.url, appId, i));
    await until('20 fast deliveries', () => fast.hits.length >= 20);
    assert.deepEqual(new Set(fast.hits.map((h) => h.id)), new Set(ids));
    // Every fast delivery arrived while the slow endpoint still had messages waiting.
    assert.ok(
      slowAnsweredAtFastHit.every((n) => n < 20),
      `slow deliveries done at each fast hit: ${slowAnsweredAtFastHit}`,
    );
    assert.ok(slowAnswered + slowInFlight < 20, 'the slow endpoint still has messages waiting');
    assert.ok(slowMaxInFlight <= 2, `the slow endpoint had ${slowMaxInFlight} requests in flight`);
  } finally {
    await running.close(); // waits for the slow attempts in flight (1 s)
    await Promise.all([slow.close(), fast.close()]);
  }
});

test('SIGTERM drains the attempts in flight and exits 0; nothing is sent again after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-worker-'));
  const database = join(dir, 'doorbell.db');
  const args = ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0,100ms'];
  const rx = await listen((_hit, res) => rx.later(500, () => res.writeHead(200).end('ok')));
  const procs: DoorbellProcess[] = [];
  t.after(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const first = await spawnDoorbell({ database, adminToken: TOKEN, args });
  procs.push(first);
  const appId = await createApp(first.url);
  const epId = await createEndpoint(first.url, appId, rx.url);
  const ids = [
    await publish(first.url, appId, 1),
    await publish(first.url, appId, 2),
    await publish(first.url, appId, 3),
  ];
  await until('three attempts in flight', () => rx.hits.length === 3);
  const exit = await first.stop(10_000);
  assert.deepEqual(exit, { code: 0, signal: null }, first.output());

  const second = await spawnDoorbell({ database, adminToken: TOKEN, args });
  procs.push(second);
  for (const msgId of ids) {
    const recorded = await attemptsOf(second.url, appId, msgId);
    assert.equal(recorded.length, 1, `${msgId}: ${JSON.stringify(recorded)}`);
    assert.equal(recorded[0]?.status, 0);
    assert.equal(recorded[0]?.responseStatusCode, 200);
  }
  const statuses = (await api(second.url, 'GET', `/app/${appId}/endpoint/${epId}/msg`)).data.map(
    (m: { status: number }) => m.status,
  );
  assert.deepEqual(statuses, [0, 0, 0]);
  // A message published after the restart is delivered; the three drained ones are not sent again.
  const after = await publish(second.url, appId, 4);
  await until('delivery after restart', () => rx.hits.some((h) => h.id === after));
  assert.deepEqual(
    rx.hits.map((h) => h.id),
    [...rx.hits.slice(0, 3).map((h) => h.id), after],
  );
  assert.deepEqual(new Set(rx.hits.slice(0, 3).map((h) => h.id)), new Set(ids));
  assert.deepEqual(await second.stop(10_000), { code: 0, signal: null });
});
