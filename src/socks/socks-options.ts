import type net from 'node:net';
import type tls from 'node:tls';
import type { Circuit } from '../state/circuit.js';
import type { CancelOptions } from '../util/abort.js';
import type { TorConnectOptions } from './socks-types.js';

/**
 * Options of `TorSocksClient.connect`: the shared {@link TorConnectOptions} contract, with `tls`
 * widened to accept TLS options, and the hook the state layer uses to attach the stream.
 */
export interface TorSocksConnectOptions extends Omit<TorConnectOptions, 'tls'> {
  /**
   * Start TLS once tor has connected the stream: `true`, or TLS options (`ca`,
   * `rejectUnauthorized`, `ALPNProtocols`, `servername`...). SNI defaults to the target host
   * unless it is an IP. @default false
   */
  tls?: boolean | tls.ConnectionOptions;
  /**
   * Called with the socket connected to tor's SOCKS port, before any SOCKS byte is sent (its
   * `localPort` identifies the stream in tor's STREAM events, so that a controller can attach it
   * to a chosen circuit). The handshake waits for the returned promise.
   */
  beforeHandshake?: (socket: net.Socket) => void | Promise<void>;
}

/** Options of `TorSocksClient.resolve`/`resolvePtr`. */
export interface TorResolveOptions extends CancelOptions {
  /** Isolation token, as for connect. */
  isolate?: string;
  /** SOCKS5 username, as for connect (exclusive with `isolate`). */
  username?: string;
  /** SOCKS5 password, as for connect. Never logged. */
  password?: string;
  /** tor's SOCKS port for this lookup. @default the client's */
  socksPort?: number | string;
  /** Host of a TCP SOCKS port. @default the client's */
  socksHostname?: string;
}

/**
 * The isolation and SOCKS port options of `from`, those given only: what every stream of a fetch
 * or of an http agent is opened with.
 */
export function socksStreamOptions(from: Pick<TorSocksConnectOptions, 'isolate' | 'username' | 'password' | 'socksPort' | 'socksHostname'>): TorSocksConnectOptions {
  const out: TorSocksConnectOptions = {};
  if (from.isolate !== undefined) out.isolate = from.isolate;
  if (from.username !== undefined) out.username = from.username;
  if (from.password !== undefined) out.password = from.password;
  if (from.socksPort !== undefined) out.socksPort = from.socksPort;
  if (from.socksHostname !== undefined) out.socksHostname = from.socksHostname;
  return out;
}

/** Opens a stream through tor (what `TorSocksClient.connect` does); used by the agents. */
export type TorStreamOpener = (
  target: { host: string; port: number },
  opts: TorSocksConnectOptions,
) => Promise<net.Socket>;

/**
 * Opens a stream through tor over a chosen circuit (what `tor.connect(target, { circuit })` does):
 * the SOCKS client cannot do that alone, since pinning a stream needs the live state of the tor,
 * so the `Tor` handle that owns both hands it one. `opts` bound the whole opening (the state's
 * build, the wait for the circuit, the stream); `beforeHandshake` is the opener's own.
 */
export type CircuitStreamOpener = (
  circuit: Circuit | string,
  target: { host: string; port: number },
  opts: Omit<TorSocksConnectOptions, 'beforeHandshake'>,
) => Promise<net.Socket>;
