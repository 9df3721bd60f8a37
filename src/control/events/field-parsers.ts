/**
 * Small scanners shared by the event parsers: tokens, numbers, times, LongNames, `host:port`.
 * They work on index ranges of the event text so that the hot events (CIRC, STREAM, ADDRMAP, BW,
 * ORCONN) allocate only the strings and objects they return. Malformed required fields are reported
 * with {@link TorProtocolError}; `parseEvent` turns that into a generic event, never a throw.
 */

import { TorProtocolError } from '../../errors.js';
import { findTokenEnd, keywordSplit, skipSpaces, startsAt, valueAt } from '../keyword-args.js';
import type { HostPort, RouterRef } from './event-types.js';

/** Shared `extra` of events without unmodelled keywords. Frozen: see {@link addExtra}. */
export const EMPTY_EXTRA: Readonly<Record<string, string>> = Object.freeze(
  Object.create(null) as Record<string, string>,
);

/** Shared empty list, for lists tor did not send. */
export const EMPTY_LIST: readonly never[] = Object.freeze([]);

/**
 * A copy of `value` that does not share memory with the string it was sliced from. Long-lived caches
 * store such copies: V8 substrings point into their parent, so caching a field sliced from a line
 * would keep the whole line (or reply) alive with it.
 */
export function detach(value: string): string {
  // V8 copies substrings shorter than 13 characters (SlicedString::kMinLength), so those are
  // already on their own: ids, statuses, ports. Longer ones: concatenation makes a cons string,
  // and slicing it flattens it into a fresh sequential string.
  if (value.length < 13) return value;
  return (' ' + value).slice(1);
}

/**
 * What a long-lived holder (a circuit, a stream) keeps of a string field: the string it has when
 * the value is the same, else a copy that does not share memory with the event's line.
 */
export function ownString(kept: string | undefined, value: string): string {
  return kept === value ? kept : detach(value);
}

/** Records `key=value` in `event.extra`, replacing the shared empty object on first use. */
export function addExtra(event: { extra: Readonly<Record<string, string>> }, key: string, value: string): void {
  let extra = event.extra as Record<string, string>;
  if (extra === EMPTY_EXTRA) {
    extra = Object.create(null) as Record<string, string>;
    event.extra = extra;
  }
  extra[key] = value;
}

/** A malformed-event error naming the event and what was wrong. */
export function malformed(what: string): TorProtocolError {
  return new TorProtocolError(what);
}

/** Index of the space after the bare token at `pos`, or `text.length`. */
export function bareEnd(text: string, pos: number): number {
  const sp = text.indexOf(' ', pos);
  return sp === -1 ? text.length : sp;
}

/** Where the fields {@link scanBareFields} read start and end: `[start0, end0, start1, end1, ...]`. */
export const fieldBounds = new Int32Array(8);

/**
 * Reads up to `count` (at most 4) bare words from `pos` on, each after one or more spaces, into
 * {@link fieldBounds}, and returns how many the text held. The leading positional fields of the hot
 * events are read with it: one loop for all of them keeps the code V8 compiles for a scanner to one
 * copy of it, not one per field, which shortens the start, when that compiling is most of the cost.
 */
export function scanBareFields(text: string, pos: number, count: number): number {
  const len = text.length;
  for (let f = 0; f < count; f++) {
    while (pos < len && text.charCodeAt(pos) === 32 /* SP */) pos++;
    if (pos >= len) return f;
    let end = text.indexOf(' ', pos);
    if (end === -1) end = len;
    fieldBounds[2 * f] = pos;
    fieldBounds[2 * f + 1] = end;
    pos = end;
  }
  return count;
}

/**
 * Returns the first of `candidates` equal to `text[start, end)`, else a copy of it. Returning the
 * constant keeps common values (statuses, purposes) as internalized strings, so that consumers'
 * comparisons are pointer checks and no string is allocated. The rare value not in the list is a
 * copy, not a slice: whoever keeps the value (a circuit's REASON, say) should not keep the whole
 * event text along with it.
 */
export function internSlice(text: string, start: number, end: number, candidates: readonly string[]): string {
  const len = end - start;
  const first = text.charCodeAt(start);
  const last = text.charCodeAt(end - 1);
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (c.length === len && c.charCodeAt(0) === first && c.charCodeAt(len - 1) === last && startsAt(text, start, c)) {
      return c;
    }
  }
  return detach(text.slice(start, end));
}

/**
 * A small cache of comma-separated lists (BUILD_FLAGS, ISO_FIELDS): the same few values repeat in
 * every event, so each distinct value is split once and its frozen array shared.
 */
export class ListCache {
  private readonly keys: string[] = [];
  private readonly lists: (readonly string[])[] = [];
  private next = 0;

  constructor(private readonly size = 32) {}

  /** The frozen list for `text[start, end)`. */
  get(text: string, start: number, end: number): readonly string[] {
    const len = end - start;
    if (len === 0) return EMPTY_LIST;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k.length === len && startsAt(text, start, k)) return this.lists[i]!;
    }
    const key = detach(text.slice(start, end));
    const list = Object.freeze(key.split(','));
    // Round-robin replacement keeps the cache bounded whatever a peer sends.
    if (keys.length < this.size) {
      keys.push(key);
      this.lists.push(list);
    } else {
      keys[this.next] = key;
      this.lists[this.next] = list;
      this.next = (this.next + 1) % this.size;
    }
    return list;
  }
}

/**
 * The unsigned decimal integer `text[start, end)`, or NaN if it is empty, not all digits, or above
 * 2^53.
 */
export function parseUIntRange(text: string, start: number, end: number): number {
  if (end <= start || end - start > 16) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/** The unsigned decimal integer `value`, or NaN. */
export function parseUInt(value: string): number {
  return parseUIntRange(value, 0, value.length);
}

/** A finite decimal number (`0.8`, `1.5e3`, `-2`), or NaN. Rejects `''`, hex, `Infinity`. */
export function parseDecimal(value: string): number {
  if (value.length === 0 || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value)) return NaN;
  return Number(value);
}

function twoDigits(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

// Direct-mapped cache of recent UTC times, indexed by their last three characters (the fastest-moving
// digits). A circuit's TIME_CREATED is repeated in each of its CIRC events, so most CIRC events hit.
// Only that form (ISOTime2Frac, with a "T") is cached: ADDRMAP's EXPIRES times are each seen once,
// and caching them would only evict the circuits' times and keep copies alive (on the bench corpus
// 23,500 misses in 55,000 lookups before, 8,700 in 37,000 now).
const TIME_CACHE_SIZE = 1024;
const timeCacheText: string[] = new Array<string>(TIME_CACHE_SIZE).fill('');
const timeCacheMs: number[] = new Array<number>(TIME_CACHE_SIZE).fill(0);

/**
 * Parses tor's ISO times in `text[start, end)`: `YYYY-MM-DD HH:MM:SS` (ISOTime) or
 * `YYYY-MM-DDTHH:MM:SS[.fraction]` (ISOTime2Frac); fractions beyond milliseconds are dropped.
 *
 * @param utc - read the time as UTC (true) or as the local time zone (false: ADDRMAP's legacy expiry)
 * @returns the Date, or null when the text is not such a time
 */
export function parseTorTimeRange(text: string, start: number, end: number, utc: boolean): Date | null {
  const ms = parseTorTimeMsRange(text, start, end, utc);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/**
 * {@link parseTorTimeRange} as epoch milliseconds, for a reader that wants no Date.
 *
 * @returns the time, or NaN when the text is not such a time
 */
export function parseTorTimeMsRange(text: string, start: number, end: number, utc: boolean): number {
  if (end - start < 19) return NaN;
  if (!utc || text.charCodeAt(start + 10) !== 84 /* T */) return parseTimeFields(text, start, end, utc);
  const slot =
    (text.charCodeAt(end - 1) + text.charCodeAt(end - 2) * 10 + text.charCodeAt(end - 3) * 100) & (TIME_CACHE_SIZE - 1);
  const cached = timeCacheText[slot]!;
  if (cached.length === end - start && startsAt(text, start, cached)) return timeCacheMs[slot]!;
  const ms = parseTimeFields(text, start, end, true);
  if (!Number.isNaN(ms)) {
    timeCacheText[slot] = detach(text.slice(start, end));
    timeCacheMs[slot] = ms;
  }
  return ms;
}

function parseTimeFields(text: string, start: number, end: number, utc: boolean): number {
  const c10 = text.charCodeAt(start + 10);
  if (
    text.charCodeAt(start + 4) !== 45 ||
    text.charCodeAt(start + 7) !== 45 ||
    (c10 !== 32 && c10 !== 84) ||
    text.charCodeAt(start + 13) !== 58 ||
    text.charCodeAt(start + 16) !== 58
  ) {
    return NaN;
  }
  const y1 = twoDigits(text, start);
  const y2 = twoDigits(text, start + 2);
  const mo = twoDigits(text, start + 5);
  const d = twoDigits(text, start + 8);
  const h = twoDigits(text, start + 11);
  const mi = twoDigits(text, start + 14);
  const s = twoDigits(text, start + 17);
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59) {
    return NaN;
  }
  if (s < 0 || s > 60) return NaN;
  let ms = 0;
  if (end - start > 19) {
    if (text.charCodeAt(start + 19) !== 46 /* . */ || end - start === 20) return NaN;
    // Milliseconds are the first three fraction digits; the rest are checked and dropped.
    let digits = 0;
    for (let i = start + 20; i < end; i++, digits++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return NaN;
      if (digits < 3) ms = ms * 10 + digit;
    }
    if (digits === 1) ms *= 100;
    else if (digits === 2) ms *= 10;
  }
  const year = y1 * 100 + y2;
  if (!utc) return new Date(year, mo - 1, d, h, mi, s, ms).getTime();
  // Plain arithmetic instead of Date.UTC, which is a comparatively slow runtime call.
  return daysFromCivil(year, mo, d) * 86_400_000 + h * 3_600_000 + mi * 60_000 + s * 1000 + ms;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date (month 1..12). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** {@link parseTorTimeRange} of a whole string. */
export function parseTorTime(value: string, utc: boolean): Date | null {
  return parseTorTimeRange(value, 0, value.length, utc);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return 0; // 0-9
  if (c >= 65 && c <= 70) return 0; // A-F
  if (c >= 97 && c <= 102) return 1; // a-f: valid, needs upper-casing
  return -1;
}

/** 0 when `text[start, start+40)` is upper-case hex, 1 when it is hex with lower case, -1 otherwise. */
function fingerprintCase(text: string, start: number): number {
  let lower = 0;
  for (let i = start; i < start + 40; i++) {
    const v = hexValue(text.charCodeAt(i));
    if (v < 0) return -1;
    lower |= v;
  }
  return lower;
}

interface HopSlot {
  token: string;
  ref: RouterRef;
}

// Direct-mapped cache of LongNames, indexed by the fingerprint's leading hex digits. The same
// relays recur in event after event (each circuit's hops are repeated in every CIRC event of it),
// and a hit costs one string comparison instead of validating 40 hex digits and allocating. 2^14
// slots keep the hit rate near 95% on a simulated busy client of an 8,000-relay network.
const HOP_CACHE_BITS = 14;
const hopCache: (HopSlot | undefined)[] = new Array<HopSlot | undefined>(1 << HOP_CACHE_BITS).fill(undefined);

/** 0..15 for an upper-case hex digit (other characters give other values; only a hash). */
function hexNibble(c: number): number {
  return ((c & 15) + (c >> 6) * 9) & 15;
}

/**
 * Parses a relay reference in `text[start, end)`: `$FP`, `$FP~nick`, `$FP=nick` (LongName), a bare
 * 40-hex fingerprint, or a bare nickname (legacy ServerID; fingerprint `''`). LongName results are
 * frozen and shared between events naming the same relay.
 *
 * @returns the reference, or null when a `$` is not followed by 40 hex digits and a `~`/`=` nickname
 */
export function parseRouterRefRange(text: string, start: number, end: number): RouterRef | null {
  if (end <= start) return null;
  if (text.charCodeAt(start) === 36 /* $ */ && end - start >= 41) {
    const h =
      ((hexNibble(text.charCodeAt(start + 1)) << 12) |
        (hexNibble(text.charCodeAt(start + 2)) << 8) |
        (hexNibble(text.charCodeAt(start + 3)) << 4) |
        hexNibble(text.charCodeAt(start + 4))) &
      ((1 << HOP_CACHE_BITS) - 1);
    const slot = hopCache[h];
    if (slot !== undefined && slot.token.length === end - start && startsAt(text, start, slot.token)) {
      return slot.ref;
    }
    const token = detach(text.slice(start, end));
    const ref = parseRouterRefUncached(token, 0, token.length);
    if (ref !== null) hopCache[h] = { token, ref: Object.freeze(ref) };
    return ref;
  }
  return parseRouterRefUncached(text, start, end);
}

function parseRouterRefUncached(text: string, start: number, end: number): RouterRef | null {
  if (text.charCodeAt(start) === 36 /* $ */) {
    const fpEnd = start + 41;
    if (end < fpEnd) return null;
    const kind = fingerprintCase(text, start + 1);
    if (kind < 0) return null;
    let fingerprint = text.slice(start + 1, fpEnd);
    if (kind === 1) fingerprint = fingerprint.toUpperCase();
    if (end === fpEnd) return { fingerprint, nickname: undefined };
    const sep = text.charCodeAt(fpEnd);
    if ((sep !== 126 /* ~ */ && sep !== 61) /* = */ || end === fpEnd + 1) return null;
    return { fingerprint, nickname: text.slice(fpEnd + 1, end) };
  }
  // The legacy forms below are not cached, so they are copied here instead (see internSlice).
  if (end - start === 40) {
    const kind = fingerprintCase(text, start);
    if (kind >= 0) {
      const fp = detach(text.slice(start, end));
      return { fingerprint: kind === 1 ? fp.toUpperCase() : fp, nickname: undefined };
    }
  }
  return { fingerprint: '', nickname: detach(text.slice(start, end)) };
}

/** {@link parseRouterRefRange} of a whole string. */
export function parseRouterRef(value: string): RouterRef | null {
  return parseRouterRefRange(value, 0, value.length);
}

/**
 * Parses a comma-separated list of relay references (a circuit path) in `text[start, end)`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when an element is not a relay reference
 */
export function parsePathRange(text: string, start: number, end: number): RouterRef[] {
  const path: RouterRef[] = [];
  let pos = start;
  while (pos < end) {
    let comma = text.indexOf(',', pos);
    if (comma === -1 || comma > end) comma = end;
    const hop = parseRouterRefRange(text, pos, comma);
    if (hop === null) throw malformed(`bad relay "${text.slice(pos, Math.min(comma, pos + 60))}" in path`);
    path.push(hop);
    pos = comma + 1;
  }
  // A trailing comma leaves an empty last hop, which the loop above does not see.
  if (end > start && text.charCodeAt(end - 1) === 44 /* , */) throw malformed('empty relay at the end of a path');
  return path;
}

/**
 * Where the colon of a `host:port` in `text[start, end)` is, the port checked (1 to 5 digits, at
 * most 65535): what {@link parseHostPortRange} accepts, without making anything.
 *
 * @returns the colon's index, or -1 when the range is no `host:port`
 */
export function hostPortColon(text: string, start: number, end: number): number {
  // A port has at most 5 digits, so the colon is among the last 6 characters. (A hand loop: V8's
  // lastIndexOf is a slow runtime call.)
  let colon = end - 1;
  const stop = Math.max(start, end - 6);
  while (colon >= stop && text.charCodeAt(colon) !== 58 /* : */) colon--;
  if (colon < stop) return -1;
  const port = parseUIntRange(text, colon + 1, end);
  return port <= 65535 ? colon : -1;
}

/**
 * Parses `host:port` in `text[start, end)`: the port is after the last colon (so an unbracketed IPv6
 * address also works), brackets around the host are removed.
 *
 * @returns the address, or null when there is no colon or the port is not 0..65535
 */
export function parseHostPortRange(text: string, start: number, end: number): HostPort | null {
  const colon = hostPortColon(text, start, end);
  if (colon === -1) return null;
  const port = parseUIntRange(text, colon + 1, end);
  let hostStart = start;
  let hostEnd = colon;
  if (text.charCodeAt(hostStart) === 91 /* [ */ && text.charCodeAt(hostEnd - 1) === 93 /* ] */) {
    hostStart++;
    hostEnd--;
  }
  return { host: text.slice(hostStart, hostEnd), port };
}

/**
 * Parses `k1=n1,k2=n2` / `k1:n1,k2:n2` maps (CLIENTS_SEEN, CELL_STATS) with numeric values.
 *
 * @param sep - the key/value separator
 * @returns the map, or null when an element is malformed
 */
export function parseCountMap(value: string, sep: string): Record<string, number> | null {
  const out = Object.create(null) as Record<string, number>;
  if (value.length === 0) return out;
  for (const item of value.split(',')) {
    const at = item.indexOf(sep);
    if (at <= 0) return null;
    const n = parseUIntRange(item, at + 1, item.length);
    if (Number.isNaN(n)) return null;
    out[item.slice(0, at)] = n;
  }
  return out;
}

/**
 * Reads the positional argument at `pos` (a bare word or a QuotedString, unquoted), refusing keyword
 * pairs. For the less frequent events, where a tuple per field is affordable.
 *
 * @returns `[value, end]`, or null when there is no positional argument at `pos`
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function readPositional(text: string, pos: number): [string, number] | null {
  pos = skipSpaces(text, pos);
  if (pos >= text.length) return null;
  const end = findTokenEnd(text, pos);
  if (keywordSplit(text, pos, end) !== -1) return null;
  return [valueAt(text, pos, end), end];
}
