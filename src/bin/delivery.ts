// The delivery side of a server: the worker, its HTTP sender and the retention sweeper.

import { randomInt } from 'node:crypto';
import type { Config } from '../config/config.ts';
import { parseCidrs } from '../core/ssrf.ts';
import { startRetention } from '../delivery/retention.ts';
import { createSender } from '../delivery/undici-sender.ts';
import { createWorker, type Worker } from '../delivery/worker.ts';
import type { Store } from '../store/store.ts';

const random = () => randomInt(0, 2 ** 48 - 1) / 2 ** 48;

/** The delivery side: the worker, its HTTP sender and the retention sweeper. */
export interface Delivery {
  wake(): void;
  /** Stops claiming, drains attempts in flight, then closes what it opened. */
  stop(): Promise<void>;
  /** Attempts claimed and not recorded yet, also while stopping. */
  inFlight(): Promise<number>;
}

/** Runs delivery over `store` (which the caller closes); `own` are this server's addresses, never dialed. */
export function startDelivery(
  store: Store,
  config: Readonly<Config>,
  own: readonly { host: string; port: number }[],
): Delivery & Pick<Worker, 'offer'> {
  const now = Date.now;
  const sender = createSender({
    timeoutMs: config.delivery.attemptTimeoutMs,
    connectTimeoutMs: config.delivery.connectTimeoutMs,
    bodyCap: config.delivery.responseBodyCap,
    allow: parseCidrs(config.delivery.allowSubnets),
    refuse: own,
    connectionsPerOrigin: config.delivery.concurrency,
  });
  const worker = createWorker({ store, config, sender, now, random });
  worker.start();
  const retention = startRetention(store, now);
  return {
    wake: () => worker.wake(),
    offer: () => worker.offer(),
    async stop() {
      retention.stop();
      await worker.stop();
      await sender.close();
    },
    inFlight: async () => worker.inFlight(),
  };
}
