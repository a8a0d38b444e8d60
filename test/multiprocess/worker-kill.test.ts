// Two worker processes and one API process on one PostgreSQL database; thousands of events to local
// receivers; one worker is SIGKILLed while attempts are in flight. Every acknowledged message must
// arrive at every matching endpoint, duplicates stay within the attempts in flight at the kill
// (--concurrency), and the survivor takes over the dead worker's leased tasks once their lease
// (2 × --attempt-timeout) expires. Rerun a failing case with DOORBELL_MP_SEED=<printed seed>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publishWithKills } from '../crash/publish-with-kills.ts';
import { duplicates, FILTERED_TYPE, seeded, seqOf, sleep, typeOf } from '../support/event-load.ts';
import { pgSkipReason } from '../support/postgres.ts';
import {
  assertSignatures,
  awaitDelivery,
  awaitTasksFinished,
  connectionsOf,
  expectedIds,
  startScenario,
} from './cluster.ts';

const EVENTS = 2400;
const CONCURRENCY = 32; // publishes in flight, and --concurrency: attempts in flight per worker process
// Short, so the dead worker's leases (2 × this) expire soon; not shorter, since a timed-out attempt is
// retried no sooner than 60 s later (Svix's penalty), past this test's bounds.
const ATTEMPT_TIMEOUT = '2s';
const DELIVERY_WAIT_MS = 45_000;

type Lease = { msg_id: string; endpoint_id: string; lease_until: number };

test('a SIGKILLed worker among two loses nothing; the survivor takes its leases over', {
  timeout: 120_000,
  skip: await pgSkipReason(),
}, async (t) => {
  const random = seeded(t, 'DOORBELL_MP_SEED');

  const s = await startScenario(t, {
    workers: 2,
    concurrency: CONCURRENCY,
    attemptTimeout: ATTEMPT_TIMEOUT,
    delayMs: () => 5 + Math.floor(random() * 40),
  });
  const { api, appId, cluster, receivers, flaky, filtered, endpointId, query } = s;

  const victimIndex = random() < 0.5 ? 0 : 1;
  const victim = cluster.workers[victimIndex]!;
  const survivor = cluster.workers[1 - victimIndex]!;
  let killedAt = 0;
  let inFlightAtKill = 0;
  let leases: Lease[] = [];
  const started = Date.now();
  const result = await publishWithKills({
    events: EVENTS,
    concurrency: CONCURRENCY,
    kills: 1,
    killAfter: () => Math.floor(EVENTS * (0.3 + 0.3 * random())),
    send: (seq) => api.publish(appId, seq),
    async crash(_kill, ackedSoFar) {
      // Kill while the victim has attempts in flight: wait (bounded) until the receivers hold a few
      // unanswered requests on its connections, which then stay unanswered until the kill cuts them.
      const until = Date.now() + 10_000;
      for (;;) {
        const connections = connectionsOf(victim.pid);
        const pending = receivers
          .flatMap((r) => r.pendingConnections())
          .filter((c) => connections.has(c)).length;
        if (pending >= 3 || Date.now() > until) {
          inFlightAtKill = receivers.reduce((n, r) => n + r.hold(connections), 0);
          break;
        }
        await sleep(2);
      }
      await victim.kill('SIGKILL');
      killedAt = Date.now();
      leases = await query<Lease>(
        'SELECT msg_id, endpoint_id, lease_until FROM tasks WHERE status = 3 AND lease_until > $1',
        [killedAt],
      );
      t.diagnostic(
        `killed worker ${victim.pid} after ${ackedSoFar} acks with ${inFlightAtKill} of its requests unanswered, ` +
          `${leases.length} tasks leased`,
      );
    },
  });
  const { acked, unacked, httpErrors, kills } = result;
  t.diagnostic(`published ${acked.size} in ${Date.now() - started} ms`);
  assert.deepEqual(httpErrors, [], 'publishes answered with an error status');
  assert.equal(unacked.size, 0, 'the API process was not killed: every publish must be answered');
  assert.equal(kills, 1, 'the kill happened during publishing');

  const expected = expectedIds(acked, receivers, filtered);
  const lost = await awaitDelivery(expected, DELIVERY_WAIT_MS);
  t.diagnostic(`delivery caught up ${Date.now() - started} ms after the first publish`);
  // Every task finishes (the dead worker's leases were taken over), which also lets redeliveries of
  // attempts it had finished but not recorded happen before duplicates are counted.
  const unfinished = await awaitTasksFinished(s, DELIVERY_WAIT_MS);

  const names = ['steady', 'flaky', 'filtered'];
  const dups = receivers.map((r) => duplicates(r.successes()));
  const aborted = receivers.flatMap((r) =>
    r.aborted.filter((a) => a.at >= killedAt - 1000).map((a) => ({ r, ...a })),
  );
  receivers.forEach((r, i) => {
    t.diagnostic(
      `${names[i]}: expected ${expected.get(r)!.length}, delivered ${r.successes().size}, ` +
        `requests ${r.requests.length}, duplicates ${dups[i]}, missing ${lost[i]!.length}, cut by the kill ${r.aborted.length}`,
    );
  });
  if (lost.some((m) => m.length > 0)) {
    for (const p of cluster.all())
      t.diagnostic(`process ${p.pid} output (tail):\n${p.output().slice(-2000)}`);
    // Where each lost message stands: its tasks, and the attempts recorded for them.
    const ids = lost.flat().slice(0, 10);
    const rows = await query(
      `SELECT t.msg_id, t.endpoint_id, t.status, t.attempts, t.next_at, t.lease_until, t.trigger_type,
         (SELECT json_agg(json_build_object('at', a.created_at, 'code', a.response_status_code,
            'response', left(a.response, 80), 'trigger', a.trigger_type) ORDER BY a.id)
          FROM attempts a WHERE a.msg_id = t.msg_id AND a.endpoint_id = t.endpoint_id) AS attempts
       FROM tasks t WHERE t.msg_id = ANY($1)`,
      [ids],
    );
    t.diagnostic(`lost messages' tasks at ${Date.now()} (killed at ${killedAt}): ${JSON.stringify(rows)}`);
  }

  names.forEach((name, i) => {
    assert.deepEqual(lost[i]!.slice(0, 10), [], `${name}: acknowledged messages never delivered`);
  });
  assert.equal(unfinished, 0, 'every delivery task ends in success');

  // The victim had work leased at the kill: the receivers saw its attempts cut off mid-request.
  assert.ok(leases.length > 0, 'tasks were leased at the kill');
  assert.ok(inFlightAtKill > 0, 'the killed worker had attempts in flight');
  assert.ok(aborted.length >= inFlightAtKill, 'the kill cut off the attempts in flight');
  // Each of those was delivered again only after its lease expired: by the survivor, taking it over.
  const leaseOf = new Map(leases.map((l) => [`${l.msg_id} ${l.endpoint_id}`, l.lease_until]));
  for (const { r, request } of aborted) {
    const until = leaseOf.get(`${request.webhookId} ${endpointId.get(r)}`);
    assert.ok(until !== undefined, `${request.webhookId} was cut off but not leased at the kill`);
    assert.equal(request.status, 0, 'a cut-off request was never answered');
    const later = r.requests.filter((q) => q.webhookId === request.webhookId && q.at > request.at);
    assert.ok(later.length > 0, `${request.webhookId} was never sent again`);
    assert.ok(later[0]!.at >= until, `${request.webhookId} sent again before its lease expired`);
  }

  // Deliveries went on after the kill: messages first seen after it can only come from the survivor.
  const firstSeen = new Map<string, number>();
  for (const r of receivers) {
    for (const q of r.requests)
      firstSeen.set(q.webhookId, Math.min(q.at, firstSeen.get(q.webhookId) ?? q.at));
  }
  const afterKill = [...firstSeen.values()].filter((at) => at > killedAt).length;
  t.diagnostic(
    `messages first delivered after the kill: ${afterKill}; cut-off attempts retaken: ${aborted.length}`,
  );
  assert.ok(afterKill > 0, 'the survivor delivered messages after the kill');

  // Duplicates come only from attempts in flight at the kill: at most --concurrency of them.
  const totalDups = dups.reduce((a, b) => a + b, 0);
  t.diagnostic(`duplicates ${totalDups} (bound ${CONCURRENCY})`);
  assert.ok(totalDups <= CONCURRENCY, `${totalDups} duplicates > ${CONCURRENCY}`);

  // Each webhook-id carries its own payload; the filtered endpoint sees its event type only.
  for (const r of receivers) {
    for (const q of r.requests) {
      const seq = seqOf(q.body);
      assert.equal(acked.get(q.webhookId), seq, `${q.webhookId} carries its own payload`);
      if (r === filtered) assert.equal(typeOf(seq), FILTERED_TYPE, 'filtered endpoint got another type');
    }
  }
  assert.ok(
    flaky.requests.some((q) => q.status === 500),
    'the flaky receiver refused some deliveries',
  );

  assertSignatures(s);

  // The survivor and the API are still healthy and stop cleanly.
  for (const p of [survivor, cluster.api]) {
    const exit = await p.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM exits 0; output:\n${p.output().slice(-2000)}`);
  }
});
