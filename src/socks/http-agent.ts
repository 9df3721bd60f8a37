import type http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { TorInvalidValueError } from '../errors.js';
import type { Circuit } from '../state/circuit.js';
import { nodeHttp, nodeHttps } from '../util/node-builtins.js';
import { socksStreamOptions, type TorSocksConnectOptions, type TorStreamOpener } from './socks-options.js';

/** Options of `TorSocksClient.httpAgent`. */
export interface HttpAgentOptions {
  /** Isolation token for every request of this agent (see `TorConnectOptions.isolate`). */
  isolate?: string;
  /** SOCKS5 username for isolation (exclusive with `isolate`). */
  username?: string;
  /** SOCKS5 password for isolation. Never logged. */
  password?: string;
  /**
   * Send every connection of this agent over this circuit (a Circuit of the live state, or its
   * id), as `tor.connect(target, { circuit })` does, with the same errors (a request fails with
   * them): TorCircuitError when the circuit does not exist, closed, serves onion-service protocols
   * or tor's own ends, or its exit refuses the stream; TorInvalidValueError for an `.onion` host. Kept connections
   * stay on it, and are closed when it closes. Needs a `Tor` handle (`tor.httpAgent`), which owns
   * the live state. @default tor chooses
   */
  circuit?: Circuit | string;
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
  const out = socksStreamOptions(opts);
  if (opts.connectTimeoutMs !== undefined) out.timeoutMs = opts.connectTimeoutMs;
  return out;
}

/** The stream options with the signal that cancels one opening, if any. */
function withSignal(stream: TorSocksConnectOptions, signal: AbortSignal | undefined): TorSocksConnectOptions {
  return signal === undefined ? stream : { ...stream, signal };
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

/**
 * What Node's own agent reports for a request destroyed without an error of its own (`destroy()`,
 * `abort()`) while its socket connects: the same error, so that code written for Node's agents
 * (retrying on ECONNRESET, say) reads ours alike.
 */
function socketHangUp(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/**
 * Calls `onDestroy` with the error (if any) the first time `request.destroy()` is called (an abort
 * signal and `abort()` call it too), until the returned function is called. A ClientRequest says
 * nothing when it is destroyed before it has a socket (its 'error' and 'close' wait for one), so
 * its `destroy` is wrapped, on this instance only, and put back as it was.
 */
function onRequestDestroy(request: http.ClientRequest, onDestroy: (err: Error | undefined) => void): () => void {
  const hadOwn = Object.hasOwn(request, 'destroy');
  const destroy = request.destroy;
  let watching = true;
  const stop = () => {
    watching = false;
    // Someone who wrapped it after us keeps theirs; ours then only passes calls on.
    if (request.destroy !== wrapped) return;
    if (hadOwn) request.destroy = destroy;
    else delete (request as { destroy?: unknown }).destroy;
  };
  const wrapped = function (this: http.ClientRequest, err?: Error) {
    // Node's destroy first: the request is destroyed (and holds its error) before Node hears from us.
    const result = destroy.call(this, err);
    if (watching) {
      stop();
      onDestroy(err);
    }
    return result;
  };
  request.destroy = wrapped;
  return stop;
}

/**
 * Hands the socket to Node's callback once tor has connected it (agents create sockets
 * asynchronously). Given the request the socket is for, it watches it: destroyed meanwhile (by
 * `req.destroy()`, its `signal` or `abort()`), the opening is cancelled at once, which closes the
 * connection to tor's SOCKS port so that tor drops the stream, and Node hears at once of the
 * request's error (or ECONNRESET, see socketHangUp), as from a connecting socket of its own.
 * The callback is called once; a socket that would come after that is destroyed.
 * @param timeout the request's (or agent's) `timeout` option, which Node sets on the socket it makes
 */
function deliver(
  opening: (signal: AbortSignal | undefined) => Promise<net.Socket>,
  request: http.ClientRequest | undefined,
  callback: Callback | undefined,
  timeout: unknown,
): undefined {
  if (!callback) {
    throw new TorInvalidValueError('createConnection callback', 'is required: streams through tor open asynchronously');
  }
  let answered = false;
  let stopWatching = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  const answer = (err: Error | null, socket: net.Socket | undefined) => {
    if (answered) {
      socket?.destroy();
      return;
    }
    answered = true;
    clearTimeout(timer);
    stopWatching();
    callback(err, socket as unknown as Duplex);
  };
  // Node's own agents make the socket at once and set `timeout` on it before it connects, so a
  // request hears 'timeout' when connecting takes that long (and may destroy itself). Our socket
  // only comes once tor has opened the stream, which can take minutes: until then the request
  // hears it from here, once, as a connecting socket would have told it.
  if (request !== undefined && !request.destroyed && typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout)) {
    timer = setTimeout(() => {
      if (!answered) request.emit('timeout');
    }, timeout);
    // Like a socket's idle timer: it keeps nothing alive (the opening itself does).
    timer.unref();
  }
  let cancel: AbortController | undefined;
  // A request destroyed before it got here (an aborted signal given to http.get) keeps Node's
  // handling: its own error is out of our reach, and only a socket lets Node report it.
  if (request !== undefined && !request.destroyed) {
    const controller = (cancel = new AbortController());
    stopWatching = onRequestDestroy(request, (err) => {
      const why = err ?? socketHangUp();
      controller.abort(why);
      answer(why, undefined);
    });
  }
  let promise: Promise<net.Socket>;
  try {
    promise = opening(cancel?.signal);
  } catch (err) {
    promise = Promise.reject(err);
  }
  promise.then(
    (socket) => answer(null, socket),
    (err: Error) => answer(err, undefined),
  );
  return undefined;
}

/** Node's Agent method that torAgentClasses hooks into, missing from its type declarations. */
type AddRequest = (this: http.Agent, request: http.ClientRequest, ...rest: unknown[]) => void;

/** An agent of this module: Node's http.Agent or https.Agent, whose kept sockets can be retired. */
export interface TorAgent extends http.Agent {
  /**
   * Closes the sockets kept for reuse (a stream through tor stays on its circuit): free ones at
   * once, busy ones when their request ends instead of going back to the pool. Later requests
   * open new streams.
   */
  retireSockets(): void;
}

/** An agent class of this module: built on Node's http.Agent or https.Agent. */
export type TorAgentClass = new (open: TorStreamOpener, opts?: HttpAgentOptions) => TorAgent;

/**
 * Makes `agent` close, rather than reuse, each socket `retired` holds: Node hands a freed socket to
 * a queued request or to its pool in its own 'free' listener, which skips a socket no longer
 * writable (and then opens a new one for a queued request), so this one runs first.
 */
function closeRetiredOnFree(agent: http.Agent, retired: WeakSet<object>): void {
  agent.prependListener('free', (socket: Duplex) => {
    if (retired.has(socket)) socket.destroy();
  });
}

/** See TorAgent.retireSockets. */
function retireSockets(agent: http.Agent, retired: WeakSet<object>): void {
  for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
  for (const list of Object.values(agent.sockets)) for (const socket of list ?? []) retired.add(socket);
}

/**
 * How one kind of agent reaches its target: Node's agent class to extend, its constructor options
 * from ours, and the stream it opens for a request (plain, or TLS over it).
 */
interface AgentKind {
  base: typeof http.Agent;
  agentOptions(opts: HttpAgentOptions): http.AgentOptions;
  connect(open: TorStreamOpener, options: http.ClientRequestArgs, stream: TorSocksConnectOptions): Promise<net.Socket>;
}

/**
 * An agent class of `kind.base` whose every socket is a stream through tor. Works with
 * `http.get`/`http.request` and keep-alive pooling; hostnames are resolved by tor, never locally.
 */
function torAgentClass(kind: AgentKind): TorAgentClass {
  const baseAddRequest = (kind.base.prototype as unknown as { addRequest: AddRequest }).addRequest;
  return class TorAgentOfKind extends kind.base implements TorAgent {
    private readonly open: TorStreamOpener;
    /** Holds SOCKS credentials: an ES private field, so util.inspect and JSON never show it. */
    readonly #stream: TorSocksConnectOptions;
    /** The request addRequest is opening a connection for, while it runs. */
    #request: http.ClientRequest | undefined = undefined;
    /** Sockets to close, not reuse, once their request ends (see retireSockets). */
    readonly #retired = new WeakSet<object>();

    constructor(open: TorStreamOpener, opts: HttpAgentOptions = {}) {
      super(kind.agentOptions(opts));
      this.open = open;
      this.#stream = streamOptions(opts);
      closeRetiredOnFree(this, this.#retired);
    }

    retireSockets(): void {
      retireSockets(this, this.#retired);
    }

    /**
     * Node's: gives the request a pooled socket, queues it, or has createConnection open one for
     * it (synchronously, from here). Only then is the connection the request's own: a queued
     * request's connection is opened later and goes to whichever request waits first.
     */
    addRequest(request: http.ClientRequest, ...rest: unknown[]): void {
      this.#request = request;
      try {
        baseAddRequest.call(this, request, ...rest);
      } finally {
        this.#request = undefined;
      }
    }

    override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
      const request = this.#request;
      this.#request = undefined;
      return deliver((signal) => kind.connect(this.open, options, withSignal(this.#stream, signal)), request, callback, options.timeout);
    }
  };
}

let agentClasses: { http: TorAgentClass; https: TorAgentClass } | undefined;

/**
 * The agent classes, made at the first call: they extend Node's `http.Agent` and `https.Agent`,
 * and those modules are loaded only then (see util/node-builtins.ts).
 */
export function torAgentClasses(): { http: TorAgentClass; https: TorAgentClass } {
  if (agentClasses !== undefined) return agentClasses;
  const keepAlive = (opts: HttpAgentOptions) => (opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {});
  agentClasses = {
    http: torAgentClass({
      base: nodeHttp().Agent,
      agentOptions: (opts) => ({ ...opts.agent, ...keepAlive(opts) }),
      connect: (open, options, stream) => open(requestTarget(options, 80), stream),
    }),
    // TLS over the stream: the handshake is with the request's host (SNI and certificate check), not with tor.
    https: torAgentClass({
      base: nodeHttps().Agent,
      agentOptions: (opts) => ({ ...(typeof opts.tls === 'object' ? opts.tls : {}), ...opts.agent, ...keepAlive(opts) }) as https.AgentOptions,
      connect: (open, options, stream) => {
        // Node merges the agent's TLS options into `options`; the request's own fields (path,
        // headers...) mean nothing to TLS, and `path` would even mean a unix socket to net.
        const { path: _path, socketPath: _socketPath, host: _host, hostname: _hostname, port: _port, agent: _agent, ...rest } =
          options as http.ClientRequestArgs & Record<string, unknown>;
        return open(requestTarget(options, 443), { ...stream, tls: rest as tls.ConnectionOptions });
      },
    }),
  };
  return agentClasses;
}
