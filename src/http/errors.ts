// The API edge of the error catalogue: codes become HTTP statuses and Svix-shaped bodies
// (HttpErrorOut {code, detail}; HTTPValidationError {detail: [{loc, msg, type}]} with 422).
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, isDoorbellError } from '../core/errors.ts';
import { ConflictError, StoreUnavailableError } from '../store/store.ts';
import { lingerBeforeClose } from './lingering-close.ts';
import { patternMessage } from './schemas/common.ts';

export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case 'validation':
    case 'json_decode':
      return 422;
    case 'bad_request':
    case 'invalid_range':
      return 400;
    case 'authentication_failed':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    default: {
      const _exhaustive: never = code;
      return _exhaustive;
    }
  }
}

const PARTS: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
  propertyName?: string; // set on an issue with an object's key (propertyNames)
}

function validationItems(error: FastifyError) {
  const part = PARTS[error.validationContext ?? 'body'] ?? 'body';
  const issues = (error.validation ?? []) as AjvIssue[];
  // A key's issue names the key; the summary ajv adds after it ("property name must be valid") is dropped.
  const keyed = issues.some((issue) => issue.propertyName !== undefined);
  return issues
    .filter((issue) => !(keyed && issue.keyword === 'propertyNames'))
    .map((issue) => {
      const loc = [part, ...(issue.instancePath ?? '').split('/').filter(Boolean).map(decodePointer)];
      const missing = issue.params?.missingProperty;
      if (issue.keyword === 'required' && typeof missing === 'string') loc.push(missing);
      if (issue.propertyName !== undefined) loc.push(issue.propertyName);
      let msg = patternMessage(issue.params?.pattern) ?? issue.message ?? 'invalid value';
      if (issue.propertyName !== undefined) msg = `the key ${msg}`;
      return { loc, msg, type: `value_error.${issue.keyword ?? 'invalid'}` };
    });
}

const decodePointer = (s: string): string => s.replace(/~1/g, '/').replace(/~0/g, '~');

const MiB = 1024 * 1024;

const CLIENT_ERRORS: Record<number, string> = { 414: 'uri_too_long', 415: 'unsupported_media_type' };

// Codes as Svix's server spells them, where the catalogue's differ (a 500 is its `server_error`).
const GENERIC_ERROR = 'generic_error';
const BODY_CODES: Partial<Record<ErrorCode, string>> = {
  bad_request: GENERIC_ERROR,
  forbidden: 'insufficient access',
};

/**
 * The connection closes after this response, which may come before the request's body was read: the
 * rest is read and dropped (64 MiB, or 4 × the body limit if more, and 5 s at most) so that a client
 * still sending reads the response rather than a reset connection. Also after a 401: a client without a
 * token holds a connection no longer than it could by sending its headers slowly (requestTimeoutMs).
 */
export function closeAfter(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('connection', 'close');
  const limit = request.routeOptions.bodyLimit ?? 0;
  lingerBeforeClose(request.raw, { bytes: Math.max(64 * MiB, 4 * limit), ms: 5_000 });
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (isDoorbellError(error)) {
    const status = httpStatus(error.code);
    // Refused before its body was read: the connection closes, so that clients without a token cannot
    // keep it for more requests.
    if (error.code === 'authentication_failed') closeAfter(request, reply);
    if (error.code === 'validation' || error.code === 'json_decode') {
      const type = error.code === 'validation' ? 'value_error' : 'value_error.jsondecode';
      void reply.code(status).send({ detail: [{ loc: [...error.loc], msg: error.message, type }] });
    } else {
      void reply.code(status).send({ code: BODY_CODES[error.code] ?? error.code, detail: error.message });
    }
    return;
  }
  if (error instanceof ConflictError) {
    void reply.code(409).send({ code: 'conflict', detail: error.message });
    return;
  }
  if (error instanceof StoreUnavailableError) {
    // Not the client's fault, and it asks for the operator (a full disk, a database down): logged.
    request.log.warn({ reason: error.reason }, error.message);
    void reply.code(503).header('retry-after', '5').send({ code: 'unavailable', detail: error.message });
    return;
  }
  if (error.validation) {
    void reply.code(422).send({ detail: validationItems(error) });
    return;
  }
  const status = error.statusCode ?? 500;
  if (status === 413) {
    // Refused once the body is known to be too large, often while the client is still sending it.
    closeAfter(request, reply);
    const limit = request.routeOptions.bodyLimit;
    const detail = limit ? `request body is larger than ${limit} bytes` : 'request body is too large';
    void reply.code(413).send({ code: 'payload_too_large', detail });
  } else if (status >= 400 && status < 500) {
    void reply.code(status).send({ code: CLIENT_ERRORS[status] ?? GENERIC_ERROR, detail: error.message });
  } else {
    request.log.error({ err: error }, 'unhandled error');
    void reply.code(500).send({ code: 'server_error', detail: 'internal server error' });
  }
}

/**
 * A request no route takes: a 405 naming the methods the path has (Allow), as Svix's server answers, or a
 * 404 when it has none. `routes` are the server's route paths per method (`:param` patterns).
 */
export function notFoundHandler(routes: ReadonlyArray<{ method: string; url: string }>) {
  let patterns: Array<{ method: string; pattern: RegExp }> | null = null; // once every route is declared
  return (request: FastifyRequest, reply: FastifyReply): void => {
    patterns ??= routes.map(({ method, url }) => ({ method, pattern: pathPattern(url) }));
    const path = request.url.split('?')[0] ?? '';
    const decoded = path.split('/').map(decodeSegment).join('/'); // as the router reads it
    const allowed = [...new Set(patterns.filter((r) => r.pattern.test(decoded)).map((r) => r.method))];
    if (allowed.length === 0) {
      void reply.code(404).send({ code: 'not_found', detail: `no route for ${request.method} ${path}` });
      return;
    }
    const detail = `${request.method} is not allowed on ${path}: use ${allowed.join(', ')}`;
    void reply.code(405).header('allow', allowed.join(', ')).send({ code: 'method_not_allowed', detail });
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function pathPattern(url: string): RegExp {
  const segment = (s: string) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${url.split('/').map(segment).join('/')}/?$`);
}

/**
 * What Node's HTTP parser refuses before any route sees the request (a malformed request line or header,
 * headers past Node's 16 KiB, a request not received within requestTimeoutMs), answered with the API's
 * error body. The connection then closes: the parser cannot read on.
 */
export function clientErrorHandler(error: Error & { code?: string; reason?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, code, detail] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'request_timeout', 'the request did not arrive whole in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'header_too_large', 'the request headers exceed 16 KiB']
        : [400, 'Bad Request', GENERIC_ERROR, `malformed HTTP request: ${error.reason ?? error.message}`];
  const body = JSON.stringify({ code, detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
