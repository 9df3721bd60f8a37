import net from 'node:net';
import { domainToASCII } from 'node:url';
import { findUnknownOption } from '../util/known-options.js';
import { TorInvalidValueError } from '../errors.js';

/**
 * Validation of what goes into a SOCKS request, before any I/O: the target and the credentials.
 * Hostnames stay names (tor resolves them at the exit); nothing here looks anything up.
 */

/** A SOCKS5 target after validation. */
export interface SocksTarget {
  /** An IPv4/IPv6 literal (without brackets) or an ASCII hostname of 1-255 bytes. */
  host: string;
  /** 1-65535. */
  port: number;
  /** SOCKS5 address type: 1 IPv4, 3 domain name, 4 IPv6. */
  addressType: 1 | 3 | 4;
}

/** SOCKS5 username/password (RFC 1929). tor uses them only to isolate streams. */
export interface SocksCredentials {
  username: string;
  password: string;
}

/** The SOCKS username torcon sends for `isolate=TOKEN`; the token is the password. */
export const ISOLATE_USERNAME = 'torcon-isolate';

/** RFC 1929 length fields are one byte. */
const MAX_AUTH_BYTES = 255;

/**
 * Validates a host for SOCKS5: IP literals (brackets removed) are sent as addresses, everything else
 * as a domain name (type 3). Internationalized names are converted to their ASCII (punycode) form,
 * which is a pure computation.
 * @param field what the value is, for the error message
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an empty host, whitespace or control
 *   characters, a URL's or host:port's delimiters (`: / @ [ ] ? # \`) in a name that is no IP
 *   literal, or a name longer than 255 bytes
 */
export function parseSocksHost(host: unknown, field = 'host'): { host: string; addressType: 1 | 3 | 4 } {
  if (typeof host !== 'string' || host.length === 0) throw new TorInvalidValueError(field, 'must be a non-empty string');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.includes('%')) throw new TorInvalidValueError(field, 'has an IPv6 zone id, which means nothing to tor');
  const family = net.isIP(bare);
  if (family === 4) return { host: bare, addressType: 1 };
  if (family === 6) return { host: bare, addressType: 4 };
  let name = host;
  if (/[^\x00-\x7f]/.test(name)) {
    name = domainToASCII(name);
    if (name === '') throw new TorInvalidValueError(field, 'is not a valid internationalized domain name');
  }
  if (/[^\x21-\x7e]/.test(name)) {
    throw new TorInvalidValueError(field, 'contains whitespace or control characters');
  }
  // The delimiters of a URL and of host:port are never part of a hostname: such a "host" is a
  // caller's mistake (a URL, host:port, user:password@host), which tor refuses as a malformed
  // hostname with a general-failure reply that reads as a broken circuit. Only the character is
  // named: the value may hold credentials.
  const delimiter = /[:/@[\]?#\\]/.exec(name);
  if (delimiter) {
    throw new TorInvalidValueError(field, `is not a hostname: it contains "${delimiter[0]}" (give the bare host name; the port goes in its own field)`);
  }
  // A fully qualified name's final dot (`example.com.`) names the same host; tor does not take
  // `<id>.onion.` for an onion address and fails the stream with a general failure.
  if (name.length > 1 && name.endsWith('.') && !name.endsWith('..')) name = name.slice(0, -1);
  if (name.length > 255) throw new TorInvalidValueError(field, `is ${name.length} bytes long; SOCKS5 allows 255`);
  return { host: name, addressType: 3 };
}

/**
 * Validates a connect target.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad host or a port outside 1-65535
 * @example parseSocksTarget({ host: '[::1]', port: 80 }) // { host: '::1', port: 80, addressType: 4 }
 */
export function parseSocksTarget(target: { host: unknown; port: unknown }): SocksTarget {
  if (target === null || typeof target !== 'object') throw new TorInvalidValueError('target', 'must be { host, port }');
  // `{ host, port, tls: true }` would otherwise connect without TLS, and say nothing.
  const extra = findUnknownOption(target, ['host', 'port']);
  if (extra) throw new TorInvalidValueError('target', `is { host, port }; ${JSON.stringify(extra.key)} is no part of it (options such as tls or isolate go in the options)`);
  const { host, addressType } = parseSocksHost(target.host);
  const port = typeof target.port === 'string' && /^\d+$/.test(target.port) ? Number(target.port) : target.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TorInvalidValueError('port', 'must be an integer 1-65535');
  }
  return { host, port, addressType };
}

function checkAuthField(value: unknown, field: string, min: number): string {
  if (typeof value !== 'string') throw new TorInvalidValueError(field, 'must be a string');
  const bytes = Buffer.byteLength(value);
  // Never the value itself in the message: it may be a secret.
  if (bytes < min || bytes > MAX_AUTH_BYTES) {
    throw new TorInvalidValueError(field, `must be ${min} to ${MAX_AUTH_BYTES} bytes long (got ${bytes})`);
  }
  // SOCKS itself carries any bytes, but tor shows credentials in its CIRC and STREAM events, where
  // a NUL cuts them short (two tokens would read the same there); and an endpoint string refuses
  // all three, so the same token works the same way written either way.
  if (/[\r\n\0]/.test(value)) throw new TorInvalidValueError(field, 'contains CR, LF or NUL');
  return value;
}

/**
 * The SOCKS credentials for a request. `isolate` becomes username {@link ISOLATE_USERNAME} with the
 * token as password, so that with tor's `IsolateSOCKSAuth` (on by default) different tokens never
 * share a circuit, and torcon's isolated streams never share one with another program's that happen
 * to pick the same word as a username. `username`/`password` are passed through unchanged.
 * @returns undefined when no credentials are asked for (the greeting then offers "no auth" only)
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `isolate` is combined with
 *   `username`/`password`, or a value is not a string of the allowed length or holds CR, LF or NUL. Messages never
 *   contain the values.
 * @example socksCredentials({ isolate: 'alice' }) // { username: 'torcon-isolate', password: 'alice' }
 */
export function socksCredentials(opts: { isolate?: unknown; username?: unknown; password?: unknown }): SocksCredentials | undefined {
  const { isolate, username, password } = opts;
  if (isolate !== undefined) {
    if (username !== undefined || password !== undefined) {
      throw new TorInvalidValueError('isolate', 'cannot be combined with username/password: both choose the credentials tor isolates by');
    }
    return { username: ISOLATE_USERNAME, password: checkAuthField(isolate, 'isolate', 1) };
  }
  if (username === undefined && password === undefined) return undefined;
  return {
    username: username === undefined ? '' : checkAuthField(username, 'username', 0),
    password: password === undefined ? '' : checkAuthField(password, 'password', 0),
  };
}
