/**
 * The live state of a tor (routers, circuits, streams, address mappings, guards) and the pure
 * pieces it is built from. `src/index.ts` picks the public names from here.
 */

export {
  TorState,
  STATE_EVENTS,
  STREAM_CLOSE_REASONS,
  type StreamAttacher,
  type TorStateOptions,
  type BuildCircuitOptions,
  type TorStateEvents,
} from './tor-state.js';
export { Circuit, isClosedStatus } from './circuit.js';
export { Stream, isClosedStreamStatus } from './stream.js';
export { Router, type RouterContext } from './router.js';
export { RouterMap } from './router-map.js';
export type { AddressMapping } from './address-map.js';
export type { EntryGuard, StateSnapshot, SnapshotDescription } from './snapshot.js';
export { createSnapshot, describeSnapshot } from './snapshot.js';
export {
  reduce,
  applyCircEvent,
  applyCircMinorEvent,
  applyStreamEvent,
  applyAddrMapEvent,
  applyCircText,
  applyStreamText,
  applyAddrMapText,
  applyRouterStatuses,
  deferRouterStatuses,
  applyGuardEvent,
  applyEntryGuardsText,
  loadInitialState,
  INITIAL_INFO_KEYS,
} from './reducers.js';
export {
  forEachRouterStatus,
  parseRouterStatuses,
  identityToFingerprint,
  fingerprintToIdentity,
  type ConsensusParseProblem,
  type ParseRouterStatusOptions,
} from './consensus-parser.js';
export { parseExitPolicySummary, summaryAcceptsPort, type ExitPolicySummary, type PortRange } from './exit-policy.js';
export { readMicrodescriptorPolicies, type MicrodescriptorPolicies } from './microdescriptors.js';
export { parseServerDescriptor, type ServerDescriptor, type DescriptorBandwidth } from './server-descriptor.js';
export { parseMicrodescriptor, type Microdescriptor } from './microdescriptor-parser.js';
export { findClientProcess, listenerPeers, type ClientProcess, type FindClientProcessOptions, type SocketPeer } from './client-process.js';
export type { GeoIpLookup, Location } from './geoip-types.js';
