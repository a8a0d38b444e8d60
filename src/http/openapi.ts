// The served API document (GET /api/v1/openapi.json), as @fastify/swagger derives it from the route
// schemas, shaped as the reference's is. Documentation only: validation and serialisation use the route
// schemas as they are.
import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';

/**
 * Every POST takes an `idempotency-key` header (idempotency.ts, a hook rather than each route's schema):
 * the document lists it on each, as the reference does.
 */
export const documentRoute: SwaggerTransform = ({ schema, url, route }) => {
  if (![route.method].flat().includes('POST')) return { schema, url };
  const headers = (schema?.headers ?? { type: 'object', properties: {} }) as { properties?: object };
  const idempotencyKey = { type: 'string', description: "The request's idempotency key" };
  return {
    schema: {
      ...schema,
      headers: { ...headers, properties: { ...headers.properties, 'idempotency-key': idempotencyKey } },
    },
    url,
  };
};

/** The document without `propertyNames`. */
export const documentObject: SwaggerTransformObject = (document) =>
  withoutPropertyNames('openapiObject' in document ? document.openapiObject : {});

/**
 * The document without `propertyNames`, which OpenAPI 3.0 schemas do not have (validation keeps it: a
 * metadata key is checked as its value is).
 */
function withoutPropertyNames<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutPropertyNames) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([key]) => key !== 'propertyNames');
  return Object.fromEntries(entries.map(([key, v]) => [key, withoutPropertyNames(v)])) as T;
}
