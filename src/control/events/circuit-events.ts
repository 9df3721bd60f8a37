/**
 * CIRC (control-spec 4.1.1) and CIRC_MINOR (4.1.19) events, and `GETINFO circuit-status` lines,
 * which share the CIRC syntax. Hand-written scanning: this is on the hot path of the live state.
 */

import { keywordSplit, scanKnownKeywords, skipSpaces } from '../keyword-args.js';
import type { CircEvent, CircMinorEvent, CircStatus, CircuitFields } from './event-types.js';
import {
  EMPTY_EXTRA,
  EMPTY_LIST,
  ListCache,
  addExtra,
  bareEnd,
  fieldBounds,
  internSlice,
  malformed,
  parsePathRange,
  parseTorTimeRange,
  parseUIntRange,
  scanBareFields,
} from './field-parsers.js';

const CIRC_STATUSES = ['BUILT', 'EXTENDED', 'LAUNCHED', 'CLOSED', 'FAILED', 'GUARD_WAIT'] as const;
const HS_STATES = [
  'HSCI_CONNECTING',
  'HSCI_INTRO_SENT',
  'HSCI_DONE',
  'HSCR_CONNECTING',
  'HSCR_ESTABLISHED_IDLE',
  'HSCR_ESTABLISHED_WAITING',
  'HSCR_JOINED',
  'HSSI_CONNECTING',
  'HSSI_ESTABLISHED',
  'HSSR_CONNECTING',
  'HSSR_JOINED',
] as const;
const PURPOSES = [
  'GENERAL',
  'HS_CLIENT_INTRO',
  'HS_CLIENT_REND',
  'HS_SERVICE_INTRO',
  'HS_SERVICE_REND',
  'HS_VANGUARDS',
  'TESTING',
  'CONTROLLER',
  'MEASURE_TIMEOUT',
  'PATH_BIAS_TESTING',
  'CIRCUIT_PADDING',
  'CONFLUX_LINKED',
  'CONFLUX_UNLINKED',
] as const;
const REASONS = [
  'FINISHED',
  'TIMEOUT',
  'DESTROYED',
  'REQUESTED',
  'OR_CONN_CLOSED',
  'NONE',
  'TORPROTOCOL',
  'INTERNAL',
  'HIBERNATING',
  'RESOURCELIMIT',
  'CONNECTFAILED',
  'OR_IDENTITY',
  'CHANNEL_CLOSED',
  'NOPATH',
  'NOSUCHSERVICE',
  'MEASUREMENT_EXPIRED',
  'IP_NOW_REDUNDANT',
] as const;
const buildFlagLists = new ListCache();

// Keys in the order tor writes them (control_fmt.c), so that each search hits at once.
const CIRC_KEYS = [
  'BUILD_FLAGS=',
  'PURPOSE=',
  'HS_STATE=',
  'REND_QUERY=',
  'TIME_CREATED=',
  'REASON=',
  'REMOTE_REASON=',
  'SOCKS_USERNAME=',
  'SOCKS_PASSWORD=',
  'HS_POW=',
  'CONFLUX_ID=',
  'CONFLUX_RTT=',
] as const;
const K_BUILD_FLAGS = 0;
const K_PURPOSE = 1;
const K_HS_STATE = 2;
const K_REND_QUERY = 3;
const K_TIME_CREATED = 4;
const K_REASON = 5;
const K_REMOTE_REASON = 6;
const K_SOCKS_USERNAME = 7;
const K_SOCKS_PASSWORD = 8;
const K_HS_POW = 9;
const K_CONFLUX_ID = 10;
const K_CONFLUX_RTT = 11;

// CIRC_MINOR shares the first five keys and their indexes.
const CIRC_MINOR_KEYS = [
  'BUILD_FLAGS=',
  'PURPOSE=',
  'HS_STATE=',
  'REND_QUERY=',
  'TIME_CREATED=',
  'OLD_PURPOSE=',
  'OLD_HS_STATE=',
  'CONFLUX_ID=',
] as const;
const K_OLD_PURPOSE = 5;
const K_OLD_HS_STATE = 6;
const K_MINOR_CONFLUX_ID = 7;

type CircuitEventObject = CircuitFields & { extra: CircEvent['extra'] };

/** Applies one of the keywords CIRC and CIRC_MINOR share (indexes 0..4 of both key lists). */
function applyCircuitField(ev: CircuitEventObject, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case K_BUILD_FLAGS:
      ev.buildFlags = buildFlagLists.get(text, start, end);
      return;
    case K_PURPOSE:
      ev.purpose = internSlice(text, start, end, PURPOSES);
      return;
    case K_HS_STATE:
      ev.hsState = internSlice(text, start, end, HS_STATES);
      return;
    case K_REND_QUERY:
      ev.rendQuery = text.slice(start, end);
      return;
    case K_TIME_CREATED: {
      const t = parseTorTimeRange(text, start, end, true);
      if (t === null) addExtra(ev, 'TIME_CREATED', text.slice(start, end));
      else ev.timeCreated = t;
      return;
    }
  }
}

function applyCirc(ev: CircEvent, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case K_REASON:
      ev.reason = internSlice(text, start, end, REASONS);
      return;
    case K_REMOTE_REASON:
      ev.remoteReason = internSlice(text, start, end, REASONS);
      return;
    case K_SOCKS_USERNAME:
      ev.socksUsername = text.slice(start, end);
      return;
    case K_SOCKS_PASSWORD:
      ev.socksPassword = text.slice(start, end);
      return;
    case K_HS_POW: {
      const value = text.slice(start, end);
      const comma = value.indexOf(',');
      const effort = comma === -1 ? NaN : parseUIntRange(value, comma + 1, value.length);
      if (Number.isNaN(effort)) addExtra(ev, 'HS_POW', value);
      else ev.hsPow = { type: value.slice(0, comma), effort };
      return;
    }
    case K_CONFLUX_ID:
      ev.confluxId = text.slice(start, end);
      return;
    case K_CONFLUX_RTT: {
      const rtt = parseUIntRange(text, start, end);
      if (Number.isNaN(rtt)) addExtra(ev, 'CONFLUX_RTT', text.slice(start, end));
      else ev.confluxRtt = rtt;
      return;
    }
    default:
      applyCircuitField(ev, index, text, start, end);
  }
}

function applyCircMinor(ev: CircMinorEvent, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case K_OLD_PURPOSE:
      ev.oldPurpose = internSlice(text, start, end, PURPOSES);
      return;
    case K_OLD_HS_STATE:
      ev.oldHsState = text.slice(start, end);
      return;
    case K_MINOR_CONFLUX_ID:
      ev.confluxId = text.slice(start, end);
      return;
    default:
      applyCircuitField(ev, index, text, start, end);
  }
}

// Results of readHead. Module-level slots rather than a result object: one allocation less per
// event, and parsing is synchronous, so no two parses ever share them.
let headId = '';
let headStatus = '';
let headPath: CircuitFields['path'] = EMPTY_LIST;
let headEnd = 0;

/** Reads `CircuitID SP Status [SP Path]` from `pos` into the head slots. */
function readHead(text: string, pos: number, what: string, statuses: readonly string[]): void {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  if (end === pos) throw malformed(`${what}: missing circuit id`);
  headId = text.slice(pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  if (end === pos) throw malformed(`${what}: missing status`);
  headStatus = internSlice(text, pos, end, statuses);
  pos = skipSpaces(text, end);
  headPath = EMPTY_LIST;
  // The path is the next token unless it is a keyword pair (or a quoted string).
  if (pos < text.length && text.charCodeAt(pos) !== 34) {
    end = bareEnd(text, pos);
    if (keywordSplit(text, pos, end) === -1) {
      headPath = parsePathRange(text, pos, end);
      pos = end;
    }
  }
  headEnd = pos;
}

/** What {@link scanCircHead} read. */
export interface CircHead {
  circuitId: string;
  status: CircStatus;
}

// One object for every call: the scan is on the live state's hot path and its result is read at once.
const circHead: CircHead = { circuitId: '', status: 'LAUNCHED' };

/**
 * Reads only the circuit id and status of a CIRC body or circuit-status line, for a reader that
 * parses the rest later, if ever (the live state). It refuses what {@link parseCircBody} refuses
 * of those two fields.
 *
 * @param text - the text holding the body
 * @param pos - where the circuit id starts
 * @returns an object shared by all calls: read it before the next scan
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the id or the status is missing
 */
export function scanCircHead(text: string, pos: number): Readonly<CircHead> {
  const found = scanBareFields(text, pos, 2);
  if (found === 0) throw malformed('CIRC: missing circuit id');
  if (found === 1) throw malformed('CIRC: missing status');
  const b = fieldBounds;
  circHead.circuitId = text.slice(b[0]!, b[1]!);
  circHead.status = internSlice(text, b[2]!, b[3]!, CIRC_STATUSES);
  return circHead;
}

/**
 * Parses a CIRC event body (the text after `CIRC `), or a `GETINFO circuit-status` line.
 *
 * @param text - the text holding the body
 * @param pos - where the circuit id starts
 * @param raw - the `raw` to record
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the body does not follow control-spec 4.1.1
 */
export function parseCircBody(text: string, pos: number, raw: string): CircEvent {
  readHead(text, pos, 'CIRC', CIRC_STATUSES);
  const ev: CircEvent = {
    type: 'CIRC',
    raw,
    extra: EMPTY_EXTRA,
    circuitId: headId,
    status: headStatus,
    path: headPath,
    buildFlags: EMPTY_LIST,
    purpose: undefined,
    hsState: undefined,
    rendQuery: undefined,
    timeCreated: undefined,
    reason: undefined,
    remoteReason: undefined,
    socksUsername: undefined,
    socksPassword: undefined,
    hsPow: undefined,
    confluxId: undefined,
    confluxRtt: undefined,
  };
  scanKnownKeywords(text, headEnd, CIRC_KEYS, ev, applyCirc, addExtra);
  return ev;
}

/**
 * Parses a CIRC_MINOR event body (the text after `CIRC_MINOR `).
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the body does not follow control-spec 4.1.19
 */
export function parseCircMinorBody(text: string, pos: number, raw: string): CircMinorEvent {
  readHead(text, pos, 'CIRC_MINOR', ['PURPOSE_CHANGED', 'CANNIBALIZED']);
  const ev: CircMinorEvent = {
    type: 'CIRC_MINOR',
    raw,
    extra: EMPTY_EXTRA,
    circuitId: headId,
    event: headStatus,
    path: headPath,
    buildFlags: EMPTY_LIST,
    purpose: undefined,
    hsState: undefined,
    rendQuery: undefined,
    timeCreated: undefined,
    oldPurpose: undefined,
    oldHsState: undefined,
    confluxId: undefined,
  };
  scanKnownKeywords(text, headEnd, CIRC_MINOR_KEYS, ev, applyCircMinor, addExtra);
  return ev;
}

/**
 * Parses one line of `GETINFO circuit-status` (control-spec 3.9: a CIRC event without `650 CIRC `).
 *
 * @param line - e.g. `7 BUILT $AAAA...~relay1,$BBBB...~relay2 PURPOSE=GENERAL`
 * @returns the same object a CIRC event gives, `raw` being the line
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the line is malformed
 * @example
 * parseCircuitStatusLine('7 LAUNCHED PURPOSE=GENERAL').status // 'LAUNCHED'
 */
export function parseCircuitStatusLine(line: string): CircEvent {
  return parseCircBody(line, 0, line);
}
