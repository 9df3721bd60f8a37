import { EventEmitter } from 'node:events';
import { TypedEmitter } from '../util/typed-emitter.js';
import net from 'node:net';
import { assertTorControl, type TorControl } from '../control/tor-control.js';
import type { GuardEvent, HostPort, TorEvent } from '../control/events/event-types.js';
import { redactEventText } from '../control/events/redact.js';
import { isPlainAddrMap } from '../control/events/addrmap-event.js';
import {
  TorAbortError,
  TorCircuitError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorProtocolError,
  TorSocksError,
  TorTimeoutError,
} from '../errors.js';
import { controlCloseReason } from '../control/close-reason.js';
import { cancelBudget, kindOf, raceCancel, throwIfAborted, timerDelay, type CancelOptions } from '../util/abort.js';
import { logger } from '../util/log.js';
import { CANCEL_OPTION_KEYS, assertCallOptions, assertKnownOptions, optionKeys } from '../util/known-options.js';
import { AddressMapView, ExpiryHeap, needsExpiryEntry, pruneExpired, type AddressMapping } from './address-map.js';
import { Circuit } from './circuit.js';
import type { MapAddressMappings, MappedAddress } from '../control/map-address.js';
import { describeTarget, normalizeAddress } from '../util/ip-address.js';
import { listenerPeers, type SocketPeer } from './client-process.js';
import { TorGeoIp } from '../geoip/tor-geoip.js';
import type { GeoIpLookup, Location } from './geoip-types.js';
import {
  INITIAL_INFO_KEYS,
  applyAddrMapText,
  applyCircMinorEvent,
  applyCircText,
  applyGuardEvent,
  applyMappedAddresses,
  applyRouterStatuses,
  applyStreamText,
  deferRouterStatuses,
  ensureCircuit,
  loadInitialState,
  type ReplacedMapping,
} from './reducers.js';
import { Router, type DocumentLines, type RouterContext } from './router.js';
import { readDocumentLines } from './consensus-parser.js';
import { readMicrodescriptorPolicies, type MicrodescriptorPolicies } from './microdescriptors.js';
import { createSnapshot, type EntryGuard, type StateOwner, type StateSnapshot } from './snapshot.js';
import { isUnknownStream, Stream } from './stream.js';
import { onListenerRejection } from '../util/listener-result.js';
import { isOnionHostname } from '../onion/service-id.js';
import { streamlessCircuitRefusal } from './streamless-circuits.js';
import { streamHandoff, type StreamHandoff } from './stream-handoff.js';
import { describeStreamEnd, exitRefusal } from './stream-reasons.js';
import { isNickname } from '../util/relay-nickname.js';

export { Circuit } from './circuit.js';
export { Stream } from './stream.js';
export { Router } from './router.js';
export type { AddressMapping } from './address-map.js';
export type { EntryGuard } from './snapshot.js';
export type { GeoIpLookup, Location } from './geoip-types.js';

const log = logger('state');

/** The events the live state subscribes to. */
export const STATE_EVENTS = ['CIRC', 'CIRC_MINOR', 'STREAM', 'ADDRMAP', 'NEWCONSENSUS', 'NS', 'GUARD'] as const;
/**
 * Those of them it takes as text: the frequent ones. CIRC and STREAM: the id and status are applied
 * at once and the rest parsed only when read (see applyCircText); ADDRMAP: read straight into the
 * mapping (see applyAddrMapText). The others it takes parsed.
 */
const TEXT_EVENTS: ReadonlySet<string> = new Set(['CIRC', 'STREAM', 'ADDRMAP']);

/** tor's cached consensus documents, microdescriptor flavor first (what clients fetch by default). */
const DOCUMENT_KEYS = ['dir/status-vote/current/consensus-microdesc', 'dir/status-vote/current/consensus'] as const;
const MICRODESC_DOCUMENT_KEY = DOCUMENT_KEYS[0];

/** RELAY_END reasons (tor-spec 6.3) for CLOSESTREAM, by the names tor uses in STREAM events. */
export const STREAM_CLOSE_REASONS: Readonly<Record<string, number>> = Object.freeze({
  MISC: 1,
  RESOLVEFAILED: 2,
  CONNECTREFUSED: 3,
  EXITPOLICY: 4,
  DESTROY: 5,
  DONE: 6,
  TIMEOUT: 7,
  NOROUTE: 8,
  HIBERNATING: 9,
  INTERNAL: 10,
  RESOURCELIMIT: 11,
  CONNRESET: 12,
  TORPROTOCOL: 13,
  NOTDIRECTORY: 14,
});

const REASON_MISC = 1;

/** A CLOSESTREAM reason given as text: a name (any case) or a decimal number. */
function streamCloseCode(reason: string): number | undefined {
  if (/^\d{1,3}$/.test(reason)) return Number(reason);
  const name = reason.toUpperCase();
  return Object.hasOwn(STREAM_CLOSE_REASONS, name) ? STREAM_CLOSE_REASONS[name] : undefined;
}
/** How often one stream is attached to a fixed circuit before we give up and close it. */
const MAX_ATTACH_ATTEMPTS = 3;

/**
 * How long a pinned connect whose SOCKS request tor refused waits for the STREAM event that says
 * why. tor sends that event before its SOCKS reply, but on another connection: it is usually here
 * already, or within a few milliseconds. The limit only keeps a lost event from holding the caller.
 */
const STREAM_END_WAIT_MS = 1000;
/** tor's reasons for ending a stream, from its FAILED or CLOSED event. */
interface StreamEnding {
  reason: string | undefined;
  remoteReason: string | undefined;
}

/** connectVia's error for a pinned stream that tor ended: why, in words and as tor's reasons. */
function streamEndedError(circuitId: string, target: HostPort, ending: StreamEnding, socksError: TorSocksError): TorCircuitError {
  const refusal = exitRefusal(ending.remoteReason, target);
  const message =
    refusal !== undefined
      ? `the exit of circuit ${circuitId} ${refusal}`
      : `the stream to ${describeTarget(target)} over circuit ${circuitId} failed: ${describeStreamEnd(ending.reason, ending.remoteReason)}`;
  return new TorCircuitError(message, { circuitId, ...streamReasonFields(ending.reason, ending.remoteReason) }, { cause: socksError });
}

/** A stream's reasons as TorCircuitError fields (those tor gave). */
function streamReasonFields(reason: string | undefined, remoteReason: string | undefined): { reason?: string; remoteReason?: string } {
  return { ...(reason !== undefined ? { reason } : {}), ...(remoteReason !== undefined ? { remoteReason } : {}) };
}
/** How long an attacher-chosen circuit may take to be built before its stream is closed. */
const ATTACH_BUILD_TIMEOUT_MS = 60_000;
/** How long close() waits for tor to acknowledge the unsubscribe and the config reset. */
const CLOSE_TIMEOUT_MS = 5000;
/**
 * How many addresses' ADDRMAP texts the state keeps unread before it reads them anyway: this bounds
 * their memory (some 150 bytes each) for a client that resolves many names and never reads the map.
 */
const MAX_UNREAD_ADDRMAPS = 4096;
const ID_RE = /^[A-Za-z0-9]{1,16}$/;
const LONG_NAME_RE = /^\$?([0-9A-Fa-f]{40})(?:[~=](.+))?$/;

/**
 * A relay named by fingerprint (`$FP`, `FP`) or LongName (`$FP~nickname`, `$FP=nickname`): the
 * fingerprint upper-cased, and the nickname when one is given; undefined for anything else.
 */
function readLongName(text: string): { fingerprint: string; nickname: string | undefined } | undefined {
  const m = LONG_NAME_RE.exec(text);
  if (m === null || (m[2] !== undefined && !isNickname(m[2]))) return undefined;
  return { fingerprint: m[1]!.toUpperCase(), nickname: m[2] };
}

/**
 * Refuses a path where a relay follows itself or the hop before it (A,A or A,B,A): relays refuse
 * to extend to themselves and back to the previous hop, so tor would send EXTENDCIRCUIT on and the
 * circuit fail midway with a bare DESTROYED. A relay further on (A,B,C,A) is fine.
 * @param hops - EXTENDCIRCUIT hops (`$FINGERPRINT`, maybe `~nickname`: see hopSpec)
 */
function assertNoHopRepeats(hops: readonly string[]): void {
  const fingerprints = hops.map((hop) => hop.slice(1, 41));
  for (let i = 1; i < fingerprints.length; i++) {
    const back = fingerprints[i] === fingerprints[i - 1] ? 1 : i >= 2 && fingerprints[i] === fingerprints[i - 2] ? 2 : 0;
    if (back === 0) continue;
    throw new TorInvalidValueError(
      'circuit path',
      `hop ${i + 1} is relay $${fingerprints[i]} again, ${back === 1 ? 'right after itself' : 'two hops after itself'}: relays do not extend to themselves or back to the previous hop`,
    );
  }
}

/** Lower case for ASCII letters only (nicknames are ASCII; see routerByName). */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Chooses a circuit for a new stream while an attacher is set: return a Circuit (or its id) to
 * attach the stream there (tor waits until it is BUILT), `undefined`/`null` to let tor choose, or
 * throw/reject to close the stream (REASON_MISC; reported as `listenerError`, since a bug in the
 * attacher looks the same). To refuse a stream on purpose, with the reason its client is told,
 * close it and return nothing: `await stream.close('EXITPOLICY')` reaches a SOCKS client as
 * "not allowed by ruleset" (torcon's `TOR_SOCKS_NOT_ALLOWED`), and nothing is reported (when the
 * client gave up first, `close()` resolves all the same: the stream is closed either way).
 *
 * @example
 * await state.setAttacher(async (stream) => {
 *   if (stream.target.port === 25) await stream.close('EXITPOLICY'); // refused: no SMTP
 *   return undefined; // tor chooses (a closed stream is left alone)
 * });
 */
export type StreamAttacher = (
  stream: Stream,
  state: TorState,
) => Circuit | string | undefined | null | Promise<Circuit | string | undefined | null>;

/** Options of {@link TorState.create}. */
export interface TorStateOptions extends CancelOptions {
  /**
   * What "now" is for address-map expiry: a Date, or epoch milliseconds (`Date.now` will do). A
   * time that is neither (an invalid Date) is replaced by the system clock's. @default () => new Date()
   */
  clock?: () => Date | number;
  /** Where `Router.location()` looks addresses up. @default tor's own table, `GETINFO ip-to-country/*` (a {@link TorGeoIp}) */
  geoip?: GeoIpLookup;
  /** Where `Stream.clientProcess()` reads procfs. @default '/proc' */
  procRoot?: string;
}

/** Options of {@link TorState.buildCircuit}. */
export interface BuildCircuitOptions extends CancelOptions {
  /**
   * EXTENDCIRCUIT's `purpose=`. tor picks a path only for 'general': a 'controller' circuit needs
   * its path given (without one tor answers 551, a TorCircuitError). @default tor's default, 'general'
   */
  purpose?: 'general' | 'controller';
}

/**
 * The keys of the state's calls (see optionKeys): in JavaScript a misspelt one (`timeout`) would
 * otherwise be ignored, and the call would run without the limit it was given.
 */
const STATE_OPTION_KEYS = optionKeys<TorStateOptions>({ signal: true, timeoutMs: true, clock: true, geoip: true, procRoot: true });
const BUILD_OPTION_KEYS = optionKeys<BuildCircuitOptions>({ signal: true, timeoutMs: true, purpose: true });
const CLOSE_CIRCUIT_OPTION_KEYS = optionKeys<CancelOptions & { ifUnused?: boolean }>({ signal: true, timeoutMs: true, ifUnused: true });

/**
 * What is wrong with the `clock`, `geoip` or `procRoot` of {@link TorStateOptions}, if anything:
 * checked when they are given, since they are used only later (an expiry, a `location()`, a
 * `clientProcess()`), where a wrong kind would fail with a bare TypeError or not at all.
 */
export function invalidStateOptions(opts: Pick<TorStateOptions, 'clock' | 'geoip' | 'procRoot'>): TorInvalidValueError | undefined {
  if (typeof opts !== 'object') return new TorInvalidValueError('options', `must be an object (e.g. { clock }), got ${kindOf(opts)}`);
  const { clock, geoip, procRoot } = opts;
  if (clock !== undefined && typeof clock !== 'function') {
    return new TorInvalidValueError('clock', 'must be a function returning the current Date');
  }
  if (geoip !== undefined && (geoip === null || typeof geoip !== 'object' || typeof geoip.lookup !== 'function')) {
    return new TorInvalidValueError('geoip', 'must be an object with a lookup(ip) method (a GeoIpLookup)');
  }
  if (procRoot !== undefined && (typeof procRoot !== 'string' || procRoot === '')) {
    return new TorInvalidValueError('procRoot', 'must be the path of a procfs, e.g. /proc');
  }
  return undefined;
}

/** The events of {@link TorState}, with their arguments. */
export interface TorStateEvents {
  circuitLaunched: [circuit: Circuit];
  circuitExtended: [circuit: Circuit];
  circuitBuilt: [circuit: Circuit];
  /** The circuit failed before it was built (its `reason` says why; a `circuitClosed` follows). */
  circuitFailed: [circuit: Circuit];
  circuitClosed: [circuit: Circuit];
  /** A stream was opened (NEW) or a resolve requested (NEWRESOLVE). */
  streamNew: [stream: Stream];
  streamSucceeded: [stream: Stream];
  /** tor attached the stream to a circuit. */
  streamAttached: [stream: Stream, circuit: Circuit | undefined];
  streamDetached: [stream: Stream];
  streamFailed: [stream: Stream];
  streamClosed: [stream: Stream];
  /**
   * tor announced a mapping (ADDRMAP). One with `cached === false` is an answer to a RESOLVE that
   * tor does not keep: it is not in `addressMap`, and what the map held for the address stays.
   */
  addrmapAdded: [mapping: AddressMapping];
  addrmapExpired: [mapping: AddressMapping];
  /**
   * A mapping left `addressMap` because a MAPADDRESS on this state's control connection removed it
   * (`mapAddress({ [address]: address })`, or a raw MAPADDRESS command): tor announces no removal,
   * so the state learns of one from tor's reply. A removal by another controller is not seen.
   */
  addrmapRemoved: [mapping: AddressMapping];
  /** A new consensus replaced the routers. */
  consensus: [routers: ReadonlyMap<string, Router>];
  guardsChanged: [guards: readonly Router[]];
  /** The state stopped following tor: `close()` (no error), or the control connection closed (why). */
  close: [error?: Error];
  /**
   * A listener threw; the state carried on. `event` names where: `'attacher'` when the attacher
   * threw or rejected (its stream is closed), or its choice could not be used (a circuit the state
   * does not know, a closed one, one tor would not attach the stream to: a TorCircuitError, tor's
   * refusal as its `cause`; the stream is closed), or it returned something other than a
   * Circuit, a circuit id string or nothing (a TorCircuitError saying so; the stream is closed).
   */
  listenerError: [error: unknown, event: string];
  /**
   * tor sent a CIRC, STREAM or ADDRMAP event the state could not read. An unreadable id, status
   * or (for a stream) circuit or target is found on arrival, and the event is skipped, as is an
   * ADDRMAP event with any error; anything else is found when one of the circuit's or stream's
   * fields is first read, and the fields that event would have set keep what the earlier events
   * said. `text` is the event, any SOCKS password masked.
   */
  malformedEvent: [error: Error, text: string];
}

/** One asking of the attacher about one stream (see TorState's `undecided`). */
interface AttachRound {
  /** The stream was handed on (back to tor, or to the next attacher): this round's answer no longer counts. */
  handedOn: boolean;
}

interface Expectation {
  circuit: Circuit;
  /** `host:port` of the SOCKS socket's local end, once known. */
  key: string | undefined;
  /** Why its stream could not be put on the circuit (then closed), for connectVia's error. */
  failure: Error | undefined;
  /** The stream tor opened for the socket, once it came to be attached. */
  stream: Stream | undefined;
  /** tor's reasons from that stream's first FAILED/CLOSED event, once it came. */
  ending: StreamEnding | undefined;
  /** Wakes connectVia waiting for `ending` (see waitForEnding). */
  wake: (() => void) | undefined;
}

/** Why `id` is no circuit or stream id: a string of the wrong form, or (said in words) another kind of value. */
function idProblem(id: unknown): string {
  return typeof id === 'string' ? 'must be 1-16 letters or digits' : `must be a string of 1-16 letters or digits (tor's ids are strings, e.g. '5'), got ${kindOf(id)}`;
}

/**
 * Checks a `circuit` argument (connectVia, `tor.connect(target, { circuit })`): a Circuit or an id.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything else
 */
export function assertCircuitArgument(circuit: unknown): asserts circuit is Circuit | string {
  if (typeof circuit !== 'string' && !(circuit instanceof Circuit)) {
    throw new TorInvalidValueError('circuit', 'must be a Circuit of the live state or a circuit id');
  }
  // Not looked up as "no such circuit": it is no circuit id at all, as closeCircuit says too.
  if (typeof circuit === 'string' && !ID_RE.test(circuit)) throw new TorInvalidValueError('circuit', 'a circuit id is 1-16 letters or digits');
}

function sourceKey(host: string, port: number): string | undefined {
  const h = normalizeAddress(host);
  return h === null ? undefined : `${h}:${port}`;
}

/** The source tor would report for a stream from `socket` (see sourceKey); undefined when it is closed or has no TCP local end. */
function socketSourceKey(socket: net.Socket): string | undefined {
  // A closed socket's stream has ended, and its port may be another connection's by now.
  if (socket.destroyed) return undefined;
  const port = socket.localPort;
  return port === undefined || socket.localAddress === undefined ? undefined : sourceKey(socket.localAddress, port);
}

/**
 * The live view of one tor: its relays (from the consensus), circuits, streams, address
 * mappings and entry guards, built with one GETINFO and then kept current by events. Also the
 * controller side of circuits and streams: build and close circuits, decide which circuit a
 * stream uses.
 *
 * Listeners that throw (or async listeners that reject) never break the state: the error goes to
 * `listenerError` (or the debug log when nobody listens) and the other listeners still run.
 *
 * @example
 * const state = await tor.getState();
 * state.on('circuitBuilt', (c) => console.log('built', c.id, c.path.map((r) => r.nickname)));
 * const circuit = await state.buildCircuit(['relay1', 'relay2', 'relay3']);
 */
export class TorState extends TypedEmitter<TorStateEvents> {
  /** The control connection this state follows. */
  readonly control: TorControl;
  /**
   * Address mappings by address; expired mappings are dropped on read (see `addrmapExpired`), and
   * mappings removed by a MAPADDRESS on this state's control connection when tor answers it (see
   * `addrmapRemoved`). tor announces no removal: one made by another controller is not seen.
   */
  readonly addressMap: ReadonlyMap<string, AddressMapping>;

  private readonly snap: StateSnapshot;
  private readonly clock: () => Date | number;
  private geoip: GeoIpLookup | undefined;
  private readonly expiry = new ExpiryHeap();
  private expiryTimer: NodeJS.Timeout | undefined = undefined;
  private expiryTimerAt = Infinity;
  private unsubscribers: Array<() => Promise<void>> = [];
  /**
   * Events that arrive while the initial GETINFO is answered, parsed or as text, and MAPADDRESS
   * replies (the mappings made), in the order they came; null once live.
   */
  private buffer: Array<TorEvent | string | readonly MappedAddress[]> | null = null;
  /** applyAddrMapText's answer about the mapping it replaced: one object, reused for every event. */
  private readonly replaced: ReplacedMapping = { previous: undefined };
  /** ADDRMAP texts not applied yet: the last one for each address (see keepAddrMapUnread). */
  private readonly unreadAddrMaps = new Map<string, string>();
  private closed = false;
  private closing: Promise<void> | undefined = undefined;
  private attacher: StreamAttacher | null = null;
  private readonly expectations = new Set<Expectation>();
  private readonly expectedBySource = new Map<string, Expectation>();
  /** tor's __LeaveStreamsUnattached, and who answers a waiting stream, shared with any other state on this connection. */
  private readonly handoff: StreamHandoff;
  /**
   * Streams the attacher has not decided about yet, each with the round of asking it: close() and
   * setAttacher() hand them on (see takeUndecided), after which the round's answer is ignored.
   */
  private readonly undecided = new Map<Stream, AttachRound>();
  /** We hold a claim on __LeaveStreamsUnattached. */
  private leaveActive = false;
  private leaveChain: Promise<void> = Promise.resolve();
  /** The consensus document's `v`/`pr` lines by identity, once loadRouterVersions read them. */
  private documentLines: Map<string, DocumentLines> | undefined = undefined;
  /** loadRouterVersions was called: read the document again after each new consensus. */
  private versionsWanted = false;
  /** The routers' generation (snapshot.routerGeneration) that documentLines were read for. */
  private documentGeneration = -1;
  /** Microdescriptors' exit-policy summaries by base64 identity, once loadExitPolicies read them. */
  private microdescPolicies: Map<string, MicrodescriptorPolicies> | undefined = undefined;
  /** loadExitPolicies was called: read them again after each new consensus. */
  private policiesWanted = false;
  /** The GETINFOs of tor's client listeners in flight, shared by concurrent clientPeers() calls. */
  private clientPeersLookup: Promise<readonly SocketPeer[] | undefined> | undefined = undefined;
  /** Which of DOCUMENT_KEYS tor answered last. */
  private documentKey: string | undefined = undefined;
  private nameIndex: Map<string, Router> | undefined = undefined;
  private nameIndexGeneration = -1;
  /**
   * Every relay of each lower-cased nickname that more than one relay of the consensus has, in
   * consensus order (built with nameIndex; nicknames of one relay are nameIndex alone).
   */
  private sharedNicknames: ReadonlyMap<string, readonly Router[]> = new Map();
  private guardRouters: readonly Router[] = [];
  private guardRoutersFor: readonly EntryGuard[] | undefined = undefined;
  private guardRoutersGeneration = -1;

  /** The build started by `start()`, shared by later calls. */
  private starting: Promise<void> | undefined = undefined;
  /** start() has subscribed and applied tor's answer: the state sees every stream from now on. */
  private live = false;

  /**
   * A state that follows nothing yet: its maps are empty until `start()` has subscribed to tor's
   * events and read tor's answer; `TorState.create` (and `tor.getState()`) do both. For wiring
   * (dependency injection) that constructs first and starts later. Until then `buildCircuit`,
   * `connectVia`, `closeCircuit` and `closeStream` wait for a `start()` under way, and without one
   * are refused (`TOR_INVALID_VALUE`); an attacher set before takes effect at `start()`.
   * @param control - an authenticated control connection
   * @param opts - `clock`, `geoip`, `procRoot` (the cancel options belong to `start()`)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a `clock` that is no function, a `geoip`
   *   without a `lookup` method, or a `procRoot` that is no non-empty string
   * @example
   * const state = new TorState(control);
   * await state.start({ timeoutMs: 10_000 });
   */
  constructor(control: TorControl, opts: TorStateOptions = {}) {
    super();
    assertTorControl(control, 'TorState control');
    // A JavaScript caller's null means no options, as undefined does.
    opts ??= {};
    const invalid = invalidStateOptions(opts);
    if (invalid) throw invalid;
    assertKnownOptions(opts, STATE_OPTION_KEYS, 'TorState');
    this.control = control;
    this.handoff = streamHandoff(control);
    this.clock = opts.clock ?? (() => new Date());
    this.geoip = opts.geoip;
    const owner: StateOwner = {
      closeCircuit: (id, o) => this.closeCircuit(id, o),
      closeStream: (id, reason, o) => this.closeStream(id, reason, o),
      clientPeers: () => this.clientPeers(),
    };
    const routerContext: RouterContext = {
      locate: (ip) => this.locate(ip),
      documentLines: (identity) => this.documentLines?.get(identity),
      microdescriptorPolicies: (identity) => this.microdescPolicies?.get(identity),
      serverDescriptorText: (fingerprint, o) => this.descriptorText(`desc/id/${fingerprint}`, o),
      microdescriptorText: (fingerprint, o) => this.descriptorText(`md/id/${fingerprint}`, o),
    };
    this.snap = createSnapshot({
      owner,
      routerContext,
      onUnreadable: (err, event, text) => this.reportUnreadable(err, event, text),
      ...(opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {}),
    });
    this.addressMap = new AddressMapView(this.snap.addressMap, () => {
      this.readAddrMaps();
      this.pruneAddressMap();
    });
    // Untyped: an EventEmitter event, not one of the state's.
    (this as EventEmitter).on('newListener', this.onNewListener);
  }

  /**
   * Builds the state: subscribes to CIRC CIRC_MINOR STREAM ADDRMAP NEWCONSENSUS NS GUARD first, then asks
   * tor for everything at once (`GETINFO ns/all circuit-status stream-status address-mappings/all
   * entry-guards`), then applies the events that arrived meanwhile, so that nothing falls in the
   * gap between the two.
   *
   * @throws TorControlError / TorControlClosedError from tor; TorAbortError / TorTimeoutError
   * @example const state = await TorState.create(control, { timeoutMs: 10_000 });
   */
  static async create(control: TorControl, opts: TorStateOptions = {}): Promise<TorState> {
    assertCallOptions(opts, STATE_OPTION_KEYS, 'TorState.create');
    throwIfAborted(opts.signal, 'building the Tor state');
    const state = new TorState(control, opts);
    await state.start(opts);
    return state;
  }

  /**
   * Makes a state built with `new` live: what `TorState.create` does after constructing it. A
   * second call shares the first one's build: its own `signal` and `timeoutMs` bound only its own
   * wait (as for `tor.getState()`), while the first call's bound the build. A state whose build
   * failed is closed. An attacher set before start() takes effect at its end (see setAttacher).
   * @throws TorControlError / TorControlClosedError from tor (TorControlClosedError too for a state
   *   closed before; TorControlError too when tor refuses `__LeaveStreamsUnattached` for an attacher
   *   set before); TorAbortError / TorTimeoutError per `opts`; TorInvalidValueError for bad `opts`
   */
  async start(opts: CancelOptions = {}): Promise<void> {
    // Checked on every call, before the build is shared: a call with bad options fails alone. The
    // state's own options are let through: create() hands them all on.
    assertCallOptions(opts, STATE_OPTION_KEYS, 'state.start');
    if (this.starting === undefined) {
      throwIfAborted(opts.signal, 'building the Tor state');
      if (this.closed) throw new TorControlClosedError('the Tor state is closed');
      this.starting = raceCancel(this.load(opts), 'building the Tor state', opts).catch((err: unknown) => {
        // Not awaited: tor may be the reason we failed, and the caller should hear of it now.
        this.close().catch(() => undefined);
        throw err;
      });
      return this.starting;
    }
    // Built already: nothing to wait for (as tor.getState() hands out a built state).
    if (this.live) return this.starting;
    // A caller that joins gives up its own wait only: the build goes on for the one who started it.
    return raceCancel(this.starting, 'building the Tor state', opts);
  }

  private async load(opts: CancelOptions): Promise<void> {
    // From now on this state answers its share of the waiting streams (see StreamHandoff); one
    // never started must not be picked to answer what it cannot see.
    this.handoff.join(this);
    this.buffer = [];
    this.control.on('close', this.onControlClose);
    this.control.on('addressMapped', this.onAddressMapped);
    const subscribed = await Promise.allSettled(
      STATE_EVENTS.map((name) => (TEXT_EVENTS.has(name) ? this.control.subscribeRaw(name, this.onText) : this.control.subscribe(name, this.onEvent))),
    );
    for (const r of subscribed) if (r.status === 'fulfilled') this.unsubscribers.push(r.value);
    if (this.closed) {
      // Closed (an abort, a timeout) while subscribing: close() found nothing to undo yet.
      await this.unsubscribeAll();
      throw new TorControlClosedError('the Tor state was closed while it was being built');
    }
    const refused = subscribed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    let info: Record<string, string | undefined>;
    try {
      info = await this.control.getInfo(INITIAL_INFO_KEYS, { signal: opts.signal });
    } catch (err) {
      if (!(err instanceof TorControlError)) throw err;
      // Some key is unknown to this tor: ask one by one and do without what it cannot give.
      info = await this.getInfoOneByOne(opts);
    }
    if (this.closed) throw new TorControlClosedError('the Tor state was closed while it was being built');
    const ns = info['ns/all'];
    loadInitialState(this.snap, { ...info, 'ns/all': undefined }, (p) => log('skipped unreadable %s entry %s: %s', p.key, p.line, p.reason));
    // The routers are read from the consensus text on first use: being ready does not wait for them.
    if (ns !== undefined) deferRouterStatuses(this.snap, ns, (p) => log('skipped unreadable ns/all entry at line %d: %s', p.line, p.reason));
    for (const m of this.snap.addressMap.values()) if (m.expiresAt !== Infinity) this.expiry.push(m);
    this.scheduleExpiry();
    const buffered = this.buffer;
    this.buffer = null;
    for (const e of buffered) {
      if (typeof e === 'string') this.dispatchText(e);
      else if (Array.isArray(e)) this.applyMapped(e);
      else this.dispatch(e as TorEvent);
    }
    this.live = true;
    // An attacher set before start() takes over now that the state sees the streams.
    if (this.attacher !== null) {
      this.handoff.setAttaching(this, true);
      await this.syncLeaveUnattached();
    }
  }

  private async getInfoOneByOne(opts: CancelOptions): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const key of INITIAL_INFO_KEYS) {
      try {
        out[key] = await this.control.getInfo(key, { signal: opts.signal });
      } catch (err) {
        if (!(err instanceof TorControlError)) throw err;
        log('GETINFO %s refused: %s', key, err.message);
      }
    }
    if (out['ns/all'] === undefined) {
      // Whole consensus documents parse too (their r lines may lack the digest: microdesc flavor).
      for (const key of DOCUMENT_KEYS) {
        try {
          out['ns/all'] = await this.control.getInfo(key, { signal: opts.signal });
          break;
        } catch (err) {
          if (!(err instanceof TorControlError)) throw err;
        }
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- views

  /** Relays by 40-hex upper-case fingerprint, as the latest consensus (and NS updates) list them. */
  get routers(): ReadonlyMap<string, Router> {
    return this.snap.routers;
  }

  /** Open circuits by id. */
  get circuits(): ReadonlyMap<string, Circuit> {
    return this.snap.circuits;
  }

  /** Open streams by id. */
  get streams(): ReadonlyMap<string, Stream> {
    return this.snap.streams;
  }

  /** tor's entry guards with their status (`up`, `never-connected`, `DOWN`, ...), in tor's order. */
  get guards(): readonly EntryGuard[] {
    return this.snap.guards;
  }

  /**
   * tor's entry guards as Routers (placeholders for guards the consensus does not list), in the
   * order of {@link guards}: `entryGuards[i]` is the relay of `guards[i]`, whose status that has.
   */
  get entryGuards(): readonly Router[] {
    const guards = this.snap.guards;
    if (this.guardRoutersFor !== guards || this.guardRoutersGeneration !== this.snap.routerGeneration) {
      this.guardRouters = Object.freeze(
        guards.map(
          (g) =>
            (g.fingerprint !== '' ? this.snap.routers.get(g.fingerprint) : undefined) ??
            (g.fingerprint === '' && g.nickname ? this.routerByName(g.nickname) : undefined) ??
            Router.unlisted(g.fingerprint, g.nickname, this.snap.routerContext),
        ),
      );
      this.guardRoutersFor = guards;
      this.guardRoutersGeneration = this.snap.routerGeneration;
    }
    return this.guardRouters;
  }

  /**
   * A relay by name, in the forms tor takes: a nickname (ASCII letters and digits, any case, as tor
   * compares them), a fingerprint (`$` optional, any case), or `$FINGERPRINT~nickname` /
   * `$FINGERPRINT=nickname` (the nickname must then match). Nicknames are not unique: when several
   * relays share one, the first in the consensus is returned (see {@link routersByName} for all of
   * them); a fingerprint is exact.
   * @returns undefined for a name no relay of the consensus has, or that is no relay name at all
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `name` is not a string
   */
  routerByName(name: string): Router | undefined {
    if (typeof name !== 'string') throw new TorInvalidValueError('relay name', 'must be a string');
    const fp = readLongName(name);
    if (fp) {
      const router = this.snap.routers.get(fp.fingerprint);
      const nick = fp.nickname;
      return router !== undefined && (nick === undefined || asciiLower(nick) === asciiLower(router.nickname)) ? router : undefined;
    }
    // Only ASCII: toLowerCase would also fold other letters onto ASCII ones (U+212A KELVIN SIGN to "k").
    if (!isNickname(name)) return undefined;
    return this.nicknameIndex().get(asciiLower(name));
  }

  /**
   * Every relay of the consensus with this nickname (ASCII letters in any case, as tor compares
   * them), in consensus order: nicknames are not unique, and a relay is one of them by its
   * fingerprint only.
   * @returns [] for a nickname no relay has, or a string that is no nickname (a fingerprint: see
   *   routerByName)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `nickname` is not a string
   * @example const all = state.routersByName('Unnamed'); // may be several
   */
  routersByName(nickname: string): Router[] {
    if (typeof nickname !== 'string') throw new TorInvalidValueError('relay name', 'must be a string');
    if (!isNickname(nickname)) return [];
    const key = asciiLower(nickname);
    const one = this.nicknameIndex().get(key);
    if (one === undefined) return [];
    return [...(this.sharedNicknames.get(key) ?? [one])];
  }

  /** The first relay of the consensus for each nickname, lower-cased (see routerByName). */
  private nicknameIndex(): Map<string, Router> {
    if (this.nameIndex === undefined || this.nameIndexGeneration !== this.snap.routerGeneration) {
      const index = new Map<string, Router>();
      const shared = new Map<string, Router[]>();
      for (const r of this.snap.routers.values()) {
        const key = asciiLower(r.nickname);
        const first = index.get(key);
        if (first === undefined) index.set(key, r);
        else {
          const all = shared.get(key);
          if (all === undefined) shared.set(key, [first, r]);
          else all.push(r);
        }
      }
      this.nameIndex = index;
      this.sharedNicknames = shared;
      this.nameIndexGeneration = this.snap.routerGeneration;
    }
    return this.nameIndex;
  }

  /**
   * Reads the relays' versions and subprotocols (`Router.version`, `Router.protocols`) from the
   * consensus document tor has cached. The state's routers come from `ns/all` and NEWCONSENSUS,
   * which leave those lines out; the document has them. One GETINFO of the whole document (about
   * as large as `ns/all`), so it is not done unless asked; once asked, the state reads the new
   * document after each new consensus too.
   *
   * @returns how many of the state's routers have a version now
   * @throws TorControlError when tor has neither flavor of the document (e.g. a fresh tor that has
   *   no consensus yet); TorAbortError / TorTimeoutError for `signal` / `timeoutMs`
   * @example
   * await state.loadRouterVersions();
   * const old = [...state.routers.values()].filter((r) => r.version !== undefined && compareTorVersions(r.version, '0.4.8') < 0);
   */
  async loadRouterVersions(opts: CancelOptions = {}): Promise<number> {
    this.assertOpen();
    // A JavaScript caller's null means no options.
    opts ??= {};
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.loadRouterVersions');
    this.versionsWanted = true;
    // Clients fetch the microdescriptor flavor; those with UseMicrodescriptors 0 the full one.
    // The one that answered last time is asked first.
    const [first, second] = this.documentKey === DOCUMENT_KEYS[1] ? [DOCUMENT_KEYS[1], DOCUMENT_KEYS[0]] : DOCUMENT_KEYS;
    const generation = this.snap.routerGeneration;
    // One timeout for both asks: the second gets what the first left.
    const remaining = cancelBudget(opts);
    let text: string;
    try {
      text = await this.control.getInfo(first, remaining());
      this.documentKey = first;
    } catch (err) {
      if (!(err instanceof TorControlError)) throw err;
      text = await this.control.getInfo(second, remaining());
      this.documentKey = second;
    }
    this.documentLines = readDocumentLines(text);
    this.documentGeneration = generation;
    let n = 0;
    for (const r of this.snap.routers.values()) if (r.version !== undefined) n++;
    return n;
  }

  /**
   * Reads the relays' exit-policy summaries from their microdescriptors, for `Router.exitPolicy`,
   * `Router.acceptsPort()` and `Router.exitPolicyV6`. A client that uses microdescriptors (tor's
   * default, `UseMicrodescriptors auto`) reads a consensus without `p` lines, so `ns/all` gives no
   * relay a summary and `acceptsPort()` is false for all of them until this is called. One GETINFO
   * of tor's microdesc-flavor consensus document (whose `m` lines name each relay's
   * microdescriptor) and of all its microdescriptors (`md/all`), so it is not done unless asked;
   * once asked, the state reads them again after each new consensus (a relay whose new
   * microdescriptor tor has not fetched yet keeps the summary it had). A relay whose `ns/all`
   * entry has a `p` line keeps that one. The document's `v`/`pr` lines are kept as
   * loadRouterVersions keeps them (`Router.version` and `protocols` come with it).
   *
   * @returns how many of the state's routers have an exit-policy summary now
   * @throws TorControlError when tor has no microdesc-flavor consensus and `ns/all` gave no relay a
   *   summary either (a tor with no consensus yet; a client with `UseMicrodescriptors 0` has no
   *   such document, but its `ns/all` has the summaries, and the call just counts them);
   *   TorAbortError / TorTimeoutError for `signal` / `timeoutMs`
   * @example
   * await state.loadExitPolicies();
   * const https = [...state.routers.values()].filter((r) => r.flags.has('Exit') && r.acceptsPort(443));
   */
  async loadExitPolicies(opts: CancelOptions = {}): Promise<number> {
    this.assertOpen();
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.loadExitPolicies');
    this.policiesWanted = true;
    const generation = this.snap.routerGeneration;
    let info: Record<string, string>;
    try {
      info = await this.control.getInfo([MICRODESC_DOCUMENT_KEY, 'md/all'], opts);
    } catch (err) {
      // A client with UseMicrodescriptors 0 has no such document, and its ns/all has the summaries.
      const counted = err instanceof TorControlError ? this.countExitPolicies() : 0;
      if (counted > 0) return counted;
      throw err;
    }
    const byDigest = readMicrodescriptorPolicies(info['md/all']!);
    const document = readDocumentLines(info[MICRODESC_DOCUMENT_KEY]!);
    // The same document gives the versions (loadRouterVersions' lines): kept, so that it is not
    // read twice after each new consensus when both are wanted.
    this.documentLines = document;
    this.documentKey = MICRODESC_DOCUMENT_KEY;
    this.documentGeneration = generation;
    const previous = this.microdescPolicies;
    const byIdentity = new Map<string, MicrodescriptorPolicies>();
    for (const [identity, lines] of document) {
      const found = lines.microdescDigest === undefined ? undefined : byDigest.get(lines.microdescDigest);
      const policies = found ?? previous?.get(identity);
      if (policies !== undefined) byIdentity.set(identity, policies);
    }
    this.microdescPolicies = byIdentity;
    return this.countExitPolicies();
  }

  /**
   * After a new consensus, what loadExitPolicies and loadRouterVersions read, as asked: one read
   * of the microdesc document serves both; the versions are read on their own only when that did
   * not happen (a tor with the full flavor only, or policies not wanted).
   */
  private async readDocumentsAgain(): Promise<void> {
    if (this.policiesWanted) await this.loadExitPolicies().catch((err) => log('reading the new microdescriptors failed: %s', err));
    if (this.versionsWanted && this.documentGeneration !== this.snap.routerGeneration) await this.loadRouterVersions();
  }

  private countExitPolicies(): number {
    let n = 0;
    for (const r of this.snap.routers.values()) if (r.exitPolicy !== undefined) n++;
    return n;
  }

  // ---------------------------------------------------------------- events in

  private readonly onEvent = (e: TorEvent): void => {
    if (this.buffer !== null) {
      this.buffer.push(e);
      return;
    }
    this.dispatch(e);
  };

  private readonly onText = (text: string): void => {
    if (this.buffer !== null) {
      this.buffer.push(text);
      return;
    }
    this.dispatchText(text);
  };

  /** A CIRC or STREAM event's text (id and status applied now, the rest when read), or an ADDRMAP's. */
  private dispatchText(text: string): void {
    if (this.closed) return;
    const c0 = text.charCodeAt(0);
    if (c0 === 65 /* A */ && this.keepAddrMapUnread(text)) return;
    this.applyText(text, c0);
  }

  /**
   * Keeps an ADDRMAP text unread when nobody listens for address-map events and it is in tor's
   * usual form (see isPlainAddrMap): only the last one per address, read when the address map is.
   * A busy client resolves the same names over and over, and most mappings are replaced or expire
   * without anyone looking. A text in any other form is read at once, after those kept, so that
   * every mapping is applied in the order tor sent it.
   *
   * @returns whether the text was kept (or, a one-off answer tor does not keep, needs nothing)
   */
  private keepAddrMapUnread(text: string): boolean {
    if (this.addrMapWatched() || !isPlainAddrMap(text, 8)) {
      if (this.unreadAddrMaps.size > 0) this.readAddrMaps();
      return false;
    }
    // A RESOLVE answer tor does not keep leaves the map as it was (see applyAddrMapText).
    if (text.indexOf(' CACHED="NO"', 8) !== -1) return true;
    const unread = this.unreadAddrMaps;
    unread.set(text.slice(8, text.indexOf(' ', 8)), text);
    if (unread.size > MAX_UNREAD_ADDRMAPS) this.readAddrMaps();
    return true;
  }

  /** Applies the ADDRMAP texts kept unread, before anything else reads or changes the address map. */
  private readAddrMaps(): void {
    const unread = this.unreadAddrMaps;
    if (unread.size === 0) return;
    const texts = [...unread.values()];
    unread.clear();
    for (const text of texts) this.applyText(text, 65);
  }

  /** Whether someone listens for an event an ADDRMAP text may cause: then each is applied as it comes. */
  private addrMapWatched(): boolean {
    return this.listenerCount('addrmapAdded') > 0 || this.listenerCount('addrmapExpired') > 0 || this.listenerCount('malformedEvent') > 0;
  }

  /**
   * Emitted by EventEmitter before a listener is added: the texts kept unread are applied first,
   * so that a new address-map listener hears of the mappings tor makes from then on, not before.
   */
  private readonly onNewListener = (name: string | symbol): void => {
    if (name === 'addrmapAdded' || name === 'addrmapExpired' || name === 'malformedEvent') this.readAddrMaps();
  };

  /** Applies a CIRC, STREAM or ADDRMAP text (`c0`: its first character) and emits what it changed. */
  private applyText(text: string, c0: number): void {
    const name = c0 === 67 /* C */ ? 'CIRC' : c0 === 83 /* S */ ? 'STREAM' : 'ADDRMAP';
    let applied: Circuit | Stream | AddressMapping;
    const replaced = this.replaced;
    try {
      if (c0 === 67) applied = applyCircText(this.snap, text, 5);
      else if (c0 === 83) applied = applyStreamText(this.snap, text, 7);
      else applied = applyAddrMapText(this.snap, text, 8, replaced);
    } catch (err) {
      this.reportUnreadable(err, name, text);
      return;
    }
    try {
      if (c0 === 67) this.onCirc(applied as Circuit);
      else if (c0 === 83) this.onStream(applied as Stream);
      else this.onAddrMap(applied as AddressMapping, replaced.previous);
    } catch (err) {
      // Never let a surprise here reach TorControl's reader.
      log('applying %s failed: %O', name, err);
    }
  }

  private dispatch(e: TorEvent): void {
    if (e.generic || this.closed) return;
    try {
      switch (e.type) {
        case 'NEWCONSENSUS':
          deferRouterStatuses(this.snap, e.body, (p) => log('NEWCONSENSUS: skipped entry at line %d: %s', p.line, p.reason));
          if (this.versionsWanted || this.policiesWanted) {
            this.readDocumentsAgain().catch((err) => log('reading the new consensus document failed: %s', err));
          }
          this.fire('consensus', this.snap.routers);
          break;
        case 'NS':
          applyRouterStatuses(this.snap, e.body, false, (p) => log('NS: skipped entry at line %d: %s', p.line, p.reason));
          break;
        case 'CIRC_MINOR':
          applyCircMinorEvent(this.snap, e);
          break;
        case 'GUARD':
          this.onGuard(e);
          break;
        default:
          break;
      }
    } catch (err) {
      // Never let a surprise here reach TorControl's reader.
      log('applying %s failed: %O', e.type, err);
    }
  }

  private onCirc(c: Circuit): void {
    c.settle();
    switch (c.status) {
      case 'LAUNCHED':
        this.fire('circuitLaunched', c);
        break;
      case 'EXTENDED':
        this.fire('circuitExtended', c);
        break;
      case 'BUILT':
        this.fire('circuitBuilt', c);
        break;
      case 'FAILED':
        this.fire('circuitFailed', c);
        break;
      case 'CLOSED':
        this.fire('circuitClosed', c);
        break;
      default:
        break;
    }
  }

  private onStream(st: Stream): void {
    const status = st.status;
    switch (status) {
      case 'NEW':
      case 'NEWRESOLVE':
        this.fire('streamNew', st);
        break;
      case 'SUCCEEDED':
        this.fire('streamSucceeded', st);
        break;
      case 'DETACHED':
        this.fire('streamDetached', st);
        break;
      case 'FAILED':
        if (this.expectations.size > 0) this.noteEnding(st);
        this.fire('streamFailed', st);
        break;
      case 'CLOSED':
        if (this.expectations.size > 0) this.noteEnding(st);
        this.fire('streamClosed', st);
        break;
      default:
        break;
    }
    if (st.justAttached) this.fire('streamAttached', st, st.circuit);
    this.maybeAttach(st, status);
  }

  /**
   * A CIRC, STREAM or ADDRMAP text the state could not read: when it arrived (then it was skipped),
   * or when a circuit's or stream's field was first read (those fields were left as they were).
   */
  private reportUnreadable(err: unknown, event: string, text: string): void {
    const error = err instanceof Error ? err : new TorProtocolError(String(err));
    if (this.listenerCount('malformedEvent' as never) > 0) this.fire('malformedEvent', error, redactEventText(text));
    else log('unreadable %s event: %s', event, error.message);
  }

  private onAddrMap(m: AddressMapping, previous: AddressMapping | undefined): void {
    // A RESOLVE answer tor does not keep is not in the map: nothing of it can expire there.
    if (m.cached !== false && needsExpiryEntry(previous, m)) {
      this.expiry.push(m);
      // Stale entries stay in the heap until they surface; rebuild it when they dominate.
      if (this.expiry.size > 1024 && this.expiry.size > 2 * this.snap.addressMap.size) this.rebuildExpiryHeap();
      if (m.expiresAt < this.expiryTimerAt) this.scheduleExpiry();
    }
    this.fire('addrmapAdded', m);
  }

  /** A MAPADDRESS reply on our connection: see TorControl's `addressMapped`. */
  private readonly onAddressMapped = (mapped: readonly MappedAddress[]): void => {
    if (this.buffer !== null) {
      // Whether tor made these before or after the GETINFO snapshot is not known: applied after
      // it, in order with the events, as events are.
      this.buffer.push(mapped);
      return;
    }
    this.applyMapped(mapped);
  };

  private applyMapped(mapped: readonly MappedAddress[]): void {
    if (this.closed) return;
    this.readAddrMaps();
    // Added mappings are announced by the ADDRMAP events that follow the reply (addrmapAdded);
    // removals only here.
    const { removed } = applyMappedAddresses(this.snap, mapped);
    for (const m of removed) this.fire('addrmapRemoved', m);
  }

  private onGuard(e: GuardEvent): void {
    if (applyGuardEvent(this.snap, e)) this.fire('guardsChanged', this.entryGuards);
  }

  private readonly onControlClose = (error?: Error): void => {
    if (this.closed) return;
    this.closing ??= Promise.resolve();
    // Nothing is sent on a closed connection: this only lets go of our listeners (and so of the
    // snapshot they hold), for whoever keeps the dead TorControl.
    this.control.off('close', this.onControlClose);
    void this.unsubscribeAll();
    // Why it closed (tor ended it, a reset), as the connection says: 'close' listeners and
    // whoever waits on a circuit (monitor, a service's health check) can tell a crash from a close().
    const err = new TorControlClosedError(controlCloseReason(error), error ? { cause: error } : undefined);
    this.shutDown(err, err);
  };

  // ---------------------------------------------------------------- address-map expiry

  private pruneAddressMap(): void {
    if (this.expiry.peekTime() === Infinity) return;
    pruneExpired(this.snap.addressMap, this.expiry, this.now(), (m) => this.fire('addrmapExpired', m));
  }

  /** The clock's time in epoch ms: a Date or a number taken alike, else the system clock's. */
  private now(): number {
    const t: unknown = this.clock();
    const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : NaN;
    // Never NaN: it would expire nothing, and arm the expiry timer at 0 ms again and again.
    if (Number.isFinite(ms)) return ms;
    log('the clock gave no time (%s): the system clock is used', typeof t);
    return Date.now();
  }

  private rebuildExpiryHeap(): void {
    this.expiry.clear();
    for (const m of this.snap.addressMap.values()) if (m.expiresAt !== Infinity) this.expiry.push(m);
  }

  /** Arms one timer for the earliest expiry, so that `addrmapExpired` fires without reads. */
  private scheduleExpiry(): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryTimerAt = Infinity;
    const at = this.expiry.peekTime();
    if (at === Infinity || this.closed) return;
    const delay = timerDelay(at - this.now());
    this.expiryTimerAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryTimerAt = Infinity;
      this.pruneAddressMap();
      this.scheduleExpiry();
    }, delay);
    this.expiryTimer.unref();
  }

  // ---------------------------------------------------------------- emitting

  /**
   * Emits to each listener in turn; one that throws, or an async one that rejects, is reported and
   * the others still run.
   * Fixed arity rather than rest arguments: most events have no listener, and then this must not
   * allocate anything.
   */
  private fire<K extends keyof TorStateEvents>(name: K, a?: TorStateEvents[K][0], b?: TorStateEvents[K][1]): void {
    if (this.listenerCount(name as never) === 0) return;
    const listeners = this.rawListeners(name as never) as Array<(...args: unknown[]) => unknown>;
    for (const fn of listeners) {
      try {
        let result: unknown;
        if (b !== undefined) result = fn.call(this, a, b);
        else if (a !== undefined) result = fn.call(this, a);
        else result = fn.call(this);
        if (result !== undefined) onListenerRejection(result, (err) => this.reportListenerError(err, name));
      } catch (err) {
        this.reportListenerError(err, name);
      }
    }
  }

  private reportListenerError(err: unknown, where: string): void {
    if (where !== 'listenerError' && this.listenerCount('listenerError' as never) > 0) {
      this.fire('listenerError', err, where);
    } else {
      log('%s listener threw: %O', where, err);
    }
  }

  // ---------------------------------------------------------------- circuits

  /**
   * Builds a circuit (EXTENDCIRCUIT 0) and resolves once tor reports it BUILT.
   *
   * @param path - the hops, guard first: Routers, fingerprints (`$`-prefixed or not, LongNames
   *   too) or nicknames of relays in the consensus. Omitted: tor picks the path.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a hop that names no relay (a nickname
   *   no relay of the consensus has, a `$FINGERPRINT~nickname` whose relay has another nickname) or
   *   several (a nickname relays share),
   *   a relay right after itself or the hop before it (relays refuse those extends), a bad purpose,
   *   or options that are no object (a timeout given in their place; null is none)
   * @throws TorCircuitError (`TOR_CIRCUIT_FAILED`, with `reason`/`remoteReason`) when tor refuses
   *   the path or the circuit fails or closes before it is built
   * @throws TorCircuitError also for `timeoutMs` / `signal`, with a TorTimeoutError / TorAbortError
   *   as its `cause`; a circuit tor had begun is then closed, also one tor names only in an
   *   EXTENDCIRCUIT reply that comes after the caller gave up
   * @throws TorControlClosedError when the state closes first
   * @example const c = await state.buildCircuit(['guard1', 'middle1', 'exit1'], { timeoutMs: 30_000 });
   */
  async buildCircuit(path?: ReadonlyArray<Router | string>, opts: BuildCircuitOptions = {}): Promise<Circuit> {
    this.assertOpen();
    // A JavaScript caller's null means no options; a timeout put where they go would be no limit.
    opts ??= {};
    assertCallOptions(opts, BUILD_OPTION_KEYS, 'state.buildCircuit');
    if (!this.live) await this.untilStarted();
    const { signal, timeoutMs, purpose } = opts;
    if (purpose !== undefined && purpose !== 'general' && purpose !== 'controller') {
      throw new TorInvalidValueError('circuit purpose', 'must be "general" or "controller"');
    }
    if (path !== undefined && !Array.isArray(path)) throw new TorInvalidValueError('circuit path', 'must be an array of relays');
    const hops = path === undefined ? [] : path.map((hop) => this.hopSpec(hop));
    if (path !== undefined && hops.length === 0) throw new TorInvalidValueError('circuit path', 'is empty');
    assertNoHopRepeats(hops);
    const remaining = cancelBudget({ signal, timeoutMs });
    let line = 'EXTENDCIRCUIT 0';
    if (hops.length > 0) line += ' ' + hops.join(',');
    if (purpose !== undefined) line += ` purpose=${purpose}`;
    let id: string;
    try {
      // Sent without the cancel options, raced against them instead: tor begins the circuit once
      // it has the command, so a reply that comes after the caller gave up still names a circuit,
      // which nobody will use and which is closed then.
      throwIfAborted(signal, 'EXTENDCIRCUIT');
      const extending = this.control.command(line);
      const reply = await raceCancel(extending, 'EXTENDCIRCUIT', {
        signal,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        onCancel: () => {
          extending.then(
            (late) => {
              const lateId = /^EXTENDED\s+([A-Za-z0-9]+)/.exec(late.lines[0]!.text)?.[1];
              if (lateId !== undefined && !this.control.closed) {
                this.control.command(`CLOSECIRCUIT ${lateId}`).catch((e) => log('closing abandoned circuit %s failed: %s', lateId, e));
              }
            },
            () => undefined,
          );
        },
      });
      const m = /^EXTENDED\s+([A-Za-z0-9]+)/.exec(reply.lines[0]!.text);
      if (!m) throw new TorCircuitError(`tor's EXTENDCIRCUIT reply names no circuit: ${reply.lines[0]!.text}`);
      id = m[1]!;
    } catch (err) {
      if (err instanceof TorControlError) {
        throw new TorCircuitError(`tor refused to build the circuit: ${err.message}`, {}, { cause: err });
      }
      // Also an abort before anything was sent: command() sends nothing for an aborted signal.
      if (err instanceof TorTimeoutError || err instanceof TorAbortError) {
        throw new TorCircuitError(`the circuit was not built: ${err.message}`, {}, { cause: err });
      }
      throw err;
    }
    if (this.closed) {
      // Closed while tor answered: no CIRC event reaches a closed state, so waiting for BUILT would
      // never end. Nobody will use the circuit tor began; the connection may still be open.
      if (!this.control.closed) this.control.command(`CLOSECIRCUIT ${id}`).catch((e) => log('closing abandoned circuit %s failed: %s', id, e));
      throw new TorControlClosedError('the Tor state was closed while tor built the circuit');
    }
    const circuit = ensureCircuit(this.snap, id, purpose?.toUpperCase());
    try {
      return await circuit.whenBuilt(remaining());
    } catch (err) {
      const gaveUp = err instanceof TorCircuitError && (err.cause instanceof TorTimeoutError || err.cause instanceof TorAbortError);
      if (gaveUp && !circuit.closed && !this.closed) {
        // Nobody will use it: do not leave a half-built circuit behind.
        this.closeCircuit(id).catch((e) => log('closing abandoned circuit %s failed: %s', id, e));
      }
      throw err;
    }
  }

  /** One hop of an EXTENDCIRCUIT path: `$FINGERPRINT`. */
  private hopSpec(hop: Router | string): string {
    if (hop instanceof Router) {
      if (!/^[0-9A-F]{40}$/.test(hop.fingerprint)) throw new TorInvalidValueError('circuit path', 'a Router without a fingerprint');
      return '$' + hop.fingerprint;
    }
    if (typeof hop !== 'string') throw new TorInvalidValueError('circuit path', 'hops must be Routers or strings');
    const fp = readLongName(hop);
    if (fp) {
      const { fingerprint, nickname } = fp;
      if (nickname === undefined) return '$' + fingerprint;
      // A LongName names one relay by both: as in routerByName (and in tor), the nickname must match.
      const router = this.snap.routers.get(fingerprint);
      // A relay this state does not list: tor checks the nickname against its own.
      if (router === undefined) return `$${fingerprint}~${nickname}`;
      if (asciiLower(nickname) !== asciiLower(router.nickname)) {
        throw new TorInvalidValueError('circuit path', `${hop} names relay $${fingerprint}, whose nickname is ${router.nickname}`);
      }
      return '$' + fingerprint;
    }
    if (!isNickname(hop)) throw new TorInvalidValueError('circuit path', `${JSON.stringify(hop.slice(0, 60))} is neither a fingerprint nor a nickname`);
    const router = this.nicknameIndex().get(asciiLower(hop));
    if (!router) throw new TorInvalidValueError('circuit path', `no relay named "${hop}" in the consensus`);
    // Nicknames are not unique: a path is where the traffic goes, so it is not left to the order of
    // the consensus which of them that is.
    if (this.sharedNicknames.has(asciiLower(hop))) {
      throw new TorInvalidValueError('circuit path', `several relays are named "${hop}" in the consensus: name the one meant by its fingerprint`);
    }
    return '$' + router.fingerprint;
  }

  /**
   * Closes a circuit (CLOSECIRCUIT). Resolves once tor accepted; `circuitClosed` follows.
   *
   * @param opts.ifUnused - only if no stream uses it. tor answers OK either way, so this resolves
   *   either way too: only a circuit tor did close gets `circuitClosed` (see `circuit.closed`).
   * @throws TorInvalidValueError for a malformed id, a non-boolean `ifUnused` or options that are no
   *   object (null is none); TorControlError (552)
   *   for an unknown circuit; TorAbortError / TorTimeoutError for `signal` / `timeoutMs`;
   *   TorControlClosedError once the state is closed
   */
  async closeCircuit(id: string, opts: CancelOptions & { ifUnused?: boolean } = {}): Promise<void> {
    this.assertOpen();
    if (!this.live) await this.untilStarted();
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new TorInvalidValueError('circuit id', idProblem(id));
    opts ??= {};
    assertCallOptions(opts, CLOSE_CIRCUIT_OPTION_KEYS, 'state.closeCircuit');
    const { ifUnused, ...cancel } = opts;
    if (ifUnused !== undefined && typeof ifUnused !== 'boolean') throw new TorInvalidValueError('ifUnused', 'must be a boolean');
    await this.control.command(`CLOSECIRCUIT ${id}${ifUnused === true ? ' IfUnused' : ''}`, cancel);
  }

  // ---------------------------------------------------------------- address map

  /**
   * MAPADDRESS (see {@link TorControl.mapAddress}): maps addresses, or with an address mapped to
   * itself removes its mapping. `addressMap` shows tor's answer once this resolves: a removed
   * mapping is gone (with `addrmapRemoved`; tor sends no event for it), a new one is there, and
   * tor's ADDRMAP event for it (`addrmapAdded`) follows. Changes made by other controllers (other
   * control connections) reach the state only when tor announces them: their removals never do.
   *
   * @returns the mappings tor made, one per pair, in order (for `0.0.0.0`, `::0` or `.`: the
   *   address tor chose)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad mappings (nothing is sent)
   * @throws TorControlError when tor refused a pair (the others were made, and are in `addressMap`);
   *   TorControlClosedError once the state is closed
   * @example
   * await state.mapAddress({ 'gone.example': '127.0.0.1' });
   * state.addressMap.get('gone.example')?.newAddress; // '127.0.0.1'
   * await state.mapAddress({ 'gone.example': 'gone.example' });
   * state.addressMap.has('gone.example'); // false
   */
  mapAddress(mappings: MapAddressMappings, opts: CancelOptions = {}): Promise<MappedAddress[]> {
    try {
      this.assertOpen();
      assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.mapAddress');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.control.mapAddress(mappings, opts);
  }

  // ---------------------------------------------------------------- streams

  /**
   * Closes a stream (CLOSESTREAM).
   *
   * @param reason - RELAY_END reason: a number 1-255 (or its decimal text) or a name (`MISC`,
   *   `DONE`, `TIMEOUT`, ..., any case).
   * @default reason 'MISC'
   * @throws TorInvalidValueError for a bad id or reason; TorControlError (552) for an unknown stream;
   *   TorControlClosedError once the state is closed
   */
  async closeStream(id: string, reason: number | string = REASON_MISC, opts: CancelOptions = {}): Promise<void> {
    this.assertOpen();
    if (!this.live) await this.untilStarted();
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new TorInvalidValueError('stream id', idProblem(id));
    const code = typeof reason === 'number' ? reason : typeof reason === 'string' ? streamCloseCode(reason) : undefined;
    if (code === undefined || !Number.isInteger(code) || code < 1 || code > 255) {
      throw new TorInvalidValueError('stream close reason', `must be 1-255 or one of ${Object.keys(STREAM_CLOSE_REASONS).join(', ')}`);
    }
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.closeStream');
    await this.control.command(`CLOSESTREAM ${id} ${code}`, opts);
  }

  /**
   * The stream tor made for `socket`, a connection this process opened to tor's SOCKS port: the
   * socket of `tor.connect()` or of a `tor:` endpoint, or `res.socket` of a request through
   * `tor.httpAgent()`. Its `circuit` says which circuit (and `circuit.path.at(-1)` which exit) the
   * connection rides. tor names each new stream's client by its address and port (SOURCE_ADDR),
   * which is the socket's local end.
   *
   * tor's SOCKS reply can reach the socket before tor's event about the stream reaches the state
   * (they travel on two connections): one command to tor first (GETINFO version) makes sure that
   * every event tor sent before answering it has been applied, so a socket whose SOCKS handshake
   * is done is found.
   *
   * Ask while the connection is open: once it closes, so does its stream (an agent without
   * `keepAlive` closes each connection when its response ends).
   *
   * @param opts - `signal` / `timeoutMs` bound the wait (a state still starting, the command)
   * @returns the stream, or undefined when the state knows no stream from that socket: its SOCKS
   *   handshake is not done, it is closed or its stream has ended, tor made it before the state
   *   started (tor's stream list does not say where streams come from), the socket has no TCP
   *   local address (a unix-socket SocksPort), it goes to another tor, or two streams came from
   *   its address and port (connections to two SocksPorts of one tor can share a local port)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `socket` is not a net.Socket, for bad
   *   options, and for a state made with `new` and never started; TorAbortError (`TOR_ABORTED`) /
   *   TorTimeoutError (`TOR_TIMEOUT`) for `signal` / `timeoutMs`; TorControlClosedError
   *   (`TOR_CONTROL_CLOSED`) once the state is closed
   * @example
   * const socket = await tor.connect('example.com:443');
   * const stream = await state.streamForSocket(socket);
   * console.log(stream?.circuit?.path.at(-1)?.nickname); // the exit
   */
  async streamForSocket(socket: net.Socket, opts: CancelOptions = {}): Promise<Stream | undefined> {
    this.assertOpen();
    opts ??= {};
    if (!(socket instanceof net.Socket)) throw new TorInvalidValueError('socket', `must be a net.Socket, got ${kindOf(socket)}`);
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.streamForSocket');
    // Refused even when the answer needs no tor (a closed socket), as by every call.
    throwIfAborted(opts.signal, 'finding the stream of a socket');
    const remaining = cancelBudget(opts);
    if (!this.live) await raceCancel(this.untilStarted(), 'waiting for the state to start', remaining());
    const key = socketSourceKey(socket);
    if (key === undefined) return undefined;
    // Events and replies come in the order tor sent them: once the answer is here, so is every
    // event tor sent before it, the stream's NEW among them when the SOCKS handshake is done.
    await this.control.getInfo('version', remaining());
    this.assertOpen();
    // Closed meanwhile: its port may be another connection's already.
    if (socket.destroyed) return undefined;
    let found: Stream | undefined;
    for (const st of this.snap.streams.values()) {
      const src = st.sourceAddr;
      if (src === undefined || sourceKey(src.host, src.port) !== key) continue;
      // Two streams from one address and port: connections to two SocksPorts of this tor may share
      // a local port (the kernel only keeps the four-tuple unique), and tor does not say which
      // port a stream came in on. Better no answer than another connection's stream.
      if (found !== undefined) return undefined;
      found = st;
    }
    return found;
  }

  /**
   * Decides the circuit of every new stream from now on (null: tor decides again). While an
   * attacher is set, tor's `__LeaveStreamsUnattached` is 1, and each stream tor hands over (its
   * CONTROLLER_WAIT status, tor 0.4.5 or later) goes to the attacher. The setting is reset when the
   * attacher is cleared or the state closes, unless it was 1 before or another TorState on the
   * connection still needs it. Of several states on one connection with an attacher, the first set
   * is asked, and the next one only once it is cleared.
   * Streams to `.onion` addresses never go to it (tor chooses their circuits), and tor's own
   * directory streams never wait for a controller; resolves through tor (`tor.resolve`: purpose
   * `DNS_REQUEST`, target port 0) do. A stream pinned with `tor.connect(target, { circuit })` goes
   * where it was pinned, whichever state on the connection pinned it. When the attacher throws or
   * its choice cannot be used, the stream is closed and `listenerError` says why; not when the
   * stream closed before tor got the answer (its client gave up): that is no error.
   *
   * Streams the attacher has not answered yet (its promise has not settled) follow the attacher in
   * place: when the state closes or the attacher is cleared (null), they go back to tor at once;
   * when another attacher replaces it, the new one is asked about them. The old attacher's later
   * answer for them is ignored. Without this, tor would keep them waiting for an answer nobody
   * gives (it gives up after two minutes) or take one from an attacher that was set aside. Setting
   * the same attacher again changes nothing.
   *
   * Setting another attacher, or clearing it (closing the state does too), also closes the connections that the Tor handle's
   * `fetch` and `httpAgent()` agents keep for reuse (see StreamHandoff.onAttacherChange): a request
   * on one opens no stream, and would go over the circuit an earlier choice made.
   *
   * On a state built with `new` and not started yet, the attacher is only kept: `start()` sets it
   * to work (tor's setting included) once the state follows tor's streams.
   *
   * @throws TorControlError when tor refuses the configuration change
   * @throws TorControlClosedError for an attacher once the state is closed (null is fine)
   * @example
   * await state.setAttacher((stream) => (stream.target.port === 443 ? myCircuit : undefined));
   */
  async setAttacher(attacher: StreamAttacher | null): Promise<void> {
    if (attacher !== null) this.assertOpen();
    if (attacher !== null && typeof attacher !== 'function') throw new TorInvalidValueError('attacher', 'must be a function or null');
    const replaced = attacher !== this.attacher;
    this.attacher = attacher;
    // Connections kept for reuse carry streams placed before: requests on them must not bypass this choice.
    if (replaced) this.handoff.attacherChanged();
    // Before start() the state sees no stream: tor would leave each new one waiting for it (and
    // other states on the connection would leave them to it). start() hands it the streams.
    if (!this.live) return;
    this.handoff.setAttaching(this, attacher !== null);
    const waiting = replaced ? this.takeUndecided() : [];
    // Handed back (ATTACHSTREAM 0) before the setting goes back to tor's: tor would leave them
    // waiting either way. Asked again: attachStream reads the attacher now in place.
    const handedOn = waiting.map((st) => (attacher === null ? this.attachTo(st, null) : this.attachStream(st, undefined)));
    await this.syncLeaveUnattached();
    if (attacher === null) await Promise.all(handedOn);
  }

  /**
   * Runs `open` (which opens a SOCKS connection through tor) so that its stream goes over
   * `circuit`: `open` calls `beforeHandshake(socket)` once connected to the SOCKS port and before
   * the SOCKS request; the socket's local address then identifies the stream (its SOURCE_ADDR)
   * when it arrives, and it is attached to the circuit. Other streams meanwhile go to the
   * attacher, or back to tor.
   *
   * @param opts - `signal` / `timeoutMs` bound the wait for a circuit not yet built (`open`'s own
   *   options bound the connection)
   * @throws TorCircuitError when the circuit does not exist, closed, is an onion-service protocol
   *   circuit (introduction, rendezvous, HSDir) or one tor keeps for itself (HS_VANGUARDS,
   *   CONFLUX_UNLINKED, CIRCUIT_PADDING, ...: tor would take the stream, and it would go nowhere), or was not built within
   *   `timeoutMs` or before `signal` aborted (`open` is then never called); and when `open` failed
   *   because the stream could not go on the circuit (it closed, tor refused the ATTACHSTREAM: the
   *   stream is closed, and the why is the `cause`); and when tor turned the stream down on the
   *   circuit (`open` failed with tor's SOCKS reply, a TorSocksError, which is the `cause`): the
   *   message says why, and `reason`/`remoteReason` are the REASON/REMOTE_REASON of the stream's
   *   FAILED (or CLOSED) event. Other failures of `open` pass through.
   * @throws TorControlClosedError when the state is closed, or closes before `open` is called
   */
  async connectVia<T>(
    circuit: Circuit | string,
    open: (beforeHandshake: (socket: net.Socket) => Promise<void>) => Promise<T>,
    opts: CancelOptions = {},
  ): Promise<T> {
    this.assertOpen();
    if (!this.live) await this.untilStarted();
    assertCircuitArgument(circuit);
    // Before anything: with a built circuit the timeout is never used, but a bad one is still refused.
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'state.connectVia');
    const c = typeof circuit === 'string' ? this.snap.circuits.get(circuit) : circuit;
    if (c === undefined || c.closed) {
      const id = typeof circuit === 'string' ? circuit : circuit.id;
      throw new TorCircuitError(`circuit ${id} does not exist or is closed`, { circuitId: id });
    }
    const streamless = streamlessCircuitRefusal(c);
    if (streamless !== undefined) throw new TorCircuitError(`circuit ${c.id} ${streamless}`, { circuitId: c.id });
    if (c.status !== 'BUILT') await c.whenBuilt(opts);
    const expectation: Expectation = { circuit: c, key: undefined, failure: undefined, stream: undefined, ending: undefined, wake: undefined };
    this.expectations.add(expectation);
    try {
      await this.syncLeaveUnattached();
      // Closed meanwhile: a stream opened now would be pinned to a state that no longer answers it.
      this.assertOpen();
      return await open(async (socket) => {
        const key = socketSourceKey(socket);
        if (key === undefined) {
          throw new TorCircuitError('cannot pin this stream to a circuit: its SOCKS connection has no TCP local address', {
            circuitId: c.id,
          });
        }
        expectation.key = key;
        this.expectedBySource.set(key, expectation);
        this.handoff.pin(key, this);
      });
    } catch (err) {
      // tor's SOCKS reply only says the stream failed (often a bare "general failure"); we know
      // why when the circuit was the cause, and otherwise tor's STREAM event says it.
      const refusedByTor = err instanceof TorSocksError && err.reply !== undefined;
      if (refusedByTor && expectation.failure === undefined) await this.waitForEnding(expectation, opts.signal);
      const why = expectation.failure;
      if (why !== undefined) {
        throw new TorCircuitError(`the stream could not use circuit ${c.id}: ${why.message}`, { circuitId: c.id }, { cause: why });
      }
      const { stream, ending } = expectation;
      if (stream === undefined || ending === undefined || !(err instanceof TorSocksError)) throw err;
      throw streamEndedError(c.id, stream.target, ending, err);
    } finally {
      this.expectations.delete(expectation);
      if (expectation.key !== undefined && this.expectedBySource.get(expectation.key) === expectation) {
        this.expectedBySource.delete(expectation.key);
        this.handoff.unpin(expectation.key, this);
      }
      this.syncLeaveUnattached().catch((err) => log('resetting __LeaveStreamsUnattached failed: %s', err));
    }
  }

  /**
   * Resolves once tor has said how the expectation's stream ended (see noteEnding), at once when
   * it has or no stream was seen; else at the first of that event, STREAM_END_WAIT_MS, `signal`
   * or the state closing. Never rejects.
   */
  private waitForEnding(expectation: Expectation, signal: AbortSignal | undefined): Promise<void> {
    if (expectation.ending !== undefined || expectation.stream === undefined || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        expectation.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, STREAM_END_WAIT_MS);
      signal?.addEventListener('abort', done, { once: true });
      expectation.wake = done;
    });
  }

  /** Keeps tor's reasons when a pinned connection's stream fails or closes (its first such event). */
  private noteEnding(st: Stream): void {
    for (const expectation of this.expectations) {
      if (expectation.stream !== st || expectation.ending !== undefined) continue;
      expectation.ending = { reason: st.reason, remoteReason: st.remoteReason };
      expectation.wake?.();
    }
  }

  /** Sets or resets __LeaveStreamsUnattached to match whether we attach streams now. Serialized. */
  private syncLeaveUnattached(): Promise<void> {
    const run = async () => {
      const want = !this.closed && (this.attacher !== null || this.expectations.size > 0);
      if (want === this.leaveActive) return;
      if (want) {
        await this.handoff.claim(this);
        this.leaveActive = true;
      } else {
        await this.handoff.release(this);
        this.leaveActive = false;
      }
    };
    const next = this.leaveChain.then(run, run);
    this.leaveChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Called for every STREAM event: hands streams that wait for a controller to the right place.
   * tor says when one does (CONTROLLER_WAIT, tor 0.4.5 and later): a new client stream right after
   * its NEW, a stream to an onion service once its descriptor is there, a stream tor detached (or
   * that an ATTACHSTREAM moved). A NEW alone is not enough: tor's own directory streams are never
   * ours to attach, and an onion stream fetching its descriptor answers ATTACHSTREAM with 555.
   */
  private maybeAttach(st: Stream, status: string): void {
    if (status !== 'CONTROLLER_WAIT') {
      // The stream moved on from any wait we answered: its next CONTROLLER_WAIT is a new one.
      st.attachPending = false;
      // tor closed it while the attacher decides (its client left, or tor's SocksTimeout, two
      // minutes, ran out): nothing is left to answer, and an attacher that never settles must not
      // keep it here for the state's lifetime.
      if (this.undecided.size > 0 && st.closed) this.undecided.delete(st);
      return;
    }
    if (st.closed || st.attachPending) return;
    const src = st.sourceAddr;
    const key = src === undefined ? undefined : sourceKey(src.host, src.port);
    // Every state on the connection sees this event: exactly one of them answers (see StreamHandoff).
    if (this.handoff.answerer(key, Date.now()) !== this) return;
    st.attachPending = true;
    void this.attachStream(st, key);
  }

  private async attachStream(st: Stream, key: string | undefined): Promise<void> {
    try {
      const expected = key === undefined ? undefined : this.expectedBySource.get(key);
      if (expected !== undefined) {
        expected.stream = st;
        // Read after a detach: REMOTE_REASON is kept from the DETACHED event.
        const refusal = st.attachAttempts > 0 ? exitRefusal(st.remoteReason, st.target) : undefined;
        if (expected.circuit.closed || st.attachAttempts >= MAX_ATTACH_ATTEMPTS || refusal !== undefined) {
          const id = expected.circuit.id;
          // The reasons of the stream's last DETACHED event.
          const fields = { circuitId: id, ...streamReasonFields(st.reason, st.remoteReason) };
          expected.failure ??= expected.circuit.closed
            ? expected.circuit.failure()
            : refusal !== undefined
              ? new TorCircuitError(`the exit of circuit ${id} ${refusal}`, fields)
              : new TorCircuitError(`tor kept detaching the stream from circuit ${id}, the last time for ${describeStreamEnd(st.reason, st.remoteReason)}`, fields);
          await this.closeStreamQuietly(st);
        } else {
          await this.attachTo(st, expected.circuit, (why) => (expected.failure = why), true);
        }
        return;
      }
      // tor builds the rendezvous circuits of onion streams itself: only "tor decides" works.
      const attacher = this.attacher;
      if (attacher === null || isOnionHostname(st.target.host)) {
        await this.attachTo(st, null);
        return;
      }
      let chosen: Circuit | string | undefined | null;
      const round: AttachRound = { handedOn: false };
      // The stream waits again while the attacher still decides about its last wait (another
      // controller attached it meanwhile, tor detached it): only this wait is still to answer.
      const previous = this.undecided.get(st);
      if (previous !== undefined) previous.handedOn = true;
      this.undecided.set(st, round);
      try {
        chosen = await attacher(st, this);
      } catch (err) {
        // Handed back to tor or to another attacher meanwhile: it is not ours to close any more.
        if (!this.endRound(st, round)) return;
        // Its way of refusing the stream; a bug in it looks the same, so it is reported too.
        this.reportListenerError(err, 'attacher');
        await this.closeStreamQuietly(st);
        return;
      }
      if (!this.endRound(st, round) || st.closed) return;
      if (chosen === undefined || chosen === null || this.closed) {
        // A state closed while its attacher decided hands the stream back: tor would not retry it.
        await this.attachTo(st, null);
        return;
      }
      if (typeof chosen !== 'string' && !(chosen instanceof Circuit)) {
        // A number or an object with an id is not a mistake the message below should hide as "a
        // circuit this state does not know".
        const kind = typeof chosen;
        const what =
          kind === 'number' || kind === 'boolean' || kind === 'bigint' ? `the ${kind} ${String(chosen)}` : kind === 'object' ? 'an object that is not a Circuit' : `a ${kind}`;
        this.reportListenerError(
          new TorCircuitError(`the attacher returned ${what} for stream ${st.id}, not a Circuit or a circuit id string: the stream is closed`),
          'attacher',
        );
        await this.closeStreamQuietly(st);
        return;
      }
      const circuit = typeof chosen === 'string' ? this.snap.circuits.get(chosen) : chosen;
      if (!(circuit instanceof Circuit) || circuit.closed || st.attachAttempts >= MAX_ATTACH_ATTEMPTS) {
        const id = circuit instanceof Circuit ? circuit.id : String(chosen);
        const why =
          st.attachAttempts >= MAX_ATTACH_ATTEMPTS
            ? `tor kept detaching stream ${st.id} from circuit ${id}`
            : `the attacher chose circuit ${id} for stream ${st.id}, which ${circuit instanceof Circuit ? 'is closed' : 'this state does not know'}`;
        this.reportListenerError(new TorCircuitError(`${why}: the stream is closed`, { circuitId: id }), 'attacher');
        await this.closeStreamQuietly(st);
        return;
      }
      const streamless = streamlessCircuitRefusal(circuit);
      if (streamless !== undefined) {
        this.reportListenerError(
          new TorCircuitError(`the attacher chose circuit ${circuit.id} for stream ${st.id}, which ${streamless}: the stream is closed`, { circuitId: circuit.id }),
          'attacher',
        );
        await this.closeStreamQuietly(st);
        return;
      }
      await this.attachTo(st, circuit, (why) =>
        this.reportListenerError(
          new TorCircuitError(`the attacher's circuit ${circuit.id} could not take stream ${st.id}: the stream is closed`, { circuitId: circuit.id }, { cause: why }),
          'attacher',
        ),
      );
    } catch (err) {
      log('attaching stream %s failed: %O', st.id, err);
    }
  }

  /** Ends `round` of asking about `st`; false when its answer no longer counts (see AttachRound). */
  private endRound(st: Stream, round: AttachRound): boolean {
    if (this.undecided.get(st) === round) this.undecided.delete(st);
    return !round.handedOn;
  }

  /**
   * Takes the streams the attacher has not answered from it (its answers for them will be
   * ignored), and returns those tor still keeps waiting for a controller: one that another
   * controller attached meanwhile would be taken off its circuit by a new answer.
   */
  private takeUndecided(): Stream[] {
    const waiting: Stream[] = [];
    for (const [st, round] of this.undecided) {
      round.handedOn = true;
      if (st.status === 'CONTROLLER_WAIT') waiting.push(st);
    }
    this.undecided.clear();
    return waiting;
  }

  /**
   * ATTACHSTREAM to `circuit` (once it is built), or to 0 (tor decides) for null. Should the state
   * close meanwhile, an attacher's stream is handed back to tor; a pinned one (`pinned`) is closed
   * instead: it must not end up on a circuit its caller did not choose.
   * @param refused - told why the stream could not go on `circuit`, before the stream is closed
   *   (so that whoever waits on the stream's SOCKS connection can know it when that fails)
   */
  private async attachTo(st: Stream, circuit: Circuit | null, refused?: (why: Error) => void, pinned = false): Promise<void> {
    if (circuit === null) {
      await this.control.command(`ATTACHSTREAM ${st.id} 0`).catch((err) => {
        // 555: tor had already attached it (e.g. it was not ours to wait for). Nothing to undo.
        log('ATTACHSTREAM %s 0: %s', st.id, err);
      });
      return;
    }
    st.attachAttempts++;
    if (circuit.status !== 'BUILT') {
      try {
        await circuit.whenBuilt({ timeoutMs: ATTACH_BUILD_TIMEOUT_MS });
      } catch (err) {
        // A closed state abandons its circuits' waiters: that case is handled below.
        if (!this.closed) {
          log('circuit %s for stream %s never got built: %s', circuit.id, st.id, err);
          // The client gave up meanwhile: nothing was lost to the circuit.
          if (st.closed) return;
          refused?.(err instanceof Error ? err : new TorCircuitError(String(err), { circuitId: circuit.id }));
          await this.closeStreamQuietly(st);
          return;
        }
      }
    }
    if (st.closed) return;
    if (this.closed) {
      // Closed while the circuit was built: the stream would wait for nobody.
      if (!pinned) {
        await this.attachTo(st, null);
        return;
      }
      refused?.(new TorControlClosedError('the Tor state was closed'));
      await this.closeStreamQuietly(st);
      return;
    }
    try {
      await this.control.command(`ATTACHSTREAM ${st.id} ${circuit.id}`);
    } catch (err) {
      if (!(err instanceof TorControlError)) throw err;
      log('ATTACHSTREAM %s %s refused: %s', st.id, circuit.id, err.message);
      // The stream was gone before tor read the command: its client gave up (or tor did) just as
      // we answered. tor's CLOSED event comes before or after this reply (it is sent when tor
      // frees the stream, which may be after it refused a stream it had only marked for close).
      // Nobody's mistake, and nothing to close: whoever waits on the SOCKS connection has its own
      // error, from the client or from tor's reasons.
      if (st.closed || isUnknownStream(err)) return;
      refused?.(err);
      await this.closeStreamQuietly(st);
    }
  }

  private async closeStreamQuietly(st: Stream): Promise<void> {
    if (st.closed || this.control.closed) return;
    await this.control.command(`CLOSESTREAM ${st.id} ${REASON_MISC}`).catch((err) => log('CLOSESTREAM %s: %s', st.id, err));
  }

  /**
   * tor's client listeners now (SocksPort, HTTPTunnelPort, TransPort, NATDPort), for clientProcess
   * (listeners come and go with SETCONF). Lookups made at the same time (a monitor asking about
   * every stream) share one GETINFO of each.
   */
  private clientPeers(): Promise<readonly SocketPeer[] | undefined> {
    if (this.control.closed) return Promise.resolve(undefined);
    this.clientPeersLookup ??= Promise.all([
      this.control.getInfo('net/listeners/socks'),
      // A stream of an HTTPTunnelPort client (CLIENT_PROTOCOL=HTTPCONNECT) has a local process too,
      // connected there rather than to a SOCKS port, and so do TransPort (TRANS) and NATDPort
      // (NATD) streams: their SOURCE_ADDR is the client's end of its connection to the listener,
      // as for SOCKS (control-spec 4.1.2: "the address and port that requested the connection";
      // tor sets it from the accepted socket's peer for every client listener, connection.c).
      // Asked apart: should this tor not know a key, the SOCKS listeners still narrow the search
      // (without any, every socket on the port counts).
      this.optionalListeners('net/listeners/httptunnel'),
      this.optionalListeners('net/listeners/trans'),
      this.optionalListeners('net/listeners/natd'),
    ]).then(
      (values) => values.flatMap((v) => listenerPeers(v)),
      (err: unknown) => {
        log('GETINFO net/listeners/socks: %s', err);
        return undefined;
      },
    );
    const lookup = this.clientPeersLookup;
    void lookup.finally(() => {
      if (this.clientPeersLookup === lookup) this.clientPeersLookup = undefined;
    });
    return lookup;
  }

  /** `GETINFO key` for a listener list, '' (none) when tor refuses it. */
  private optionalListeners(key: string): Promise<string> {
    return this.control.getInfo(key).catch((err: unknown) => {
      log('GETINFO %s: %s', key, err);
      return '';
    });
  }

  // ---------------------------------------------------------------- descriptors

  /** For Router.descriptor/microdescriptor: `GETINFO key`, undefined when tor has no such document (552). */
  private async descriptorText(key: string, opts: CancelOptions): Promise<string | undefined> {
    this.assertOpen();
    try {
      return await this.control.getInfo(key, opts);
    } catch (err) {
      // tor answers 552 (`Unrecognized key`) both for a relay it knows no descriptor of and for a
      // fingerprint it has never heard of; the fingerprint here is always 40 hex digits.
      if (err instanceof TorControlError && err.status === 552) return undefined;
      throw err;
    }
  }

  // ---------------------------------------------------------------- geoip

  private locate(ip: string): Promise<Location> {
    // Without a source of its own, tor's table, through the same class tor.getState() falls back
    // to: one answer for one question (a tor without GeoIP data is a GeoIpDatabaseError both ways).
    this.geoip ??= new TorGeoIp(this.control);
    const geoip = this.geoip;
    // An injected lookup may answer at once, or throw: either way the caller gets a promise.
    return new Promise<Location>((resolve) => resolve(geoip.lookup(ip)));
  }

  // ---------------------------------------------------------------- lifecycle

  private assertOpen(): void {
    if (this.closed) throw new TorControlClosedError('the Tor state is closed');
  }

  /**
   * For what needs the state to follow tor (circuits built, streams pinned): waits for a start()
   * under way. A state built with `new` and never started would wait for events it never gets.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when start() was not called
   */
  private async untilStarted(): Promise<void> {
    if (this.starting === undefined) {
      throw new TorInvalidValueError('Tor state', 'is not started: call start() first (TorState.create and tor.getState() give a started state)');
    }
    await this.starting;
    this.assertOpen();
  }

  /**
   * Stops following tor: unsubscribes, resets `__LeaveStreamsUnattached` if we set it, rejects
   * whoever waits on a circuit, and emits `close`. Idempotent, and never waits more than a few
   * seconds for tor. The control connection stays open.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.control.off('close', this.onControlClose);
      this.shutDown(new TorControlClosedError('the Tor state was closed'));
      // tor leaves a stream waiting for the controller until it is answered (or it gives up on it,
      // some two minutes on), even once __LeaveStreamsUnattached is back to 0: hand them back now,
      // while the connection is open (tor.close() closes it next), not whenever an attacher that
      // may never answer returns. Only those still waiting: one that another controller attached
      // meanwhile would be taken off its circuit.
      const undecided = this.takeUndecided();
      // Bounded: a tor that stopped answering must not make close() hang.
      const tidy = (async () => {
        await Promise.all(undecided.map((st) => this.attachTo(st, null)));
        await this.unsubscribeAll();
        await this.syncLeaveUnattached().catch((err) => log('resetting __LeaveStreamsUnattached failed: %s', err));
      })();
      await raceCancel(tidy, 'closing the Tor state', { timeoutMs: CLOSE_TIMEOUT_MS }).catch((err) => log('%s', err));
    })();
    return this.closing;
  }

  /** `close()`, for `await using state = await TorState.create(tor.control)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Undoes the subscriptions made so far (each tells tor only when nobody else wants the event). */
  private async unsubscribeAll(): Promise<void> {
    const offs = this.unsubscribers.splice(0);
    await Promise.all(offs.map((off) => off().catch((err) => log('unsubscribing failed: %s', err))));
  }

  /** Marks the state closed, releases waiters and timers, emits `close` once. */
  private shutDown(err: Error, reported?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.control.off('addressMapped', this.onAddressMapped);
    this.attacher = null;
    // Its attacher goes with it: the handoff tells whoever keeps connections (see leave).
    this.handoff.leave(this);
    for (const expectation of this.expectations) expectation.wake?.();
    this.expectations.clear();
    this.expectedBySource.clear();
    this.buffer = null;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const c of this.snap.circuits.values()) c.abandon(err);
    if (reported === undefined) this.fire('close');
    else this.fire('close', reported);
  }
}
