import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDoorbellError } from '../core/errors.ts';
import { documentValue, readDocument } from './document-text.ts';

const LOC = ['body', 'specRaw'];

function refusal(text: string): string {
  try {
    documentValue(text, LOC);
  } catch (error) {
    if (isDoorbellError(error) && error.code === 'validation') {
      assert.deepEqual(error.loc, LOC);
      return error.message;
    }
    throw error;
  }
  assert.fail(`accepted: ${text}`);
}

describe('documentValue', () => {
  it('reads JSON as JSON, and YAML with its core schema', () => {
    assert.deepEqual(documentValue('{"a": [1, true, null, "x"]}', LOC), { a: [1, true, null, 'x'] });
    const yaml = 'openapi: 3.1.0\nwebhooks:\n  a.b: { post: { deprecated: true } }\nn: [1.5, ~, "2"]\n';
    assert.deepEqual(documentValue(yaml, LOC), {
      openapi: '3.1.0',
      webhooks: { 'a.b': { post: { deprecated: true } } },
      n: [1.5, null, '2'],
    });
    const anchors = 'base: &b { type: string }\nother: *b\n';
    assert.deepEqual(documentValue(anchors, LOC), { base: { type: 'string' }, other: { type: 'string' } });
  });

  it('expands an anchor used 99 times, and refuses 100: nested ones would multiply', () => {
    const uses = (n: number) =>
      `a: &x {type: string}\n${Array.from({ length: n }, (_, i) => `k${i}: *x`).join('\n')}`;
    assert.equal(Object.keys(documentValue(uses(99), LOC) as object).length, 100);
    assert.match(refusal(uses(100)), /uses an anchor \(\*name\) 100 times or more/);
    const laughs =
      'a: &a [1, 2, 3]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n';
    assert.match(refusal(laughs), /100 times or more/);
  });

  it('keeps each mapping key as written, not as the number or boolean YAML would read it', () => {
    const yaml = '1.10: a\n1e3: b\n0x10: c\ntrue: d\n~: e\n"200": f\n';
    const keys = Object.keys(documentValue(yaml, LOC) as object);
    assert.deepEqual(keys.sort(), ['1.10', '1e3', '0x10', 'true', '~', '200'].sort());
  });

  it('refuses what JSON cannot say rather than change it: tags, repeated keys, keys that are not text', () => {
    assert.match(refusal('x: !!binary "aGVsbG8="'), /neither YAML nor JSON/);
    assert.match(refusal('x: !!timestamp 2001-12-14'), /neither YAML nor JSON/);
    assert.match(refusal('x: !mine y'), /neither YAML nor JSON/);
    assert.match(refusal('a: 1\nb: {c: 1, c: 2}\n'), /the key 'c' twice/);
    assert.match(refusal('1.0: a\n"1.0": b\n'), /the key '1.0' twice/);
    assert.match(refusal('? [a, b]\n: c\n'), /not plain text/);
    assert.match(refusal('webhooks: [unclosed'), /neither YAML nor JSON/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${'b'.repeat(i)}: &${'b'.repeat(i)} [${Array(10)
          .fill(`*${i === 1 ? 'a' : 'b'.repeat(i - 1)}`)
          .join(', ')}]`,
      );
    assert.match(refusal(bomb.join('\n')), /100 times or more/);
    assert.match(refusal(`${'['.repeat(20_000)}${']'.repeat(20_000)}x`), /nested too deeply/);
    // Refused before the parser: 500,000 levels held it for seconds, and once aborted the process.
    for (const deep of [
      '['.repeat(500_000),
      `${'- '.repeat(500_000)}x`,
      `? a\n: ${'? '.repeat(500_000)}x\n`,
      `? a\r: ${'- '.repeat(500_000)}x`,
      `a: ${'{b: '.repeat(300)}`,
    ])
      assert.match(refusal(deep), /nested too deeply/);
    // Levels, not characters: deep indentation, 4 spaces a level, and brackets in prose are no nesting.
    const nested = (levels: number, indent: string) =>
      `${Array.from({ length: levels }, (_, i) => `${indent.repeat(i)}k${i}:`).join('\n')} [[1]]`;
    assert.ok(documentValue(nested(120, '  '), LOC), 'as deep as a value may be, in YAML');
    assert.ok(documentValue(nested(100, '    '), LOC));
    assert.ok(documentValue(`${' '.repeat(300)}a: 1`, LOC));
    const prose = Array.from(
      { length: 400 },
      (_, i) => `e${i}: The score is in [0, 1) and the rank in [1, n).`,
    );
    assert.equal(Object.keys(documentValue(prose.join('\r\n'), LOC) as object).length, 400);
    assert.match(refusal('webhooks:\n  a: {}\n---\nwebhooks:\n  b: {}\n'), /holds 2 YAML documents/);
    assert.match(refusal('a: 1\n...\nnot: [valid\n'), /holds 2 YAML documents/);
    assert.equal(documentValue('# nothing but a comment\n', LOC), null);
  });
});

describe('readDocument', () => {
  it('reads JSON at once, and YAML on a thread, as documentValue does', async () => {
    assert.deepEqual(await readDocument('{"a": 1}', LOC), { a: 1 });
    const yaml = 'openapi: 3.1.0\nwebhooks:\n  a.b: { post: { deprecated: true } }\n1.10: x\n';
    assert.deepEqual(await readDocument(yaml, LOC), documentValue(yaml, LOC));
    await assert.rejects(readDocument('a: 1\na: 2\n', LOC), (error) => {
      assert.ok(isDoorbellError(error) && error.code === 'validation', String(error));
      assert.deepEqual(error.loc, LOC);
      assert.match(error.message, /has the key 'a' twice in one mapping/);
      return true;
    });
  });

  it('leaves the event loop free while it reads, and refuses a document it has not read in time', async () => {
    const slow = 'x: "\n'.repeat(50_000); // an unclosed quote on every line: seconds to read
    const order: string[] = [];
    const reading = readDocument(slow, LOC, 300).catch((error: Error) => {
      order.push('read');
      return error;
    });
    setTimeout(() => order.push('timer'), 1);
    const error = await reading;
    assert.deepEqual(order, ['timer', 'read']);
    assert.ok(isDoorbellError(error) && error.code === 'validation');
    assert.match(error.message, /was not read as YAML within 0\.3 s: send it as JSON/);
  });
});
