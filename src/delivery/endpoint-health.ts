// Endpoint health for the worker: a run of failures starts a clock (failingSince); a success stops it;
// a run longer than autoDisableAfterMs, or a 410 Gone, disables the endpoint.

import type { AttemptOutcome, Endpoint } from '../core/types.ts';
import { emit } from '../observability/events.ts';
import type { Store } from '../store/store.ts';

export interface EndpointHealth {
  record(endpoint: Endpoint, outcome: AttemptOutcome, at: number): Promise<void>;
}

export function createEndpointHealth(store: Store, autoDisableAfterMs: number): EndpointHealth {
  /** A run's disable holds only if the run still stands (a re-enable or a success meanwhile ends it). */
  async function disable(endpoint: Endpoint, reason: string, at: number, since?: number): Promise<void> {
    if (!(await store.endpoints.disable(endpoint.id, at, since))) return;
    emit('endpoint:disabled', { appId: endpoint.appId, endpointId: endpoint.id, reason });
  }

  return {
    async record(endpoint, outcome, at) {
      if (outcome.kind === 'delivered') {
        // Whatever the claim-time snapshot says: a failure recorded since, by a concurrent attempt of this
        // worker or of another process, is a run this success ends. The store makes the common case cheap
        // (no run stored: nothing is written).
        await store.endpoints.markHealth(endpoint.id, true, at);
        return;
      }
      if (outcome.kind === 'disable') return disable(endpoint, outcome.reason, at);
      // One write when a run of failures starts; a long run re-reads the stored value before disabling.
      if (endpoint.failingSince !== null && at - endpoint.failingSince < autoDisableAfterMs) return;
      const since = await store.endpoints.markHealth(endpoint.id, false, at);
      if (since !== null && at - since >= autoDisableAfterMs) {
        await disable(endpoint, `failing continuously since ${new Date(since).toISOString()}`, at, since);
      }
    },
  };
}
