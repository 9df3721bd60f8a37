/**
 * Events about tor itself: STATUS_GENERAL/CLIENT/SERVER (control-spec 4.1.10), log events (4.1.5),
 * SIGNAL (4.1.17), NETWORK_LIVENESS (4.1.27), BUILDTIMEOUT_SET (4.1.16), CLIENTS_SEEN (4.1.14),
 * TRANSPORT_LAUNCHED (4.1.20), PT_LOG (4.1.28) and PT_STATUS (4.1.29). None of them is frequent, so
 * clarity wins over speed here.
 */

import { scanKeywords } from '../keyword-args.js';
import type {
  BootstrapStatus,
  BuildTimeoutSetEvent,
  ClientsSeenEvent,
  LogEvent,
  LogSeverity,
  NetworkLivenessEvent,
  PtLogEvent,
  PtStatusEvent,
  SignalEvent,
  StatusEvent,
  StatusEventName,
  TransportLaunchedEvent,
} from './event-types.js';
import {
  EMPTY_EXTRA,
  addExtra,
  malformed,
  parseCountMap,
  parseDecimal,
  parseTorTime,
  parseUInt,
  readPositional as positional,
} from './field-parsers.js';

function setArgument(args: Record<string, string>, key: string, value: string): void {
  args[key] = value;
}

function bootstrapOf(args: Record<string, string>): BootstrapStatus | undefined {
  const progress = parseUInt(args['PROGRESS'] ?? '');
  if (Number.isNaN(progress)) return undefined;
  const count = args['COUNT'] === undefined ? NaN : parseUInt(args['COUNT']);
  return {
    progress,
    tag: args['TAG'] ?? '',
    summary: args['SUMMARY'] ?? '',
    warning: args['WARNING'],
    reason: args['REASON'],
    count: Number.isNaN(count) ? undefined : count,
    recommendation: args['RECOMMENDATION'],
    host: args['HOST'],
    hostAddr: args['HOSTADDR'],
  };
}

/**
 * Parses a status event body: `Severity SP Action *(SP Keyword=Value)`.
 *
 * @param type - the event name (STATUS_SEVER, tor's pre-0.2.0.22 spelling, is passed as STATUS_SERVER)
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when severity or action is missing
 */
export function parseStatusBody<T extends StatusEventName>(
  type: T,
  text: string,
  pos: number,
  raw: string,
): StatusEvent<T> {
  const severity = positional(text, pos);
  const action = severity && positional(text, severity[1]);
  if (!severity || !action) throw malformed(`${type}: missing severity or action`);
  const args = Object.create(null) as Record<string, string>;
  scanKeywords(text, action[1], args, setArgument);
  return {
    type,
    raw,
    extra: EMPTY_EXTRA,
    severity: severity[0],
    action: action[0],
    arguments: args,
    bootstrap: action[0] === 'BOOTSTRAP' ? bootstrapOf(args) : undefined,
  };
}

/**
 * Parses a log event: `Severity SP Message` or, with a data block, the block is the message.
 * The message is kept verbatim (no quoting rules apply to it).
 */
export function parseLogBody<S extends LogSeverity>(
  severity: S,
  text: string,
  pos: number,
  raw: string,
  body: string | undefined,
): LogEvent<S> {
  // One space separates severity and message; further spaces belong to the message.
  const message = body ?? (pos < text.length ? text.slice(pos + 1) : '');
  return { type: severity, raw, extra: EMPTY_EXTRA, severity, message };
}

function keepExtra(ev: { extra: Readonly<Record<string, string>> }, key: string, value: string): void {
  addExtra(ev, key, value);
}

/**
 * Parses a SIGNAL body: `Signal`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the signal name is missing
 */
export function parseSignalBody(text: string, pos: number, raw: string): SignalEvent {
  const signal = positional(text, pos);
  if (!signal) throw malformed('SIGNAL: missing signal name');
  const ev: SignalEvent = { type: 'SIGNAL', raw, extra: EMPTY_EXTRA, signal: signal[0] };
  scanKeywords(text, signal[1], ev, keepExtra);
  return ev;
}

/**
 * Parses a NETWORK_LIVENESS body: `Status`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the status is missing
 */
export function parseNetworkLivenessBody(text: string, pos: number, raw: string): NetworkLivenessEvent {
  const status = positional(text, pos);
  if (!status) throw malformed('NETWORK_LIVENESS: missing status');
  const ev: NetworkLivenessEvent = { type: 'NETWORK_LIVENESS', raw, extra: EMPTY_EXTRA, status: status[0] };
  scanKeywords(text, status[1], ev, keepExtra);
  return ev;
}

const BUILDTIMEOUT_FIELDS: Record<string, keyof BuildTimeoutSetEvent> = {
  TOTAL_TIMES: 'totalTimes',
  TIMEOUT_MS: 'timeoutMs',
  XM: 'xm',
  ALPHA: 'alpha',
  CUTOFF_QUANTILE: 'cutoffQuantile',
  TIMEOUT_RATE: 'timeoutRate',
  CLOSE_MS: 'closeMs',
  CLOSE_RATE: 'closeRate',
};

function applyBuildTimeout(ev: BuildTimeoutSetEvent, key: string, value: string): void {
  const field = Object.hasOwn(BUILDTIMEOUT_FIELDS, key) ? BUILDTIMEOUT_FIELDS[key] : undefined;
  const n = field === undefined ? NaN : parseDecimal(value);
  if (field === undefined || Number.isNaN(n)) addExtra(ev, key, value);
  else (ev as unknown as Record<string, number>)[field] = n;
}

/**
 * Parses a BUILDTIMEOUT_SET body: `Type SP TOTAL_TIMES= TIMEOUT_MS= XM= ALPHA= ...`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the type is missing
 */
export function parseBuildTimeoutSetBody(text: string, pos: number, raw: string): BuildTimeoutSetEvent {
  const setType = positional(text, pos);
  if (!setType) throw malformed('BUILDTIMEOUT_SET: missing type');
  const ev: BuildTimeoutSetEvent = {
    type: 'BUILDTIMEOUT_SET',
    raw,
    extra: EMPTY_EXTRA,
    setType: setType[0],
    totalTimes: undefined,
    timeoutMs: undefined,
    xm: undefined,
    alpha: undefined,
    cutoffQuantile: undefined,
    timeoutRate: undefined,
    closeMs: undefined,
    closeRate: undefined,
  };
  scanKeywords(text, setType[1], ev, applyBuildTimeout);
  return ev;
}

function applyClientsSeen(ev: ClientsSeenEvent, key: string, value: string): void {
  switch (key) {
    case 'TimeStarted': {
      const t = parseTorTime(value, true);
      if (t === null) addExtra(ev, key, value);
      else ev.timeStarted = t;
      return;
    }
    case 'CountrySummary': {
      const map = parseCountMap(value, '=');
      if (map === null) addExtra(ev, key, value);
      else ev.countrySummary = map;
      return;
    }
    case 'IPVersions': {
      const map = parseCountMap(value, '=');
      if (map === null) addExtra(ev, key, value);
      else ev.ipVersions = map;
      return;
    }
    default:
      addExtra(ev, key, value);
  }
}

/** Parses a CLIENTS_SEEN body: `TimeStarted="..." CountrySummary=cc=n,... IPVersions=v4=n,...`. */
export function parseClientsSeenBody(text: string, pos: number, raw: string): ClientsSeenEvent {
  const ev: ClientsSeenEvent = {
    type: 'CLIENTS_SEEN',
    raw,
    extra: EMPTY_EXTRA,
    timeStarted: undefined,
    countrySummary: Object.create(null) as Record<string, number>,
    ipVersions: Object.create(null) as Record<string, number>,
  };
  scanKeywords(text, pos, ev, applyClientsSeen);
  return ev;
}

/**
 * Parses a TRANSPORT_LAUNCHED body: `Type SP Name SP Address SP Port`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a field is missing or the port is bad
 */
export function parseTransportLaunchedBody(text: string, pos: number, raw: string): TransportLaunchedEvent {
  const kind = positional(text, pos);
  const name = kind && positional(text, kind[1]);
  const address = name && positional(text, name[1]);
  const port = address && positional(text, address[1]);
  const portNumber = port ? parseUInt(port[0]) : NaN;
  if (!port || !(portNumber <= 65535)) throw malformed('TRANSPORT_LAUNCHED: missing or bad field');
  let host = address![0];
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const ev: TransportLaunchedEvent = {
    type: 'TRANSPORT_LAUNCHED',
    raw,
    extra: EMPTY_EXTRA,
    transportType: kind![0],
    name: name![0],
    address: host,
    port: portNumber,
  };
  scanKeywords(text, port[1], ev, keepExtra);
  return ev;
}

function applyPtLog(ev: PtLogEvent, key: string, value: string): void {
  switch (key) {
    case 'PT':
      ev.program = value;
      return;
    case 'SEVERITY':
      ev.severity = value;
      return;
    case 'MESSAGE':
      ev.message = value;
      return;
    default:
      addExtra(ev, key, value);
  }
}

/**
 * Parses a PT_LOG body: `PT=Program SEVERITY=... MESSAGE="..."`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when PT is missing
 */
export function parsePtLogBody(text: string, pos: number, raw: string): PtLogEvent {
  const ev: PtLogEvent = {
    type: 'PT_LOG',
    raw,
    extra: EMPTY_EXTRA,
    program: '',
    severity: undefined,
    message: undefined,
  };
  scanKeywords(text, pos, ev, applyPtLog);
  if (ev.program === '') throw malformed('PT_LOG: missing PT');
  return ev;
}

/**
 * Parses a PT_STATUS body: `PT=Program TRANSPORT=Transport *(Keyword=Value)`; the transport's own
 * keywords go to `arguments`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when PT is missing
 */
export function parsePtStatusBody(text: string, pos: number, raw: string): PtStatusEvent {
  const args = Object.create(null) as Record<string, string>;
  scanKeywords(text, pos, args, setArgument);
  const program = args['PT'];
  if (program === undefined) throw malformed('PT_STATUS: missing PT');
  const transport = args['TRANSPORT'];
  delete args['PT'];
  delete args['TRANSPORT'];
  return { type: 'PT_STATUS', raw, extra: EMPTY_EXTRA, program, transport, arguments: args };
}
