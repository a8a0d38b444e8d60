// The shipped defaults are part of the contract (the README's configuration table): each is pinned here
// with its unit spelled out, so a change to one is a deliberate, visible change to this table.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { defaults } from './config.ts';

const s = 1000;
const min = 60 * s;
const h = 60 * min;
const d = 24 * h;

it('the defaults are the documented ones', () => {
  const { delivery } = defaults;
  assert.deepEqual(delivery.retrySchedule, [0, 5 * s, 5 * min, 30 * min, 2 * h, 5 * h, 10 * h, 10 * h]);
  assert.equal(
    delivery.retrySchedule.reduce((a, b) => a + b),
    27 * h + 35 * min + 5 * s,
    '8 attempts over ~27.6 h',
  );
  assert.equal(delivery.jitter, 0.2);
  assert.equal(delivery.penaltyMs, 60 * s);
  assert.equal(delivery.attemptTimeoutMs, 15 * s);
  assert.equal(delivery.connectTimeoutMs, 5 * s);
  assert.equal(delivery.responseBodyCap, 64 * 1024);
  assert.equal(delivery.autoDisableAfterMs, 5 * d);
  assert.equal(delivery.concurrency, 512);
  assert.equal(delivery.perEndpointConcurrency, 128);
  assert.deepEqual(delivery.allowSubnets, []);
  assert.equal(defaults.rotationGraceMs, 24 * h);
  assert.equal(defaults.maxOldSecrets, 10);
  assert.equal(defaults.idempotencyTtlMs, 24 * h);
  assert.equal(defaults.retentionMs, 90 * d);
  assert.equal(defaults.bodyLimit, 1024 * 1024);
  assert.equal(defaults.host, '127.0.0.1', 'loopback unless asked');
});
