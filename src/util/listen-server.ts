import type net from 'node:net';
import { EndpointListenError } from '../errors.js';
import { raceCancel, throwIfAborted } from './abort.js';

/**
 * Servers torcon is making listen right now, and the promise of that listen: `server.listening`
 * stays false until the bind is done, so two endpoints listening on one server at once would both
 * pass that check, and the second bind would silently replace the first.
 */
const starting = new WeakMap<net.Server, Promise<void>>();

/** The listen torcon has under way on `server`, if any (it settles when the bind is done or failed). */
export function listenInProgress(server: net.Server): Promise<void> | undefined {
  return starting.get(server);
}

/**
 * Refuses a server that listens already, or that torcon is making listen for another endpoint.
 * @throws EndpointListenError (`TOR_ENDPOINT_LISTEN`)
 */
export function assertNotListening(server: net.Server, what: string): void {
  if (server.listening) throw new EndpointListenError(what, new Error('the server is already listening'));
  if (starting.has(server)) throw new EndpointListenError(what, new Error('the server is already being made to listen by another endpoint'));
}

/**
 * Makes `server` listen with Node's `options` and resolves once it does.
 * @param what - description for messages, e.g. `listening on tcp 127.0.0.1:8080`.
 * @throws EndpointListenError (code `TOR_ENDPOINT_LISTEN`) when the server already listens (or is
 *   being made to listen by another endpoint) or Node
 *   fails (EADDRINUSE, EACCES...); TorAbortError (`TOR_ABORTED`) when aborted (the server is closed).
 */
export async function listenServer(
  server: net.Server,
  options: net.ListenOptions,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  throwIfAborted(signal, what);
  assertNotListening(server, what);
  let cleanup = (): void => undefined;
  const done = new Promise<void>((resolve, reject) => {
    const onListening = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new EndpointListenError(what, err));
    };
    cleanup = () => {
      server.off('listening', onListening);
      server.off('error', onError);
    };
    server.once('listening', onListening);
    server.once('error', onError);
  });
  // Rejected only while we wait on it below; never left unobserved if listen() throws first.
  done.catch(() => undefined);
  try {
    server.listen(options);
  } catch (err) {
    cleanup();
    throw new EndpointListenError(what, err);
  }
  const listening = raceCancel(done, what, { signal, onCancel: () => server.close() });
  starting.set(server, listening);
  try {
    await listening;
  } finally {
    starting.delete(server);
    cleanup();
  }
}

