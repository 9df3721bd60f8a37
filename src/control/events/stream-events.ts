/**
 * STREAM (control-spec 4.1.2) and STREAM_BW (4.1.13) events, and `GETINFO stream-status` lines.
 * STREAM is the most frequent event of a busy client, so it is scanned by hand.
 */

import { scanKeywords, scanKnownKeywords, skipSpaces } from '../keyword-args.js';
import type { StreamBwEvent, StreamEvent, StreamStatus } from './event-types.js';
import {
  EMPTY_EXTRA,
  ListCache,
  addExtra,
  bareEnd,
  fieldBounds,
  hostPortColon,
  internSlice,
  malformed,
  parseHostPortRange,
  parseTorTimeRange,
  parseUIntRange,
  scanBareFields,
} from './field-parsers.js';

const STREAM_STATUSES = [
  'NEW',
  'REMAP',
  'SUCCEEDED',
  'SENTCONNECT',
  'CLOSED',
  'FAILED',
  'DETACHED',
  'NEWRESOLVE',
  'SENTRESOLVE',
  'CONTROLLER_WAIT',
  'XOFF_SENT',
  'XOFF_RECV',
  'XON_SENT',
  'XON_RECV',
] as const;
const STREAM_REASONS = [
  'DONE',
  'MISC',
  'END',
  'TIMEOUT',
  'DESTROY',
  'RESOLVEFAILED',
  'CONNECTREFUSED',
  'EXITPOLICY',
  'NOROUTE',
  'HIBERNATING',
  'INTERNAL',
  'RESOURCELIMIT',
  'CONNRESET',
  'TORPROTOCOL',
  'NOTDIRECTORY',
  'PRIVATE_ADDR',
] as const;
const STREAM_PURPOSES = ['USER', 'DIR_FETCH', 'DNS_REQUEST', 'DIR_UPLOAD', 'DIRPORT_TEST'] as const;
const SOURCES = ['EXIT', 'CACHE'] as const;
const CLIENT_PROTOCOLS = ['SOCKS5', 'SOCKS4', 'TRANS', 'NATD', 'DNS', 'HTTPCONNECT', 'UNKNOWN'] as const;
const isoFieldLists = new ListCache();

// Keys in the order tor writes them.
const STREAM_KEYS = [
  'REASON=',
  'REMOTE_REASON=',
  'SOURCE=',
  'SOURCE_ADDR=',
  'PURPOSE=',
  'SOCKS_USERNAME=',
  'SOCKS_PASSWORD=',
  'CLIENT_PROTOCOL=',
  'NYM_EPOCH=',
  'SESSION_GROUP=',
  'ISO_FIELDS=',
] as const;
const K_REASON = 0;
const K_REMOTE_REASON = 1;
const K_SOURCE = 2;
const K_SOURCE_ADDR = 3;
const K_PURPOSE = 4;
const K_SOCKS_USERNAME = 5;
const K_SOCKS_PASSWORD = 6;
const K_CLIENT_PROTOCOL = 7;
const K_NYM_EPOCH = 8;
const K_SESSION_GROUP = 9;
const K_ISO_FIELDS = 10;

function applyStream(ev: StreamEvent, index: number, text: string, start: number, end: number): void {
  switch (index) {
    case K_REASON:
      ev.reason = internSlice(text, start, end, STREAM_REASONS);
      return;
    case K_REMOTE_REASON:
      ev.remoteReason = internSlice(text, start, end, STREAM_REASONS);
      return;
    case K_SOURCE:
      ev.source = internSlice(text, start, end, SOURCES);
      return;
    case K_SOURCE_ADDR: {
      const addr = parseHostPortRange(text, start, end);
      if (addr === null) addExtra(ev, 'SOURCE_ADDR', text.slice(start, end));
      else ev.sourceAddr = addr;
      return;
    }
    case K_PURPOSE:
      ev.purpose = internSlice(text, start, end, STREAM_PURPOSES);
      return;
    case K_SOCKS_USERNAME:
      ev.socksUsername = text.slice(start, end);
      return;
    case K_SOCKS_PASSWORD:
      ev.socksPassword = text.slice(start, end);
      return;
    case K_CLIENT_PROTOCOL:
      ev.clientProtocol = internSlice(text, start, end, CLIENT_PROTOCOLS);
      return;
    case K_NYM_EPOCH: {
      const n = parseUIntRange(text, start, end);
      if (Number.isNaN(n)) addExtra(ev, 'NYM_EPOCH', text.slice(start, end));
      else ev.nymEpoch = n;
      return;
    }
    case K_SESSION_GROUP: {
      const n =
        text.charCodeAt(start) === 45 /* - */ ? -parseUIntRange(text, start + 1, end) : parseUIntRange(text, start, end);
      if (Number.isNaN(n)) addExtra(ev, 'SESSION_GROUP', text.slice(start, end));
      else ev.sessionGroup = n;
      return;
    }
    case K_ISO_FIELDS:
      ev.isoFields = isoFieldLists.get(text, start, end);
      return;
  }
}

/** What {@link scanStreamHead} read. */
export interface StreamHead {
  streamId: string;
  status: StreamStatus;
  /** As tor wrote it (`'0'`: none), DETACHED's old circuit included. */
  circuitId: string;
}

// What scanStreamHead reports when the text ends before the field at that index.
const STREAM_HEAD_MISSING = ['STREAM: missing stream id', 'STREAM: missing status', 'STREAM: missing circuit id', 'STREAM: missing or malformed target'];

// One object for every call: the scan is on the live state's hot path and its result is read at once.
const streamHead: StreamHead = { streamId: '', status: 'NEW', circuitId: '0' };

/**
 * Reads only the stream id, status and circuit id of a STREAM body or stream-status line, and
 * checks that a target follows, for a reader that parses the rest later, if ever (the live state).
 * It refuses what {@link parseStreamBody} refuses of those four fields.
 *
 * @param text - the text holding the body
 * @param pos - where the stream id starts
 * @returns an object shared by all calls: read it before the next scan
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a field is missing or the target has no valid port
 */
export function scanStreamHead(text: string, pos: number): Readonly<StreamHead> {
  const found = scanBareFields(text, pos, 4);
  if (found < 4) throw malformed(STREAM_HEAD_MISSING[found]!);
  const b = fieldBounds;
  streamHead.streamId = text.slice(b[0]!, b[1]!);
  streamHead.status = internSlice(text, b[2]!, b[3]!, STREAM_STATUSES);
  streamHead.circuitId = b[5]! - b[4]! === 1 && text.charCodeAt(b[4]!) === 48 ? '0' : text.slice(b[4]!, b[5]!);
  if (hostPortColon(text, b[6]!, b[7]!) === -1) throw malformed(STREAM_HEAD_MISSING[3]!);
  return streamHead;
}

/**
 * Parses a STREAM event body (the text after `STREAM `), or a `GETINFO stream-status` line.
 *
 * @param text - the text holding the body
 * @param pos - where the stream id starts
 * @param raw - the `raw` to record
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the id, status, circuit id or target is
 *   missing, or the target has no valid port
 */
export function parseStreamBody(text: string, pos: number, raw: string): StreamEvent {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  if (end === pos) throw malformed('STREAM: missing stream id');
  const streamId = text.slice(pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  if (end === pos) throw malformed('STREAM: missing status');
  const status = internSlice(text, pos, end, STREAM_STATUSES);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  if (end === pos) throw malformed('STREAM: missing circuit id');
  const circuitId = end - pos === 1 && text.charCodeAt(pos) === 48 ? '0' : text.slice(pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  const target = parseHostPortRange(text, pos, end);
  if (target === null) throw malformed('STREAM: missing or malformed target');
  const ev: StreamEvent = {
    type: 'STREAM',
    raw,
    extra: EMPTY_EXTRA,
    streamId,
    status,
    circuitId,
    target,
    reason: undefined,
    remoteReason: undefined,
    source: undefined,
    sourceAddr: undefined,
    purpose: undefined,
    socksUsername: undefined,
    socksPassword: undefined,
    clientProtocol: undefined,
    nymEpoch: undefined,
    sessionGroup: undefined,
    isoFields: undefined,
  };
  if (end < text.length) scanKnownKeywords(text, end, STREAM_KEYS, ev, applyStream, addExtra);
  return ev;
}

/**
 * Parses one line of `GETINFO stream-status` (`StreamID SP StreamStatus SP CircuitID SP Target`).
 *
 * @param line - e.g. `12 SUCCEEDED 7 example.com:443`
 * @returns the same object a STREAM event gives, `raw` being the line
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the line is malformed
 */
export function parseStreamStatusLine(line: string): StreamEvent {
  return parseStreamBody(line, 0, line);
}

function applyStreamBw(ev: StreamBwEvent, key: string, value: string): void {
  addExtra(ev, key, value);
}

/**
 * Parses a STREAM_BW event body: `StreamID SP BytesWritten SP BytesRead [SP Time]`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the id or a byte count is missing or bad
 */
export function parseStreamBwBody(text: string, pos: number, raw: string): StreamBwEvent {
  pos = skipSpaces(text, pos);
  let end = bareEnd(text, pos);
  if (end === pos) throw malformed('STREAM_BW: missing stream id');
  const streamId = text.slice(pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  const written = parseUIntRange(text, pos, end);
  pos = skipSpaces(text, end);
  end = bareEnd(text, pos);
  const read = parseUIntRange(text, pos, end);
  if (Number.isNaN(written) || Number.isNaN(read)) throw malformed('STREAM_BW: bad byte counts');
  const ev: StreamBwEvent = { type: 'STREAM_BW', raw, extra: EMPTY_EXTRA, streamId, written, read, time: undefined };
  pos = skipSpaces(text, end);
  if (pos < text.length) {
    // The time is positional and optional; anything after it is keywords.
    end = bareEnd(text, pos);
    const time = parseTorTimeRange(text, pos, end, true);
    if (time !== null) {
      ev.time = time;
      pos = end;
    }
    scanKeywords(text, pos, ev, applyStreamBw);
  }
  return ev;
}
