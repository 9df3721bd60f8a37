import type net from 'node:net';
import { EndpointListenError, TorInvalidValueError } from '../errors.js';
import { assertCancelOptions, throwIfAborted } from '../util/abort.js';
import { parseEndpoint } from '../util/endpoint-grammar.js';
import type { DisposableEndpoint, ListeningEndpoint } from '../util/listening-endpoint.js';
import type { EndpointCallOptions } from './endpoint-options.js';
import { buildContext } from './endpoint-context.js';
import { pluginFailure, validateEndpoint } from './plugin-failure.js';

/**
 * Makes `server` reachable at the endpoint an endpoint string describes.
 *
 * The string is parsed, its plugin found and its arguments validated before any I/O.
 *
 * @param server - a `net.Server` (or `http.Server`), not yet listening.
 * @param description - e.g. `onion:80`, `tcp:8080:interface=0.0.0.0`, `unix:/run/app.sock:mode=0660`.
 * @returns where it listens, and `close()`; for `onion:` an `OnionService`.
 * @throws EndpointSyntaxError (`TOR_ENDPOINT_SYNTAX`), UnknownEndpointError (`TOR_ENDPOINT_UNKNOWN`),
 *   EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`), TorNotAvailableError (`TOR_NOT_AVAILABLE`),
 *   EndpointListenError (`TOR_ENDPOINT_LISTEN`), OnionPublishError, TorAbortError (`TOR_ABORTED`). A
 *   plugin's error that is not a torcon error is wrapped (it is the `cause`): EndpointArgumentError
 *   from its `validate`, EndpointListenError from its `listen` (TorAbortError once `signal` aborted).
 * @example
 * const service = await listen(http.createServer(app), 'onion:80', { tor });
 * console.log(service.address); // "<56 chars>.onion:80"
 */
export async function listen(
  server: net.Server,
  description: string,
  opts: EndpointCallOptions,
): Promise<DisposableEndpoint> {
  // Any net.Server will do (http, https, tls, net): what listen() uses of it.
  const s = server as Partial<net.Server> | null | undefined;
  if (typeof s !== 'object' || s === null || typeof s.listen !== 'function' || typeof s.once !== 'function' || typeof s.close !== 'function') {
    throw new TorInvalidValueError('server', 'must be a net.Server (http.createServer(), net.createServer(), ...)');
  }
  const endpoint = parseEndpoint(description);
  const ctx = buildContext(opts);
  const plugin = ctx.registry.get(endpoint.prefix, 'server');
  await validateEndpoint(plugin, endpoint, 'server', ctx.registry);
  assertCancelOptions({ signal: opts.signal });
  throwIfAborted(opts.signal, `listening on the ${endpoint.prefix}: endpoint`);
  let listening: ListeningEndpoint;
  try {
    listening = await plugin.listen!(server, endpoint, ctx);
  } catch (err) {
    throw pluginFailure(err, endpoint.prefix, 'listen', opts.signal);
  }
  // A third-party plugin may resolve with anything; say so here, with its name, rather than leave
  // the caller to meet "close is not a function" when it stops.
  const l = listening as Partial<ListeningEndpoint> | null | undefined;
  if (typeof l !== 'object' || l === null || typeof l.close !== 'function') {
    throw new EndpointListenError(
      `the ${endpoint.prefix}: plugin's listen`,
      new TypeError(`it resolved with ${l === null ? 'null' : typeof l === 'object' ? 'an object without close()' : typeof l}, which is no listening endpoint`),
    );
  }
  return disposable(listening);
}

/**
 * The endpoint a plugin listened on, with `[Symbol.asyncDispose]` (its `close()`) when the plugin
 * left it out. A frozen one is not changed but wrapped: an object of its own with the same address
 * and close.
 */
function disposable(listening: ListeningEndpoint & Partial<AsyncDisposable>): DisposableEndpoint {
  if (typeof listening[Symbol.asyncDispose] === 'function') return listening as DisposableEndpoint;
  const dispose = (): Promise<void> => listening.close();
  if (Object.isExtensible(listening)) {
    // Not enumerable: spreading or logging the endpoint shows what the plugin made.
    Object.defineProperty(listening, Symbol.asyncDispose, { value: dispose, configurable: true, writable: true });
    return listening as DisposableEndpoint;
  }
  return { address: listening.address, close: dispose, [Symbol.asyncDispose]: dispose };
}
