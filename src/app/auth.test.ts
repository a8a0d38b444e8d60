import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeConfig } from '../config/config.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { createAuthenticator, initAdminToken } from './auth.ts';

/** A real store: only its settings are used here. */
const settingsStore = (): Store => openSqliteStore(':memory:');

test('initAdminToken: configured token stored as a hash; otherwise generated once', async () => {
  const store = settingsStore();
  const first = await initAdminToken(store, makeConfig());
  assert.match(first.generated ?? '', /^dbk_/);
  assert.equal((await initAdminToken(store, makeConfig())).generated, null);
  const auth = createAuthenticator(store);
  assert.deepEqual(await auth.verify(first.generated!, 0), { kind: 'admin' });

  const configured = settingsStore();
  assert.equal((await initAdminToken(configured, makeConfig({ adminToken: 'fixed' }))).generated, null);
  assert.deepEqual(await createAuthenticator(configured).verify('fixed', 0), { kind: 'admin' });
  assert.equal(await createAuthenticator(configured).verify('other', 0), null);
});

test('app tokens: scoped, expire, resist tampering, and logout revokes them', async () => {
  const store = settingsStore();
  await initAdminToken(store, makeConfig({ adminToken: 'admin' }));
  const auth = createAuthenticator(store);
  const token = await auth.issueAppToken('app_1', 1000, 500);
  const scope = await auth.verify(token, 1200);
  assert.equal(scope?.kind === 'app' && scope.appId, 'app_1');
  assert.equal(await auth.verify(token, 1500), null, 'expired');

  const [body, mac] = token.slice('appsk_'.length).split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ app: 'app_2', exp: 9e15, jti: 'x' })).toString('base64url');
  assert.equal(await auth.verify(`appsk_${forged}.${mac}`, 1200), null, 'tampered claim');
  assert.ok(body);

  await auth.logout(token, 1200);
  assert.equal(await auth.verify(token, 1200), null, 'revoked');
  assert.equal(await createAuthenticator(store).verify(token, 1200), null, 'revoked for other instances too');
});

test('expire-all ends the app tokens issued before it, in every instance, and no other app tokens', async () => {
  const store = settingsStore();
  const auth = createAuthenticator(store);
  const old = await auth.issueAppToken('app_1', 1000);
  const other = await auth.issueAppToken('app_2', 1000);
  assert.ok(await auth.verify(old, 1100)); // cached now
  await auth.expireAll('app_1', 1200, 0);
  assert.equal(await auth.verify(old, 1200), null);
  assert.equal(await createAuthenticator(store).verify(old, 1200), null);
  assert.ok(await auth.verify(other, 1200));
  assert.ok(await auth.verify(await auth.issueAppToken('app_1', 1201), 1300), 'issued after');
});

test('expire-all calls made at once are all kept, and a cached token ends when its cut-off says', async () => {
  for (const delays of [
    [0, 86_400_000],
    [86_400_000, 0],
  ]) {
    const store = settingsStore();
    const auth = createAuthenticator(store);
    const token = await auth.issueAppToken('app_1', 1000);
    await Promise.all(delays.map((delay) => auth.expireAll('app_1', 1200, delay)));
    assert.equal(await createAuthenticator(store).verify(token, 1300), null, `delays ${delays}`);
  }
  const store = settingsStore();
  const auth = createAuthenticator(store);
  const token = await auth.issueAppToken('app_1', 1000);
  await auth.expireAll('app_1', 1200, 1800);
  assert.ok(await auth.verify(token, 2900)); // remembered, but not past 3000
  assert.equal(auth.cached(token, 3000), undefined);
  assert.equal(await auth.verify(token, 3000), null);
});
