// Per-endpoint rate limits for the worker: the endpoint's own `rateLimit`, else its application's
// (which applies to each endpoint that sets none). Slots are reserved in the store, so the limit holds
// across worker processes; a task that must wait is put back until its slot.

import { APP_RATE_SEEN_WITHIN_MS } from '../app/applications.ts';
import type { Endpoint } from '../core/types.ts';
import type { Store } from '../store/store.ts';

export interface RateGate {
  /** The time this task may be sent, or null if now. A task given a slot passes when it comes back. */
  wait(taskId: string, endpoint: Endpoint): Promise<number | null>;
}

export function createRateGate(store: Store, now: () => number): RateGate {
  const holding = new Map<string, number>(); // tasks put back until their slot, and its time
  const appRates = new Map<string, { rate: number | null; until: number }>();

  async function rateOf(endpoint: Endpoint): Promise<number | null> {
    if (endpoint.rateLimit !== null) return endpoint.rateLimit;
    const at = now();
    const hit = appRates.get(endpoint.appId);
    if (hit && hit.until > at) return hit.rate;
    const rate = (await store.apps.get(endpoint.appId))?.rateLimit ?? null;
    appRates.set(endpoint.appId, { rate, until: at + APP_RATE_SEEN_WITHIN_MS });
    return rate;
  }

  return {
    async wait(taskId, endpoint) {
      // Back at its slot, it passes; back earlier (a rate-limit change made it due), it takes a new one.
      const slot = holding.get(taskId);
      holding.delete(taskId);
      if (slot !== undefined && slot <= now()) return null;
      const rate = await rateOf(endpoint);
      if (rate === null || rate <= 0) return null;
      const at = await store.endpoints.reserveSlot(endpoint.id, rate, now());
      if (at <= now()) return null;
      holding.set(taskId, at);
      return at;
    },
  };
}
