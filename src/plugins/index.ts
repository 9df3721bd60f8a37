import { PluginRegistry } from './registry.js';
import type { EndpointPlugin } from './plugin-types.js';
import { tcpPlugin } from './tcp-plugin.js';
import { unixPlugin } from './unix-plugin.js';
import { tlsPlugin } from './tls-plugin.js';
import { torPlugin } from './tor-plugin.js';
import { onionPlugin } from './onion-plugin.js';

export { PluginRegistry } from './registry.js';
export type { EndpointPlugin, EndpointContext, EndpointRole, ListeningEndpoint, DisposableEndpoint, TorLike } from './plugin-types.js';
export { tcpPlugin, parseTcpClientOptions, parseTcpServerOptions, DEFAULT_TCP_INTERFACE } from './tcp-plugin.js';
export type { TcpClientOptions, TcpServerOptions } from './tcp-plugin.js';
export { unixPlugin, parseUnixClientOptions, parseUnixServerOptions } from './unix-plugin.js';
export type { UnixClientOptions, UnixServerOptions } from './unix-plugin.js';
export { tlsPlugin, parseTlsClientOptions, parseTlsServerOptions } from './tls-plugin.js';
export type { TlsClientOptions, TlsServerOptions } from './tls-plugin.js';
export { torPlugin, parseTorClientOptions } from './tor-plugin.js';
export type { TorClientOptions } from './tor-plugin.js';
export { onionPlugin, parseOnionServerOptions } from './onion-plugin.js';
export type { OnionServerOptions } from './onion-plugin.js';

/** The built-in plugins, in a fresh array: `tcp:`, `unix:`, `tls:`, `tor:`, `onion:`. */
export function builtinPlugins(): EndpointPlugin[] {
  return [tcpPlugin, unixPlugin, tlsPlugin, torPlugin, onionPlugin];
}

/**
 * A new registry holding the built-in plugins (and `extra` ones). Each call returns a separate
 * registry: registering into one never affects another.
 * @throws DuplicateEndpointError (code `TOR_ENDPOINT_DUPLICATE`) when an extra plugin reuses a prefix.
 */
export function createDefaultRegistry(extra: readonly EndpointPlugin[] = []): PluginRegistry {
  return new PluginRegistry([...builtinPlugins(), ...extra]);
}
