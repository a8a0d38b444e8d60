import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawElements, rawMember } from './raw-json.ts';

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

test("returns the exact text of an array's elements", () => {
  const text = '[ {"a": [1, "]"]} , 1.0,"x\\"y" ,null ]';
  assert.deepEqual(rawElements(text), ['{"a": [1, "]"]}', '1.0', '"x\\"y"', 'null']);
  assert.deepEqual(rawElements(' [ ] '), []);
  assert.equal(rawElements('{"a":1}'), null);
});
