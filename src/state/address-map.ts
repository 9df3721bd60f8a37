/**
 * Tor's address map (control-spec 4.1.7 ADDRMAP, 3.9 `address-mappings/all`): hostnames tor
 * resolved, MAPADDRESS entries, automapped addresses. Entries may expire; expiry is judged by an
 * injectable clock so that tests need not wait.
 */

import { inspect } from 'node:util';
import type { AddrMapScan } from '../control/events/addrmap-event.js';
import type { AddrMapEvent } from '../control/events/event-types.js';
import { detach } from '../control/events/field-parsers.js';

/**
 * One address mapping. Its `expires` Date is made when first read: the state compares mappings by
 * `expiresAt`, and most mappings are replaced or expire without anyone looking at the Date.
 */
export class AddressMapping {
  /** The mapped address (a hostname, or an IP for reverse and virtual mappings). */
  declare readonly address: string;
  /** What it maps to; `null` for a failed resolve (tor's `<error>`). */
  declare readonly newAddress: string | null;
  /** `expires` in epoch milliseconds (`Infinity` for NEVER), for cheap comparisons. */
  declare readonly expiresAt: number;
  /** tor's `error=` code for failed resolves. */
  declare readonly error: string | undefined;
  /** Whether tor keeps the mapping until it expires (false: a one-off RESOLVE answer). */
  declare readonly cached: boolean | undefined;
  /** The stream (or circuit) the address was resolved for. */
  declare readonly streamId: string | undefined;
  private declare madeExpires: Date | null | undefined;

  /**
   * Mappings live long (until they expire, hours for some), so their strings must be copies
   * rather than slices of the event's text, which would keep that text (and whatever it was sliced
   * from) alive: see {@link fromEvent} and {@link fromScan}.
   */
  private constructor(
    address: string,
    newAddress: string | null,
    expiresAt: number,
    error: string | undefined,
    cached: boolean | undefined,
    streamId: string | undefined,
    expires: Date | null | undefined,
  ) {
    this.address = address;
    this.newAddress = newAddress;
    this.expiresAt = expiresAt;
    this.error = error;
    this.cached = cached;
    this.streamId = streamId;
    this.madeExpires = expires;
  }

  /**
   * The mapping an ADDRMAP event (or address-mappings line) describes.
   *
   * @param previous - the mapping this one replaces, if any: its strings are reused when equal
   */
  static fromEvent(e: AddrMapEvent, previous?: AddressMapping): AddressMapping {
    return new AddressMapping(
      previous !== undefined ? previous.address : detach(e.address),
      ownNewAddress(e.newAddress, previous),
      e.expires === null ? Infinity : e.expires.getTime(),
      e.error === undefined ? undefined : detach(e.error),
      e.cached,
      e.streamId === undefined ? undefined : detach(e.streamId),
      e.expires,
    );
  }

  /**
   * The mapping {@link scanAddrMap} read, without an event in between.
   *
   * @param previous - the mapping this one replaces, if any: its strings are reused when equal
   */
  static fromScan(scan: Readonly<AddrMapScan>, previous: AddressMapping | undefined): AddressMapping {
    return new AddressMapping(
      previous !== undefined ? previous.address : detach(scan.address),
      ownNewAddress(scan.newAddress, previous),
      scan.expiresAt,
      scan.error === undefined ? undefined : detach(scan.error),
      scan.cached,
      scan.streamId === undefined ? undefined : detach(scan.streamId),
      undefined,
    );
  }

  /**
   * The mapping a MAPADDRESS made, as its reply names it: it never expires, and tor keeps it
   * (its ADDRMAP event, which follows the reply, says `NEVER CACHED="YES"`).
   *
   * @param previous - the mapping this one replaces, if any: its strings are reused when equal
   */
  static fromMapAddress(address: string, newAddress: string, previous: AddressMapping | undefined): AddressMapping {
    return new AddressMapping(
      previous !== undefined ? previous.address : detach(address),
      ownNewAddress(newAddress, previous),
      Infinity,
      undefined,
      true,
      undefined,
      null,
    );
  }

  /** When the mapping expires; `null` for NEVER. */
  get expires(): Date | null {
    if (this.madeExpires === undefined) this.madeExpires = this.expiresAt === Infinity ? null : new Date(this.expiresAt);
    return this.madeExpires;
  }

  /** The fields as plain data (what JSON.stringify shows). */
  toJSON(): {
    address: string;
    newAddress: string | null;
    expires: Date | null;
    expiresAt: number;
    error: string | undefined;
    cached: boolean | undefined;
    streamId: string | undefined;
  } {
    const { address, newAddress, expires, expiresAt, error, cached, streamId } = this;
    return { address, newAddress, expires, expiresAt, error, cached, streamId };
  }

  [inspect.custom](): string {
    const to = this.newAddress === null ? `<error ${this.error ?? ''}>` : this.newAddress;
    return `AddressMapping { ${this.address} -> ${to} until ${this.expires?.toISOString() ?? 'NEVER'} }`;
  }
}

/** What a mapping keeps of its new address: the one it replaces has when equal, else a copy. */
function ownNewAddress(newAddress: string | null, previous: AddressMapping | undefined): string | null {
  if (newAddress === null) return null;
  return previous !== undefined && previous.newAddress === newAddress ? previous.newAddress : detach(newAddress);
}

/** What the expiry heap keeps of a mapping: its address and when it expires. */
export interface ExpiryEntry {
  readonly address: string;
  readonly expiresAt: number;
}

/**
 * A min-heap of mappings by expiry. Entries are never removed from the middle: an entry whose
 * address has since been mapped again is recognised as stale when it surfaces (see
 * {@link pruneExpired}); and a new mapping with the same expiry as the one it replaces needs no
 * entry of its own (see {@link needsExpiryEntry}).
 *
 * It keeps each entry's address and time in two arrays, not the mapping object: a busy client
 * replaces mappings all the time, and a heap holding the replaced objects would keep them (and
 * their Dates) alive until their entries surface.
 */
export class ExpiryHeap {
  private readonly times: number[] = [];
  private readonly addresses: string[] = [];

  /** Entries in the heap (stale ones included). */
  get size(): number {
    return this.times.length;
  }

  /** The earliest expiry, or Infinity when empty. */
  peekTime(): number {
    return this.times.length === 0 ? Infinity : this.times[0]!;
  }

  /** Adds an entry for `m.address` at `m.expiresAt`. */
  push(m: ExpiryEntry): void {
    const times = this.times;
    const addresses = this.addresses;
    const t = m.expiresAt;
    let i = times.length;
    times.push(t);
    addresses.push(m.address);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= t) break;
      times[i] = times[parent]!;
      addresses[i] = addresses[parent]!;
      i = parent;
    }
    times[i] = t;
    addresses[i] = m.address;
  }

  /** Removes and returns the entry with the earliest expiry. */
  pop(): ExpiryEntry | undefined {
    const times = this.times;
    const addresses = this.addresses;
    if (times.length === 0) return undefined;
    const top: ExpiryEntry = { address: addresses[0]!, expiresAt: times[0]! };
    const lastTime = times.pop()!;
    const lastAddress = addresses.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && times[r]! < times[l]! ? r : l;
        if (times[c]! >= lastTime) break;
        times[i] = times[c]!;
        addresses[i] = addresses[c]!;
        i = c;
      }
      times[i] = lastTime;
      addresses[i] = lastAddress;
    }
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.times.length = 0;
    this.addresses.length = 0;
  }
}

/**
 * Removes every mapping of `map` that expired at or before `now`, oldest first. The heap must
 * hold an entry at each current mapping's expiry time (any mapping object of that address).
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
    const entry = heap.pop()!;
    const current = map.get(entry.address);
    // A later mapping of the address that has not expired makes the entry stale.
    if (current !== undefined && current.expiresAt <= now) {
      map.delete(entry.address);
      onExpired?.(current);
    }
  }
}

/**
 * Whether `next` (about to replace `previous` in the map) needs its own heap entry: not when it
 * never expires, nor when it expires exactly when the mapping it replaces did (that entry serves).
 */
export function needsExpiryEntry(previous: AddressMapping | undefined, next: AddressMapping): boolean {
  return next.expiresAt !== Infinity && (previous === undefined || previous.expiresAt !== next.expiresAt);
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
