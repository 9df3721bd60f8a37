import net from 'node:net';
import { TorInvalidValueError } from '../errors.js';

/**
 * IPv4/IPv6 text <-> network-order bytes, for the SOCKS5 address fields we write and read
 * ourselves (RESOLVE/RESOLVE_PTR). Pure functions.
 */

/**
 * The 4 or 16 bytes of an IP literal.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `ip` is not an IPv4/IPv6 literal
 *   (zone ids such as `%eth0` included: they mean nothing to tor)
 */
export function ipToBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!net.isIPv6(ip) || ip.includes('%')) throw new TorInvalidValueError('address', 'is not an IPv4 or IPv6 address');
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) is the last two groups: rewrite it as such.
    const [a, b, c, d] = text.slice(lastColon + 1).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parseGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  const gap = text.indexOf('::');
  if (gap === -1) {
    groups = parseGroups(text);
  } else {
    const head = parseGroups(text.slice(0, gap));
    const rest = parseGroups(text.slice(gap + 2));
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/**
 * The text form of 4 or 16 address bytes; IPv6 in RFC 5952 form (lower case, the longest run of
 * two or more zero groups shortened to `::`).
 */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
