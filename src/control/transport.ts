import net from 'node:net';
import { EndpointArgumentError, TorAbortError, TorControlClosedError } from '../errors.js';
import { invalidCancelOptions, raceCancel, type CancelOptions } from '../util/abort.js';
import { parseEndpoint, redactEndpoint } from '../util/endpoint-grammar.js';
import { authenticate, type AuthOptions } from './authenticate.js';
import { checkKeepAlive, TorControl, type TorControlOptions } from './tor-control.js';

/** Where a control port is: `tcp:HOST:PORT` or `unix:PATH` (a bare port number means 127.0.0.1). */
export type ControlAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * Reads a control endpoint string.
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for anything but tcp: and unix: endpoints
 * @example parseControlEndpoint('tcp:127.0.0.1:9051') // { kind: 'tcp', host: '127.0.0.1', port: 9051 }
 */
export function parseControlEndpoint(endpoint: string): ControlAddress {
  if (/^\d+$/.test(endpoint)) return { kind: 'tcp', host: '127.0.0.1', port: toPort(endpoint, endpoint) };
  // An absolute path is a unix socket, as in the endpoints' control= option.
  if (endpoint.startsWith('/') && !/[\r\n\0]/.test(endpoint)) return { kind: 'unix', path: endpoint };
  const parsed = parseEndpoint(endpoint);
  const { prefix, options } = parsed;
  const known = prefix === 'unix' ? ['path'] : ['host', 'port'];
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw badControl(endpoint, `unknown keyword ${JSON.stringify(unknown[0])} (known: ${known.join(', ')})`);
  // `tcp:[::1]:9051`: the grammar splits at the colons inside the brackets; put them back.
  const args = prefix === 'tcp' ? joinBrackets(parsed.args) : parsed.args;
  if (prefix === 'unix') {
    const path = args[0] ?? options['path'];
    if (!path || args.length > 1) throw badControl(endpoint, 'unix: needs exactly one path');
    return { kind: 'unix', path };
  }
  if (prefix === 'tcp') {
    const host = args.length === 2 ? args[0]! : options['host'];
    const port = args.length === 2 ? args[1]! : args.length === 1 ? args[0]! : options['port'];
    if (!host || host.length === 0) throw badControl(endpoint, 'tcp: needs HOST:PORT');
    return { kind: 'tcp', host: host.replace(/^\[(.*)\]$/, '$1'), port: toPort(port, endpoint) };
  }
  // `tcp\:127.0.0.1\:9051` copied from inside an endpoint string's control= option: the escaped
  // colons made all of it the prefix.
  if (prefix.includes(':')) {
    throw badControl(endpoint, 'its colons are escaped (\\:): write tcp:HOST:PORT as it is; escape them only inside another endpoint string (control=tcp\\:HOST\\:PORT)');
  }
  // `127.0.0.1:9051` is how tor itself writes a ControlPort address (torrc, net/listeners/control),
  // so it is a likely $TOR_CONTROL; "not 127.0.0.1:" (or "not [:" for [::1]:9051) would not say
  // what to write instead.
  if (HOST_PORT.test(endpoint)) throw badControl(endpoint, `a control endpoint starts with its kind: write tcp:${endpoint}`);
  // No colon at all: a relative path, or a typo; the grammar took all of it for a prefix.
  if (!endpoint.includes(':')) {
    throw badControl(endpoint, 'it is neither a port, nor an absolute socket path (/run/tor/control), nor tcp:HOST:PORT or unix:PATH');
  }
  throw badControl(endpoint, `control endpoints are tcp: or unix:, not ${prefix}:`);
}

/**
 * `HOST:PORT` without a prefix: `localhost`, a name or IPv4 address with a dot, or a bracketed IPv6
 * address (a bare word such as `onion:80` is a prefix of the wrong kind instead).
 */
const HOST_PORT = /^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:.]+\]):\d+$/i;

/** `['[', '', '1]', '9051']` → `['[::1]', '9051']`; anything else unchanged. */
function joinBrackets(args: readonly string[]): string[] {
  if (!args[0]?.startsWith('[')) return [...args];
  const close = args.findIndex((a) => a.endsWith(']'));
  if (close === -1) return [...args];
  return [args.slice(0, close + 1).join(':'), ...args.slice(close + 1)];
}

function toPort(value: string | undefined, endpoint: string): number {
  const n = Number(value);
  if (!value || !/^\d+$/.test(value) || n < 1 || n > 65535) throw badControl(endpoint, 'port must be 1-65535');
  return n;
}

function badControl(endpoint: string, why: string): EndpointArgumentError {
  // Redacted: a user may well write password= into it, as other endpoints take one.
  return new EndpointArgumentError(`bad control endpoint ${JSON.stringify(redactEndpoint(endpoint))}: ${why}`);
}

/** Size of the one buffer a control socket reads into. */
const READ_BUFFER_SIZE = 64 * 1024;

/**
 * Opens a socket to a control port; rejects with the socket error (ECONNREFUSED, ENOENT...).
 *
 * The socket reads into one buffer of its own (`onread`) instead of a fresh 64 KiB buffer per read,
 * which a busy event stream or a 2 MB consensus would otherwise allocate by the dozen. Each read is
 * handed to 'data' listeners as a view of that buffer, valid only during the call: TorControl's
 * parser copies whatever it keeps.
 */
export function openControlSocket(address: ControlAddress, opts: CancelOptions = {}): Promise<net.Socket> {
  // Before connecting: a bad timeout or an already aborted signal must not leave a socket behind.
  const invalid = invalidCancelOptions(opts);
  if (invalid) return Promise.reject(invalid);
  if (opts.signal?.aborted) return Promise.reject(new TorAbortError('connecting to the Tor control port', { cause: opts.signal.reason }));
  const onread = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_SIZE),
    callback: (bytes: number, buffer: Buffer): boolean => {
      socket.emit('data', buffer.subarray(0, bytes));
      return true;
    },
  };
  const socket =
    address.kind === 'tcp'
      ? net.connect({ host: address.host, port: address.port, onread })
      : net.connect({ path: address.path, onread });
  const connected = new Promise<net.Socket>((resolve, reject) => {
    socket.once('connect', () => {
      // Commands are small and pipelined: send each at once rather than waiting on Nagle.
      if (address.kind === 'tcp') socket.setNoDelay(true);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
  return raceCancel(connected, 'connecting to the Tor control port', {
    ...opts,
    onCancel: () => socket.destroy(),
  });
}

/** Options of {@link openTorControl}. */
export interface OpenControlOptions extends AuthOptions, TorControlOptions {}

/**
 * Connects to a control port and authenticates: the one way to get a ready `TorControl`.
 * @throws TorAuthError, TorControlClosedError, TorTimeoutError, TorAbortError, or the socket error
 */
export async function openTorControl(
  endpoint: string | ControlAddress,
  opts: OpenControlOptions = {},
): Promise<{ control: TorControl; method: string; torVersion: string }> {
  const address = typeof endpoint === 'string' ? parseControlEndpoint(endpoint) : endpoint;
  // Before connecting: TorControl would refuse them only once a socket is open.
  checkKeepAlive(opts);
  const socket = await openControlSocket(address, opts);
  const control = new TorControl(socket, opts);
  try {
    const { method, protocolInfo } = await raceCancel(
      authenticate(control, { ...opts, signal: undefined, timeoutMs: undefined }),
      'authenticating to tor',
      { signal: opts.signal, timeoutMs: opts.timeoutMs },
    );
    return { control, method, torVersion: protocolInfo.torVersion };
  } catch (err) {
    control.destroy(err instanceof Error ? err : new TorControlClosedError(String(err)));
    throw err;
  }
}

/** Human-readable form of a control address, for messages. */
export function describeControlAddress(address: ControlAddress): string {
  return address.kind === 'tcp' ? `tcp:${address.host}:${address.port}` : `unix:${address.path}`;
}
