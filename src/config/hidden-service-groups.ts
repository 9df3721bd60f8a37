/**
 * HiddenServiceDir groups: tor's configuration holds onion services as runs of lines, each starting
 * with `HiddenServiceDir` and owning the `HiddenService*` lines after it. `GETCONF
 * HiddenServiceOptions` (a virtual option) returns all of them in order, and one SETCONF replacing
 * any of them replaces them all, so they are read and written as a whole. Pure functions.
 */

import { TorInvalidValueError, TorProtocolError } from '../errors.js';
import type { ConfLine, HiddenServiceConfig } from './config-types.js';

/** The virtual option that stands for every HiddenService* group line (control-spec 3.3). */
export const HIDDEN_SERVICE_OPTIONS = 'HiddenServiceOptions';

const DIR = 'hiddenservicedir';
const PORT = 'hiddenserviceport';
const VERSION = 'hiddenserviceversion';

/**
 * Groups the lines of `GETCONF HiddenServiceOptions` into services. Every line other than
 * HiddenServiceDir/Port/Version is kept in `options`, unknown ones included, in order. A bare
 * `HiddenServiceOptions` line (tor's "none configured") gives no group.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a group line before any HiddenServiceDir, a
 *   HiddenServiceDir without a value, or a HiddenServiceVersion that is not a number
 * @example
 * parseHiddenServiceOptions([
 *   { key: 'HiddenServiceDir', value: '/var/lib/tor/a' },
 *   { key: 'HiddenServicePort', value: '80 127.0.0.1:8080' },
 *   { key: 'HiddenServiceMaxStreams', value: '5' },
 * ]) // [{ dir: '/var/lib/tor/a', ports: ['80 127.0.0.1:8080'], options: [['HiddenServiceMaxStreams', '5']] }]
 */
export function parseHiddenServiceOptions(lines: readonly ConfLine[]): HiddenServiceConfig[] {
  const groups: HiddenServiceConfig[] = [];
  let current: HiddenServiceConfig | undefined;
  for (const { key, value } of lines) {
    const lower = key.toLowerCase();
    if (lower === HIDDEN_SERVICE_OPTIONS.toLowerCase() && value === null) continue;
    if (lower === DIR) {
      if (value === null) throw new TorProtocolError('HiddenServiceDir line without a directory');
      current = { dir: value, ports: [], options: [] };
      groups.push(current);
      continue;
    }
    if (!current) throw new TorProtocolError(`${key} line before any HiddenServiceDir`);
    if (value === null) continue; // a group option at its default carries nothing to keep
    if (lower === PORT) current.ports.push(value);
    else if (lower === VERSION) {
      if (!/^\d+$/.test(value)) throw new TorProtocolError('HiddenServiceVersion is not a number');
      current.version = Number(value);
    }
    else current.options.push([key, value]);
  }
  return groups;
}

/**
 * The ordered SETCONF lines that configure exactly `groups`: per group `HiddenServiceDir`, then
 * `HiddenServiceVersion` (when set), the ports, then `options` unchanged and in order. No groups gives
 * a bare `HiddenServiceDir`, which removes every HiddenServiceDir service. Send with
 * `encodeConfLines` (which quotes and checks every value).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an empty `dir`, a bad `version`, or an
 *   option key that is not a `HiddenService*` group option (`HiddenServiceDir`, `...Port` and
 *   `...Version` belong in their own fields: in `options` they would split or reorder the group)
 */
export function encodeHiddenServiceGroups(groups: readonly HiddenServiceConfig[]): ConfLine[] {
  if (!Array.isArray(groups)) throw new TorInvalidValueError('hidden services', 'must be an array of groups');
  if (groups.length === 0) return [{ key: 'HiddenServiceDir', value: null }];
  const out: ConfLine[] = [];
  for (const [i, g] of groups.entries()) {
    const where = `hidden service #${i + 1}`;
    if (g === null || typeof g !== 'object') throw new TorInvalidValueError(where, 'must be an object { dir, ports, options }');
    if (!Array.isArray(g.ports)) throw new TorInvalidValueError(`${where} ports`, 'must be an array (of HiddenServicePort values)');
    // Left out (JavaScript), none: what a group read back without options has.
    const options: unknown = g.options ?? [];
    if (!Array.isArray(options)) throw new TorInvalidValueError(`${where} options`, 'must be an array of [key, value] (empty for none)');
    if (typeof g.dir !== 'string' || g.dir.length === 0) {
      throw new TorInvalidValueError(`${where} dir`, 'is empty');
    }
    out.push({ key: 'HiddenServiceDir', value: g.dir });
    if (g.version !== undefined) {
      if (!Number.isInteger(g.version) || g.version < 0) {
        throw new TorInvalidValueError(`${where} version`, 'is not a non-negative integer');
      }
      out.push({ key: 'HiddenServiceVersion', value: String(g.version) });
    }
    for (const port of g.ports) {
      if (typeof port !== 'string') throw new TorInvalidValueError(`${where} port`, 'is not a string');
      out.push({ key: 'HiddenServicePort', value: port });
    }
    for (const entry of options as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== 2) throw new TorInvalidValueError(`${where} option`, 'must be a [key, value] pair');
      const [key, value] = entry;
      const lower = typeof key === 'string' ? key.toLowerCase() : '';
      if (!lower.startsWith('hiddenservice') || lower === DIR || lower === PORT || lower === VERSION) {
        throw new TorInvalidValueError(
          `${where} option name`,
          'must be a HiddenService* group option other than HiddenServiceDir, HiddenServicePort, HiddenServiceVersion',
        );
      }
      if (typeof value !== 'string') throw new TorInvalidValueError(`${where} option ${key}`, 'is not a string');
      out.push({ key, value });
    }
  }
  return out;
}
