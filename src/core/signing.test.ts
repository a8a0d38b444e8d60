import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import {
  generateSecret,
  isValidSecret,
  normalizeSecret,
  signatureHeader,
  verifySignature,
  webhookHeaders,
} from './signing.ts';

// The example in the Standard Webhooks spec and its reference libraries.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  msgId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const nowSec = () => Math.floor(Date.now() / 1000); // the oracles read the real clock

describe('secrets', () => {
  it('generates whsec_ secrets from the given bytes', () => {
    const secret = generateSecret(new Uint8Array(24).fill(1));
    assert.equal(secret, `whsec_${Buffer.alloc(24, 1).toString('base64')}`);
    assert.ok(isValidSecret(generateSecret(randomBytes(32))));
    assert.ok(isValidSecret(generateSecret(randomBytes(64))));
    assert.throws(() => generateSecret(randomBytes(23)), RangeError);
    assert.throws(() => generateSecret(randomBytes(65)), RangeError);
  });

  it('validates prefix, base64 and key length', () => {
    assert.ok(isValidSecret(SPEC.secret));
    assert.ok(isValidSecret(SPEC.secret.slice('whsec_'.length)));
    assert.ok(!isValidSecret('whsec_'));
    assert.ok(!isValidSecret('whsec_short'));
    assert.ok(!isValidSecret(`whsec_${Buffer.alloc(23).toString('base64')}`)); // 23 bytes
    assert.ok(!isValidSecret(`whsec_${Buffer.alloc(65).toString('base64')}`)); // 65 bytes
    assert.ok(!isValidSecret(`whsec_${'-'.repeat(32)}`)); // not base64
    assert.ok(!isValidSecret(`whsk_${Buffer.alloc(32).toString('base64')}`));
  });

  it('normalizes the prefix', () => {
    assert.equal(normalizeSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), SPEC.secret);
    assert.equal(normalizeSecret(SPEC.secret), SPEC.secret);
  });
});

describe('signing', () => {
  it('reproduces the Standard Webhooks spec example', () => {
    const { msgId, timestamp, body, secret } = SPEC;
    assert.equal(signatureHeader({ msgId, timestamp, body, secrets: [secret] }), SPEC.signature);
    assert.equal(new StandardWebhook(secret).sign(msgId, new Date(timestamp * 1000), body), SPEC.signature);
  });

  it('lists one signature per secret during rotation', () => {
    const secrets = [generateSecret(randomBytes(32)), SPEC.secret];
    const header = signatureHeader({ ...SPEC, secrets });
    const parts = header.split(' ');
    assert.equal(parts.length, 2);
    assert.equal(parts[1], SPEC.signature);
  });

  it('builds both header sets and the content type', () => {
    const headers = webhookHeaders({ ...SPEC, secrets: [SPEC.secret] });
    assert.deepEqual(headers, {
      'content-type': 'application/json',
      'webhook-id': SPEC.msgId,
      'webhook-timestamp': String(SPEC.timestamp),
      'webhook-signature': SPEC.signature,
      'svix-id': SPEC.msgId,
      'svix-timestamp': String(SPEC.timestamp),
      'svix-signature': SPEC.signature,
    });
  });

  it('is accepted by the standardwebhooks and svix libraries', () => {
    const secret = generateSecret(randomBytes(32));
    const other = generateSecret(randomBytes(32));
    const body = JSON.stringify({ type: 'invoice.paid', data: { amount: 1299, note: 'ünïcødé ✓' } });
    for (const secrets of [[secret], [other, secret]]) {
      const headers = webhookHeaders({ msgId: 'msg_test', timestamp: nowSec(), body, secrets });
      assert.deepEqual(new StandardWebhook(secret).verify(body, headers), JSON.parse(body));
      assert.deepEqual(new SvixWebhook(secret).verify(body, headers), JSON.parse(body));
      const svixOnly = {
        'svix-id': headers['svix-id']!,
        'svix-timestamp': headers['svix-timestamp']!,
        'svix-signature': headers['svix-signature']!,
      };
      assert.deepEqual(new SvixWebhook(secret).verify(body, svixOnly), JSON.parse(body));
    }
  });

  it('throws on an invalid secret', () => {
    assert.throws(() => signatureHeader({ ...SPEC, secrets: ['whsec_nope'] }), /invalid webhook secret/);
  });
});

describe('verifySignature', () => {
  const secret = generateSecret(randomBytes(32));
  const body = '{"hello":"world"}';
  const now = Date.UTC(2024, 0, 1);
  const ts = now / 1000;
  const signed = (timestamp = ts, secrets = [secret]) =>
    webhookHeaders({ msgId: 'msg_1', timestamp, body, secrets }) as Record<string, string | undefined>;

  it('accepts what the standardwebhooks library signs', () => {
    const signature = new StandardWebhook(secret).sign('msg_x', new Date(now), body);
    const headers = {
      'webhook-id': 'msg_x',
      'webhook-timestamp': String(ts),
      'webhook-signature': signature,
    };
    assert.deepEqual(verifySignature({ headers, body, secret, now }), { ok: true });
  });

  it('verifies bytes as given: UTF-8 bytes like their text, other bytes without decoding them', () => {
    assert.deepEqual(verifySignature({ headers: signed(), body: Buffer.from(body), secret, now }), {
      ok: true,
    });
    // Two bodies that decode to the same text (U+FFFD for each invalid byte) are told apart.
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const bytes = Buffer.from([0x7b, 0xff, 0x7d]);
    const hmac = createHmac('sha256', key).update(`msg_1.${ts}.`).update(bytes).digest('base64');
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,${hmac}`,
    };
    assert.deepEqual(verifySignature({ headers, body: bytes, secret, now }), { ok: true });
    assert.deepEqual(verifySignature({ headers, body: Buffer.from([0x7b, 0xfe, 0x7d]), secret, now }), {
      ok: false,
      reason: 'no matching signature',
    });
  });

  it('accepts the spec example', () => {
    const headers = {
      'webhook-id': SPEC.msgId,
      'webhook-timestamp': String(SPEC.timestamp),
      'webhook-signature': SPEC.signature,
    };
    assert.deepEqual(
      verifySignature({ headers, body: SPEC.body, secret: SPEC.secret, now: SPEC.timestamp * 1000 }),
      { ok: true },
    );
  });

  it('accepts svix-* headers, any header case, and one of several signatures', () => {
    const all = signed(ts, [generateSecret(randomBytes(32)), secret]);
    const svixOnly = {
      'Svix-Id': all['svix-id'],
      'Svix-Timestamp': all['svix-timestamp'],
      'Svix-Signature': all['svix-signature'],
    };
    assert.deepEqual(verifySignature({ headers: svixOnly, body, secret, now }), { ok: true });
    assert.deepEqual(verifySignature({ headers: all, body, secret: secret.slice(6), now }), { ok: true });
  });

  it('names the missing header', () => {
    const headers = signed();
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const partial = { ...headers, [name]: undefined, [name.replace('webhook', 'svix')]: undefined };
      if (name === 'webhook-id') delete partial['svix-id'];
      assert.deepEqual(verifySignature({ headers: partial, body, secret, now }), {
        ok: false,
        reason: `missing ${name} header`,
      });
    }
  });

  it('enforces the tolerance in both directions', () => {
    assert.deepEqual(verifySignature({ headers: signed(ts - 300), body, secret, now }), { ok: true });
    assert.deepEqual(verifySignature({ headers: signed(ts + 300), body, secret, now }), { ok: true });
    assert.deepEqual(verifySignature({ headers: signed(ts - 301), body, secret, now }), {
      ok: false,
      reason: 'timestamp too old',
    });
    assert.deepEqual(verifySignature({ headers: signed(ts + 301), body, secret, now }), {
      ok: false,
      reason: 'timestamp too new',
    });
    assert.deepEqual(verifySignature({ headers: signed(ts - 20), body, secret, now, toleranceSec: 10 }), {
      ok: false,
      reason: 'timestamp too old',
    });
    const bad = { ...signed(), 'webhook-timestamp': '12abc' };
    assert.deepEqual(verifySignature({ headers: bad, body, secret, now }), {
      ok: false,
      reason: 'invalid timestamp',
    });
  });

  it('rejects a changed body, id, secret or signature', () => {
    const no = { ok: false, reason: 'no matching signature' };
    assert.deepEqual(verifySignature({ headers: signed(), body: `${body} `, secret, now }), no);
    assert.deepEqual(
      verifySignature({ headers: { ...signed(), 'webhook-id': 'msg_2' }, body, secret, now }),
      no,
    );
    assert.deepEqual(
      verifySignature({ headers: signed(), body, secret: generateSecret(randomBytes(32)), now }),
      no,
    );
    assert.deepEqual(
      verifySignature({
        headers: { ...signed(), 'webhook-signature': 'v1,AAAA v2,xyz junk' },
        body,
        secret,
        now,
      }),
      no,
    );
    const v1a = signed()['webhook-signature']!.replace('v1,', 'v1a,');
    assert.deepEqual(
      verifySignature({ headers: { ...signed(), 'webhook-signature': v1a }, body, secret, now }),
      no,
    );
    assert.deepEqual(verifySignature({ headers: signed(), body, secret: 'whsec_bad', now }), {
      ok: false,
      reason: 'invalid secret',
    });
    // A bad secret is named even when the timestamp is stale too.
    assert.deepEqual(verifySignature({ headers: signed(ts - 3600), body, secret: 'whsec_bad', now }), {
      ok: false,
      reason: 'invalid secret',
    });
  });

  it('rejects a signature that decodes to the right bytes but is not their base64, as the library does', () => {
    // Signed now: the library checks the timestamp against the clock.
    const at = Date.now();
    const fresh = webhookHeaders({
      msgId: 'msg_1',
      timestamp: Math.floor(at / 1000),
      body,
      secrets: [secret],
    });
    const library = new StandardWebhook(secret);
    assert.doesNotThrow(() => library.verify(body, fresh));
    const good = fresh['webhook-signature']!;
    for (const spelling of [`${good}!!`, good.replace(/=+$/, ''), good.replace('v1,', 'v1,.')]) {
      const headers = { ...fresh, 'webhook-signature': spelling };
      assert.throws(() => library.verify(body, headers), /No matching signature/, spelling);
      assert.deepEqual(verifySignature({ headers, body, secret, now: at }), {
        ok: false,
        reason: 'no matching signature',
      });
    }
  });
});
