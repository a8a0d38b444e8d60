import { Type } from 'typebox';
import {
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  patchApplication,
  upsertApplication,
} from '../../app/applications.ts';
import { aliased } from '../alias.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent } from '../context.ts';
import { applicationOut, pageOut } from '../dto.ts';
import { pageQuery } from '../query.ts';
import { ApplicationIn, ApplicationOut, ApplicationPatch } from '../schemas/applications.ts';
import { AppParams, ListQuery, ListResponse } from '../schemas/common.ts';
import { refuseUnsupported } from '../unsupported.ts';

type In = {
  name: string;
  uid?: string | null;
  metadata?: Record<string, string>;
  throttleRate?: number | null;
  rateLimit?: number | null;
};

/** The SDK spells it rateLimit, the reference throttleRate; undefined means "not given". */
export const rateOf = (
  body: { throttleRate?: number | null; rateLimit?: number | null },
  loc: readonly string[] = ['body'],
) => aliased<number>(body, ['rateLimit', 'throttleRate'], loc);

const input = (body: In) => ({
  name: body.name,
  uid: body.uid,
  metadata: body.metadata,
  rateLimit: rateOf(body),
});
const tags = ['Application'];

// The svix SDK's list filters: Doorbell has no Svix Play endpoints, so excluding apps with one excludes none.
const AppListQuery = Type.Object({
  ...ListQuery.properties,
  exclude_apps_with_no_endpoints: Type.Optional(Type.Boolean()),
  exclude_apps_with_disabled_endpoints: Type.Optional(Type.Boolean()),
  exclude_apps_with_svix_play_endpoints: Type.Optional(Type.Boolean()),
});

export function applicationRoutes(api: Api, { deps }: RouteContext): void {
  api.get(
    '/app',
    {
      schema: {
        tags,
        operationId: 'v1.application.list',
        querystring: AppListQuery,
        response: { 200: ListResponse(ApplicationOut) },
      },
    },
    async (request) => {
      const q = request.query;
      refuseUnsupported('query', {
        exclude_apps_with_no_endpoints: q.exclude_apps_with_no_endpoints,
        exclude_apps_with_disabled_endpoints: q.exclude_apps_with_disabled_endpoints,
      });
      return pageOut(
        await listApplications(deps, request.scope, pageQuery(q, 'app', q.order)),
        applicationOut,
      );
    },
  );

  api.post(
    '/app',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.application.create',
        querystring: Type.Object({ get_if_exists: Type.Optional(Type.Boolean({ default: false })) }),
        body: ApplicationIn,
        response: { 200: ApplicationOut, 201: ApplicationOut },
      },
    },
    async (request, reply) => {
      const { app, created } = await createApplication(
        deps,
        request.scope,
        input(request.body),
        request.query.get_if_exists ?? false,
      );
      return reply.code(created ? 201 : 200).send(applicationOut(app));
    },
  );

  api.get(
    '/app/:app_id',
    {
      schema: {
        tags,
        operationId: 'v1.application.get',
        params: AppParams,
        response: { 200: ApplicationOut },
      },
    },
    async (request) => applicationOut(await getApplication(deps, request.scope, request.params.app_id)),
  );

  api.put(
    '/app/:app_id',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.application.update',
        params: AppParams,
        body: ApplicationIn,
        response: { 200: ApplicationOut, 201: ApplicationOut },
      },
    },
    async (request, reply) => {
      const { app, created } = await upsertApplication(
        deps,
        request.scope,
        request.params.app_id,
        input(request.body),
      );
      return reply.code(created ? 201 : 200).send(applicationOut(app));
    },
  );

  api.patch(
    '/app/:app_id',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'patch_application',
        params: AppParams,
        body: ApplicationPatch,
        response: { 200: ApplicationOut },
      },
    },
    async (request) => {
      const body = request.body;
      const patch = { name: body.name, uid: body.uid, metadata: body.metadata, rateLimit: rateOf(body) };
      return applicationOut(await patchApplication(deps, request.scope, request.params.app_id, patch));
    },
  );

  api.delete(
    '/app/:app_id',
    {
      schema: {
        tags,
        operationId: 'v1.application.delete',
        params: AppParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await deleteApplication(deps, request.scope, request.params.app_id);
      return noContent(reply);
    },
  );
}
