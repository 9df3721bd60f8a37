/**
 * Events about relays, documents and configuration: NEWDESC (control-spec 4.1.6), GUARD (4.1.11),
 * NS (4.1.12), NEWCONSENSUS (4.1.15), CONF_CHANGED (4.1.18), AUTHDIR_NEWDESCS (4.1.8), DESCCHANGED
 * (4.1.9), and the onion-service directory events HS_DESC (4.1.25) and HS_DESC_CONTENT (4.1.26).
 * Router status entries in NS/NEWCONSENSUS bodies are parsed by the state layer, not here.
 */

import { scanKeywords, skipSpaces } from '../keyword-args.js';
import type { ReplyLine } from '../reply.js';
import type {
  AuthDirNewDescsEvent,
  ConfChange,
  ConfChangedEvent,
  DescChangedEvent,
  GuardEvent,
  HsDescContentEvent,
  HsDescEvent,
  NewConsensusEvent,
  NewDescEvent,
  NsEvent,
  RouterRef,
} from './event-types.js';
import {
  EMPTY_EXTRA,
  addExtra,
  bareEnd,
  malformed,
  parseRouterRef,
  parseRouterRefRange,
  parseUInt,
  readPositional,
} from './field-parsers.js';

function keepExtra(ev: { extra: Readonly<Record<string, string>> }, key: string, value: string): void {
  addExtra(ev, key, value);
}

/**
 * Parses a NEWDESC body: `1*(SP LongName)`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when there is no relay or one is malformed
 */
export function parseNewDescBody(text: string, pos: number, raw: string): NewDescEvent {
  const routers: RouterRef[] = [];
  pos = skipSpaces(text, pos);
  while (pos < text.length) {
    const end = bareEnd(text, pos);
    const router = parseRouterRefRange(text, pos, end);
    if (router === null) throw malformed('NEWDESC: malformed relay name');
    routers.push(router);
    pos = skipSpaces(text, end);
  }
  if (routers.length === 0) throw malformed('NEWDESC: no relay');
  return { type: 'NEWDESC', raw, extra: EMPTY_EXTRA, routers };
}

/**
 * Parses a GUARD body: `Type SP Name SP Status`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a field is missing or the name is malformed
 */
export function parseGuardBody(text: string, pos: number, raw: string): GuardEvent {
  const guardType = readPositional(text, pos);
  const name = guardType && readPositional(text, guardType[1]);
  const status = name && readPositional(text, name[1]);
  if (!status) throw malformed('GUARD: missing type, name or status');
  const router = parseRouterRef(name![0]);
  if (router === null) throw malformed('GUARD: malformed relay name');
  const ev: GuardEvent = {
    type: 'GUARD',
    raw,
    extra: EMPTY_EXTRA,
    guardType: guardType![0],
    name: name![0],
    router,
    status: status[0],
  };
  scanKeywords(text, status[1], ev, keepExtra);
  return ev;
}

/**
 * Builds an NS event from its data block.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the event has no data block
 */
export function parseNsBody(text: string, pos: number, raw: string, body: string | undefined): NsEvent {
  if (body === undefined) throw malformed('NS: missing data block');
  const ev: NsEvent = { type: 'NS', raw, extra: EMPTY_EXTRA, body };
  scanKeywords(text, pos, ev, keepExtra);
  return ev;
}

/**
 * Builds a NEWCONSENSUS event from its data block.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the event has no data block
 */
export function parseNewConsensusBody(
  text: string,
  pos: number,
  raw: string,
  body: string | undefined,
): NewConsensusEvent {
  if (body === undefined) throw malformed('NEWCONSENSUS: missing data block');
  const ev: NewConsensusEvent = { type: 'NEWCONSENSUS', raw, extra: EMPTY_EXTRA, body };
  scanKeywords(text, pos, ev, keepExtra);
  return ev;
}

/**
 * Builds an AUTHDIR_NEWDESCS event: the data block is `Action \n Message \n Descriptor`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the event has no data block
 */
export function parseAuthDirNewDescsBody(
  _text: string,
  _pos: number,
  raw: string,
  body: string | undefined,
): AuthDirNewDescsEvent {
  if (body === undefined) throw malformed('AUTHDIR_NEWDESCS: missing data block');
  const first = body.indexOf('\n');
  const second = first === -1 ? -1 : body.indexOf('\n', first + 1);
  return {
    type: 'AUTHDIR_NEWDESCS',
    raw,
    extra: EMPTY_EXTRA,
    action: first === -1 ? body : body.slice(0, first),
    message: first === -1 ? '' : second === -1 ? body.slice(first + 1) : body.slice(first + 1, second),
    descriptor: second === -1 ? '' : body.slice(second + 1),
  };
}

/** Builds a DESCCHANGED event (no arguments; any keyword goes to `extra`). */
export function parseDescChangedBody(text: string, pos: number, raw: string): DescChangedEvent {
  const ev: DescChangedEvent = { type: 'DESCCHANGED', raw, extra: EMPTY_EXTRA };
  scanKeywords(text, pos, ev, keepExtra);
  return ev;
}

/**
 * Builds a CONF_CHANGED event from its reply lines: the first is `CONF_CHANGED`, each further one
 * (up to the final `OK`) is `KEYWORD[=VALUE]`, the value verbatim (tor does not quote it).
 *
 * @param lines - the event's reply lines
 * @param raw - the event's raw text
 */
export function parseConfChangedLines(lines: readonly ReplyLine[], raw: string): ConfChangedEvent {
  const changes: ConfChange[] = [];
  let last = lines.length;
  if (last > 1 && lines[last - 1]!.separator === ' ' && lines[last - 1]!.text === 'OK') last--;
  for (let i = 1; i < last; i++) {
    const text = lines[i]!.text;
    if (text.length === 0) continue;
    const eq = text.indexOf('=');
    changes.push(eq === -1 ? { key: text, value: null } : { key: text.slice(0, eq), value: text.slice(eq + 1) });
  }
  return { type: 'CONF_CHANGED', raw, extra: EMPTY_EXTRA, changes };
}

function hsDirRouter(hsDir: string): RouterRef | undefined {
  if (hsDir === 'UNKNOWN') return undefined;
  return parseRouterRef(hsDir) ?? undefined;
}

function applyHsDesc(ev: HsDescEvent, key: string, value: string): void {
  switch (key) {
    case 'REASON':
      ev.reason = value;
      return;
    case 'REPLICA': {
      const n = parseUInt(value);
      if (Number.isNaN(n)) addExtra(ev, key, value);
      else ev.replica = n;
      return;
    }
    case 'HSDIR_INDEX':
      ev.hsDirIndex = value;
      return;
    default:
      addExtra(ev, key, value);
  }
}

/**
 * Parses an HS_DESC body: `Action SP HSAddress SP AuthType SP HsDir [SP DescriptorID] [keywords]`.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when one of the first four fields is missing
 */
export function parseHsDescBody(text: string, pos: number, raw: string): HsDescEvent {
  const action = readPositional(text, pos);
  const address = action && readPositional(text, action[1]);
  const authType = address && readPositional(text, address[1]);
  const hsDir = authType && readPositional(text, authType[1]);
  if (!hsDir) throw malformed('HS_DESC: missing action, address, auth type or directory');
  const descriptorId = readPositional(text, hsDir[1]);
  const ev: HsDescEvent = {
    type: 'HS_DESC',
    raw,
    extra: EMPTY_EXTRA,
    action: action![0],
    address: address![0],
    authType: authType![0],
    hsDir: hsDir[0],
    hsDirRouter: hsDirRouter(hsDir[0]),
    descriptorId: descriptorId ? descriptorId[0] : undefined,
    reason: undefined,
    replica: undefined,
    hsDirIndex: undefined,
  };
  scanKeywords(text, descriptorId ? descriptorId[1] : hsDir[1], ev, applyHsDesc);
  return ev;
}

/**
 * Parses an HS_DESC_CONTENT event: `HSAddress SP DescId SP HsDir` on the first line, the descriptor
 * as the data block (empty when the fetch failed).
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a first-line field is missing
 */
export function parseHsDescContentBody(
  text: string,
  pos: number,
  raw: string,
  body: string | undefined,
): HsDescContentEvent {
  const address = readPositional(text, pos);
  const descriptorId = address && readPositional(text, address[1]);
  const hsDir = descriptorId && readPositional(text, descriptorId[1]);
  if (!hsDir) throw malformed('HS_DESC_CONTENT: missing address, descriptor id or directory');
  const ev: HsDescContentEvent = {
    type: 'HS_DESC_CONTENT',
    raw,
    extra: EMPTY_EXTRA,
    address: address![0],
    descriptorId: descriptorId![0],
    hsDir: hsDir[0],
    hsDirRouter: hsDirRouter(hsDir[0]),
    descriptor: body ?? '',
  };
  scanKeywords(text, hsDir[1], ev, keepExtra);
  return ev;
}
