/**
 * `torcon/testnet`: a private Tor network on 127.0.0.1 for tests, demos and benchmarks.
 *
 * `startTestNetwork()` starts the network (see `startLoopbackNetwork` for what it does and what
 * keeps it off the public Tor network) and connects a `Tor` handle to its client.
 *
 * @example
 * import { startTestNetwork } from 'torcon/testnet';
 * const net = await startTestNetwork();
 * try {
 *   const sock = await net.client.connect('127.0.0.1:8080');  // through an exit of the network
 * } finally {
 *   await net.stop();
 * }
 */
import { startLoopbackNetwork, type LoopbackNetwork, type StartTestNetworkOptions } from './process/testnet/test-network.js';
import { connectTor } from './tor/connect-tor.js';
import type { Tor } from './tor/tor.js';

export {
  startLoopbackNetwork,
  type StartTestNetworkOptions,
  type LoopbackNetwork,
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
// The type of TestNetworkState.owner: exported so that a user's declarations can name it.
export type { ProcessIdentity } from './process/process-identity.js';
export {
  buildNodeTorrc,
  buildKeygenTorrc,
  dirAuthorityLine,
  assertTorrcSafe,
  REQUIRED_FLAGS,
  type TestNodeRole,
  type TestNodeSpec,
  type AuthorityIdentity,
  type NetworkTorrcContext,
} from './process/testnet/torrc-builder.js';

/** A running private test network with a `Tor` handle connected to its client. */
export interface TestNetwork extends LoopbackNetwork {
  /** Connected to {@link LoopbackNetwork.controlEndpoint} (cookie auth); closed by `stop()`. */
  readonly client: Tor;
  /** `stop()`, for `await using network = await startTestNetwork()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the private loopback network (see `startLoopbackNetwork`) and connects `client` to its
 * client tor. If connecting fails, the network is stopped before the error is thrown.
 *
 * @param opts - see `StartTestNetworkOptions`; `signal` and `timeoutMs` cover the connection too
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad options, before anything starts
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when a node fails or the network stalls
 * @throws TorAbortError (`TOR_ABORTED`) when `opts.signal` aborts
 * @throws whatever `connectTor` throws (e.g. TorAuthError) when the client connection fails
 * @example
 * const net = await startTestNetwork({ onProgress: (p) => console.log(p.phase, p.message) });
 * console.log(await net.client.control.getInfo('status/bootstrap-phase'));
 * await net.stop();
 */
export async function startTestNetwork(opts: StartTestNetworkOptions = {}): Promise<TestNetwork> {
  const started = Date.now();
  const network = await startLoopbackNetwork(opts);
  let client: Tor;
  try {
    const left = opts.timeoutMs === undefined ? 30_000 : Math.max(1, opts.timeoutMs - (Date.now() - started));
    client = await connectTor({
      control: network.controlEndpoint,
      cookieFile: network.cookieFile,
      timeoutMs: left,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    await network.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await client.close().catch(() => undefined);
      await network.stop();
    })());
  return { ...network, client, stop, [Symbol.asyncDispose]: stop };
}
