import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idFloor, isId, newId } from './ids.ts';

const zeros = new Uint8Array(16);
const ones = new Uint8Array(16).fill(1);

describe('ids', () => {
  it('prefixes and sizes ids', () => {
    const id = newId('msg', 1_700_000_000_000, ones);
    assert.match(id, /^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(isId('msg', id));
    assert.ok(!isId('ep', id));
    assert.ok(!isId('msg', `${id}X`));
    assert.ok(!isId('msg', `msg_${'!'.repeat(26)}`), 'only the id alphabet');
    assert.ok(!isId('msg', id.toLowerCase()));
  });

  it('is deterministic for a given time and random source', () => {
    assert.equal(newId('ep', 42, ones), newId('ep', 42, ones));
    assert.notEqual(newId('ep', 42, ones), newId('ep', 42, zeros));
  });

  it('sorts by creation time', () => {
    const times = [0, 1, 31, 32, 1_000, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000];
    const ids = times.map((ms) => newId('task', ms, ones));
    assert.deepEqual([...ids].sort(), ids);
  });

  it('sorts the ids made in one millisecond in the order they were made, whatever their prefix', () => {
    const ms = 1_700_000_000_123;
    const ids = Array.from({ length: 2000 }, (_, i) => newId(i % 3 === 0 ? 'atmpt' : 'msg', ms));
    const msgs = ids.filter((id) => id.startsWith('msg_'));
    assert.deepEqual([...msgs].sort(), msgs);
    assert.equal(new Set(ids).size, ids.length);
    // The next millisecond starts afresh (a random tail), and still sorts after.
    assert.ok(newId('msg', ms + 1) > msgs.at(-1)!);
  });

  it('gives a floor below every id of that millisecond and above earlier ones', () => {
    const ms = 1_700_000_000_000;
    const floor = idFloor('atmpt', ms);
    assert.ok(floor <= newId('atmpt', ms, zeros));
    assert.ok(floor > newId('atmpt', ms - 1, ones));
  });

  it('gives a time before 1970 the floor of every id, and one past the last the floor of the last', () => {
    for (const ms of [-1, -62_135_596_800_000]) assert.equal(idFloor('msg', ms), idFloor('msg', 0));
    assert.ok(idFloor('msg', -1) <= newId('msg', 0, zeros));
    const last = 32 ** 10 - 1;
    assert.equal(idFloor('msg', 1e20), idFloor('msg', last));
    assert.ok(idFloor('msg', 1e20) > newId('msg', last - 1, ones));
  });
});
