// PostgreSQL goes away under load: while an API process and a worker process publish and deliver,
// every connection to the test's database is terminated (pg_terminate_backend, as a restart or a
// failover would) three times. Publishes caught by an outage must fail fast with 503 (not hang, not
// 500); every acknowledged publish arrives; the processes recover by themselves (same pids, no exit)
// and GET /api/v1/health answers 204 again. The real server is never restarted: other work shares it.
// Rerun a failing case with DOORBELL_MP_SEED=<printed seed>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { publishWithKills } from '../crash/publish-with-kills.ts';
import {
  type Api,
  apiClient,
  duplicates,
  FILTERED_TYPE,
  seeded,
  seqOf,
  sleep,
  typeOf,
} from '../support/event-load.ts';
import {
  createTempDatabase,
  killConnections,
  pgSkipReason,
  probePool,
  type TempDatabase,
} from '../support/postgres.ts';
import {
  ADMIN_TOKEN,
  awaitDelivery,
  type Cluster,
  expectedIds,
  type SlowReceiver,
  setupApp,
  startCluster,
  startReceivers,
} from './cluster.ts';

const EVENTS = 2000;
const KILLS = 3;
const WORKERS = 1;
const PUBLISH_CONCURRENCY = 32;
const WORKER_CONCURRENCY = 32;
// Leases (2 × this) held by lost claims and unrecorded attempts expire soon; not shorter, since a
// timed-out attempt is retried no sooner than 60 s later (Svix's penalty), past this test's bounds.
const ATTEMPT_TIMEOUT = '2s';
const RETRY_SCHEDULE = '0,20ms,50ms,100ms,200ms,500ms,1s,1s';
const DELIVERY_WAIT_MS = 45_000;
// A request still unanswered after this counts as hung (the pool gives up a checkout after 3 s).
const REQUEST_TIMEOUT_MS = 20_000;

test('terminating every database connection under load: 503s, no loss, no restart', {
  timeout: 120_000,
  skip: await pgSkipReason(),
}, async (t) => {
  const random = seeded(t, 'DOORBELL_MP_SEED');

  let db: TempDatabase | null = null;
  let cluster: Cluster | null = null;
  let api: Api | null = null;
  let sql: pg.Pool | null = null;
  const receivers: SlowReceiver[] = [];
  t.after(async () => {
    await cluster?.kill();
    await api?.pool.destroy();
    await Promise.all(receivers.map((r) => r.close()));
    await sql?.end();
    await db?.drop();
  });

  db = await createTempDatabase();
  const delay = () => 2 + Math.floor(random() * 20);
  const { filtered } = await startReceivers(delay, receivers);

  cluster = await startCluster(db.url, WORKERS, [
    ...['--allow-subnets', '127.0.0.0/8', '--retry-schedule', RETRY_SCHEDULE],
    ...['--attempt-timeout', ATTEMPT_TIMEOUT, '--concurrency', String(WORKER_CONCURRENCY)],
  ]);
  const processes = cluster.all();
  const pids = processes.map((p) => p.pid);
  const exits: string[] = [];
  for (const p of processes) void p.exited.then((e) => exits.push(`${p.pid}: ${e.code ?? e.signal}`));

  api = apiClient(cluster.api.url, ADMIN_TOKEN, PUBLISH_CONCURRENCY, REQUEST_TIMEOUT_MS);
  const { appId, secret } = await setupApp(api, receivers, filtered);

  // Each outage comes after a random number of acks, so that all of them happen while publishing; the
  // publishing goes on meanwhile (no pause), so requests in flight meet the terminated connections.
  const terminated: number[] = [];
  const outages: Promise<void>[] = [];
  let slowestRefusalMs = 0;
  const started = Date.now();
  const { acked, unacked, httpErrors, kills } = await publishWithKills({
    events: EVENTS,
    concurrency: PUBLISH_CONCURRENCY,
    kills: KILLS,
    killAfter: () => Math.floor((EVENTS / (KILLS + 1)) * (0.5 + 0.4 * random())),
    async send(seq) {
      const sent = Date.now();
      const answer = await api!.publish(appId, seq);
      if (answer.status !== 202) slowestRefusalMs = Math.max(slowestRefusalMs, Date.now() - sent);
      return answer;
    },
    async crash(kill, ackedSoFar) {
      const outage = killConnections(db!.name).then((n) => {
        terminated.push(n);
        t.diagnostic(`outage ${kill}: after ${ackedSoFar} acks, ${n} connections terminated`);
      });
      outages.push(outage);
    },
  });
  await Promise.all(outages);
  t.diagnostic(
    `published in ${Date.now() - started} ms: ${acked.size} acked, ${httpErrors.length} refused ` +
      `(the slowest refusal took ${slowestRefusalMs} ms)`,
  );

  // Publishes hit by an outage are refused with 503; none hangs (a hang ends in a client error).
  assert.equal(kills, KILLS, 'every outage happened during publishing');
  assert.ok(
    terminated.every((n) => n > 0),
    `each outage ended Doorbell connections (${terminated})`,
  );
  assert.deepEqual([...unacked], [], 'publishes that hung or lost their connection');
  const refused = new Set<number>();
  for (const e of httpErrors) {
    const m = /^seq (\d+): (\d+) /.exec(e);
    assert.ok(m?.[2] === '503', `a publish during an outage answered other than 503: ${e}`);
    refused.add(Number(m[1]));
  }

  const expected = expectedIds(acked, receivers, filtered);
  const lost = await awaitDelivery(expected, DELIVERY_WAIT_MS, () => exits.length > 0);
  t.diagnostic(`delivery caught up ${Date.now() - started} ms after the first publish`);
  const names = ['steady', 'flaky', 'filtered'];
  const dups = receivers.map((r) => duplicates(r.successes()));
  receivers.forEach((r, i) => {
    t.diagnostic(
      `${names[i]}: expected ${expected.get(r)!.length}, delivered ${r.successes().size}, ` +
        `requests ${r.requests.length}, duplicates ${dups[i]}, missing ${lost[i]!.length}`,
    );
  });
  if (lost.some((m) => m.length > 0) || exits.length > 0) {
    for (const p of processes) t.diagnostic(`process ${p.pid} output (tail):\n${p.output().slice(-3000)}`);
  }
  // The same processes carried on: none exited, every pid is still alive.
  assert.deepEqual(exits, [], `a Doorbell process exited (pid: exit code or signal): ${exits}`);
  for (const pid of pids) assert.doesNotThrow(() => process.kill(pid, 0), `process ${pid} is gone`);
  names.forEach((name, i) => {
    assert.deepEqual(lost[i]!.slice(0, 10), [], `${name}: acknowledged messages never delivered`);
  });

  // Readiness reads the database again.
  let health = 0;
  const deadline = Date.now() + 15_000;
  while (health !== 204 && Date.now() < deadline) {
    const res = await api.pool.request({ method: 'GET', path: '/api/v1/health' });
    await res.body.dump();
    health = res.statusCode;
    if (health !== 204) await sleep(100);
  }
  assert.equal(health, 204, 'GET /api/v1/health answers 204 after the outages');

  // Every task ends in success: tasks whose lease was held by a lost claim or an unrecorded attempt are
  // taken over once it expires. Then all redeliveries have happened, and duplicates can be counted.
  sql = probePool(db.url);
  let unfinished = -1;
  const settle = Date.now() + DELIVERY_WAIT_MS;
  while (Date.now() < settle) {
    const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE status <> 0');
    unfinished = rows[0]!.n;
    if (unfinished === 0) break;
    await sleep(100);
  }
  assert.equal(unfinished, 0, 'every delivery task ends in success');
  // An outage can lose the record of at most the attempts in flight in each worker.
  const totalDups = receivers.map((r) => duplicates(r.successes())).reduce((a, b) => a + b, 0);
  const bound = KILLS * WORKERS * WORKER_CONCURRENCY;
  t.diagnostic(`duplicates ${totalDups} (bound ${bound}); publishes refused with 503: ${refused.size}`);
  assert.ok(totalDups <= bound, `${totalDups} duplicates > ${bound}`);

  // Payloads match their ids. A refused publish may still have committed (the outage cut its answer,
  // not its commit): such a message may arrive, under an id the test never learnt.
  const ackedSeqs = new Set(acked.values());
  for (const r of receivers) {
    for (const q of r.requests) {
      const seq = seqOf(q.body);
      const ackedSeq = acked.get(q.webhookId);
      if (ackedSeq !== undefined) assert.equal(seq, ackedSeq, `${q.webhookId} carries its own payload`);
      else assert.ok(!ackedSeqs.has(seq) && refused.has(seq), `unexpected message ${q.webhookId}`);
      if (r === filtered) assert.equal(typeOf(seq), FILTERED_TYPE, 'filtered endpoint got another type');
    }
    const sample = new Set(r.requests.filter((_, i) => i % 10 === 0));
    const { verified, failures } = r.verify(secret.get(r)!, (q) => sample.has(q));
    assert.deepEqual(failures.slice(0, 5), [], 'signatures verify with the standardwebhooks library');
    assert.equal(verified, sample.size);
  }
});
