// Shared TypeBox schemas, shaped after Svix's OpenAPI document (reference/svix-server-openapi.json).
// A schema's `title` is its name in the served document's components.schemas, as the reference names it
// (src/http/openapi.ts): give one only to a schema that is that component of the reference.
import { type Static, type TSchema, Type } from 'typebox';
import { PLAIN_TEXT } from '../../core/types.ts';

/** OpenAPI 3.0 `nullable`: understood by Ajv, fast-json-stringify and @fastify/swagger alike. */
export const Nullable = <T extends TSchema>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });

export const IdPattern = '^[a-zA-Z0-9\\-_.]+$';
/** What a pattern's failure says, where Ajv's "must match pattern" would not tell the client why. */
const PATTERN_MESSAGES = new Map<string, string>();
export const patternMessage = (pattern: unknown): string | undefined => PATTERN_MESSAGES.get(String(pattern));

PATTERN_MESSAGES.set(PLAIN_TEXT, 'must not contain U+0000 (NUL) or an unpaired UTF-16 surrogate');
export const Text = (options: { minLength?: number; maxLength?: number } = {}) =>
  Type.String({ ...options, pattern: PLAIN_TEXT });
/** An id or a uid, as paths and filters take them. */
export const Uid = Type.String({ minLength: 1, maxLength: 256, pattern: IdPattern });
/**
 * A uid being set (or a message's eventId). As in Svix, it may not start with the prefix of its object's
 * ids: lookups take either, so it would name another object, or none. Nor may it be "." or "..": in a
 * path, clients resolve those to the parent (a DELETE of the endpoint ".." would delete its application).
 */
export function NewUid(prefix: 'app' | 'ep' | 'msg') {
  const pattern = `^(?!\\.\\.?$)(?!${prefix}_)[a-zA-Z0-9\\-_.]+$`;
  PATTERN_MESSAGES.set(
    pattern,
    `may hold only a-z, A-Z, 0-9, "-", "_" and ".", may not be "." or "..", and may not start with "${prefix}_"`,
  );
  return Type.String({ minLength: 1, maxLength: 256, pattern });
}
export const EventTypeName = Type.String({ maxLength: 256, pattern: IdPattern });
export const FeatureFlag = Type.String({ maxLength: 256, pattern: IdPattern });
export const Channel = Type.String({ maxLength: 128, pattern: IdPattern });
export const Secret = Type.String({ pattern: '^(whsec_)?[a-zA-Z0-9+/=]{32,100}$' });
export const DateTime = Type.String({ format: 'date-time' });
/**
 * Free text a tenant stores and every list returns: bounded, so that an app-portal user cannot make a page
 * of 250 endpoints weigh hundreds of megabytes (the reference sets no bound; these leave room for any
 * real description or label).
 */
export const Description = () => Text({ maxLength: 4096 });
export const Metadata = Type.Unsafe<Record<string, string>>({
  type: 'object',
  maxProperties: 64,
  propertyNames: { pattern: PLAIN_TEXT, maxLength: 128 },
  additionalProperties: { type: 'string', pattern: PLAIN_TEXT, maxLength: 1024 },
});
export const AnyObject = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true });
// uint16, at least 1 in create, replace and patch alike: the reference's patch schemas say minimum 0, but
// Svix's server refuses 0 there too ("rate limits must be at least 1 if set"); null removes the limit.
export const Rate = Type.Integer({ minimum: 1, maximum: 65535 });
export const RateOut = Type.Integer({ minimum: 0 });

// As the svix SDK documents a message's tags (free-form, for filtering lists).
export const Tag = Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9\\-_./\\\\#]+$' });
export const MessageStatus = Type.Unsafe<0 | 1 | 2 | 3>({
  title: 'MessageStatus',
  type: 'integer',
  enum: [0, 1, 2, 3],
});
// A list's status filter also takes the svix SDK's `canceled` (4): Doorbell cancels nothing, so it matches none.
export const StatusFilter = Type.Unsafe<0 | 1 | 2 | 3 | 4>({ type: 'integer', enum: [0, 1, 2, 3, 4] });
export const MessageStatusText = Type.Unsafe<'success' | 'pending' | 'fail' | 'sending'>({
  title: 'MessageStatusText',
  type: 'string',
  enum: ['success', 'pending', 'fail', 'sending'],
});
/** A delivery's shown status, as dto.ts statusFields writes it (message and endpoint list items). */
export const deliveryStatusFields = {
  status: MessageStatus,
  statusText: MessageStatusText,
  nextAttempt: Nullable(DateTime),
};

export const Ordering = Type.Unsafe<'ascending' | 'descending'>({
  title: 'Ordering',
  type: 'string',
  enum: ['ascending', 'descending'],
});

// The reference's `minimum: 0` for limit is only its u64 type; Svix's server refuses more than 250, and
// its later documents say 1 to 250, as here (a limit of 0 would answer an empty page that is not done).
export const PageParams = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 250, default: 50 })),
  iterator: Type.Optional(Nullable(Type.String({ maxLength: 300 }))),
};
export const ListQuery = Type.Object({ ...PageParams, order: Type.Optional(Ordering) });
export type ListQuery = Static<typeof ListQuery>;

export const TimeParams = {
  before: Type.Optional(Nullable(DateTime)),
  after: Type.Optional(Nullable(DateTime)),
};

export const WithContent = Type.Object({ with_content: Type.Optional(Type.Boolean({ default: true })) });

/** A page of named items, named as in the reference (ListResponse_MessageOut_). */
export function ListResponse<T extends TSchema>(item: T) {
  const { title } = item as { title?: string };
  return Type.Object(
    {
      data: Type.Array(item),
      iterator: Nullable(Type.String()),
      prevIterator: Nullable(Type.String()),
      done: Type.Boolean(),
    },
    { title: `ListResponse_${title}_` },
  );
}

export const HttpErrorOut = Type.Object(
  { code: Type.String(), detail: Type.String() },
  { title: 'HttpErrorOut' },
);
export const HttpValidationError = Type.Object(
  {
    detail: Type.Array(
      Type.Object(
        { loc: Type.Array(Type.String()), msg: Type.String(), type: Type.String() },
        { title: 'ValidationErrorItem' },
      ),
    ),
  },
  { title: 'HTTPValidationError' },
);

export const AppParams = Type.Object({ app_id: Uid });
export const EndpointParams = Type.Object({ app_id: Uid, endpoint_id: Uid });
export const MsgParams = Type.Object({ app_id: Uid, msg_id: Uid });
export const Empty = Type.Object({}, { title: 'EmptyResponse' });
