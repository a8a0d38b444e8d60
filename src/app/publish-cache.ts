// A short-lived per-process cache of what every publish reads: the application (by the id or uid the
// path names), its endpoints, for subscription matching, and the event type (an archived one is
// refused). Writes through this process invalidate it at once; writes by other processes show within
// `ttlMs`.
import type { Application, Endpoint, EventType } from '../core/types.ts';
import type { Store } from '../store/store.ts';

interface Entry<T> {
  value: T;
  until: number;
}

// Names publishers may make up without bound: past this many, the cache starts afresh.
const MAX_EVENT_TYPES = 10_000;

export class PublishCache {
  readonly #apps = new Map<string, Entry<Application>>();
  readonly #endpoints = new Map<string, Entry<Endpoint[]>>();
  readonly #eventTypes = new Map<string, Entry<EventType | null>>();
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

  /** The event type, or null; both are cached, as publishers may name any type, catalogued or not. */
  async eventType(store: Store, name: string, now: number): Promise<EventType | null> {
    const hit = this.#eventTypes.get(name);
    if (hit && hit.until > now) return hit.value;
    const eventType = await store.eventTypes.get(name);
    if (this.#eventTypes.size >= MAX_EVENT_TYPES) this.#eventTypes.clear();
    this.#eventTypes.set(name, { value: eventType, until: now + this.#ttlMs });
    return eventType;
  }

  forgetEventType(name: string): void {
    this.#eventTypes.delete(name);
  }

  /** Forgets an application and its endpoints. */
  invalidate(appId: string): void {
    this.#endpoints.delete(appId);
    for (const [key, entry] of this.#apps) if (entry.value.id === appId) this.#apps.delete(key);
  }
}
