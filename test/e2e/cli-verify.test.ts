// `doorbell verify` as a receiver runs it: a separate process, results on stdout, errors on stderr.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { doorbell, HELP_POINTER } from '../support/run-doorbell.ts';

describe('doorbell verify', () => {
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
});
