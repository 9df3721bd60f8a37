/**
 * `parseEvent`: one asynchronous reply (status 650) in, one typed event out. It never throws: an
 * unknown event name or a known event that breaks its grammar becomes a {@link GenericEvent} that
 * keeps `raw` (and `parseError` in the malformed case), because dropping an event or killing the
 * connection's reader over one odd line would be worse than passing it on untyped.
 */

import { parseKeywordArgs, startsAt } from '../keyword-args.js';
import type { ControlReply, ReplyLine } from '../reply.js';
import { parseAddrMapBody } from './addrmap-event.js';
import {
  parseBwBody,
  parseCellStatsBody,
  parseCircBwBody,
  parseConnBwBody,
  parseOrConnBody,
  parseTbEmptyBody,
} from './bandwidth-events.js';
import { parseCircBody, parseCircMinorBody } from './circuit-events.js';
import {
  parseAuthDirNewDescsBody,
  parseConfChangedLines,
  parseDescChangedBody,
  parseGuardBody,
  parseHsDescBody,
  parseHsDescContentBody,
  parseNewConsensusBody,
  parseNewDescBody,
  parseNsBody,
} from './directory-events.js';
import type { GenericEvent, KnownTorEvent, TorEvent } from './event-types.js';
import { EMPTY_EXTRA, EMPTY_LIST } from './field-parsers.js';
import {
  parseBuildTimeoutSetBody,
  parseClientsSeenBody,
  parseLogBody,
  parseNetworkLivenessBody,
  parsePtLogBody,
  parsePtStatusBody,
  parseSignalBody,
  parseStatusBody,
  parseTransportLaunchedBody,
} from './status-events.js';
import { parseStreamBody, parseStreamBwBody } from './stream-events.js';

/** Parses the arguments of one event: `text[pos..]` is what follows the event name. */
type BodyParser = (text: string, pos: number, raw: string, body: string | undefined) => KnownTorEvent;

const PARSERS = new Map<string, BodyParser>([
  ['CIRC', (t, p, r) => parseCircBody(t, p, r)],
  ['STREAM', (t, p, r) => parseStreamBody(t, p, r)],
  ['ORCONN', (t, p, r) => parseOrConnBody(t, p, r)],
  ['BW', (t, p, r) => parseBwBody(t, p, r)],
  ['ADDRMAP', (t, p, r) => parseAddrMapBody(t, p, r, false)],
  ['CIRC_MINOR', (t, p, r) => parseCircMinorBody(t, p, r)],
  ['STREAM_BW', (t, p, r) => parseStreamBwBody(t, p, r)],
  ['CIRC_BW', (t, p, r) => parseCircBwBody(t, p, r)],
  ['CONN_BW', (t, p, r) => parseConnBwBody(t, p, r)],
  ['CELL_STATS', (t, p, r) => parseCellStatsBody(t, p, r)],
  ['TB_EMPTY', (t, p, r) => parseTbEmptyBody(t, p, r)],
  ['DEBUG', (t, p, r, b) => parseLogBody('DEBUG', t, p, r, b)],
  ['INFO', (t, p, r, b) => parseLogBody('INFO', t, p, r, b)],
  ['NOTICE', (t, p, r, b) => parseLogBody('NOTICE', t, p, r, b)],
  ['WARN', (t, p, r, b) => parseLogBody('WARN', t, p, r, b)],
  ['ERR', (t, p, r, b) => parseLogBody('ERR', t, p, r, b)],
  ['STATUS_GENERAL', (t, p, r) => parseStatusBody('STATUS_GENERAL', t, p, r)],
  ['STATUS_CLIENT', (t, p, r) => parseStatusBody('STATUS_CLIENT', t, p, r)],
  ['STATUS_SERVER', (t, p, r) => parseStatusBody('STATUS_SERVER', t, p, r)],
  // Tor before 0.2.0.22-rc misspelled STATUS_SERVER (control-spec 4.1.10).
  ['STATUS_SEVER', (t, p, r) => parseStatusBody('STATUS_SERVER', t, p, r)],
  ['SIGNAL', (t, p, r) => parseSignalBody(t, p, r)],
  ['NETWORK_LIVENESS', (t, p, r) => parseNetworkLivenessBody(t, p, r)],
  ['BUILDTIMEOUT_SET', (t, p, r) => parseBuildTimeoutSetBody(t, p, r)],
  ['CLIENTS_SEEN', (t, p, r) => parseClientsSeenBody(t, p, r)],
  ['TRANSPORT_LAUNCHED', (t, p, r) => parseTransportLaunchedBody(t, p, r)],
  ['PT_LOG', (t, p, r) => parsePtLogBody(t, p, r)],
  ['PT_STATUS', (t, p, r) => parsePtStatusBody(t, p, r)],
  ['NEWDESC', (t, p, r) => parseNewDescBody(t, p, r)],
  ['GUARD', (t, p, r) => parseGuardBody(t, p, r)],
  ['NS', parseNsBody],
  ['NEWCONSENSUS', parseNewConsensusBody],
  ['AUTHDIR_NEWDESCS', parseAuthDirNewDescsBody],
  ['DESCCHANGED', (t, p, r) => parseDescChangedBody(t, p, r)],
  // The multi-line form is handled in parseMultiLine; a lone line means no change was listed.
  ['CONF_CHANGED', (t, _p, r) => parseConfChangedLines([{ status: 650, separator: ' ', text: t }], r)],
  ['HS_DESC', (t, p, r) => parseHsDescBody(t, p, r)],
  ['HS_DESC_CONTENT', parseHsDescContentBody],
]);

// The five events a busy client sends most, recognised without slicing the name or a map lookup.
const HOT_NONE = 0;
const HOT_CIRC = 1;
const HOT_STREAM = 2;
const HOT_ORCONN = 3;
const HOT_BW = 4;
const HOT_ADDRMAP = 5;

function hotKind(text: string, nameEnd: number): number {
  const c0 = text.charCodeAt(0);
  switch (nameEnd) {
    case 6:
      if (c0 === 83 /* S */ && startsAt(text, 0, 'STREAM')) return HOT_STREAM;
      if (c0 === 79 /* O */ && startsAt(text, 0, 'ORCONN')) return HOT_ORCONN;
      break;
    case 4:
      if (c0 === 67 /* C */ && text.charCodeAt(1) === 73 && text.charCodeAt(2) === 82 && text.charCodeAt(3) === 67) {
        return HOT_CIRC; // CIRC
      }
      break;
    case 2:
      if (c0 === 66 /* B */ && text.charCodeAt(1) === 87 /* W */) return HOT_BW;
      break;
    case 7:
      if (c0 === 65 /* A */ && startsAt(text, 0, 'ADDRMAP')) return HOT_ADDRMAP;
      break;
  }
  return HOT_NONE;
}

/** {@link hotKind} of a name already cut out (by a caller that matched it). */
function hotKindOfName(name: string): number {
  switch (name) {
    case 'CIRC':
      return HOT_CIRC;
    case 'STREAM':
      return HOT_STREAM;
    case 'ORCONN':
      return HOT_ORCONN;
    case 'BW':
      return HOT_BW;
    case 'ADDRMAP':
      return HOT_ADDRMAP;
    default:
      return HOT_NONE;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Builds the generic form of an event: positional arguments and keywords split as well as the text
 * allows.
 */
function genericEvent(
  name: string,
  text: string,
  pos: number,
  raw: string,
  body: string | undefined,
  parseError: string | undefined,
): GenericEvent {
  let args: readonly string[] = EMPTY_LIST;
  let extra: Readonly<Record<string, string>> = EMPTY_EXTRA;
  const rest = text.slice(pos);
  try {
    const parsed = parseKeywordArgs(rest);
    args = parsed.positional;
    extra = parsed.keywords;
  } catch (err) {
    // Malformed quoting: fall back to plain words so that callers still see something.
    args = rest.split(' ').filter((word) => word.length > 0);
    parseError ??= errorMessage(err);
  }
  return { type: name, generic: true, raw, args, extra, body, parseError };
}

/**
 * Parses one event from its text: the argument line(s) after `650` and the separator, joined by
 * spaces, plus the data block if any.
 */
function parseText(text: string, raw: string, body: string | undefined, knownName?: string): TorEvent {
  let nameEnd: number;
  let kind: number;
  if (knownName === undefined) {
    const sp = text.indexOf(' ');
    nameEnd = sp === -1 ? text.length : sp;
    kind = hotKind(text, nameEnd);
  } else {
    nameEnd = knownName.length;
    kind = hotKindOfName(knownName);
  }
  try {
    switch (kind) {
      case HOT_CIRC:
        return parseCircBody(text, nameEnd, raw);
      case HOT_STREAM:
        return parseStreamBody(text, nameEnd, raw);
      case HOT_ORCONN:
        return parseOrConnBody(text, nameEnd, raw);
      case HOT_BW:
        return parseBwBody(text, nameEnd, raw);
      case HOT_ADDRMAP:
        return parseAddrMapBody(text, nameEnd, raw, false);
    }
    const name = knownName ?? text.slice(0, nameEnd);
    const parser = PARSERS.get(name);
    if (parser === undefined) {
      return genericEvent(name || 'UNKNOWN', text, nameEnd, raw, body, undefined);
    }
    return parser(text, nameEnd, raw, body);
  } catch (err) {
    return genericEvent(text.slice(0, nameEnd), text, nameEnd, raw, body, errorMessage(err));
  }
}

/**
 * Parses a single-line event text, as found after `650 ` on the wire. The fast path of
 * {@link parseEvent}, for framers that hand over line text directly.
 *
 * @param text - e.g. `CIRC 1 BUILT $AAAA...~nick PURPOSE=GENERAL`
 * @param name - the event name when the caller has matched it already: `text` must start with
 *   it, followed by a space or the end of the text (saves finding it again)
 * @returns the typed event; never throws (see {@link parseEvent})
 */
export function parseEventLine(text: string, name?: string): TorEvent {
  return parseText(text, text, undefined, name);
}

function lineRaw(line: ReplyLine): string {
  return line.data === undefined ? line.text : `${line.text}\n${line.data}`;
}

/**
 * The text of an event reply as a typed event's `raw` holds it: its lines after the status and
 * separator, each followed by its data block if any, joined by "\n".
 */
export function eventRaw(reply: ControlReply): string {
  const lines = reply.lines;
  return lines.length === 1 ? lineRaw(lines[0]!) : lines.map(lineRaw).join('\n');
}

/**
 * Parses an asynchronous event reply into a typed event.
 *
 * Accepted forms (control-spec 2.3, 4.1): one `650 NAME ...` line; `650-` lines closed by a `650 `
 * line, whose later lines carry more arguments (`650-EXTRAMAGIC=99`) and whose final line may be a
 * bare `OK`; `650+NAME ...` with a data block (NS, NEWCONSENSUS, HS_DESC_CONTENT, log events, ...)
 * then `650 OK`; and CONF_CHANGED's `650-CONF_CHANGED` / `650-Key=Value` / `650 OK`.
 *
 * @param reply - a complete reply from the reply parser, status 6xx
 * @returns a typed event, or a {@link GenericEvent} for an unknown name or a malformed known event
 *   (with `parseError`); this function never throws
 * @example
 * const e = parseEvent({ status: 650, lines: [{ status: 650, separator: ' ', text: 'BW 10 20' }] });
 * if (!e.generic && e.type === 'BW') console.log(e.read, e.written); // 10 20
 */
export function parseEvent(reply: ControlReply): TorEvent {
  try {
    const lines = reply.lines;
    if (lines.length === 1 && reply.status === 650) {
      const line = lines[0]!;
      if (line.data === undefined) return parseText(line.text, line.text, undefined);
    }
    return parseMultiLine(reply);
  } catch (err) {
    // Only a reply object that breaks its own type (say, a line that is not an object) gets here.
    return {
      type: 'UNKNOWN',
      generic: true,
      raw: '',
      args: EMPTY_LIST,
      extra: EMPTY_EXTRA,
      body: undefined,
      parseError: `malformed reply object: ${errorMessage(err)}`,
    };
  }
}

function parseMultiLine(reply: ControlReply): TorEvent {
  const lines = reply.lines;
  const raw = eventRaw(reply);
  if (lines.length === 0) {
    return genericEvent('UNKNOWN', '', 0, raw, undefined, 'empty reply');
  }
  const first = lines[0]!;
  if (reply.status < 600 || reply.status > 699) {
    const sp = first.text.indexOf(' ');
    const name = (sp === -1 ? first.text : first.text.slice(0, sp)) || 'UNKNOWN';
    return genericEvent(name, first.text, name.length, raw, first.data, `not an asynchronous event (status ${reply.status})`);
  }
  if (first.text === 'CONF_CHANGED') return parseConfChangedLines(lines, raw);
  // More lines carry more arguments; a closing bare `OK` is framing, not an argument.
  let last = lines.length;
  if (last > 1 && lines[last - 1]!.text === 'OK') last--;
  let text = first.text;
  let body = first.data;
  for (let i = 1; i < last; i++) {
    const line = lines[i]!;
    if (line.text.length > 0) text += ' ' + line.text;
    if (body === undefined) body = line.data;
  }
  return parseText(text, raw, body);
}
