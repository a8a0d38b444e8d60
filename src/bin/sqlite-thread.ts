// The SQLite thread: the store, and delivery beside it once the caller starts it. Delivery then claims
// and records attempts with synchronous calls on this thread, while the caller's thread serves the API,
// whose store calls cross over. A publish hands its new tasks straight to the worker when it can (no
// claim needed); a commit that leaves tasks due (publish, resend, recover, replay) wakes the worker here.
import { workerData } from 'node:worker_threads';
import type { Config } from '../config/config.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { ClaimedTask, PublishItem, PublishResult, Store } from '../store/store.ts';
import { serveStore } from '../store/thread/serve-store.ts';
import { startDelivery } from './delivery.ts';

const { config } = (workerData as { options: { config: Readonly<Config> } }).options;
const store = open(config.database);

/** Opens the store; an error is rethrown as a plain Error, whose message crosses to the caller's thread. */
function open(path: string): ReturnType<typeof openSqliteStore> {
  try {
    return openSqliteStore(path, { retentionMs: config.retentionMs, onSyncFailed: stop });
  } catch (error) {
    const { message, code } = error as { message?: string; code?: unknown };
    throw Object.assign(new Error(`cannot open the database ${path}: ${message ?? String(error)}`), { code });
  }
}
/** Ends the thread, and so the process (see open-store.ts), with the reason as its error. */
function stop(error: Error): never {
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  throw new Error(
    `the write-ahead log could not be synced (${code}): stopping; a restart recovers what reached the disk`,
  );
}

let delivery: ReturnType<typeof startDelivery> | null = null;
// Kept while it stops: the drain asks how many attempts it still holds.
let started: ReturnType<typeof startDelivery> | null = null;

function waking<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    const result = await fn(...args);
    delivery?.wake();
    return result;
  };
}

async function publish(items: PublishItem[]): Promise<PublishResult[]> {
  const running = delivery;
  if (!running) return store.messages.publish(items);
  const offer = running.offer();
  let handed: ClaimedTask[] = [];
  try {
    const published = await store.messages.publishOffering(items, offer);
    handed = published.handed;
    if (published.queued > 0) running.wake();
    return published.results;
  } finally {
    offer.adopt(handed);
  }
}

const served: Store = {
  ...store,
  messages: { ...store.messages, publish },
  tasks: {
    ...store.tasks,
    resend: waking(store.tasks.resend),
    recover: waking(store.tasks.recover),
    replayMissing: waking(store.tasks.replayMissing),
  },
  async close() {
    await stopDelivery();
    await store.close();
  },
};

async function stopDelivery(): Promise<void> {
  const stopping = delivery;
  delivery = null;
  await stopping?.stop();
}

serveStore(served, {
  delivery: {
    /** Starts delivery; `own` are the caller's listen addresses, never dialed. */
    async start(own) {
      delivery ??= startDelivery(store, config, own as { host: string; port: number }[]);
      started = delivery;
    },
    stop: stopDelivery,
    inFlight: async () => (await started?.inFlight()) ?? 0,
  },
});
