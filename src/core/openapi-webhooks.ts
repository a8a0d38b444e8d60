// Event types from the webhooks an OpenAPI document describes (3.1's `webhooks`, or the `x-webhooks`
// extension of 3.0): one per webhook, named by its key, described by its POST operation (summary, else
// description; `deprecated`), with the JSON schema of that operation's JSON request body as version "1"
// of its schemas. References within the document (`#/components/...`) are resolved in place, so each
// event type's schema stands alone; a reference elsewhere, or one that leads back to itself, is refused.
import { invalid } from './errors.ts';
import { PLAIN_TEXT } from './types.ts';

export interface WebhookEventType {
  name: string;
  description: string;
  deprecated: boolean;
  schemas: { '1': unknown } | null;
}

type Json = Record<string, unknown>;
type Loc = readonly string[];

const NAME = /^(?!\.\.?$)[a-zA-Z0-9\-_.]+$/;
const MAX_NAME = 256;
const PLAIN = new RegExp(PLAIN_TEXT);
/** What a schema says of itself (JSON Schema's annotations), not of the values it takes. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  'summary',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'example',
  'examples',
  '$comment',
]);
/** As deep as an event type's schemas may be (app/event-types.ts), counted from them: a version is 1. */
const MAX_DEPTH = 100;
/** An event type's schema as text, at most: what the body of a PUT of it could hold. */
const MAX_SCHEMA_BYTES = 1024 * 1024;
/**
 * The size of all the schemas once their references are resolved, counted as each string's length and 8
 * for every value: a few shared ones can multiply (a 5 KB document made 28 MB), so the count stops it.
 */
const MAX_SIZE = 16 * MAX_SCHEMA_BYTES;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function eventTypesFromOpenApi(spec: unknown, loc: Loc): WebhookEventType[] {
  if (!isObject(spec)) throw invalid(loc, 'must be an OpenAPI document: an object');
  const section = spec.webhooks != null ? 'webhooks' : 'x-webhooks';
  const webhooks = spec[section];
  if (!isObject(webhooks)) {
    const why =
      spec[section] == null
        ? 'has no `webhooks` (nor `x-webhooks`)'
        : `has a \`${section}\` that is not an object`;
    throw invalid(loc, why);
  }
  const resolver = new Resolver(spec, loc);
  return Object.entries(webhooks).map(([name, item]) => {
    const at = [...loc, section, name];
    if (name.length > MAX_NAME || !NAME.test(name))
      throw invalid(
        at,
        `is not an event type name: letters, digits, '-', '_' and '.' (not "." or ".."), up to ${MAX_NAME}`,
      );
    const post = resolver.follow(item, at).post;
    if (!isObject(post)) throw invalid(at, 'has no POST operation');
    const op = resolver.follow(post, [...at, 'post']);
    const text = [op.summary, op.description].find((t) => typeof t === 'string' && t.trim() !== '');
    if (typeof text === 'string' && !PLAIN.test(text))
      throw invalid(
        [...at, 'post'],
        'its text must not contain U+0000 (NUL) or an unpaired UTF-16 surrogate',
      );
    const bodyAt = [...at, 'post', 'requestBody'];
    const schema = jsonSchema(resolver, op.requestBody, bodyAt);
    const inlined = schema === undefined ? undefined : resolver.inline(schema, bodyAt, [], 1);
    // As an event type's schemas are given to its PUT: each version an object, of a size a PUT can send.
    if (inlined !== undefined && !isObject(inlined))
      throw invalid(bodyAt, "has a JSON schema that is not an object, which an event type's schemas must be");
    if (inlined !== undefined && JSON.stringify(inlined).length > MAX_SCHEMA_BYTES)
      throw invalid(
        bodyAt,
        `has a JSON schema over ${MAX_SCHEMA_BYTES} bytes once its references are resolved`,
      );
    return {
      name,
      description: (text as string | undefined)?.trim() ?? '',
      deprecated: op.deprecated === true,
      schemas: inlined === undefined ? null : { '1': inlined },
    };
  });
}

/** The schema of the request body's JSON content (application/json, else any +json type). */
function jsonSchema(resolver: Resolver, requestBody: unknown, at: Loc): unknown {
  if (requestBody === undefined) return undefined;
  const content = resolver.follow(requestBody, at).content;
  if (!isObject(content)) return undefined;
  const type = Object.hasOwn(content, 'application/json')
    ? 'application/json'
    : Object.keys(content).find(isJsonType);
  const media = type === undefined ? undefined : content[type];
  return isObject(media) ? media.schema : undefined;
}

const isJsonType = (type: string) => /^application\/([\w.-]+\+)?json(\s*;.*)?$/i.test(type);

/** A reference inlined: its value, its size as MAX_SIZE counts it, and how deep it goes below where it is. */
type Inlined = { value: unknown; size: number; height: number };

class Resolver {
  #size = MAX_SIZE;
  #done = new Map<string, Inlined>();
  /** While inlining: the deepest object reached. */
  #deepest = 0;
  constructor(
    readonly document: Json,
    readonly loc: Loc,
  ) {}

  /** `value` with its own reference followed (a chain of them too), as an object. */
  follow(value: unknown, at: Loc): Json {
    const seen = new Set<string>();
    while (isObject(value) && typeof value.$ref === 'string') {
      if (seen.has(value.$ref)) throw invalid(at, `refers to itself through ${value.$ref}`);
      seen.add(value.$ref);
      value = this.#target(value.$ref, at);
    }
    if (!isObject(value)) throw invalid(at, 'must be an object');
    return value;
  }

  /** A copy of `value` with every reference replaced by what it names (and what stands beside it). */
  inline(value: unknown, at: Loc, path: readonly string[], depth: number): unknown {
    this.#spend(8 + (typeof value === 'string' ? value.length : 0));
    if (typeof value === 'number' && !Number.isFinite(value))
      throw invalid(at, 'holds a number JSON cannot write (NaN, or beyond ±1.8e308)');
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_DEPTH) throw invalid(at, `must not be nested more than ${MAX_DEPTH} levels deep`);
    this.#deepest = Math.max(this.#deepest, depth);
    if (Array.isArray(value)) return value.map((item) => this.inline(item, at, path, depth + 1));
    const ref = typeof (value as Json).$ref === 'string' ? ((value as Json).$ref as string) : undefined;
    const own = Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => ref === undefined || key !== '$ref')
        .map(([key, item]) => {
          this.#spend(key.length);
          return [key, this.inline(item, at, path, depth + 1)];
        }),
    );
    if (ref === undefined) return own;
    const target = this.#inlineRef(ref, at, path, depth);
    // Beside a reference, annotations override what it names (OpenAPI 3.1); other keywords apply as well
    // as it, which allOf says whatever the two hold.
    if (Object.keys(own).every((key) => ANNOTATIONS.has(key)))
      return isObject(target) ? { ...target, ...own } : target;
    const also = own.allOf === undefined ? [] : Array.isArray(own.allOf) ? own.allOf : [own.allOf];
    return { ...own, allOf: [target, ...also] };
  }

  /**
   * What `ref` names, inlined. Once inlined, it is used again wherever it fits (no deeper than allowed),
   * its size counted each time: a shared schema is resolved once, not once per use, and a document whose
   * references multiply is refused at once, not after building the copies (16 MiB of them took 0.8 s).
   * A reference is never used again within itself: that would be a cycle, refused when it was inlined.
   */
  #inlineRef(ref: string, at: Loc, path: readonly string[], depth: number): unknown {
    if (path.includes(ref))
      throw invalid(at, `refers to itself through ${ref}: a recursive schema cannot be inlined`);
    const outer = this.#deepest;
    let inlined = this.#done.get(ref);
    if (inlined && depth + inlined.height <= MAX_DEPTH) this.#spend(inlined.size);
    else {
      const size = this.#size;
      this.#deepest = depth;
      const value = this.inline(this.#target(ref, at), at, [...path, ref], depth);
      inlined = { value, size: size - this.#size, height: this.#deepest - depth };
      this.#done.set(ref, inlined);
    }
    this.#deepest = Math.max(outer, depth + inlined.height);
    return inlined.value;
  }

  #spend(size: number): void {
    this.#size -= size;
    if (this.#size < 0) throw invalid(this.loc, 'has schemas too large once their references are resolved');
  }

  /** What a reference within the document (a JSON pointer after '#') names. */
  #target(ref: string, at: Loc): unknown {
    if (ref !== '#' && !ref.startsWith('#/'))
      throw invalid(at, `refers outside the document (${ref}): only '#/…' references are resolved`);
    let value: unknown = this.document;
    for (const token of ref === '#' ? [] : ref.slice(2).split('/')) {
      const key = pointerKey(token, ref, at);
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key))
        throw invalid(at, `refers to ${ref}, which the document does not hold`);
      value = (value as Json)[key];
    }
    return value;
  }
}

/** A JSON pointer's token as the key it names (RFC 6901, in a URI fragment: percent-encoded). */
function pointerKey(token: string, ref: string, at: Loc): string {
  try {
    return decodeURIComponent(token).replaceAll('~1', '/').replaceAll('~0', '~');
  } catch {
    throw invalid(at, `refers to ${ref}, which is not a well-formed reference`);
  }
}
