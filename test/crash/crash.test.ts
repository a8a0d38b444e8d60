// Crash test, "nothing lost": publish thousands of events to a real Doorbell process on a SQLite file,
// SIGKILL it at random moments while publishing (restarting on the same file each time), then check
// that every acknowledged (202) message reached every matching endpoint — and no other — with bounded
// duplicates, valid Standard Webhooks signatures, and a database that passes PRAGMA integrity_check.
// Rerun a failing case with DOORBELL_CRASH_SEED=<seed printed by the test>; DOORBELL_CRASH_KEEP=1 keeps
// the database for inspection.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type DoorbellProcess, freePort, spawnDoorbell } from '../support/doorbell-process.ts';
import {
  type Api,
  apiClient,
  duplicates,
  FILTERED_TYPE,
  seeded,
  seqOf,
  sleep,
  TYPES,
  typeOf,
} from '../support/event-load.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { publishWithKills } from './publish-with-kills.ts';

const EVENTS = 3000;
const KILLS = 2;
const PUBLISH_CONCURRENCY = 32; // publish requests in flight
const WORKER_CONCURRENCY = 32; // Doorbell's --concurrency: attempts in flight per process
const RETRY_SCHEDULE = '0,20ms,50ms,100ms,200ms,500ms,1s,1s';
// A timeout earns a >= 60 s penalty (Svix): keep the deadline well above loopback latency. A task
// leased by a killed process is claimable again once its lease (two attempt deadlines) ends.
const ATTEMPT_TIMEOUT_MS = 2000;
const LEASE_MS = 2 * ATTEMPT_TIMEOUT_MS; // the worker's lease: two attempt deadlines
const DELIVERY_WAIT_MS = 60_000;
const ADMIN_TOKEN = 'crash-test-admin-token';

/** The flaky receiver answers 500 to the first delivery of every fourth message. */
const failsFirst = (seq: number): boolean => seq % 4 === 0;

test('a SIGKILLed Doorbell loses no acknowledged message', { timeout: 150_000 }, async (t) => {
  const random = seeded(t, 'DOORBELL_CRASH_SEED');

  const dir = mkdtempSync(join(tmpdir(), 'doorbell-crash-'));
  const database = join(dir, 'doorbell.db');
  const port = await freePort();
  const receivers: Receiver[] = [];
  let proc: DoorbellProcess | null = null;
  let api: Api | null = null;
  t.after(async () => {
    await proc?.kill('SIGKILL');
    await api?.pool.destroy();
    await Promise.all(receivers.map((r) => r.close()));
    if (process.env.DOORBELL_CRASH_KEEP) t.diagnostic(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  const all = await startReceiver();
  const flaky = await startReceiver({
    respond: ({ body, attempt }) => (attempt === 1 && failsFirst(seqOf(body)) ? 500 : 200),
  });
  const filtered = await startReceiver();
  receivers.push(all, flaky, filtered);

  const runs: DoorbellProcess[] = [];
  const start = () =>
    spawnDoorbell({
      database,
      port,
      adminToken: ADMIN_TOKEN,
      args: [
        ...['--allow-subnets', '127.0.0.0/8', '--retry-schedule', RETRY_SCHEDULE],
        ...['--attempt-timeout', `${ATTEMPT_TIMEOUT_MS}ms`, '--concurrency', String(WORKER_CONCURRENCY)],
      ],
    }).then((p) => {
      runs.push(p);
      return p;
    });
  proc = await start();
  const base = proc.url;
  api = apiClient(base, ADMIN_TOKEN, PUBLISH_CONCURRENCY);
  const setup = api;

  // Svix refuses endpoint filters naming unknown event types, so declare them first.
  for (const name of TYPES) await setup.call('POST', '/api/v1/event-type', { name, description: name });
  const app = (await setup.call('POST', '/api/v1/app', { name: 'crash test' })) as { id: string };
  const secrets = new Map<Receiver, string>();
  for (const r of receivers) {
    // The Svix document names the filter `eventTypes`; Svix SDKs send `filterTypes`.
    const filter = r === filtered ? { eventTypes: [FILTERED_TYPE], filterTypes: [FILTERED_TYPE] } : {};
    const ep = (await setup.call('POST', `/api/v1/app/${app.id}/endpoint`, { url: r.url, ...filter })) as {
      id: string;
    };
    const { key } = (await setup.call('GET', `/api/v1/app/${app.id}/endpoint/${ep.id}/secret`)) as {
      key: string;
    };
    secrets.set(r, key);
  }

  // Each run is killed after a random number of acks between 20 % and 60 % of EVENTS / KILLS.
  const publishing = Date.now();
  let lastKillAt = publishing;
  const { acked, unacked, httpErrors, kills } = await publishWithKills({
    events: EVENTS,
    concurrency: PUBLISH_CONCURRENCY,
    kills: KILLS,
    killAfter: () => Math.floor((EVENTS / KILLS) * (0.2 + 0.4 * random())),
    send: (seq) => api!.publish(app.id, seq),
    async crash(kill, ackedSoFar) {
      await proc!.kill('SIGKILL');
      const killedAt = Date.now();
      lastKillAt = killedAt;
      await api!.pool.destroy();
      proc = await start();
      api = apiClient(base, ADMIN_TOKEN, PUBLISH_CONCURRENCY);
      t.diagnostic(`kill ${kill}: after ${ackedSoFar} acks; restarted in ${Date.now() - killedAt} ms`);
    },
  });
  assert.deepEqual(httpErrors, [], 'publishes answered with an error status');
  assert.equal(kills, KILLS, 'every planned kill happened during publishing');

  // What each endpoint must receive: every acked message, the filtered one only its type.
  const expected = new Map<Receiver, string[]>([
    [all, [...acked.keys()]],
    [flaky, [...acked.keys()]],
    [filtered, [...acked].filter(([, seq]) => typeOf(seq) === FILTERED_TYPE).map(([id]) => id)],
  ]);
  const missing = () =>
    receivers.map((r) => {
      const got = r.successes();
      return expected.get(r)!.filter((id) => !got.has(id));
    });
  const published = Date.now();
  t.diagnostic(`published in ${published - publishing} ms`);
  const deadline = published + DELIVERY_WAIT_MS;
  while (missing().some((m) => m.length > 0) && Date.now() < deadline) await sleep(100);
  t.diagnostic(`delivery caught up ${Date.now() - published} ms after the last publish`);
  // Let the last killed process's leases expire, so redeliveries of its attempts are counted too.
  while (Date.now() < lastKillAt + LEASE_MS + 1500 && Date.now() < deadline) await sleep(100);
  const exit = await proc.stop();
  await api.pool.close();
  api = null;

  const names = ['all', 'flaky', 'filtered'];
  const lost = missing();
  const dups = receivers.map((r) => duplicates(r.successes()));
  t.diagnostic(`acked ${acked.size} of ${EVENTS}; not acknowledged ${unacked.size}; kills ${kills}`);
  receivers.forEach((r, i) => {
    t.diagnostic(
      `${names[i]}: expected ${expected.get(r)!.length}, delivered ${r.successes().size}, ` +
        `requests ${r.requests.length}, duplicates ${dups[i]}, missing ${lost[i]!.length}`,
    );
  });

  if (lost.some((m) => m.length > 0)) {
    for (const [i, run] of runs.entries()) {
      t.diagnostic(`run ${i + 1} output (tail):\n${run.output().slice(-2000)}`);
    }
  }
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM exits 0; output:\n${proc.output()}`);
  assert.ok(
    unacked.size <= KILLS * PUBLISH_CONCURRENCY,
    `only publishes in flight at a kill may go unacknowledged (${unacked.size})`,
  );
  names.forEach((name, i) => {
    assert.deepEqual(lost[i]!.slice(0, 10), [], `${name}: acknowledged messages never delivered`);
  });

  // Each webhook-id carries the payload it was acknowledged with; unknown ids come from publishes
  // whose 202 was lost in a kill, and the filtered endpoint sees its event type only.
  const ackedSeqs = new Set(acked.values());
  for (const r of receivers) {
    for (const req of r.requests) {
      const seq = seqOf(req.body);
      const ackedSeq = acked.get(req.webhookId);
      if (ackedSeq !== undefined) assert.equal(seq, ackedSeq, `${req.webhookId} carries its own payload`);
      else assert.ok(!ackedSeqs.has(seq) && unacked.has(seq), `unexpected message ${req.webhookId}`);
      assert.equal(req.headers['svix-id'], req.webhookId);
      if (r === filtered) assert.equal(typeOf(seq), FILTERED_TYPE, 'filtered endpoint got another type');
    }
  }

  // Retries were in play: every fourth message was refused once by the flaky receiver.
  const refused = flaky.requests.filter((q) => q.status === 500).length;
  assert.ok(refused > 0, 'the flaky receiver refused some first deliveries');

  // Duplicates come only from attempts in flight at a kill: at most --concurrency per kill.
  const bound = KILLS * WORKER_CONCURRENCY;
  names.forEach((name, i) => {
    assert.ok(dups[i]! <= bound, `${name}: ${dups[i]} duplicates > ${bound}`);
  });
  const totalDups = dups.reduce((a, b) => a + b, 0);
  assert.ok(totalDups <= bound, `${totalDups} duplicates across endpoints > ${bound}`);

  for (const r of receivers) {
    const { verified, failures } = r.verify(secrets.get(r)!);
    assert.deepEqual(failures.slice(0, 5), [], 'signatures verify with the standardwebhooks library');
    assert.equal(verified, r.requests.length);
  }

  const db = new Database(database, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
});
