import { Type } from 'typebox';
import { HEADER_NAME } from '../../app/endpoint-headers.ts';
import {
  Channel,
  DateTime,
  Description,
  deliveryStatusFields,
  EventTypeName,
  Metadata,
  NewUid,
  Nullable,
  Rate,
  RateOut,
  Secret,
  StatusFilter,
  Tag,
  Text,
} from './common.ts';

const Url = Text({ minLength: 1, maxLength: 65536 });
// Creates and replacements name at least one; a patch may send an empty list, as the reference's
// EndpointPatch allows (it clears the filter).
const eventTypes = (minItems: number) => Type.Array(EventTypeName, { minItems, uniqueItems: true });
const channels = (minItems: number) => Type.Array(Channel, { minItems, maxItems: 10, uniqueItems: true });
const Headers = Type.Unsafe<Record<string, string>>({
  type: 'object',
  additionalProperties: { type: 'string' },
});

// The reference names `eventTypes`/`throttleRate`; the svix SDK sends `filterTypes`/`rateLimit`.
const settings = {
  uid: Type.Optional(Nullable(NewUid('ep'))),
  description: Type.Optional(Description()),
  // uint16 in Svix's SDK models; null (which the SDK's types allow) leaves it as absent does.
  version: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 65535 }))),
  disabled: Type.Optional(Type.Boolean()),
  eventTypes: Type.Optional(Nullable(eventTypes(1))),
  filterTypes: Type.Optional(Nullable(eventTypes(1))),
  channels: Type.Optional(Nullable(channels(1))),
  metadata: Type.Optional(Metadata),
  throttleRate: Type.Optional(Nullable(Rate)),
  rateLimit: Type.Optional(Nullable(Rate)),
};

export const EndpointIn = Type.Object(
  {
    url: Url,
    ...settings,
    secret: Type.Optional(Nullable(Secret)),
    headers: Type.Optional(Nullable(Headers)),
  },
  { title: 'EndpointIn' },
);
export const EndpointUpdate = Type.Object({ url: Url, ...settings }, { title: 'EndpointUpdate' });
export const EndpointPatch = Type.Object(
  {
    url: Type.Optional(Url),
    ...settings,
    eventTypes: Type.Optional(Nullable(eventTypes(0))),
    filterTypes: Type.Optional(Nullable(eventTypes(0))),
    channels: Type.Optional(Nullable(channels(0))),
    secret: Type.Optional(Nullable(Secret)),
  },
  { title: 'EndpointPatch' },
);

const outFields = {
  id: Type.String(),
  uid: Nullable(Type.String()),
  url: Type.String(),
  description: Type.String(),
  version: Type.Integer(),
  disabled: Type.Boolean(),
  eventTypes: Nullable(Type.Array(Type.String())),
  filterTypes: Nullable(Type.Array(Type.String())),
  channels: Nullable(Type.Array(Type.String())),
  metadata: Metadata,
  throttleRate: Nullable(RateOut),
  rateLimit: Nullable(RateOut),
  createdAt: DateTime,
  updatedAt: DateTime,
};
export const EndpointOut = Type.Object(outFields, { title: 'EndpointOut' });
export const MessageEndpointOut = Type.Object(
  { ...outFields, ...deliveryStatusFields },
  { title: 'MessageEndpointOut' },
);

export const EndpointSecretOut = Type.Object({ key: Type.String() }, { title: 'EndpointSecretOut' });
export const EndpointSecretRotateIn = Type.Object(
  {
    key: Type.Optional(Nullable(Secret)),
    gracePeriodSeconds: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 604800 }))),
  },
  { title: 'EndpointSecretRotateIn' },
);
export const EndpointHeadersIn = Type.Object({ headers: Headers }, { title: 'EndpointHeadersIn' });
export const EndpointHeadersPatchIn = Type.Object(
  {
    headers: Type.Unsafe<Record<string, string | null>>({
      type: 'object',
      additionalProperties: { type: 'string', nullable: true },
    }),
    // The Svix SDK's way to remove headers (the reference's is a null value).
    deleteHeaders: Type.Optional(
      Type.Array(Type.String({ maxLength: 256, pattern: HEADER_NAME }), {
        maxItems: 256,
      }),
    ),
  },
  { title: 'EndpointHeadersPatchIn' },
);
export const EndpointHeadersOut = Type.Object(
  { headers: Headers, sensitive: Type.Array(Type.String()) },
  { title: 'EndpointHeadersOut' },
);

// Beyond the reference (untitled): transformations, which Doorbell does not run.
export const EndpointTransformationOut = Type.Object({ enabled: Type.Boolean() });
export const EndpointTransformationPatch = Type.Object({
  code: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  enabled: Type.Optional(Type.Boolean()),
  variables: Type.Optional(Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()])),
});

export const EndpointStats = Type.Object(
  {
    success: Type.Integer(),
    pending: Type.Integer(),
    fail: Type.Integer(),
    sending: Type.Integer(),
    canceled: Type.Integer(),
  },
  { title: 'EndpointStats' },
);
export const StatsQuery = Type.Object({
  since: Type.Optional(Nullable(DateTime)),
  until: Type.Optional(Nullable(DateTime)),
});

const window = { since: DateTime, until: Type.Optional(Nullable(DateTime)) };
export const RecoverIn = Type.Object(window, { title: 'RecoverIn' });
export const RecoverOut = Type.Object(
  {
    id: Type.String(),
    status: Type.Unsafe<'running'>({ title: 'BackgroundTaskStatus', type: 'string', enum: ['running'] }),
    task: Type.Unsafe<'endpoint.recover'>({
      title: 'BackgroundTaskType',
      type: 'string',
      enum: ['endpoint.recover'],
    }),
    updatedAt: DateTime,
  },
  { title: 'RecoverOut' },
);
// The Svix SDK's ReplayIn and ReplayOut, for replay-missing (not in the reference, so no components of
// their own; the SDK's BackgroundTaskType has endpoint.replay beside the reference's endpoint.recover).
export const ReplayIn = Type.Object(window);
export const ReplayOut = Type.Object({
  ...RecoverOut.properties,
  task: Type.Unsafe<'endpoint.replay' | 'endpoint.bulk-replay'>({
    type: 'string',
    enum: ['endpoint.replay', 'endpoint.bulk-replay'],
  }),
});
// The Svix SDK's BulkReplayIn: a window and the filters of an endpoint's message list (statusCodeClass,
// which needs each delivery's last attempt, is refused by name when set).
export const BulkReplayIn = Type.Object({
  ...window,
  status: Type.Optional(Nullable(StatusFilter)),
  statusCodeClass: Type.Optional(Nullable(Type.Integer())),
  eventTypes: Type.Optional(Nullable(Type.Array(EventTypeName, { maxItems: 250 }))),
  channel: Type.Optional(Nullable(Channel)),
  tag: Type.Optional(Nullable(Tag)),
});
export const EventExampleIn = Type.Object(
  {
    eventType: EventTypeName,
    // Which of the schema's examples (the Svix SDK sends it).
    exampleIndex: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  },
  { title: 'EventExampleIn' },
);
