import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { makeConfig } from '../config/config.ts';
import { type PublishItem, type Store, StoreUnavailableError } from '../store/store.ts';
import { LOOKUPS_MS, type PublishDeps, publishMessage } from './publish.ts';
import { PublishCache } from './publish-cache.ts';

/** Publish dependencies over `store` (a stub of what the test calls); `published` gets what is committed. */
function depsOf(store: unknown, published: PublishItem[]): PublishDeps {
  return {
    store: store as Store,
    config: makeConfig(),
    now: Date.now,
    cache: new PublishCache(Date.now),
    publisher: {
      publish: async (item) => {
        published.push(item);
        return { ok: true };
      },
      drain: async () => {},
    },
  };
}

test('a publish whose reads the database does not answer gets a 503 after LOOKUPS_MS, unsent', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const published: PublishItem[] = [];
    const never = () => new Promise(() => {});
    const deps = depsOf({ eventTypes: { get: never }, apps: { get: never } }, published);
    const publishing = publishMessage(deps, { kind: 'admin' }, 'app_1', { eventType: 'a.b', payload: '{}' });
    const settled: { outcome: unknown } = { outcome: 'pending' };
    publishing.then(
      () => (settled.outcome = 'published'),
      (error: unknown) => (settled.outcome = error),
    );
    const outcome = (): unknown => settled.outcome;
    mock.timers.tick(LOOKUPS_MS - 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(outcome(), 'pending');
    mock.timers.tick(1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(outcome() instanceof StoreUnavailableError, String(outcome()));
    assert.deepEqual(published, []);
  } finally {
    mock.timers.reset();
  }
});

/**
 * A store whose event-type and application reads answer only once both have been asked (so they must
 * run together), with `eventType` as the event type; it records the calls made.
 */
function creatingStore(eventType: { name: string; archived: boolean } | null) {
  const calls: string[] = [];
  let bothAsked!: () => void;
  const asked = new Promise<void>((resolve) => (bothAsked = resolve));
  const read = <T>(name: string, value: T) => {
    calls.push(name);
    if (calls.filter((c) => c.endsWith('.get')).length === 2) bothAsked();
    return asked.then(() => value);
  };
  const store = {
    eventTypes: { get: () => read('eventTypes.get', eventType) },
    apps: {
      get: () => read('apps.get', null),
      create: async () => void calls.push('apps.create'),
    },
    endpoints: {
      listAll: async () => {
        calls.push('endpoints.listAll');
        return [];
      },
    },
  };
  const published: PublishItem[] = [];
  return { deps: depsOf(store, published), calls, published };
}

const creating = {
  eventType: 'a.b',
  payload: '{}',
  application: { name: 'Acme', uid: 'acme', rateLimit: null, metadata: {} },
};

test('a publish that creates its application reads the event type and the application together, and no endpoints', async () => {
  const { deps, calls, published } = creatingStore(null);
  const message = await publishMessage(deps, { kind: 'admin' }, 'acme', creating);
  assert.deepEqual(calls.slice(0, 2).sort(), ['apps.get', 'eventTypes.get']);
  assert.deepEqual(calls.slice(2), ['apps.create']);
  assert.deepEqual(published, [{ message, endpointIds: [], now: message.createdAt }]);
});

test('a publish of an archived event type creates no application', async () => {
  const { deps, calls, published } = creatingStore({ name: 'a.b', archived: true });
  await assert.rejects(publishMessage(deps, { kind: 'admin' }, 'acme', creating), /archived/);
  assert.equal(calls.includes('apps.create'), false);
  assert.deepEqual(published, []);
});
