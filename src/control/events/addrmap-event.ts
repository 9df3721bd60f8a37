/**
 * ADDRMAP events (control-spec 4.1.7) and `GETINFO address-mappings/*` lines (3.9), which share the
 * positional syntax `Address SP NewAddress SP Expiry` but not the expiry's time zone: the event's
 * positional expiry is local time (a bug kept for compatibility, with the UTC `EXPIRES=` keyword
 * added beside it), the GETINFO expiry is UTC.
 */

import { findTokenEnd, scanKnownKeywords, skipSpaces, startsAt } from '../keyword-args.js';
import type { AddrMapEvent } from './event-types.js';
import { EMPTY_EXTRA, addExtra, bareEnd, malformed, parseTorTimeMsRange } from './field-parsers.js';

// Keys in the order tor writes them.
const ADDRMAP_KEYS = ['error=', 'EXPIRES=', 'CACHED=', 'STREAMID='] as const;

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

/** What {@link scanAddrMap} read. Strings are slices of the text scanned. */
export interface AddrMapScan {
  address: string;
  newAddress: string | null;
  /** When the mapping expires, in epoch milliseconds; Infinity for NEVER. */
  expiresAt: number;
  error: string | undefined;
  cached: boolean | undefined;
  streamId: string | undefined;
  /** Unknown keywords, and EXPIRES= or CACHED= values that could not be read. */
  extra: Readonly<Record<string, string>>;
}

// One object for every call: the scan is on the live state's hot path and its result is read at once.
const scanned: AddrMapScan = {
  address: '',
  newAddress: null,
  expiresAt: Infinity,
  error: undefined,
  cached: undefined,
  streamId: undefined,
  extra: EMPTY_EXTRA,
};
// The EXPIRES= time the keyword scan found, NaN when none (or unreadable).
let keywordExpiresMs = NaN;

function applyKeyword(scan: AddrMapScan, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case 0:
      scan.error = end - start === 3 && startsAt(text, start, 'yes') ? 'yes' : text.slice(start, end);
      return;
    case 1: {
      // An unreadable EXPIRES= is passed over (kept in extra), and the last readable one counts.
      const ms = parseTorTimeMsRange(text, start, end, true);
      if (Number.isNaN(ms)) addExtra(scan, 'EXPIRES', text.slice(start, end));
      else keywordExpiresMs = ms;
      return;
    }
    case 2:
      if (end - start === 3 && startsAt(text, start, 'YES')) scan.cached = true;
      else if (end - start === 2 && startsAt(text, start, 'NO')) scan.cached = false;
      else addExtra(scan, 'CACHED', text.slice(start, end));
      return;
    case 3:
      scan.streamId = text.slice(start, end);
      return;
  }
}

/**
 * Reads an ADDRMAP body (after `ADDRMAP `) or an address-mappings line into plain values, making no
 * event object and no Date: the live state builds its mapping from these directly. tor's usual
 * form is read by {@link scanUsualAddrMap}, any other by {@link scanAddrMapTokens}.
 *
 * @param utcExpiry - whether the positional expiry is UTC (GETINFO) or local time (events)
 * @returns an object shared by all calls: read it before the next scan
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when an address is missing, the expiry is neither
 *   NEVER nor a quoted time, or quoting is malformed
 */
export function scanAddrMap(text: string, pos: number, utcExpiry: boolean): Readonly<AddrMapScan> {
  return scanUsualAddrMap(text, pos, utcExpiry) ?? scanAddrMapTokens(text, pos, utcExpiry);
}

/**
 * {@link scanAddrMap} for any text, token by token (positionals, then the keywords, as
 * control-spec 4.1.7 and 2.1 describe them).
 * @internal Exported for the test that checks scanUsualAddrMap against it.
 */
export function scanAddrMapTokens(text: string, pos: number, utcExpiry: boolean): Readonly<AddrMapScan> {
  readPositionals(text, pos);
  const scan = scanned;
  scan.error = undefined;
  scan.cached = undefined;
  scan.streamId = undefined;
  scan.extra = EMPTY_EXTRA;
  keywordExpiresMs = NaN;
  if (posEnd < text.length) scanKnownKeywords(text, posEnd, ADDRMAP_KEYS, scan, applyKeyword, addExtra);
  scan.expiresAt = expiryMs(text, keywordExpiresMs, utcExpiry);
  scan.address = text.slice(posAddressStart, posAddressEnd);
  scan.newAddress = posNewEnd - posNewStart === 7 && startsAt(text, posNewStart, '<error>') ? null : text.slice(posNewStart, posNewEnd);
  return scan;
}

/**
 * tor's usual ADDRMAP form, from the address on: `Address NewAddress "local time"|NEVER`, then at
 * most one each of `error=`, `EXPIRES="..."`, `CACHED="YES"|"NO"`, `STREAMID=` in the order tor
 * writes them, nothing quoted holding a quote or backslash. Groups: 1 address, 2 new address,
 * 3 positional time (none for NEVER), 4 or 5 error (quoted or bare), 6 EXPIRES, 7 CACHED, 8 STREAMID.
 */
const USUAL_ADDRMAP =
  / *([^ ]+) +([^ ]+) +(?:"([^"\\]*)"|NEVER)(?: +error=(?:"([^"\\]*)"|([^ "\\]*)))?(?: +EXPIRES="([^"\\]*)")?(?: +CACHED="(YES|NO)")?(?: +STREAMID=([^ "\\]+))? *$/y;

/**
 * {@link scanAddrMap} for tor's usual form only, read with one regular expression: the same result
 * as {@link scanAddrMapTokens} for every text it accepts, and null for any other (unknown
 * keywords, repeats, escapes, an unreadable time...), which scanAddrMap then reads token by token. The live state reads an ADDRMAP
 * per resolve: a regular expression runs as machine code from the first event, where the general
 * scanner's code is a third of what V8 compiles for the state before it runs at full speed.
 */
export function scanUsualAddrMap(text: string, pos: number, utcExpiry: boolean): Readonly<AddrMapScan> | null {
  USUAL_ADDRMAP.lastIndex = pos;
  const m = USUAL_ADDRMAP.exec(text);
  if (m === null) return null;
  let expiresAt: number;
  if (m[6] !== undefined) expiresAt = parseTorTimeMsRange(m[6], 0, m[6].length, true);
  else if (m[3] !== undefined) expiresAt = parseTorTimeMsRange(m[3], 0, m[3].length, utcExpiry);
  else expiresAt = Infinity;
  // An unreadable time: scanAddrMapTokens's rules (fall back to the positional time, or refuse).
  if (Number.isNaN(expiresAt)) return null;
  const scan = scanned;
  scan.address = m[1]!;
  scan.newAddress = m[2] === '<error>' ? null : m[2]!;
  scan.expiresAt = expiresAt;
  scan.error = m[4] ?? m[5];
  scan.cached = m[7] === undefined ? undefined : m[7] === 'YES';
  scan.streamId = m[8];
  scan.extra = EMPTY_EXTRA;
  return scan;
}

/** A time {@link parseTorTimeMsRange} reads (its checks, as a pattern): `YYYY-MM-DD HH:MM:SS[.fraction]`, or a `T` between. */
const TOR_TIME = String.raw`\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[ T](?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?`;

/**
 * tor's usual ADDRMAP form as {@link USUAL_ADDRMAP} has it, with no space before the address and
 * every time readable: a text it matches is one {@link scanUsualAddrMap} reads, so reading it
 * later cannot fail.
 */
const PLAIN_ADDRMAP = new RegExp(
  String.raw`[^ ]+ +[^ ]+ +(?:"${TOR_TIME}"|NEVER)(?: +error=(?:"[^"\\]*"|[^ "\\]*))?(?: +EXPIRES="${TOR_TIME}")?(?: +CACHED="(?:YES|NO)")?(?: +STREAMID=[^ "\\]+)? *$`,
  'y',
);

/**
 * Whether the ADDRMAP body at `text[pos..]` is in tor's usual form and reads without a fault: then
 * its address is the word at `pos`, and it is a one-off answer tor does not keep exactly when it
 * holds ` CACHED="NO"` (no quoted value can hold a quote). The live state keeps such texts unread
 * until someone reads its address map, and reads any other at once, so that a malformed one is
 * reported, and leaves the map as it was, in its turn.
 */
export function isPlainAddrMap(text: string, pos: number): boolean {
  PLAIN_ADDRMAP.lastIndex = pos;
  return PLAIN_ADDRMAP.test(text);
}

/**
 * Parses an ADDRMAP body (after `ADDRMAP `) or an address-mappings line.
 *
 * @param utcExpiry - whether the positional expiry is UTC (GETINFO) or local time (events)
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) as {@link scanAddrMap}
 */
export function parseAddrMapBody(text: string, pos: number, raw: string, utcExpiry: boolean): AddrMapEvent {
  const scan = scanAddrMap(text, pos, utcExpiry);
  return {
    type: 'ADDRMAP',
    raw,
    extra: scan.extra,
    address: scan.address,
    newAddress: scan.newAddress,
    expires: scan.expiresAt === Infinity ? null : new Date(scan.expiresAt),
    error: scan.error,
    cached: scan.cached,
    streamId: scan.streamId,
  };
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
