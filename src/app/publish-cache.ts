// A short-lived per-process cache of what every publish reads: the application (by the id or uid the
// path names) and its endpoints, for subscription matching. Writes through this process invalidate it
// at once; writes by other processes show within `ttlMs`.
import type { Application, Endpoint } from '../core/types.ts';
import type { Store } from '../store/store.ts';

interface Entry<T> {
  value: T;
  until: number;
}

export class PublishCache {
  readonly #apps = new Map<string, Entry<Application>>();
  readonly #endpoints = new Map<string, Entry<Endpoint[]>>();
  readonly #ttlMs: number;

  constructor(ttlMs = 1000) {
    this.#ttlMs = ttlMs;
  }

  /** The application, or null (a miss is not cached: it may be created at any moment). */
  async app(store: Store, idOrUid: string, now: number): Promise<Application | null> {
    const hit = this.#apps.get(idOrUid);
    if (hit && hit.until > now) return hit.value;
    const app = await store.apps.get(idOrUid);
    if (app) this.#apps.set(idOrUid, { value: app, until: now + this.#ttlMs });
    return app;
  }

  async endpoints(store: Store, appId: string, now: number): Promise<Endpoint[]> {
    const hit = this.#endpoints.get(appId);
    if (hit && hit.until > now) return hit.value;
    const endpoints = await store.endpoints.listAll(appId);
    this.#endpoints.set(appId, { value: endpoints, until: now + this.#ttlMs });
    return endpoints;
  }

  /** Forgets an application and its endpoints. */
  invalidate(appId: string): void {
    this.#endpoints.delete(appId);
    for (const [key, entry] of this.#apps) if (entry.value.id === appId) this.#apps.delete(key);
  }
}
