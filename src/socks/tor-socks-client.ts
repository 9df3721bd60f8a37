import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Agent as UndiciAgent } from 'undici';
import { TorControlClosedError, TorControlError, TorError, TorInvalidValueError, TorProtocolError, TorTimeoutError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import type { ControlReply } from '../control/reply.js';
import { assertTimeout, invalidSignal, kindOf, timerDelay, type CancelOptions } from '../util/abort.js';
import { isOnionHostname } from '../onion/service-id.js';
import type { Circuit } from '../state/circuit.js';
import { assertCircuitArgument } from '../state/tor-state.js';
import { logger } from '../util/log.js';
import { CANCEL_OPTION_KEYS, assertCallOptions, assertKnownOptions, assertNoNearMiss, optionKeys } from '../util/known-options.js';
import { cancellable, checkInnerSignal } from './cancellable.js';
import { circuitIdOf, refuseOnionOverCircuit } from './circuit-pin.js';
import { torAgentClasses, type HttpAgentOptions, type TorAgent } from './http-agent.js';
import {
  atHost,
  describeSocksAddress,
  FALLBACK_SOCKS_ADDRESSES,
  parseSocksHostname,
  parseSocksListeners,
  parseSocksPortOption,
  type SocksAddress,
} from './socks-address.js';
import { SOCKS_FAILURE_CODES, socksFailure } from './socks-errors.js';
import { socksConnectHandshake } from './socks-handshake.js';
import { socksStreamOptions, type CircuitStreamOpener, type TorResolveOptions, type TorSocksConnectOptions, type TorStreamOpener } from './socks-options.js';
import { describeTarget } from '../util/ip-address.js';
import { parseSocksHost, parseSocksTarget, socksCredentials, type SocksCredentials } from './socks-request.js';
import { openSocksSocket } from './socks-socket.js';
import { startTls } from './socks-tls.js';
import type { createTorDispatcher as CreateTorDispatcher, TorFetchInit } from './tor-fetch.js';
import { SOCKS_CMD_RESOLVE, SOCKS_CMD_RESOLVE_PTR, socksResolveExchange, type ResolveCommand } from './tor-resolve.js';

export type { HttpAgentOptions } from './http-agent.js';
export type { TorFetchInit } from './tor-fetch.js';
export type { TorResolveOptions, TorSocksConnectOptions } from './socks-options.js';

const log = logger('socks');

/**
 * The keys each call takes (see optionKeys): in JavaScript a misspelt one (`isolaton`, `timeout`)
 * would otherwise be ignored, and the stream would go out without the isolation or limit asked for.
 */
const CLIENT_OPTION_KEYS = optionKeys<TorSocksClientOptions>({
  socksPort: true, socksHostname: true, handshakeTimeoutMs: true, fallbackSocksPorts: true, circuitOpener: true,
});
const CONNECT_OPTION_KEYS = optionKeys<TorSocksConnectOptions>({
  socksPort: true, socksHostname: true, tls: true, isolate: true, username: true, password: true, signal: true, timeoutMs: true, beforeHandshake: true,
});
const RESOLVE_OPTION_KEYS = optionKeys<TorResolveOptions>({ isolate: true, username: true, password: true, socksPort: true, socksHostname: true, signal: true, timeoutMs: true });
const AGENT_OPTION_KEYS = optionKeys<HttpAgentOptions>({
  isolate: true, username: true, password: true, circuit: true, keepAlive: true, tls: true, socksPort: true, socksHostname: true, connectTimeoutMs: true, agent: true,
});
/**
 * torcon's own keys in fetch's init, and `signal`: a key nearly one of these is a misspelling; any
 * other may be fetch's (RequestInit), whichever the platform has.
 */
const FETCH_NEAR_MISS_KEYS = [
  ...optionKeys<Omit<TorFetchInit, keyof RequestInit>>({
    isolate: true, username: true, password: true, socksPort: true, socksHostname: true, circuit: true, timeoutMs: true,
  }),
  'signal',
];

/** The part of the control connection the SOCKS client needs. */
export type SocksControl = Pick<TorControl, 'command'>;

/** Options of {@link TorSocksClient}. */
export interface TorSocksClientOptions {
  /**
   * tor's SOCKS port: a port number, a unix socket path, or `unix:/path`.
   * @default asked from tor (`GETINFO net/listeners/socks`), else 127.0.0.1:9050, then 127.0.0.1:9150
   */
  socksPort?: number | string;
  /**
   * Host of a TCP SOCKS port; must be an IP (or `localhost`). With a discovered TCP listener it
   * replaces the listener's host. @default 127.0.0.1
   */
  socksHostname?: string;
  /**
   * Limit for tor's answer to a SOCKS request (CONNECT, RESOLVE) when the call sets no `timeoutMs`.
   * tor itself gives up on a stream after `SocksTimeout` (2 minutes by default) and then answers
   * with an error byte, so this only catches a tor that never answers.
   * @default 130000
   */
  handshakeTimeoutMs?: number;
  /**
   * Ports tried, in order, when tor cannot be asked for its listeners (no control connection, or
   * GETINFO refused): numbers are on 127.0.0.1, strings are unix socket paths.
   * @default [9050, 9150] (a system tor, then Tor Browser)
   */
  fallbackSocksPorts?: readonly (number | string)[];
  /**
   * Opens streams over a chosen circuit, for the `circuit` option of `fetch` and `httpAgent`: the
   * `Tor` handle that owns this client passes its own (it needs the live state). Without it, that
   * option is refused.
   */
  circuitOpener?: CircuitStreamOpener;
}

/** Defaults of {@link TorSocksClientOptions}. */
export const SOCKS_CLIENT_DEFAULTS = Object.freeze({
  handshakeTimeoutMs: 130_000,
  /** How long asking tor for its SOCKS listeners may take. */
  discoveryTimeoutMs: 30_000,
  /** How long probing a fallback port (9050, 9150) may take. */
  probeTimeoutMs: 3_000,
  /** fetch dispatchers kept (one per isolation token and circuit); the oldest is closed beyond this. */
  maxDispatchers: 32,
});

/**
 * Every connection torcon makes through tor: SOCKS5 streams (TCP targets, IPv4, IPv6, hostnames
 * and .onion, optionally with TLS), tor's RESOLVE/RESOLVE_PTR lookups, an `http.Agent`/
 * `https.Agent`, and `fetch`. Hostnames always travel to tor as SOCKS5 domain names: nothing is
 * ever looked up locally, and the only local connection is to tor's SOCKS port (an IP or a unix
 * socket).
 *
 * Isolation: `isolate: TOKEN` sends SOCKS username `torcon-isolate` with the token as password;
 * with tor's `IsolateSOCKSAuth` (on by default) streams with different tokens never share a
 * circuit. Tokens and passwords never appear in messages or logs.
 * @example
 * const socks = new TorSocksClient(control);
 * const socket = await socks.connect({ host: 'example.onion', port: 80 }, { isolate: 'alice', timeoutMs: 60_000 });
 */
export class TorSocksClient {
  private readonly control: SocksControl | null;
  private readonly fixedAddress: SocksAddress | undefined;
  private readonly socksHostname: string | undefined;
  private readonly handshakeTimeoutMs: number;
  private readonly fallback: readonly SocksAddress[];
  private readonly circuitOpener: CircuitStreamOpener | undefined;
  private discovered: Promise<SocksAddress> | undefined;
  /**
   * The agents made here, held weakly: an agent per request or per user is common, and one nobody
   * holds any more (no request, no open socket: each of those refers to it) must be collected, not
   * kept until close().
   */
  private readonly agents = new Set<WeakRef<TorAgent>>();
  private readonly collectedAgents = new FinalizationRegistry<WeakRef<TorAgent>>((ref) => this.agents.delete(ref));
  /** The circuit id of each agent made with `circuit`, for closing its kept sockets when that circuit closes. */
  private readonly agentCircuits = new WeakMap<TorAgent, string>();
  /**
   * Keyed by isolation credentials and circuit, since a kept connection stays on the circuit it
   * was opened on: an ES private field, so util.inspect and JSON never show the credentials.
   */
  readonly #dispatchers = new Map<string, PooledDispatcher>();
  /** Aborted by close(): what is still connecting or resolving ends at once, with TOR_SOCKS_CLOSED. */
  readonly #stop = new AbortController();

  /**
   * @param control the control connection of the tor whose SOCKS port to use (asked for its
   *   listeners); `null` to rely on `socksPort` or the usual ports only
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad `socksPort`/`socksHostname`, or a
   *   `handshakeTimeoutMs` that is not a number from 0 to Infinity
   */
  constructor(control: SocksControl | null, opts: TorSocksClientOptions = {}) {
    // A JavaScript caller's null means no options; anything else of the wrong kind would fail
    // later, at the first connection, as a bare TypeError.
    opts ??= {};
    if (typeof opts !== 'object') throw new TorInvalidValueError('TorSocksClient options', `must be an object (socksPort, socksHostname...), got ${kindOf(opts)}`);
    assertKnownOptions(opts, CLIENT_OPTION_KEYS, 'TorSocksClient');
    if (control !== null && control !== undefined && typeof (control as { command?: unknown }).command !== 'function') {
      throw new TorInvalidValueError('TorSocksClient control', 'must be a TorControl (tor.control), or null to use socksPort or the usual ports only');
    }
    if (opts.fallbackSocksPorts !== undefined && !Array.isArray(opts.fallbackSocksPorts)) {
      throw new TorInvalidValueError('fallbackSocksPorts', 'must be an array of port numbers and unix socket paths');
    }
    if (opts.circuitOpener !== undefined && typeof opts.circuitOpener !== 'function') throw new TorInvalidValueError('circuitOpener', 'must be a function');
    assertTimeout(opts.handshakeTimeoutMs, 'handshakeTimeoutMs');
    this.control = control ?? null;
    // One listener per connect or lookup in flight: a hundred at once is no leak, and must not
    // print Node's MaxListenersExceededWarning.
    setMaxListeners(0, this.#stop.signal);
    if (opts.socksPort !== undefined) this.fixedAddress = parseSocksPortOption(opts.socksPort, opts.socksHostname);
    if (opts.socksHostname !== undefined) this.socksHostname = parseSocksHostname(opts.socksHostname);
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? SOCKS_CLIENT_DEFAULTS.handshakeTimeoutMs;
    this.fallback = opts.fallbackSocksPorts ? opts.fallbackSocksPorts.map((p) => parseSocksPortOption(p)) : FALLBACK_SOCKS_ADDRESSES;
    this.circuitOpener = opts.circuitOpener;
  }

  /**
   * Where tor's SOCKS port is: the `socksPort` option, else what tor reports (`GETINFO
   * net/listeners/socks`, first listener), else the first of 127.0.0.1:9050 and 127.0.0.1:9150
   * that accepts a connection. The discovery is cached (and forgotten when it fails or the port
   * stops answering).
   * @throws TorSocksError `TOR_SOCKS_NO_LISTENER` when tor has `SocksPort 0`;
   *   `TOR_SOCKS_UNREACHABLE` when tor cannot be asked and no usual port answers; `TOR_SOCKS_CLOSED`
   *   after {@link close}
   * @throws TorAbortError, TorTimeoutError
   */
  async socksAddress(opts: CancelOptions = {}): Promise<{ host: string; port: number } | { path: string }> {
    // A JavaScript caller's null means no options, as undefined does (as for resolve and fetch).
    opts ??= {};
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'socksAddress');
    // "Later calls fail" (close): a closed client must not go probing 9050 and 9150 either.
    this.assertOpen();
    const address = await cancellable("finding tor's SOCKS port", opts, (signal) => this.resolveAddress({}, signal), () => undefined, this.#stop.signal);
    return { ...address };
  }

  /**
   * Opens a TCP stream through tor to `target` and resolves once tor reports it connected (and,
   * with `tls`, once the TLS handshake with the target is done).
   * @param target `{ host, port }`: an IPv4/IPv6 literal (brackets allowed), a hostname or a
   *   `.onion` address
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad target, port, credentials or `tls` (no I/O done)
   * @throws TorSocksError: tor's reply as a code with `reply` (`TOR_SOCKS_CONNECTION_REFUSED`,
   *   `TOR_SOCKS_HOST_UNREACHABLE`, `TOR_SOCKS_TTL_EXPIRED`, `TOR_SOCKS_ONION_NOT_FOUND`, ...),
   *   or `TOR_SOCKS_UNREACHABLE`, `TOR_SOCKS_NO_LISTENER`, `TOR_SOCKS_TIMEOUT`,
   *   `TOR_SOCKS_AUTH_FAILED`, `TOR_SOCKS_PROTOCOL`, `TOR_SOCKS_CLOSED`, `TOR_SOCKS_TLS_FAILED`
   * @throws TorAbortError (`TOR_ABORTED`), TorTimeoutError (`TOR_TIMEOUT`)
   * @example const s = await socks.connect({ host: '127.0.0.1', port: 7 }, { timeoutMs: 30_000 });
   */
  async connect(target: { host: string; port: number }, opts: TorSocksConnectOptions = {}): Promise<net.Socket> {
    // A JavaScript caller's null means no options, as undefined does.
    opts ??= {};
    assertCallOptions(opts, CONNECT_OPTION_KEYS, 'connect');
    if (opts.beforeHandshake !== undefined && typeof opts.beforeHandshake !== 'function') throw new TorInvalidValueError('beforeHandshake', `must be a function, got ${kindOf(opts.beforeHandshake)}`);
    this.assertOpen();
    const parsed = parseSocksTarget(target);
    const credentials = socksCredentials(opts);
    checkSocksAddressOptions(opts);
    const tlsOptions = tlsOption(opts.tls);
    const what = `connect to ${describeTarget(parsed)} through tor`;
    return cancellable(
      what,
      opts,
      async (signal) => {
        const address = await this.resolveAddress(opts, signal);
        const socket = await this.openTo(address, opts, signal);
        // Until the handshake (or the caller) has its own listener, keep a socket error from
        // becoming an uncaught exception; the handshake reports the failure itself.
        const guard = (err: Error) => log('socket error before the SOCKS handshake: %s', err.message);
        socket.on('error', guard);
        try {
          if (opts.beforeHandshake) {
            await opts.beforeHandshake(socket);
            checkInnerSignal(signal);
          }
          await socksConnectHandshake(socket, parsed, credentials, { signal, handshakeTimeoutMs: this.handshakeTimeoutMs, what });
          if (!tlsOptions) return socket;
          return await startTls(socket, parsed, tlsOptions, signal, what);
        } catch (err) {
          socket.destroy();
          throw err;
        } finally {
          socket.off('error', guard);
        }
      },
      (socket) => socket.destroy(),
      this.#stop.signal,
    );
  }

  /**
   * Resolves a hostname to an IPv4/IPv6 address through tor (SOCKS RESOLVE, 0xF0): the exit does
   * the lookup, nothing is resolved locally. An IP literal is answered by tor as is.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a name that is not a valid hostname, or
   *   an `.onion` address (it has no IP address), before any I/O
   * @throws TorSocksError with `reply` (`TOR_SOCKS_HOST_UNREACHABLE` or `TOR_SOCKS_GENERAL_FAILURE`
   *   when the exit could not resolve the name, ...), or the connection-level codes of `connect`
   * @throws TorInvalidValueError, TorAbortError, TorTimeoutError
   * @example const ip = await socks.resolve('example.com');
   */
  resolve(name: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.lookup(SOCKS_CMD_RESOLVE, name, opts);
  }

  /**
   * Reverse-resolves an IPv4/IPv6 address to a hostname through tor (SOCKS RESOLVE_PTR, 0xF1).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `address` is not an IP literal
   * @throws TorSocksError, TorAbortError, TorTimeoutError as for {@link resolve}
   */
  resolvePtr(address: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.lookup(SOCKS_CMD_RESOLVE_PTR, address, opts);
  }

  /**
   * An agent for `http.request`/`http.get` (or, with `tls`, `https`) whose every connection goes
   * through tor (with `circuit`, over that circuit: see `HttpAgentOptions.circuit`). Destroyed by
   * {@link close}.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad option, or a `circuit` on a client
   *   without a Tor handle's live state
   * @example http.get('http://example.onion/', { agent: socks.httpAgent({ isolate: 'a' }) }, (res) => ...)
   */
  httpAgent(opts: HttpAgentOptions = {}): http.Agent {
    // A JavaScript caller's null means no options, as undefined does. A number where the options
    // go (a timeout, say) would otherwise be ignored without a word.
    opts ??= {};
    if (typeof opts !== 'object') throw new TorInvalidValueError('httpAgent options', `must be an object (isolate, keepAlive, tls...), got ${kindOf(opts)}`);
    assertKnownOptions(opts, AGENT_OPTION_KEYS, 'httpAgent');
    const nodeOptions: unknown = opts.agent;
    if (nodeOptions !== undefined && (nodeOptions === null || typeof nodeOptions !== 'object' || Array.isArray(nodeOptions))) {
      throw new TorInvalidValueError('httpAgent agent', `must be an object of http.Agent options (maxSockets, timeout...), got ${kindOf(nodeOptions)}`);
    }
    this.assertOpen();
    // Checked now so that a bad option fails here, not at the first request.
    socksCredentials(opts);
    assertTimeout(opts.connectTimeoutMs, 'connectTimeoutMs');
    // Node reads it as truthy: 'false' (from a config file, say) would keep connections open.
    if (opts.keepAlive !== undefined && typeof opts.keepAlive !== 'boolean') throw new TorInvalidValueError('keepAlive', `must be a boolean, got ${kindOf(opts.keepAlive)}`);
    const useTls = tlsOption(opts.tls) !== undefined;
    checkSocksAddressOptions(opts);
    if (opts.circuit !== undefined) this.assertCircuitOption(opts.circuit);
    const open = this.openerFor(opts.circuit);
    const classes = torAgentClasses();
    const agent = useTls ? new classes.https(open, opts) : new classes.http(open, opts);
    const ref = new WeakRef(agent);
    this.agents.add(ref);
    this.collectedAgents.register(agent, ref);
    if (opts.circuit !== undefined) this.agentCircuits.set(agent, circuitIdOf(opts.circuit));
    return agent;
  }

  /**
   * WHATWG `fetch` (undici 7) through tor. `init.isolate` (or `username`/`password`, as for
   * connect) puts the request on its own circuit; `socksPort`/`socksHostname` pick the SOCKS port;
   * `init.circuit` sends it over a chosen one (see `TorFetchInit.circuit`); `init.timeoutMs` limits the wait for the response headers (the stream through tor, TLS, the
   * request, redirects), not the reading of the body. Every failure of the returned promise is a
   * torcon error (never fetch's bare `TypeError: fetch failed`); errors while reading the body
   * afterwards are fetch's own (see `fetchThrough`).
   * @throws TorSocksError when the stream through tor fails
   * @throws TorCircuitError (`TOR_CIRCUIT_FAILED`) when the stream cannot go over `init.circuit`
   *   (as for `tor.connect(target, { circuit })`)
   * @throws TorAbortError (`TOR_ABORTED`) when `init.signal` aborts (its reason is the `cause`)
   * @throws TorTimeoutError (`TOR_TIMEOUT`) when the headers have not arrived within `init.timeoutMs`
   * @throws TorFetchError (`TOR_FETCH_FAILED`) when the request fails otherwise: the connection
   *   closed before a complete response, an answer that is not HTTP, a port fetch refuses (6667,
   *   10080...), too many redirects
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a URL, credentials, SOCKS port, `circuit`, `timeoutMs`,
   *   `signal` or request fetch cannot send; for an `.onion` URL with `circuit`
   * @example const res = await socks.fetch('http://example.onion/', { isolate: 'a', timeoutMs: 60_000 });
   */
  async fetch(input: string | URL, init: TorFetchInit = {}): Promise<Response> {
    this.assertOpen();
    // `null` is what some callers pass for "no options"; destructuring it would throw a TypeError.
    // A number where the options go (a timeout, say) would otherwise be ignored without a word.
    if (init !== undefined && init !== null && typeof init !== 'object') throw new TorInvalidValueError('fetch init', 'must be an object (RequestInit and isolate, username, password, socksPort, socksHostname, circuit, timeoutMs)');
    if (init) assertNoNearMiss(init, FETCH_NEAR_MISS_KEYS, 'fetch');
    const { isolate, username, password, socksPort, socksHostname, timeoutMs, circuit, ...rest } = init ?? {};
    // What every connection of this fetch is opened with; `rest` is fetch's own init.
    const stream = socksStreamOptions({ isolate, username, password, socksPort, socksHostname });
    socksCredentials(stream);
    checkSocksAddressOptions(stream);
    if (circuit !== undefined) {
      this.assertCircuitOption(circuit);
      // Refused before any I/O, as tor.connect refuses it. A URL that does not parse is left to
      // fetchThrough, which says what is wrong with it; a redirect to an onion service is refused
      // by the opener.
      const host = urlHostname(input);
      if (host !== undefined) refuseOnionOverCircuit(host);
    }
    assertTimeout(timeoutMs);
    // RequestInit allows `signal: null`; anything else must be an AbortSignal of this realm, the
    // only kind undici follows (it would refuse the request later, after a dispatcher was made).
    if (rest.signal !== null && rest.signal !== undefined && !(rest.signal instanceof AbortSignal)) {
      throw invalidSignal(rest.signal, 'fetch init.signal') ?? new TorInvalidValueError('fetch init.signal', 'must be an AbortSignal or null');
    }
    const callerSignal = rest.signal ?? undefined;
    // undici is loaded by the first fetch, not at import: it is the heaviest dependency, and a
    // program that never fetches should not carry it.
    const { createTorDispatcher, describeFetch, fetchThrough } = await import('./tor-fetch.js');
    this.assertOpen();
    // The timeout is a second reason to abort the request, merged with the caller's signal; it is
    // disarmed once the headers are in, so that it never cuts a body the caller is reading.
    let timer: NodeJS.Timeout | undefined;
    let timedOut: TorTimeoutError | undefined;
    let signal = callerSignal;
    if (timeoutMs !== undefined) {
      const deadline = new AbortController();
      timer = setTimeout(() => {
        timedOut = new TorTimeoutError(describeFetch(input), timeoutMs);
        deadline.abort(timedOut);
      }, timerDelay(timeoutMs));
      signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    } else if (callerSignal) {
      // undici puts an abort listener on the signal of each request and drops it only once the
      // request is garbage: on one signal shared by many fetches (an application's shutdown
      // signal, say), 1,500 fetches between two collections made Node warn of a listener leak.
      // A signal of this fetch's own that follows the caller's takes them instead (the caller's
      // holds it weakly).
      signal = AbortSignal.any([callerSignal]);
    }
    // With or without a signal, the request goes to the shared pool of its isolation and circuit:
    // a connection it opens is opened under its signal (see fetchThrough), and a kept one is reused.
    // The pool is looked up again for each redirect: the one the fetch started on may have been
    // closed meanwhile (see fetchThrough); after close(), the redirect fails as closed.
    const pool = () => {
      this.assertOpen();
      return this.dispatcherFor(createTorDispatcher, stream, circuit);
    };
    try {
      return await fetchThrough(pool, input, signal ? { ...rest, signal } : rest);
    } catch (err) {
      // The deadline passed (and the caller had not aborted first): whatever undici made of the
      // abort, or of the connect it cut short, the caller asked for a timeout and gets one.
      if (timedOut && !callerSignal?.aborted) throw timedOut;
      // close() destroyed the dispatcher under the request: say that, as every call after close()
      // does, rather than undici's "the client is destroyed". An abort by the caller stays an abort.
      if (this.closed && !(err instanceof TorError && (err.code === 'TOR_ABORTED' || err.code === 'TOR_INVALID_VALUE'))) {
        throw socksFailure('closed', 'fetch failed: this SOCKS client was closed (by its close(), or by closing the Tor handle that owns it) before the response arrived', err);
      }
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * Closes the connections kept for reuse by `fetch` and by this client's agents: idle ones at
   * once, busy ones when their request ends (the request itself goes on). A kept connection is a
   * stream through tor, and stays on its circuit: after a NEWNYM, requests must open new streams
   * to get new circuits.
   * @param circuitId only those of `fetch` calls and agents given this circuit (it closed: each of
   *   its connections is about to end, and a request must not be sent on one meanwhile); `null` is none
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a circuitId that is no string
   */
  closeKeptConnections(circuitId?: string | null): void {
    // A JavaScript caller's Circuit (not its id) or number would match nothing and close nothing, without a word.
    if (circuitId !== undefined && circuitId !== null && typeof circuitId !== 'string') {
      throw new TorInvalidValueError('circuitId', `must be a circuit id (a string such as circuit.id), got ${Array.isArray(circuitId) ? 'an array' : `a ${typeof circuitId}`}`);
    }
    circuitId ??= undefined;
    for (const ref of this.agents) {
      const agent = ref.deref();
      if (agent !== undefined && (circuitId === undefined || this.agentCircuits.get(agent) === circuitId)) agent.retireSockets();
    }
    for (const [key, pooled] of this.#dispatchers) {
      if (circuitId !== undefined && pooled.circuitId !== circuitId) continue;
      // close() lets the requests in flight finish; new requests get new dispatchers.
      pooled.dispatcher.close().catch(() => undefined);
      this.#dispatchers.delete(key);
    }
  }

  /** Destroys the agents and dispatchers this client created. Later calls fail. */
  close(): void {
    this.#stop.abort(socksFailure('closed', 'this SOCKS client was closed (by its close(), or by closing the Tor handle that owns it) before the stream was ready'));
    for (const ref of this.agents) ref.deref()?.destroy();
    this.agents.clear();
    for (const { dispatcher } of this.#dispatchers.values()) dispatcher.destroy().catch(() => undefined);
    this.#dispatchers.clear();
  }

  /** `close()`, for `using socks = new TorSocksClient(...)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Once close() was called. */
  private get closed(): boolean {
    return this.#stop.signal.aborted;
  }

  private assertOpen(): void {
    if (this.closed) throw socksFailure('closed', 'this SOCKS client is closed (by its close(), or by closing the Tor handle that owns it)');
  }

  /** Checks a `circuit` option: a Circuit or an id, on a client that can pin streams. */
  private assertCircuitOption(circuit: unknown): asserts circuit is Circuit | string {
    assertCircuitArgument(circuit);
    if (this.circuitOpener === undefined) {
      throw new TorInvalidValueError('circuit', "needs the live state of a Tor handle: use tor.fetch() or tor.httpAgent()");
    }
  }

  /** How the streams of a fetch or agent are opened: over `circuit` when given (checked before), else as tor chooses. */
  private openerFor(circuit: Circuit | string | undefined): TorStreamOpener {
    const viaCircuit = this.circuitOpener;
    if (circuit === undefined || viaCircuit === undefined) return (target, o) => this.connect(target, o);
    return (target, o) => {
      this.assertOpen();
      return viaCircuit(circuit, target, o);
    };
  }

  /**
   * The shared dispatcher of fetches with these stream options (isolation, SOCKS port) and circuit.
   * Each pool is one key's alone: a kept connection stays on the circuit it was opened on, so a
   * request must never get one opened for another token, other credentials, another circuit, or none.
   */
  private dispatcherFor(create: typeof CreateTorDispatcher, stream: TorSocksConnectOptions, circuit: Circuit | string | undefined): UndiciAgent {
    const circuitId = circuit === undefined ? undefined : circuitIdOf(circuit);
    // JSON: no token can be made to look like another key.
    const { isolate, username, password, socksPort, socksHostname } = stream;
    const key = JSON.stringify([isolate ?? null, username ?? null, password ?? null, socksPort ?? null, socksHostname ?? null, circuitId ?? null]);
    const found = this.#dispatchers.get(key);
    if (found) {
      // Most recently used last, so that the oldest is the one closed when there are too many.
      this.#dispatchers.delete(key);
      this.#dispatchers.set(key, found);
      return found.dispatcher;
    }
    const dispatcher = create(this.openerFor(circuit), stream);
    this.#dispatchers.set(key, { dispatcher, circuitId });
    if (this.#dispatchers.size > SOCKS_CLIENT_DEFAULTS.maxDispatchers) {
      const [oldestKey, oldest] = this.#dispatchers.entries().next().value as [string, PooledDispatcher];
      this.#dispatchers.delete(oldestKey);
      // close() lets requests in flight finish.
      oldest.dispatcher.close().catch(() => undefined);
    }
    return dispatcher;
  }

  private async lookup(command: ResolveCommand, value: string, opts: TorResolveOptions): Promise<string> {
    // A JavaScript caller's null means no options, as undefined does.
    opts ??= {};
    assertCallOptions(opts, RESOLVE_OPTION_KEYS, command === SOCKS_CMD_RESOLVE ? 'resolve' : 'resolvePtr');
    this.assertOpen();
    const target = parseSocksHost(value, command === SOCKS_CMD_RESOLVE ? 'name' : 'address');
    if (command === SOCKS_CMD_RESOLVE_PTR && target.addressType === 3) {
      throw new TorInvalidValueError('address', 'RESOLVE_PTR needs an IPv4 or IPv6 address');
    }
    // tor answers a RESOLVE of an onion address with "host unreachable" at once, which reads as
    // an exit that could not find the name; an onion service simply has no address to give.
    if (command === SOCKS_CMD_RESOLVE && isOnionHostname(target.host)) {
      throw new TorInvalidValueError('name', 'is an onion address, which has no IP address to resolve: connect to it instead');
    }
    const credentials: SocksCredentials | undefined = socksCredentials(opts);
    checkSocksAddressOptions(opts);
    const what = `${command === SOCKS_CMD_RESOLVE ? 'RESOLVE' : 'RESOLVE_PTR'} ${target.host} through tor`;
    return cancellable(
      what,
      opts,
      async (signal) => {
        const address = await this.resolveAddress(opts, signal);
        const socket = await this.openTo(address, opts, signal);
        const onAbort = () => socket.destroy();
        signal.addEventListener('abort', onAbort, { once: true });
        let timer: NodeJS.Timeout | undefined;
        try {
          const exchange = socksResolveExchange(socket, command, target, credentials, what);
          if (opts.timeoutMs !== undefined) return await exchange;
          // Without a caller timeout, a tor that never answers must still not hang us forever.
          exchange.catch(() => undefined);
          const limit = this.handshakeTimeoutMs;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(socksFailure('timeout', `${what} failed: tor did not answer within ${limit} ms`)), timerDelay(limit));
          });
          return await Promise.race([exchange, timeout]);
        } finally {
          if (timer) clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
        }
      },
      () => undefined,
      this.#stop.signal,
    );
  }

  /**
   * Opens the socket to tor's SOCKS port. A discovered address that stopped answering is
   * forgotten and tor asked again: when it names another port, this call tries that one.
   */
  private async openTo(address: SocksAddress, opts: { socksPort?: number | string; socksHostname?: string }, signal: AbortSignal): Promise<net.Socket> {
    try {
      return await openSocksSocket(address, signal);
    } catch (err) {
      const discovered = opts.socksPort === undefined && this.fixedAddress === undefined;
      if (!discovered || !(err instanceof TorError) || err.code !== SOCKS_FAILURE_CODES.unreachable) throw err;
      // tor may have moved its SocksPort (SETCONF, or a restart with SocksPort auto): the call
      // that meets the move would otherwise fail although tor says where it is now.
      this.discovered = undefined;
      const now = await this.resolveAddress(opts, signal).catch(() => undefined);
      // Not asked (the connection is closed), or the same place: the refusal is the answer.
      if (now === undefined || describeSocksAddress(now) === describeSocksAddress(address)) throw err;
      log('SOCKS port moved from %s to %s', describeSocksAddress(address), describeSocksAddress(now));
      return await openSocksSocket(now, signal).catch((again: unknown) => {
        if (again instanceof TorError && again.code === SOCKS_FAILURE_CODES.unreachable) this.discovered = undefined;
        throw again;
      });
    }
  }

  /** The address for one call: per-call option, constructor option, else discovery. */
  private resolveAddress(opts: { socksPort?: number | string; socksHostname?: string }, signal: AbortSignal): Promise<SocksAddress> {
    if (opts.socksPort !== undefined) return Promise.resolve(parseSocksPortOption(opts.socksPort, opts.socksHostname));
    const withHost = (a: SocksAddress): SocksAddress =>
      atHost(a, opts.socksHostname !== undefined ? parseSocksHostname(opts.socksHostname) : this.socksHostname);
    // The call's socksHostname is the host of the client's port as it is of a discovered one.
    if (this.fixedAddress !== undefined) return Promise.resolve(withHost(this.fixedAddress));
    const discovered = (this.discovered ??= this.discover());
    // The shared discovery runs without this caller's signal: one caller's abort must not fail the
    // others. This caller stops waiting when its own signal fires.
    return new Promise<SocksAddress>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      discovered.then(
        (a) => {
          signal.removeEventListener('abort', onAbort);
          try {
            resolve(withHost(a));
          } catch (err) {
            reject(err);
          }
        },
        (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private discover(): Promise<SocksAddress> {
    const attempt = this.discoverOnce();
    attempt.catch(() => {
      if (this.discovered === attempt) this.discovered = undefined;
    });
    return attempt;
  }

  private async discoverOnce(): Promise<SocksAddress> {
    let why = 'no control connection';
    if (this.control) {
      try {
        // The raw reply, not getInfo(): the value is a list of quoted strings, and unquoting it as
        // one string would glue the first and last items to their neighbours.
        const reply = await this.control.command('GETINFO net/listeners/socks', { timeoutMs: SOCKS_CLIENT_DEFAULTS.discoveryTimeoutMs });
        const value = listenersValue(reply);
        const listeners = parseSocksListeners(value);
        if (listeners.length === 0) {
          throw socksFailure(
            'noListener',
            'tor has no SOCKS listener (SocksPort 0): give tor a SocksPort (e.g. SETCONF SocksPort=auto) or pass socksPort',
          );
        }
        log('tor listens for SOCKS on %s', listeners.map(describeSocksAddress).join(', '));
        return listeners[0]!;
      } catch (err) {
        // tor answered but without listeners: that is the answer, not a reason to guess.
        if (err instanceof TorError && err.code === SOCKS_FAILURE_CODES.noListener) throw err;
        if (!(err instanceof TorError)) throw err;
        // This client's tor is gone (its control connection closed): whatever listens on 9050
        // or 9150 is another tor, maybe one on another network (a system tor beside a test
        // network), which the caller never chose. The usual ports are for a tor that cannot say
        // where it listens, not for one that is no longer there.
        if (err instanceof TorControlClosedError) {
          throw socksFailure('unreachable', `cannot find tor's SOCKS port: the control connection to tor is closed (${err.message}); reconnect, or pass socksPort`, err);
        }
        // Only a refusal (tor answered with an error status: a control-port filter, say) means tor
        // cannot say; a tor that did not answer in time, or answered something else, is still this
        // client's tor, and the usual ports may be another one's, as above.
        if (!(err instanceof TorControlError)) {
          throw socksFailure('unreachable', `cannot find tor's SOCKS port: GETINFO net/listeners/socks failed (${err.message}); try again, or pass socksPort`, err);
        }
        why = `GETINFO net/listeners/socks failed: ${err.message}`;
        log('%s; trying the usual SOCKS ports', why);
      }
    }
    // Probed where the streams will go: the client's socksHostname replaces 127.0.0.1 (it used to
    // apply only after a probe of 127.0.0.1, which checked one address and used another).
    const candidates = this.fallback.map((a) => atHost(a, this.socksHostname));
    for (const candidate of candidates) {
      const probe = AbortSignal.timeout(SOCKS_CLIENT_DEFAULTS.probeTimeoutMs);
      try {
        const socket = await openSocksSocket(candidate, probe);
        socket.destroy();
        return candidate;
      } catch {
        /* try the next one */
      }
    }
    throw socksFailure(
      'unreachable',
      `cannot find tor's SOCKS port (${why}) and nothing accepts connections on ${candidates.map(describeSocksAddress).join(' or ') || '(no fallback ports)'}; pass socksPort`,
    );
  }
}

/**
 * Checks a call's own `socksPort`/`socksHostname` before any I/O: a `socksHostname` alone is
 * otherwise read only once the SOCKS port was found (it replaces that port's host).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
function checkSocksAddressOptions(opts: { socksPort?: unknown; socksHostname?: unknown }): void {
  if (opts.socksPort !== undefined) parseSocksPortOption(opts.socksPort as number | string, opts.socksHostname as string | undefined);
  else if (opts.socksHostname !== undefined) parseSocksHostname(opts.socksHostname as string);
}

/** A shared fetch dispatcher, and the circuit its connections are pinned to, if any. */
interface PooledDispatcher {
  dispatcher: UndiciAgent;
  circuitId: string | undefined;
}

/**
 * The TLS options of a `tls` option: `true` is TLS with the defaults, an object is TLS with those
 * options, `false`, `null` or `undefined` is none. Anything else is refused rather than read as
 * truthy or falsy: `tls: 'true'` (a value from a config file, say) used to give a plaintext stream.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`, field `tls`)
 */
function tlsOption(value: unknown): tls.ConnectionOptions | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return value as tls.ConnectionOptions;
  throw new TorInvalidValueError('tls', `must be true, false or TLS options (an object), got ${kindOf(value)}`);
}

/** The host of a fetch's URL, or undefined when it is no URL (fetchThrough then says so). */
function urlHostname(input: unknown): string | undefined {
  try {
    return input instanceof URL ? input.hostname : typeof input === 'string' ? new URL(input).hostname : undefined;
  } catch {
    return undefined;
  }
}

/** The raw value of `net/listeners/socks` in a GETINFO reply (one line, or a data block). */
function listenersValue(reply: ControlReply): string {
  for (const line of reply.lines) {
    const prefix = 'net/listeners/socks=';
    if (!line.text.toLowerCase().startsWith(prefix)) continue;
    return line.separator === '+' ? (line.data ?? '') : line.text.slice(prefix.length);
  }
  throw new TorProtocolError('GETINFO net/listeners/socks: the reply has no value for the key');
}
