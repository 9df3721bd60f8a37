import net from 'node:net';
import { describeSocksAddress, type SocksAddress } from './socks-address.js';
import { socksFailure } from './socks-errors.js';

/**
 * Opens the TCP or unix-socket connection to tor's SOCKS port. The host is always an IP literal
 * (see `parseSocksHostname`), so Node never performs a DNS lookup here.
 * @param signal destroys the socket and rejects with `signal.reason` when aborted
 * @throws TorSocksError (`TOR_SOCKS_UNREACHABLE`) when nothing accepts the connection, naming the
 *   address and the system error (e.g. `ECONNREFUSED`, `ENOENT`)
 */
export function openSocksSocket(address: SocksAddress, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = 'path' in address
      ? net.connect({ path: address.path })
      : net.connect({ host: address.host, port: address.port });
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      socket.destroy();
      const code = err.code ? ` (${err.code})` : '';
      reject(
        socksFailure(
          'unreachable',
          `cannot reach tor's SOCKS port at ${describeSocksAddress(address)}${code}: is tor running with this SocksPort?`,
          err,
        ),
      );
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(signal!.reason);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
