// Request validation. Query strings, paths and headers arrive as text, so their values are coerced to
// the schema's types ('10' → 10). JSON bodies are not coerced: a body that sends null or 5 where the API
// wants a string or a boolean is refused with a 422, as Svix refuses it, instead of being read as '' or
// '5' (with coercion, PATCH {"disabled": null} re-enabled an endpoint).
import { Ajv, type Options } from 'ajv';
import formats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const base: Options = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false };

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...base, ...options });
  (formats as unknown as (ajv: Ajv) => Ajv)(instance);
  return instance;
}

const text = ajv({ coerceTypes: 'array' });
const json = ajv({ coerceTypes: false });

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? json : text).compile(schema as object);
