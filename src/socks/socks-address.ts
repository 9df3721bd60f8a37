import net from 'node:net';
import { TorInvalidValueError } from '../errors.js';
import { describeTarget } from '../util/ip-address.js';
import { isWildcardAddress, parseListenerAddresses } from '../control/listener-addresses.js';

/** Where tor's SOCKS port is: a TCP address (always an IP: never resolved) or a unix socket. */
export type SocksAddress = { host: string; port: number } | { path: string };

/** The default TCP host of a SOCKS port given by number. */
export const DEFAULT_SOCKS_HOST = '127.0.0.1';

/**
 * The usual SOCKS ports tried when tor cannot be asked: the system tor, then Tor Browser.
 */
export const FALLBACK_SOCKS_ADDRESSES: readonly SocksAddress[] = Object.freeze([
  { host: DEFAULT_SOCKS_HOST, port: 9050 },
  { host: DEFAULT_SOCKS_HOST, port: 9150 },
]);

/** `address` on `host` when both are given and it is a TCP address; a unix socket has no host. */
export function atHost(address: SocksAddress, host: string | undefined): SocksAddress {
  return host !== undefined && 'host' in address ? { host, port: address.port } : address;
}

/** Describes an address for messages: `127.0.0.1:9050`, `[::1]:9050`, `unix:/run/tor/socks`. */
export function describeSocksAddress(address: SocksAddress): string {
  return 'path' in address ? `unix:${address.path}` : describeTarget(address);
}

/**
 * Checks the host of a TCP SOCKS port. It must be an IP literal so that reaching tor never needs a
 * DNS lookup; `localhost` is accepted and means 127.0.0.1.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything else
 */
export function parseSocksHostname(hostname: string): string {
  // A JavaScript caller's number or object would otherwise fail as a bare TypeError.
  if (typeof hostname !== 'string') throw new TorInvalidValueError('socksHostname', 'must be an IP address (a string)');
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (bare.toLowerCase() === 'localhost') return DEFAULT_SOCKS_HOST;
  if (net.isIP(bare) === 0) {
    throw new TorInvalidValueError('socksHostname', 'must be an IP address (tor is never looked up in DNS)');
  }
  return bare;
}

/**
 * Reads a `socksPort` option: a TCP port number (or a string of digits), a unix socket path
 * (`/path`), or `unix:/path`.
 * @param hostname host of a TCP port @default 127.0.0.1
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a port outside 1-65535, a relative path,
 *   a NUL byte, a value that is no number or string, or a hostname that is not an IP
 * @example parseSocksPortOption('unix:/run/tor/socks') // { path: '/run/tor/socks' }
 */
export function parseSocksPortOption(socksPort: number | string, hostname?: string): SocksAddress {
  // Number() would read `true` as port 1 and `[9050]` as 9050: only numbers and strings are ports.
  if (typeof socksPort !== 'number' && typeof socksPort !== 'string') {
    throw new TorInvalidValueError('socksPort', 'must be a port number, an absolute unix socket path or unix:/path');
  }
  if (typeof socksPort === 'string' && !/^\d+$/.test(socksPort)) {
    const path = socksPort.toLowerCase().startsWith('unix:') ? socksPort.slice(5) : socksPort;
    if (!path.startsWith('/')) {
      throw new TorInvalidValueError('socksPort', 'must be a port number, an absolute unix socket path or unix:/path');
    }
    if (path.includes('\0')) throw new TorInvalidValueError('socksPort', 'unix socket path contains NUL');
    if (hostname !== undefined) {
      throw new TorInvalidValueError('socksHostname', 'cannot be combined with a unix socket socksPort');
    }
    return { path };
  }
  const port = Number(socksPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TorInvalidValueError('socksPort', 'must be an integer 1-65535');
  }
  return { host: hostname === undefined ? DEFAULT_SOCKS_HOST : parseSocksHostname(hostname), port };
}

/**
 * Parses the value of `GETINFO net/listeners/socks` into addresses we can connect to. A wildcard
 * listener (`0.0.0.0`, `[::]`) is reached on loopback. Entries that are not addresses are skipped.
 * @example parseSocksListeners('"127.0.0.1:9050" "unix:/run/tor/socks"')
 * // [{ host: '127.0.0.1', port: 9050 }, { path: '/run/tor/socks' }]
 * @throws TorProtocolError for an unterminated quote
 */
export function parseSocksListeners(value: string): SocksAddress[] {
  return parseListenerAddresses(value).map((a) => {
    if ('path' in a || !isWildcardAddress(a.host)) return a;
    return { host: net.isIPv6(a.host) ? '::1' : DEFAULT_SOCKS_HOST, port: a.port };
  });
}
