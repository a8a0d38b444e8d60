import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import { invalidUtf8Offset, utf8Text, withoutBom } from './file-text.ts';

test('the first byte that does not begin a well-formed UTF-8 sequence', () => {
  const cases: [number[], number][] = [
    [[0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80], -1], // A é € 😀
    [[0x41, 0xe9, 0x42], 1], // Latin-1 é
    [[0x41, 0x80], 1], // a continuation byte alone
    [[0xc0, 0xaf], 0], // overlong /
    [[0xe0, 0x80, 0xaf], 0], // overlong /
    [[0xed, 0xa0, 0x80], 0], // a UTF-16 surrogate (U+D800)
    [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
    [[0xf5, 0x80, 0x80, 0x80], 0],
    [[0x41, 0x42, 0xe2, 0x82], 2], // cut short at the end
    [[0xe2, 0x82, 0x41], 0], // cut short before an ASCII byte
  ];
  for (const [bytes, offset] of cases) {
    const buffer = Buffer.from(bytes);
    assert.equal(invalidUtf8Offset(buffer), offset, buffer.toString('hex'));
    assert.equal(isUtf8(buffer), offset === -1, `agrees with node: ${buffer.toString('hex')}`);
  }
});

test('a file as text: one leading BOM dropped, invalid UTF-8 refused with its byte and offset', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  assert.equal(utf8Text(Buffer.from('{"é":1}')), '{"é":1}');
  assert.equal(utf8Text(Buffer.concat([bom, Buffer.from('{}')])), '{}');
  assert.equal(utf8Text(Buffer.concat([bom, bom, Buffer.from('{}')])), '\uFEFF{}', 'one mark only');
  assert.throws(
    () => utf8Text(Buffer.concat([bom, Buffer.from([0x7b, 0xff, 0x7d])])),
    { message: 'is not valid UTF-8: byte 0xff at offset 4' },
    'the offset counts the mark',
  );
  assert.equal(withoutBom('\uFEFFa\uFEFF'), 'a\uFEFF');
});
