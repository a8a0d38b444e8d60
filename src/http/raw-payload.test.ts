import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawMember, rawParamsPayload } from './raw-payload.ts';

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

test("messageInRaw's text is the payload when it is a JSON object's sent as JSON; anything else names its field", () => {
  assert.equal(rawParamsPayload(null, {}), null);
  const text = '{ "a" : 1.50 }';
  assert.equal(rawParamsPayload({ rawPayload: text }, {}), text);
  assert.equal(
    rawParamsPayload(
      { rawPayload: text, headers: { 'Content-Type': 'application/json; charset=utf-8' } },
      {},
    ),
    text,
  );
  const locOf = (params: Record<string, unknown>, payload: unknown = {}) => {
    try {
      rawParamsPayload(params, payload);
      return null;
    } catch (error) {
      return (error as { loc?: readonly string[] }).loc;
    }
  };
  const at = (field: string) => ['body', 'transformationsParams', field];
  assert.deepEqual(locOf({ rawPayload: '"text"' }), at('rawPayload'));
  assert.deepEqual(locOf({ rawPayload: '{"a":"\ud800"}' }), at('rawPayload')); // a lone surrogate
  assert.deepEqual(locOf({ rawPayload: 7 }), at('rawPayload'));
  assert.deepEqual(locOf({ rawPayload: '{}', headers: { 'x-a': 'b' } }), at('headers'));
  assert.deepEqual(locOf({ rawPayload: '{}', headers: 'application/json' }), at('headers'));
  assert.deepEqual(locOf({ rawPayload: '{}', method: 'PUT' }), at('method'));
  for (const headers of [[], { 'content-type': ['application/json'] }, { 'content-type': { toString: 1 } }])
    assert.deepEqual(locOf({ rawPayload: '{}', headers }), at('headers'), JSON.stringify(headers));
  assert.deepEqual(
    locOf({ rawPayload: '{}', headers: { 'content-type': 'application/json\n' } }),
    at('headers'),
  );
  // The payload is the text's: another given beside it would be dropped.
  assert.deepEqual(locOf({ rawPayload: '{}' }, { p: 1 }), ['body', 'payload']);
});
