import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, parseSchedule } from './duration.ts';

describe('parseDuration', () => {
  it('parses each unit', () => {
    assert.equal(parseDuration('150ms'), 150);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
  });

  it('takes 0 without a unit; any other number needs one', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration(' 3s '), 3000);
    assert.throws(() => parseDuration('250'), /needs a unit: ms, s, m, h or d \(e\.g\. 250s\)/);
  });

  it('throws on junk', () => {
    for (const bad of ['', 'abc', '5x', '-5s', 's', '5 s s', '1e3', '5sec']) {
      assert.throws(() => parseDuration(bad), /invalid duration/, bad);
    }
  });
});

describe('parseSchedule', () => {
  it('parses a comma-separated list', () => {
    assert.deepEqual(parseSchedule('0,5s,5m'), [0, 5000, 300_000]);
    assert.deepEqual(parseSchedule('0, 5s , 30m'), [0, 5000, 1_800_000]);
  });

  it('throws on empty entries and junk', () => {
    assert.throws(() => parseSchedule(''), /invalid schedule/);
    assert.throws(() => parseSchedule('0,,5s'), /invalid schedule/);
    assert.throws(() => parseSchedule('0,5q'), /invalid duration/);
  });
});

describe('formatDuration', () => {
  it('round-trips whole units', () => {
    for (const text of ['5s', '5m', '2h', '1d', '150ms', '0ms']) {
      assert.equal(formatDuration(parseDuration(text)), text);
    }
  });
});
