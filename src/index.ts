/**
 * torcon: Tor as a first-class network endpoint for Node.js. This file is the whole public API;
 * everything else is internal.
 */
import 'reflect-metadata';

export { connectTor, launchTor, DEFAULT_CONTROL_ENDPOINTS, type ConnectTorOptions } from './tor/connect-tor.js';
export { Tor, type TorStreamOptions } from './tor/tor.js';
export type { TorStatus } from './tor/tor-status.js';
export type { LaunchTorOptions } from './process/launch-tor.js';
export type { BootstrapProgress, WaitForBootstrapOptions } from './process/bootstrap.js';

export { TorControl, type ConfValue, type CommandOptions, type TorControlEvents, type TorControlOptions } from './control/tor-control.js';
export type { ControlReply, ReplyLine } from './control/reply.js';
export type { MapAddressMappings, MappedAddress } from './control/map-address.js';
export type { ProtocolInfo } from './control/protocol-info.js';
export type { EventIteratorOptions } from './control/event-iterator.js';
export type * from './control/events/event-types.js';

export {
  TorState,
  Circuit,
  Stream,
  Router,
  type StreamAttacher,
  type TorStateEvents,
  type TorStateOptions,
  type BuildCircuitOptions,
  type AddressMapping,
  type EntryGuard,
  type ExitPolicySummary,
  type ClientProcess,
  type ServerDescriptor,
  type DescriptorBandwidth,
  type Microdescriptor,
} from './state/index.js';
export { TorConfig, type TorConfigEvents, type GetOptions as ConfigGetOptions, type SaveOptions as ConfigSaveOptions } from './config/tor-config.js';
export type { ConfigOptionType, ConfigOptionInfo, ConfLine, ConfigInput, ConfigScalar, ConfigValue, HiddenServiceConfig } from './config/config-types.js';
export { MaxMindGeoIp, type MaxMindGeoIpOptions } from './geoip/maxmind-geoip.js';
export { TorGeoIp, type TorGeoIpOptions } from './geoip/tor-geoip.js';
export { createGeoIp, findGeoIpDatabases, type GeoIpOptions, type FoundGeoIpDatabases } from './geoip/create-geoip.js';
export type { GeoIpLookup, Location } from './state/geoip-types.js';

export { connect, listen, registerPlugin, type EndpointOptions, type OnionListenOptions } from './di/endpoint-api.js';
export { createTorContainer, torconContainer } from './di/container.js';
export { TOKENS } from './di/tokens.js';
export { parseEndpoint, quoteEndpointArgument, type ParsedEndpoint } from './util/endpoint-grammar.js';
export { parseTorVersion, compareTorVersions, type TorVersion } from './util/tor-version.js';
export type { EndpointPlugin, EndpointContext, EndpointRole, ListeningEndpoint, DisposableEndpoint, TorLike } from './plugins/plugin-types.js';
export type { PluginRegistry } from './plugins/registry.js';
export type { CancelOptions } from './util/abort.js';
export type { OnionService, OnionServiceOptions, OnionClientAuthKey, OnionPortMapping, OnionProgress } from './onion/onion-types.js';
export { TorOnionService, type OnionServiceEvents } from './onion/onion-service.js';
export { generateClientAuthKey, type OnionClientAuth } from './onion/client-auth.js';
export type { OnionClientAuthAddOptions } from './onion/onion-service-manager.js';
export type { OnionServiceInfo } from './onion/onion-inventory.js';
export type { FetchOnionDescriptorOptions, OnionDescriptor } from './onion/descriptor-fetch.js';
export type { TorConnectOptions } from './socks/socks-types.js';
export type { TorSocksConnectOptions, CircuitStreamOpener } from './socks/socks-options.js';
export type { PortRange } from './state/exit-policy.js';
export { parseServerDescriptor } from './state/server-descriptor.js';
export { parseMicrodescriptor } from './state/microdescriptor-parser.js';
export type { SocketPeer } from './state/client-process.js';
export type { EndpointCallOptions } from './endpoints/endpoint-options.js';
export { TorSocksClient, type TorSocksClientOptions, type HttpAgentOptions, type TorFetchInit, type TorResolveOptions, type SocksControl } from './socks/tor-socks-client.js';

export * from './errors.js';
