import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawParamsPayload } from './raw-payload.ts';

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
  // A body's limits hold for the text that becomes the body: the loc names the value at fault.
  assert.deepEqual(locOf({ rawPayload: '{"a":[1e400]}' }), [...at('rawPayload'), 'a', '0']);
  const deep = `{"a":${'['.repeat(127)}${']'.repeat(127)}}`;
  assert.equal(locOf({ rawPayload: deep }), null);
  assert.deepEqual(locOf({ rawPayload: deep.replace('[', '[[').replace(']', ']]') })?.slice(0, 4), [
    ...at('rawPayload'),
    'a',
  ]);
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
