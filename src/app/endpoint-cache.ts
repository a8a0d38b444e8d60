// A short-lived per-application cache of endpoints for subscription matching at publish time.
// Writes through this process invalidate it at once; writes by other processes show within `ttlMs`.
import type { Endpoint } from '../core/types.ts';
import type { Store } from '../store/store.ts';

export class EndpointCache {
  readonly #entries = new Map<string, { endpoints: Endpoint[]; until: number }>();
  readonly #ttlMs: number;

  constructor(ttlMs = 1000) {
    this.#ttlMs = ttlMs;
  }

  async get(store: Store, appId: string, now: number): Promise<Endpoint[]> {
    const hit = this.#entries.get(appId);
    if (hit && hit.until > now) return hit.endpoints;
    const endpoints = await store.endpoints.listAll(appId);
    this.#entries.set(appId, { endpoints, until: now + this.#ttlMs });
    return endpoints;
  }

  invalidate(appId: string): void {
    this.#entries.delete(appId);
  }
}
