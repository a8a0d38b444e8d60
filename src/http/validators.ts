// Request validation. Query strings, paths and headers arrive as text, so their values are coerced to
// the schema's types ('10' → 10). JSON bodies are not coerced: a body that sends null or 5 where the API
// wants a string or a boolean is refused with a 422, as Svix refuses it, instead of being read as '' or
// '5' (with coercion, PATCH {"disabled": null} re-enabled an endpoint).
import { Ajv, type FormatDefinition, type Options } from 'ajv';
import formats, { type FormatsPlugin } from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

type Validation = ReturnType<FastifySchemaCompiler<unknown>>;

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

const DECIMAL = /^-?[0-9]+$/;

/**
 * Coercion reads any number JavaScript can ('0x10' as 16, '1e2' as 100, ' 5' as 5): an integer in a
 * query string or path is refused unless it is written in decimal digits, as Svix's server reads it.
 */
function decimalIntegers(validate: Validation, schema: object): Validation {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const names = Object.keys(properties).filter((name) => properties[name]?.type === 'integer');
  if (names.length === 0) return validate;
  const checked: Validation = (data: unknown) => {
    const values = (data ?? {}) as Record<string, unknown>;
    const bad = names.find((name) => typeof values[name] === 'string' && !DECIMAL.test(values[name]));
    if (bad === undefined) {
      const valid = validate(data);
      checked.errors = validate.errors;
      return valid;
    }
    const message = 'must be an integer in decimal digits';
    checked.errors = [{ instancePath: `/${bad}`, keyword: 'type', message, params: {}, schemaPath: '' }];
    return false;
  };
  return checked;
}

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  httpPart === 'body'
    ? json.compile(schema as object)
    : decimalIntegers(text.compile(schema as object), schema as object);
