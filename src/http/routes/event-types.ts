import { Type } from 'typebox';
import {
  createEventType,
  deleteEventType,
  getEventType,
  listEventTypes,
  patchEventType,
  upsertEventType,
} from '../../app/event-types.ts';
import { aliased } from '../alias.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent } from '../context.ts';
import { eventTypeOut, pageOut } from '../dto.ts';
import { pageQuery } from '../query.ts';
import { ListResponse, Ordering, PageParams } from '../schemas/common.ts';
import {
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
 * `groupName` is refused when set.
 */
function withFlag<
  T extends { featureFlag?: string | null; featureFlags?: string[] | null; groupName?: string | null },
>(body: T): Omit<T, 'featureFlags' | 'groupName'> {
  const { featureFlags, groupName, ...rest } = body;
  refuseUnsupported('body', { groupName });
  if (featureFlags === undefined) return rest;
  const flags = { featureFlags: featureFlags?.[0] ?? null, featureFlag: body.featureFlag };
  return { ...rest, featureFlag: aliased<string>(flags, ['featureFlags', 'featureFlag']) ?? null };
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
    async (request) => {
      const q = request.query;
      const page = await listEventTypes(deps, request.scope, {
        ...pageQuery(q, 'name', q.order),
        includeArchived: q.include_archived ?? false,
      });
      return pageOut(page, (e) => eventTypeOut(e, q.with_content ?? false));
    },
  );

  api.post(
    '/event-type',
    {
      schema: {
        tags,
        operationId: 'v1.event-type.create',
        body: EventTypeIn,
        response: { 201: EventTypeOut },
      },
    },
    async (request, reply) =>
      reply.code(201).send(eventTypeOut(await createEventType(deps, request.scope, withFlag(request.body)))),
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
    async (request) => eventTypeOut(await getEventType(deps, request.scope, request.params.event_type_name)),
  );

  api.put(
    '/event-type/:event_type_name',
    {
      schema: {
        tags,
        operationId: 'v1.event-type.update',
        params: EventTypeParams,
        body: EventTypeUpdate,
        response: { 200: EventTypeOut, 201: EventTypeOut },
      },
    },
    async (request, reply) => {
      const input = { ...withFlag(request.body), name: request.params.event_type_name };
      const { eventType, created } = await upsertEventType(deps, request.scope, input);
      return reply.code(created ? 201 : 200).send(eventTypeOut(eventType));
    },
  );

  api.patch(
    '/event-type/:event_type_name',
    {
      schema: {
        tags,
        operationId: 'patch_event_type',
        params: EventTypeParams,
        body: EventTypePatch,
        response: { 200: EventTypeOut },
      },
    },
    async (request) =>
      eventTypeOut(
        await patchEventType(deps, request.scope, request.params.event_type_name, withFlag(request.body)),
      ),
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
