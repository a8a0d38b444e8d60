// Per-endpoint rate limits for the worker: the endpoint's own `rateLimit`, else its application's
// (which applies to each endpoint that sets none). Slots are reserved in the store, so the limit holds
// across worker processes; a task that must wait is put back until its slot, and passes when it is
// claimed again holding it (by any worker, within SLOT_GRACE_MS of the slot; later, it takes the next
// free slot, behind those already given out). A rate-limit change takes that slot back (store resetRate).

import { TtlMap } from '../core/ttl-map.ts';
import type { DeliveryTask, Endpoint } from '../core/types.ts';
import type { Store } from '../store/store.ts';

export interface RateGate {
  /** The time this task may be sent, or null if now. */
  wait(task: DeliveryTask, endpoint: Endpoint): Promise<number | null>;
}

const APP_RATE_TTL_MS = 1000; // how long an application's rate is cached to skip unlimited endpoints

export function createRateGate(store: Store, now: () => number): RateGate {
  const appRates = new TtlMap<number | null>(APP_RATE_TTL_MS, now);

  async function rateOf(endpoint: Endpoint): Promise<number | null> {
    if (endpoint.rateLimit !== null) return endpoint.rateLimit;
    const hit = appRates.fresh(endpoint.appId);
    if (hit) return hit.value;
    const rate = (await store.apps.get(endpoint.appId))?.rateLimit ?? null;
    appRates.set(endpoint.appId, rate);
    return rate;
  }

  return {
    async wait(task, endpoint) {
      if (task.rateSlot) return null;
      const rate = await rateOf(endpoint);
      if (rate === null || rate <= 0) return null;
      // The store reserves at the rate that applies now, which a change may have made other than `rate`.
      const at = await store.endpoints.reserveSlot(endpoint.id, now());
      return at <= now() ? null : at;
    },
  };
}
