import type net from 'node:net';
import path from 'node:path';
import { EndpointListenError, TorInvalidValueError } from '../errors.js';
import { listenInProgress, listenServer } from '../util/listen-server.js';
import type { OnionPortMapping, OnionProgress } from './onion-types.js';
import type { LocalOption } from './onion-options.js';

/**
 * The local side of an onion service: the `net.Server` tor forwards connections to. Tor needs a
 * target it can reach on this machine, so a wildcard bind becomes the loopback address.
 */

/** Where to listen when the server is not listening yet. */
export interface LocalListenOptions {
  localAddress: string;
  localPort: number;
  localSocket?: string | undefined;
  /** Which of these the caller named: a server already listening elsewhere is then refused. */
  localGiven?: readonly LocalOption[];
  signal?: AbortSignal | undefined;
}

/**
 * The HiddenServicePort/ADD_ONION target of a listening server: `127.0.0.1:port`, `[::1]:port`
 * or `unix:/path`.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when the server is not listening, or listens on
 *   a unix path tor could not take (whitespace, quotes, commas)
 */
export function serverTarget(server: net.Server): string {
  const addr = server.address();
  if (addr === null) throw new TorInvalidValueError('onion server', 'is not listening');
  if (typeof addr === 'string') {
    // tor would resolve a relative path against its own working directory: the socket is in ours.
    const socketPath = path.isAbsolute(addr) || addr.startsWith('\0') ? addr : path.resolve(addr);
    if (!/^[^\s",\\]+$/.test(socketPath)) {
      throw new TorInvalidValueError('onion server socket path', 'contains whitespace, a quote, a backslash or a comma');
    }
    return `unix:${socketPath}`;
  }
  if (addr.family === 'IPv6' || addr.address.includes(':')) {
    const host = addr.address === '::' ? '::1' : addr.address;
    return `[${host}]:${addr.port}`;
  }
  return `${addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address}:${addr.port}`;
}

/**
 * Makes `server` listen (unless it already does) and returns its target.
 * @returns `opened`: whether we made it listen (then we also close it)
 * @throws EndpointListenError (`TOR_ENDPOINT_LISTEN`) for Node's errors (EADDRINUSE...);
 *   TorAbortError (`TOR_ABORTED`) when aborted (the server is closed again)
 */
export async function ensureListening(
  server: net.Server,
  opts: LocalListenOptions,
): Promise<{ target: string; opened: boolean }> {
  // Two services created at once for one server (or a tcp: endpoint making it listen meanwhile):
  // the second waits for the first one's listen and then finds the server listening, so that only
  // the first owns (and later closes) it.
  for (let pending = listenInProgress(server); pending !== undefined; pending = listenInProgress(server)) {
    await pending.catch(() => undefined);
  }
  if (server.listening) {
    const target = serverTarget(server);
    // The caller asked for a place to listen and the server is elsewhere: publishing what it listens
    // on would answer another question than the one asked.
    if (opts.localGiven !== undefined && opts.localGiven.length > 0 && !listensWhereAsked(server, opts, opts.localGiven)) {
      throw new EndpointListenError(`the onion service's local listener`, new Error(`the server already listens on ${target}, not where localPort, localAddress or localSocket say`));
    }
    return { target, opened: false };
  }
  const what = opts.localSocket
    ? `listening on unix socket ${opts.localSocket}`
    : `listening on ${opts.localAddress.includes(':') ? `[${opts.localAddress}]` : opts.localAddress}:${opts.localPort}`;
  await listenServer(
    server,
    opts.localSocket ? { path: opts.localSocket } : { host: opts.localAddress, port: opts.localPort },
    what,
    opts.signal,
  );
  return { target: serverTarget(server), opened: true };
}

/**
 * Whether a listening server is where `opts` asked for: the same socket path, or the same port
 * (unless 0, any) on the same address (unless the server listens on every address).
 */
function listensWhereAsked(server: net.Server, opts: LocalListenOptions, given: readonly LocalOption[]): boolean {
  const addr = server.address();
  if (given.includes('localSocket')) return typeof addr === 'string' && path.resolve(addr) === opts.localSocket;
  if (addr === null || typeof addr === 'string') return false;
  if (given.includes('localPort') && opts.localPort !== 0 && addr.port !== opts.localPort) return false;
  if (!given.includes('localAddress')) return true;
  const wildcard = addr.address === '0.0.0.0' || addr.address === '::';
  return wildcard || addr.address === opts.localAddress || addr.address === `::ffff:${opts.localAddress}`;
}

/** What {@link listenForService} needs of an onion service's options. */
export interface ServiceListenOptions extends LocalListenOptions {
  server?: net.Server | undefined;
  ports: readonly OnionPortMapping[];
  onProgress: (p: OnionProgress) => void;
}

/**
 * Servers torcon made listen, with how many services use each: several services of one server
 * (`onion:80` and `onion:81`) share its listener, which closes with the last of them, so that
 * closing one service does not take the others' server away. A server the caller made listen is
 * not here: it is the caller's to close.
 */
const sharedListeners = new WeakMap<net.Server, { users: number }>();

/**
 * The first step of every onion service: makes its local server listen (when one is given and
 * does not yet) and gives each port that names no target the server's.
 * @returns the ports with their targets, and `opened`: whether the service holds a share of a
 *   listener torcon opened (then it calls {@link closeListener} once when it ends)
 * @throws as {@link ensureListening}
 */
export async function listenForService(
  o: ServiceListenOptions,
): Promise<{ ports: Array<{ virtualPort: number; target: string }>; opened: boolean }> {
  let localTarget: string | undefined;
  let opened = false;
  if (o.server) {
    const server = o.server;
    o.onProgress({ phase: 'listening', message: 'starting the local listener', percent: 5 });
    ({ target: localTarget, opened } = await ensureListening(server, o));
    const shared = sharedListeners.get(server);
    if (opened) {
      sharedListeners.set(server, { users: 1 });
      // Closed by anyone (the app too): whoever makes it listen again starts afresh.
      server.once('close', () => sharedListeners.delete(server));
    } else if (shared !== undefined) {
      shared.users++;
      opened = true;
    }
  }
  // Option validation guarantees a target for every port when there is no server.
  return { ports: o.ports.map((p) => ({ virtualPort: p.virtualPort, target: p.target ?? localTarget! })), opened };
}

/**
 * Stops `server` accepting connections, unless other services still use the listener torcon
 * opened for them (see `sharedListeners`). Open connections are left to finish (an http.Server also
 * drops its idle keep-alive sockets); we do not wait for them, so close() cannot hang on a client.
 */
export function closeListener(server: net.Server): void {
  const shared = sharedListeners.get(server);
  if (shared !== undefined && --shared.users > 0) return;
  sharedListeners.delete(server);
  if (!server.listening) return;
  server.close(() => undefined);
  (server as net.Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
}
