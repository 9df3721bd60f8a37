/**
 * The options of a connection through tor's SOCKS port: the contract between the `tor:` endpoint
 * plugin (which parses them from an endpoint string) and the Tor class (which implements them).
 */
export interface TorConnectOptions {
  /**
   * tor's SOCKS port: a TCP port number, or the path of a unix socket (`SocksPort unix:/path`).
   * @default the first SOCKS listener tor reports (`GETINFO net/listeners/socks`)
   */
  socksPort?: number | string;
  /** Host of a TCP SOCKS port. @default `127.0.0.1` */
  socksHostname?: string;
  /** Start TLS on the stream once tor has connected it (SNI: the target host unless it is an IP). @default false */
  tls?: boolean;
  /**
   * Stream isolation token: connections with different tokens never share a circuit (tor's
   * `IsolateSOCKSAuth`). Exclusive with `username`/`password`.
   */
  isolate?: string;
  /** SOCKS5 username (RFC 1929); tor uses it for isolation only. */
  username?: string;
  /** SOCKS5 password (RFC 1929); tor uses it for isolation only. Never logged or put in messages. */
  password?: string;
  /** Aborts the connection attempt (`TorAbortError`, code `TOR_ABORTED`). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds (`TorTimeoutError`, code `TOR_TIMEOUT`). */
  timeoutMs?: number;
}
