import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDoorbellError } from './errors.ts';
import { eventTypesFromOpenApi } from './openapi-webhooks.ts';

const LOC = ['body', 'spec'];
const post = (extra: object) => ({ post: { responses: { '200': { description: 'ok' } }, ...extra } });
const json = (schema: object) => ({ content: { 'application/json': { schema } } });

/** The 422's field and message, for a document the import refuses. */
function refusal(spec: unknown): { loc: readonly string[]; message: string } {
  try {
    eventTypesFromOpenApi(spec, LOC);
  } catch (error) {
    if (isDoorbellError(error) && error.code === 'validation')
      return { loc: error.loc, message: error.message };
    throw error;
  }
  assert.fail('the document was accepted');
}

describe('eventTypesFromOpenApi', () => {
  it('makes one event type per webhook, from its POST operation', () => {
    const spec = {
      openapi: '3.1.0',
      webhooks: {
        'pet.created': post({
          summary: 'A pet was added ',
          description: 'Longer text',
          requestBody: json({ type: 'object', properties: { id: { type: 'integer' } } }),
        }),
        'pet.deleted': post({ description: 'A pet was removed', deprecated: true }),
        'pet.sold': post({ requestBody: { content: { 'text/plain': { schema: { type: 'string' } } } } }),
      },
    };
    assert.deepEqual(eventTypesFromOpenApi(spec, LOC), [
      {
        name: 'pet.created',
        description: 'A pet was added',
        deprecated: false,
        schemas: { '1': { type: 'object', properties: { id: { type: 'integer' } } } },
      },
      { name: 'pet.deleted', description: 'A pet was removed', deprecated: true, schemas: null },
      { name: 'pet.sold', description: '', deprecated: false, schemas: null },
    ]);
  });

  it('reads x-webhooks (OpenAPI 3.0) and a JSON media type other than application/json', () => {
    const body = {
      content: { 'application/cloudevents+json; charset=utf-8': { schema: { type: 'object' } } },
    };
    const spec = { openapi: '3.0.3', webhooks: null, 'x-webhooks': { 'a.b': post({ requestBody: body }) } };
    assert.deepEqual(eventTypesFromOpenApi(spec, LOC)[0]?.schemas, { '1': { type: 'object' } });
  });

  it('resolves references within the document, keeping what sits beside them', () => {
    const spec = {
      webhooks: { 'order.paid': { $ref: '#/components/pathItems/paid' } },
      components: {
        pathItems: { paid: post({ requestBody: { $ref: '#/components/requestBodies/Paid' } }) },
        requestBodies: { Paid: json({ $ref: '#/components/schemas/Order', description: 'The order' }) },
        schemas: {
          Order: { type: 'object', properties: { total: { $ref: '#/components/schemas/Money' } } },
          Money: { type: 'integer', minimum: 0 },
          'a/b~c': { type: 'string' },
        },
      },
    };
    assert.deepEqual(eventTypesFromOpenApi(spec, LOC)[0]?.schemas, {
      '1': {
        type: 'object',
        properties: { total: { type: 'integer', minimum: 0 } },
        description: 'The order',
      },
    });
    const escaped = {
      ...spec,
      webhooks: { e: post({ requestBody: json({ $ref: '#/components/schemas/a~1b~0c' }) }) },
    };
    assert.deepEqual(eventTypesFromOpenApi(escaped, LOC)[0]?.schemas, { '1': { type: 'string' } });
    // A property named "$ref" is a property, not a reference.
    const named = {
      webhooks: { p: post({ requestBody: json({ properties: { $ref: { type: 'string' } } }) }) },
    };
    assert.deepEqual(eventTypesFromOpenApi(named, LOC)[0]?.schemas, {
      '1': { properties: { $ref: { type: 'string' } } },
    });
  });

  it('applies other keywords beside a reference as well as it (allOf), and reads # as the document', () => {
    const ref = { $ref: '#/components/schemas/A', required: ['b'], description: 'd' };
    const spec = {
      webhooks: { e: post({ requestBody: json(ref) }) },
      components: { schemas: { A: { type: 'object', additionalProperties: false } } },
    };
    assert.deepEqual(eventTypesFromOpenApi(spec, LOC)[0]?.schemas, {
      '1': { allOf: [{ type: 'object', additionalProperties: false }], required: ['b'], description: 'd' },
    });
    const beside = {
      ...spec,
      webhooks: { e: post({ requestBody: json({ ...ref, allOf: [{ minProperties: 1 }] }) }) },
    };
    assert.deepEqual(eventTypesFromOpenApi(beside, LOC)[0]?.schemas, {
      '1': {
        allOf: [{ type: 'object', additionalProperties: false }, { minProperties: 1 }],
        required: ['b'],
        description: 'd',
      },
    });
    // '#' is the whole document, which holds the webhook that refers to it.
    const whole = { webhooks: { e: post({ requestBody: json({ $ref: '#', title: 'T' }) }) } };
    assert.match(refusal(whole).message, /refers to itself through #/);
  });

  it('refuses what it cannot make an event type of, naming where', () => {
    assert.deepEqual(refusal([]).loc, LOC);
    assert.match(refusal({ openapi: '3.1.0', paths: {} }).message, /has no `webhooks`/);
    assert.match(refusal({ webhooks: [] }).message, /`webhooks` that is not an object/);
    for (const schema of [[1, 2], 5, null, true, { $ref: '#/s' }]) {
      const doc = { s: 'text', webhooks: { e: post({ requestBody: json(schema as object) }) } };
      const { loc, message } = refusal(doc);
      assert.deepEqual(loc, [...LOC, 'webhooks', 'e', 'post', 'requestBody']);
      assert.match(message, /JSON schema that is not an object/);
    }
    assert.deepEqual(refusal({ webhooks: { 'bad name': post({}) } }).loc, [...LOC, 'webhooks', 'bad name']);
    assert.deepEqual(refusal({ webhooks: { '..': post({}) } }).loc, [...LOC, 'webhooks', '..']);
    assert.match(refusal({ webhooks: { e: { get: {} } } }).message, /no POST operation/);
    const nul = refusal({ webhooks: { e: post({ summary: 'a\u0000b' }) } });
    assert.deepEqual(nul.loc, [...LOC, 'webhooks', 'e', 'post']);
    const ref = (target: string) => ({ webhooks: { e: post({ requestBody: json({ $ref: target }) }) } });
    assert.match(refusal(ref('other.yaml#/X')).message, /refers outside the document/);
    assert.match(refusal(ref('#/components/schemas/Missing')).message, /does not hold/);
    assert.match(refusal(ref('#/%E0%A4%A')).message, /not a well-formed reference/);
    const at = refusal(ref('#/nope')).loc;
    assert.deepEqual(at, [...LOC, 'webhooks', 'e', 'post', 'requestBody']);
  });

  it('resolves a shared reference wherever it is used, each use held to the depth allowed there', () => {
    // Deep is an object 4 levels deep itself; used by `top` as its schema, and 96 and 97 levels down.
    const deep = {
      type: 'object',
      properties: { a: { type: 'object', properties: { b: { type: 'string' } } } },
    };
    const within = (levels: number) => {
      let schema: object = { $ref: '#/components/schemas/Deep' };
      for (let i = 1; i < levels; i++) schema = { items: schema };
      return schema;
    };
    const spec = (levels: number) => ({
      webhooks: {
        top: post({ requestBody: json({ $ref: '#/components/schemas/Deep' }) }),
        low: post({ requestBody: json(within(levels)) }),
      },
      components: { schemas: { Deep: deep } },
    });
    const [top, low] = eventTypesFromOpenApi(spec(96), LOC);
    assert.deepEqual(top?.schemas, { '1': deep });
    let schema = low?.schemas?.['1'] as { items?: object };
    for (let i = 1; i < 96; i++) schema = schema.items as { items?: object };
    assert.deepEqual(schema, deep);
    const tooDeep = refusal(spec(97));
    assert.deepEqual(tooDeep.loc, [...LOC, 'webhooks', 'low', 'post', 'requestBody']);
    assert.match(tooDeep.message, /nested more than 100/);
  });

  it('refuses a recursive schema and one that grows too large once resolved', () => {
    const tree = { type: 'object', properties: { child: { $ref: '#/components/schemas/Tree' } } };
    const recursive = {
      webhooks: { e: post({ requestBody: json({ $ref: '#/components/schemas/Tree' }) }) },
      components: { schemas: { Tree: tree } },
    };
    assert.match(refusal(recursive).message, /recursive schema/);
    const loop = { webhooks: { e: { $ref: '#/x' } }, x: { $ref: '#/webhooks/e' } };
    assert.match(refusal(loop).message, /refers to itself/);
    // 20 levels, each naming the one below twice: 2^20 copies of the last.
    const schemas: Record<string, object> = { L0: { type: 'string' } };
    for (let i = 1; i <= 20; i++) {
      const below = { $ref: `#/components/schemas/L${i - 1}` };
      schemas[`L${i}`] = { type: 'object', properties: { a: below, b: below } };
    }
    const big = {
      webhooks: { e: post({ requestBody: json({ $ref: '#/components/schemas/L20' }) }) },
      components: { schemas },
    };
    const tooLarge = refusal(big);
    assert.deepEqual(tooLarge.loc, LOC, 'the whole document: every webhook counts');
    assert.match(tooLarge.message, /too large once their references are resolved/);
    // As deep as an event type's schemas may be, counted from them: the schema of version "1" is 1 deep.
    const nested = (levels: number) => {
      let schema: object = { type: 'string' };
      for (let i = 1; i < levels; i++) schema = { items: schema };
      return { webhooks: { e: post({ requestBody: json(schema) }) } };
    };
    assert.equal(eventTypesFromOpenApi(nested(100), LOC).length, 1);
    assert.match(refusal(nested(101)).message, /nested more than 100/);
    // Long text shared by many references: 30 × 30 copies of 1,500 characters is over the 1 MiB a PUT of
    // the event type could send; 27,000 copies of 1,000 are too much for the document.
    const shared = (copies: number[], length: number) => {
      const schemas: Record<string, object> = { L0: { type: 'string', description: 'x'.repeat(length) } };
      copies.forEach((n, i) => {
        const below = { $ref: `#/components/schemas/L${i}` };
        schemas[`L${i + 1}`] = {
          properties: Object.fromEntries(Array.from({ length: n }, (_, j) => [`p${j}`, below])),
        };
      });
      const top = { $ref: `#/components/schemas/L${copies.length}` };
      return { webhooks: { e: post({ requestBody: json(top) }) }, components: { schemas } };
    };
    const oneTooBig = refusal(shared([30, 30], 1500));
    assert.deepEqual(oneTooBig.loc, [...LOC, 'webhooks', 'e', 'post', 'requestBody']);
    assert.match(oneTooBig.message, /over 1048576 bytes once its references are resolved/);
    assert.deepEqual(refusal(shared([30, 30, 30], 1000)).loc, LOC);
    const huge = { webhooks: { e: post({ requestBody: json({ maximum: Number.POSITIVE_INFINITY }) }) } };
    assert.match(refusal(huge).message, /number JSON cannot write/);
    const nan = { webhooks: { e: post({ requestBody: json({ maximum: Number.NaN }) }) } };
    assert.match(refusal(nan).message, /NaN/);
  });
});
