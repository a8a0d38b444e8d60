// A Store whose driver runs on its own thread. The caller's event loop then spends nothing on SQL: every
// call is posted to the store thread and answered there, where the driver's group commit folds the
// calls that arrive together into one transaction. Used for SQLite, whose calls are synchronous.
// The thread may serve more than the store (namespaces of its own, such as delivery running beside it).
//
// Protocol (structured clone over the worker's port):
//   ready:   thread → caller { ready: true, methods: { apps: ['create', ...], ... } }
//   call:    caller → thread { id, ns, method, args }     reply: { id, value } or { id, error }
//   close:   a call of ns 'store', method 'close'; the thread exits after answering it.
import { typeScriptThread } from '../../threads.ts';
import { ConflictError, type Store, StoreUnavailableError } from '../store.ts';

export interface WireError {
  name: string;
  message: string;
  code?: unknown;
  field?: string;
  reason?: string; // StoreUnavailableError's driver code (SQLITE_FULL…)
}

export type Call = { id: number; ns: string; method: string; args: unknown[] };
export type Reply = { id: number; value?: unknown; error?: WireError };
export type Ready = { ready: true; methods: Record<string, string[]> };

/** Rebuilds the errors callers tell apart (ConflictError, StoreUnavailableError); others keep their code. */
export function fromWire(e: WireError): Error {
  if (e.name === 'ConflictError' && e.field !== undefined) return new ConflictError(e.field);
  if (e.name === 'StoreUnavailableError') {
    return new StoreUnavailableError(Object.assign(new Error(e.message), { code: e.reason }));
  }
  return Object.assign(new Error(e.message), { name: e.name, code: e.code });
}

export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, field, reason } = error as { code?: unknown; field?: unknown; reason?: unknown };
  return {
    name: error.constructor.name,
    message: error.message,
    ...(code === undefined ? {} : { code }),
    ...(typeof field === 'string' ? { field } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

export interface ThreadStore {
  store: Store;
  /** Calls a method of one of the thread's own namespaces. */
  call(ns: string, method: string, ...args: unknown[]): Promise<unknown>;
}

/**
 * Starts a store thread running `entry` (a module that serves a store, see serve-store.ts) with `options`
 * and resolves once the thread has opened it. Opening errors (a newer schema…) reject. Should the thread
 * end other than by `close`, calls in flight and later ones fail with StoreUnavailableError, and `onLost`
 * is told once.
 */
export function openThreadStore(
  entry: URL,
  options: unknown,
  onLost: (error: Error) => void = () => {},
): Promise<ThreadStore> {
  const worker = typeScriptThread(entry, options);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let stopped: Error | null = null;
  let ready = false;

  const call = (ns: string, method: string, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (stopped) return reject(stopped);
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ns, method, args } satisfies Call);
    });

  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      const lost = ready && stopped === null;
      stopped ??= error;
      for (const p of pending.values()) p.reject(error);
      pending.clear();
      reject(error);
      if (lost) onLost(error);
    };
    worker.on('error', (error) => {
      // A driver's own error class (better-sqlite3's SqliteError) crosses the thread as a plain object.
      const e = error instanceof Error ? error : new Error(`store thread failed: ${JSON.stringify(error)}`);
      fail(ready ? new StoreUnavailableError(e) : e);
    });
    worker.on('exit', (code) => fail(new StoreUnavailableError(`store thread exited (${code})`)));
    worker.on('message', (msg: Reply | Ready) => {
      if ('ready' in msg) {
        const store: Record<string, unknown> = {};
        for (const [ns, methods] of Object.entries(msg.methods)) {
          store[ns] = Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => call(ns, m, args)]));
        }
        store.close = async () => {
          if (stopped) return;
          const closing = call('store', 'close', []);
          stopped = new StoreUnavailableError('store closed');
          await closing;
        };
        ready = true;
        return resolve({
          store: store as unknown as Store,
          call: (ns, method, ...args) => call(ns, method, args),
        });
      }
      const p = pending.get(msg.id);
      if (p === undefined) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(fromWire(msg.error));
      else p.resolve(msg.value);
    });
  });
}
