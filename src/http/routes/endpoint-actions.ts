import type { FastifyReply } from 'fastify';
import { requireCapability } from '../../app/context.ts';
import {
  type BackgroundTaskResult,
  bulkReplay,
  endpointStats,
  getHeaders,
  getSecret,
  recoverEndpoint,
  replayMissing,
  rotateSecret,
  setHeaders,
} from '../../app/endpoint-actions.ts';
import { resolveEndpoint } from '../../app/endpoints.ts';
import { sendExample } from '../../app/publish.ts';
import { invalid } from '../../core/errors.ts';
import { TASK_STATUS_NAMES } from '../../core/types.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, optionalBody, sendJson } from '../context.ts';
import { iso, messageJson } from '../dto.ts';
import { toMs } from '../query.ts';
import { EndpointParams } from '../schemas/common.ts';
import {
  BulkReplayIn,
  EndpointHeadersIn,
  EndpointHeadersOut,
  EndpointHeadersPatchIn,
  EndpointSecretOut,
  EndpointSecretRotateIn,
  EndpointStats,
  EndpointTransformationOut,
  EndpointTransformationPatch,
  EventExampleIn,
  RecoverIn,
  RecoverOut,
  ReplayIn,
  ReplayOut,
  StatsQuery,
} from '../schemas/endpoints.ts';
import { MessageOut } from '../schemas/messages.ts';
import { refuseUnsupported } from '../unsupported.ts';
import { keepOnCommit, keptMessage } from './messages.ts';

const tags = ['Endpoint'];
const empty204 = { 204: { type: 'null' } };
const refOf = (p: { app_id: string; endpoint_id: string }) => ({ app: p.app_id, endpoint: p.endpoint_id });
const windowOf = (body: { since: string; until?: string | null }) => ({
  since: Date.parse(body.since),
  until: toMs(body.until, 'up'),
});

export function endpointActionRoutes(api: Api, { deps, wake }: RouteContext): void {
  const base = '/app/:app_id/endpoint/:endpoint_id';

  api.get(
    `${base}/secret`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.get-secret',
        params: EndpointParams,
        response: { 200: EndpointSecretOut },
      },
    },
    async (request, reply) => {
      void reply.header('cache-control', 'no-store'); // a secret: no cache on the way may keep it
      return { key: await getSecret(deps, request.scope, refOf(request.params)) };
    },
  );

  api.post(
    `${base}/secret/rotate`,
    {
      preValidation: optionalBody,
      schema: {
        tags,
        operationId: 'v1.endpoint.rotate-secret',
        params: EndpointParams,
        body: EndpointSecretRotateIn,
        response: empty204,
      },
    },
    async (request, reply) => {
      await rotateSecret(deps, request.scope, refOf(request.params), request.body ?? {});
      return noContent(reply);
    },
  );

  api.get(
    `${base}/headers`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.get-headers',
        params: EndpointParams,
        response: { 200: EndpointHeadersOut },
      },
    },
    async (request) => getHeaders(deps, request.scope, refOf(request.params)),
  );

  api.put(
    `${base}/headers`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.update-headers',
        params: EndpointParams,
        body: EndpointHeadersIn,
        response: empty204,
      },
    },
    async (request, reply) => {
      await setHeaders(deps, request.scope, refOf(request.params), request.body.headers, 'replace');
      return noContent(reply);
    },
  );

  api.patch(
    `${base}/headers`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.patch-headers',
        params: EndpointParams,
        body: EndpointHeadersPatchIn,
        response: empty204,
      },
    },
    async (request, reply) => {
      const { headers, deleteHeaders = [] } = request.body;
      // __proto__ is never stored (refused when set): removing it changes nothing.
      const removed = Object.fromEntries(
        deleteHeaders.filter((name) => name !== '__proto__').map((name) => [name, null]),
      );
      await setHeaders(deps, request.scope, refOf(request.params), { ...headers, ...removed }, 'merge');
      return noContent(reply);
    },
  );

  // Transformations are not run here: each endpoint's is off, and turning one on is refused by name.
  api.get(
    `${base}/transformation`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.transformations-get',
        params: EndpointParams,
        response: { 200: EndpointTransformationOut },
      },
    },
    async (request) => {
      await resolveEndpoint(deps, request.scope, request.params.app_id, request.params.endpoint_id);
      return { enabled: false };
    },
  );

  api.patch(
    `${base}/transformation`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.transformations-partial-update',
        params: EndpointParams,
        body: EndpointTransformationPatch,
        response: empty204,
      },
    },
    async (request, reply) => {
      requireCapability(request.scope, 'ManageTransformations');
      const { code, enabled, variables } = request.body;
      refuseUnsupported('body', { code, enabled, variables });
      await resolveEndpoint(deps, request.scope, request.params.app_id, request.params.endpoint_id);
      return noContent(reply);
    },
  );

  api.get(
    `${base}/stats`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.get-stats',
        params: EndpointParams,
        querystring: StatsQuery,
        response: { 200: EndpointStats },
      },
    },
    async (request) =>
      endpointStats(deps, request.scope, refOf(request.params), {
        since: toMs(request.query.since),
        until: toMs(request.query.until, 'up'),
      }),
  );

  api.post(
    `${base}/recover`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.recover',
        params: EndpointParams,
        body: RecoverIn,
        response: { 202: RecoverOut },
      },
    },
    async (request, reply) =>
      sendTask(
        reply,
        await recoverEndpoint(deps, request.scope, refOf(request.params), windowOf(request.body)),
      ),
  );

  // Svix's replay-missing (not in the reference; the SDK's endpoint.replayMissing).
  api.post(
    `${base}/replay-missing`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.replay-missing',
        params: EndpointParams,
        body: ReplayIn,
        response: { 202: ReplayOut },
      },
    },
    async (request, reply) =>
      sendTask(
        reply,
        await replayMissing(deps, request.scope, refOf(request.params), windowOf(request.body)),
      ),
  );

  // Svix's bulk-replay (not in the reference; the SDK's endpoint.bulkReplay).
  api.post(
    `${base}/bulk-replay`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.bulk-replay',
        params: EndpointParams,
        body: BulkReplayIn,
        response: { 202: ReplayOut },
      },
    },
    async (request, reply) => {
      const { status, statusCodeClass, eventTypes, channel, tag } = request.body;
      if (statusCodeClass != null)
        throw invalid(['body', 'statusCodeClass'], 'is not supported: filter on status instead');
      const filters = {
        status: status == null ? null : status === 4 ? ('canceled' as const) : TASK_STATUS_NAMES[status]!,
        eventTypes: eventTypes ?? null,
        channel: channel ?? null,
        tag: tag ?? null,
      };
      const ref = refOf(request.params);
      return sendTask(reply, await bulkReplay(deps, request.scope, ref, windowOf(request.body), filters));
    },
  );

  /** The answer to a recover or replay: the deliveries it made due are sent after it (wake). */
  function sendTask(reply: FastifyReply, result: BackgroundTaskResult<string>) {
    if (result.due > 0) wake();
    const { id, status, task, updatedAt } = result;
    return reply.code(202).send({ id, status, task, updatedAt: iso(updatedAt) });
  }

  api.post(
    `${base}/send-example`,
    {
      schema: {
        tags,
        operationId: 'v1.endpoint.send-example',
        params: EndpointParams,
        body: EventExampleIn,
        response: { 200: MessageOut },
      },
      config: { idempotent: keptMessage(deps) },
    },
    async (request, reply) => {
      const { eventType, exampleIndex = 0 } = request.body;
      const message = await sendExample(
        deps,
        request.scope,
        refOf(request.params),
        eventType,
        exampleIndex,
        keepOnCommit(request, 200, true),
      );
      return sendJson(reply, 200, messageJson(message, true));
    },
  );
}
