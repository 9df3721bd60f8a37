import { Duplex } from 'node:stream';
import type net from 'node:net';
import { EndpointConnectError } from '../errors.js';
import { assertCancelOptions, throwIfAborted } from '../util/abort.js';
import { parseEndpoint } from '../util/endpoint-grammar.js';
import type { EndpointCallOptions } from './endpoint-options.js';
import { buildContext } from './endpoint-context.js';
import { pluginFailure, validateEndpoint } from './plugin-failure.js';

/**
 * Opens a client connection described by an endpoint string.
 *
 * The string is parsed, its plugin found and its arguments validated before any I/O.
 *
 * @param description - e.g. `tor:example.com:443:tls=true`, `tcp:127.0.0.1:8080`, `unix:/run/app.sock`.
 * @param opts - the Tor handle to use, a `getTor` resolver, the registry, an AbortSignal.
 * @returns the connected socket (a `tls.TLSSocket` for `tls:` and `tor:...:tls=true`).
 * @throws EndpointSyntaxError (`TOR_ENDPOINT_SYNTAX`), UnknownEndpointError (`TOR_ENDPOINT_UNKNOWN`),
 *   EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`), TorNotAvailableError (`TOR_NOT_AVAILABLE`),
 *   EndpointConnectError (`TOR_ENDPOINT_CONNECT`), TorSocksError, TorAbortError (`TOR_ABORTED`),
 *   TorTimeoutError (`TOR_TIMEOUT`). A plugin's error that is not a torcon error is wrapped (it is the
 *   `cause`): EndpointArgumentError from its `validate`, EndpointConnectError from its `connect`
 *   (TorAbortError once `signal` aborted).
 * @example
 * const socket = await connect('tor:example.com:80', { tor });
 */
export async function connect(description: string, opts: EndpointCallOptions): Promise<net.Socket> {
  const endpoint = parseEndpoint(description);
  const ctx = buildContext(opts);
  const plugin = ctx.registry.get(endpoint.prefix, 'client');
  await validateEndpoint(plugin, endpoint, 'client', ctx.registry);
  assertCancelOptions({ signal: opts.signal });
  throwIfAborted(opts.signal, `connecting to the ${endpoint.prefix}: endpoint`);
  let socket: unknown;
  try {
    socket = await plugin.connect!(endpoint, ctx);
  } catch (err) {
    throw pluginFailure(err, endpoint.prefix, 'connect', opts.signal);
  }
  // A third-party plugin may resolve with anything; catch that here, with its name, rather than
  // leaving the caller to meet "socket.write is not a function" later.
  if (!(socket instanceof Duplex)) {
    throw new EndpointConnectError(
      `the ${endpoint.prefix}: plugin's connect`,
      new TypeError(`it resolved with ${socket === null ? 'null' : typeof socket}, which is not a socket`),
    );
  }
  return socket as net.Socket;
}
