/**
 * Configuration lines on the wire: GETCONF replies and CONF_CHANGED events to ordered {@link ConfLine}
 * lists, and ordered lists back to SETCONF/RESETCONF arguments. Order matters: option groups such as
 * HiddenServiceDir + HiddenServicePort are only meaningful in sequence, so nothing here goes through
 * a Record.
 */

import { TorInvalidValueError, TorProtocolError } from '../errors.js';
import { unquoteString } from '../control/keyword-args.js';
import type { ControlReply } from '../control/reply.js';
import { assertToken, quoteValue } from '../control/wire-values.js';
import type { ConfLine, ConfigOptionInfo } from './config-types.js';

/**
 * Decodes one value as tor writes it after `Key=`: tor quotes (C-style, control-spec 2.1.1) only
 * values that need it, and sends the others bare.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a malformed quoted value
 */
export function decodeConfValue(text: string): string {
  return text.startsWith('"') ? unquoteString(text) : text;
}

/**
 * Splits one `Key=value` / `Key` line into a {@link ConfLine}.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for an empty key or malformed quoting
 */
export function parseConfLine(text: string): ConfLine {
  const eq = text.indexOf('=');
  const key = eq === -1 ? text : text.slice(0, eq);
  if (key.length === 0 || /\s/.test(key)) {
    throw new TorProtocolError('malformed configuration line: no option name');
  }
  return { key, value: eq === -1 ? null : decodeConfValue(text.slice(eq + 1)) };
}

/**
 * The lines of a GETCONF reply, in tor's order (a virtual option such as `HiddenServiceOptions`
 * expands to the lines of its group, keys as tor spells them).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a malformed line
 * @example parseGetConfReply(reply) // [{ key: 'SocksPort', value: '9050' }, { key: 'ContactInfo', value: null }]
 */
export function parseGetConfReply(reply: ControlReply): ConfLine[] {
  const out: ConfLine[] = [];
  for (const line of reply.lines) {
    if (line.separator === ' ' && line.text === 'OK' && reply.lines.length === 1) break;
    if (line.separator === '+') {
      const eq = line.text.indexOf('=');
      if (eq <= 0) throw new TorProtocolError('malformed configuration data line: no option name');
      out.push({ key: line.text.slice(0, eq), value: line.data ?? '' });
      continue;
    }
    out.push(parseConfLine(line.text));
  }
  return out;
}

/**
 * The changed lines of a CONF_CHANGED event from its text (`CONF_CHANGED`, one `Key[=value]` line per
 * change, `OK`; lines joined by "\n" as torcon's event objects keep them in `raw`).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a malformed line
 */
export function parseConfChangedText(raw: string): ConfLine[] {
  const lines = raw.split('\n');
  if (lines[0]?.trim() === 'CONF_CHANGED') lines.shift();
  if (lines.length > 0 && lines[lines.length - 1]!.trim() === 'OK') lines.pop();
  return lines.filter((l) => l.length > 0).map(parseConfLine);
}

/**
 * Encodes ordered lines as SETCONF/RESETCONF arguments: `Key="value"` (always quoted, so spaces,
 * quotes, backslashes, tabs and non-ASCII text survive) or a bare `Key` for `value: null`. Every key
 * and value is checked before anything is returned, so a caller that sends the result never sends
 * part of a bad command.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an empty list, a key that is not a plain
 *   token (or holds `=`), or a value with CR, LF or NUL
 * @example encodeConfLines([{ key: 'HiddenServiceDir', value: '/a b' }, { key: 'HiddenServicePort', value: '80' }])
 * // 'HiddenServiceDir="/a b" HiddenServicePort="80"'
 */
export function encodeConfLines(lines: readonly ConfLine[]): string {
  if (lines.length === 0) throw new TorInvalidValueError('config options', 'none given');
  const parts: string[] = [];
  for (const { key, value } of lines) {
    assertToken(key, 'config option name');
    if (key.includes('=')) throw new TorInvalidValueError('config option name', 'contains "="');
    if (value === null) parts.push(key);
    else parts.push(`${key}=${quoteValue(value, `value of ${key}`)}`);
  }
  return parts.join(' ');
}

/**
 * Parses `GETINFO config/names`: one `Name Type [Description]` per line. `Dependant` (tor before
 * 0.3.0.2-alpha) is normalized to `Dependent`; unknown types are kept as tor wrote them.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a line without a type
 */
export function parseConfigNames(text: string): ConfigOptionInfo[] {
  const out: ConfigOptionInfo[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line.length === 0) continue;
    const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new TorProtocolError('malformed config/names line: no type');
    const type = m[2] === 'Dependant' ? 'Dependent' : m[2]!;
    const info: ConfigOptionInfo = { name: m[1]!, type };
    if (m[3]) info.description = m[3];
    out.push(info);
  }
  return out;
}

/**
 * Parses `GETINFO config/defaults`: one `Name Value` per line, the value quoted by newer tors. An
 * option with several default lines maps to all of them, in order.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function parseConfigDefaults(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line.length === 0) continue;
    const sp = line.indexOf(' ');
    const name = sp === -1 ? line : line.slice(0, sp);
    const value = sp === -1 ? '' : decodeConfValue(line.slice(sp + 1));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}
