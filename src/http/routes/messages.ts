import type { FastifyContextConfig, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppDeps } from '../../app/context.ts';
import {
  expungeAllMessages,
  expungeMessage,
  listMessageEndpoints,
  listMessages,
  resendMessage,
  resolveMessage,
} from '../../app/messages.ts';
import { type KeepFor, precheckMessage, publishMessage } from '../../app/publish.ts';
import { invalid, isDoorbellError } from '../../core/errors.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, sendJson } from '../context.ts';
import { endpointOut, iso, messageJson, pageJson, pageOut, statusFields, withoutPayload } from '../dto.ts';
import { eventTypesFilter, pageQuery, timedPageQuery, toMs } from '../query.ts';
import { memberText, rawParamsPayload } from '../raw-payload.ts';
import {
  AppParams,
  Empty,
  ListResponse,
  MsgParams,
  PageParams,
  Uid,
  WithContent,
} from '../schemas/common.ts';
import { MessageEndpointOut } from '../schemas/endpoints.ts';
import {
  ExpungeAllContentsOut,
  MessageIn,
  MessageListQuery,
  MessageOut,
  MessagePrecheckIn,
  MessagePrecheckOut,
} from '../schemas/messages.ts';
import { rateOf } from './applications.ts';

const HOUR = 3600 * 1000;
const MAX_DELAY_MS = 24 * HOUR;

/**
 * MessageIn.deliverAt: as in Svix, at most 24 hours ahead. Svix also asks for at least a minute; here a
 * nearer time is kept (and one already past is delivered at once), so a client's clock a little off
 * does not fail its publish.
 */
function deliverAtOf(value: string | null | undefined, now: number): number | null {
  const at = toMs(value);
  if (at !== null && at > now + MAX_DELAY_MS)
    throw invalid(['body', 'deliverAt'], 'must be at most 24 hours in the future');
  return at;
}
const tags = ['Message'];

/**
 * For a route answering with a message (publish, send-example): an idempotency key keeps the answer
 * without its payload, and a repeat reads the message again, so a payload expunged or expired since
 * shows as such (`{"expired":true}`, also once the message is deleted) and is never kept aside.
 */
export function keptMessage(deps: AppDeps): NonNullable<FastifyContextConfig['idempotent']> {
  return {
    keep: (json) => withoutPayload(json),
    async replay(request, kept) {
      const { app_id } = request.params as { app_id: string };
      const withContent = (request.query as { with_content?: boolean } | undefined)?.with_content ?? true;
      const { id } = JSON.parse(kept) as { id: string };
      const message = await resolveMessage(deps, request.scope, app_id, id).catch((error: unknown) => {
        if (isDoorbellError(error) && error.code === 'not_found') return null; // deleted since
        throw error;
      });
      if (message) return messageJson(message, withContent);
      return withContent ? withoutPayload(kept, '{"expired":true}') : kept;
    },
  };
}

/**
 * What a route with keptMessage gives the publish it runs: its idempotency key's answer (`statusCode`,
 * the message as JSON), kept in the message's own commit (PublishItem.kept); none without a key.
 */
export function keepOnCommit(
  request: FastifyRequest,
  statusCode: number,
  withContent: boolean,
): KeepFor | undefined {
  const keep = request.idempotency?.keep;
  return keep && ((message) => keep(statusCode, messageJson(message, withContent)));
}

export function messageRoutes(api: Api, { deps, wake }: RouteContext): void {
  api.get(
    '/app/:app_id/msg',
    {
      schema: {
        tags,
        operationId: 'v1.message.list',
        params: AppParams,
        querystring: MessageListQuery,
        response: { 200: ListResponse(MessageOut) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await listMessages(deps, request.scope, request.params.app_id, {
        ...timedPageQuery(q, 'msg'),
        channel: q.channel ?? null,
        tag: q.tag ?? null,
        eventTypes: eventTypesFilter(q.event_types),
        withContent: q.with_content ?? true,
      });
      return sendJson(
        reply,
        200,
        pageJson(page, (m) => messageJson(m, q.with_content ?? true)),
      );
    },
  );

  api.post(
    '/app/:app_id/msg',
    {
      schema: {
        tags,
        operationId: 'v1.message.create',
        params: AppParams,
        querystring: WithContent,
        body: MessageIn,
        response: { 202: MessageOut },
      },
      config: { admin: true, idempotent: keptMessage(deps) },
    },
    async (request, reply) => {
      const body = request.body;
      // The exact bytes the publisher sent for `payload` (or as messageInRaw's text) are what endpoints
      // receive.
      const payload =
        rawParamsPayload(body.transformationsParams, body.payload) ??
        memberText(request.rawBody, 'payload', body.payload);
      const retentionMs = body.payloadRetentionHours
        ? body.payloadRetentionHours * HOUR
        : body.payloadRetentionPeriod
          ? body.payloadRetentionPeriod * 24 * HOUR
          : null;
      const application = body.application
        ? { ...body.application, rateLimit: rateOf(body.application, ['body', 'application']) }
        : null;
      const withContent = request.query.with_content ?? true;
      const message = await publishMessage(
        deps,
        request.scope,
        request.params.app_id,
        {
          eventType: body.eventType,
          eventId: body.eventId ?? null,
          channels: body.channels ?? null,
          payload,
          retentionMs,
          application,
          deliverAt: deliverAtOf(body.deliverAt, deps.now()),
          tags: body.tags ?? null,
        },
        keepOnCommit(request, 202, withContent),
      );
      return sendJson(reply, 202, messageJson(message, withContent));
    },
  );

  api.get(
    '/app/:app_id/msg/:msg_id',
    {
      schema: {
        tags,
        operationId: 'v1.message.get',
        params: MsgParams,
        querystring: WithContent,
        response: { 200: MessageOut },
      },
    },
    async (request, reply) => {
      const message = await resolveMessage(deps, request.scope, request.params.app_id, request.params.msg_id);
      return sendJson(reply, 200, messageJson(message, request.query.with_content ?? true));
    },
  );

  // The Svix SDK's message.precheck (not in the reference).
  api.post(
    '/app/:app_id/msg/precheck/active',
    {
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.message.precheck',
        description: 'Whether a message of this event type and channels would now go to any endpoint.',
        params: AppParams,
        body: MessagePrecheckIn,
        response: { 200: MessagePrecheckOut },
      },
    },
    async (request) => ({
      active: await precheckMessage(deps, request.scope, request.params.app_id, request.body),
    }),
  );

  // The Svix SDK's message.expungeAllContents (not in the reference). A message whose id or eventId is
  // `expunge-all-contents` is still read by GET: the route is POST only.
  api.post(
    '/app/:app_id/msg/expunge-all-contents',
    {
      schema: {
        tags,
        operationId: 'v1.message.expunge-all-contents',
        description:
          "Deletes the payloads of all the application's messages published so far, as expunge-content " +
          "does one message's. Done by the time it answers: the task it names has finished.",
        params: AppParams,
        response: { 202: ExpungeAllContentsOut },
      },
    },
    async (request, reply) => {
      const done = await expungeAllMessages(deps, request.scope, request.params.app_id);
      return reply.code(202).send({ ...done, updatedAt: iso(done.updatedAt) });
    },
  );

  api.delete(
    '/app/:app_id/msg/:msg_id/content',
    {
      schema: {
        tags,
        operationId: 'v1.message.expunge-content',
        params: MsgParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await expungeMessage(deps, request.scope, request.params.app_id, request.params.msg_id);
      return noContent(reply);
    },
  );

  api.get(
    '/app/:app_id/msg/:msg_id/endpoint',
    {
      schema: {
        tags: ['Message Attempt'],
        operationId: 'v1.message-attempt.list-attempted-destinations',
        params: MsgParams,
        querystring: Type.Object(PageParams),
        response: { 200: ListResponse(MessageEndpointOut) },
      },
    },
    async (request) => {
      const ref = { app: request.params.app_id, msg: request.params.msg_id };
      const page = await listMessageEndpoints(deps, request.scope, ref, pageQuery(request.query, 'ep'));
      return pageOut(page, ({ task, endpoint }) => ({
        ...endpointOut(endpoint),
        ...statusFields(task),
      }));
    },
  );

  api.post(
    '/app/:app_id/msg/:msg_id/endpoint/:endpoint_id/resend',
    {
      schema: {
        tags: ['Message Attempt'],
        operationId: 'v1.message-attempt.resend',
        params: Type.Object({ app_id: Uid, msg_id: Uid, endpoint_id: Uid }),
        response: { 202: Empty },
      },
    },
    async (request, reply) => {
      const { app_id, msg_id, endpoint_id } = request.params;
      await resendMessage(deps, request.scope, { app: app_id, msg: msg_id, endpoint: endpoint_id });
      wake();
      return reply.code(202).send({});
    },
  );
}
