/**
 * Tor's address map (control-spec 4.1.7 ADDRMAP, 3.9 `address-mappings/all`): hostnames tor
 * resolved, MAPADDRESS entries, automapped addresses. Entries may expire; expiry is judged by an
 * injectable clock so that tests need not wait.
 */

import type { AddrMapEvent } from '../control/events/event-types.js';

/** One address mapping. */
export interface AddressMapping {
  /** The mapped address (a hostname, or an IP for reverse and virtual mappings). */
  readonly address: string;
  /** What it maps to; `null` for a failed resolve (tor's `<error>`). */
  readonly newAddress: string | null;
  /** When the mapping expires; `null` for NEVER. */
  readonly expires: Date | null;
  /** `expires` in epoch milliseconds (`Infinity` for NEVER), for cheap comparisons. */
  readonly expiresAt: number;
  /** tor's `error=` code for failed resolves. */
  readonly error: string | undefined;
  /** Whether tor keeps the mapping until it expires (false: a one-off RESOLVE answer). */
  readonly cached: boolean | undefined;
  /** The stream (or circuit) the address was resolved for. */
  readonly streamId: string | undefined;
}

/** The mapping an ADDRMAP event (or address-mappings line) describes. */
export function mappingFromEvent(e: AddrMapEvent): AddressMapping {
  return {
    address: e.address,
    newAddress: e.newAddress,
    expires: e.expires,
    expiresAt: e.expires === null ? Infinity : e.expires.getTime(),
    error: e.error,
    cached: e.cached,
    streamId: e.streamId,
  };
}

/**
 * A min-heap of mappings by expiry. Entries are never removed from the middle: a replaced mapping
 * stays in the heap and is recognised as stale when it surfaces (the map no longer holds it).
 */
export class ExpiryHeap {
  private readonly items: AddressMapping[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest expiry, or Infinity when empty. */
  peekTime(): number {
    return this.items.length === 0 ? Infinity : this.items[0]!.expiresAt;
  }

  push(m: AddressMapping): void {
    const a = this.items;
    let i = a.length;
    a.push(m);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.expiresAt <= m.expiresAt) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = m;
  }

  pop(): AddressMapping | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]!.expiresAt < a[l]!.expiresAt ? r : l;
        if (a[c]!.expiresAt >= last.expiresAt) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/**
 * Removes every mapping of `map` that expired at or before `now`, oldest first.
 *
 * @param onExpired - called for each removed mapping
 */
export function pruneExpired(
  map: Map<string, AddressMapping>,
  heap: ExpiryHeap,
  now: number,
  onExpired?: (m: AddressMapping) => void,
): void {
  while (heap.peekTime() <= now) {
    const m = heap.pop()!;
    if (map.get(m.address) === m) {
      map.delete(m.address);
      onExpired?.(m);
    }
  }
}

/**
 * A read-only view of an address map that hides expired mappings. Every read first removes the
 * mappings that have expired by `clock()` (reporting each through `onExpired`), so what it returns
 * is always current.
 */
export class AddressMapView implements ReadonlyMap<string, AddressMapping> {
  constructor(
    private readonly map: Map<string, AddressMapping>,
    private readonly prune: () => void,
  ) {}

  get size(): number {
    this.prune();
    return this.map.size;
  }

  get(address: string): AddressMapping | undefined {
    this.prune();
    return this.map.get(address);
  }

  has(address: string): boolean {
    this.prune();
    return this.map.has(address);
  }

  forEach(fn: (value: AddressMapping, key: string, map: ReadonlyMap<string, AddressMapping>) => void, thisArg?: unknown): void {
    this.prune();
    for (const [k, v] of this.map) fn.call(thisArg, v, k, this);
  }

  entries(): MapIterator<[string, AddressMapping]> {
    this.prune();
    return this.map.entries();
  }

  keys(): MapIterator<string> {
    this.prune();
    return this.map.keys();
  }

  values(): MapIterator<AddressMapping> {
    this.prune();
    return this.map.values();
  }

  [Symbol.iterator](): MapIterator<[string, AddressMapping]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'AddressMapView';
  }
}
