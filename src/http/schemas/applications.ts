import { Type } from 'typebox';
import { CAPABILITIES, type Capability } from '../../app/context.ts';
import { DateTime, FeatureFlag, Metadata, NewUid, Nullable, Rate, RateOut, Text } from './common.ts';

const name = Text({ minLength: 1 });
// The reference says `throttleRate`; the svix SDK sends `rateLimit`. Both are accepted and returned.
export const ApplicationIn = Type.Object(
  {
    name,
    uid: Type.Optional(Nullable(NewUid('app'))),
    metadata: Type.Optional(Metadata),
    throttleRate: Type.Optional(Nullable(Rate)),
    rateLimit: Type.Optional(Nullable(Rate)),
  },
  { title: 'ApplicationIn' },
);

export const ApplicationPatch = Type.Partial(ApplicationIn, { title: 'ApplicationPatch' });

export const ApplicationOut = Type.Object(
  {
    id: Type.String(),
    uid: Nullable(Type.String()),
    name: Type.String(),
    metadata: Metadata,
    throttleRate: Nullable(RateOut),
    rateLimit: Nullable(RateOut),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { title: 'ApplicationOut' },
);

// The svix SDK's authentication.expireAll (not in the reference: no component of its own). Tokens live
// at most 7 days: a longer delay would change nothing.
export const ApplicationTokenExpireIn = Type.Object({
  expiry: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600 }))),
  sessionIds: Type.Optional(Type.Array(Type.String())),
});

export const AppPortalAccessIn = Type.Object(
  {
    application: Type.Optional(Nullable(ApplicationIn)),
    // Each flag is carried in the token: 32 of the longest keep it under the 16 KiB a header may have.
    featureFlags: Type.Optional(Type.Array(FeatureFlag, { uniqueItems: true, maxItems: 32 })),
    expiry: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 }))),
    // As the Svix SDK sends them: what the token may do beyond reading (ViewBase, always required), or
    // readOnly for reading only. Without either, everything its application allows.
    capabilities: Type.Optional(
      Nullable(
        Type.Array(Type.Unsafe<Capability>({ type: 'string', enum: [...CAPABILITIES] }), {
          uniqueItems: true,
        }),
      ),
    ),
    readOnly: Type.Optional(Nullable(Type.Boolean())),
    // Sent by the Svix SDK: refused when set (no portal sessions here).
    sessionId: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  },
  { title: 'AppPortalAccessIn' },
);
export const AppPortalAccessOut = Type.Object(
  { token: Type.String(), url: Type.String() },
  { title: 'AppPortalAccessOut' },
);
