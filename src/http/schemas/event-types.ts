import { Type } from 'typebox';
import { AnyObject, DateTime, EventTypeName, FeatureFlag, Nullable, Text } from './common.ts';

// Each version's JSON schema is an object, as the reference says.
const Schemas = Type.Unsafe<Record<string, Record<string, unknown>>>({
  type: 'object',
  additionalProperties: { type: 'object' },
});

const fields = {
  // As much as a PUT could send: the environment import's larger body cannot bring more (its check of
  // 9 million characters ran the pattern out of stack).
  description: Text({ maxLength: 1024 * 1024 }),
  schemas: Type.Optional(Nullable(Schemas)),
  archived: Type.Optional(Type.Boolean()),
  deprecated: Type.Optional(Type.Boolean()),
  featureFlag: Type.Optional(Nullable(FeatureFlag)),
  // The Svix SDK's newer spelling; an event type here has at most one flag.
  featureFlags: Type.Optional(Nullable(Type.Array(FeatureFlag, { maxItems: 1 }))),
  // Sent by the Svix SDK: refused when set (no event type groups here).
  groupName: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
};

export const EventTypeIn = Type.Object({ name: EventTypeName, ...fields }, { title: 'EventTypeIn' });
export const EventTypeUpdate = Type.Object(fields, { title: 'EventTypeUpdate' });
export const EventTypePatch = Type.Partial(EventTypeUpdate, { title: 'EventTypePatch' });
export const EventTypeParams = Type.Object({ event_type_name: EventTypeName });

export const EventTypeOut = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    schemas: Type.Optional(Nullable(AnyObject)),
    archived: Type.Boolean(),
    deprecated: Type.Boolean(),
    featureFlag: Nullable(Type.String()),
    featureFlags: Nullable(Type.Array(Type.String())),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { title: 'EventTypeOut' },
);

// Beyond the reference (untitled): the SDK's eventType.importOpenapi.
export const EventTypeImportOpenApiIn = Type.Object({
  spec: Type.Optional(Nullable(AnyObject)),
  specRaw: Type.Optional(Nullable(Type.String())),
  dryRun: Type.Optional(Type.Boolean()),
  replaceAll: Type.Optional(Type.Boolean()),
});
const EventTypeFromOpenApi = Type.Object({
  name: Type.String(),
  description: Type.String(),
  deprecated: Type.Boolean(),
  schemas: Nullable(AnyObject),
});
export const EventTypeImportOpenApiOut = Type.Object({
  data: Type.Object({
    modified: Type.Array(Type.String()),
    to_modify: Type.Optional(Nullable(Type.Array(EventTypeFromOpenApi))),
  }),
});
