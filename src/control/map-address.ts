/**
 * MAPADDRESS (control-spec 3.8): the command line from a caller's mappings, and the reply read
 * back into the mappings tor made. Each `Old=New` pair gets exactly one reply line, in order:
 * `250 Old=New` when tor applied it (Old being the address tor chose for an automap request),
 * `512 ...` or `451 ...` when it did not; the lines of one reply may mix these statuses.
 */

import { TorInvalidValueError, TorProtocolError } from '../errors.js';
import type { ControlReply } from './reply.js';
import { assertToken } from './wire-values.js';

/** A mapping tor applied, as its MAPADDRESS reply names it. */
export interface MappedAddress {
  /**
   * The original address: as given, or for an automap request (`0.0.0.0`, `::0`, `.`) the one tor
   * chose (an IPv6 one in brackets, as tor writes it).
   */
  readonly address: string;
  /** The replacement address. The same as `address` (ignoring case): the mapping was removed. */
  readonly newAddress: string;
}

/** MAPADDRESS's input: original address to replacement, as an object or as pairs (pairs allow several automap requests). */
export type MapAddressMappings = Readonly<Record<string, string>> | ReadonlyArray<readonly [address: string, newAddress: string]>;

/** One pair as it goes on the wire. */
export interface MapAddressPair {
  readonly address: string;
  readonly newAddress: string;
}

/**
 * The original addresses that ask tor to choose one (control-spec 3.8). The spec writes the IPv6
 * one `::0`, but tor (0.4.x, control_cmd.c) only recognizes `::` and would map the literal text
 * `::0` instead (seen on tor 0.4.9.11): so `::0` is sent as `::`.
 */
const AUTOMAP_WIRE: Readonly<Record<string, string>> = { '0.0.0.0': '0.0.0.0', '::': '::', '::0': '::', '.': '.' };

/** Whether `address` asks tor to choose the original address. */
export function isAutomapRequest(address: string): boolean {
  return Object.hasOwn(AUTOMAP_WIRE, address);
}

/**
 * The key tor's address map files a MAPADDRESS original under: without a leading `*.` (a wildcard
 * mapping is filed under the domain, and its ADDRMAP event names the domain alone), case kept
 * (tor's map is case-sensitive: `A.example` and `a.example` are two entries).
 */
export function addressMapKey(address: string): string {
  return address.startsWith('*.') ? address.slice(2) : address;
}

/**
 * Whether tor takes `address=newAddress` as removing the mapping of `address` (addressmap.c,
 * addressmap_register): the two are equal ignoring case, and both or neither are wildcards.
 */
export function isMapAddressRemoval(address: string, newAddress: string): boolean {
  const wild = address.startsWith('*.');
  if (wild !== newAddress.startsWith('*.')) return false;
  return addressMapKey(address).toLowerCase() === addressMapKey(newAddress).toLowerCase();
}

/**
 * Checks the caller's mappings and builds the MAPADDRESS command line. Every address must be a
 * bare token without `=` (tor reads each pair as a `key=value` argument, without quoting), so
 * nothing can end the command or add an argument. An original address may appear once per
 * command (automap requests excepted): tor would apply both pairs, but announce the first with an
 * ADDRMAP event only after its reply, so that a reader of the events could not tell which came last.
 *
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for no mappings, a value that is not a
 *   string, is empty, or holds whitespace, a quote, a backslash, `=`, CR/LF/NUL; or an original
 *   address given twice
 */
export function encodeMapAddress(mappings: MapAddressMappings): { line: string; pairs: MapAddressPair[] } {
  if (mappings === null || typeof mappings !== 'object') {
    throw new TorInvalidValueError('MAPADDRESS mappings', 'must be an object of addresses to new addresses, or an array of pairs');
  }
  const entries: ReadonlyArray<readonly [unknown, unknown]> = Array.isArray(mappings)
    ? (mappings as ReadonlyArray<unknown>).map((pair) => {
        if (!Array.isArray(pair) || pair.length !== 2) throw new TorInvalidValueError('MAPADDRESS mappings', 'each pair must be [address, newAddress]');
        return pair as unknown as readonly [unknown, unknown];
      })
    : Object.entries(mappings);
  if (entries.length === 0) throw new TorInvalidValueError('MAPADDRESS mappings', 'none given');
  const pairs: MapAddressPair[] = [];
  const seen = new Set<string>();
  for (const [from, to] of entries) {
    const address = mapAddressValue(from, 'MAPADDRESS address');
    const newAddress = mapAddressValue(to, 'MAPADDRESS new address');
    if (isAutomapRequest(address)) {
      pairs.push({ address: AUTOMAP_WIRE[address]!, newAddress });
      continue;
    }
    const key = addressMapKey(address);
    if (seen.has(key)) throw new TorInvalidValueError('MAPADDRESS address', 'an address is given twice (send one mapping of it per command)');
    seen.add(key);
    pairs.push({ address, newAddress });
  }
  return { line: 'MAPADDRESS ' + pairs.map((p) => `${p.address}=${p.newAddress}`).join(' '), pairs };
}

function mapAddressValue(value: unknown, field: string): string {
  const text = assertToken(value as string, field);
  if (text.includes('=')) throw new TorInvalidValueError(field, 'contains "="');
  return text;
}

/**
 * The mappings tor applied according to a MAPADDRESS reply: each `250` line `Old=New`, whatever
 * the other lines say. Lines of other statuses (a pair tor refused) and `250` lines of any other
 * form are passed over.
 */
export function mappedInReply(reply: ControlReply): MappedAddress[] {
  const out: MappedAddress[] = [];
  for (const line of reply.lines) {
    if (line.status !== 250) continue;
    const mapped = readMappedLine(line.text);
    if (mapped !== undefined) out.push(mapped);
  }
  return out;
}

function readMappedLine(text: string): MappedAddress | undefined {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1 || /\s/.test(text)) return undefined;
  return { address: text.slice(0, eq), newAddress: text.slice(eq + 1) };
}

/** What tor answered for each pair of a MAPADDRESS, in order. */
export type MapAddressOutcome = { ok: true; mapped: MappedAddress } | { ok: false; status: number; text: string };

/**
 * Reads the reply to the MAPADDRESS of `pairs`: one outcome per pair, in order. A reply that is
 * one error line for the whole command (tor could not parse it) gives that error for every pair.
 *
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when a success line is not `Old=New`, names
 *   another mapping than its pair asked for, or the reply has not one line per pair
 */
export function readMapAddressReply(reply: ControlReply, pairs: readonly MapAddressPair[]): MapAddressOutcome[] {
  const lines = reply.lines;
  if (lines.length === 1 && pairs.length > 1 && lines[0]!.status !== 250) {
    const { status, text } = lines[0]!;
    return pairs.map(() => ({ ok: false, status, text }));
  }
  if (lines.length !== pairs.length) {
    throw new TorProtocolError(`MAPADDRESS reply has ${lines.length} lines for ${pairs.length} mappings`);
  }
  return lines.map((line, i): MapAddressOutcome => {
    if (line.status !== 250) return { ok: false, status: line.status, text: line.text };
    const mapped = readMappedLine(line.text);
    const pair = pairs[i]!;
    if (mapped === undefined) throw new TorProtocolError(`MAPADDRESS reply line ${i + 1} is not Old=New`);
    // tor echoes the pair as sent (older tors in lower case: they lowered the whole line), except for the address it
    // chose for an automap request.
    if (!sameText(mapped.newAddress, pair.newAddress) || (!isAutomapRequest(pair.address) && !sameText(mapped.address, pair.address))) {
      throw new TorProtocolError(`MAPADDRESS reply line ${i + 1} names another mapping than was asked for`);
    }
    return { ok: true, mapped };
  });
}

function sameText(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
