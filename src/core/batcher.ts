// Group commit: callers add items one at a time; the items added in one turn of the event loop are
// flushed together, at its end (setImmediate), so requests read from many sockets in one turn share a
// flush (with a microtask each callback would flush alone). Up to `maxInFlight` flushes run at once;
// items that arrive while all of them are running wait and go out together as soon as one ends.
// More than one flush in flight matters when a flush waits on something other than this thread (a
// store thread, a database): a single one would make every batch wait for the previous round trip.
// A flush that fails rejects every item of its batch; one that answers an item with an Error rejects
// that item alone. With `wait`, an item that has waited that long for a flush (those in flight are stuck:
// a database behind a lock) fails unsent, so that its caller hears within a bounded time.

export interface Batcher<I, O> {
  add(item: I): Promise<O>;
  /** Resolves once everything added so far has been flushed. */
  drain(): Promise<void>;
}

export function createBatcher<I, O>(
  flush: (items: I[]) => Promise<Array<O | Error>>,
  maxBatch: number,
  maxInFlight = 1,
  wait?: { maxMs: number; late: () => Error },
): Batcher<I, O> {
  type Pending = { item: I; at: number; resolve: (o: O) => void; reject: (e: unknown) => void };
  let queue: Pending[] = [];
  let scheduled = false;
  const running = new Set<Promise<void>>();
  let expiring: NodeJS.Timeout | null = null;

  /** Fails the items that waited past wait.maxMs; checks again when the oldest left would. */
  function expire(): void {
    expiring = null;
    if (!wait) return;
    const now = performance.now();
    const late = queue.filter((p) => now - p.at >= wait.maxMs);
    if (late.length > 0) queue = queue.filter((p) => now - p.at < wait.maxMs);
    for (const p of late) p.reject(wait.late());
    if (queue.length > 0) expiring = setTimeout(expire, wait.maxMs - (now - queue[0]!.at));
  }

  async function run(batch: Pending[]): Promise<void> {
    try {
      const results = await flush(batch.map((p) => p.item));
      for (const [i, p] of batch.entries()) {
        const result = results[i];
        if (result instanceof Error) p.reject(result);
        else p.resolve(result as O);
      }
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  function pump(): void {
    scheduled = false;
    while (queue.length > 0 && running.size < maxInFlight) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      const flushing: Promise<void> = run(batch).finally(() => {
        running.delete(flushing);
        pump();
      });
      running.add(flushing);
    }
  }

  return {
    add(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, at: wait ? performance.now() : 0, resolve, reject });
        if (!scheduled && running.size < maxInFlight) {
          scheduled = true;
          setImmediate(pump);
        } else if (wait && expiring === null && running.size >= maxInFlight) {
          expiring = setTimeout(expire, wait.maxMs);
        }
      });
    },
    async drain() {
      while (running.size > 0 || queue.length > 0) {
        if (running.size === 0) pump();
        await Promise.all(running);
      }
    },
  };
}
