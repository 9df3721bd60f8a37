import type net from 'node:net';
import { EndpointArgumentError, TorInvalidValueError } from '../errors.js';
import { parseSocksHostname, parseSocksPortOption } from '../socks/socks-address.js';
import { cancelBudget, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { TorConnectOptions } from '../socks/socks-types.js';
import type { EndpointContext, EndpointPlugin, TorLike } from './plugin-types.js';
import {
  collectArgs,
  parseBoolean,
  parseHost,
  parsePort,
  parseSeconds,
  parseUnixPath,
  required,
  showValue,
  type ArgSpec,
} from './arg-validation.js';
import { parseControlOption } from './control-option.js';

/**
 * `tor:` client endpoints: a stream through tor's SOCKS port to any host, `.onion` included.
 *
 *   tor:HOST:PORT[:socksPort=N|unix\:/path][:socksHostname=H][:tls=true][:isolate=TOKEN]
 *       [:username=U:password=P][:control=ENDPOINT][:timeout=SECONDS]
 *
 * There is no fallback: if tor cannot be reached, the connection fails.
 */

/** The parsed form of a `tor:` endpoint. */
export interface TorClientOptions {
  host: string;
  port: number;
  /** Everything for `TorLike.connect` except `signal` (which comes from the call). */
  connect: Omit<TorConnectOptions, 'signal'>;
  /** Control endpoint of the tor to use (from `control=`/`controlPort=`). */
  control?: string;
}

const SPEC: ArgSpec = {
  what: 'tor:',
  positional: ['host', 'port'],
  keywords: [
    'socksPort',
    'socksHostname',
    'tls',
    'isolate',
    'username',
    'password',
    'control',
    'controlPort',
    'timeout',
  ],
  usage:
    'tor:HOST:PORT[:socksPort=N|unix\\:/path][:socksHostname=H][:tls=true][:isolate=TOKEN][:username=U:password=P][:control=ENDPOINT][:timeout=SECONDS]',
  bracketedHost: true,
};

/** RFC 1929 caps SOCKS5 usernames and passwords at 255 bytes. */
const MAX_SOCKS_AUTH_BYTES = 255;

function checkAuthLength(value: string, name: string, min: number): void {
  const bytes = Buffer.byteLength(value);
  // The value itself is never shown: it may be a password or an isolation secret.
  if (bytes < min || bytes > MAX_SOCKS_AUTH_BYTES) {
    throw new EndpointArgumentError(`tor: ${name} must be ${min} to ${MAX_SOCKS_AUTH_BYTES} bytes long, got ${bytes}`);
  }
}

function parseSocksPort(value: string): number | string {
  if (/^[0-9]+$/.test(value)) return parsePort(value, 'tor: socksPort');
  if (value.toLowerCase().startsWith('unix:')) return parseUnixPath(value.slice(5), 'tor: socksPort');
  throw new EndpointArgumentError(
    `tor: socksPort must be a port number or unix\\:/path (a unix socket), got ${showValue(value)}`,
  );
}

/**
 * Checks the SOCKS address as the SOCKS client will (a relative socket path, a hostname that is no IP
 * address: tor's SOCKS port is never looked up in DNS), but now, before any I/O: the client would
 * only once tor had been found.
 */
function checkSocksAddress(socksPort: number | string | undefined, socksHostname: string | undefined, k: Record<string, string | undefined>): void {
  try {
    if (socksPort !== undefined) parseSocksPortOption(socksPort, socksHostname);
    else if (socksHostname !== undefined) parseSocksHostname(socksHostname);
  } catch (err) {
    if (!(err instanceof TorInvalidValueError)) throw err;
    const given = k[err.field];
    throw new EndpointArgumentError(`tor: ${err.message}${given === undefined ? '' : `, got ${showValue(given)}`}`, { cause: err });
  }
}

/**
 * Parses and validates a `tor:` endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`): unknown keyword, missing or bad
 *   host/port, CR/LF/NUL anywhere, `isolate` together with `username`/`password`, `password`
 *   without `username`. Messages never contain the password or isolation token.
 * @example
 * parseTorClientOptions(parseEndpoint('tor:example.com:443:tls=true:isolate=a'))
 * // { host: 'example.com', port: 443, connect: { tls: true, isolate: 'a' } }
 */
export function parseTorClientOptions(endpoint: ParsedEndpoint): TorClientOptions {
  const { named, keywords: k } = collectArgs(endpoint, SPEC);
  const host = parseHost(required(named.host, 'host', SPEC), 'tor: host', { onion: true });
  const port = parsePort(required(named.port, 'port', SPEC), 'tor: port');
  const connect: Omit<TorConnectOptions, 'signal'> = {};

  if (k.socksPort !== undefined) connect.socksPort = parseSocksPort(k.socksPort);
  if (k.socksHostname !== undefined) {
    if (typeof connect.socksPort === 'string') {
      throw new EndpointArgumentError('tor: socksHostname cannot be used with a unix socksPort');
    }
    connect.socksHostname = parseHost(k.socksHostname, 'tor: socksHostname', { onion: false });
  }
  checkSocksAddress(connect.socksPort, connect.socksHostname, k);
  if (k.tls !== undefined) connect.tls = parseBoolean(k.tls, 'tor: tls');
  if (k.isolate !== undefined && (k.username !== undefined || k.password !== undefined)) {
    throw new EndpointArgumentError(
      'tor: isolate cannot be combined with username/password: both choose the SOCKS credentials tor isolates by',
    );
  }
  if (k.isolate !== undefined) {
    checkAuthLength(k.isolate, 'isolate', 1);
    connect.isolate = k.isolate;
  }
  if (k.password !== undefined && k.username === undefined) {
    throw new EndpointArgumentError('tor: password needs a username');
  }
  if (k.username !== undefined) {
    checkAuthLength(k.username, 'username', 1);
    connect.username = k.username;
  }
  if (k.password !== undefined) {
    checkAuthLength(k.password, 'password', 0);
    connect.password = k.password;
  }
  if (k.timeout !== undefined) connect.timeoutMs = parseSeconds(k.timeout, 'tor: timeout');

  const out: TorClientOptions = { host, port, connect };
  const control = parseControlOption('tor:', k.control, k.controlPort);
  if (control !== undefined) out.control = control;
  return out;
}

/**
 * Picks the tor an endpoint uses: the one its `control=` names, else the caller's, else the default.
 * An explicit `control=` wins over a passed Tor handle, because the string is the more specific
 * request and silently using another tor would surprise.
 * @param cancel - a `timeoutMs` for finding tor (a `getTor` call), besides `ctx.signal`
 */
export async function resolveTor(ctx: EndpointContext, control: string | undefined, cancel: CancelOptions = {}): Promise<TorLike> {
  throwIfAborted(ctx.signal, 'finding tor');
  if (control === undefined && ctx.tor) return ctx.tor;
  return raceCancel(ctx.getTor(control), 'finding tor', { ...cancel, signal: ctx.signal });
}

/** The built-in `tor:` plugin (client only). */
export const torPlugin: EndpointPlugin = {
  prefix: 'tor',
  describe: SPEC.usage,

  validate(endpoint: ParsedEndpoint, role): void {
    if (role === 'client') parseTorClientOptions(endpoint);
  },

  async connect(endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<net.Socket> {
    const o = parseTorClientOptions(endpoint);
    // timeout= is the whole connect: finding tor may take long too (a control port that accepts and
    // then says nothing holds the search for 30 s), and the stream gets what the search left.
    const timeout = o.connect.timeoutMs;
    const remaining = cancelBudget(timeout === undefined ? {} : { timeoutMs: timeout });
    const tor = await resolveTor(ctx, o.control, remaining());
    const left = timeout === undefined || tor === ctx.tor ? {} : remaining();
    return tor.connect({ host: o.host, port: o.port }, { ...o.connect, ...left, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  },
};
