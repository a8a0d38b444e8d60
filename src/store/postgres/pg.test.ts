import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUnavailable } from './pg.ts';

const coded = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

describe('postgres isUnavailable', () => {
  it('names the conditions in which the server cannot serve any call', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      '08000', // connection exception
      '08006', // connection failure
      '08P01', // protocol violation
      '53000', // insufficient resources
      '53100', // disk full
      '53200', // out of memory
      '53300', // too many connections
      '57P01', // admin shutdown
      '57P02', // crash shutdown
      '57P03', // cannot connect now
      '58030', // I/O error
      '25006', // read-only transaction
    ]) {
      assert.ok(isUnavailable(coded(code)), code);
    }
    assert.ok(isUnavailable(new Error('Connection terminated unexpectedly')));
    const timedOut = Object.assign(new Error('canceling statement due to statement timeout'), {
      code: '57014',
    });
    assert.ok(isUnavailable(timedOut));
  });

  it("leaves the statement's own faults alone", () => {
    for (const code of ['23505', '22P02', '42P01', '40001', '57014', '57P04', '0800', '530000']) {
      assert.ok(!isUnavailable(coded(code)), code);
    }
    assert.ok(!isUnavailable(new Error('syntax error')));
    const cancelled = Object.assign(new Error('canceling statement due to user request'), { code: '57014' });
    assert.ok(!isUnavailable(cancelled));
  });
});
