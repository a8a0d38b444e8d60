import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitUtf8, responseText } from './response-text.ts';

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

describe('responseText', () => {
  it('keeps a short valid body as it is', () => {
    assert.equal(responseText(Buffer.from('{"ok":true} é €'), 64, false), '{"ok":true} é €');
  });

  it('keeps the text of invalid UTF-8 within the cap although U+FFFD takes 3 bytes', () => {
    const cap = 64 * 1024;
    const text = responseText(Buffer.alloc(cap, 0xff), cap, true);
    assert.equal(utf8(text), cap - (cap % 3)); // as many whole U+FFFD as fit
    assert.match(text, /^\ufffd+$/);
  });

  it('replaces U+0000 and still fits the cap', () => {
    const text = responseText(Buffer.alloc(10), 10, false);
    assert.equal(text, '\ufffd'.repeat(3));
  });

  it('drops a character split by the cap instead of storing U+FFFD', () => {
    const euro = Buffer.from('ab€', 'utf8'); // € is e2 82 ac
    assert.equal(responseText(euro.subarray(0, 4), 4, true), 'ab');
    assert.equal(responseText(euro.subarray(0, 3), 3, true), 'ab');
    const emoji = Buffer.from('x😀', 'utf8'); // 4 bytes
    assert.equal(responseText(emoji.subarray(0, 4), 4, true), 'x');
  });

  it('keeps U+FFFD for an incomplete character the receiver really sent last', () => {
    assert.equal(responseText(Buffer.from([0x61, 0xe2, 0x82]), 64, false), 'a\ufffd');
  });

  it('is not affected by an earlier call that held bytes back', () => {
    responseText(Buffer.from([0x61, 0xe2]), 2, true);
    assert.equal(responseText(Buffer.from('b'), 2, true), 'b');
  });
});

describe('fitUtf8', () => {
  it('cuts at a character boundary, never inside one', () => {
    assert.equal(fitUtf8('aé€😀', 100), 'aé€😀');
    const full = 'aé€😀'; // 1 + 2 + 3 + 4 bytes
    const expected = ['', 'a', 'a', 'aé', 'aé', 'aé', 'aé€', 'aé€', 'aé€', 'aé€', 'aé€😀'];
    for (let cap = 0; cap <= 10; cap++) {
      const cut = fitUtf8(full, cap);
      assert.equal(cut, expected[cap], `cap ${cap}`);
      assert.ok(utf8(cut) <= cap);
    }
  });
});
