import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, harness } from './api-harness.ts';

// Transcribed from Svix's server document (reference/svix-server-openapi.json, components.schemas): each
// component Doorbell's document names, with its property names (`name: Component` where the property is
// that named schema, `name: [Component]` for a list of them), or an enum's values.
const REFERENCE: Record<string, Array<string | number>> = {
  ApplicationIn: ['metadata', 'name', 'throttleRate', 'uid'],
  ApplicationOut: ['createdAt', 'id', 'metadata', 'name', 'throttleRate', 'uid', 'updatedAt'],
  ApplicationPatch: ['metadata', 'name', 'throttleRate', 'uid'],
  AppPortalAccessIn: ['application: ApplicationIn', 'featureFlags'],
  AppPortalAccessOut: ['token', 'url'],
  BackgroundTaskStatus: ['running'],
  BackgroundTaskType: ['endpoint.recover'],
  EmptyResponse: [],
  EndpointHeadersIn: ['headers'],
  EndpointHeadersOut: ['headers', 'sensitive'],
  EndpointHeadersPatchIn: ['headers'],
  EndpointIn: [
    ...['channels', 'description', 'disabled', 'eventTypes', 'metadata', 'secret', 'throttleRate', 'uid'],
    'url',
  ],
  EndpointMessageOut: [
    ...['channels', 'eventId', 'eventType', 'id', 'nextAttempt', 'payload', 'status: MessageStatus'],
    ...['statusText: MessageStatusText', 'timestamp'],
  ],
  EndpointOut: [
    ...['channels', 'createdAt', 'description', 'disabled', 'eventTypes', 'id', 'metadata', 'throttleRate'],
    ...['uid', 'updatedAt', 'url'],
  ],
  EndpointPatch: [
    'channels',
    'description',
    'disabled',
    'eventTypes',
    'metadata',
    'throttleRate',
    'uid',
    'url',
  ],
  EndpointSecretOut: ['key'],
  EndpointSecretRotateIn: ['gracePeriodSeconds', 'key'],
  EndpointStats: ['canceled', 'fail', 'pending', 'sending', 'success'],
  EndpointUpdate: [
    'channels',
    'description',
    'disabled',
    'eventTypes',
    'metadata',
    'throttleRate',
    'uid',
    'url',
  ],
  EventExampleIn: ['eventType'],
  EventTypeIn: ['archived', 'deprecated', 'description', 'featureFlag', 'name', 'schemas'],
  EventTypeOut: [
    ...['archived', 'createdAt', 'deprecated', 'description', 'featureFlag', 'name', 'schemas'],
    'updatedAt',
  ],
  EventTypePatch: ['archived', 'deprecated', 'description', 'featureFlag', 'schemas'],
  EventTypeUpdate: ['archived', 'deprecated', 'description', 'featureFlag', 'schemas'],
  HttpErrorOut: ['code', 'detail'],
  HTTPValidationError: ['detail: [ValidationErrorItem]'],
  ...Object.fromEntries(
    [
      'ApplicationOut',
      'EndpointMessageOut',
      'EndpointOut',
      'EventTypeOut',
      'MessageAttemptOut',
      'MessageEndpointOut',
      'MessageOut',
    ].map((item) => [`ListResponse_${item}_`, [`data: [${item}]`, 'done', 'iterator', 'prevIterator']]),
  ),
  MessageAttemptOut: [
    ...['endpointId', 'id', 'msgId', 'response', 'responseDurationMs', 'responseStatusCode'],
    ...['status: MessageStatus', 'statusText: MessageStatusText', 'timestamp'],
    ...['triggerType: MessageAttemptTriggerType', 'url'],
  ],
  MessageAttemptTriggerType: [0, 1],
  MessageEndpointOut: [
    ...['channels', 'createdAt', 'description', 'disabled', 'eventTypes', 'id', 'nextAttempt'],
    ...['status: MessageStatus', 'statusText: MessageStatusText', 'throttleRate', 'uid', 'updatedAt', 'url'],
  ],
  MessageIn: [
    ...['application: ApplicationIn', 'channels', 'eventId', 'eventType', 'payload'],
    'payloadRetentionPeriod',
  ],
  MessageOut: ['channels', 'eventId', 'eventType', 'id', 'payload', 'timestamp'],
  MessageStatus: [0, 1, 2, 3],
  MessageStatusText: ['success', 'pending', 'fail', 'sending'],
  Ordering: ['ascending', 'descending'],
  RecoverIn: ['since', 'until'],
  RecoverOut: ['id', 'status: BackgroundTaskStatus', 'task: BackgroundTaskType', 'updatedAt'],
  StatusCodeClass: [0, 100, 200, 300, 400, 500],
  ValidationErrorItem: ['loc', 'msg', 'type'],
};

// Where Doorbell's component has properties that the reference's lacks (none lacks one the reference
// has), and why.
const WHY: Record<string, string> = {
  rateLimit: "the Svix SDK's name for throttleRate: both are accepted and returned",
  filterTypes: "the Svix SDK's name for eventTypes: both are accepted and returned",
  version: "sent and read by the Svix SDK (in its endpoint models, not in the reference's)",
  headers: 'the Svix SDK sends the headers of an endpoint with its creation',
  secret: "the Svix SDK's EndpointPatch sets the secret",
  metadata: 'an attempted destination carries all of EndpointOut, metadata included',
  expiry: "the Svix SDK's newer portal-access fields",
  capabilities: "the Svix SDK's newer portal-access fields",
  readOnly: "the Svix SDK's newer portal-access fields",
  deleteHeaders: "the Svix SDK's way to remove headers (the reference's is a null value)",
  exampleIndex: "sent by the Svix SDK: which of the schema's examples",
  featureFlags: "the Svix SDK's newer spelling of featureFlag (one flag at most here)",
  payloadRetentionHours: 'sent by the Svix SDK, in hours rather than days',
  deliverAt: "the Svix SDK's delayed delivery: sent in MessageIn, read in its message models",
  tags: "the Svix SDK's message tags: sent in MessageIn, read in its message models, filtered on by `tag`",
  transformationsParams:
    "sent by the Svix SDK's messageInRaw (its rawPayload); transformations are refused by name",
  groupName: 'sent by the Svix SDK; refused by name when set (no event type groups)',
  sessionId: 'sent by the Svix SDK; refused by name when set (no portal sessions)',
  'msg: MessageOut': "the Svix SDK's withMsg on an endpoint's attempts: each with its message",
};
const ENDPOINT_EXTRAS = ['version', 'filterTypes', 'rateLimit'];
const EXTRA: Record<string, string[]> = {
  ApplicationIn: ['rateLimit'],
  ApplicationOut: ['rateLimit'],
  ApplicationPatch: ['rateLimit'],
  AppPortalAccessIn: ['expiry', 'capabilities', 'readOnly', 'sessionId'],
  EndpointHeadersPatchIn: ['deleteHeaders'],
  EndpointIn: [...ENDPOINT_EXTRAS, 'headers'],
  EndpointOut: ENDPOINT_EXTRAS,
  EndpointPatch: [...ENDPOINT_EXTRAS, 'secret'],
  EndpointUpdate: ENDPOINT_EXTRAS,
  MessageEndpointOut: [...ENDPOINT_EXTRAS, 'metadata'],
  EventExampleIn: ['exampleIndex'],
  EventTypeIn: ['featureFlags', 'groupName'],
  EventTypeOut: ['featureFlags'],
  EventTypePatch: ['featureFlags', 'groupName'],
  EventTypeUpdate: ['featureFlags', 'groupName'],
  MessageIn: ['payloadRetentionHours', 'deliverAt', 'tags', 'transformationsParams'],
  MessageAttemptOut: ['msg: MessageOut'],
  MessageOut: ['deliverAt', 'tags'],
  EndpointMessageOut: ['deliverAt', 'tags'],
};

// Transcribed from the reference's paths: each operation's request body and success responses.
const OPERATIONS: Record<string, Record<string, string>> = {
  'GET /api/v1/app': { 200: 'ListResponse_ApplicationOut_' },
  'POST /api/v1/app': { body: 'ApplicationIn', 200: 'ApplicationOut', 201: 'ApplicationOut' },
  'GET /api/v1/app/{app_id}': { 200: 'ApplicationOut' },
  'PATCH /api/v1/app/{app_id}': { body: 'ApplicationPatch', 200: 'ApplicationOut' },
  'PUT /api/v1/app/{app_id}': { body: 'ApplicationIn', 200: 'ApplicationOut', 201: 'ApplicationOut' },
  'GET /api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}': { 200: 'ListResponse_MessageAttemptOut_' },
  'GET /api/v1/app/{app_id}/attempt/msg/{msg_id}': { 200: 'ListResponse_MessageAttemptOut_' },
  'GET /api/v1/app/{app_id}/endpoint': { 200: 'ListResponse_EndpointOut_' },
  'POST /api/v1/app/{app_id}/endpoint': { body: 'EndpointIn', 201: 'EndpointOut' },
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}': { 200: 'EndpointOut' },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}': { body: 'EndpointPatch', 200: 'EndpointOut' },
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}': {
    body: 'EndpointUpdate',
    200: 'EndpointOut',
    201: 'EndpointOut',
  },
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { 200: 'EndpointHeadersOut' },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { body: 'EndpointHeadersPatchIn' },
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { body: 'EndpointHeadersIn' },
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg': { 200: 'ListResponse_EndpointMessageOut_' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover': { body: 'RecoverIn', 202: 'RecoverOut' },
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret': { 200: 'EndpointSecretOut' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate': { body: 'EndpointSecretRotateIn' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example': {
    body: 'EventExampleIn',
    200: 'MessageOut',
  },
  'GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/stats': { 200: 'EndpointStats' },
  'GET /api/v1/app/{app_id}/msg': { 200: 'ListResponse_MessageOut_' },
  'POST /api/v1/app/{app_id}/msg': { body: 'MessageIn', 202: 'MessageOut' },
  'GET /api/v1/app/{app_id}/msg/{msg_id}': { 200: 'MessageOut' },
  'GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}': { 200: 'MessageAttemptOut' },
  'GET /api/v1/app/{app_id}/msg/{msg_id}/endpoint': { 200: 'ListResponse_MessageEndpointOut_' },
  'POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend': { 202: 'EmptyResponse' },
  'POST /api/v1/auth/app-portal-access/{app_id}': { body: 'AppPortalAccessIn', 200: 'AppPortalAccessOut' },
  'GET /api/v1/event-type': { 200: 'ListResponse_EventTypeOut_' },
  'POST /api/v1/event-type': { body: 'EventTypeIn', 201: 'EventTypeOut' },
  'GET /api/v1/event-type/{event_type_name}': { 200: 'EventTypeOut' },
  'PATCH /api/v1/event-type/{event_type_name}': { body: 'EventTypePatch', 200: 'EventTypeOut' },
  'PUT /api/v1/event-type/{event_type_name}': {
    body: 'EventTypeUpdate',
    200: 'EventTypeOut',
    201: 'EventTypeOut',
  },
};

// The reference's error responses on every operation that takes a token, and Doorbell's own (errors.ts).
const ERRORS = { 401: 'HttpErrorOut', 403: 'HttpErrorOut', 404: 'HttpErrorOut', 409: 'HttpErrorOut' };
const REFERENCE_ERRORS = { ...ERRORS, 422: 'HTTPValidationError', 429: 'HttpErrorOut' };
const DOORBELL_ERRORS = { 400: 'HttpErrorOut', 503: 'HttpErrorOut' };
const BODY_ERRORS = { 413: 'HttpErrorOut', 415: 'HttpErrorOut' };

type Schema = {
  $ref?: string;
  allOf?: Schema[];
  nullable?: boolean;
  items?: Schema;
  enum?: Array<string | number>;
  properties?: Record<string, Schema>;
};
type Operation = {
  operationId?: string;
  security?: unknown[];
  requestBody?: { content: { 'application/json': { schema: Schema } } };
  responses: Record<string, { content?: { 'application/json': { schema: Schema } } }>;
};

/** The component a schema refers to: a $ref, or the one member of an allOf (a nullable place). */
const refName = (schema: Schema | undefined): string | undefined =>
  (schema?.$ref ?? schema?.allOf?.[0]?.$ref)?.replace('#/components/schemas/', '');

/** A component as REFERENCE describes it. */
function shape(schema: Schema): Array<string | number> {
  if (schema.enum) return schema.enum;
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const item = refName(property.items);
    const named = refName(property) ?? (item && `[${item}]`);
    return named ? `${name}: ${named}` : name;
  });
}

const responseRefs = (op: Operation) =>
  Object.fromEntries(
    Object.entries(op.responses)
      .filter(([, r]) => r.content)
      .map(([code, r]) => [code, refName(r.content?.['application/json'].schema)]),
  );

const sorted = <T>(list: T[]) => [...list].sort();

describe('the OpenAPI document names its schemas and errors as the reference does', () => {
  let h: Harness;
  // biome-ignore lint/suspicious/noExplicitAny: the served document is arbitrary JSON
  let doc: any;
  let schemas: Record<string, Schema>;
  const op = (key: string): Operation => {
    const [method, path] = key.split(' ') as [string, string];
    return doc.paths[path][method.toLowerCase()];
  };
  before(async () => {
    h = await harness();
    const res = await h.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
    // A 500 when two different schemas share a name (openapi.ts).
    assert.equal(res.status, 200, res.body);
    doc = res.json;
    schemas = doc.components.schemas;
  });
  after(async () => {
    await h.close();
  });

  test('every $ref resolves, and the components are those of the reference Doorbell has', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)];
    assert.ok(refs.length > 100, `${refs.length} refs`);
    for (const [, name] of refs) assert.ok(schemas[name!], `${name} is a component`);
    assert.deepEqual(sorted(Object.keys(schemas)), sorted(Object.keys(REFERENCE)));
    assert.ok(!JSON.stringify(doc.paths).includes('"title"'), 'every titled schema is a component');
  });

  test("each component has the reference's properties, and others only with a reason", () => {
    for (const [name, expected] of Object.entries(REFERENCE)) {
      const extra = EXTRA[name] ?? [];
      for (const property of extra) assert.ok(WHY[property], `${name}.${property} says why`);
      const served = shape(schemas[name]!);
      if (typeof expected[0] === 'number' || schemas[name]!.enum) assert.deepEqual(served, expected, name);
      else assert.deepEqual(sorted(served), sorted([...expected, ...extra]), name);
    }
  });

  test('each operation refers to the components the reference names, and lists its errors', () => {
    for (const [key, names] of Object.entries(OPERATIONS)) {
      const operation = op(key);
      const { body, ...success } = names;
      assert.equal(refName(operation.requestBody?.content['application/json'].schema), body, key);
      const withBody = ['POST', 'PUT', 'PATCH'].includes(key.split(' ')[0]!);
      assert.deepEqual(
        responseRefs(operation),
        { ...success, ...REFERENCE_ERRORS, ...DOORBELL_ERRORS, ...(withBody ? BODY_ERRORS : {}) },
        key,
      );
    }
    // Operations without a body or a named success: their errors all the same.
    for (const key of [
      'DELETE /api/v1/app/{app_id}',
      'DELETE /api/v1/app/{app_id}/msg/{msg_id}/content',
      'POST /api/v1/auth/logout',
    ]) {
      const withBody = key.startsWith('POST') ? BODY_ERRORS : {};
      assert.deepEqual(responseRefs(op(key)), { ...REFERENCE_ERRORS, ...DOORBELL_ERRORS, ...withBody }, key);
    }
  });

  test('a publish and a list in detail; public routes need no token', () => {
    const publish = op('POST /api/v1/app/{app_id}/msg');
    assert.deepEqual(publish.requestBody?.content['application/json'].schema, {
      $ref: '#/components/schemas/MessageIn',
    });
    assert.equal(
      refName(publish.responses[422]?.content?.['application/json'].schema),
      'HTTPValidationError',
    );
    // OpenAPI 3.0 ignores a $ref's siblings: a nullable named property is an allOf.
    assert.deepEqual(schemas.MessageIn?.properties?.application, {
      allOf: [{ $ref: '#/components/schemas/ApplicationIn' }],
      nullable: true,
    });
    const list = op('GET /api/v1/app/{app_id}/msg');
    assert.equal(
      refName(list.responses[200]?.content?.['application/json'].schema),
      'ListResponse_MessageOut_',
    );
    assert.deepEqual(schemas.ListResponse_MessageOut_?.properties?.data?.items, {
      $ref: '#/components/schemas/MessageOut',
    });
    // Health answers 503 while the database is unreachable; ping answers whatever the database does.
    // Neither takes a token: no 401 (which the reference lists on health), no security.
    const health = op('GET /api/v1/health');
    const ping = op('GET /api/v1/health/ping');
    assert.deepEqual(responseRefs(health), { 503: 'HttpErrorOut' });
    assert.deepEqual(Object.keys(ping.responses), ['204']);
    assert.deepEqual([health.security, ping.security], [[], []]);
    // HEAD, as the reference lists it beside GET on both: the same answers, under operationIds of
    // their own (one operationId on two operations makes an invalid document).
    const headHealth = op('HEAD /api/v1/health');
    const headPing = op('HEAD /api/v1/health/ping');
    assert.deepEqual(responseRefs(headHealth), { 503: 'HttpErrorOut' });
    assert.deepEqual(Object.keys(headPing.responses), ['204']);
    assert.deepEqual([headHealth.security, headPing.security], [[], []]);
    assert.deepEqual(
      [headHealth.operationId, headPing.operationId],
      ['v1.health.get-head', 'v1.health.ping-head'],
    );
    assert.deepEqual(doc.security, [{ HTTPBearer: [] }]);
  });
});
