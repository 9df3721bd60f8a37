import { TorProtocolError } from '../errors.js';
import { parseKeywordArgs } from './keyword-args.js';
import type { ControlReply } from './reply.js';

/** What `PROTOCOLINFO 1` tells before authentication (control-spec 3.21). */
export interface ProtocolInfo {
  /** The PROTOCOLINFO version tor answered with (1 today). */
  protocolInfoVersion: number;
  /** Upper-case method names: `NULL`, `HASHEDPASSWORD`, `COOKIE`, `SAFECOOKIE`. */
  authMethods: string[];
  /** Absolute path of the auth cookie, when a cookie method is offered. */
  cookieFile?: string;
  /** tor's version string, e.g. `0.4.9.11`. */
  torVersion: string;
  /** Lines tor sent that this version of torcon does not know (kept, per the spec's tolerance rule). */
  unknownLines: string[];
}

/**
 * Parses a PROTOCOLINFO reply.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the PROTOCOLINFO or VERSION line is missing
 */
export function parseProtocolInfo(reply: ControlReply): ProtocolInfo {
  let protocolInfoVersion: number | undefined;
  let torVersion: string | undefined;
  let authMethods: string[] = [];
  let cookieFile: string | undefined;
  const unknownLines: string[] = [];
  for (const line of reply.lines) {
    const { text } = line;
    if (line.separator === ' ' && text === 'OK') continue;
    const space = text.indexOf(' ');
    const keyword = space === -1 ? text : text.slice(0, space);
    const rest = space === -1 ? '' : text.slice(space + 1);
    if (keyword === 'PROTOCOLINFO') {
      protocolInfoVersion = Number.parseInt(rest, 10);
    } else if (keyword === 'AUTH') {
      const { keywords } = parseKeywordArgs(rest);
      authMethods = (keywords['METHODS'] ?? '').split(',').filter(Boolean).map((m) => m.toUpperCase());
      if (keywords['COOKIEFILE'] !== undefined) cookieFile = keywords['COOKIEFILE'];
    } else if (keyword === 'VERSION') {
      torVersion = parseKeywordArgs(rest).keywords['Tor'];
    } else {
      unknownLines.push(text);
    }
  }
  if (protocolInfoVersion === undefined || Number.isNaN(protocolInfoVersion)) {
    throw new TorProtocolError('PROTOCOLINFO reply has no PROTOCOLINFO line');
  }
  if (torVersion === undefined) throw new TorProtocolError('PROTOCOLINFO reply has no VERSION line');
  const info: ProtocolInfo = { protocolInfoVersion, authMethods, torVersion, unknownLines };
  if (cookieFile !== undefined) info.cookieFile = cookieFile;
  return info;
}
