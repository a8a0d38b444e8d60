import assert from 'node:assert/strict';
import { test } from 'node:test';
import { documentObject } from './openapi.ts';

type DocumentObject = Parameters<typeof documentObject>[0];

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const documented = (responses: object) =>
  documentObject({ openapiObject: { paths: { '/x': { get: { responses } } } } } as DocumentObject) as {
    paths: { '/x': { get: { responses: object } } };
    components: { schemas: object };
  };

test('a titled schema becomes a component; a nullable place refers to it through allOf', () => {
  const item = { title: 'Item', type: 'object', properties: { a: { type: 'string' } } };
  const doc = documented({
    200: json({ title: 'Page', type: 'object', properties: { data: { type: 'array', items: item } } }),
    201: json({ type: 'object', properties: { item: { ...item, nullable: true } } }),
  });
  assert.deepEqual(doc.components.schemas, {
    Item: { type: 'object', properties: { a: { type: 'string' } } },
    Page: {
      type: 'object',
      properties: { data: { type: 'array', items: { $ref: '#/components/schemas/Item' } } },
    },
  });
  assert.deepEqual(doc.paths['/x'].get.responses, {
    200: json({ $ref: '#/components/schemas/Page' }),
    201: json({
      type: 'object',
      properties: { item: { allOf: [{ $ref: '#/components/schemas/Item' }], nullable: true } },
    }),
  });
});

test('two different schemas of one name are refused', () => {
  assert.throws(
    () =>
      documented({
        200: json({ title: 'Item', type: 'object' }),
        201: json({ title: 'Item', type: 'string' }),
      }),
    /two different schemas are named Item/,
  );
});
