import type net from 'node:net';
import { connect as connectWith } from '../endpoints/connect.js';
import { listen as listenWith } from '../endpoints/listen.js';
import type { EndpointCallOptions } from '../endpoints/endpoint-options.js';
import type { DisposableEndpoint, EndpointPlugin } from '../plugins/plugin-types.js';
import type { TorOnionService } from '../onion/onion-service.js';
import type { Tor } from '../tor/tor.js';
import { pluginRegistry, torProvider } from './container.js';
import { invalidCallOptions, optionKeys } from '../util/known-options.js';

/** Options of the public {@link connect} and {@link listen}. */
export type EndpointOptions = Partial<EndpointCallOptions>;

/** {@link listen}'s options for an `onion:` string: a Tor handle, if any, is torcon's own. */
export type OnionListenOptions = Omit<EndpointOptions, 'tor'> & { tor?: Tor };

/**
 * The keys {@link connect} and {@link listen} take (see optionKeys): in JavaScript a misspelt one
 * (`Tor`) or one they do not have (`timeoutMs`: bound the call with `signal`) would be ignored.
 */
const ENDPOINT_OPTION_KEYS = optionKeys<EndpointOptions>({ tor: true, getTor: true, registry: true, signal: true });

/**
 * Opens a client connection from an endpoint string, e.g. `tor:example.com:443:tls=true`.
 *
 * Without `opts.tor`, `tor:` endpoints use the tor at their `control=` endpoint, else
 * `$TOR_CONTROL`, else a running local tor found by its control port, else (when neither
 * `control=` nor `$TOR_CONTROL` named one) tor's SOCKS port alone: the endpoint's `socksPort`, else
 * 127.0.0.1:9050, then 9150, as a tor without a control port (the usual system tor) offers. Never
 * a direct connection.
 * @throws EndpointSyntaxError, UnknownEndpointError, EndpointArgumentError (before any I/O),
 *   TorNotAvailableError (no tor found, by control port nor SOCKS port), TorSocksError,
 *   TorAbortError, TorTimeoutError
 * @example const socket = await connect('tor:example.com:80');
 */
export function connect(description: string, opts: EndpointOptions = {}): Promise<net.Socket> {
  const invalid = invalidCallOptions(opts, ENDPOINT_OPTION_KEYS, 'connect');
  if (invalid) return Promise.reject(invalid);
  return connectWith(description, {
    registry: pluginRegistry(),
    getTor: (control) => torProvider().forStreams(control),
    ...opts,
  });
}

/** `onion` in any case: endpoint prefixes are matched without regard to case (`ONION:80` too). */
type OnionPrefix = `${'o' | 'O'}${'n' | 'N'}${'i' | 'I'}${'o' | 'O'}${'n' | 'N'}`;

/**
 * Makes an existing server listen on an endpoint string, e.g. `onion:80`.
 *
 * Without `opts.tor`, `onion:` endpoints use the tor at their `control=` endpoint, else
 * `$TOR_CONTROL`, else a running local tor, else a tor launched for this process.
 *
 * For an `onion:` string (and a Tor handle, if any, from connectTor/launchTor) the result is typed
 * as the TorOnionService it is, with its `hostname`, keys and `'lost'` event.
 * @example const service = await listen(http.createServer(handler), 'onion:80');
 */
export function listen(server: net.Server, description: `${OnionPrefix}:${string}`, opts?: OnionListenOptions): Promise<TorOnionService>;
/**
 * Makes an existing server listen on an endpoint string: `tcp:8080`, `unix:/run/app.sock`, `tls:...`,
 * a registered plugin's prefix, or an `onion:` string not known when compiling (then typed as the
 * plain ListeningEndpoint, disposable; an `onion:` one is still a TorOnionService at run time).
 * @throws EndpointSyntaxError, UnknownEndpointError, EndpointArgumentError before any I/O;
 *   EndpointListenError (`TOR_ENDPOINT_LISTEN`, e.g. EADDRINUSE as `cause`), TorAbortError
 * @example const endpoint = await listen(server, process.env.PORT ?? 'tcp:8080'); console.log(endpoint.address);
 */
export function listen(server: net.Server, description: string, opts?: EndpointOptions): Promise<DisposableEndpoint>;
export function listen(server: net.Server, description: string, opts: EndpointOptions = {}): Promise<DisposableEndpoint> {
  const invalid = invalidCallOptions(opts, ENDPOINT_OPTION_KEYS, 'listen');
  if (invalid) return Promise.reject(invalid);
  return listenWith(server, description, {
    registry: pluginRegistry(),
    getTor: (control) =>
      torProvider().get(control !== undefined ? { control } : { launchIfMissing: true }),
    ...opts,
  });
}

/**
 * Adds an endpoint plugin for `connect`/`listen` (e.g. an `i2p:` prefix).
 * @throws DuplicateEndpointError (`TOR_ENDPOINT_DUPLICATE`) when its prefix is taken;
 *   EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for a prefix the grammar cannot express, or a
 *   plugin with neither `connect` nor `listen`
 * @example
 * registerPlugin({
 *   prefix: 'local',
 *   // local:PORT, a connection to 127.0.0.1:PORT
 *   connect: ({ args }) => connect(`tcp:127.0.0.1:${args[0]}`),
 * });
 * const socket = await connect('local:8080');
 */
export function registerPlugin(plugin: EndpointPlugin): void {
  pluginRegistry().register(plugin);
}
