// The served API document (GET /api/v1/openapi.json), as @fastify/swagger derives it from the route
// schemas, shaped as the reference's is: named component schemas, every operation's error responses, the
// idempotency-key header. Documentation only: validation and serialisation use the route schemas as
// they are.
import { isDeepStrictEqual } from 'node:util';
import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import type { TSchema } from 'typebox';
import { HttpErrorOut, HttpValidationError } from './schemas/common.ts';

const ERRORS: Record<number, [description: string, schema: TSchema]> = {
  400: ['Bad Request', HttpErrorOut],
  401: ['Unauthorized', HttpErrorOut],
  403: ['Forbidden', HttpErrorOut],
  404: ['Not Found', HttpErrorOut],
  409: ['Conflict', HttpErrorOut],
  413: ['Payload Too Large', HttpErrorOut],
  415: ['Unsupported Media Type', HttpErrorOut],
  422: ['Validation Error', HttpValidationError],
  429: ['Too Many Requests', HttpErrorOut],
  503: ['Service Unavailable', HttpErrorOut],
};
/**
 * What a route that takes a token may answer (errors.ts): the reference's list, 401 to 429 (Doorbell
 * itself answers no 429 today; clients generated from either document handle the same statuses), and
 * Doorbell's 400 (a malformed URL or JSON body, a bad time range) and 503 (the database unreachable).
 */
const TOKEN_ROUTE_ERRORS = [400, 401, 403, 404, 409, 422, 429, 503];
/** Beyond the body limit, 413; a body in a content-encoding or a charset other than UTF-8, 415. */
const BODY_ERRORS = [413, 415];
const BODY_METHODS = ['POST', 'PUT', 'PATCH'];

/**
 * Each operation's error responses (a public route's only as its `config.errors` lists them), and the
 * `idempotency-key` header that every POST takes (idempotency.ts, a hook rather than each route's
 * schema), as the reference lists it on each. Public routes need no token.
 */
export const documentRoute: SwaggerTransform = ({ schema, url, route }) => {
  const methods = [route.method].flat();
  const open = route.config?.public === true;
  const body = methods.some((m) => BODY_METHODS.includes(m)) ? BODY_ERRORS : [];
  const codes = open ? (route.config?.errors ?? []) : [...TOKEN_ROUTE_ERRORS, ...body];
  const errors = codes.map((code) => {
    const [description, response] = ERRORS[code] as [string, TSchema];
    return [code, { ...response, 'x-response-description': description }];
  });
  const documented = {
    ...schema,
    response: { ...(schema?.response as object), ...Object.fromEntries(errors) },
    ...(open ? { security: [] } : {}),
  };
  if (!methods.includes('POST')) return { schema: documented, url };
  const headers = (schema?.headers ?? { type: 'object', properties: {} }) as { properties?: object };
  const idempotencyKey = { type: 'string', description: "The request's idempotency key" };
  return {
    schema: {
      ...documented,
      headers: { ...headers, properties: { ...headers.properties, 'idempotency-key': idempotencyKey } },
    },
    url,
  };
};

/** The document with named schemas, and without `propertyNames`. */
export const documentObject: SwaggerTransformObject = (document) => {
  const openapi = withoutPropertyNames('openapiObject' in document ? document.openapiObject : {});
  const named: Record<string, object> = {};
  const paths = withRefs(openapi.paths, named);
  const schemas = Object.fromEntries(Object.entries(named).sort(([a], [b]) => a.localeCompare(b)));
  return { ...openapi, paths, components: { ...openapi.components, schemas } } as typeof openapi;
};

/**
 * Each schema with a `title` becomes `components.schemas[title]`, and each place it was a $ref to it, as
 * in the reference: generated clients name their types after them. OpenAPI 3.0 ignores a $ref's
 * siblings, so a nullable place is `allOf: [$ref]` with `nullable: true`. Two different schemas of one
 * name are a bug: the document is refused.
 */
function withRefs<T>(value: T, named: Record<string, object>): T {
  if (Array.isArray(value)) return value.map((v) => withRefs(v, named)) as T;
  if (value === null || typeof value !== 'object') return value;
  const schema = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRefs(v, named)]));
  if (typeof schema.title !== 'string') return schema as T;
  const { title, nullable, ...component } = schema;
  if (named[title] && !isDeepStrictEqual(named[title], component))
    throw new Error(`two different schemas are named ${title} in the API document`);
  named[title] = component;
  const ref = { $ref: `#/components/schemas/${title}` };
  return (nullable ? { allOf: [ref], nullable } : ref) as T;
}

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
