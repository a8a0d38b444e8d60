// The `doorbell` command as a user runs it: a separate process, results on stdout, errors on stderr.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { type Running, startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';
import { freePort, repoRoot, spawnDoorbell } from '../support/doorbell-process.ts';
import { api, start, TOKEN, until } from '../support/in-process.ts';
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

  test('verify accepts what the standardwebhooks library signs and refuses a changed body', async () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const body = '{"type":"invoice.paid","id":1}';
    const timestamp = new Date();
    const signature = new Webhook(secret).sign('msg_1', timestamp, body);
    const headers = ['--secret', secret, '--id', 'msg_1', '--timestamp'];
    const seconds = String(Math.floor(timestamp.getTime() / 1000));
    const signed = (...rest: string[]) => ['verify', ...headers, seconds, '--signature', signature, ...rest];
    const good = await doorbell(signed('--body', body));
    assert.deepEqual([good.code, good.stdout], [0, 'valid\n']);
    const bad = await doorbell(signed('--body', `${body} `));
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^invalid: /);
    // The secret may come from the environment (kept out of ps and shell history).
    const fromEnv = await doorbell(
      ['verify', '--id', 'msg_1', '--timestamp', seconds, '--signature', signature, '--body', body],
      { DOORBELL_WEBHOOK_SECRET: secret },
    );
    assert.deepEqual([fromEnv.code, fromEnv.stdout], [0, 'valid\n']);
    const both = await doorbell([
      ...['verify', ...headers, seconds, '--signature', signature],
      '--body',
      body,
      '--body-file',
      'x',
    ]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /'--body <text>' cannot be used with option '--body-file <path>'/);
    const tolerance = await doorbell([
      'verify',
      ...headers,
      seconds,
      ...['--signature', signature, '--body', body, '--tolerance', 'soon'],
    ]);
    assert.equal(tolerance.code, 2);
    assert.match(tolerance.stderr, /--tolerance/);
    // A webhook captured a while ago: stale, and whether its signature is right all the same.
    const old = new Date(timestamp.getTime() - 3600_000);
    const oldSeconds = String(Math.floor(old.getTime() / 1000));
    const oldSignature = new Webhook(secret).sign('msg_1', old, body);
    // One from a clock an hour ahead: too new, and the same question.
    const ahead = new Date(timestamp.getTime() + 3600_000);
    const aheadSeconds = String(Math.floor(ahead.getTime() / 1000));
    const aheadSignature = new Webhook(secret).sign('msg_1', ahead, body);
    for (const [at, sig, says] of [
      [oldSeconds, oldSignature, 'timestamp too old (the signature matches; a wider --tolerance accepts it)'],
      [oldSeconds, signature, 'timestamp too old (and no signature matches)'],
      [
        aheadSeconds,
        aheadSignature,
        'timestamp too new (the signature matches; a wider --tolerance accepts it)',
      ],
    ] as const) {
      const stale = await doorbell(['verify', ...headers, at, '--signature', sig, '--body', body]);
      assert.deepEqual([stale.code, stale.stdout], [1, `invalid: ${says}\n`]);
    }
    const missing = await doorbell([
      'verify',
      ...headers,
      seconds,
      '--signature',
      signature,
      '--body-file',
      '/nonexistent/body.json',
    ]);
    assert.equal(missing.code, 2);
    assert.deepEqual(missing.stderr.trim().split('\n'), [
      "doorbell: --body-file: ENOENT: no such file or directory, open '/nonexistent/body.json'",
      HELP_POINTER,
    ]);
    // Not "invalid" (exit 1): no signature could match a secret that is not one.
    const notSecret = await doorbell(signed('--body', body, '--secret', 'notasecret'));
    assert.deepEqual(
      [notSecret.code, notSecret.stdout, notSecret.stderr.split('\n')[0]],
      [2, '', 'doorbell: --secret must be an endpoint secret: [whsec_]<base64 of 24 to 64 bytes>'],
    );
  });

  test('verify reads the signature headers from a captured header dump, under webhook-* or svix-* names', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-verify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const secret = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
    const body = '{"type":"invoice.paid"}';
    const now = new Date();
    const signature = new Webhook(secret).sign('msg_9', now, body);
    const seconds = Math.floor(now.getTime() / 1000);
    const all = ['id: msg_9', `timestamp: ${seconds}`, `signature: ${signature}`];
    const dump = (prefix: string, lines = all, name = prefix) => {
      const file = join(dir, `${name}.txt`);
      const head = ['POST /hook HTTP/1.1', 'Host: example.com', ...lines.map((l) => `${prefix}-${l}`), ''];
      writeFileSync(file, head.join('\r\n'));
      return file;
    };
    for (const prefix of ['svix', 'Webhook']) {
      const run = await doorbell([
        'verify',
        '--secret',
        secret,
        '--headers-file',
        dump(prefix),
        '--body',
        body,
      ]);
      assert.deepEqual([run.code, run.stdout], [0, 'valid\n'], prefix);
    }
    // A file saved by a Windows editor starts with a byte order mark and ends lines with CRLF; headers
    // copied from a log or a pretty-printer come indented.
    const saved = join(dir, 'saved.txt');
    const lines = [`\ufeffwebhook-${all[0]}`, `  webhook-${all[1]}`, `\twebhook-${all[2]}`, ''];
    for (const eol of ['\r\n', '\n']) {
      writeFileSync(saved, lines.join(eol));
      const run = await doorbell(['verify', '--secret', secret, '--headers-file', saved, '--body', body]);
      assert.deepEqual([run.code, run.stdout, run.stderr], [0, 'valid\n', ''], JSON.stringify(eol));
    }
    // A header on two lines is one list: a signature on either line verifies, in either order.
    for (const [name, order] of [
      ['after', [`signature: v1,${Buffer.alloc(32).toString('base64')}`, `signature: ${signature}`]],
      ['before', [`signature: ${signature}`, `signature: v1,${Buffer.alloc(32).toString('base64')}`]],
    ] as const) {
      const twice = dump('webhook', [...all.slice(0, 2), ...order], name);
      const run = await doorbell(['verify', '--secret', secret, '--headers-file', twice, '--body', body]);
      assert.deepEqual([run.code, run.stdout], [0, 'valid\n'], name);
    }
    const ids = dump('webhook', [...all, 'id: msg_10'], 'ids');
    const twoIds = await doorbell(['verify', '--secret', secret, '--headers-file', ids, '--body', body]);
    assert.deepEqual(
      [twoIds.code, twoIds.stderr.split('\n')[0]],
      [2, 'doorbell: --headers-file has 2 different webhook-id lines'],
    );
    // A flag wins over the dump.
    const flag = ['verify', '--secret', secret, '--headers-file', dump('svix'), '--id', 'msg_other'];
    assert.deepEqual((await doorbell([...flag, '--body', body])).stdout, 'invalid: no matching signature\n');
    const partial = dump('svix', all.slice(0, 2), 'partial');
    const missing = await doorbell(['verify', '--secret', secret, '--headers-file', partial, '--body', body]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr.split('\n')[0],
      'doorbell: --headers-file has no webhook-signature or svix-signature line: give --signature',
    );
    const none = await doorbell(['verify', '--secret', secret, '--body', body]);
    assert.deepEqual(
      [none.code, none.stderr.split('\n')[0]],
      [2, 'doorbell: --id is required (or --headers-file with the captured headers)'],
    );
  });

  test('verify checks the exact bytes of --body-file and stdin: not UTF-8, a BOM, CRLF', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-verify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const key = Buffer.alloc(32, 7);
    const secret = `whsec_${key.toString('base64')}`;
    const timestamp = new Date();
    const seconds = String(Math.floor(timestamp.getTime() / 1000));
    // Standard Webhooks signs `${id}.${timestamp}.` followed by the body's bytes as sent.
    const sign = (body: Buffer) =>
      `v1,${createHmac('sha256', key).update(`msg_1.${seconds}.`).update(body).digest('base64')}`;
    const verify = async (body: Buffer, signature: string, via: 'file' | 'stdin' | '-') => {
      const file = join(dir, 'body');
      writeFileSync(file, body);
      const headers = ['--secret', secret, '--id', 'msg_1', '--timestamp', seconds, '--signature', signature];
      const from = { file: ['--body-file', file], stdin: [], '-': ['--body-file', '-'] }[via];
      const run = await doorbell(['verify', ...headers, ...from], {}, via === 'file' ? undefined : body);
      return `${run.code} ${run.stdout.trim()}`;
    };
    // On a body that is UTF-8, the formula above and the standardwebhooks library agree.
    const text = Buffer.from('\ufeff{"type":"invoice.paid"}\r\n');
    const signed = new Webhook(secret).sign('msg_1', timestamp, text.toString('utf8'));
    assert.equal(sign(text), signed);
    assert.equal(await verify(text, signed, 'file'), '0 valid');
    // The library decodes a Buffer as UTF-8 before signing (invalid bytes become U+FFFD), so bytes that
    // are not UTF-8 are signed by the formula alone.
    const bytes = Buffer.concat([
      Buffer.from('{"name":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}'),
    ]);
    assert.equal(await verify(bytes, sign(bytes), 'file'), '0 valid');
    assert.equal(await verify(bytes, sign(bytes), 'stdin'), '0 valid');
    assert.equal(await verify(bytes, sign(bytes), '-'), '0 valid');
    const changed = Buffer.from(bytes);
    changed[10] = 0xfd;
    assert.equal(await verify(changed, sign(bytes), 'file'), '1 invalid: no matching signature');
    // Decoded, the two bodies are the same text: only their bytes tell them apart.
    assert.equal(changed.toString('utf8'), bytes.toString('utf8'));
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
    assert.equal(statSync(join(dir, 'demo-admin-token')).mode & 0o777, 0o600);
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
    assert.match(run.stderr, /--demo: .* has no demo-admin-token beside it \(it was set up without --demo/);
    assert.equal(existsSync(join(dir, 'demo-admin-token')), false);
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

  describe('publish', () => {
    let running: Running;
    before(async () => {
      running = await start();
    });
    after(async () => {
      await running.close();
    });

    test('prints only the message id on stdout, and the event arrives', async () => {
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(204).end() });
      const app = await api(running.url, 'POST', '/app', { name: 'cli', uid: 'cli' });
      await api(running.url, 'POST', `/app/${app.body.id}/endpoint`, { url: rx.url });
      const run = await doorbell(
        ['publish', '--url', running.url, '--app', 'cli', '--type', 'user.created', '--payload', '{"a":1}'],
        { DOORBELL_ADMIN_TOKEN: TOKEN },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^msg_[0-9A-Z]{26}\n$/);
      const hit = await until('delivery', () => rx.requests[0]);
      assert.equal(hit.headers['webhook-id'], run.stdout.trim());
      assert.equal(hit.body, '{"a":1}');
      // The API URL as the banner prints it works too; and the payload may come from stdin.
      const piped = await doorbell(
        ['publish', '--url', `${running.url}/api/v1/`, '--app', 'cli', '--type', 't', '--payload-file', '-'],
        { DOORBELL_ADMIN_TOKEN: TOKEN },
        Buffer.from('{"from":"stdin"}'),
      );
      assert.equal(piped.code, 0, piped.stderr);
      const second = await until('second delivery', () => rx.requests[1]);
      assert.deepEqual(
        [second.headers['webhook-id'], second.body],
        [piped.stdout.trim(), '{"from":"stdin"}'],
      );
      await rx.close();
    });

    test('the payload arrives as the exact text given: numbers, key order, repeated keys, spacing, escapes', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'doorbell-payload-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(204).end() });
      t.after(() => rx.close());
      const app = await api(running.url, 'POST', '/app', { name: 'exact', uid: 'exact' });
      await api(running.url, 'POST', `/app/${app.body.id}/endpoint`, { url: rx.url });
      // Each would change if parsed and serialised again: a 2^53 + 1 integer, 1.0, an integer-like key
      // (JavaScript moves it first), a repeated key, spaces and line breaks, a \u escape and a character
      // beyond the BMP.
      const payloads = [
        '{"n":9007199254740993,"f":1.0,"z":1,"2":"two","k":1,"k":2}',
        '{ "name" : "caf\\u00e9",\n  "emoji": "😀", "tab":"\\t", "list": [ 1 , 2 ] }',
        '{"bom":"\uFEFF stays inside a string","é":1}',
      ];
      // The line break an editor ends a file with is JSON whitespace around the payload, not part of it.
      const file = join(dir, 'payload.json');
      writeFileSync(file, `${payloads[1]}\n`);
      // A byte order mark, as Windows editors write one, is not part of the text either.
      const withBom = join(dir, 'bom.json');
      writeFileSync(withBom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(payloads[2]!)]));
      const sources = [
        ['--payload', payloads[0]!, '--channels', 'c1,c2'],
        ['--payload-file', file],
        ['--payload-file', withBom],
      ];
      for (const [i, source] of sources.entries()) {
        const run = await doorbell(
          ['publish', '--url', running.url, '--app', 'exact', '--type', 't.cli', ...source],
          { DOORBELL_ADMIN_TOKEN: TOKEN },
        );
        assert.equal(run.code, 0, run.stderr);
        const hit = await until('delivery', () => rx.requests[i]);
        assert.equal(hit.headers['webhook-id'], run.stdout.trim());
        assert.equal(hit.body, payloads[i]);
      }
      const first = await api(running.url, 'GET', `/app/exact/msg/${rx.requests[0]!.webhookId}`);
      assert.deepEqual([first.body.eventType, first.body.channels], ['t.cli', ['c1', 'c2']]);
    });

    test('a payload that cannot be read or is not a JSON object is a usage error naming its flag', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'doorbell-payload-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"id":');
      // Latin-1 text (é is 0xe9), behind a BOM, which counts in the offset: read as UTF-8, its bytes
      // would have been published as U+FFFD.
      const latin1 = join(dir, 'latin1.json');
      writeFileSync(
        latin1,
        Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"name":"caf'), 0xe9, ...Buffer.from('"}')]),
      );
      // Two BOMs: the second is text, which JSON does not take.
      const twoBoms = join(dir, 'two-boms.json');
      writeFileSync(twoBoms, `\uFEFF\uFEFF{}`);
      const publish = (...args: string[]) =>
        doorbell(['publish', '--url', running.url, '--app', 'cli', '--type', 't', ...args], {
          DOORBELL_ADMIN_TOKEN: TOKEN,
        });
      const cases: [string[], RegExp][] = [
        [['--payload', 'nope'], /^doorbell: --payload is not valid JSON: Unexpected token/],
        [['--payload', '[1]'], /^doorbell: --payload must be a JSON object, got an array$/],
        [['--payload', 'null'], /^doorbell: --payload must be a JSON object, got null$/],
        [['--payload-file', join(dir, 'none.json')], /^doorbell: --payload-file: ENOENT: no such file/],
        [['--payload-file', dir], /^doorbell: --payload-file: EISDIR: illegal operation on a directory/],
        [['--payload-file', bad], new RegExp(`^doorbell: --payload-file '${bad}' is not valid JSON: `)],
        [
          ['--payload-file', latin1],
          new RegExp(`^doorbell: --payload-file '${latin1}' is not valid UTF-8: byte 0xe9 at offset 15$`),
        ],
        [
          ['--payload-file', twoBoms],
          new RegExp(`^doorbell: --payload-file '${twoBoms}' is not valid JSON: `),
        ],
        // Both: the file no longer wins silently.
        [
          ['--payload', '{"a":1}', '--payload-file', bad],
          /^error: option '--payload <json>' cannot be used with option '--payload-file <path>'$/,
        ],
      ];
      for (const [args, message] of cases) {
        const run = await publish(...args);
        assert.equal(run.code, 2, args.join(' '));
        assert.equal(run.stdout, '');
        const lines = run.stderr.trim().split('\n');
        assert.equal(lines.length, 2, run.stderr);
        assert.match(lines[0] ?? '', message);
        assert.equal(lines[1], HELP_POINTER);
      }
    });

    test('an empty variable is unset: the default URL applies, and a required token or secret is missing', async () => {
      const noToken = await doorbell(['publish', '--app', 'cli', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: '',
      });
      assert.equal(noToken.code, 2);
      assert.match(
        noToken.stderr,
        /^error: required option '--token <token>' not specified \(nor DOORBELL_ADMIN_TOKEN\)\n/,
      );
      const noSecret = await doorbell(
        ['verify', '--id', 'msg_1', '--timestamp', '1700000000', '--signature', 'v1,x', '--body', '{}'],
        { DOORBELL_WEBHOOK_SECRET: '' },
      );
      assert.equal(noSecret.code, 2);
      assert.match(
        noSecret.stderr,
        /^error: required option '--secret <secret>' not specified \(nor DOORBELL_WEBHOOK_SECRET\)\n/,
      );
      const emptyToken = await doorbell(['publish', '--token', '', '--app', 'cli', '--type', 't']);
      assert.deepEqual(
        [emptyToken.code, emptyToken.stderr.split('\n')[0]],
        [2, 'doorbell: --token must not be empty'],
      );
      const defaultUrl = await doorbell(['publish', '--app', 'cli', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
        DOORBELL_URL: '',
      });
      // Not '' as the URL ("cannot reach : Invalid URL"): the default, where nothing may be listening.
      assert.doesNotMatch(defaultUrl.stderr, /Invalid URL/);
      assert.equal(defaultUrl.code, 1);
    });
    test('a --url or --database that is not one is a usage error naming the flag', async () => {
      const url = await doorbell(['publish', '--url', 'notaurl', '--app', 'cli', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.equal(url.code, 2);
      assert.match(url.stderr, /^doorbell: --url must be an http:\/\/ or https:\/\/ URL, got 'notaurl'\n/);
      // Not a folder named 'mysql:' with a SQLite file in it.
      const database = await doorbell(['serve', '--port', '0', '--database', 'mysql://db/doorbell']);
      assert.equal(database.code, 2);
      assert.match(database.stderr, /^doorbell: --database must be a file path or a postgres:\/\/ URL/);
    });

    test('an unreachable server is an error on stderr, not a usage error', async () => {
      const away = await doorbell(['publish', '--url', 'http://127.0.0.1:9', '--app', 'cli', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.equal(away.code, 1);
      assert.equal(away.stdout, '');
      assert.match(away.stderr, /^doorbell: cannot reach http:\/\/127\.0\.0\.1:9: .*\n$/);
      // https:// to a plain HTTP server: one line that says so, not OpenSSL's error queue.
      const tls = running.url.replace('http://', 'https://');
      const plain = await doorbell(['publish', '--url', tls, '--app', 'cli', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.equal(plain.code, 1);
      assert.equal(
        plain.stderr,
        `doorbell: cannot reach ${tls}: the server did not answer TLS (is it http://, not https://?)\n`,
      );
    });

    test('a refused publish is reported once, however many copies were asked for', async () => {
      const run = await doorbell(
        ['publish', '--url', running.url, '--app', 'no-such-app', '--type', 't', '--count', '50'],
        { DOORBELL_ADMIN_TOKEN: TOKEN },
      );
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.deepEqual(run.stderr.trim().split('\n'), [
        'published 0 of 50',
        'doorbell: publish to app no-such-app failed: HTTP 404 application not found',
      ]);
      // A field refused names it by its place in the body.
      const invalid = await doorbell(['publish', '--url', running.url, '--app', 'cli', '--type', 'a b'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.equal(invalid.code, 1);
      assert.match(
        invalid.stderr,
        /^doorbell: publish to app cli failed: HTTP 422 eventType: must match pattern "[^\n]*"\n$/,
      );
    });

    test('a run of many copies says how far it got: every 2 s, at its end, and when interrupted', async (t) => {
      // A server that takes 20 ms per publish: 1,000 copies take over a second at 16 at a time.
      let received = 0;
      const slow = createHttpServer((req, res) => {
        received++;
        req.resume();
        setTimeout(() => res.writeHead(202).end(`{"id":"msg_${received}"}`), 20);
      }).listen(0, '127.0.0.1');
      await once(slow, 'listening');
      t.after(() => slow.close());
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/bin/doorbell.ts',
          'publish',
          '--url',
          url,
          '--app',
          'a',
          '--type',
          't',
          '--count',
          '100000',
        ],
        { env: { ...process.env, DOORBELL_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await until('a progress line', () => /published \d+ of 100000\n/.test(stderr), 20_000);
      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      assert.equal(code, 130);
      const ids = stdout.trim().split('\n');
      const lines = stderr.trim().split('\n');
      assert.match(
        lines[0]!,
        /^published \d+ of 100000$/,
        'a line every 2 s, no bar: stderr is not a terminal',
      );
      const last =
        /^published (\d+) of 100000 \(stopped by SIGINT(?:; (\d+) more were sent, unanswered: they may be published too)?\)$/.exec(
          lines.at(-1)!,
        );
      assert.ok(last, lines.at(-1));
      assert.equal(Number(last[1]), ids.length);
      assert.ok(Number(last[2] ?? 0) <= 16, 'at most the requests in flight');
      assert.equal(stderr.includes('\u001b'), false, 'no terminal control sequences');
    });

    test('a redirect is not followed: the payload goes nowhere else, and the error says where it led', async (t) => {
      let reached = 0;
      const elsewhere = createHttpServer((_req, res) => {
        reached++;
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"msg_elsewhere"}');
      }).listen(0, '127.0.0.1');
      await once(elsewhere, 'listening');
      const to = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/api/v1/app/a/msg`;
      const moved = createHttpServer((_req, res) => res.writeHead(307, { location: to }).end()).listen(
        0,
        '127.0.0.1',
      );
      await once(moved, 'listening');
      t.after(() => {
        elsewhere.close();
        moved.close();
      });
      const url = `http://127.0.0.1:${(moved.address() as AddressInfo).port}`;
      const run = await doorbell(['publish', '--url', url, '--app', 'a', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.deepEqual([run.code, run.stdout, reached], [1, '', 0]);
      assert.equal(
        run.stderr,
        `doorbell: ${url} answered HTTP 307, a redirect to ${to}, not followed: give the server's own URL as --url\n`,
      );
    });

    test('an answer that is not JSON names the URL instead of a parse error', async (t) => {
      const plain = createHttpServer((_req, res) => res.writeHead(204).end()).listen(0, '127.0.0.1');
      await once(plain, 'listening');
      t.after(() => plain.close());
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      const run = await doorbell(['publish', '--url', url, '--app', 'a', '--type', 't'], {
        DOORBELL_ADMIN_TOKEN: TOKEN,
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /unexpected answer from http:\/\/127\.0\.0\.1:\d+: HTTP 204, not JSON/);
    });
  });

  describe('import-openapi', () => {
    let running: Running;
    before(async () => {
      running = await start();
    });
    after(async () => {
      await running.close();
    });

    test("prints the names of the event types made of a document's webhooks; a dry run writes nothing", async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'doorbell-openapi-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'openapi.yaml');
      // Saved by a Windows editor: a byte order mark and CRLF line ends.
      const yaml = [
        '\ufeffopenapi: 3.1.0',
        'webhooks:',
        '  user.created:',
        '    post:',
        '      summary: A user signed up',
        '',
      ];
      writeFileSync(file, yaml.join('\r\n'));
      const env = { DOORBELL_ADMIN_TOKEN: TOKEN };
      const dry = await doorbell(['import-openapi', '--url', running.url, '--dry-run', file], env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout, 'user.created\n');
      assert.match(
        dry.stderr,
        /^dry run: 1 event type\(s\) would be created, changed or archived; nothing was written\n$/,
      );
      assert.equal((await api(running.url, 'GET', '/event-type/user.created')).status, 404);

      const run = await doorbell(['import-openapi', '--url', running.url, file], env);
      assert.deepEqual(
        [run.code, run.stdout, run.stderr],
        [0, 'user.created\n', '1 event type(s) created, changed or archived\n'],
      );
      const created = await api(running.url, 'GET', '/event-type/user.created');
      assert.equal(created.body.description, 'A user signed up');

      // From stdin, as JSON, with --replace-all: the type it does not name is archived.
      const json = JSON.stringify({ openapi: '3.1.0', webhooks: { 'user.deleted': { post: {} } } });
      const piped = await doorbell(
        ['import-openapi', '--url', running.url, '--replace-all', '-'],
        env,
        Buffer.from(json),
      );
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout, 'user.deleted\nuser.created\n');
      assert.equal((await api(running.url, 'GET', '/event-type/user.created')).body.archived, true);
    });

    test('a document the server refuses is an error naming where; an unreadable file is a usage error', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'doorbell-openapi-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const env = { DOORBELL_ADMIN_TOKEN: TOKEN };
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'webhooks:\n  "bad name":\n    post: {}\n');
      const refused = await doorbell(['import-openapi', '--url', running.url, bad], env);
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, '');
      assert.match(
        refused.stderr,
        /^doorbell: import of .*bad\.yaml failed: HTTP 422 specRaw\.webhooks\.bad name: /,
      );
      const missing = await doorbell(['import-openapi', '--url', running.url, join(dir, 'none.yaml')], env);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /^doorbell: <file>: ENOENT/);
      const latin1 = join(dir, 'latin1.yaml');
      writeFileSync(latin1, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
      const notUtf8 = await doorbell(['import-openapi', '--url', running.url, latin1], env);
      assert.equal(notUtf8.code, 2);
      assert.match(notUtf8.stderr, /^doorbell: <file> '.*latin1\.yaml' /);
    });
  });
});
