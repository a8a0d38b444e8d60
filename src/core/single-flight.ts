// Work started in the background once per key at a time: asked for a key whose work is still running,
// it starts nothing. A failure is dropped; the next ask for that key starts the work again.

export function singleFlight(work: (key: string) => Promise<unknown>): (keys: Iterable<string>) => void {
  const running = new Set<string>();
  return (keys) => {
    for (const key of keys) {
      if (running.has(key)) continue;
      running.add(key);
      void work(key)
        .catch(() => {})
        .finally(() => running.delete(key));
    }
  };
}
