import type net from 'node:net';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { DisposableEndpoint, ListeningEndpoint } from '../util/listening-endpoint.js';
import type { TorConnectOptions } from '../socks/socks-types.js';
import type { OnionService, OnionServiceOptions } from '../onion/onion-types.js';
import type { PluginRegistry } from './registry.js';

export type { ParsedEndpoint, ListeningEndpoint, DisposableEndpoint, TorConnectOptions, OnionService, OnionServiceOptions };

/**
 * What the `tor:` and `onion:` plugins need from a Tor handle. The Tor class satisfies it; tests
 * pass fakes. Kept minimal so that plugins depend on a contract, not on the whole Tor class.
 */
export interface TorLike {
  /** Opens a stream through tor's SOCKS port. */
  connect(target: { host: string; port: number }, opts?: TorConnectOptions): Promise<net.Socket>;
  /** Creates (and by default publishes) an onion service. */
  createOnionService(opts: OnionServiceOptions): Promise<OnionService>;
}

/** Whether an endpoint is used to connect (client) or to listen (server). */
export type EndpointRole = 'client' | 'server';

/** What a plugin gets besides its parsed endpoint. */
export interface EndpointContext {
  /** Aborts the operation; plugins reject with `TorAbortError` (code `TOR_ABORTED`). */
  signal?: AbortSignal;
  /** The Tor handle the caller passed, if any. */
  tor?: TorLike;
  /**
   * Resolves a Tor handle. With `control` (an endpoint string such as `tcp:127.0.0.1:9051`), the tor
   * listening there; without, the default tor. Never falls back to a non-Tor connection: when no
   * tor is available it rejects (code `TOR_NOT_AVAILABLE`).
   */
  getTor(control?: string): Promise<TorLike>;
  /** The registry in use, so that wrapping plugins (`tls:`) can open an inner endpoint. */
  registry: PluginRegistry;
}

/**
 * An endpoint type. A plugin implements `connect`, `listen` or both; it must validate every
 * positional and keyword argument before any I/O and reject bad ones with `EndpointArgumentError`
 * (code `TOR_ENDPOINT_ARGUMENT`), naming the offending keyword and the known ones.
 */
export interface EndpointPlugin {
  /** The prefix this plugin handles, lower case, e.g. `tor`. */
  readonly prefix: string;
  /** One-line grammar summary for help texts, e.g. `tor:HOST:PORT[:socksPort=N]...`. */
  readonly describe?: string;
  /**
   * Checks an endpoint's arguments without any I/O. `registry` lets a wrapping plugin (`tls:`)
   * check that the endpoint it wraps names a known prefix.
   * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
   */
  validate?(endpoint: ParsedEndpoint, role: EndpointRole, registry?: PluginRegistry): void;
  /** Opens a client connection. */
  connect?(endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<net.Socket>;
  /** Makes `server` reachable at the endpoint. */
  listen?(server: net.Server, endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<ListeningEndpoint>;
}
