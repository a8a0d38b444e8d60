// The REST API (Svix-compatible, reference/svix-server-openapi.json) as a Fastify instance that does not
// listen: the composition root listens, tests use inject().
import { isAscii, isUtf8 } from 'node:buffer';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { createAuthenticator } from '../app/auth.ts';
import { createPublisher } from '../app/publish.ts';
import { PublishCache } from '../app/publish-cache.ts';
import type { Config } from '../config/config.ts';
import { undecodable } from '../core/errors.ts';
import { jsonLimitIssue } from '../core/json-limits.ts';
import { parseCidrs } from '../core/ssrf.ts';
import type { Store } from '../store/store.ts';
import { authHook } from './auth-hook.ts';
import { bodyAdmission } from './body-budget.ts';
import type { RouteContext } from './context.ts';
import { clientErrorHandler, closeAfter, errorHandler, notFoundHandler } from './errors.ts';
import { idempotencyHooks } from './idempotency.ts';
import { isClosing } from './lingering-close.ts';
import { documentObject, documentRoute } from './openapi.ts';
import { parseQueryString } from './query.ts';
import { applicationRoutes } from './routes/applications.ts';
import { attemptRoutes } from './routes/attempts.ts';
import { authRoutes } from './routes/auth.ts';
import { backgroundTaskRoutes } from './routes/background-tasks.ts';
import { endpointActionRoutes } from './routes/endpoint-actions.ts';
import { endpointRoutes } from './routes/endpoints.ts';
import { environmentRoutes } from './routes/environment.ts';
import { eventTypeRoutes } from './routes/event-types.ts';
import { healthRoutes } from './routes/health.ts';
import { messageRoutes } from './routes/messages.ts';
import { closeUnreadConnections } from './send-timeout.ts';
import { validatorCompiler } from './validators.ts';

export interface ServerDeps {
  store: Store;
  config: Readonly<Config>;
  now: () => number;
  wake: () => void; // called after a publish/resend/recover commits: new tasks are due
  logger?: FastifyServerOptions['logger']; // off unless given
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.config.bodyLimit,
    requestTimeout: deps.config.requestTimeoutMs,
    // Given to Node at the server's creation too: only then does Node hold requests to it (set afterwards,
    // as fastify does, a request whose body never came was cut at the 60 s headers timeout). Node checks
    // every 30 s by default: a request could outlive the limit by that much.
    http: {
      requestTimeout: deps.config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(deps.config.requestTimeoutMs / 2)),
    },
    // maxParamLength: past fastify's default of 100, so that a 256-character uid or event type name
    // reaches its route (whose schema allows 256) and a longer one gets the API's 422. A trailing slash
    // is ignored, as Svix's server trims it (its older SDKs send one).
    routerOptions: { maxParamLength: 1024, ignoreTrailingSlash: true, querystringParser: parseQueryString },
    // The router's own refusals (a segment past maxParamLength: 414; a malformed URL: 400) as API errors.
    frameworkErrors: errorHandler,
    clientErrorHandler,
    return503OnClosing: false, // answered below, as the API's other 503s are
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  closeUnreadConnections(app.server, deps.config.sendTimeoutMs);

  // JSON bodies keep their raw text: MessageIn.payload is delivered byte for byte.
  app.decorateRequest('rawBody', null);
  app.decorateRequest('scope', null as never);
  app.decorateRequest('bearer', null);
  app.decorateRequest('idempotency', null);
  const unsupported = (message: string) => Object.assign(new Error(message), { statusCode: 415 });
  // Every body is read as JSON, whatever its content-type says, as Svix's server reads it (`curl -d`
  // labels it a form). Its bytes are not decoded otherwise: another encoding or charset is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      return done(unsupported(`content-encoding ${encoding} is not supported: send the JSON body as it is`));
    }
    // JSON is UTF-8 (RFC 8259 §8.1): decoded, invalid bytes would become U+FFFD and the payload delivered
    // would not be the one published. Bytes labelled another charset mean what that charset says, which
    // UTF-8 would change unless they are ASCII, which the usual charsets read alike (UTF-16 and UTF-32 do
    // not; nor do rarer labels such as EBCDIC, UCS-2 or UTF-7, which are not refused yet).
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (
      charset !== undefined &&
      !/^utf-?8$/i.test(charset) &&
      (/^utf-?(16|32)/i.test(charset) || !isAscii(body as Buffer))
    )
      return done(unsupported(`charset ${charset} is not supported: send the JSON body as UTF-8`));
    if (!isUtf8(body as Buffer)) return done(undecodable(['body'], 'the body is not valid UTF-8'), undefined);
    const text = (body as Buffer).toString('utf8');
    request.rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return done(undecodable(['body'], `malformed JSON body: ${(error as Error).message}`), undefined);
    }
    const issue = jsonLimitIssue(value);
    if (issue !== null) return done(undecodable(['body', ...issue.path], issue.msg), undefined);
    done(null, value);
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Doorbell', version: '1.0.0', description: 'Svix-compatible webhook API' },
      components: { securitySchemes: { HTTPBearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ HTTPBearer: [] }],
    },
    transform: documentRoute,
    transformObject: documentObject,
  });

  const publisher = createPublisher(deps.store, deps.wake);
  const ctx: RouteContext = {
    deps: {
      store: deps.store,
      config: deps.config,
      now: deps.now,
      allow: parseCidrs(deps.config.delivery.allowSubnets),
      cache: new PublishCache(deps.now),
      publisher,
    },
    auth: createAuthenticator(deps.store),
    wake: deps.wake,
  };

  app.setErrorHandler(errorHandler);
  const routes: Array<{ method: string; url: string }> = [];
  app.setNotFoundHandler(notFoundHandler(routes));
  // Whether a route is public is known when it is declared: only the others get the auth hook.
  const auth = authHook(ctx.auth, deps.now, false);
  const adminAuth = authHook(ctx.auth, deps.now, true);
  const admit = bodyAdmission(deps.config.bodyBytesInFlight);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
    route.preParsing = [admit, ...[route.preParsing ?? []].flat()];
    if (route.config?.public) return;
    const own = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [route.config?.admin ? adminAuth : auth, ...own];
  });
  const idempotency = idempotencyHooks(deps.store, deps.now, deps.config.idempotencyTtlMs);
  // A request on a connection kept alive while the server drains is answered 503 (to be sent elsewhere,
  // or again). One pipelined behind a response that closes its connection (a 413), or on a connection
  // closed meanwhile (too many pipelined, see connection-cap), is dropped unserved: its answer would
  // never be sent.
  app.addHook('onRequest', (request, reply, done) => {
    if (shuttingDown) {
      closeAfter(request, reply);
      void reply.code(503).header('retry-after', '5');
      return void reply.send({ code: 'unavailable', detail: 'the server is shutting down' });
    }
    const { socket } = request.raw;
    if (!isClosing(socket) && !socket.destroyed) return done();
    reply.hijack(); // ends the lifecycle: no hook or handler runs
    socket.destroy();
    done();
  });
  let shuttingDown = false;
  app.addHook('preClose', (done) => {
    shuttingDown = true;
    done();
  });
  app.addHook('preHandler', idempotency.preHandler);
  // One onSend hook (each one costs every response a turn): a request already running when the server
  // began to close ends its connection with its response (kept alive, the idle connection would hold
  // the close, and the process, until its keep-alive timeout); then idempotency keeps the answer.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (shuttingDown) void reply.header('connection', 'close');
    return idempotency.onSend(request, reply, payload, done);
  });
  app.addHook('onRequestAbort', idempotency.onRequestAbort);
  app.addHook('onClose', async () => {
    await publisher.drain();
  });

  await app.register(
    async (api) => {
      healthRoutes(api, deps.store);
      applicationRoutes(api, ctx);
      eventTypeRoutes(api, ctx);
      endpointRoutes(api, ctx);
      endpointActionRoutes(api, ctx);
      messageRoutes(api, ctx);
      attemptRoutes(api, ctx);
      authRoutes(api, ctx);
      backgroundTaskRoutes(api, ctx);
      environmentRoutes(api, ctx);
      // Made once: every answer is then the same string, which responses waiting on a connection share
      // (serialized each time, 120 kB a request held memory for each one a client pipelined unread).
      let document: string | undefined;
      api.get(
        '/openapi.json',
        { schema: { hide: true }, config: { public: true } },
        async (_request, reply) => {
          if (document === undefined) document = JSON.stringify(app.swagger());
          return reply.type('application/json; charset=utf-8').send(document);
        },
      );
    },
    { prefix: '/api/v1' },
  );
  return app;
}
