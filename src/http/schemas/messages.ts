import { Type } from 'typebox';
import { ApplicationIn } from './applications.ts';
import {
  AnyObject,
  Channel,
  DateTime,
  deliveryStatusFields,
  EventTypeName,
  MessageStatus,
  MessageStatusText,
  NewUid,
  Nullable,
  PageParams,
  StatusFilter,
  Tag,
  TimeParams,
  Uid,
} from './common.ts';

const Channels = Type.Array(Channel, { minItems: 1, maxItems: 5, uniqueItems: true });

export const MessageIn = Type.Object(
  {
    eventType: EventTypeName,
    payload: AnyObject,
    eventId: Type.Optional(Nullable(NewUid('msg'))),
    channels: Type.Optional(Nullable(Channels)),
    payloadRetentionPeriod: Type.Optional(Nullable(Type.Integer({ minimum: 5, maximum: 90 }))),
    payloadRetentionHours: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 2160 }))),
    application: Type.Optional(Nullable(ApplicationIn)),
    // The Svix SDK's, beyond the reference.
    deliverAt: Type.Optional(Nullable(DateTime)),
    tags: Type.Optional(Nullable(Type.Array(Tag, { maxItems: 10, uniqueItems: true }))),
    // Sent by the Svix SDK, for a feature Doorbell does not have: refused when set, never silently dropped.
    transformationsParams: Type.Optional(Nullable(AnyObject)),
  },
  { title: 'MessageIn' },
);

// The Svix SDK's MessagePrecheckIn and MessagePrecheckOut (not in the reference, so no components).
export const MessagePrecheckIn = Type.Object({
  eventType: EventTypeName,
  channels: Type.Optional(Nullable(Channels)),
});
export const MessagePrecheckOut = Type.Object({ active: Type.Boolean() });

const messageFields = {
  id: Type.String(),
  eventType: Type.String(),
  eventId: Nullable(Type.String()),
  channels: Nullable(Type.Array(Type.String())),
  payload: AnyObject, // {} when listed without content
  deliverAt: Type.Optional(DateTime), // when it was published with one
  tags: Type.Optional(Type.Array(Type.String())), // when it was published with some
  timestamp: DateTime,
};
/** Documentation only: message bodies are written by hand so the payload's bytes pass through unchanged. */
export const MessageOut = Type.Object(messageFields, { title: 'MessageOut' });
export const EndpointMessageOut = Type.Object(
  { ...messageFields, ...deliveryStatusFields },
  { title: 'EndpointMessageOut' },
);

// event_types arrives comma-separated (svix SDK) or repeated; names are checked after splitting.
const EventTypesFilter = Type.Optional(Type.Array(Type.String()));
const TagFilter = Type.Optional(Nullable(Tag));

export const MessageListQuery = Type.Object({
  ...PageParams,
  tag: TagFilter,
  ...TimeParams,
  channel: Type.Optional(Nullable(Channel)),
  with_content: Type.Optional(Type.Boolean({ default: true })),
  event_types: EventTypesFilter,
});

export const StatusCodeClass = Type.Unsafe<0 | 100 | 200 | 300 | 400 | 500>({
  title: 'StatusCodeClass',
  type: 'integer',
  enum: [0, 100, 200, 300, 400, 500],
});

const attemptFilters = {
  ...PageParams,
  ...TimeParams,
  status: Type.Optional(Nullable(StatusFilter)),
  status_code_class: Type.Optional(Nullable(StatusCodeClass)),
  channel: Type.Optional(Nullable(Channel)),
  tag: TagFilter,
  with_content: Type.Optional(Type.Boolean({ default: true })),
  event_types: EventTypesFilter,
};
/** A message's attempts, to every endpoint or to one. */
export const AttemptListQuery = Type.Object({ ...attemptFilters, endpoint_id: Type.Optional(Nullable(Uid)) });
/** An endpoint's attempts: the path names the endpoint. `with_msg` (the SDK's) adds each one's message. */
export const EndpointAttemptListQuery = Type.Object({
  ...attemptFilters,
  with_msg: Type.Optional(Type.Boolean()),
});

export const EndpointMessagesQuery = Type.Object({
  ...PageParams,
  ...TimeParams,
  status: Type.Optional(Nullable(StatusFilter)),
  channel: Type.Optional(Nullable(Channel)),
  tag: TagFilter,
  with_content: Type.Optional(Type.Boolean({ default: true })),
  event_types: EventTypesFilter,
});

export const MessageAttemptOut = Type.Object(
  {
    id: Type.String(),
    msgId: Type.String(),
    endpointId: Type.String(),
    url: Type.String(),
    response: Type.String(),
    responseStatusCode: Type.Integer(),
    responseDurationMs: Type.Integer(),
    status: MessageStatus,
    statusText: MessageStatusText,
    triggerType: Type.Unsafe<0 | 1>({ title: 'MessageAttemptTriggerType', type: 'integer', enum: [0, 1] }),
    timestamp: DateTime,
    /** With `with_msg=true` on an endpoint's attempts: the message, null once deleted. */
    msg: Type.Optional(Nullable(MessageOut)),
  },
  { title: 'MessageAttemptOut' },
);

// The Svix SDK's ExpungeAllContentsOut (not in the reference, so no component of its own; its
// BackgroundTaskStatus and BackgroundTaskType are the reference's, with the SDK's values used here).
export const ExpungeAllContentsOut = Type.Object({
  id: Type.String(),
  status: Type.Unsafe<'finished'>({ type: 'string', enum: ['finished'] }),
  task: Type.Unsafe<'application.purge_content'>({ type: 'string', enum: ['application.purge_content'] }),
  updatedAt: DateTime,
});
