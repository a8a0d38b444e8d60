import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  createEventType,
  deleteEventType,
  getEventType,
  listEventTypes,
  patchEventType,
  upsertEventType,
} from '../../app/event-types.ts';
import { importOpenApi } from '../../app/event-types-import.ts';
import { aliased } from '../alias.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, sendJson } from '../context.ts';
import { eventTypeJson, pageJson } from '../dto.ts';
import { pageQuery } from '../query.ts';
import { memberText } from '../raw-payload.ts';
import { ListResponse, Ordering, PageParams } from '../schemas/common.ts';
import {
  EventTypeImportOpenApiIn,
  EventTypeImportOpenApiOut,
  EventTypeIn,
  EventTypeOut,
  EventTypeParams,
  EventTypePatch,
  EventTypeUpdate,
} from '../schemas/event-types.ts';
import { refuseUnsupported } from '../unsupported.ts';

const tags = ['Event Type'];

/**
 * `featureFlags` (the Svix SDK's newer spelling, one flag at most here) as `featureFlag`; the SDK's
 * `groupName` is refused when set (`at`: where the object is in the body).
 */
export function withFlag<
  T extends { featureFlag?: string | null; featureFlags?: string[] | null; groupName?: string | null },
>(body: T, at: readonly string[] = ['body']): Omit<T, 'featureFlags' | 'groupName'> {
  const { featureFlags, groupName, ...rest } = body;
  refuseUnsupported(at, { groupName });
  if (featureFlags === undefined) return rest;
  const flags = { featureFlags: featureFlags?.[0] ?? null, featureFlag: body.featureFlag };
  return { ...rest, featureFlag: aliased<string>(flags, ['featureFlags', 'featureFlag'], at) ?? null };
}

/**
 * The body as EventTypeInput: featureFlags read (withFlag), schemas as the client wrote them
 * (memberText), so that send-example sends an example's text as it is.
 */
function inputOf<
  T extends {
    schemas?: object | null;
    featureFlag?: string | null;
    featureFlags?: string[] | null;
    groupName?: string | null;
  },
>(request: FastifyRequest, body: T) {
  const { schemas } = body;
  return {
    ...withFlag(body),
    schemas: schemas == null ? schemas : memberText(request.rawBody, 'schemas', schemas),
  };
}

export function eventTypeRoutes(api: Api, { deps }: RouteContext): void {
  api.get(
    '/event-type',
    {
      schema: {
        tags,
        operationId: 'v1.event-type.list',
        querystring: Type.Object({
          ...PageParams,
          order: Type.Optional(Ordering),
          include_archived: Type.Optional(Type.Boolean({ default: false })),
          with_content: Type.Optional(Type.Boolean({ default: false })),
        }),
        response: { 200: ListResponse(EventTypeOut) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const withContent = q.with_content ?? false;
      const page = await listEventTypes(deps, request.scope, {
        ...pageQuery(q, 'name', q.order),
        includeArchived: q.include_archived ?? false,
        withContent,
      });
      return sendJson(
        reply,
        200,
        pageJson(page, (e) => eventTypeJson(e, withContent)),
      );
    },
  );

  api.post(
    '/event-type',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.event-type.create',
        body: EventTypeIn,
        response: { 201: EventTypeOut },
      },
    },
    async (request, reply) => {
      const eventType = await createEventType(deps, request.scope, inputOf(request, request.body));
      return sendJson(reply, 201, eventTypeJson(eventType));
    },
  );

  api.post(
    '/event-type/import/openapi',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.event-type.import-openapi',
        body: EventTypeImportOpenApiIn,
        response: { 200: EventTypeImportOpenApiOut },
      },
    },
    async (request) => {
      const { modified, toModify } = await importOpenApi(deps, request.scope, request.body);
      return { data: toModify ? { modified, to_modify: toModify } : { modified } };
    },
  );

  api.get(
    '/event-type/:event_type_name',
    {
      schema: {
        tags,
        operationId: 'v1.event-type.get',
        params: EventTypeParams,
        response: { 200: EventTypeOut },
      },
    },
    async (request, reply) => {
      const eventType = await getEventType(deps, request.scope, request.params.event_type_name);
      return sendJson(reply, 200, eventTypeJson(eventType));
    },
  );

  api.put(
    '/event-type/:event_type_name',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.event-type.update',
        params: EventTypeParams,
        body: EventTypeUpdate,
        response: { 200: EventTypeOut, 201: EventTypeOut },
      },
    },
    async (request, reply) => {
      const input = { ...inputOf(request, request.body), name: request.params.event_type_name };
      const { eventType, created } = await upsertEventType(deps, request.scope, input);
      return sendJson(reply, created ? 201 : 200, eventTypeJson(eventType));
    },
  );

  api.patch(
    '/event-type/:event_type_name',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'patch_event_type',
        params: EventTypeParams,
        body: EventTypePatch,
        response: { 200: EventTypeOut },
      },
    },
    async (request, reply) => {
      const patch = inputOf(request, request.body);
      const eventType = await patchEventType(deps, request.scope, request.params.event_type_name, patch);
      return sendJson(reply, 200, eventTypeJson(eventType));
    },
  );

  api.delete(
    '/event-type/:event_type_name',
    {
      schema: {
        tags,
        operationId: 'v1.event-type.delete',
        params: EventTypeParams,
        querystring: Type.Object({ expunge: Type.Optional(Type.Boolean({ default: false })) }),
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await deleteEventType(
        deps,
        request.scope,
        request.params.event_type_name,
        request.query.expunge ?? false,
      );
      return noContent(reply);
    },
  );
}
