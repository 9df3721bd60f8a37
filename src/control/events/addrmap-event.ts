/**
 * ADDRMAP events (control-spec 4.1.7) and `GETINFO address-mappings/*` lines (3.9), which share the
 * positional syntax `Address SP NewAddress SP Expiry` but not the expiry's time zone: the event's
 * positional expiry is local time (a bug kept for compatibility, with the UTC `EXPIRES=` keyword
 * added beside it), the GETINFO expiry is UTC.
 */

import { findTokenEnd, scanKnownKeywords, skipSpaces, startsAt } from '../keyword-args.js';
import type { AddrMapEvent } from './event-types.js';
import { EMPTY_EXTRA, addExtra, bareEnd, malformed, parseTorTimeRange } from './field-parsers.js';

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

/**
 * Parses an ADDRMAP body (after `ADDRMAP `) or an address-mappings line.
 *
 * @param utcExpiry - whether the positional expiry is UTC (GETINFO) or local time (events)
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when an address is missing, the expiry is neither
 *   NEVER nor a quoted time, or quoting is malformed
 */
export function parseAddrMapBody(text: string, pos: number, raw: string, utcExpiry: boolean): AddrMapEvent {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  if (end === pos) throw malformed('ADDRMAP: missing address');
  const address = text.slice(pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  if (end === pos) throw malformed('ADDRMAP: missing new address');
  const newAddress = end - pos === 7 && startsAt(text, pos, '<error>') ? null : text.slice(pos, end);
  pos = skipSpaces(text, end);
  // Remember where the positional expiry is and parse it only if no EXPIRES= keyword supersedes it.
  let expiryStart: number = NO_EXPIRY;
  if (pos < text.length) {
    end = findTokenEnd(text, pos);
    if (text.charCodeAt(pos) === 34 /* " */) {
      expiryStart = pos;
    } else if (end - pos === 5 && startsAt(text, pos, 'NEVER')) {
      expiryStart = NEVER;
    } else {
      throw malformed('ADDRMAP: expiry is neither NEVER nor a quoted time');
    }
  } else {
    end = pos;
  }
  const ev: AddrMapEvent = {
    type: 'ADDRMAP',
    raw,
    extra: EMPTY_EXTRA,
    address,
    newAddress,
    expires: null,
    error: undefined,
    cached: undefined,
    streamId: undefined,
  };
  if (end < text.length) scanKnownKeywords(text, end, ADDRMAP_KEYS, ev, applyAddrMap, addExtra);
  if (ev.expires === null && expiryStart >= 0) {
    const t = parseTorTimeRange(text, expiryStart + 1, end - 1, utcExpiry);
    if (t === null) throw malformed('ADDRMAP: malformed expiry time');
    ev.expires = t;
  } else if (expiryStart === NO_EXPIRY) {
    throw malformed('ADDRMAP: missing expiry');
  }
  return ev;
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
