import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classify,
  failureReason,
  parseRetryAfter,
  responseText,
  type SendResult,
  statusCodeOf,
} from './outcome.ts';

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);

function response(status: number, headers: Record<string, string> = {}, body = '') {
  return { kind: 'response', status, headers, body, durationMs: 12 } satisfies SendResult;
}

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('120', NOW), 120_000);
    assert.equal(parseRetryAfter(' 0 ', NOW), 0);
    assert.equal(parseRetryAfter(['7', '9'], NOW), 7000);
    // Beyond exact numbers it is still a long delay, not none.
    assert.equal(parseRetryAfter('9007199254741', NOW), Number.MAX_SAFE_INTEGER);
    assert.equal(parseRetryAfter('9'.repeat(400), NOW), Number.MAX_SAFE_INTEGER);
  });

  it('reads an HTTP-date relative to now', () => {
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 12:01:30 GMT', NOW), 90_000);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 11:00:00 GMT', NOW), 0); // in the past
  });

  it('reads the obsolete RFC 850 form, with a two-digit year (RFC 9110 §5.6.7)', () => {
    assert.equal(parseRetryAfter('Monday, 01-Jan-24 12:01:30 GMT', NOW), 90_000);
    // 2094 would be more than 50 years ahead: the most recent past 94 is 1994, so the date is past.
    assert.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW), 0);
    // 2073 is less than 50 years ahead and stays in this century.
    const in2073 = Date.UTC(2073, 11, 31, 0, 0, 0) - NOW;
    assert.equal(parseRetryAfter('Sunday, 31-Dec-73 00:00:00 GMT', NOW), in2073);
    // Near the end of a century, a small two-digit year means the next one.
    const late = Date.UTC(2099, 5, 1);
    assert.equal(parseRetryAfter('Monday, 01-Jun-01 00:00:00 GMT', late), Date.UTC(2101, 5, 1) - late);
  });

  it('reads the obsolete asctime() form', () => {
    assert.equal(parseRetryAfter('Mon Jan  1 12:01:30 2024', NOW), 90_000);
    assert.equal(parseRetryAfter('Wed Jan 10 12:00:00 2024', NOW), 9 * 86_400_000);
    assert.equal(parseRetryAfter('Sun Nov  6 08:49:37 1994', NOW), 0);
  });

  it('refuses dates outside the grammar instead of guessing', () => {
    for (const bad of [
      'Mon, 01 Jan 2024 12:01:30 PST', // only GMT
      'Mon, 01 Jan 2024 12:01:30', // zone missing
      'Mon, 1 Jan 2024 12:01:30 GMT', // day is two digits
      'mon, 01 jan 2024 12:01:30 GMT', // names are case-sensitive
      'Mon, 31 Feb 2024 12:01:30 GMT', // no such day
      'Mon, 00 Jan 2024 12:01:30 GMT',
      'Mon, 01 Jan 2024 24:00:00 GMT',
      'Mon, 01 Jan 2024 12:60:00 GMT',
      'Mon, 01 Jan 2024 12:01:30 GMT junk',
      'Mon, 01-Jan-24 12:01:30 GMT', // RFC 850 needs the full weekday
      'Monday, 01-Jan-2024 12:01:30 GMT', // and a two-digit year
      'Mon Jan 1 12:01:30 2024', // asctime pads the day with a space
      'Mon Jan  1 12:01:30 2024 GMT',
      'Mon, 1 2030',
      '2024-01-01T12:01:30Z',
    ]) {
      assert.equal(parseRetryAfter(bad, NOW), undefined, bad);
    }
  });

  it('ignores missing or malformed values', () => {
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '2024-01-01', 'Xyz, nonsense']) {
      assert.equal(parseRetryAfter(bad, NOW), undefined, String(bad));
    }
    assert.equal(parseRetryAfter([], NOW), undefined);
  });
});

describe('classify', () => {
  it('treats 2xx only as delivered', () => {
    for (const status of [200, 201, 204, 299])
      assert.deepEqual(classify(response(status), NOW), { kind: 'delivered' });
  });

  it('disables on 410 Gone', () => {
    assert.deepEqual(classify(response(410), NOW), { kind: 'disable', reason: 'HTTP 410 (Gone)' });
  });

  it('retries 3xx as a failure without following it', () => {
    assert.deepEqual(classify(response(302, { location: 'http://elsewhere/' }), NOW), {
      kind: 'retry',
      reason: 'redirect (HTTP 302) not followed',
    });
    // A 3xx that points nowhere is a failure like any other.
    assert.deepEqual(classify(response(304), NOW), { kind: 'retry', reason: 'HTTP 304' });
  });

  it('keeps the body of a response, or where a redirect without one pointed', () => {
    assert.equal(responseText(response(500, {}, 'oops')), 'oops');
    assert.equal(responseText(response(204)), '');
    assert.equal(
      responseText(response(301, { Location: 'https://new.example/hook' })),
      'redirect (HTTP 301) to https://new.example/hook not followed',
    );
    assert.equal(responseText(response(302)), 'redirect (HTTP 302) not followed');
    assert.equal(responseText(response(304, { location: '/x' })), '');
    assert.equal(responseText(response(302, { location: '/x' }, 'see /x')), 'see /x');
    const long = responseText(response(307, { location: `https://a.example/${'x'.repeat(5000)}` }));
    assert.equal(long.length, 'redirect (HTTP 307) to  not followed'.length + 2048);
    // Its bytes read as UTF-8, as a body's are (the parser gives a character a byte).
    const bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    assert.equal(
      responseText(response(302, { location: bytes('https://a.example/é😀') })),
      'redirect (HTTP 302) to https://a.example/é😀 not followed',
    );
    assert.equal(
      responseText(response(302, { location: '/\xff' })),
      'redirect (HTTP 302) to /\ufffd not followed',
    );
    const emoji = responseText(response(302, { location: bytes('😀'.repeat(3000)) }));
    assert.equal(emoji, `redirect (HTTP 302) to ${'😀'.repeat(2048)} not followed`, 'cut between characters');
  });

  it('retries 429 with a penalty and Retry-After', () => {
    assert.deepEqual(classify(response(429, { 'retry-after': '30' }), NOW), {
      kind: 'retry',
      reason: 'HTTP 429',
      retryAfterMs: 30_000,
      penalty: true,
    });
    assert.deepEqual(classify(response(429), NOW), { kind: 'retry', reason: 'HTTP 429', penalty: true });
  });

  it('retries other 4xx and 5xx, with Retry-After when present', () => {
    assert.deepEqual(classify(response(503), NOW), { kind: 'retry', reason: 'HTTP 503' });
    assert.deepEqual(classify(response(400), NOW), { kind: 'retry', reason: 'HTTP 400' });
    assert.deepEqual(classify(response(503, { 'Retry-After': '5' }), NOW), {
      kind: 'retry',
      reason: 'HTTP 503',
      retryAfterMs: 5000,
    });
  });

  it('retries timeouts with a penalty', () => {
    assert.deepEqual(classify({ kind: 'timeout', durationMs: 15_002, limitMs: 15_000 }, NOW), {
      kind: 'retry',
      reason: 'timeout after 15000 ms',
      penalty: true,
    });
    assert.deepEqual(classify({ kind: 'timeout', durationMs: 300.4 }, NOW), {
      kind: 'retry',
      reason: 'timeout after 300 ms',
      penalty: true,
    });
  });

  it('retries errors and blocked targets with their reason', () => {
    assert.deepEqual(classify({ kind: 'error', reason: 'connection refused', durationMs: 1 }, NOW), {
      kind: 'retry',
      reason: 'connection refused',
    });
    assert.deepEqual(classify({ kind: 'blocked', reason: 'blocked address 10.0.0.5', durationMs: 0 }, NOW), {
      kind: 'retry',
      reason: 'blocked address 10.0.0.5',
    });
  });

  it('reports 0 as the status code when no response arrived', () => {
    assert.equal(statusCodeOf(response(503)), 503);
    assert.equal(statusCodeOf({ kind: 'timeout', durationMs: 1 }), 0);
    assert.equal(failureReason(response(503)), '');
    assert.equal(failureReason({ kind: 'timeout', durationMs: 9, limitMs: 300 }), 'timeout after 300 ms');
    assert.equal(
      failureReason({ kind: 'error', reason: 'connection refused', durationMs: 1 }),
      'connection refused',
    );
  });
});
