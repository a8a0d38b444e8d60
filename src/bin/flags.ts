// Parsing of command-line flags, with an error that names the flag and the value given.

/** A command line that cannot work as given: printed as one line and a pointer to the help. */
export class UsageError extends Error {}

/** `value`, in decimal digits, as an integer in [min, max]; otherwise throws naming `flag`. */
export function integerFlag(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${flag} must be an integer ${range}, got '${value}'`);
  }
  return n;
}

/**
 * The options without those given empty: an empty flag or environment variable counts as unset, so that
 * `DOORBELL_HOST=` (a variable a deployment file passes on unset) means the default, not every interface.
 */
export function withoutEmpty<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== '')) as T;
}

/** Runs `parse` on a flag's value; its error is prefixed with the flag's name. */
export function parsedFlag<T>(flag: string, value: string, parse: (value: string) => T): T {
  try {
    return parse(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}
