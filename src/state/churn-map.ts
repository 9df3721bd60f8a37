import { inspect } from 'node:util';

/** Deletions after which a {@link ChurnMap} moves its entries to a fresh Map. */
export const RENEW_AFTER_DELETES = 256;

/**
 * A Map for entries that come and go all the time (open streams and circuits), read through the
 * `ReadonlyMap` interface.
 *
 * Why not a plain Map: V8 replaces a Map's hash table as entries are added and deleted, and the
 * replaced table still points at the entries it held. A Map that has lived a while is in the old
 * generation, and so are the tables it allocates; a replaced table then keeps every entry it held
 * (and what they point at) alive through young-generation collections until the next full one, so
 * nearly every stream was promoted after it closed (on the state-replay bench: 260 KB per
 * scavenge for the streams alone, 30 KB with this class). Moving the entries to a fresh Map
 * every few hundred deletions keeps the Map and its tables young, where a replaced table keeps
 * nothing alive. The copy costs one entry per live entry every {@link RENEW_AFTER_DELETES}
 * deletions.
 *
 * An iterator taken before a renewal goes on over the entries as they were then.
 */
export class ChurnMap<K, V> implements ReadonlyMap<K, V> {
  #map = new Map<K, V>();
  #deletes = 0;

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    this.#map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    if (!this.#map.delete(key)) return false;
    if (++this.#deletes >= RENEW_AFTER_DELETES) {
      this.#deletes = 0;
      this.#map = new Map(this.#map);
    }
    return true;
  }

  clear(): void {
    this.#map = new Map();
    this.#deletes = 0;
  }

  /** The first key in insertion order (the oldest entry), if any. */
  firstKey(): K | undefined {
    return this.#map.keys().next().value;
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#map) fn.call(thisArg, v, k, this);
  }

  entries(): MapIterator<[K, V]> {
    return this.#map.entries();
  }

  keys(): MapIterator<K> {
    return this.#map.keys();
  }

  values(): MapIterator<V> {
    return this.#map.values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }

  /** Shown as the Map it stands for. */
  [inspect.custom](depth: number, options: object): string {
    return inspect(this.#map, { ...options, depth });
  }
}
