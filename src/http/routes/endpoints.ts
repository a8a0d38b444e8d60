import {
  createEndpoint,
  deleteEndpoint,
  type EndpointPatch,
  listEndpoints,
  patchEndpoint,
  resolveEndpoint,
  upsertEndpoint,
} from '../../app/endpoints.ts';
import { aliased } from '../alias.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent } from '../context.ts';
import { endpointOut, pageOut } from '../dto.ts';
import { pageQuery } from '../query.ts';
import { AppParams, EndpointParams, ListQuery, ListResponse } from '../schemas/common.ts';
import {
  EndpointIn,
  EndpointOut,
  EndpointUpdate,
  EndpointPatch as PatchSchema,
} from '../schemas/endpoints.ts';
import { refuseUnsupported } from '../unsupported.ts';
import { rateOf } from './applications.ts';

interface Settings {
  uid?: string | null;
  description?: string;
  version?: number | null;
  disabled?: boolean;
  eventTypes?: string[] | null;
  filterTypes?: string[] | null;
  channels?: string[] | null;
  metadata?: Record<string, string>;
  throttleRate?: number | null;
  rateLimit?: number | null;
}

/** An empty filter filters nothing: stored as none. */
const orNull = (list: string[] | null | undefined) => (list?.length === 0 ? null : list);

/** Accepts the reference's eventTypes/throttleRate and the SDK's filterTypes/rateLimit. */
export function settingsOf(body: Settings): EndpointPatch {
  return {
    uid: body.uid,
    description: body.description,
    version: body.version ?? undefined,
    disabled: body.disabled,
    filterTypes: aliased<string[]>(
      { filterTypes: orNull(body.filterTypes), eventTypes: orNull(body.eventTypes) },
      ['filterTypes', 'eventTypes'],
    ),
    filterTypesField:
      orNull(body.filterTypes) == null && body.eventTypes !== undefined ? 'eventTypes' : 'filterTypes',
    channels: orNull(body.channels),
    metadata: body.metadata,
    rateLimit: rateOf(body),
  };
}

const tags = ['Endpoint'];

export function endpointRoutes(api: Api, { deps }: RouteContext): void {
  api.get(
    '/app/:app_id/endpoint',
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.list',
        params: AppParams,
        querystring: ListQuery,
        response: { 200: ListResponse(EndpointOut) },
      },
    },
    async (request) =>
      pageOut(
        await listEndpoints(
          deps,
          request.scope,
          request.params.app_id,
          pageQuery(request.query, 'ep', request.query.order),
        ),
        endpointOut,
      ),
  );

  api.post(
    '/app/:app_id/endpoint',
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.create',
        params: AppParams,
        body: EndpointIn,
        response: { 201: EndpointOut },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const input = {
        ...settingsOf(body),
        url: body.url,
        secret: body.secret,
        headers: body.headers ?? undefined,
      };
      return reply
        .code(201)
        .send(endpointOut(await createEndpoint(deps, request.scope, request.params.app_id, input)));
    },
  );

  api.get(
    '/app/:app_id/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.get',
        params: EndpointParams,
        response: { 200: EndpointOut },
      },
    },
    async (request) =>
      endpointOut(
        await resolveEndpoint(deps, request.scope, request.params.app_id, request.params.endpoint_id),
      ),
  );

  api.put(
    '/app/:app_id/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.update',
        params: EndpointParams,
        body: EndpointUpdate,
        response: { 200: EndpointOut, 201: EndpointOut },
      },
    },
    async (request, reply) => {
      const { app_id, endpoint_id } = request.params;
      // Not EndpointUpdate's: dropped, a secret or headers given here would be lost without a word.
      const { secret, headers } = request.body as { secret?: unknown; headers?: unknown };
      refuseUnsupported('body', { secret, headers });
      const input = { ...settingsOf(request.body), url: request.body.url };
      const { endpoint, created } = await upsertEndpoint(deps, request.scope, app_id, endpoint_id, input);
      return reply.code(created ? 201 : 200).send(endpointOut(endpoint));
    },
  );

  api.patch(
    '/app/:app_id/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        operationId: 'patch_endpoint',
        params: EndpointParams,
        body: PatchSchema,
        response: { 200: EndpointOut },
      },
    },
    async (request) => {
      const { app_id, endpoint_id } = request.params;
      const patch = { ...settingsOf(request.body), url: request.body.url, secret: request.body.secret };
      return endpointOut(await patchEndpoint(deps, request.scope, app_id, endpoint_id, patch));
    },
  );

  api.delete(
    '/app/:app_id/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.delete',
        params: EndpointParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await deleteEndpoint(deps, request.scope, request.params.app_id, request.params.endpoint_id);
      return noContent(reply);
    },
  );
}
