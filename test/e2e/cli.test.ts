// The `doorbell` command as a user runs it: a separate process, results on stdout, errors on stderr.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';
import { freePort, repoRoot, spawnDoorbell } from '../support/doorbell-process.ts';
import { api, TOKEN, until } from '../support/in-process.ts';
import { createTempDatabase } from '../support/postgres.ts';
import { startReceiver } from '../support/receiver.ts';
import { doorbell, HELP_POINTER } from '../support/run-doorbell.ts';

describe('doorbell command', () => {
  test('--help lists the commands with examples', async () => {
    const run = await doorbell(['--help']);
    assert.equal(run.code, 0);
    for (const word of ['serve', 'publish', 'import-openapi', 'verify', 'Examples'])
      assert.match(run.stdout, new RegExp(word));
    const version = await doorbell(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    // A usage error is one line and a pointer to the help, not the whole help page, and exits 2.
    const unknown = await doorbell(['serve', '--bogus']);
    assert.equal(unknown.code, 2);
    assert.deepEqual(unknown.stderr.trim().split('\n'), ["error: unknown option '--bogus'", HELP_POINTER]);
  });

  test("each command's --help ends with examples to copy", async () => {
    for (const command of ['serve', 'publish', 'import-openapi', 'verify']) {
      const run = await doorbell([command, '--help']);
      assert.equal(run.code, 0);
      assert.match(
        run.stdout,
        new RegExp(`\\nExamples:\\n(  \\$ .*\\n)*  \\$ doorbell ${command} `),
        command,
      );
    }
  });

  test('serve refuses an out-of-range port, a zero attempt deadline or retention, a delayed first attempt and a public URL that is not absolute http(s), naming the flag', async () => {
    const run = await doorbell(['serve', '--port', '99999', '--database', ':memory:']);
    assert.equal(run.code, 2);
    // A refused flag value is a usage error: one line and the pointer to the help.
    assert.deepEqual(run.stderr.trim().split('\n'), [
      "doorbell: --port must be an integer from 0 to 65535, got '99999'",
      HELP_POINTER,
    ]);
    const notUrl = await doorbell(['serve', '--database', 'postgres://me@/db?host=/run/postgresql']);
    assert.equal(notUrl.code, 2);
    assert.match(notUrl.stderr, /^doorbell: --database is not a valid URL: .*postgresql:\/\/\/db\?host=/);
    for (const port of ['0x50', '1e3', '80.0']) {
      const odd = await doorbell(['serve', '--port', port, '--database', ':memory:']);
      assert.equal(odd.code, 2, `--port ${port}`);
      assert.match(odd.stderr, /^doorbell: --port must be an integer from 0 to 65535/);
    }
    const zero = await doorbell(['serve', '--attempt-timeout', '0s', '--database', ':memory:']);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--attempt-timeout must be longer than 0/);
    // Past a timer's limit (2^31 - 1 ms) Node.js fires a timer at once: every attempt would time out,
    // every drain would end at once.
    for (const flag of ['--attempt-timeout', '--drain-timeout']) {
      const long = await doorbell(['serve', flag, '25d', '--database', ':memory:']);
      assert.equal(long.code, 2, flag);
      assert.match(long.stderr, new RegExp(`^doorbell: ${flag} must be at most 2147483647 ms`));
    }
    // An address this machine does not have (TEST-NET-1) names the flag.
    const host = await doorbell(['serve', '--host', '192.0.2.1', '--port', '0', '--database', ':memory:']);
    assert.equal(host.code, 2);
    assert.match(host.stderr, /^doorbell: --host: cannot listen on '192\.0\.2\.1' \(EADDRNOTAVAIL\)\n/);
    const late = await doorbell(['serve', '--retry-schedule', '10s,1m', '--database', ':memory:']);
    assert.equal(late.code, 2);
    assert.match(late.stderr, /--retry-schedule must start with 0/);
    const retention = await doorbell(['serve', '--retention', 'abc', '--database', ':memory:']);
    assert.equal(retention.code, 2);
    assert.match(retention.stderr, /--retention: invalid duration 'abc'/);
    // A zero retention would expire payloads as soon as they are stored.
    const noRetention = await doorbell([
      'serve',
      '--retention',
      '0',
      '--port',
      '0',
      '--database',
      ':memory:',
    ]);
    assert.equal(noRetention.code, 2);
    assert.match(noRetention.stderr, /^doorbell: --retention must be longer than 0, got '0'\n/);
    for (const url of ['doorbell.example.com', '/doorbell', 'ftp://doorbell.example.com']) {
      const relative = await doorbell([
        'serve',
        '--public-url',
        url,
        '--port',
        '0',
        '--database',
        ':memory:',
      ]);
      assert.equal(relative.code, 2, url);
      assert.match(
        relative.stderr,
        new RegExp(`^doorbell: --public-url must be an absolute http:// or https:// URL, got '${url}'\n`),
      );
    }
    // A database that cannot be opened is named, with SQLite's reason (it once printed [object Object]).
    const folder = await doorbell(['serve', '--port', '0', '--database', tmpdir()]);
    assert.equal(folder.code, 1);
    assert.match(folder.stderr, /cannot open the database .*: unable to open database file/);
    // A folder that cannot be made is an error too (Node's recursive mkdir loops forever inside /proc).
    const proc = await doorbell(['serve', '--port', '0', '--database', '/proc/doorbell-none/d.db']);
    assert.equal(proc.code, 1);
    assert.match(proc.stderr, /cannot open the database \/proc\/doorbell-none\/d.db: ENOENT/);
  });

  test('serve: an empty flag or variable is unset (the default applies); durations need a unit', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-empty-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // As a deployment file passes an unset variable: empty. '' once listened on every interface, and
    // an empty database was a temporary one.
    const proc = await spawnDoorbell({
      database: '',
      adminToken: 'empty-token',
      cwd: dir,
      args: ['--host', ''],
      env: { DOORBELL_ROLE: '', DOORBELL_RETRY_SCHEDULE: '', DOORBELL_CONCURRENCY: '' },
    });
    t.after(() => proc.kill('SIGKILL'));
    // Ready (its ping answers) may come before its banner reaches the pipe.
    await until('the banner', () => /listening on http:\/\/127\.0\.0\.1:\d+/.test(proc.output()));
    assert.ok(existsSync(join(dir, '.doorbell', 'doorbell.db')), 'the default database');
    assert.deepEqual(await proc.stop(), { code: 0, signal: null });
    const bare = await doorbell(['serve', '--attempt-timeout', '40', '--database', ':memory:']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^doorbell: --attempt-timeout: duration '40' needs a unit/);
  });

  test('npm start stops (draining) on the SIGTERM a process manager sends npm', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-npm-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: repoRoot,
      env: { ...process.env, DOORBELL_PORT: String(port), DOORBELL_DATABASE: join(dir, 'd.db') },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: whatever is left is killed after
    });
    let output = '';
    for (const stream of [npm.stdout, npm.stderr]) stream.on('data', (chunk) => (output += chunk));
    t.after(() => {
      try {
        if (npm.pid) process.kill(-npm.pid, 'SIGKILL');
      } catch {} // none left
    });
    const ping = () =>
      fetch(`http://127.0.0.1:${port}/api/v1/health/ping`).then(
        (res) => res.status,
        () => 0,
      );
    await until('npm start serves', async () => ((await ping()) === 204 ? true : undefined), 30_000);
    npm.kill('SIGTERM');
    await once(npm, 'exit');
    assert.match(output, /SIGTERM: draining attempts in flight/);
    assert.equal(await ping(), 0, 'the server stopped with npm');
  });

  test('the worker banner hides the password of a postgres:// database', async (t) => {
    const db = await createTempDatabase();
    t.after(() => db.drop());
    const url = new URL(db.url);
    url.password = 's3cret-pw'; // trust authentication takes any
    const proc = await spawnDoorbell({
      database: url.href,
      adminToken: 'pw-token',
      args: ['--role', 'worker'],
      ready: 'stderr-line',
    });
    t.after(() => proc.kill('SIGKILL'));
    assert.match(proc.output(), /Doorbell worker started \(database: postgres:\/\/postgres:\*\*\*@/);
    assert.doesNotMatch(proc.output(), /s3cret-pw/);
    await proc.stop();
  });

  test('the installed command serves SQLite from any working directory', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-cwd-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // The store thread once resolved tsx from the working directory: outside the package it could not start.
    const proc = await spawnDoorbell({ database: join(dir, 'd.db'), adminToken: 'cwd-token', cwd: dir });
    const res = await fetch(`${proc.url}/api/v1/app`, { headers: { authorization: 'Bearer cwd-token' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await proc.stop(), { code: 0, signal: null });
  });

  test('a start that fails stores no admin token: the next start generates one and prints it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-token-'));
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    t.after(() => {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const port = (taken.address() as AddressInfo).port;
    const config = makeConfig({ host: '127.0.0.1', port, database: join(dir, 'd.db'), role: 'api' });
    await assert.rejects(startDoorbell(config), /EADDRINUSE/);
    const running = await startDoorbell({ ...config, port: 0 });
    t.after(() => running.close());
    assert.match(
      running.generatedToken ?? '',
      /^dbk_/,
      'the token the failed start never showed was not kept',
    );
    const res = await fetch(`${running.url}/api/v1/app`, {
      headers: { authorization: `Bearer ${running.generatedToken}` },
    });
    assert.equal(res.status, 200);
  });

  test('a restart says where the admin token is; the banner names the database by its absolute path', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const options = { database: join(dir, 'd.db'), adminToken: '', cwd: dir };
    const first = await spawnDoorbell(options);
    // The banner follows the listening socket: wait for its token line.
    const banner = await until('the first banner', () => first.output().match(/admin token.*\n/)?.[0]);
    assert.match(banner, /\(shown once, stored only as a hash\): dbk_/);
    assert.match(first.output(), new RegExp(`database: ${join(dir, 'd.db')}`));
    await first.stop();
    const second = await spawnDoorbell(options);
    const again = await until('the second banner', () => second.output().match(/admin token.*\n/)?.[0]);
    assert.match(
      again,
      /the last one printed \(the first start and each demo start print one\), or the DOORBELL_ADMIN_TOKEN given since/,
    );
    assert.doesNotMatch(second.output(), /dbk_/);
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
  });

  test('serve --demo (npm start) prints a command that publishes an event, and it arrives signed', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-demo-'));
    // No DOORBELL_ADMIN_TOKEN: the demo makes one and prints it in the command.
    const proc = await spawnDoorbell({
      database: join(dir, 'doorbell.db'),
      adminToken: '',
      args: ['--demo'],
    });
    t.after(async () => {
      await proc.kill();
      rmSync(dir, { recursive: true, force: true });
    });
    const command = await until(
      'the demo command',
      () => proc.output().match(/(curl -s -X POST [^\n]*\\\n[^\n]*\\\n[^\n]*)\n/)?.[1],
    );
    assert.match(proc.output(), /deliveries to 127\.0\.0\.0\/8 are allowed/);
    const sent = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['-c', command], (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    const id = JSON.parse(sent).id as string;
    assert.match(id, /^msg_/);
    const line = await until(
      'the demo receiver line',
      () => proc.output().match(new RegExp(`demo receiver: ${id} (.*)`))?.[1],
    );
    assert.match(line, /"amount":4200.*\(signature valid\)$/);
    assert.deepEqual(await proc.stop(), { code: 0, signal: null });

    // Started again, it shows the same token, which still works: a user may have kept it.
    const token = proc.output().match(/admin token: +(dbk_\S+)/)?.[1];
    assert.ok(token, proc.output());
    assert.equal(statSync(join(dir, 'doorbell.db.demo-admin-token')).mode & 0o777, 0o600);
    const again = await spawnDoorbell({
      database: join(dir, 'doorbell.db'),
      adminToken: '',
      args: ['--demo'],
    });
    t.after(() => again.kill());
    await until('the second demo banner', () => /Publish an event/.test(again.output()));
    assert.equal(again.output().match(/admin token: +(dbk_\S+)/)?.[1], token);
    const res = await fetch(`${again.url}/api/v1/app/demo`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await again.stop(), { code: 0, signal: null });
  });

  test('--demo refuses a database set up without it: its admin token would be replaced', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-demo-existing-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const database = join(dir, 'doorbell.db');
    const plain = await spawnDoorbell({ database, adminToken: '' });
    t.after(() => plain.kill());
    assert.deepEqual(await plain.stop(), { code: 0, signal: null });
    const run = await doorbell(['serve', '--demo', '--port', '0', '--database', database], {
      DOORBELL_ADMIN_TOKEN: '',
    });
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /--demo: .* has no doorbell\.db\.demo-admin-token beside it \(it was set up without --demo/,
    );
    assert.equal(existsSync(join(dir, 'doorbell.db.demo-admin-token')), false);
    // A demo on another database in the same folder keeps its token apart: this one is still refused.
    const other = await spawnDoorbell({ database: join(dir, 'other.db'), adminToken: '', args: ['--demo'] });
    t.after(() => other.kill());
    assert.deepEqual(await other.stop(), { code: 0, signal: null });
    assert.equal(
      (
        await doorbell(['serve', '--demo', '--port', '0', '--database', database], {
          DOORBELL_ADMIN_TOKEN: '',
        })
      ).code,
      2,
    );
    // Nor does the demo take a PostgreSQL database's token, which it would replace at every start.
    const pg = await doorbell(['serve', '--demo', '--database', 'postgres://nobody@127.0.0.1:1/none'], {
      DOORBELL_ADMIN_TOKEN: '',
    });
    assert.equal(pg.code, 2);
    assert.match(pg.stderr, /--demo on PostgreSQL needs DOORBELL_ADMIN_TOKEN/);
  });

  test("--demo still finds the token of a demo set up when it was kept in the folder's demo-admin-token", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-demo-before-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const database = join(dir, 'doorbell.db');
    const first = await spawnDoorbell({ database, adminToken: '', args: ['--demo'] });
    t.after(() => first.kill());
    assert.deepEqual(await first.stop(), { code: 0, signal: null });
    renameSync(join(dir, 'doorbell.db.demo-admin-token'), join(dir, 'demo-admin-token'));
    const token = first.output().match(/admin token: +(dbk_\S+)/)?.[1];
    const again = await spawnDoorbell({ database, adminToken: '', args: ['--demo'] });
    t.after(() => again.kill());
    await until('the second demo banner', () => /Publish an event/.test(again.output()));
    assert.equal(again.output().match(/admin token: +(dbk_\S+)/)?.[1], token);
    assert.deepEqual(await again.stop(), { code: 0, signal: null });
  });

  test('DOORBELL_DEMO is the twin of --demo: 1 or true starts the demo, 0 or false does not, anything else is refused', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-demo-env-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const on = await spawnDoorbell({
      database: join(dir, 'on.db'),
      adminToken: '',
      env: { DOORBELL_DEMO: '1' },
    });
    t.after(() => on.kill());
    await until('the demo banner', () => /Demo mode: deliveries to 127\.0\.0\.0\/8/.test(on.output()));
    assert.deepEqual(await on.stop(), { code: 0, signal: null });
    // Stopped once started: anything the demo would print is printed by then.
    const off = await spawnDoorbell({
      database: join(dir, 'off.db'),
      adminToken: 'demo-env-token',
      env: { DOORBELL_DEMO: 'false' },
    });
    t.after(() => off.kill());
    assert.deepEqual(await off.stop(), { code: 0, signal: null });
    assert.doesNotMatch(off.output(), /Demo mode|deliveries may reach/);
    const bad = await doorbell(['serve', '--database', ':memory:'], { DOORBELL_DEMO: 'yes' });
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.stderr.trim().split('\n'), [
      "doorbell: DOORBELL_DEMO must be 1, true, 0 or false, got 'yes'",
      HELP_POINTER,
    ]);
  });

  test('a second Ctrl-C stops at once; the attempt it interrupted is sent again once its lease expires', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-sigint-'));
    // The first attempt hangs (until its 3 s deadline); later ones are answered.
    const rx = await startReceiver({
      handle: (hit, res) => {
        if (hit.attempt > 1) res.writeHead(204).end();
      },
    });
    const options = {
      database: join(dir, 'd.db'),
      adminToken: TOKEN,
      args: ['--allow-subnets', '127.0.0.0/8', '--attempt-timeout', '3s'],
    };
    const first = await spawnDoorbell(options);
    t.after(async () => {
      await first.kill();
      await rx.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const app = await api(first.url, 'POST', '/app', { name: 'sigint', uid: 'sigint' });
    await api(first.url, 'POST', `/app/${app.body.id}/endpoint`, { url: rx.url });
    const sent = await api(first.url, 'POST', `/app/${app.body.id}/msg`, { eventType: 't', payload: {} });
    await until('the first attempt', () => rx.requests[0]);
    // One Ctrl-C at a terminal under `npm start` arrives twice at once (the terminal's, and npm's relay):
    // it drains.
    process.kill(first.pid, 'SIGINT');
    process.kill(first.pid, 'SIGINT');
    await until('the drain', () => first.output().includes('SIGINT: draining'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.doesNotMatch(first.output(), /again/);
    process.kill(first.pid, 'SIGINT');
    // Without waiting for the attempt's deadline, and with 128 + SIGINT's number.
    assert.deepEqual(await first.exited, { code: 130, signal: null });
    assert.match(
      first.output(),
      /doorbell: SIGINT again: delivery interrupted; unfinished attempts are retried once their lease expires\n$/,
    );
    // The interrupted attempt's task is still leased: the next start sends it once the lease (2 × 3 s) ends.
    const second = await spawnDoorbell(options);
    t.after(() => second.kill());
    const again = await until('the attempt sent again', () => rx.requests[1], 20_000);
    assert.equal(again.webhookId, sent.body.id);
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
  });
});
