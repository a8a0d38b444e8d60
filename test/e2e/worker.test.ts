// End to end, the worker's behaviour under load and failure: auto-disable and its reset, per-endpoint
// rate limits, per-endpoint concurrency (a slow endpoint does not starve the others), and a SIGTERM
// that drains attempts in flight. Real composition root, real local receivers on 127.0.0.1.
// Lease expiry and crash takeover are covered by the store contract and the crash test. Every test
// runs once per store driver (SQLite, PostgreSQL).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Running } from '../../src/bin/serve.ts';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';
import { apiOk, describeEachDriver, start, TOKEN, testDatabase, until } from '../support/in-process.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

/** The bound for `until` in this file (the shared default is 10 s). */
const WAIT_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createApp(base: string): Promise<string> {
  return (await apiOk(base, 'POST', '/app', { name: 'Worker test' })).id;
}

async function createEndpoint(base: string, appId: string, url: string, extra: object = {}): Promise<string> {
  return (await apiOk(base, 'POST', `/app/${appId}/endpoint`, { url, ...extra })).id;
}

async function publish(base: string, appId: string, n = 0): Promise<string> {
  return (await apiOk(base, 'POST', `/app/${appId}/msg`, { eventType: 'test.event', payload: { n } })).id;
}

type AttemptOut = { status: number; responseStatusCode: number; response: string; triggerType: number };

async function attemptsOf(base: string, appId: string, msgId: string): Promise<AttemptOut[]> {
  return (await apiOk(base, 'GET', `/app/${appId}/attempt/msg/${msgId}`)).data;
}

/** Resolves once the task of (message, endpoint) has reached a final state; returns that state. */
function settled(running: Running, msgId: string, endpointId: string) {
  return until(
    `task ${msgId} settled`,
    async () => {
      const task = await running.store.tasks.get(msgId, endpointId);
      return task && (task.status === 'success' || task.status === 'fail') ? task.status : undefined;
    },
    WAIT_MS,
  );
}

await describeEachDriver((driver) => {
  describe('auto-disable', () => {
    test('an endpoint failing longer than autoDisableAfterMs is disabled; nothing more is sent to it', async () => {
      const running = await start(
        { autoDisableAfterMs: 300, retrySchedule: [0, ...Array(9).fill(100)] },
        driver,
      );
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(500).end() });
      const ok = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      try {
        const appId = await createApp(running.url);
        const epId = await createEndpoint(running.url, appId, rx.url);
        const first = await publish(running.url, appId, 1);
        await until(
          'disabled',
          async () => (await apiOk(running.url, 'GET', `/app/${appId}/endpoint/${epId}`)).disabled,
          WAIT_MS,
        );

        // The retry still pending when it was disabled is not sent: the schedule (10 tries) was cut short.
        assert.equal(await settled(running, first, epId), 'fail');
        const tries = rx.requests.length;
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
        assert.equal(rx.requests.filter((h) => h.webhookId === second).length, 0);
        for (const a of await attemptsOf(running.url, appId, second)) {
          assert.ok(a.responseStatusCode === 200 || /disabled/.test(a.response), JSON.stringify(a));
        }
        assert.equal(rx.requests.length, tries);
      } finally {
        await running.close();
        await Promise.all([rx.close(), ok.close()]);
      }
    });

    test('a success resets the failure run, so a later failure starts a new one', async () => {
      const running = await start({ autoDisableAfterMs: 300, retrySchedule: [0, 100] }, driver);
      const tries = new Map<string, number>();
      // Every message fails once, then succeeds.
      const rx = await startReceiver({
        handle: (hit, res) => {
          const n = (tries.get(hit.webhookId) ?? 0) + 1;
          tries.set(hit.webhookId, n);
          res.writeHead(n === 1 ? 500 : 200).end();
        },
      });
      try {
        const appId = await createApp(running.url);
        const epId = await createEndpoint(running.url, appId, rx.url);
        const first = await publish(running.url, appId, 1);
        assert.equal(await settled(running, first, epId), 'success');
        const firstFailure = rx.requests[0]!.at;
        // The worker records endpoint health just after it finishes the task: a write of its own.
        await until(
          'failure run ended',
          async () => (await running.store.endpoints.get(appId, epId))?.failingSince === null,
          WAIT_MS,
        );
        assert.equal((await running.store.endpoints.get(appId, epId))?.failingSince, null);

        // Past the auto-disable window counted from the first failure: without the reset, the next
        // failure would find a run older than 300 ms and disable the endpoint.
        await sleep(Math.max(0, firstFailure + 400 - Date.now()));
        const second = await publish(running.url, appId, 2);
        assert.equal(await settled(running, second, epId), 'success');
        const endpoint = await apiOk(running.url, 'GET', `/app/${appId}/endpoint/${epId}`);
        assert.equal(endpoint.disabled, false);
        assert.equal(tries.get(second), 2);
      } finally {
        await running.close();
        await rx.close();
      }
    });

    test('a success that was claimed before a concurrent failure was recorded still ends the run', async () => {
      // Long retry delay: the failed message is not retried during the test, only the ordering matters.
      const running = await start({ retrySchedule: [0, 60_000] }, driver);
      const held: { id: string; res: ServerResponse }[] = [];
      const rx = await startReceiver({ handle: (hit, res) => held.push({ id: hit.webhookId, res }) });
      try {
        const appId = await createApp(running.url);
        const epId = await createEndpoint(running.url, appId, rx.url);
        const failing = await publish(running.url, appId, 1);
        const succeeding = await publish(running.url, appId, 2);
        // Both are in flight, so both were claimed while the endpoint had no failure run.
        await until('both in flight', () => held.length === 2, WAIT_MS);
        held
          .find((h) => h.id === failing)!
          .res.writeHead(500)
          .end();
        await until(
          'failure run started',
          // `until` stops at anything but undefined or false: map "no run yet" (null) to undefined.
          async () => (await running.store.endpoints.get(appId, epId))?.failingSince ?? undefined,
          WAIT_MS,
        );
        held
          .find((h) => h.id === succeeding)!
          .res.writeHead(200)
          .end();
        assert.equal(await settled(running, succeeding, epId), 'success');
        await until(
          'failure run ended',
          async () => (await running.store.endpoints.get(appId, epId))?.failingSince === null,
          WAIT_MS,
        );
      } finally {
        await running.close();
        await rx.close();
      }
    });
  });

  describe('rate limits', () => {
    /** Publishes 10 messages at once to `appId` and returns the span from first to last arrival at `rx`. */
    async function spanOfTen(running: Running, appId: string, rx: Receiver) {
      const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => publish(running.url, appId, i)));
      await until('ten deliveries', () => rx.requests.length >= 10, WAIT_MS);
      assert.deepEqual(new Set(rx.requests.map((h) => h.webhookId)), new Set(ids));
      return rx.requests.at(-1)!.at - rx.requests[0]!.at;
    }

    test('a resend made while the attempt is in flight goes out once that attempt is recorded', async () => {
      const running = await start({}, driver);
      let answerFirst = () => {};
      const rx = await startReceiver({
        handle: (hit, res) => {
          if (hit.attempt === 1) answerFirst = () => res.writeHead(200).end();
          else res.writeHead(200).end();
        },
      });
      try {
        const appId = await createApp(running.url);
        const epId = await createEndpoint(running.url, appId, rx.url);
        const msgId = await publish(running.url, appId);
        await until('the first attempt in flight', () => rx.requests.length === 1, WAIT_MS);
        await apiOk(running.url, 'POST', `/app/${appId}/msg/${msgId}/endpoint/${epId}/resend`);
        await sleep(100); // the resend's wake-up has come and found nothing to claim
        const answeredAt = Date.now();
        answerFirst();
        await until('the resend sent', () => rx.requests.length === 2, WAIT_MS);
        // Not left for the idle poll (1 s): it woke nothing before, and went out 0.6-1 s later.
        const gap = rx.requests[1]!.at - answeredAt;
        assert.ok(gap < 500, `the resend went out ${gap} ms after the first attempt ended`);
      } finally {
        await running.close();
        await rx.close();
      }
    });

    test('a resend still queued when its endpoint is disabled is not sent; the message stays delivered', async () => {
      const running = await start({}, driver);
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      try {
        const appId = await createApp(running.url);
        // One message a second: the resend waits about a second for its slot, and is disabled meanwhile.
        const epId = await createEndpoint(running.url, appId, rx.url, { rateLimit: 1 });
        const msgId = await publish(running.url, appId);
        assert.equal(await settled(running, msgId, epId), 'success');
        await apiOk(running.url, 'POST', `/app/${appId}/msg/${msgId}/endpoint/${epId}/resend`);
        await apiOk(running.url, 'PATCH', `/app/${appId}/endpoint/${epId}`, { disabled: true });
        const recorded = await until(
          'the resend recorded',
          async () => {
            const all = await attemptsOf(running.url, appId, msgId);
            return all.length === 2 ? all : undefined;
          },
          WAIT_MS,
        );
        assert.match(
          recorded[0]!.response,
          /endpoint disabled/,
          'the newest attempt says why it was not sent',
        );
        assert.equal(rx.requests.length, 1, 'nothing sent to the disabled endpoint');
        const task = await running.store.tasks.get(msgId, epId);
        assert.deepEqual([task?.status, task?.restore], ['success', null], 'still delivered');
      } finally {
        await running.close();
        await rx.close();
      }
    });

    // Ten evenly spaced slots 200 ms apart: at least 1800 ms from first to last arrival, less some slack
    // for the first request's connection setup.
    const MIN_SPAN = 1600;

    test('an endpoint with rateLimit 5 receives 10 messages no faster than 5 per second', async () => {
      const running = await start({}, driver);
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      try {
        const appId = await createApp(running.url);
        const epId = await createEndpoint(running.url, appId, rx.url, { rateLimit: 5 });
        assert.equal((await apiOk(running.url, 'GET', `/app/${appId}/endpoint/${epId}`)).rateLimit, 5);
        const span = await spanOfTen(running, appId, rx);
        assert.ok(span >= MIN_SPAN, `10 messages at 5/s arrived within ${span} ms`);
      } finally {
        await running.close();
        await rx.close();
      }
    });

    test("an application's rateLimit applies to each of its endpoints that sets none", async () => {
      const running = await start({}, driver);
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      try {
        const appId = (await apiOk(running.url, 'POST', '/app', { name: 'Throttled', rateLimit: 5 })).id;
        await createEndpoint(running.url, appId, rx.url);
        const span = await spanOfTen(running, appId, rx);
        assert.ok(span >= MIN_SPAN, `10 messages at 5/s arrived within ${span} ms`);
      } finally {
        await running.close();
        await rx.close();
      }
    });

    // 40 messages at 1/s would take 40 s; once the limit is lifted they arrive well within WAIT_MS.
    for (const on of ['endpoint', 'application'] as const) {
      test(`lifting the ${on}'s rateLimit frees the messages already waiting for slots`, async () => {
        const running = await start({}, driver);
        const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
        try {
          const limit = { rateLimit: 1 };
          const appId = (
            await apiOk(running.url, 'POST', '/app', { name: 'Slow', ...(on === 'application' ? limit : {}) })
          ).id;
          const epId = await createEndpoint(running.url, appId, rx.url, on === 'endpoint' ? limit : {});
          for (let i = 0; i < 40; i++) await publish(running.url, appId, i);
          await until('the first delivery', () => rx.requests.length >= 1, WAIT_MS);
          const path = on === 'endpoint' ? `/app/${appId}/endpoint/${epId}` : `/app/${appId}`;
          await apiOk(running.url, 'PATCH', path, { rateLimit: null });
          assert.ok(rx.requests.length < 40, 'still throttled before the change');
          await until('all 40 deliveries', () => rx.requests.length >= 40, WAIT_MS);
        } finally {
          await running.close();
          await rx.close();
        }
      });
    }
  });

  /**
   * One application's `endpoints` hang (attempts outlast the test) and `messages` to them leave `held`
   * of `concurrency` slots taken; an endpoint of another application is then served at once, in the
   * slots left, and the hanging ones take no more.
   */
  async function servedBesideHanging(concurrency: number, endpoints: number, messages: number, held: number) {
    const running = await start({ concurrency, attemptTimeoutMs: 60_000 }, driver);
    const hung: ServerResponse[] = [];
    // Once the test is done, the hanging endpoints answer: the attempts their freed slots start then
    // would otherwise hold the close for their whole deadline.
    let done = false;
    const hanging = await startReceiver({
      handle: (_hit, res) => (done ? res.writeHead(200).end() : void hung.push(res)),
    });
    const healthy = await startReceiver();
    try {
      const appId = await createApp(running.url);
      for (let i = 0; i < endpoints; i++) await createEndpoint(running.url, appId, `${hanging.url}/${i}`);
      for (let i = 0; i < messages; i++) await publish(running.url, appId, i);
      await until(`the hanging endpoints hold ${held} slots`, () => hung.length === held, WAIT_MS);
      const other = await createApp(running.url);
      await createEndpoint(running.url, other, healthy.url);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await publish(running.url, other, i));
      await until('5 deliveries to the healthy endpoint', () => healthy.requests.length === 5, WAIT_MS);
      assert.deepEqual(new Set(healthy.requests.map((h) => h.webhookId)), new Set(ids));
      assert.equal(hung.length, held, 'the slots left went to the healthy endpoint only');
    } finally {
      done = true;
      for (const res of hung) res.writeHead(200).end();
      await running.close();
      await Promise.all([hanging.close(), healthy.close()]);
    }
  }

  test('endpoints that hang cannot take every slot: another endpoint is still served at once', async () => {
    // 8 slots, 1 of them kept for endpoints with no attempt in flight.
    await servedBesideHanging(8, 3, 10, 7);
  });

  test("one application's many hanging endpoints cannot take every slot: another application is served at once", async () => {
    // 16 slots, 2 of them kept in reserve, where an application holds at most 1 (as an endpoint does).
    await servedBesideHanging(16, 20, 1, 15);
  });

  test('a slow endpoint does not starve the others', async () => {
    const running = await start({ perEndpointConcurrency: 2, concurrency: 8 }, driver);
    let slowInFlight = 0;
    let slowMaxInFlight = 0;
    let slowAnswered = 0;
    const slowAnsweredAtFastHit: number[] = [];
    const slow = await startReceiver({
      handle: (_hit, res) => {
        slowInFlight++;
        slowMaxInFlight = Math.max(slowMaxInFlight, slowInFlight);
        slow.later(1000, () => {
          slowInFlight--;
          slowAnswered++;
          res.writeHead(200).end();
        });
      },
    });
    const fast = await startReceiver({
      handle: (_hit, res) => {
        slowAnsweredAtFastHit.push(slowAnswered);
        res.writeHead(200).end();
      },
    });
    try {
      const appId = await createApp(running.url);
      await createEndpoint(running.url, appId, slow.url);
      await createEndpoint(running.url, appId, fast.url);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await publish(running.url, appId, i));
      await until('20 fast deliveries', () => fast.requests.length >= 20, WAIT_MS);
      assert.deepEqual(new Set(fast.requests.map((h) => h.webhookId)), new Set(ids));
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

  test('endpoints sharing an origin do not wait for its connections: a slow but timely receiver sees no timeout', async () => {
    // 200 attempts in flight at once to one origin, each answered after 1.6 s of a 3 s deadline. Queued
    // behind a smaller pool, the later ones would spend their deadline waiting for a connection.
    const running = await start(
      { concurrency: 200, perEndpointConcurrency: 100, attemptTimeoutMs: 3000 },
      driver,
    );
    const rx = await startReceiver({ handle: (_hit, res) => rx.later(1600, () => res.writeHead(200).end()) });
    try {
      const appId = await createApp(running.url);
      const eps = [
        await createEndpoint(running.url, appId, `${rx.url}/a`),
        await createEndpoint(running.url, appId, `${rx.url}/b`),
      ];
      await Promise.all(Array.from({ length: 200 }, (_, i) => publish(running.url, appId, i)));
      await until('400 deliveries', () => rx.requests.length >= 400, WAIT_MS);
      for (const ep of eps) {
        const failed = await apiOk(running.url, 'GET', `/app/${appId}/attempt/endpoint/${ep}?status=2`);
        assert.deepEqual(failed.data, [], 'no attempt failed');
      }
    } finally {
      await running.close();
      await rx.close();
    }
  });

  /**
   * Waits until `total` messages have arrived at `rx`; of the requests after the first `before`, how
   * many came within a second of the first of them.
   */
  async function burstAfter(rx: Receiver, before: number, total: number, ms = WAIT_MS) {
    const delivered = () => new Set(rx.requests.map((h) => h.webhookId)).size === total;
    await until('every message delivered', delivered, ms);
    const arrivals = rx.requests.slice(before).map((h) => h.at);
    return {
      firstSecond: arrivals.filter((at) => at < arrivals[0]! + 1000).length,
      arrived: arrivals.length,
    };
  }

  /**
   * Starts `doorbell serve` processes on one database that outlives them; after `t`, kills what still
   * runs and removes the database and `rx`.
   */
  async function restartable(t: TestContext, rx: Receiver) {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-worker-'));
    const db = await testDatabase(driver, join(dir, 'doorbell.db'));
    const procs: DoorbellProcess[] = [];
    t.after(async () => {
      for (const p of procs) await p.kill('SIGKILL');
      await rx.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    return async (args: string[]) => {
      const proc = await spawnDoorbell({ database: db.url, adminToken: TOKEN, args });
      procs.push(proc);
      return proc;
    };
  }

  test('after a restart, messages waiting for rate-limit slots keep the rate: no burst', async (t) => {
    const args = ['--allow-subnets', '127.0.0.0/8'];
    const rx = await startReceiver();
    const spawn = await restartable(t, rx);

    const first = await spawn(args);
    const appId = await createApp(first.url);
    await createEndpoint(first.url, appId, rx.url, { rateLimit: 10 });
    for (let i = 0; i < 30; i++) await publish(first.url, appId, i); // slots over 3 s
    await until('the first deliveries', () => rx.requests.length >= 3, WAIT_MS);
    assert.deepEqual(await first.stop(10_000), { code: 0, signal: null }, first.output());
    const before = rx.requests.length;
    await sleep(1000); // as a deploy does: some slots pass, later ones are still ahead

    await spawn(args);
    const { firstSecond, arrived } = await burstAfter(rx, before, 30);
    // The messages whose slots passed while no worker ran took new ones: 10 a second, not all at once
    // (before, the slots of the last 2 s were all used at once: 20 in that second).
    assert.ok(
      firstSecond <= 12,
      `${firstSecond} of ${arrived} arrived in the first second after the restart`,
    );
  });

  test('after a stall (a paused process), messages waiting for rate-limit slots keep the rate', async (t) => {
    const rx = await startReceiver();
    const spawn = await restartable(t, rx);
    const proc = await spawn(['--allow-subnets', '127.0.0.0/8']);
    const appId = await createApp(proc.url);
    await createEndpoint(proc.url, appId, rx.url, { rateLimit: 5 });
    for (let i = 0; i < 40; i++) await publish(proc.url, appId, i); // slots over 8 s
    await until('the first deliveries', () => rx.requests.length >= 3, WAIT_MS);
    process.kill(proc.pid, 'SIGSTOP');
    await sleep(5_000); // some 25 slots pass
    const before = rx.requests.length;
    process.kill(proc.pid, 'SIGCONT');
    const { firstSecond, arrived } = await burstAfter(rx, before, 40, 30_000);
    // The slots that passed during the stall are given up for new ones: 5 a second, not a burst.
    assert.ok(firstSecond <= 7, `${firstSecond} of ${arrived} arrived in the first second after the stall`);
  });

  test('a resend made during an attempt a crash cut off: its failure after the restart keeps the schedule going', async (t) => {
    const args = ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0,100ms', '--attempt-timeout', '1s'];
    // The first request is held until the crash; the resend after the restart fails; the retry delivers.
    const rx = await startReceiver({
      handle: (_hit, res) => {
        const n = rx.requests.length;
        if (n === 1) rx.later(5_000, () => res.writeHead(500).end());
        else res.writeHead(n === 2 ? 500 : 200).end();
      },
    });
    const spawn = await restartable(t, rx);
    const first = await spawn(args);
    const appId = await createApp(first.url);
    const epId = await createEndpoint(first.url, appId, rx.url);
    const msgId = await publish(first.url, appId, 1);
    await until('the attempt in flight', () => rx.requests.length === 1, WAIT_MS);
    await apiOk(first.url, 'POST', `/app/${appId}/msg/${msgId}/endpoint/${epId}/resend`);
    await first.kill('SIGKILL');

    const second = await spawn(args);
    await until('the retry after the failed resend', () => rx.requests.length === 3, WAIT_MS);
    const shown = async () => (await apiOk(second.url, 'GET', `/app/${appId}/msg/${msgId}/endpoint`)).data[0];
    await until('delivered', async () => (await shown()).status === 0 || undefined, WAIT_MS);
    const recorded = await attemptsOf(second.url, appId, msgId);
    assert.deepEqual(recorded.map((a) => [a.triggerType, a.responseStatusCode]).reverse(), [
      [1, 500],
      [0, 200],
    ]);
  });

  test('closing stops claims at once, though a request still arriving holds the server open', async () => {
    const rx = await startReceiver({ respond: () => 500 });
    const running = await start({ retrySchedule: [0, ...Array(30).fill(20)] }, 'sqlite');
    let slow: Socket | undefined;
    try {
      const appId = await createApp(running.url);
      await createEndpoint(running.url, appId, rx.url);
      await publish(running.url, appId);
      await until('retries under way', () => rx.requests.length >= 3, WAIT_MS);
      // A publish whose body never comes: the server waits for it (up to the request timeout).
      slow = connect(Number(new URL(running.url).port), '127.0.0.1');
      await new Promise((resolve) => slow?.once('connect', resolve));
      slow.write(
        `POST /api/v1/app/${appId}/msg HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      );
      await sleep(50);
      const closing = running.close();
      const atClose = rx.requests.length;
      await sleep(500); // 25 retries' worth
      assert.ok(
        rx.requests.length <= atClose + 1,
        `${rx.requests.length - atClose} attempts after the close began`,
      );
      slow.destroy();
      await closing;
    } finally {
      slow?.destroy();
      await rx.close();
    }
  });

  test('SIGTERM drains the attempts in flight and exits 0; nothing is sent again after a restart', async (t) => {
    const args = ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0,100ms'];
    const rx = await startReceiver({
      handle: (_hit, res) => rx.later(500, () => res.writeHead(200).end('ok')),
    });
    const spawn = await restartable(t, rx);

    const first = await spawn(args);
    const appId = await createApp(first.url);
    const epId = await createEndpoint(first.url, appId, rx.url);
    const ids = [
      await publish(first.url, appId, 1),
      await publish(first.url, appId, 2),
      await publish(first.url, appId, 3),
    ];
    await until('three attempts in flight', () => rx.requests.length === 3, WAIT_MS);
    const exit = await first.stop(10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, first.output());

    const second = await spawn(args);
    for (const msgId of ids) {
      const recorded = await attemptsOf(second.url, appId, msgId);
      assert.equal(recorded.length, 1, `${msgId}: ${JSON.stringify(recorded)}`);
      assert.equal(recorded[0]?.status, 0);
      assert.equal(recorded[0]?.responseStatusCode, 200);
    }
    const statuses = (await apiOk(second.url, 'GET', `/app/${appId}/endpoint/${epId}/msg`)).data.map(
      (m: { status: number }) => m.status,
    );
    assert.deepEqual(statuses, [0, 0, 0]);
    // A message published after the restart is delivered; the three drained ones are not sent again.
    const after = await publish(second.url, appId, 4);
    await until('delivery after restart', () => rx.requests.some((h) => h.webhookId === after), WAIT_MS);
    assert.deepEqual(
      rx.requests.map((h) => h.webhookId),
      [...rx.requests.slice(0, 3).map((h) => h.webhookId), after],
    );
    assert.deepEqual(new Set(rx.requests.slice(0, 3).map((h) => h.webhookId)), new Set(ids));
    assert.deepEqual(await second.stop(10_000), { code: 0, signal: null });
  });
});
