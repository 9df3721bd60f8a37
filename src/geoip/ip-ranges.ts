import net from 'node:net';
import { TorInvalidValueError } from '../errors.js';
import { normalizeAddress } from '../util/ip-address.js';

/**
 * Address ranges that no GeoIP database can place: loopback, private (RFC 1918, ULA), link-local,
 * carrier-grade NAT, unspecified, multicast, reserved and documentation ranges. Looking them up is
 * pointless (and tor answers `??`), so lookups answer `{}` for them without asking anyone.
 */
const NOT_GLOBAL = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_GLOBAL.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['100::', 64],
] as const) {
  NOT_GLOBAL.addSubnet(prefix, bits, 'ipv6');
}

/** An address ready for lookup: its family and its text without brackets or zone. */
export interface ParsedIp {
  address: string;
  family: 4 | 6;
}

/**
 * Checks and normalizes an address given to a GeoIP lookup: surrounding brackets (`[::1]`) are
 * removed; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, also in hex: `::ffff:102:304`) becomes its
 * IPv4 address.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `ip` is not an IPv4 or IPv6 address
 */
export function parseIp(ip: string): ParsedIp {
  if (typeof ip !== 'string') throw new TorInvalidValueError('IP address', 'not a string');
  let text = ip;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const family = net.isIP(text);
  if (family === 0) throw new TorInvalidValueError('IP address', 'is not an IPv4 or IPv6 address');
  if (family === 6) {
    const bare = text.replace(/%.*$/, '');
    // IPv4-mapped in any spelling (::ffff:8.8.8.8, ::ffff:808:808, 0:0:0:0:0:ffff:0808:0808): the
    // same IPv4 address, which an IPv4-only database and tor's IPv4 table can place.
    const normal = normalizeAddress(bare);
    if (normal !== null && net.isIPv4(normal)) return { address: normal, family: 4 };
    return { address: bare, family: 6 };
  }
  return { address: text, family: 4 };
}

/** True when `ip` (already checked by `parseIp`) is a globally routable address worth looking up. */
export function isGlobalIp(ip: ParsedIp): boolean {
  return !NOT_GLOBAL.check(ip.address, ip.family === 4 ? 'ipv4' : 'ipv6');
}
