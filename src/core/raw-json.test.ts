import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawElement, rawMember } from './raw-json.ts';

test('returns the exact text of the member, big integers and spacing included', () => {
  const body = '{"eventType":"a.b", "payload" : {"n": 12345678901234567890123, "z":1,"a":[1.50,"}"]} }';
  assert.equal(rawMember(body, 'payload'), '{"n": 12345678901234567890123, "z":1,"a":[1.50,"}"]}');
});

test('handles escapes in keys and strings, and takes the last duplicate like JSON.parse', () => {
  const body = '{"x":"a\\"}{","pay\\u006coad":{"k":"\\\\"},"payload":{"second":true}}';
  assert.equal(rawMember(body, 'payload'), '{"second":true}');
  assert.deepEqual(JSON.parse(body).payload, { second: true });
});

test('skips nested members of the same name and scalar values', () => {
  const body = '{"a":{"payload":1},"b":[{"payload":2}],"c":null,"d":-1e5,"payload":{}}';
  assert.equal(rawMember(body, 'payload'), '{}');
  assert.equal(rawMember('{"a":1}', 'payload'), null);
  assert.equal(rawMember('[1]', 'payload'), null);
});

test('returns the exact text of an array element, or null past the last', () => {
  const text = '[ {"a": [1, "]"]} , 1.0,"x\\"y" ,null ]';
  assert.equal(rawElement(text, 0), '{"a": [1, "]"]}');
  assert.equal(rawElement(text, 1), '1.0');
  assert.equal(rawElement(text, 2), '"x\\"y"');
  assert.equal(rawElement(text, 3), 'null');
  assert.equal(rawElement(text, 4), null);
  assert.equal(rawElement('[]', 0), null);
  assert.equal(rawElement('{"a":1}', 0), null);
});
