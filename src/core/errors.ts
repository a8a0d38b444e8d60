// The error catalogue: stable codes raised by use-cases. Only the HTTP edge maps them to statuses
// (src/http/errors.ts), so the same codes can serve a CLI or another transport.

export const ErrorCodes = [
  'validation', // a field is invalid; `loc` names it
  'json_decode', // the body is not JSON the API reads (its syntax, bytes, nesting or numbers); `loc` says where
  'bad_request', // the request as a whole cannot be read
  'invalid_range', // a time range the route does not serve (Svix's code)
  'authentication_failed',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

export class DoorbellError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For `validation` and `json_decode`: where the bad value is, e.g. ['body', 'url']. */
    readonly loc: readonly string[] = [],
  ) {
    super(message);
    this.name = 'DoorbellError';
  }
}

export function notFound(what: string): DoorbellError {
  return new DoorbellError('not_found', `${what} not found`);
}

export function conflict(detail: string): DoorbellError {
  return new DoorbellError('conflict', detail);
}

export function invalid(loc: readonly string[], message: string): DoorbellError {
  return new DoorbellError('validation', message, loc);
}

export function undecodable(loc: readonly string[], message: string): DoorbellError {
  return new DoorbellError('json_decode', message, loc);
}

export function invalidRange(detail: string): DoorbellError {
  return new DoorbellError('invalid_range', detail);
}

export function forbidden(detail = 'this token may not use this route'): DoorbellError {
  return new DoorbellError('forbidden', detail);
}

export function isDoorbellError(error: unknown): error is DoorbellError {
  return error instanceof DoorbellError;
}
