// What routes receive, and the request fields the hooks fill in.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { Authenticator } from '../app/auth.ts';
import type { Scope } from '../app/context.ts';
import type { EndpointDeps } from '../app/endpoints.ts';
import type { PublishDeps } from '../app/publish.ts';
import type { IdempotentRequest } from './idempotency.ts';

export type Api = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface RouteContext {
  deps: EndpointDeps & PublishDeps;
  auth: Authenticator;
  wake: () => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    scope: Scope;
    rawBody: string | null;
    bearer: string | null;
    idempotency: IdempotentRequest | null;
  }
  interface FastifyContextConfig {
    public?: boolean; // no token needed
    admin?: boolean; // a route with a body only the admin token may use: another is refused before it is read
    errors?: readonly number[]; // the error statuses a public route answers, for the API document
    /**
     * For a response holding content an operator may erase: what an idempotency key keeps of its body,
     * and how a repeat's answer is made from that again (as things are then).
     */
    idempotent?: {
      keep(body: string): string;
      replay(request: FastifyRequest, kept: string): Promise<string>;
    };
  }
}

const asIs = (x: unknown) => x as string; // one function for every reply, not a closure per call

/** Sends JSON text as it is (bodies whose payload bytes must survive untouched). */
export function sendJson(reply: import('fastify').FastifyReply, status: number, json: string) {
  return reply
    .code(status)
    .header('content-type', 'application/json; charset=utf-8')
    .serializer(asIs)
    .send(json);
}

/** 204 with no body. */
export function noContent(reply: import('fastify').FastifyReply) {
  return reply.code(204).send();
}

/** preValidation for routes whose body is optional (every field optional): no body means {}. */
export async function optionalBody(request: import('fastify').FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}
