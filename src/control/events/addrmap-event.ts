/**
 * ADDRMAP events (control-spec 4.1.7) and `GETINFO address-mappings/*` lines (3.9), which share the
 * positional syntax `Address SP NewAddress SP Expiry` but not the expiry's time zone: the event's
 * positional expiry is local time (a bug kept for compatibility, with the UTC `EXPIRES=` keyword
 * added beside it), the GETINFO expiry is UTC.
 */

import { findTokenEnd, scanKnownKeywords, skipSpaces, startsAt } from '../keyword-args.js';
import type { AddrMapEvent } from './event-types.js';
import { EMPTY_EXTRA, addExtra, bareEnd, malformed, parseTorTimeMsRange, parseTorTimeRange } from './field-parsers.js';

// Keys in the order tor writes them.
const ADDRMAP_KEYS = ['error=', 'EXPIRES=', 'CACHED=', 'STREAMID='] as const;

function applyAddrMap(ev: AddrMapEvent, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case 0:
      ev.error = end - start === 3 && startsAt(text, start, 'yes') ? 'yes' : text.slice(start, end);
      return;
    case 1: {
      const t = parseTorTimeRange(text, start, end, true);
      if (t === null) addExtra(ev, 'EXPIRES', text.slice(start, end));
      else ev.expires = t;
      return;
    }
    case 2:
      if (end - start === 3 && startsAt(text, start, 'YES')) ev.cached = true;
      else if (end - start === 2 && startsAt(text, start, 'NO')) ev.cached = false;
      else addExtra(ev, 'CACHED', text.slice(start, end));
      return;
    case 3:
      ev.streamId = text.slice(start, end);
      return;
  }
}

const NO_EXPIRY = -1;
const NEVER = -2;

// Results of readPositionals. Module-level slots rather than a result object: parsing is synchronous,
// so no two reads ever share them.
let posAddressStart = 0;
let posAddressEnd = 0;
let posNewStart = 0;
let posNewEnd = 0;
/** Where the quoted positional expiry starts, or NEVER, or NO_EXPIRY. */
let posExpiryStart = NO_EXPIRY;
/** Where the keywords start. */
let posEnd = 0;

/** Reads `Address SP NewAddress SP Expiry` from `pos` into the slots above. */
function readPositionals(text: string, pos: number): void {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  if (end <= pos) throw malformed('ADDRMAP: missing address');
  posAddressStart = pos;
  posAddressEnd = end;
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  if (end <= pos) throw malformed('ADDRMAP: missing new address');
  posNewStart = pos;
  posNewEnd = end;
  pos = skipSpaces(text, end);
  // Remember where the positional expiry is and parse it only if no EXPIRES= keyword supersedes it.
  posExpiryStart = NO_EXPIRY;
  if (pos < text.length) {
    end = findTokenEnd(text, pos);
    if (text.charCodeAt(pos) === 34 /* " */) {
      posExpiryStart = pos;
    } else if (end - pos === 5 && startsAt(text, pos, 'NEVER')) {
      posExpiryStart = NEVER;
    } else {
      throw malformed('ADDRMAP: expiry is neither NEVER nor a quoted time');
    }
  } else {
    end = pos;
  }
  posEnd = end;
}

/**
 * When the mapping expires, in epoch milliseconds (Infinity: NEVER), from the EXPIRES= time
 * (`keywordMs`, NaN when absent or unreadable) or else the positional expiry read by readPositionals.
 */
function expiryMs(text: string, keywordMs: number, utcExpiry: boolean): number {
  if (!Number.isNaN(keywordMs)) return keywordMs;
  if (posExpiryStart === NEVER) return Infinity;
  if (posExpiryStart === NO_EXPIRY) throw malformed('ADDRMAP: missing expiry');
  const ms = parseTorTimeMsRange(text, posExpiryStart + 1, posEnd - 1, utcExpiry);
  if (Number.isNaN(ms)) throw malformed('ADDRMAP: malformed expiry time');
  return ms;
}

/**
 * Parses an ADDRMAP body (after `ADDRMAP `) or an address-mappings line.
 *
 * @param utcExpiry - whether the positional expiry is UTC (GETINFO) or local time (events)
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when an address is missing, the expiry is neither
 *   NEVER nor a quoted time, or quoting is malformed
 */
export function parseAddrMapBody(text: string, pos: number, raw: string, utcExpiry: boolean): AddrMapEvent {
  readPositionals(text, pos);
  const ev: AddrMapEvent = {
    type: 'ADDRMAP',
    raw,
    extra: EMPTY_EXTRA,
    address: text.slice(posAddressStart, posAddressEnd),
    newAddress: posNewEnd - posNewStart === 7 && startsAt(text, posNewStart, '<error>') ? null : text.slice(posNewStart, posNewEnd),
    expires: null,
    error: undefined,
    cached: undefined,
    streamId: undefined,
  };
  if (posEnd < text.length) scanKnownKeywords(text, posEnd, ADDRMAP_KEYS, ev, applyAddrMap, addExtra);
  const ms = expiryMs(text, ev.expires === null ? NaN : ev.expires.getTime(), utcExpiry);
  if (ev.expires === null && ms !== Infinity) ev.expires = new Date(ms);
  return ev;
}

/** What {@link scanAddrMapHead} read. */
export interface AddrMapHead {
  address: string;
  /** When the mapping expires, in epoch milliseconds; Infinity for NEVER. */
  expiresAt: number;
}

// One object for every call: the scan is on the live state's hot path and its result is read at once.
const addrMapHead: AddrMapHead = { address: '', expiresAt: Infinity };
// The EXPIRES= time the keyword scan found, NaN when none (or unreadable).
let keywordExpiresMs = NaN;

function noteExpires(_: unknown, index: number, text: string, start: number, end: number): void {
  if (index !== 1) return;
  // As in applyAddrMap: an unreadable EXPIRES= is passed over, and the last readable one counts.
  const ms = parseTorTimeMsRange(text, start, end, true);
  if (!Number.isNaN(ms)) keywordExpiresMs = ms;
}

function ignoreUnknown(): void {}

/**
 * Reads only the address and the expiry of an ADDRMAP body or address-mappings line, for a reader
 * that parses the rest later, if ever (the live state). It refuses all that
 * {@link parseAddrMapBody} refuses, so that the later parse cannot fail.
 *
 * @returns an object shared by all calls: read it before the next scan
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) as parseAddrMapBody does
 */
export function scanAddrMapHead(text: string, pos: number, utcExpiry: boolean): Readonly<AddrMapHead> {
  readPositionals(text, pos);
  keywordExpiresMs = NaN;
  if (posEnd < text.length) scanKnownKeywords(text, posEnd, ADDRMAP_KEYS, null, noteExpires, ignoreUnknown);
  addrMapHead.address = text.slice(posAddressStart, posAddressEnd);
  addrMapHead.expiresAt = expiryMs(text, keywordExpiresMs, utcExpiry);
  return addrMapHead;
}

/**
 * Parses one line of `GETINFO address-mappings/all` (or `/config`, `/cache`, `/control`):
 * `from to "YYYY-MM-DD HH:MM:SS"` (UTC) or `from to NEVER`.
 *
 * @param line - e.g. `example.com 1.2.3.4 "2026-11-25 16:00:00"`
 * @returns the same object an ADDRMAP event gives, `raw` being the line
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the line is malformed
 * @example
 * parseAddrMapLine('1.2.3.4 torproject.org NEVER').expires // null
 */
export function parseAddrMapLine(line: string): AddrMapEvent {
  return parseAddrMapBody(line, 0, line, true);
}
