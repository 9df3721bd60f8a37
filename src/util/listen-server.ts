import type net from 'node:net';
import { EndpointListenError } from '../errors.js';
import { raceCancel, throwIfAborted } from './abort.js';

/**
 * Makes `server` listen with Node's `options` and resolves once it does.
 * @param what - description for messages, e.g. `listening on tcp 127.0.0.1:8080`.
 * @throws EndpointListenError (code `TOR_ENDPOINT_LISTEN`) when the server already listens or Node
 *   fails (EADDRINUSE, EACCES...); TorAbortError (`TOR_ABORTED`) when aborted (the server is closed).
 */
export async function listenServer(
  server: net.Server,
  options: net.ListenOptions,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  throwIfAborted(signal, what);
  if (server.listening) throw new EndpointListenError(what, new Error('the server is already listening'));
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
  try {
    await raceCancel(done, what, { signal, onCancel: () => server.close() });
  } finally {
    cleanup();
  }
}

