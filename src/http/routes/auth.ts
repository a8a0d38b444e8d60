import type { FastifyRequest } from 'fastify';
import { getApplication, getOrCreateApp } from '../../app/applications.ts';
import type { Capability } from '../../app/context.ts';
import { forbidden, invalid } from '../../core/errors.ts';
import { isJsonObject } from '../../core/types.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, optionalBody } from '../context.ts';
import { ApplicationTokenExpireIn, AppPortalAccessIn, AppPortalAccessOut } from '../schemas/applications.ts';
import { AppParams } from '../schemas/common.ts';
import { refuseUnsupported } from '../unsupported.ts';
import { rateOf } from './applications.ts';

const tags = ['Authentication'];

/** The capabilities a portal token is issued with: reading alone, or those named, or null (all). */
function capabilitiesOf(body: { capabilities?: Capability[] | null; readOnly?: boolean | null }) {
  const { capabilities, readOnly } = body;
  if (readOnly) return ['ViewBase'] as Capability[]; // whatever else it names
  if (capabilities) {
    if (!capabilities.includes('ViewBase'))
      throw invalid(['body', 'capabilities'], 'must include ViewBase (reading), which every token has');
    return capabilities;
  }
  return null;
}

export function authRoutes(api: Api, { deps, auth }: RouteContext): void {
  /** Where the portal opens for `appId`, with its token in the fragment (never sent to a server). */
  const portalUrl = (request: FastifyRequest, appId: string, token: string) => {
    const base = deps.config.publicUrl ?? `${request.protocol}://${request.host}`;
    return `${base.replace(/\/$/, '')}/portal/${appId}#token=${token}`;
  };

  api.post(
    '/auth/app-portal-access/:app_id',
    {
      config: { admin: true },
      preValidation: optionalBody,
      schema: {
        tags,
        operationId: 'v1.authentication.app-portal-access',
        params: AppParams,
        body: AppPortalAccessIn,
        response: { 200: AppPortalAccessOut },
      },
    },
    async (request, reply) => {
      void reply.header('cache-control', 'no-store'); // a token: no cache on the way may keep it
      const body = request.body ?? {};
      refuseUnsupported('body', { sessionId: body.sessionId });
      const capabilities = capabilitiesOf(body); // checked before the application may be created
      const application = body.application
        ? { ...body.application, rateLimit: rateOf(body.application, ['body', 'application']) }
        : null;
      const app = await getOrCreateApp(deps, request.scope, request.params.app_id, application);
      const ttl = body.expiry ? body.expiry * 1000 : undefined;
      const token = await auth.issueAppToken(app.id, deps.now(), ttl, body.featureFlags, capabilities);
      return { token, url: portalUrl(request, app.id, token) };
    },
  );

  // Svix's older name for app-portal-access: no body, and the application must exist.
  api.post(
    '/auth/dashboard-access/:app_id',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.authentication.dashboard-access',
        params: AppParams,
        response: { 200: AppPortalAccessOut },
      },
    },
    async (request, reply) => {
      // A body asks for something (readOnly, an expiry…) this route would not give: refused, not dropped.
      const body: unknown = request.body;
      if (body != null && !(isJsonObject(body) && Object.keys(body).length === 0)) {
        const field = isJsonObject(body) ? [Object.keys(body)[0]!] : [];
        throw invalid(
          ['body', ...field],
          'dashboard-access takes no body: app-portal-access issues tokens with settings',
        );
      }
      void reply.header('cache-control', 'no-store');
      const app = await getApplication(deps, request.scope, request.params.app_id);
      const token = await auth.issueAppToken(app.id, deps.now());
      return { token, url: portalUrl(request, app.id, token) };
    },
  );

  api.post(
    '/auth/app/:app_id/expire-all',
    {
      config: { admin: true },
      preValidation: optionalBody,
      schema: {
        tags,
        operationId: 'v1.authentication.expire-all',
        params: AppParams,
        body: ApplicationTokenExpireIn,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      refuseUnsupported('body', { sessionIds: body.sessionIds });
      const app = await getApplication(deps, request.scope, request.params.app_id);
      // Svix: "How many seconds until the old tokens expire"; none given, at once.
      await auth.expireAll(app.id, deps.now(), (body.expiry ?? 0) * 1000);
      return noContent(reply);
    },
  );

  api.post(
    '/auth/logout',
    { schema: { tags, operationId: 'logout_api_v1_auth_logout__post', response: { 204: { type: 'null' } } } },
    async (request, reply) => {
      // Svix: only app tokens log out; the admin token is configured, and stays valid.
      if (request.scope.kind === 'admin') throw forbidden('only an app-portal token can be logged out');
      if (request.bearer) await auth.logout(request.bearer, deps.now());
      return noContent(reply);
    },
  );
}
