import { Type } from 'typebox';
import { resolveEndpoint } from '../../app/endpoints.ts';
import {
  expungeAttempt,
  getAttempt,
  listAttempts,
  listEndpointMessages,
  resolveMessage,
} from '../../app/messages.ts';
import { TASK_STATUS_NAMES } from '../../core/types.ts';
import { PAGE_BYTES, readIterator } from '../../store/page.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, sendJson } from '../context.ts';
import { attemptOut, messageJson, pageJson, pageOut, statusFields } from '../dto.ts';
import { eventTypesFilter, timedPageQuery } from '../query.ts';
import { EndpointParams, ListResponse, Uid } from '../schemas/common.ts';
import {
  AttemptListQuery,
  EndpointAttemptListQuery,
  EndpointMessageOut,
  EndpointMessagesQuery,
  MessageAttemptOut,
} from '../schemas/messages.ts';

const tags = ['Message Attempt'];
const AttemptParams = Type.Object({ app_id: Uid, msg_id: Uid, attempt_id: Uid });

/** Attempts are only ever success (0) or fail (2); other statuses match none. */
function attemptStatus(status: number | null | undefined): 'success' | 'fail' | null | 'none' {
  if (status === undefined || status === null) return null;
  return status === 0 ? 'success' : status === 2 ? 'fail' : 'none';
}

type AttemptQ = {
  limit?: number;
  iterator?: string | null;
  before?: string | null;
  after?: string | null;
  status?: 0 | 1 | 2 | 3 | 4 | null;
  status_code_class?: 0 | 100 | 200 | 300 | 400 | 500 | null;
  channel?: string | null;
  tag?: string | null;
  event_types?: string[];
};

function attemptQuery(q: AttemptQ) {
  return {
    ...timedPageQuery(q, 'atmpt'),
    statusCodeClass: q.status_code_class ?? null,
    channel: q.channel ?? null,
    tag: q.tag ?? null,
    eventTypes: eventTypesFilter(q.event_types),
  };
}

const empty = { data: [], iterator: null, prevIterator: null, done: true };

export function attemptRoutes(api: Api, { deps }: RouteContext): void {
  api.get(
    '/app/:app_id/attempt/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        operationId: 'v1.message-attempt.list-by-endpoint',
        params: EndpointParams,
        querystring: EndpointAttemptListQuery,
        response: { 200: ListResponse(MessageAttemptOut) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const query = attemptQuery(q); // validated even when the status matches nothing
      const endpoint = await resolveEndpoint(
        deps,
        request.scope,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const status = attemptStatus(q.status);
      if (status === 'none') return empty;
      const list = (limit: number) =>
        listAttempts(deps, request.scope, endpoint.appId, {
          ...query,
          limit,
          endpointId: endpoint.id,
          status,
        });
      let page = await list(query.limit);
      const withContent = q.with_content ?? true;
      if (!q.with_msg) return pageOut(page, (a) => attemptOut(a, withContent));
      // Each attempt with its message, whose payload is spliced in as stored (see messageJson).
      const messages = new Map<string, string>();
      const messageOf = async (id: string) => {
        let json = messages.get(id);
        if (json === undefined) {
          const message = await deps.store.messages.get(endpoint.appId, id);
          json = message ? messageJson(message, withContent) : 'null';
          messages.set(id, json);
        }
        return json;
      };
      // Their messages within a page's bytes, as pages of messages are: read in scan order until past
      // them, and then the page is asked again for as many as fit.
      const scanned = readIterator(query.iterator).backwards ? [...page.data].reverse() : page.data;
      let [fit, bytes] = [0, 0];
      for (const a of scanned) {
        bytes += (await messageOf(a.msgId)).length;
        if (bytes > PAGE_BYTES && fit > 0) break;
        fit++;
      }
      if (fit < page.data.length) page = await list(fit);
      for (const a of page.data) await messageOf(a.msgId); // any that came meanwhile
      const withMsg = (a: (typeof page.data)[number]) =>
        `${JSON.stringify(attemptOut(a, withContent)).slice(0, -1)},"msg":${messages.get(a.msgId)}}`;
      return sendJson(reply, 200, pageJson(page, withMsg));
    },
  );

  api.get(
    '/app/:app_id/attempt/msg/:msg_id',
    {
      schema: {
        tags,
        operationId: 'v1.message-attempt.list-by-msg',
        params: Type.Object({ app_id: Uid, msg_id: Uid }),
        querystring: AttemptListQuery,
        response: { 200: ListResponse(MessageAttemptOut) },
      },
    },
    async (request) => {
      const q = request.query;
      const filters = attemptQuery(q); // validated even when the status matches nothing
      const message = await resolveMessage(deps, request.scope, request.params.app_id, request.params.msg_id);
      const endpointId = q.endpoint_id
        ? (await resolveEndpoint(deps, request.scope, message.appId, q.endpoint_id)).id
        : null;
      const status = attemptStatus(q.status);
      if (status === 'none') return empty;
      const query = { ...filters, msgId: message.id, endpointId, status };
      return pageOut(await listAttempts(deps, request.scope, message.appId, query), (a) =>
        attemptOut(a, q.with_content ?? true),
      );
    },
  );

  api.get(
    '/app/:app_id/endpoint/:endpoint_id/msg',
    {
      schema: {
        tags,
        operationId: 'v1.message-attempt.list-attempted-messages',
        params: EndpointParams,
        querystring: EndpointMessagesQuery,
        response: { 200: ListResponse(EndpointMessageOut) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const ref = { app: request.params.app_id, endpoint: request.params.endpoint_id };
      // Validated even when the status matches nothing.
      const query = {
        ...timedPageQuery(q, 'msg'),
        channel: q.channel ?? null,
        tag: q.tag ?? null,
        eventTypes: eventTypesFilter(q.event_types),
        withContent: q.with_content ?? true,
      };
      if (q.status === 4) {
        await resolveEndpoint(deps, request.scope, ref.app, ref.endpoint); // an unknown one is a 404
        return empty;
      }
      const page = await listEndpointMessages(deps, request.scope, ref, {
        ...query,
        status: q.status === undefined || q.status === null ? null : TASK_STATUS_NAMES[q.status]!,
      });
      const json = pageJson(page, ({ task, message }) =>
        messageJson(message, query.withContent, statusFields(task)),
      );
      return sendJson(reply, 200, json);
    },
  );

  api.get(
    '/app/:app_id/msg/:msg_id/attempt/:attempt_id',
    {
      schema: {
        tags,
        operationId: 'v1.message-attempt.get',
        params: AttemptParams,
        response: { 200: MessageAttemptOut },
      },
    },
    async (request) => {
      const { app_id, msg_id, attempt_id } = request.params;
      return attemptOut(
        await getAttempt(deps, request.scope, { app: app_id, msg: msg_id, attempt: attempt_id }),
      );
    },
  );

  api.delete(
    '/app/:app_id/msg/:msg_id/attempt/:attempt_id/content',
    {
      schema: {
        tags,
        operationId: 'v1.message-attempt.expunge-content',
        params: AttemptParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const { app_id, msg_id, attempt_id } = request.params;
      await expungeAttempt(deps, request.scope, { app: app_id, msg: msg_id, attempt: attempt_id });
      return noContent(reply);
    },
  );
}
