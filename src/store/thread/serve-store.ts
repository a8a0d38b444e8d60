// The store thread's side: opens a store and answers calls (see thread-store.ts).
import { parentPort } from 'node:worker_threads';
import { type Call, type Ready, type Reply, toWire } from './thread-store.ts';

type Methods = Record<string, (...args: unknown[]) => Promise<unknown>>;

/**
 * Serves `store` (a Store, or some of its namespaces), and beside it the thread's own namespaces (`more`),
 * until the store is closed.
 */
export function serveStore(store: { close(): Promise<void> }, more: Record<string, Methods> = {}): void {
  const port = parentPort;
  if (port === null) throw new Error('serveStore runs on a worker thread');
  const table = { ...(store as unknown as Record<string, Methods>), ...more };
  const methods: Record<string, string[]> = {};
  for (const [ns, value] of Object.entries(table)) {
    if (typeof value === 'object' && value !== null) methods[ns] = Object.keys(value);
  }
  port.on('message', ({ id, ns, method, args }: Call) => {
    const fn = ns === 'store' ? () => store.close() : table[ns]?.[method];
    if (fn === undefined) {
      port.postMessage({
        id,
        error: { name: 'Error', message: `no store method ${ns}.${method}` },
      } satisfies Reply);
      return;
    }
    let result: Promise<unknown>;
    try {
      result = fn(...args);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        port.postMessage({ id, value } satisfies Reply);
        if (ns === 'store') port.close(); // closed: the thread ends
      },
      (error: unknown) => port.postMessage({ id, error: toWire(error) } satisfies Reply),
    );
  });
  port.postMessage({ ready: true, methods } satisfies Ready);
}
