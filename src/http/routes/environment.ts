// Svix's environment export and import (not in the reference; the SDK's environment.export and import):
// the event type catalogue, carried from one server to another. The operator's alone.
import { Type } from 'typebox';
import { exportEnvironment, importEnvironment } from '../../app/event-types-import.ts';
import { invalid } from '../../core/errors.ts';
import { rawElements, rawMember } from '../../core/raw-json.ts';
import type { Api, RouteContext } from '../context.ts';
import { noContent, optionalBody, sendJson } from '../context.ts';
import { eventTypeJson, iso } from '../dto.ts';
import { memberText } from '../raw-payload.ts';
import { AnyObject, DateTime, Nullable } from '../schemas/common.ts';
import { EventTypeIn, EventTypeOut } from '../schemas/event-types.ts';
import { refuseUnsupported } from '../unsupported.ts';
import { withFlag } from './event-types.ts';

const tags = ['Environment'];
const VERSION = 1; // of the export's shape, as Svix numbers it
// A whole catalogue in one body: at about 200 bytes an event type without schemas, 1 MiB (the other
// routes' limit) held about 5,000 of them.
const IMPORT_BODY_LIMIT = 32 * 1024 * 1024;

const EnvironmentIn = Type.Object({
  connectors: Type.Optional(Nullable(Type.Array(AnyObject))),
  eventTypes: Type.Optional(Nullable(Type.Array(EventTypeIn))),
  settings: Type.Optional(Nullable(AnyObject)),
});
const EnvironmentOut = Type.Object({
  connectors: Type.Array(AnyObject),
  createdAt: DateTime,
  eventTypes: Type.Array(EventTypeOut),
  settings: Nullable(AnyObject),
  version: Type.Integer(),
});

export function environmentRoutes(api: Api, { deps }: RouteContext): void {
  api.post(
    '/environment/export',
    {
      preValidation: optionalBody,
      schema: { tags, operationId: 'v1.environment.export', response: { 200: EnvironmentOut } },
    },
    async (request, reply) => {
      const eventTypes = await exportEnvironment(deps, request.scope);
      const head = JSON.stringify({
        connectors: [],
        createdAt: iso(deps.now()),
        settings: null,
        version: VERSION,
      });
      return sendJson(
        reply,
        200,
        `${head.slice(0, -1)},"eventTypes":[${eventTypes.map((e) => eventTypeJson(e)).join(',')}]}`,
      );
    },
  );

  api.post(
    '/environment/import',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      config: { admin: true },
      schema: {
        tags,
        operationId: 'v1.environment.import',
        body: EnvironmentIn,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const { connectors, eventTypes, settings } = request.body;
      refuseUnsupported('body', { connectors, settings });
      // Each schemas' text as sent, as a single event type's is kept (big integers, `1.0`, key order).
      const listText = request.rawBody ? rawMember(request.rawBody, 'eventTypes') : null;
      const itemTexts = listText === null ? null : rawElements(listText);
      const inputs = (eventTypes ?? []).map((e, i) => {
        const schemas = e.schemas == null ? e.schemas : memberText(itemTexts?.[i], 'schemas', e.schemas);
        // No larger than a PUT of the event type could send.
        if (schemas != null && Buffer.byteLength(schemas) > deps.config.bodyLimit)
          throw invalid(
            ['body', 'eventTypes', String(i), 'schemas'],
            `must be at most ${deps.config.bodyLimit} bytes`,
          );
        return { ...withFlag(e, ['body', 'eventTypes', String(i)]), schemas };
      });
      await importEnvironment(deps, request.scope, inputs);
      return noContent(reply);
    },
  );
}
