// Bearer-token authentication: every route needs a token unless its config says `public`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../app/auth.ts';
import { DoorbellError } from '../core/errors.ts';

export function authHook(auth: Authenticator, now: () => number) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (request.routeOptions.config?.public || !request.routeOptions.url) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new DoorbellError('authentication_failed', 'missing bearer token');
    const scope = await auth.verify(match[1], now());
    if (!scope) throw new DoorbellError('authentication_failed', 'invalid token');
    request.scope = scope;
    request.bearer = match[1];
  };
}
