// `doorbell serve` as a user runs it: flag values refused before anything starts, and how it stops.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnDoorbell } from '../support/doorbell-process.ts';
import { api, TOKEN, until } from '../support/in-process.ts';
import { startReceiver } from '../support/receiver.ts';
import { doorbell, HELP_POINTER } from '../support/run-doorbell.ts';

/** A database path whose folder does not exist yet: a start that got as far as opening it makes it. */
function unopenedDatabase(t: { after(fn: () => void): void }): { dir: string; database: string } {
  const root = mkdtempSync(join(tmpdir(), 'doorbell-serve-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'data');
  return { dir, database: join(dir, 'd.db') };
}

/** `doorbell serve` on `database`, on any free port. */
const serve = (database: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  doorbell(['serve', '--port', '0', '--database', database, ...args], env);

test('serve refuses an --allow-subnets entry that is not a CIDR at once, naming the flag and the entry', async (t) => {
  const { dir, database } = unopenedDatabase(t);
  for (const entry of ['10.0.0.0/33', 'nonsense', '127.1/8']) {
    const run = await serve(database, ['--allow-subnets', `::1,${entry}`]);
    assert.equal(run.code, 2, entry);
    assert.equal(run.stdout, '');
    assert.deepEqual(run.stderr.trim().split('\n'), [
      `doorbell: --allow-subnets: invalid CIDR '${entry}' in the subnet allowlist`,
      HELP_POINTER,
    ]);
  }
  // From the environment too (the error names the variable), and for a role that does not deliver (the API checks endpoint URLs with it).
  const env = await serve(database, ['--role', 'api'], {
    DOORBELL_ALLOW_SUBNETS: '10.0.0.0/8, 192.168.0.0/16x',
  });
  assert.equal(env.code, 2);
  assert.match(
    env.stderr,
    /^doorbell: --allow-subnets \(from DOORBELL_ALLOW_SUBNETS\): invalid CIDR '192\.168\.0\.0\/16x'/,
  );
  // A single address typed with a range's prefix would open the whole range: refused, saying what to write.
  const hostBits = await serve(database, ['--allow-subnets', '127.0.0.1/8']);
  assert.equal(hostBits.code, 2);
  assert.match(
    hostBits.stderr,
    /^doorbell: --allow-subnets: '127\.0\.0\.1\/8' .* write 127\.0\.0\.0\/8 for the range, or 127\.0\.0\.1\/32/,
  );
  assert.equal(existsSync(dir), false, 'nothing started: the database folder was never made');
});

test('serve refuses split roles on SQLite, and an admin token no client could send, before anything starts', async (t) => {
  const { dir, database } = unopenedDatabase(t);
  for (const role of ['api', 'worker']) {
    const run = await serve(database, ['--role', role]);
    assert.equal(run.code, 2, role);
    assert.equal(
      run.stderr.split('\n')[0],
      `doorbell: --role must be all on SQLite, where one process serves the file: ${role} needs a postgres:// --database`,
    );
  }
  const pool = await serve(database, ['--pool-size', '4']);
  assert.deepEqual(
    [pool.code, pool.stderr.split('\n')[0]],
    [2, 'doorbell: --pool-size needs a postgres:// --database: SQLite is served by one connection'],
  );
  const zero = await serve('postgres://127.0.0.1:9/x', ['--pool-size', '0']);
  assert.deepEqual(
    [zero.code, zero.stderr.split('\n')[0]],
    [2, "doorbell: --pool-size must be an integer from 1 to 1000, got '0'"],
  );
  const env = await serve(database, [], { DOORBELL_ROLE: 'worker' });
  assert.match(
    env.stderr,
    /^doorbell: --role \(from DOORBELL_ROLE\) must be all on SQLite, where one process serves the file: worker needs/,
  );
  for (const token of ['tok with space', 'tøken-with-non-ascii']) {
    const run = await serve(database, [], { DOORBELL_ADMIN_TOKEN: token });
    assert.equal(run.code, 2, token);
    assert.match(run.stderr, /^doorbell: DOORBELL_ADMIN_TOKEN must be printable ASCII without spaces/);
  }
  assert.equal(existsSync(dir), false, 'nothing started: the database folder was never made');
});

test('serve refuses a --public-url with credentials, a query string or a fragment, naming the flag', async (t) => {
  const { dir, database } = unopenedDatabase(t);
  const urls = [
    'https://hooks.example.com/?x=1',
    'https://hooks.example.com/#top',
    'https://hooks.example.com?',
  ];
  for (const url of [...urls, 'https://admin:secret@hooks.example.com', 'https://admin@hooks.example.com']) {
    const run = await serve(database, ['--public-url', url]);
    assert.equal(run.code, 2, url);
    assert.equal(run.stdout, '');
    assert.deepEqual(run.stderr.trim().split('\n'), [
      `doorbell: --public-url must not have credentials, a query string or a fragment, got '${url}'`,
      HELP_POINTER,
    ]);
  }
  assert.equal(existsSync(dir), false, 'nothing started: the database folder was never made');
  // A path is fine: portal links go below it.
  const proc = await spawnDoorbell({
    database,
    adminToken: TOKEN,
    args: ['--public-url', 'https://hooks.example.com/doorbell/'],
  });
  t.after(() => proc.kill());
  const access = await api(proc.url, 'POST', '/auth/app-portal-access/portal-app', {
    application: { name: 'portal', uid: 'portal-app' },
  });
  assert.match(access.body.url, /^https:\/\/hooks\.example\.com\/doorbell\/portal\/app_\w+#token=/);
  assert.deepEqual(await proc.stop(), { code: 0, signal: null });
});

test('a drain that outlasts --drain-timeout exits 1 and says how many attempts were in flight and when they are retried', async (t) => {
  const { database } = unopenedDatabase(t);
  // The receiver never answers: each attempt runs until its 20 s deadline, far past the drain limit.
  const rx = await startReceiver({ handle: () => {} });
  t.after(() => rx.close());
  const proc = await spawnDoorbell({
    database,
    adminToken: TOKEN,
    args: ['--allow-subnets', '127.0.0.0/8', '--attempt-timeout', '20s'],
    env: { DOORBELL_DRAIN_TIMEOUT: '1s' },
  });
  t.after(() => proc.kill());
  const app = await api(proc.url, 'POST', '/app', { name: 'drain', uid: 'drain' });
  await api(proc.url, 'POST', `/app/${app.body.id}/endpoint`, { url: rx.url });
  for (const type of ['a', 'b'])
    await api(proc.url, 'POST', `/app/${app.body.id}/msg`, { eventType: type, payload: {} });
  await until('both attempts', () => rx.requests[1]);
  const started = Date.now();
  process.kill(proc.pid, 'SIGTERM');
  assert.deepEqual(await proc.exited, { code: 1, signal: null });
  assert.ok(Date.now() - started < 15_000, 'it did not wait for the attempts');
  assert.match(
    proc.output(),
    /doorbell: SIGTERM: draining attempts in flight…\ndoorbell: drain timed out after 1s with 2 attempts still in flight; they are retried once their lease expires \(at most 40s from now\)\n$/,
  );
  assert.equal(proc.stdout(), '');
});

/** What serve says on stderr from its start to its exit on SIGTERM. */
async function startedOutput(database: string, args: string[]): Promise<string> {
  const proc = await spawnDoorbell({ database, adminToken: TOKEN, args });
  process.kill(proc.pid, 'SIGTERM');
  await proc.exited;
  return proc.output();
}

test('serve warns that a retention shorter than the retry schedule fails the retries after it', async (t) => {
  const { database } = unopenedDatabase(t);
  const start = (args: string[]) => startedOutput(database, args);
  assert.match(
    await start(['--retention', '1h', '--retry-schedule', '0,30m,90m']),
    /doorbell: --retention 1h is shorter than the retries may last \(2h as scheduled, up to 4\.8h with jitter, Retry-After and timeouts\): a retry after a payload's retention fails unsent\n/,
  );
  // Short delays are raised to the 60 s after a timeout.
  assert.match(
    await start(['--retention', '2m', '--retry-schedule', '0,2s,10s,30s']),
    /\(42s as scheduled, up to 192s with/,
  );
  assert.match(await start(['--retention', '2d']), /\(27\.6h as scheduled, up to 66\.2h with/);
  assert.doesNotMatch(await start(['--retention', '1h', '--retry-schedule', '0,20m']), /is shorter than/);
});

test('serve warns that a --concurrency below 16 leaves no room that hanging endpoints cannot take', async (t) => {
  const { database } = unopenedDatabase(t);
  const start = (args: string[]) => startedOutput(database, args);
  assert.match(
    await start(['--concurrency', '8']),
    /doorbell: --concurrency 8 is below 16: the slots kept for other endpoints \(an eighth\) are too few to share, and endpoints that hang, all of one application's, can hold every slot\n/,
  );
  assert.doesNotMatch(await start(['--concurrency', '16']), /is below 16/);
});

test('--drain-timeout must be a duration longer than 0', async (t) => {
  const { database } = unopenedDatabase(t);
  const run = await serve(database, ['--drain-timeout', '0']);
  assert.equal(run.code, 2);
  assert.deepEqual(run.stderr.trim().split('\n'), [
    "doorbell: --drain-timeout must be longer than 0, got '0'",
    HELP_POINTER,
  ]);
});

test('--auto-disable-after sets how long an endpoint fails before it is disabled; 0 never disables one', async (t) => {
  const rx = await startReceiver({ respond: () => 500 });
  t.after(() => rx.close());
  /** An endpoint on the failing receiver, sent one message; resolves once `attempts` reached it. */
  const failing = async (url: string, attempts: number) => {
    const app = await api(url, 'POST', '/app', { name: 'failing' });
    const ep = await api(url, 'POST', `/app/${app.body.id}/endpoint`, { url: rx.url });
    const before = rx.requests.length;
    await api(url, 'POST', `/app/${app.body.id}/msg`, { eventType: 'a', payload: {} });
    await until(`${attempts} attempts`, () => rx.requests.length >= before + attempts);
    return () => api(url, 'GET', `/app/${app.body.id}/endpoint/${ep.body.id}`);
  };

  const short = await spawnDoorbell({
    database: unopenedDatabase(t).database,
    adminToken: TOKEN,
    args: ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0,1s'],
    env: { DOORBELL_AUTO_DISABLE_AFTER: '500ms' },
  });
  t.after(() => short.kill());
  // Its second failure comes a second after the first: past the period, so it disables the endpoint.
  const disabled = await failing(short.url, 2);
  await until('the endpoint disabled', async () => (await disabled()).body.disabled === true);
  assert.deepEqual(await short.stop(), { code: 0, signal: null });

  const never = await spawnDoorbell({
    database: unopenedDatabase(t).database,
    adminToken: TOKEN,
    args: ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0,1s,1s', '--auto-disable-after', '0'],
    env: { DOORBELL_AUTO_DISABLE_AFTER: '500ms' }, // the flag wins
  });
  t.after(() => never.kill());
  // A disabled endpoint's retry fails unsent: the third attempt reaching the receiver says it was not.
  const enabled = await failing(never.url, 3);
  assert.equal((await enabled()).body.disabled, false);
  assert.deepEqual(await never.stop(), { code: 0, signal: null });
});

test('--auto-disable-after must be a duration', async (t) => {
  const { database } = unopenedDatabase(t);
  for (const [args, env, said] of [
    [['--auto-disable-after', '5'], {}, "--auto-disable-after: duration '5' needs a unit"],
    [
      ['--auto-disable-after', '0.4ms'],
      {},
      "--auto-disable-after must be 0 (never) or at least 1ms, got '0.4ms'",
    ],
    [
      [],
      { DOORBELL_AUTO_DISABLE_AFTER: 'soon' },
      "--auto-disable-after (from DOORBELL_AUTO_DISABLE_AFTER): invalid duration 'soon'",
    ],
  ] as const) {
    const run = await serve(database, [...args], env);
    assert.equal(run.code, 2, said);
    assert.ok(run.stderr.startsWith(`doorbell: ${said}`), run.stderr);
    assert.equal(run.stderr.trim().split('\n')[1], HELP_POINTER);
  }
});
