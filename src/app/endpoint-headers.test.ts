import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDoorbellError } from '../core/errors.ts';
import {
  checkHeaders,
  checkHeadersFit,
  mergeHeaders,
  redactHeaders,
  rotateSecrets,
} from './endpoint-headers.ts';

test('rotation: new key first, old keys sign until now + grace, expired ones dropped, at most maxOld', () => {
  const now = 1_000_000;
  const secrets = [
    { key: 'current', expiresAt: null },
    { key: 'old-live', expiresAt: now + 10 },
    { key: 'old-dead', expiresAt: now - 1 },
  ];
  assert.deepEqual(rotateSecrets(secrets, 'new', now, 500, 10), [
    { key: 'new', expiresAt: null },
    { key: 'current', expiresAt: now + 500 },
    { key: 'old-live', expiresAt: now + 10 },
  ]);
  assert.deepEqual(rotateSecrets(secrets, 'new', now, 500, 1).length, 2);
  assert.deepEqual(rotateSecrets(secrets, 'new', now, 0, 10), [
    { key: 'new', expiresAt: null },
    { key: 'old-live', expiresAt: now + 10 },
  ]);
});

test('headers: reserved names refused with their location, null removes case-insensitively, sensitive hidden', () => {
  for (const name of [
    'webhook-id',
    'Svix-Signature',
    'host',
    'Content-Type',
    'transfer-encoding',
    'Expect',
    'upgrade',
    'Keep-Alive',
    'Content-Encoding',
    'TE',
    'Trailer',
    'Proxy-Connection',
    'HTTP2-Settings',
    'webhook_signature', // as CGI-style receivers read it: the signature's own name
    'Svix_Id',
    'content_length',
    'bad name',
  ]) {
    assert.throws(
      () => checkHeaders({ [name]: 'x' }, ['body', 'headers']),
      (e) => isDoorbellError(e) && e.code === 'validation' && e.loc.join('.') === `body.headers.${name}`,
    );
  }
  for (const value of ['a\r\nb', 'a\u0001b', 'a\u007fb', '日本']) {
    assert.throws(
      () => checkHeaders({ 'X-A': value }, ['body']),
      (e) => isDoorbellError(e) && e.loc.join('.') === 'body.X-A',
      JSON.stringify(value),
    );
  }
  assert.throws(
    () => checkHeaders({ 'X-A': '1', 'x-a': '2' }, ['body']),
    (e) => isDoorbellError(e) && e.loc.join('.') === 'body.x-a',
  );
  // As a JSON body gives it: an own key, which an object it is copied into would take as its prototype.
  assert.throws(
    () => checkHeaders(JSON.parse('{"__proto__": "x"}'), ['body', 'headers']),
    (e) => isDoorbellError(e) && e.loc.join('.') === 'body.headers.__proto__',
  );
  checkHeaders({ 'X-Ok': 'fine\ttab café', Authorization: 'Bearer t' }, ['body']);
  const many = (n: number, size = 1) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v'.repeat(size)]));
  checkHeadersFit(many(64), ['body', 'headers']);
  for (const headers of [many(65), { 'x-big': 'v'.repeat(8_200) }, many(30, 300)]) {
    assert.throws(
      () => checkHeadersFit(headers, ['body', 'headers']),
      (e) => isDoorbellError(e) && e.loc.join('.') === 'body.headers',
    );
  }
  // Headers stored before the limits may be patched down, not up.
  checkHeadersFit(many(70), ['body'], many(80));
  assert.throws(() => checkHeadersFit(many(70), ['body'], many(66)));
  // A removal may name a reserved header (one stored before it was reserved).
  checkHeaders({ 'Content-Encoding': null, 'webhook-x': null }, ['body']);
  assert.deepEqual(mergeHeaders({ 'X-A': '1', 'X-B': '2' }, { 'x-a': null, 'X-C': '3' }), {
    'X-B': '2',
    'X-C': '3',
  });
  assert.deepEqual(redactHeaders({ Authorization: 's', 'X-A': '1', X_Auth_Token: 't' }), {
    headers: { 'X-A': '1' },
    sensitive: ['Authorization', 'X_Auth_Token'],
  });
});
