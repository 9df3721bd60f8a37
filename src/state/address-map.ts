/**
 * Tor's address map (control-spec 4.1.7 ADDRMAP, 3.9 `address-mappings/all`): hostnames tor
 * resolved, MAPADDRESS entries, automapped addresses. Entries may expire; expiry is judged by an
 * injectable clock so that tests need not wait.
 */

import { inspect } from 'node:util';
import { parseAddrMapBody } from '../control/events/addrmap-event.js';
import type { AddrMapEvent } from '../control/events/event-types.js';
import { detach } from '../control/events/field-parsers.js';

/**
 * One address mapping. A mapping made from an ADDRMAP event's text knows its address and expiry at
 * once and parses the rest of the text when one of those fields is first read (see
 * unread-texts.ts for why).
 */
export class AddressMapping {
  /** The mapped address (a hostname, or an IP for reverse and virtual mappings). */
  declare readonly address: string;
  /** `expires` in epoch milliseconds (`Infinity` for NEVER), for cheap comparisons. */
  declare readonly expiresAt: number;
  /** The body not parsed yet (a copy), or undefined once parsed. */
  private declare unread: string | undefined;
  /** Whether the unread body's positional expiry is UTC (GETINFO) rather than local time (events). */
  private declare utcExpiry: boolean;
  private declare parsedNewAddress: string | null;
  private declare parsedError: string | undefined;
  private declare parsedCached: boolean | undefined;
  private declare parsedStreamId: string | undefined;
  private declare madeExpires: Date | null | undefined;

  private constructor(address: string, expiresAt: number) {
    this.address = address;
    this.expiresAt = expiresAt;
    this.unread = undefined;
    this.utcExpiry = false;
    this.parsedNewAddress = null;
    this.parsedError = undefined;
    this.parsedCached = undefined;
    this.parsedStreamId = undefined;
    this.madeExpires = undefined;
  }

  /**
   * The mapping an ADDRMAP event (or address-mappings line) describes.
   *
   * Mappings live long (until they expire, hours for some), so their strings are copies rather than
   * slices of the event's text, which would keep that text (and whatever it was sliced from) alive.
   *
   * @param previous - the mapping this one replaces, if any: its strings are reused when equal
   */
  static fromEvent(e: AddrMapEvent, previous?: AddressMapping): AddressMapping {
    const m = new AddressMapping(
      previous !== undefined ? previous.address : detach(e.address),
      e.expires === null ? Infinity : e.expires.getTime(),
    );
    m.fill(e, previous);
    m.madeExpires = e.expires;
    return m;
  }

  /**
   * A mapping whose address and expiry are known and whose other fields are read from `body`
   * when first asked for.
   *
   * @param address - a copy (or a string the state already keeps)
   * @param body - the ADDRMAP body or address-mappings line: a copy, that scanAddrMapHead accepted
   * @param utcExpiry - as for parseAddrMapBody
   */
  static fromText(address: string, expiresAt: number, body: string, utcExpiry: boolean): AddressMapping {
    const m = new AddressMapping(address, expiresAt);
    m.unread = body;
    m.utcExpiry = utcExpiry;
    return m;
  }

  /** What it maps to; `null` for a failed resolve (tor's `<error>`). */
  get newAddress(): string | null {
    this.read();
    return this.parsedNewAddress;
  }

  /** When the mapping expires; `null` for NEVER. */
  get expires(): Date | null {
    if (this.madeExpires === undefined) this.madeExpires = this.expiresAt === Infinity ? null : new Date(this.expiresAt);
    return this.madeExpires;
  }

  /** tor's `error=` code for failed resolves. */
  get error(): string | undefined {
    this.read();
    return this.parsedError;
  }

  /** Whether tor keeps the mapping until it expires (false: a one-off RESOLVE answer). */
  get cached(): boolean | undefined {
    this.read();
    return this.parsedCached;
  }

  /** The stream (or circuit) the address was resolved for. */
  get streamId(): string | undefined {
    this.read();
    return this.parsedStreamId;
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

  private read(): void {
    const body = this.unread;
    if (body === undefined) return;
    this.unread = undefined;
    // scanAddrMapHead refused everything this parse refuses, so it does not throw.
    this.fill(parseAddrMapBody(body, 0, body, this.utcExpiry), undefined);
  }

  private fill(e: AddrMapEvent, previous: AddressMapping | undefined): void {
    const newAddress = e.newAddress;
    this.parsedNewAddress =
      newAddress === null ? null : previous !== undefined && previous.newAddress === newAddress ? previous.newAddress : detach(newAddress);
    this.parsedError = e.error === undefined ? undefined : detach(e.error);
    this.parsedCached = e.cached;
    this.parsedStreamId = e.streamId === undefined ? undefined : detach(e.streamId);
  }
}

/** The mapping an ADDRMAP event (or address-mappings line) describes: {@link AddressMapping.fromEvent}. */
export function mappingFromEvent(e: AddrMapEvent, previous?: AddressMapping): AddressMapping {
  return AddressMapping.fromEvent(e, previous);
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
