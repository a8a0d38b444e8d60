// Group commit: callers add items one at a time; items that arrive while a flush is running are
// flushed together as soon as it ends. No timer: an idle batcher flushes a lone item at once.

export interface Batcher<I, O> {
  add(item: I): Promise<O>;
  /** Resolves once everything added so far has been flushed. */
  drain(): Promise<void>;
}

export function createBatcher<I, O>(flush: (items: I[]) => Promise<O[]>, maxBatch: number): Batcher<I, O> {
  type Pending = { item: I; resolve: (o: O) => void; reject: (e: unknown) => void };
  let queue: Pending[] = [];
  let running: Promise<void> | null = null;

  async function run(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        const results = await flush(batch.map((p) => p.item));
        for (const [i, p] of batch.entries()) p.resolve(results[i] as O);
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    running = null;
  }

  return {
    add(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        running ??= Promise.resolve().then(run);
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
