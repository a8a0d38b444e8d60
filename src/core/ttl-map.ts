// Values that each last `ttlMs` from when they were set, for per-process caches keyed by names without
// bound (every application ever published to, every event type a publisher made up). An entry read
// again after it expired is replaced, but one never read again would stay: so expired entries are swept
// whenever the map has doubled since the last sweep. It then holds about twice the keys set within a
// TTL at most, at a constant cost per set (amortized).

const MIN_SWEEP = 1024;

export class TtlMap<T> {
  readonly #entries = new Map<string, { value: T; until: number }>();
  #sweepAt = MIN_SWEEP;

  constructor(
    readonly ttlMs: number,
    readonly now: () => number,
  ) {}

  /** The entry of `key` while it lasts: `{ value }`, so that a stored null or undefined is a hit. */
  fresh(key: string): { value: T } | undefined {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.until > this.now() ? entry : undefined;
  }

  /** The entry of `key`, expired or not, until a sweep removes it. */
  last(key: string): { value: T } | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: T): void {
    const now = this.now();
    this.#entries.set(key, { value, until: now + this.ttlMs });
    if (this.#entries.size < this.#sweepAt) return;
    for (const [k, entry] of this.#entries) if (entry.until <= now) this.#entries.delete(k);
    this.#sweepAt = Math.max(MIN_SWEEP, 2 * this.#entries.size);
  }

  /** Deletes the entries `drop` names. */
  deleteWhere(drop: (key: string, value: T) => boolean): void {
    for (const [key, entry] of this.#entries) if (drop(key, entry.value)) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
