/**
 * `torcon/testnet`: a private Tor network on 127.0.0.1 for tests, demos and benchmarks.
 *
 * @example
 * import { startTestNetwork } from 'torcon/testnet';
 * const net = await startTestNetwork();
 * // net.controlEndpoint, net.socksPort, net.env()
 * await net.stop();
 */
export {
  startTestNetwork,
  type StartTestNetworkOptions,
  type TestNetwork,
  type TestNetworkPhase,
  type TestNetworkProgress,
  type TestRelay,
  type TestClientNode,
} from './process/testnet/test-network.js';
export {
  readTestNetworkState,
  stopTestNetworkByDir,
  STATE_FILE,
  type TestNetworkState,
  type TestNetworkStatus,
  type TestNetworkNodeState,
  type TestNetworkNodeStatus,
} from './process/testnet/state-file.js';
export {
  buildNodeTorrc,
  buildKeygenTorrc,
  dirAuthorityLine,
  assertTorrcSafe,
  REQUIRED_FLAGS,
  type TestNodeRole,
  type TestNodeSpec,
  type AuthorityIdentity,
} from './process/testnet/torrc-builder.js';
