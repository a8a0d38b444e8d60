// Bearer-token authentication: every route needs a token unless its config says `public` (the server
// attaches this hook to the other routes only).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../app/auth.ts';
import { requireAdmin, type Scope } from '../app/context.ts';
import { DoorbellError } from '../core/errors.ts';

function accept(request: FastifyRequest, token: string, scope: Scope | null, admin: boolean): void {
  if (!scope) throw new DoorbellError('authentication_failed', 'invalid token');
  if (admin) requireAdmin(scope);
  request.scope = scope;
  request.bearer = token;
}

/**
 * Node keeps the first of several Authorization headers and drops the others without a word: a proxy in
 * front that reads another one would authenticate someone else. Several are refused.
 */
function authorizationHeaders(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (name.length === 13 && name.toLowerCase() === 'authorization') n++;
  }
  return n;
}

/**
 * A token verified recently is accepted synchronously through `done`, without the promise and microtask
 * turns an async hook costs on every request; otherwise the hook returns a promise, which Fastify
 * awaits as it would an async hook's. On a route only the admin token may use (`config.admin`), another
 * token is refused here, before its body is read and checked (a 403, not the body's 422).
 */
export function authHook(auth: Authenticator, now: () => number, admin: boolean) {
  return (request: FastifyRequest, _reply: FastifyReply, done: () => void): Promise<void> | undefined => {
    if (authorizationHeaders(request.raw.rawHeaders) > 1)
      throw new DoorbellError('authentication_failed', 'more than one Authorization header');
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = match?.[1];
    if (!token) throw new DoorbellError('authentication_failed', 'missing bearer token');
    const at = now();
    const scope = auth.cached(token, at);
    if (!scope) return auth.verify(token, at).then((verified) => accept(request, token, verified, admin));
    accept(request, token, scope, admin);
    done();
    return undefined;
  };
}
