import type net from 'node:net';
import { EndpointConnectError } from '../errors.js';
import { raceCancel, throwIfAborted } from '../util/abort.js';
import type { DisposableEndpoint } from '../util/listening-endpoint.js';

/**
 * The I/O edge shared by the plain plugins: wait for a socket to connect, make a server listen,
 * close it. Node errors become `EndpointConnectError`/`EndpointListenError` (keeping Node's code in
 * `systemCode` and the original in `cause`); abort and timeout become `TorAbortError`/`TorTimeoutError`.
 */

/** Cancellation for one socket operation. */
export interface SocketWaitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Creates a socket with `create` and resolves once `readyEvent` fires. On error, abort or timeout
 * the socket is destroyed, so nothing is left open.
 *
 * @param what - description for messages, e.g. `tcp connection to example.com:80` (no secrets).
 * @throws EndpointConnectError (code `TOR_ENDPOINT_CONNECT`), TorAbortError (`TOR_ABORTED`),
 *   TorTimeoutError (`TOR_TIMEOUT`)
 */
export async function openSocket<S extends net.Socket>(
  create: () => S,
  readyEvent: 'connect' | 'secureConnect',
  what: string,
  opts: SocketWaitOptions = {},
): Promise<S> {
  throwIfAborted(opts.signal, what);
  const socket = create();
  return waitSocket(socket, readyEvent, what, opts);
}

/**
 * Resolves once `socket` emits `readyEvent`; see {@link openSocket}.
 * @throws EndpointConnectError (code `TOR_ENDPOINT_CONNECT`), TorAbortError, TorTimeoutError
 */
export async function waitSocket<S extends net.Socket>(
  socket: S,
  readyEvent: 'connect' | 'secureConnect',
  what: string,
  opts: SocketWaitOptions = {},
): Promise<S> {
  let cleanup = (): void => undefined;
  const ready = new Promise<S>((resolve, reject) => {
    const onReady = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(new EndpointConnectError(what, err));
    };
    const onClose = (): void => {
      cleanup();
      reject(new EndpointConnectError(what, new Error('the connection closed before it was established')));
    };
    cleanup = () => {
      socket.off(readyEvent, onReady);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.once(readyEvent, onReady);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
  try {
    return await raceCancel(ready, what, opts);
  } catch (err) {
    // Whatever failed, nothing may stay open, and a late 'error' from the dying socket must not
    // become an uncaught exception.
    socket.on('error', () => undefined);
    socket.destroy();
    throw err;
  } finally {
    cleanup();
  }
}

export { assertNotListening, listenServer } from '../util/listen-server.js';

/** Closes `server`; resolves (does not reject) when it was not running. */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((err) => {
      if (err && (err as { code?: string }).code !== 'ERR_SERVER_NOT_RUNNING') reject(err);
      else resolve();
    });
  });
}

/** Formats a server's bound address as `host:port` (`[v6]:port`) or the unix path. */
export function formatServerAddress(server: net.Server): string {
  const addr = server.address();
  if (addr === null) return '';
  if (typeof addr === 'string') return addr;
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

/** A `ListeningEndpoint` whose `close` runs `stop` once; later calls share the first result (so does `await using`). */
export function listeningEndpoint(address: string, stop: () => Promise<void>): DisposableEndpoint {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= stop());
  return { address, close, [Symbol.asyncDispose]: close };
}
