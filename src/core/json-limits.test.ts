import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonLimitIssue, MAX_JSON_DEPTH } from './json-limits.ts';

const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

test('takes what serde_json reads: 128 levels of arrays and objects, numbers within a double', () => {
  assert.equal(jsonLimitIssue(JSON.parse(nested(MAX_JSON_DEPTH))), null);
  const doc = '{"payload":{"big":12345678901234567890123,"max":1.7976931348623157e308,"tiny":1e-400,"n":-0}}';
  assert.equal(jsonLimitIssue(JSON.parse(doc)), null);
  for (const scalar of ['null', 'true', '"x"', '1']) assert.equal(jsonLimitIssue(JSON.parse(scalar)), null);
});

test('names where the document nests past 128 levels', () => {
  assert.deepEqual(jsonLimitIssue(JSON.parse(nested(MAX_JSON_DEPTH + 1))), {
    path: Array.from({ length: MAX_JSON_DEPTH }, () => '0'),
    msg: 'arrays and objects nest more than 128 deep',
  });
  // A deep enough document for a recursive reader to overflow its stack is still answered.
  const deep = jsonLimitIssue(JSON.parse(`{"payload":{"a":[1,${nested(200_000)}]}}`));
  assert.deepEqual(deep?.path.slice(0, 4), ['payload', 'a', '1', '0']);
  assert.equal(deep?.path.length, MAX_JSON_DEPTH);
});

test('names a number out of range, in an object or an array', () => {
  assert.deepEqual(jsonLimitIssue(JSON.parse('{"payload":{"ok":1,"n":1e400}}')), {
    path: ['payload', 'n'],
    msg: 'the number is out of range (beyond ±1.8e308)',
  });
  assert.deepEqual(jsonLimitIssue(JSON.parse('{"a":[0,-1E999]}'))?.path, ['a', '1']);
  assert.deepEqual(jsonLimitIssue(JSON.parse('{"__proto__":{"x":1e309}}'))?.path, ['__proto__', 'x']);
});
