/**
 * Bandwidth and queue events: BW (control-spec 4.1.4), CONN_BW (4.1.21), CIRC_BW (4.1.22),
 * CELL_STATS (4.1.23), TB_EMPTY (4.1.24), and ORCONN (4.1.3), the connection-level status event.
 */

import { keywordSplit, scanKeywords, scanKnownKeywords, skipSpaces } from '../keyword-args.js';
import type {
  BwEvent,
  CellStatsEvent,
  CircBwEvent,
  ConnBwEvent,
  OrConnEvent,
  TbEmptyEvent,
} from './event-types.js';
import {
  EMPTY_EXTRA,
  addExtra,
  bareEnd,
  internSlice,
  malformed,
  parseCountMap,
  parseHostPortRange,
  parseRouterRefRange,
  parseTorTime,
  parseUInt,
  parseUIntRange,
} from './field-parsers.js';

function keepExtra(ev: { extra: Readonly<Record<string, string>> }, key: string, value: string): void {
  addExtra(ev, key, value);
}

/**
 * Parses a BW body: `BytesRead SP BytesWritten *(SP Type=Num)`; the per-type counts stay in `extra`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a byte count is missing or not a number
 */
export function parseBwBody(text: string, pos: number, raw: string): BwEvent {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  const read = parseUIntRange(text, pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  const written = parseUIntRange(text, pos, end);
  if (Number.isNaN(read) || Number.isNaN(written)) throw malformed('BW: bad byte counts');
  const ev: BwEvent = { type: 'BW', raw, extra: EMPTY_EXTRA, read, written };
  if (end < text.length) scanKeywords(text, end, ev, keepExtra);
  return ev;
}

const ORCONN_STATUSES = ['CONNECTED', 'LAUNCHED', 'CLOSED', 'FAILED', 'NEW'] as const;
const ORCONN_REASONS = [
  'DONE',
  'MISC',
  'CONNECTREFUSED',
  'IDENTITY',
  'CONNECTRESET',
  'TIMEOUT',
  'NOROUTE',
  'IOERROR',
  'RESOURCELIMIT',
  'PT_MISSING',
] as const;

const ORCONN_KEYS = ['REASON=', 'NCIRCS=', 'ID='] as const;

function applyOrConn(ev: OrConnEvent, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case 0:
      ev.reason = internSlice(text, start, end, ORCONN_REASONS);
      return;
    case 1: {
      const n = parseUIntRange(text, start, end);
      if (Number.isNaN(n)) addExtra(ev, 'NCIRCS', text.slice(start, end));
      else ev.numCircuits = n;
      return;
    }
    case 2:
      ev.connectionId = text.slice(start, end);
      return;
  }
}

/**
 * Parses an ORCONN body (after `ORCONN `) or a `GETINFO orconn-status` line
 * (`LongName SP ORStatus`).
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the target or status is missing, or a
 *   `$`-target is not a LongName
 */
export function parseOrConnBody(text: string, pos: number, raw: string): OrConnEvent {
  pos = skipSpaces(text, pos);
  const targetEnd = bareEnd(text, pos);
  if (targetEnd === pos) throw malformed('ORCONN: missing target');
  const targetStart = pos;
  pos = skipSpaces(text, targetEnd);
  const end = bareEnd(text, pos);
  if (end === pos) throw malformed('ORCONN: missing status');
  const ev: OrConnEvent = {
    type: 'ORCONN',
    raw,
    extra: EMPTY_EXTRA,
    target: text.slice(targetStart, targetEnd),
    router: undefined,
    address: undefined,
    status: internSlice(text, pos, end, ORCONN_STATUSES),
    reason: undefined,
    numCircuits: undefined,
    connectionId: undefined,
  };
  if (text.charCodeAt(targetStart) === 36 /* $ */) {
    const router = parseRouterRefRange(text, targetStart, targetEnd);
    if (router === null) throw malformed('ORCONN: malformed relay name');
    ev.router = router;
  } else {
    // `address:port` for connections whose relay is not known yet; a bare nickname otherwise (legacy).
    const address = parseHostPortRange(text, targetStart, targetEnd);
    if (address !== null) ev.address = address;
    else ev.router = parseRouterRefRange(text, targetStart, targetEnd) ?? undefined;
  }
  if (end < text.length) scanKnownKeywords(text, end, ORCONN_KEYS, ev, applyOrConn, addExtra);
  return ev;
}

/**
 * Parses one line of `GETINFO orconn-status` (`LongName SP ORStatus`).
 *
 * @param line - e.g. `$AAAA...~relay CONNECTED`
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the line is malformed
 */
export function parseOrConnStatusLine(line: string): OrConnEvent {
  return parseOrConnBody(line, 0, line);
}

/** Sets a numeric field from a keyword, or keeps the keyword in `extra` when it is not a number. */
function setNumber<T extends { extra: Readonly<Record<string, string>> }>(
  ev: T,
  field: keyof T,
  key: string,
  value: string,
): void {
  const n = parseUInt(value);
  if (Number.isNaN(n)) addExtra(ev, key, value);
  else (ev as Record<keyof T, unknown>)[field] = n;
}

function applyConnBw(ev: ConnBwEvent, key: string, value: string): void {
  switch (key) {
    case 'ID':
      ev.connectionId = value;
      return;
    case 'TYPE':
      ev.connectionType = value;
      return;
    case 'READ':
      setNumber(ev, 'read', key, value);
      return;
    case 'WRITTEN':
      setNumber(ev, 'written', key, value);
      return;
    default:
      addExtra(ev, key, value);
  }
}

/**
 * Parses a CONN_BW body: `ID= TYPE= READ= WRITTEN=`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when ID, READ or WRITTEN is missing or bad
 */
export function parseConnBwBody(text: string, pos: number, raw: string): ConnBwEvent {
  const ev: ConnBwEvent = {
    type: 'CONN_BW',
    raw,
    extra: EMPTY_EXTRA,
    connectionId: '',
    connectionType: '',
    read: NaN,
    written: NaN,
  };
  scanKeywords(text, pos, ev, applyConnBw);
  if (ev.connectionId === '' || Number.isNaN(ev.read) || Number.isNaN(ev.written)) {
    throw malformed('CONN_BW: missing ID, READ or WRITTEN');
  }
  return ev;
}

function applyCircBw(ev: CircBwEvent, key: string, value: string): void {
  switch (key) {
    case 'ID':
      ev.circuitId = value;
      return;
    case 'READ':
      return setNumber(ev, 'read', key, value);
    case 'WRITTEN':
      return setNumber(ev, 'written', key, value);
    case 'TIME': {
      const t = parseTorTime(value, true);
      if (t === null) addExtra(ev, key, value);
      else ev.time = t;
      return;
    }
    case 'DELIVERED_READ':
      return setNumber(ev, 'deliveredRead', key, value);
    case 'OVERHEAD_READ':
      return setNumber(ev, 'overheadRead', key, value);
    case 'DELIVERED_WRITTEN':
      return setNumber(ev, 'deliveredWritten', key, value);
    case 'OVERHEAD_WRITTEN':
      return setNumber(ev, 'overheadWritten', key, value);
    case 'SS':
      if (value === '0' || value === '1') ev.slowStart = value === '1';
      else addExtra(ev, key, value);
      return;
    case 'CWND':
      return setNumber(ev, 'cwnd', key, value);
    case 'RTT':
      return setNumber(ev, 'rtt', key, value);
    case 'MIN_RTT':
      return setNumber(ev, 'minRtt', key, value);
    default:
      addExtra(ev, key, value);
  }
}

/**
 * Parses a CIRC_BW body: `ID= READ= WRITTEN= TIME= DELIVERED_READ= ...`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when ID, READ or WRITTEN is missing or bad
 */
export function parseCircBwBody(text: string, pos: number, raw: string): CircBwEvent {
  const ev: CircBwEvent = {
    type: 'CIRC_BW',
    raw,
    extra: EMPTY_EXTRA,
    circuitId: '',
    read: NaN,
    written: NaN,
    time: undefined,
    deliveredRead: undefined,
    overheadRead: undefined,
    deliveredWritten: undefined,
    overheadWritten: undefined,
    slowStart: undefined,
    cwnd: undefined,
    rtt: undefined,
    minRtt: undefined,
  };
  scanKeywords(text, pos, ev, applyCircBw);
  if (ev.circuitId === '' || Number.isNaN(ev.read) || Number.isNaN(ev.written)) {
    throw malformed('CIRC_BW: missing ID, READ or WRITTEN');
  }
  return ev;
}

type CellMapField =
  | 'inboundAdded'
  | 'inboundRemoved'
  | 'inboundTime'
  | 'outboundAdded'
  | 'outboundRemoved'
  | 'outboundTime';

const CELL_MAP_KEYS: Record<string, CellMapField> = {
  InboundAdded: 'inboundAdded',
  InboundRemoved: 'inboundRemoved',
  InboundTime: 'inboundTime',
  OutboundAdded: 'outboundAdded',
  OutboundRemoved: 'outboundRemoved',
  OutboundTime: 'outboundTime',
};

function applyCellStats(ev: CellStatsEvent, key: string, value: string): void {
  switch (key) {
    case 'ID':
      ev.circuitId = value;
      return;
    case 'InboundQueue':
      ev.inboundQueue = value;
      return;
    case 'InboundConn':
      ev.inboundConn = value;
      return;
    case 'OutboundQueue':
      ev.outboundQueue = value;
      return;
    case 'OutboundConn':
      ev.outboundConn = value;
      return;
  }
  const field = Object.hasOwn(CELL_MAP_KEYS, key) ? CELL_MAP_KEYS[key] : undefined;
  const map = field === undefined ? null : parseCountMap(value, ':');
  if (field === undefined || map === null) addExtra(ev, key, value);
  else ev[field] = map;
}

/** Parses a CELL_STATS body (all keywords, all optional). Never throws for well-quoted text. */
export function parseCellStatsBody(text: string, pos: number, raw: string): CellStatsEvent {
  const ev: CellStatsEvent = {
    type: 'CELL_STATS',
    raw,
    extra: EMPTY_EXTRA,
    circuitId: undefined,
    inboundQueue: undefined,
    inboundConn: undefined,
    inboundAdded: undefined,
    inboundRemoved: undefined,
    inboundTime: undefined,
    outboundQueue: undefined,
    outboundConn: undefined,
    outboundAdded: undefined,
    outboundRemoved: undefined,
    outboundTime: undefined,
  };
  scanKeywords(text, pos, ev, applyCellStats);
  return ev;
}

function applyTbEmpty(ev: TbEmptyEvent, key: string, value: string): void {
  switch (key) {
    case 'ID':
      ev.connectionId = value;
      return;
    case 'READ':
      return setNumber(ev, 'read', key, value);
    case 'WRITTEN':
      return setNumber(ev, 'written', key, value);
    case 'LAST':
      return setNumber(ev, 'last', key, value);
    default:
      addExtra(ev, key, value);
  }
}

/**
 * Parses a TB_EMPTY body: `BucketName [ID=] READ= WRITTEN= LAST=`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the bucket name is missing
 */
export function parseTbEmptyBody(text: string, pos: number, raw: string): TbEmptyEvent {
  pos = skipSpaces(text, pos);
  const end = bareEnd(text, pos);
  if (end === pos || text.charCodeAt(pos) === 34 || keywordSplit(text, pos, end) !== -1) {
    throw malformed('TB_EMPTY: missing bucket name');
  }
  const ev: TbEmptyEvent = {
    type: 'TB_EMPTY',
    raw,
    extra: EMPTY_EXTRA,
    bucket: text.slice(pos, end),
    connectionId: undefined,
    read: undefined,
    written: undefined,
    last: undefined,
  };
  scanKeywords(text, end, ev, applyTbEmpty);
  return ev;
}
