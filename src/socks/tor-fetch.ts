import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { TorError, TorInvalidValueError } from '../errors.js';
import type { TorSocksConnectOptions, TorStreamOpener } from './socks-options.js';

/** The `init` of `TorSocksClient.fetch`: WHATWG `RequestInit` plus an isolation token. */
export type TorFetchInit = RequestInit & {
  /** Isolation token for this request's connection (requests with different tokens never share a circuit). */
  isolate?: string;
};

/**
 * An undici `Agent` whose connections are streams through tor: its `connect` opens the stream with
 * our SOCKS client (hostnames resolved by tor) and starts TLS for `https:` (SNI = the URL's host,
 * ALPN http/1.1). One dispatcher per isolation token, because a pooled connection keeps the
 * circuit it was opened on.
 * @param stream options for every stream (isolate, socksPort...)
 */
export function createTorDispatcher(open: TorStreamOpener, stream: TorSocksConnectOptions = {}): Agent {
  return new Agent({
    connect: (options, callback) => {
      const https = options.protocol === 'https:';
      if (!https && options.protocol !== 'http:') {
        callback(new TorInvalidValueError('URL scheme', `${options.protocol} cannot be fetched through tor (http: and https: can)`), null);
        return;
      }
      const port = options.port ? Number(options.port) : https ? 443 : 80;
      const connectOptions: TorSocksConnectOptions = { ...stream };
      if (https) {
        connectOptions.tls = {
          ALPNProtocols: ['http/1.1'],
          ...(options.servername ? { servername: options.servername } : {}),
        };
      }
      open({ host: options.hostname, port }, connectOptions).then(
        (socket) => callback(null, socket),
        (err: Error) => callback(err, null),
      );
    },
  });
}

/**
 * `fetch` through `dispatcher` (undici 7). When the connection through tor fails, the promise
 * rejects with torcon's error (e.g. `TorSocksError` `TOR_SOCKS_CONNECTION_REFUSED`) rather than
 * fetch's generic `TypeError: fetch failed`; other failures (abort, HTTP protocol errors) are
 * fetch's own.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `init.dispatcher` is set (the dispatcher
 *   is what sends the request through tor, so it cannot be replaced), or for a URL that is not an
 *   absolute http: or https: URL
 */
export async function fetchThrough(dispatcher: Dispatcher, input: string | URL, init: RequestInit = {}): Promise<Response> {
  if ((init as { dispatcher?: unknown }).dispatcher !== undefined) {
    throw new TorInvalidValueError('fetch init.dispatcher', 'cannot be set: tor.fetch sends every request through its own tor dispatcher');
  }
  // Checked here: fetch refuses a bad URL or another scheme itself, with a bare TypeError.
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(String(input));
  } catch {
    throw new TorInvalidValueError('URL', 'is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TorInvalidValueError('URL scheme', `${url.protocol} cannot be fetched through tor (http: and https: can)`);
  }
  try {
    const response = await undiciFetch(input, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1]);
    return response as unknown as Response;
  } catch (err) {
    const cause = (err as { cause?: unknown })?.cause;
    if (err instanceof TypeError && cause instanceof TorError) throw cause;
    throw err;
  }
}
