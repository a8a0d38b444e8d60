import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { makeConfig } from '../config/config.ts';
import { type Store, StoreUnavailableError } from '../store/store.ts';
import { LOOKUPS_MS, type PublishDeps, publishMessage } from './publish.ts';
import { PublishCache } from './publish-cache.ts';

test('a publish whose reads the database does not answer gets a 503 after LOOKUPS_MS, unsent', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let published = 0;
    const store = { eventTypes: { get: () => new Promise(() => {}) } } as unknown as Store;
    const deps: PublishDeps = {
      store,
      config: makeConfig(),
      now: Date.now,
      cache: new PublishCache(Date.now),
      publisher: {
        publish: async () => {
          published++;
          return { ok: true };
        },
        drain: async () => {},
      },
    };
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
    assert.equal(published, 0);
  } finally {
    mock.timers.reset();
  }
});
