// The worker while its database fails: it says so once, as one JSON line on stderr, retries, and says
// once more when claims have worked again for 10 s; messages published meanwhile are delivered. And the worker paused
// past its leases: what it claimed before is not sent, another worker has it; what it was sending is not
// claimed again by itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeConfig } from '../config/config.ts';
import type { SendResult } from '../core/outcome.ts';
import type { Endpoint, Message } from '../core/types.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { type Store, StoreUnavailableError } from '../store/store.ts';
import { mkApp, mkEndpoint, mkMessage } from '../store/store-contract.ts';
import { createWorker } from './worker.ts';

/** An application, an endpoint on a closed port, and one message published to it at `at`. */
async function oneMessage(store: Store, at: number): Promise<{ message: Message; endpoint: Endpoint }> {
  const app = mkApp();
  await store.apps.create(app);
  const endpoint = mkEndpoint(app.id, at, { url: 'http://127.0.0.1:9/hook' });
  await store.endpoints.create(endpoint);
  const message = mkMessage(app.id, at);
  await store.messages.publish([{ message, endpointIds: [endpoint.id], now: at }]);
  return { message, endpoint };
}

/** The JSON lines the worker logs, kept from stderr until `restore`. */
function captureStderr(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((line: string) => lines.push(line) > 0) as typeof process.stderr.write;
  return { lines, restore: () => (process.stderr.write = write) };
}

/** What the sender reports for a receiver that answered `status`. */
const responseOf = (status: number): SendResult => ({
  kind: 'response',
  status,
  headers: {},
  body: '',
  durationMs: 1,
});

/** A sender whose receiver answers every attempt `status`; `sent` hears of each attempt first. */
function answering(status: number, sent: (url: string) => void) {
  return {
    send: async (request: { url: string }) => {
      sent(request.url);
      return responseOf(status);
    },
    close: async () => {},
  };
}

/** A store call the database refused with the driver's `code` (a lost server, no connection slot). */
const refused = (code: string, message = 'down'): Promise<never> =>
  Promise.reject(new StoreUnavailableError(Object.assign(new Error(message), { code })));

/** Waits until `done`, 10 s at most: the assertions after it say what did not happen. */
async function waitFor(done: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + 10_000;
  while (!(await done()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

describe('worker faults', () => {
  it('logs a failing database once, then its return, and delivers what waited', async () => {
    const store = openSqliteStore(':memory:');
    // The worker's clock moves 4 s at each claim that works: 10 s of working claims pass in three.
    let skew = 0;
    let failures = 3;
    const claimDue = store.tasks.claimDue.bind(store.tasks);
    store.tasks.claimDue = (options) => {
      if (failures-- > 0) return refused('ECONNREFUSED');
      skew += 4_000;
      return claimDue(options);
    };
    const sent: string[] = [];
    const sender = answering(204, (url) => sent.push(url));
    const { lines, restore } = captureStderr();
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
    const now = () => Date.now() + skew;
    const worker = createWorker({ store, config, sender, now, random: () => 0.5 });
    try {
      await oneMessage(store, Date.now());
      worker.start();
      await waitFor(() => sent.length > 0 && lines.length >= 2);
    } finally {
      await worker.stop();
      restore();
      await store.close();
    }
    assert.deepEqual(sent, ['http://127.0.0.1:9/hook']);
    const logged = lines.map((line) => JSON.parse(line));
    assert.deepEqual(
      logged.map((l) => [l.level, l.msg, l.err?.code]),
      [
        [50, 'doorbell worker: claims failed; retrying every second', 'ECONNREFUSED'],
        [30, 'doorbell worker: claims work again (3 failed in all)', undefined],
      ],
    );
    assert.equal(
      lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n')),
      true,
    );
  });

  it('logs claims that fail now and then once, and their return once none has failed for 10 s', async () => {
    const store = openSqliteStore(':memory:');
    // Every other claim is refused while `flapping`; the clock moves 4 s at each claim, as above.
    let skew = 0;
    let claims = 0;
    let flapping = true;
    const claimDue = store.tasks.claimDue.bind(store.tasks);
    store.tasks.claimDue = (options) => {
      skew += 4_000;
      if (flapping && claims++ % 2 === 0) return refused('53300', 'sorry, too many clients already');
      return claimDue(options);
    };
    const { lines, restore } = captureStderr();
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
    const now = () => Date.now() + skew;
    const worker = createWorker({ store, config, sender: answering(204, () => {}), now, random: () => 0.5 });
    try {
      worker.start();
      await waitFor(() => claims >= 8);
      assert.equal(lines.length, 1, 'failed, then nothing while claims fail now and then');
      flapping = false;
      await waitFor(() => lines.length >= 2);
    } finally {
      await worker.stop();
      restore();
      await store.close();
    }
    const logged = lines.map((line) => JSON.parse(line).msg);
    assert.deepEqual(logged, [
      'doorbell worker: claims failed; retrying every second',
      `doorbell worker: claims work again (${Math.ceil(claims / 2)} failed in all)`,
    ]);
  });

  it('sends and records an attempt once the database answers again, rather than once the lease ends', async () => {
    const store = openSqliteStore(':memory:');
    const tooMany = () => refused('53300', 'sorry, too many clients already');
    // Before the attempt: the application's rate limit is read (the endpoint sets none).
    let readRefusals = 2;
    const getApp = store.apps.get.bind(store.apps);
    store.apps.get = (id) => (readRefusals-- > 0 ? tooMany() : getApp(id));
    let refusals = 3;
    const finish = store.tasks.finish.bind(store.tasks);
    store.tasks.finish = (inputs) => (refusals-- > 0 ? tooMany() : finish(inputs));
    let sent = 0;
    const sender = answering(204, () => sent++);
    const { lines, restore } = captureStderr();
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
    const worker = createWorker({ store, config, sender, now: Date.now, random: () => 0.5 });
    try {
      const { message, endpoint } = await oneMessage(store, Date.now());
      worker.start();
      const task = () => store.tasks.get(message.id, endpoint.id);
      await waitFor(async () => (await task())?.status === 'success');
      assert.equal((await task())?.status, 'success');
      assert.equal((await task())?.attempts, 1);
      assert.equal(sent, 1);
      assert.equal(readRefusals, -1, 'its read refused twice, answered at the third');
      assert.equal(refusals, -1, 'refused three times, recorded at the fourth');
      assert.deepEqual(lines, [], 'nothing to report: the attempt was recorded');
    } finally {
      await worker.stop();
      restore();
      await store.close();
    }
  });

  it('a stop waits for the attempts in flight to be recorded, though the database refuses them for a while', async () => {
    const store = openSqliteStore(':memory:');
    let refusals = 3;
    const finish = store.tasks.finish.bind(store.tasks);
    store.tasks.finish = (inputs) => (refusals-- > 0 ? refused('ECONNREFUSED') : finish(inputs));
    let answer = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    let sending = () => {};
    const sent = new Promise<void>((resolve) => {
      sending = resolve;
    });
    const sender = {
      send: async (): Promise<SendResult> => {
        sending();
        await answered;
        return responseOf(204);
      },
      close: async () => {},
    };
    const { lines, restore } = captureStderr();
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
    const worker = createWorker({ store, config, sender, now: Date.now, random: () => 0.5 });
    try {
      const { message, endpoint } = await oneMessage(store, Date.now());
      worker.start();
      await sent;
      const stopped = worker.stop(); // while the attempt is in flight
      answer();
      await stopped;
      const task = await store.tasks.get(message.id, endpoint.id);
      assert.deepEqual([task?.status, task?.attempts], ['success', 1], 'recorded before the stop ended');
      assert.equal(refusals, -1, 'refused three times, recorded at the fourth');
      assert.deepEqual(lines, []);
    } finally {
      restore();
      await store.close();
    }
  });

  it("says an endpoint's health was not updated, not that the attempt was lost, when only that write fails", async () => {
    const store = openSqliteStore(':memory:');
    store.endpoints.markHealth = () => refused('53300');
    let sent = 0;
    const sender = answering(500, () => sent++);
    const { lines, restore } = captureStderr();
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'], retrySchedule: [0, 60_000] } });
    const worker = createWorker({ store, config, sender, now: Date.now, random: () => 0.5 });
    try {
      const { message, endpoint } = await oneMessage(store, Date.now());
      worker.start();
      await waitFor(() => lines.length > 0);
      assert.deepEqual(
        lines.map((line) => JSON.parse(line).msg),
        ["doorbell worker: an endpoint's health was not updated after an attempt"],
      );
      const task = await store.tasks.get(message.id, endpoint.id);
      assert.deepEqual([sent, task?.status, task?.attempts], [1, 'pending', 1], 'the attempt is recorded');
    } finally {
      await worker.stop();
      restore();
      await store.close();
    }
  });

  it('records nothing against the endpoint when this process could not send (EMFILE): the task goes once its lease ends', async () => {
    const store = openSqliteStore(':memory:');
    let sends = 0;
    const sender = {
      send: async (): Promise<SendResult> =>
        ++sends <= 5
          ? {
              kind: 'error',
              reason: 'EMFILE: connect EMFILE 127.0.0.1:9 (127.0.0.1)',
              durationMs: 0,
              local: true,
            }
          : responseOf(204),
      close: async () => {},
    };
    const { lines, restore } = captureStderr();
    // Five messages claimed together, none sent; their lease is 2 × 100 ms.
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'], attemptTimeoutMs: 100 } });
    const worker = createWorker({ store, config, sender, now: Date.now, random: () => 0.5 });
    try {
      const { message, endpoint } = await oneMessage(store, Date.now());
      const more = Array.from({ length: 4 }, () => mkMessage(message.appId, Date.now()));
      await store.messages.publish(
        more.map((m) => ({ message: m, endpointIds: [endpoint.id], now: Date.now() })),
      );
      worker.start();
      const tasks = () => Promise.all([message, ...more].map((m) => store.tasks.get(m.id, endpoint.id)));
      await waitFor(async () => (await tasks()).every((t) => t?.status === 'success'));
      assert.equal(sends, 10);
      assert.deepEqual(
        (await tasks()).map((t) => [t?.status, t?.attempts]),
        Array(5).fill(['success', 1]),
      );
      const attempts = await store.attempts.list(message.appId, { endpointId: endpoint.id, limit: 50 });
      assert.deepEqual(
        attempts.data.map((a) => a.status),
        Array(5).fill('success'),
        'no failed attempt recorded for the sends that never went out',
      );
      assert.equal((await store.endpoints.get(message.appId, endpoint.id))?.failingSince ?? null, null);
      const said = lines.map((line) => JSON.parse(line));
      assert.equal(said.length, 1, 'said once, not per task');
      assert.match(said[0].msg, /could not be made here/);
      assert.match(said[0].err.message, /EMFILE/);
    } finally {
      await worker.stop();
      restore();
      await store.close();
    }
  });

  for (const pause of ['lease', 'deadline'] as const) {
    it(`does not send a task claimed before a pause past its ${pause}: it is claimed again once the lease ends`, async () => {
      const store = openSqliteStore(':memory:');
      let clock = Date.now();
      const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
      const leaseMs = 2 * config.delivery.attemptTimeoutMs;
      let takenOver: Awaited<ReturnType<typeof store.tasks.claimDue>> | null = null;
      const claimDue = store.tasks.claimDue.bind(store.tasks);
      store.tasks.claimDue = async (options) => {
        const claimed = await claimDue(options);
        if (claimed.length > 0 && takenOver === null) {
          // The process stops here (SIGSTOP, a VM paused): past the whole lease, another worker takes
          // the task over; past the attempt's deadline only, its attempt would outlast the lease.
          clock += (pause === 'lease' ? leaseMs : config.delivery.attemptTimeoutMs) + 1;
          takenOver = await claimDue({ ...options, now: clock, ended: [] }); // as another worker would
        }
        return claimed;
      };
      const sent: number[] = [];
      const sender = answering(204, () => sent.push(clock));
      const { lines, restore } = captureStderr();
      const worker = createWorker({ store, config, sender, now: () => clock, random: () => 0.5 });
      try {
        const app = mkApp();
        await store.apps.create(app);
        const endpoint = mkEndpoint(app.id, clock, { url: 'http://127.0.0.1:9/hook' });
        await store.endpoints.create(endpoint);
        const message = mkMessage(app.id, clock);
        await store.messages.publish([{ message, endpointIds: [endpoint.id], now: clock }]);
        worker.start();
        await waitFor(() => lines.length > 0);
        assert.deepEqual(
          sent,
          [],
          pause === 'lease' ? 'sent alongside the worker that took it over' : 'sent',
        );
        assert.match(JSON.parse(lines[0]!).msg, /left unsent, their lease nearly over/);
        const task = await store.tasks.get(message.id, endpoint.id);
        assert.equal(task?.status, 'sending');
        if (pause === 'lease') {
          assert.equal(task?.leaseUntil, takenOver![0]!.task.leaseUntil);
        } else {
          assert.deepEqual(takenOver, [], 'the lease had not ended');
          const leaseEnd = task!.leaseUntil!;
          clock = leaseEnd + 1;
          worker.wake();
          await waitFor(() => sent.length > 0);
          assert.deepEqual(sent, [leaseEnd + 1], 'sent once, under a lease of its own');
        }
      } finally {
        await worker.stop();
        restore();
        await store.close();
      }
    });
  }
  it('does not claim again a task it is sending when a pause outlasts the lease, nor claim on and on', async () => {
    const store = openSqliteStore(':memory:');
    let shift = 0; // the clock runs, and jumps over the pause
    const now = () => Date.now() + shift;
    const config = makeConfig({ delivery: { allowSubnets: ['127.0.0.0/8'] } });
    const claimedAt: number[] = [];
    const claimDue = store.tasks.claimDue.bind(store.tasks);
    store.tasks.claimDue = (options) => {
      claimedAt.push(options.now);
      return claimDue(options);
    };
    const sent: number[] = [];
    let answer: (result: SendResult) => void = () => {};
    const sender = {
      send: () => {
        sent.push(now());
        return new Promise<SendResult>((resolve) => {
          answer = resolve;
        });
      },
      close: async () => {},
    };
    const worker = createWorker({ store, config, sender, now, random: () => 0.5 });
    try {
      const { message, endpoint } = await oneMessage(store, now());
      worker.start();
      await waitFor(() => sent.length > 0);
      // The process stops during the attempt (SIGSTOP, a VM paused) until past the lease, and claims on resume.
      const resumed = Date.now();
      shift += 2 * config.delivery.attemptTimeoutMs + 1;
      worker.wake();
      await waitFor(() => claimedAt.some((at) => at >= resumed + shift));
      const claims = claimedAt.length;
      assert.ok(claims > 0 && claimedAt.at(-1)! >= resumed + shift, 'a claim ran after the pause');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(
        claimedAt.length <= claims + 1,
        `${claimedAt.length - claims} claims in 300 ms: at the poll only`,
      );
      assert.equal(sent.length, 1, 'its own attempt in flight was not claimed and sent again');
      answer(responseOf(204));
      const task = async () => store.tasks.get(message.id, endpoint.id);
      await waitFor(async () => (await task())?.status === 'success');
      assert.equal((await task())?.status, 'success', 'recorded under the lease it was sent with');
      assert.equal((await task())?.attempts, 1);
      assert.equal(sent.length, 1);
    } finally {
      answer(responseOf(204));
      await worker.stop();
      await store.close();
    }
  });
});
