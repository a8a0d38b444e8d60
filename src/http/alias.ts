// Fields the reference and the svix SDK spell two ways (throttleRate/rateLimit, eventTypes/filterTypes,
// featureFlag/featureFlags). Either spelling is accepted, and both at once: generated clients send their
// unset fields as null, so a null gives way to a value, and two values must agree.
import { isDeepStrictEqual } from 'node:util';
import { invalid } from '../core/errors.ts';

/** The field's value under either name; undefined when neither is given. `loc` is where the body is. */
export function aliased<T>(
  body: Record<string, unknown>,
  [sdk, ref]: readonly [string, string],
  loc: readonly string[] = ['body'],
): T | null | undefined {
  const a = body[sdk] as T | null | undefined;
  const b = body[ref] as T | null | undefined;
  if (a === undefined) return b;
  if (a === null) return b ?? null;
  if (b !== undefined && b !== null && !isDeepStrictEqual(sorted(a), sorted(b)))
    throw invalid([...loc, sdk], `${sdk} and ${ref} name the same setting and disagree: send one of them`);
  return a;
}

/** A list compares as a set: the same event types in another order agree. */
const sorted = (value: unknown): unknown => (Array.isArray(value) ? [...value].sort() : value);
