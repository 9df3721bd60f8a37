import { TorInvalidValueError } from '../errors.js';
import { decodeConfValue } from '../config/conf-lines.js';
import { assertToken, quoteValue } from '../control/wire-values.js';
import type { ControlReply } from '../control/reply.js';

/**
 * Tor's filesystem onion services as configuration: `HiddenServiceDir` starts a group and the
 * `HiddenService*` lines after it (Port, Version, MaxStreams, PoW...) belong to it. SETCONF replaces
 * the whole set, so adding or removing one service means re-sending every other group exactly as
 * tor reported it: every option, known to us or not, in order. Pure functions.
 */

/** One `Key=value` line, as GETCONF HiddenServiceOptions reports it. */
export interface ConfLine {
  key: string;
  value: string;
}

/** One service: its HiddenServiceDir line first, then its other lines. */
export type HiddenServiceGroup = ConfLine[];

/**
 * Reads a `GETCONF HiddenServiceOptions` reply into groups. A bare `HiddenServiceOptions` line means
 * none. Lines before the first HiddenServiceDir (tor never sends any) form a group of their own so
 * that nothing is dropped.
 */
export function parseHiddenServiceOptions(reply: ControlReply): HiddenServiceGroup[] {
  const groups: HiddenServiceGroup[] = [];
  for (const { text, separator } of reply.lines) {
    const eq = text.indexOf('=');
    if (eq < 0) continue; // `HiddenServiceOptions` (nothing set) or the final OK
    if (separator === '+') continue;
    const key = text.slice(0, eq);
    // tor escapes each byte of a non-ASCII value (a directory named in UTF-8, say) as octal:
    // decoded as the bytes of one UTF-8 text, as the config reader does.
    const value = decodeConfValue(text.slice(eq + 1));
    if (key.toLowerCase() === 'hiddenservicedir' || groups.length === 0) groups.push([]);
    groups[groups.length - 1]!.push({ key, value });
  }
  return groups;
}

/** The directory of a group (`undefined` for a group without one). */
export function groupDir(group: HiddenServiceGroup): string | undefined {
  const first = group[0];
  return first && first.key.toLowerCase() === 'hiddenservicedir' ? first.value : undefined;
}

/**
 * The command that makes `groups` tor's whole onion service configuration: SETCONF with every line
 * in order, or `RESETCONF HiddenServiceOptions` when no group is left.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a key that is not a token or a value with CR/LF/NUL
 */
export function buildHiddenServiceConf(groups: readonly HiddenServiceGroup[]): string {
  const lines = groups.flat();
  if (lines.length === 0) return 'RESETCONF HiddenServiceOptions';
  return (
    'SETCONF ' +
    lines
      .map(({ key, value }) => {
        assertToken(key, 'config option name');
        if (key.includes('=')) throw new TorInvalidValueError('config option name', 'contains "="');
        return `${key}=${quoteValue(value, `value of ${key}`)}`;
      })
      .join(' ')
  );
}
