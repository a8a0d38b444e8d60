// `doorbell serve` started before its PostgreSQL database can be reached waits for it: an API process and a
// worker point at a loopback port where nothing listens yet, say why they wait, and do not listen; once
// a TCP proxy to the real server opens that port, both start and deliver. A database or role that does
// not exist is not waited for, and a signal ends the wait at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';
import { apiOk, TOKEN, until } from '../support/in-process.ts';
import { startPgProxy, viaPort } from '../support/pg-proxy.ts';
import { ADMIN_URL, createTempDatabase, pgSkipReason } from '../support/postgres.ts';
import { startReceiver } from '../support/receiver.ts';
import { doorbell } from '../support/run-doorbell.ts';

const skip = await pgSkipReason();
const WAITING = 'doorbell: waiting for the database';

/** A port of 47000–47999 that was free a moment ago on 127.0.0.1. */
async function freePortInRange(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 47000 + Math.floor(Math.random() * 1000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 47000–47999');
}

test('API and worker processes wait for an unreachable database, then start and deliver', {
  timeout: 120_000,
  skip,
}, async (t) => {
  const processes: DoorbellProcess[] = [];
  let proxy: { close(): Promise<void> } | null = null;
  const db = await createTempDatabase();
  const rx = await startReceiver();
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await proxy?.close();
    await rx.close();
    await db.drop();
  });

  const dbPort = await freePortInRange();
  const database = viaPort(db, dbPort);
  const common = { database, adminToken: TOKEN, ready: 'stderr-line', readyLine: WAITING } as const;
  const args = ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0'];
  const apiProcess = await spawnDoorbell({
    ...common,
    port: await freePortInRange(),
    args: ['--role', 'api', ...args],
  });
  processes.push(apiProcess);
  const worker = await spawnDoorbell({
    ...common,
    port: await freePortInRange(),
    args: ['--role', 'worker', ...args],
  });
  processes.push(worker);

  for (const p of [apiProcess, worker]) {
    const first = p.output().split('\n')[0];
    assert.equal(
      first,
      `${WAITING} ${database}: connect ECONNREFUSED 127.0.0.1:${dbPort}`,
      'one line that names the database and the reason',
    );
  }
  // Several retries later (0.5 s, 1 s, 2 s) both still wait, silently, and the API does not listen.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  for (const p of [apiProcess, worker]) {
    assert.equal(p.output().split('\n').filter(Boolean).length, 1, p.output());
  }
  const refused = await fetch(`${apiProcess.url}/api/v1/health/ping`).then(
    () => 'answered',
    () => 'refused',
  );
  assert.equal(refused, 'refused', 'nothing listens while waiting');

  proxy = await startPgProxy(dbPort);
  // The next try comes within 5 s (the longest backoff); the API then migrates, listens and is ready.
  const readiness = () =>
    fetch(`${apiProcess.url}/api/v1/health`).then(
      (res) => res.status,
      () => 0,
    );
  await until('the API is ready', async () => (await readiness()) === 204, 30_000);
  await until('the worker has started', () => worker.output().includes('Doorbell worker started'), 30_000);
  for (const p of [apiProcess, worker])
    assert.match(p.output(), /doorbell: connected to the database after \d+s\n/);

  const app = await apiOk(apiProcess.url, 'POST', '/app', { name: 'late-db' });
  await apiOk(apiProcess.url, 'POST', `/app/${app.id}/endpoint`, { url: `${rx.url}/hook` });
  const msg = await apiOk(apiProcess.url, 'POST', `/app/${app.id}/msg`, {
    eventType: 'a.b',
    payload: { n: 1 },
  });
  await until(
    'the worker delivered the message',
    () => rx.requests.find((r) => r.webhookId === msg.id),
    20_000,
  );

  for (const p of [apiProcess, worker]) assert.deepEqual(await p.stop(10_000), { code: 0, signal: null });
});

test('a database or role that does not exist exits 1 at once, naming the cause', {
  timeout: 60_000,
  skip,
}, async () => {
  const name = `doorbell_missing_${randomBytes(6).toString('hex')}`;
  const missingDb = new URL(ADMIN_URL);
  missingDb.pathname = `/${name}`;
  const missingRole = new URL(ADMIN_URL);
  missingRole.username = name;
  const cases = [
    { role: 'worker', url: missingDb.href, said: `database "${name}" does not exist (3D000)` },
    { role: 'all', url: missingRole.href, said: `role "${name}" does not exist (28000)` },
  ];
  for (const { role, url, said } of cases) {
    const port = String(await freePortInRange());
    const run = await doorbell(['serve', '--role', role, '--port', port, '--database', url], {
      DOORBELL_ADMIN_TOKEN: TOKEN,
    });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr, `doorbell: cannot open the database ${url}: ${said}\n`);
  }
});

test('SIGTERM while waiting for the database exits 0 at once', { timeout: 60_000, skip }, async (t) => {
  const db = await createTempDatabase();
  t.after(() => db.drop());
  const proc = await spawnDoorbell({
    database: viaPort(db, await freePortInRange()),
    adminToken: TOKEN,
    port: await freePortInRange(),
    ready: 'stderr-line',
    readyLine: WAITING,
  });
  t.after(() => proc.kill('SIGKILL'));
  // Well below the drain limit (25 s): a wait that ignored the signal would be killed here instead.
  assert.deepEqual(await proc.stop(5000), { code: 0, signal: null });
  assert.match(proc.output(), /\ndoorbell: SIGTERM while starting: stopping…\ndoorbell: stopped\n$/);
});
