// Request validation. Query strings, paths and headers arrive as text, so their values are coerced to
// the schema's types ('10' → 10). JSON bodies are not coerced: a body that sends null or 5 where the API
// wants a string or a boolean is refused with a 422, as Svix refuses it, instead of being read as '' or
// '5' (with coercion, PATCH {"disabled": null} re-enabled an endpoint).
import { Ajv, type FormatDefinition, type Options } from 'ajv';
import formats, { type FormatsPlugin } from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const base: Options = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false };

const plugin = formats as unknown as FormatsPlugin;
const rfc3339 = plugin.get('date-time') as FormatDefinition<string> & { validate: (s: string) => boolean };

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...base, ...options });
  plugin(instance);
  // RFC 3339 allows times Date.parse cannot read (a leap second, an offset of hours only): they would
  // reach the database as NaN, so they are refused with the field's name like any other bad date.
  instance.addFormat('date-time', {
    ...rfc3339,
    validate: (s: string) => rfc3339.validate(s) && !Number.isNaN(Date.parse(s)),
  });
  return instance;
}

const text = ajv({ coerceTypes: 'array' });
const json = ajv({ coerceTypes: false });

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? json : text).compile(schema as object);
