import type http from 'node:http';
import type net from 'node:net';
import { inspect } from 'node:util';
import type { TorControl } from '../control/tor-control.js';
import type { MapAddressMappings, MappedAddress } from '../control/map-address.js';
import type { OnionServiceOptions } from '../onion/onion-types.js';
import type { TorOnionService } from '../onion/onion-service.js';
import { OnionServiceManager, type OnionClientAuth, type OnionClientAuthAddOptions } from '../onion/onion-service-manager.js';
import type { OnionServiceInfo } from '../onion/onion-inventory.js';
import { fetchOnionDescriptor, type FetchOnionDescriptorOptions, type OnionDescriptor } from '../onion/descriptor-fetch.js';
import type { LaunchedTor } from '../process/launch-tor.js';
import type { TorConnectOptions } from '../socks/socks-types.js';
import { TorSocksClient, type HttpAgentOptions, type TorFetchInit, type TorResolveOptions } from '../socks/tor-socks-client.js';
import type { TorSocksConnectOptions } from '../socks/socks-options.js';
import { refuseOnionOverCircuit } from '../socks/circuit-pin.js';
import { streamHandoff } from '../state/stream-handoff.js';
import { TorState, assertCircuitArgument, invalidStateOptions, type Circuit, type TorStateOptions } from '../state/tor-state.js';
import { TorConfig } from '../config/tor-config.js';
import { createGeoIp, lazyGeoIp } from '../geoip/create-geoip.js';
import { retryable } from '../util/retryable.js';
import { cancelBudget, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, assertCallOptions, invalidCallOptions, optionKeys } from '../util/known-options.js';
import { TorAbortError, TorControlClosedError } from '../errors.js';
import { parseTorTarget } from './tor-target.js';
import { compareTorVersions } from '../util/tor-version.js';
import { readTorStatus, type TorStatus } from './tor-status.js';
import { requestNewIdentity } from './new-identity.js';
import { readBootstrapProgress, waitForBootstrap, type BootstrapProgress, type WaitForBootstrapOptions } from '../process/bootstrap.js';

/** Options of {@link Tor.connect}. */
export interface TorStreamOptions extends TorConnectOptions {
  /** Send the stream over this circuit (needs the live state; see `TorState.setAttacher`). */
  circuit?: Circuit | string;
}

/**
 * The keys each call takes (see optionKeys): in JavaScript a misspelt one (`isolaton`, `timeout`)
 * would otherwise be ignored, and the call would run without the isolation or limit it was given.
 */
const STREAM_OPTION_KEYS = optionKeys<TorStreamOptions>({
  socksPort: true, socksHostname: true, tls: true, isolate: true, username: true, password: true, signal: true, timeoutMs: true, circuit: true,
});
const STATE_OPTION_KEYS = optionKeys<CancelOptions & Pick<TorStateOptions, 'geoip' | 'clock'>>({ signal: true, timeoutMs: true, geoip: true, clock: true });
const CLIENT_AUTH_OPTION_KEYS = optionKeys<OnionClientAuthAddOptions>({ signal: true, timeoutMs: true, clientName: true, permanent: true });
const DESCRIPTOR_OPTION_KEYS = optionKeys<FetchOnionDescriptorOptions>({ signal: true, timeoutMs: true, servers: true });
const BOOTSTRAP_OPTION_KEYS = optionKeys<WaitForBootstrapOptions>({ signal: true, timeoutMs: true, onProgress: true });

/** A rejection for options a call refuses (see invalidCallOptions), or undefined. */
function refusedOptions(opts: unknown, keys: readonly string[], what: string): Promise<never> | undefined {
  const invalid = invalidCallOptions(opts, keys, what);
  return invalid === undefined ? undefined : Promise.reject(invalid);
}

/** How a `Tor` was obtained; set by `connectTor`/`launchTor`. */
export interface TorInit {
  version: string;
  /** The control endpoint string we are connected to. */
  controlEndpoint: string;
  /** Set when torcon launched this tor and owns its process. */
  launched?: LaunchedTor;
}

/**
 * A handle on one tor: its control connection, and (lazily) its live state, its configuration, SOCKS
 * connections through it, DNS through it and onion services on it. Get one with `connectTor()` or
 * `launchTor()`.
 */
export class Tor {
  /** The control protocol connection. */
  readonly control: TorControl;
  /** tor's version, e.g. `0.4.9.11`. */
  readonly version: string;
  /** pid of the tor process when torcon launched it. */
  readonly pid?: number;
  /** The control endpoint string this handle is connected to. */
  readonly controlEndpoint: string;
  private readonly launched?: LaunchedTor;
  /** The state being built or built, shared by getState's callers. */
  private stateBuild?: StateBuild;
  private configPromise?: Promise<TorConfig>;
  /** Stops the TorConfig build under way when the handle closes (see getConfig). */
  private configBuildAbort?: AbortController;
  /** What configPromise resolved to, once it has: a closed one is not handed out again. */
  private config?: TorConfig;
  private socksClient?: TorSocksClient;
  private onions?: OnionServiceManager;
  private closing?: Promise<void>;
  /** The states whose closing circuits retire the kept connections pinned to them (see connectOverCircuit). */
  private readonly watchedStates = new WeakSet<TorState>();

  constructor(control: TorControl, init: TorInit) {
    this.control = control;
    this.version = init.version;
    this.controlEndpoint = init.controlEndpoint;
    if (init.launched) {
      this.launched = init.launched;
      this.pid = init.launched.pid;
    }
  }

  /**
   * Whether this tor is `minimum` or newer, in tor's own order (see `compareTorVersions`): for a
   * feature that only newer tors have, asked before relying on it. No I/O: the version was read
   * when the handle connected.
   * @param minimum - a version such as `0.4.8` or `0.4.8.12`; a missing fourth number is 0
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `minimum` is no tor version
   * @example if (!tor.versionAtLeast('0.4.8.1')) throw new Error('proof-of-work defences need tor 0.4.8.1 or later');
   */
  versionAtLeast(minimum: string): boolean {
    return compareTorVersions(this.version, minimum) >= 0;
  }

  /**
   * The live state (routers, circuits, streams, address maps), built on first use (and again after
   * it was closed). Calls made while it is being built share that build; each call's `signal` and
   * `timeoutMs` bound only its own wait, and the build itself stops only when every caller waiting
   * for it has given up. `geoip` and `clock` are those of the call that starts the build.
   * `Router.location()` uses
   * `opts.geoip`, else a MaxMind database when one is installed, else tor's own GeoIP table
   * (looked up lazily, on the first location asked for). `opts.clock` is what address-map expiry
   * is judged by (for tests; default: the system clock).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad cancel options, a `clock` that is no
   *   function or a `geoip` without a `lookup` method, on every call (also once the state is built)
   */
  getState(opts: CancelOptions & Pick<TorStateOptions, 'geoip' | 'clock'> = {}): Promise<TorState> {
    // A JavaScript caller's null means no options, as undefined does (so for the methods below).
    opts ??= {};
    // Before a build starts (or a built state is handed out): a bad timeout, clock or geoip is
    // refused every time.
    const invalid = invalidCallOptions(opts, STATE_OPTION_KEYS, 'tor.getState') ?? invalidStateOptions(opts);
    if (invalid) return Promise.reject(invalid);
    let build = this.stateBuild;
    if (build === undefined) build = this.startStateBuild(opts);
    // A signal already aborted is refused even when the answer is ready, as every call refuses it.
    if (build.settled) return opts.signal?.aborted ? Promise.reject(new TorAbortError('building the Tor state', { cause: opts.signal.reason })) : build.promise;
    const shared = build;
    shared.waiting++;
    const mine = raceCancel(shared.promise, 'building the Tor state', opts);
    const leave = () => {
      shared.waiting--;
      if (shared.waiting > 0 || shared.settled) return;
      // Everyone who wanted it gave up: stop building, and let the next call start afresh.
      if (this.stateBuild === shared) this.stateBuild = undefined;
      shared.abort.abort(new TorAbortError('building the Tor state'));
    };
    mine.then(leave, leave);
    return mine;
  }

  private startStateBuild(opts: Pick<TorStateOptions, 'geoip' | 'clock'>): StateBuild {
    const geoip = opts.geoip ?? lazyGeoIp(() => createGeoIp(this.control));
    const abort = new AbortController();
    const create = TorState.create(this.control, { geoip, ...(opts.clock ? { clock: opts.clock } : {}), signal: abort.signal }).catch(
      (err: unknown) => {
        // Stopped by tor.close(): whoever waits hears that the handle closed, not of an abort of theirs.
        if (abort.signal.reason instanceof TorControlClosedError) throw abort.signal.reason;
        throw err;
      },
    );
    const build: StateBuild = { promise: create, abort, waiting: 0, settled: false };
    const forget = () => {
      if (this.stateBuild === build) this.stateBuild = undefined;
    };
    create.then(
      (state) => {
        build.settled = true;
        // A state closed by its user follows tor no more: the next getState() builds a new one.
        state.once('close', forget);
      },
      () => {
        build.settled = true;
        forget();
      },
    );
    this.stateBuild = build;
    return build;
  }

  /**
   * The live configuration, built on first use, and again after it was closed (by its `close()`,
   * or with the control connection: then building a new one fails with TorControlClosedError).
   * Callers share one build; each call's `signal` and `timeoutMs` bound only its own wait.
   */
  getConfig(opts: CancelOptions = {}): Promise<TorConfig> {
    opts ??= {};
    const invalid = invalidCallOptions(opts, CANCEL_OPTION_KEYS, 'tor.getConfig');
    if (invalid) return Promise.reject(invalid);
    if (this.config?.closed) {
      this.config = undefined;
      this.configPromise = undefined;
    }
    if (this.configPromise === undefined) {
      // Without the caller's options: another caller may wait for the same build longer. Only
      // close() stops it: it must not wait for an answer a silent tor never gives.
      const abort = new AbortController();
      this.configBuildAbort = abort;
      const create = TorConfig.create(this.control, { signal: abort.signal }).catch((err: unknown) => {
        // Stopped by tor.close(): whoever waits hears that the handle closed, as for getState().
        if (abort.signal.reason instanceof TorControlClosedError) throw abort.signal.reason;
        throw err;
      });
      const building = retryable(create, () => {
        if (this.configPromise === building) this.configPromise = undefined;
      });
      building.then(
        (config) => {
          if (this.configPromise === building) this.config = config;
        },
        () => undefined,
      );
      this.configPromise = building;
    }
    return raceCancel(this.configPromise, 'reading the Tor configuration', opts);
  }

  /**
   * The SOCKS side of this tor (ports discovered from tor itself). Its `fetch` and `httpAgent` pin
   * streams to a chosen circuit through this handle, which owns the live state.
   */
  get socks(): TorSocksClient {
    if (this.socksClient === undefined) {
      this.socksClient = new TorSocksClient(this.control, {
        circuitOpener: (circuit, target, opts) => this.connectOverCircuit(circuit, target, opts),
      });
      // A kept connection is a stream on a circuit chosen before: after an attacher is set,
      // replaced or cleared, requests must open new streams for the choice now in place to count.
      streamHandoff(this.control).onAttacherChange(() => this.socksClient?.closeKeptConnections());
    }
    return this.socksClient;
  }

  private get onionServices(): OnionServiceManager {
    return (this.onions ??= new OnionServiceManager(this.control));
  }

  /**
   * Opens a TCP stream through tor. Hostnames are resolved by tor (never locally).
   * @param target `host:port`, `[v6]:port`, a `tor:` endpoint string, or `{ host, port }`
   * @throws TorSocksError (codes `TOR_SOCKS_*`) when tor cannot connect
   * @throws TorCircuitError when `circuit` does not exist, closed, is an onion-service protocol
   *   circuit (purpose `HS_CLIENT_INTRO`, `HS_SERVICE_REND`, ...) or one tor keeps for itself
   *   (`HS_VANGUARDS`, `CONFLUX_UNLINKED`, `CIRCUIT_PADDING`, ...), was not built in time, or tor
   *   would not put the stream on it (tor's refusal as the `cause`), or the stream failed on it
   *   (`reason`/`remoteReason`: tor's REASON/REMOTE_REASON for the stream; the TorSocksError as
   *   the `cause`)
   * @throws TorInvalidValueError for a `circuit` that is neither a Circuit nor an id, or with an `.onion`
   *   target (tor chooses those circuits), or for options that are no object (a timeout in their place)
   * @example const socket = await tor.connect('example.onion:80');
   */
  async connect(target: string | { host: string; port: number }, opts: TorStreamOptions = {}): Promise<net.Socket> {
    // Before the merge, which would take a number (a timeout where the options go) for no options.
    assertCallOptions(opts, STREAM_OPTION_KEYS, 'tor.connect');
    const parsed = typeof target === 'string' ? parseTorTarget(target) : { target, options: {} };
    const merged: TorStreamOptions = { ...parsed.options, ...opts };
    // Checked here too, not only by the SOCKS client: with `circuit`, the state may be built first.
    assertCallOptions(merged, STREAM_OPTION_KEYS, 'tor.connect');
    const { circuit, ...socksOptions } = merged;
    if (circuit === undefined) return this.socks.connect(parsed.target, socksOptions);
    return this.connectOverCircuit(circuit, parsed.target, socksOptions);
  }

  /**
   * A stream to `target` over `circuit` (the live state pins it): `connect` with `circuit`, and
   * every stream of `fetch`/`httpAgent` with `circuit`. `opts.signal`/`opts.timeoutMs` bound the
   * whole of it. Errors: see {@link connect}.
   */
  private async connectOverCircuit(
    circuit: unknown,
    target: { host: string; port: number },
    opts: Omit<TorSocksConnectOptions, 'beforeHandshake'>,
  ): Promise<net.Socket> {
    // Checked before getState(), which may build a whole state first.
    assertCircuitArgument(circuit);
    refuseOnionOverCircuit(target.host);
    // One budget for the whole call: building the state first (the whole consensus read) and
    // waiting for the circuit count against it, or a slow tor would hold the caller past it.
    const remaining = cancelBudget({ signal: opts.signal, timeoutMs: opts.timeoutMs });
    const state = await this.getState(remaining());
    this.retireKeptConnectionsOnClose(state);
    return state.connectVia(circuit, (beforeHandshake) => this.socks.connect(target, { ...opts, ...remaining(), beforeHandshake }), remaining());
  }

  /**
   * Once per state: when a circuit closes, the kept connections of fetch and agents pinned to it
   * are closed. tor ends their streams too, but its word may come after the state's event, and a
   * request sent meanwhile on such a connection would fail as a connection cut short instead of
   * opening a new stream, which is refused with the TorCircuitError the caller expects.
   */
  private retireKeptConnectionsOnClose(state: TorState): void {
    if (this.watchedStates.has(state)) return;
    this.watchedStates.add(state);
    state.on('circuitClosed', (c) => this.socksClient?.closeKeptConnections(c.id));
  }

  /**
   * Creates an onion service (ADD_ONION, or HiddenServiceDir with `hiddenServiceDir`). The
   * service's `'lost'` event says when tor removed an ephemeral one because this connection ended.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an invalid option, before any I/O (the
   *   same values in an `onion:` endpoint string are `TOR_ENDPOINT_ARGUMENT`, as the grammar's errors)
   * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) when a named file or directory is not
   *   what it must be (a key file holding no key, a hiddenServiceDir tor would refuse, a client-auth file)
   * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when tor refuses the service or no upload succeeds in time
   * @throws EndpointListenError (`TOR_ENDPOINT_LISTEN`), TorAbortError (`TOR_ABORTED`), TorTimeoutError (`TOR_TIMEOUT`) for `timeoutMs`, TorControlClosedError
   */
  createOnionService(opts: OnionServiceOptions): Promise<TorOnionService> {
    return this.onionServices.create(opts);
  }

  /** Lets this tor reach a v3 service that requires client authorization (ONION_CLIENT_AUTH_ADD). */
  addOnionClientAuth(onion: string, privateKey: string, opts: OnionClientAuthAddOptions = {}): Promise<void> {
    return refusedOptions(opts, CLIENT_AUTH_OPTION_KEYS, 'tor.addOnionClientAuth') ?? this.onionServices.addClientAuth(onion, privateKey, opts);
  }

  /** ONION_CLIENT_AUTH_REMOVE. */
  removeOnionClientAuth(onion: string, opts: CancelOptions = {}): Promise<void> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.removeOnionClientAuth') ?? this.onionServices.removeClientAuth(onion, opts);
  }

  /** ONION_CLIENT_AUTH_VIEW: the client-auth credentials tor holds. */
  listOnionClientAuth(opts: CancelOptions = {}): Promise<OnionClientAuth[]> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.listOnionClientAuth') ?? this.onionServices.listClientAuth(opts);
  }

  /**
   * The ADD_ONION services tor runs that this connection may see: those created on it (by
   * `createOnionService`/`listen(server, "onion:...")` on this handle, not detached) and the
   * detached ones of every connection (`detach: true`), which outlive the process that made them.
   * `HiddenServiceDir` services are in `(await tor.getConfig()).hiddenServices()` instead.
   * @example
   * for (const s of await tor.listOnionServices()) if (s.detached) console.log(s.hostname);
   */
  listOnionServices(opts: CancelOptions = {}): Promise<OnionServiceInfo[]> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.listOnionServices') ?? this.onionServices.list(opts);
  }

  /**
   * Removes an ADD_ONION service by address (`<56 chars>.onion` or the bare id): one of this
   * handle's, or a detached one, e.g. left by an earlier run of the process. A service this handle
   * created is closed as by its own `close()`, its local listener included.
   * @returns true when it was removed; false when tor has no such service that this connection
   *   may remove (unknown, already gone, or another connection's own)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything but a v3 onion address (nothing sent)
   * @example
   * await tor.removeOnionService('pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion');
   */
  removeOnionService(onion: string, opts: CancelOptions = {}): Promise<boolean> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.removeOnionService') ?? this.onionServices.remove(onion, opts);
  }

  /**
   * Fetches a v3 onion service's descriptor from the HSDirs (HSFETCH), without connecting to the
   * service: the way to check that it is published, and to read its descriptor (`descriptor`, the
   * raw text; `version`, `lifetimeMinutes`, `revisionCounter` from its plain-text outer layer;
   * `hsDir`, the fingerprint of the directory that answered). tor asks each HSDir about a service
   * at most once per requery period (15 minutes): when it asks none, the answer is the descriptor in
   * tor's client cache (`source: 'cache'`, no `hsDir`), if it has one. `servers` asks those HSDirs
   * (fingerprints) instead of one tor picks. Default timeout: 120 s. Fetches of the same service on
   * one handle run one after the other (tor's events do not say which fetch they answer).
   * @throws TorOnionDescriptorNotFoundError (`TOR_ONION_NOT_FOUND`) when every HSDir asked had no
   *   descriptor (`attempts`: each HSDir with tor's REASON, e.g. `NOT_FOUND`), or tor asked none
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything but a v3 address or a
   *   `servers` entry that is no fingerprint (nothing sent), or whose key tor finds is no ed25519
   *   point (tor's 513 as `cause`); TorControlError (e.g. 552 for an
   *   unknown server), TorTimeoutError, TorAbortError, TorControlClosedError
   * @example
   * const { hsDir, revisionCounter } = await tor.fetchOnionDescriptor('pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion');
   */
  fetchOnionDescriptor(onion: string, opts: FetchOnionDescriptorOptions = {}): Promise<OnionDescriptor> {
    return refusedOptions(opts, DESCRIPTOR_OPTION_KEYS, 'tor.fetchOnionDescriptor') ?? fetchOnionDescriptor(this.control, onion, opts);
  }

  /**
   * Resolves a hostname through tor (SOCKS RESOLVE): no local DNS query. `opts` takes `isolate`
   * (or `username`/`password`) like connect, besides `signal` and `timeoutMs`.
   */
  resolve(name: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.socks.resolve(name, opts);
  }

  /** Reverse-resolves an IPv4/IPv6 address through tor (SOCKS RESOLVE_PTR); options as for {@link resolve}. */
  resolvePtr(address: string, opts: TorResolveOptions = {}): Promise<string> {
    return this.socks.resolvePtr(address, opts);
  }

  /**
   * MAPADDRESS: connections to each original address go to its replacement from now on; an
   * address mapped to itself loses its mapping; `0.0.0.0`, `::0` or `.` as the original address
   * lets tor choose one (returned). The live state, if built, shows the result once this resolves.
   * See {@link TorControl.mapAddress} for the details and errors.
   * @example const [{ address }] = await tor.mapAddress([['0.0.0.0', 'example.onion']]);
   */
  mapAddress(mappings: MapAddressMappings, opts: CancelOptions = {}): Promise<MappedAddress[]> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.mapAddress') ?? this.control.mapAddress(mappings, opts);
  }

  /**
   * An http.Agent (https with `opts.tls`) whose requests go through tor; with `opts.circuit`, every
   * connection over that circuit (errors as for {@link connect} with `circuit`, on the request).
   * @example
   * const agent = tor.httpAgent({ circuit, keepAlive: true });
   * http.get('http://example.com/', { agent }, (res) => res.pipe(process.stdout));
   */
  httpAgent(opts: HttpAgentOptions = {}): http.Agent {
    return this.socks.httpAgent(opts);
  }

  /**
   * WHATWG fetch through tor (an undici dispatcher over our SOCKS connection). `init` is fetch's,
   * plus `isolate` (a circuit of its own; or `username`/`password`), `socksPort`/`socksHostname`,
   * `circuit` (a chosen circuit, as for {@link connect}) and
   * `timeoutMs` (limits the wait for the response headers: `TorTimeoutError`, code `TOR_TIMEOUT`;
   * the body is read without a limit). Rejects only with torcon errors: TorSocksError,
   * TorCircuitError, TorAbortError, TorTimeoutError, TorFetchError, TorInvalidValueError (see
   * `TorSocksClient.fetch`).
   * @example const res = await tor.fetch('http://example.onion/', { timeoutMs: 60_000 });
   */
  fetch(input: string | URL, init?: TorFetchInit): Promise<Response> {
    return this.socks.fetch(input, init);
  }

  /**
   * SIGNAL NEWNYM: new circuits for streams opened from now on. Resolves once tor has applied it:
   * tor applies at most one NEWNYM every 10 seconds and defers one asked for sooner (while answering
   * OK at once), so this can take up to 10 s. `timeoutMs`/`signal` bound the whole wait.
   * The keep-alive connections of `fetch` and of `httpAgent()` agents are closed too (idle ones at
   * once, busy ones when their request ends): each is a stream that stays on its old circuit, and
   * later requests would have gone out through the old exit.
   * @throws TorTimeoutError, TorAbortError, TorControlError, TorControlClosedError
   */
  async newIdentity(opts: CancelOptions = {}): Promise<void> {
    opts ??= {};
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'tor.newIdentity');
    // Refused before anything happens: the kept connections below are closed only for a request made.
    throwIfAborted(opts.signal, 'NEWNYM');
    try {
      await requestNewIdentity(this.control, opts);
    } finally {
      // Also when the wait was cut short: tor may have applied it, and closing costs only a reconnect.
      this.socksClient?.closeKeptConnections();
    }
  }

  /**
   * Where tor is in its bootstrap (`GETINFO status/bootstrap-phase`): `percent` (100 once it can
   * carry traffic), tor's `tag` and `summary` of the step, and `warning`/`reason` when the last
   * thing tor reported there was a problem.
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when tor's answer is no bootstrap status
   * @example
   * const { percent, summary } = await tor.bootstrapProgress();
   */
  bootstrapProgress(opts: CancelOptions = {}): Promise<BootstrapProgress> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.bootstrapProgress') ?? readBootstrapProgress(this.control, opts);
  }

  /**
   * What tor says of itself now, typed, in one round trip: version, pid, user, uptime, bytes read
   * and written, bootstrap progress, whether it has a circuit and enough directory information,
   * whether it believes the network is up, whether it is dormant or hibernating. For health checks
   * and dashboards (`torcon status` prints it).
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when an answer is not in the spec's form;
   *   TorTimeoutError, TorAbortError for `opts`; TorControlClosedError
   * @example
   * const s = await tor.getStatus();
   * if (!s.circuitEstablished) console.warn(`tor has no circuit yet (${s.bootstrap.percent}%: ${s.bootstrap.summary})`);
   */
  getStatus(opts: CancelOptions = {}): Promise<TorStatus> {
    return refusedOptions(opts, CANCEL_OPTION_KEYS, 'tor.getStatus') ?? readTorStatus(this.control, opts);
  }

  /**
   * Resolves once tor has bootstrapped (100%), at once when it already has: for a tor that has
   * just started (a container, a service), or whose network was just enabled. `onProgress` hears
   * each step and each problem tor reports on the way (tor keeps trying: bound the wait with
   * `timeoutMs` or `signal`).
   * @throws TorNetworkDisabledError (`TOR_NETWORK_DISABLED`) when tor's `DisableNetwork` is 1, or
   *   is set to 1 while waiting: tor would never finish
   * @throws TorTimeoutError (`TOR_TIMEOUT`) after `timeoutMs`, saying where tor stopped and the last
   *   problem it reported; TorAbortError (`TOR_ABORTED`); TorControlClosedError (`TOR_CONTROL_CLOSED`)
   * @example
   * await tor.waitForBootstrap({ timeoutMs: 120_000, onProgress: (p) => console.log(`${p.percent}% ${p.summary}`) });
   */
  waitForBootstrap(opts: WaitForBootstrapOptions = {}): Promise<void> {
    return refusedOptions(opts, BOOTSTRAP_OPTION_KEYS, 'tor.waitForBootstrap') ?? waitForBootstrap(this.control, opts);
  }

  /**
   * Closes the control connection (and its state, onion services without `detach`, SOCKS agents);
   * when torcon launched this tor, stops it and removes its temporary data directory.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const build = this.stateBuild;
      const state = build?.promise;
      const config = this.configPromise;
      if (build?.settled === false) build.abort.abort(new TorControlClosedError('the Tor handle was closed (close()) while its state was being built'));
      // A build that has settled no longer listens to its signal.
      this.configBuildAbort?.abort(new TorControlClosedError('the Tor handle was closed (close()) while its configuration was being read'));
      this.stateBuild = undefined;
      this.configPromise = undefined;
      this.config = undefined;
      this.socksClient?.close();
      // In parallel: each is bounded on its own when tor stops answering, and they do not depend
      // on each other.
      await Promise.all([
        state?.then((s) => s.close()).catch(() => undefined),
        config?.then((c) => c.close()).catch(() => undefined),
        this.onions?.closeAll().catch(() => undefined),
      ]);
      await this.control.close().catch(() => undefined);
      if (this.launched) await this.launched.stop();
    })();
    return this.closing;
  }

  /** `close()`, for `await using tor = await connectTor()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Short description without internals or secrets. */
  [inspect.custom](): string {
    return `Tor { version: '${this.version}', control: '${this.controlEndpoint}'${this.pid ? `, pid: ${this.pid}` : ''} }`;
  }
}

/** One build of the live state, shared by the getState calls made meanwhile. */
interface StateBuild {
  promise: Promise<TorState>;
  /** Stops the build once no caller waits for it any more. */
  abort: AbortController;
  /** Callers still waiting. */
  waiting: number;
  settled: boolean;
}
