import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TtlMap } from './ttl-map.ts';

test('an entry lasts its TTL; null is a value like any other', () => {
  let now = 0;
  const map = new TtlMap<string | null>(1000, () => now);
  map.set('a', null);
  assert.equal(map.fresh('a')?.value, null);
  assert.notEqual(map.fresh('a'), undefined);
  assert.equal(map.fresh('b'), undefined);
  now = 999;
  assert.notEqual(map.fresh('a'), undefined);
  now = 1000;
  assert.equal(map.fresh('a'), undefined);
});

test('keys never read again do not pile up: expired ones are swept as the map grows', () => {
  let now = 0;
  const map = new TtlMap<number>(1000, () => now);
  // A million distinct keys over 1,000 seconds, 1,000 a second: about 1,000 live at any time.
  for (let i = 0; i < 1_000_000; i++) {
    now = i;
    map.set(`k${i}`, i);
  }
  assert.ok(map.size <= 2 * 1000 + 1024, `${map.size} entries kept`);
  assert.equal(map.fresh('k999999')?.value, 999_999);
});

test('deleteWhere drops what it names', () => {
  const map = new TtlMap<number>(1000, () => 0);
  map.set('a', 1);
  map.set('b', 2);
  map.deleteWhere((key, value) => key === 'a' || value === 3);
  assert.equal(map.fresh('a'), undefined);
  assert.equal(map.fresh('b')?.value, 2);
});
