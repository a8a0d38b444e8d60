// `doorbell publish` and `import-openapi` as a user runs them against a running server: a separate
// process, results on stdout, errors and progress on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Running } from '../../src/bin/serve.ts';
import { api, start, TOKEN, until } from '../support/in-process.ts';
import { startReceiver } from '../support/receiver.ts';
import { doorbell, HELP_POINTER } from '../support/run-doorbell.ts';

describe('doorbell client commands', () => {
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
