// A short-lived per-process cache of what every publish reads: the application (by the id or uid the
// path names), its endpoints, for subscription matching, and the event type (an archived one is
// refused). Writes through this process invalidate it at once; writes by other processes show within
// `ttlMs`. Publishes that miss the same key at once share one read, and an entry lasts `ttlMs` from when
// its read came back: on a database slow to answer, every publish would otherwise read for itself (10
// reads a second per key at 100 ms a read, 100 at 1.2 s), and fill the connection pool.

import { TtlMap } from '../core/ttl-map.ts';
import type { Application, Endpoint, EventType } from '../core/types.ts';
import type { Store } from '../store/store.ts';

/** Values by key, each for ttlMs after it was read; reads of a key in flight are shared. */
class Lookups<T> {
  readonly #entries: TtlMap<T>;
  readonly #reading = new Map<string, Promise<T>>();
  #generation = 0; // a read that began before a forget does not store what it read

  constructor(ttlMs: number, now: () => number) {
    this.#entries = new TtlMap(ttlMs, now);
  }

  /** The value of `key`, read by `read` unless recent; `keep` says whether a value read is stored. */
  get(key: string, read: () => Promise<T>, keep: (value: T) => boolean = () => true): Promise<T> {
    const hit = this.#entries.fresh(key);
    if (hit) return Promise.resolve(hit.value);
    const shared = this.#reading.get(key);
    if (shared) return shared;
    const generation = this.#generation;
    const reading = read()
      .then((value) => {
        if (generation === this.#generation && keep(value)) this.#entries.set(key, value);
        return value;
      })
      .finally(() => {
        if (this.#reading.get(key) === reading) this.#reading.delete(key);
      });
    this.#reading.set(key, reading);
    return reading;
  }

  /** The value last stored for `key`, even expired (a sweep or a forget removes it). */
  last(key: string): T | undefined {
    return this.#entries.last(key)?.value;
  }

  /** Forgets the entries `drop` names, and every read in flight (they may have read the old value). */
  forget(drop: (key: string, value: T) => boolean): void {
    this.#generation++;
    this.#reading.clear();
    this.#entries.deleteWhere(drop);
  }
}

export class PublishCache {
  readonly #apps: Lookups<Application | null>;
  readonly #endpoints: Lookups<Endpoint[]>;
  readonly #eventTypes: Lookups<EventType | null>;
  readonly #versions = new WeakMap<Endpoint[], string>(); // each endpoint list: the version read before it

  constructor(now: () => number, ttlMs = 1000) {
    this.#apps = new Lookups(ttlMs, now);
    this.#endpoints = new Lookups(ttlMs, now);
    this.#eventTypes = new Lookups(ttlMs, now);
  }

  /** The application, or null (a miss is not cached: it may be created at any moment). */
  app(store: Store, idOrUid: string): Promise<Application | null> {
    return this.#apps.get(
      idOrUid,
      () => store.apps.get(idOrUid),
      (app) => app !== null,
    );
  }

  /**
   * The app's endpoints. Once expired, the list is read again only if their version changed: an app of
   * 200 endpoints with 5,000 event types each took 200 ms to read, every second it published.
   */
  endpoints(store: Store, appId: string): Promise<Endpoint[]> {
    return this.#endpoints.get(appId, async () => {
      const version = await store.endpoints.version(appId);
      const last = this.#endpoints.last(appId);
      if (last !== undefined && this.#versions.get(last) === version) return last;
      const list = await store.endpoints.listAll(appId);
      this.#versions.set(list, version);
      return list;
    });
  }

  /** The event type, or null; both are cached, as publishers may name any type, catalogued or not. */
  eventType(store: Store, name: string): Promise<EventType | null> {
    return this.#eventTypes.get(name, () => store.eventTypes.get(name));
  }

  forgetEventType(name: string): void {
    this.#eventTypes.forget((key) => key === name);
  }

  /** Forgets an application and its endpoints. */
  invalidate(appId: string): void {
    this.#endpoints.forget((key) => key === appId);
    this.#apps.forget((_, app) => app?.id === appId);
  }
}
