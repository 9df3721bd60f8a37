import net from 'node:net';
import type tls from 'node:tls';
import { nodeTls } from '../util/node-builtins.js';
import { socksFailure } from './socks-errors.js';
import { describeTarget } from '../util/ip-address.js';
import { describeThrown } from '../util/describe-thrown.js';

/**
 * Starts TLS on a stream that tor has connected. SNI is the target host unless it is an IP (TLS
 * forbids IP literals in SNI); the certificate is checked against the target host, never against
 * the SOCKS port the socket is physically connected to.
 * @param options extra TLS options (`ca`, `rejectUnauthorized`, `ALPNProtocols`, `servername`...)
 * @param signal destroys the socket and rejects with `signal.reason` when aborted
 * @throws TorSocksError (`TOR_SOCKS_TLS_FAILED`) with tls's error as `cause` (e.g. a certificate
 *   error); the socket is destroyed
 */
export function startTls(
  socket: net.Socket,
  target: { host: string; port: number },
  options: tls.ConnectionOptions,
  signal: AbortSignal | undefined,
  what: string,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      socket.destroy();
      reject(signal.reason);
      return;
    }
    const servername = options.servername ?? (net.isIP(target.host) ? undefined : target.host);
    const secure = nodeTls().connect({
      ...options,
      socket,
      // `host` only names the peer for the certificate check: with `socket` nothing is dialled.
      host: target.host,
      port: target.port,
      ...(servername ? { servername } : {}),
    });
    const cleanup = () => {
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onSecure = () => {
      cleanup();
      resolve(secure);
    };
    const onError = (err: Error) => {
      cleanup();
      secure.destroy();
      socket.destroy();
      reject(socksFailure('tls', `${what} failed during TLS with ${describeTarget(target)}: ${describeThrown(err)}`, err));
    };
    const onAbort = () => {
      cleanup();
      secure.destroy();
      socket.destroy();
      reject(signal!.reason);
    };
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

