import type http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { TorInvalidValueError } from '../errors.js';
import { nodeHttp, nodeHttps } from '../util/node-builtins.js';
import type { TorSocksConnectOptions, TorStreamOpener } from './socks-options.js';

/** Options of `TorSocksClient.httpAgent`. */
export interface HttpAgentOptions {
  /** Isolation token for every request of this agent (see `TorConnectOptions.isolate`). */
  isolate?: string;
  /** SOCKS5 username for isolation (exclusive with `isolate`). */
  username?: string;
  /** SOCKS5 password for isolation. Never logged. */
  password?: string;
  /** Keep connections open for later requests (`http.Agent`'s `keepAlive`). @default false */
  keepAlive?: boolean;
  /**
   * Make an `https.Agent`: TLS over the tor stream, SNI = the request's host. `true`, or TLS
   * options such as `ca` or `rejectUnauthorized`. An agent serves one protocol, as Node requires.
   * @default false (an `http.Agent`)
   */
  tls?: boolean | tls.ConnectionOptions;
  /** tor's SOCKS port for this agent. @default the client's */
  socksPort?: number | string;
  /** Host of a TCP SOCKS port. @default the client's */
  socksHostname?: string;
  /** Limit for opening each stream (SOCKS handshake and TLS), in ms. @default no limit beyond the handshake limit */
  connectTimeoutMs?: number;
  /** Any other `http.Agent` option (`maxSockets`, `keepAliveMsecs`, `timeout`...). */
  agent?: http.AgentOptions;
}

type Callback = (err: Error | null, stream: Duplex) => void;

/** The stream options an agent uses for each of its connections. */
function streamOptions(opts: HttpAgentOptions): TorSocksConnectOptions {
  const out: TorSocksConnectOptions = {};
  if (opts.isolate !== undefined) out.isolate = opts.isolate;
  if (opts.username !== undefined) out.username = opts.username;
  if (opts.password !== undefined) out.password = opts.password;
  if (opts.socksPort !== undefined) out.socksPort = opts.socksPort;
  if (opts.socksHostname !== undefined) out.socksHostname = opts.socksHostname;
  if (opts.connectTimeoutMs !== undefined) out.timeoutMs = opts.connectTimeoutMs;
  return out;
}

/** Where a request goes, from the options Node hands to `createConnection`. */
function requestTarget(options: http.ClientRequestArgs, defaultPort: number): { host: string; port: number } {
  if (options.socketPath) {
    throw new TorInvalidValueError('socketPath', 'a request through tor goes to a host and port, not to a local unix socket');
  }
  const host = options.hostname ?? options.host ?? 'localhost';
  const port = options.port === undefined || options.port === null || options.port === '' ? defaultPort : Number(options.port);
  return { host, port };
}

/** Hands the socket to Node's callback once tor has connected it (agents create sockets asynchronously). */
function deliver(opening: () => Promise<net.Socket>, callback: Callback | undefined): undefined {
  if (!callback) {
    throw new TorInvalidValueError('createConnection callback', 'is required: streams through tor open asynchronously');
  }
  let promise: Promise<net.Socket>;
  try {
    promise = opening();
  } catch (err) {
    promise = Promise.reject(err);
  }
  promise.then(
    (socket) => callback(null, socket),
    (err: Error) => callback(err, undefined as unknown as Duplex),
  );
  return undefined;
}

/** An agent class of this module: built on Node's http.Agent or https.Agent. */
export type TorAgentClass = new (open: TorStreamOpener, opts?: HttpAgentOptions) => http.Agent;

let agentClasses: { http: TorAgentClass; https: TorAgentClass } | undefined;

/**
 * The agent classes, made at the first call: they extend Node's `http.Agent` and `https.Agent`,
 * and those modules are loaded only then (see util/node-builtins.ts).
 */
export function torAgentClasses(): { http: TorAgentClass; https: TorAgentClass } {
  if (agentClasses !== undefined) return agentClasses;
  const httpModule = nodeHttp();
  const httpsModule = nodeHttps();

  /**
   * An `http.Agent` whose every socket is a stream through tor. Works with `http.get`/`http.request`
   * and keep-alive pooling; hostnames are resolved by tor, never locally.
   */
  class TorHttpAgent extends httpModule.Agent {
    private readonly open: TorStreamOpener;
    /** Holds SOCKS credentials: an ES private field, so util.inspect and JSON never show it. */
    readonly #stream: TorSocksConnectOptions;

    constructor(open: TorStreamOpener, opts: HttpAgentOptions = {}) {
      super({ ...opts.agent, ...(opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {}) });
      this.open = open;
      this.#stream = streamOptions(opts);
    }

    override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
      return deliver(() => this.open(requestTarget(options, 80), this.#stream), callback);
    }
  }

  /**
   * An `https.Agent` whose every socket is TLS over a stream through tor: the TLS handshake is with
   * the request's host (SNI and certificate check), not with tor.
   */
  class TorHttpsAgent extends httpsModule.Agent {
    private readonly open: TorStreamOpener;
    /** Holds SOCKS credentials: an ES private field, so util.inspect and JSON never show it. */
    readonly #stream: TorSocksConnectOptions;

    constructor(open: TorStreamOpener, opts: HttpAgentOptions = {}) {
      const tlsOptions = typeof opts.tls === 'object' ? opts.tls : {};
      super({ ...tlsOptions, ...opts.agent, ...(opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {}) } as https.AgentOptions);
      this.open = open;
      this.#stream = streamOptions(opts);
    }

    override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
      return deliver(() => {
        const target = requestTarget(options, 443);
        // Node merges the agent's TLS options into `options`; the request's own fields (path,
        // headers...) mean nothing to TLS, and `path` would even mean a unix socket to net.
        const { path: _path, socketPath: _socketPath, host: _host, hostname: _hostname, port: _port, agent: _agent, ...rest } =
          options as http.ClientRequestArgs & Record<string, unknown>;
        return this.open(target, { ...this.#stream, tls: rest as tls.ConnectionOptions });
      }, callback);
    }
  }

  agentClasses = { http: TorHttpAgent, https: TorHttpsAgent };
  return agentClasses;
}
