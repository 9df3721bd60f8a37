/**
 * Typed asynchronous events (control-spec 4.1). `TorEvent` is a discriminated union on `type`, the
 * wire event name verbatim; `TorEventMap` maps each name to its event type.
 *
 * Conventions shared by every event object:
 * - `raw` is the event text as tor sent it, without the `650` status and separator: the text of each
 *   reply line, a line's data block right after it, all joined by "\n" (e.g.
 *   `CIRC 1 BUILT $AAAA...~a BUILD_FLAGS=NEED_CAPACITY`). It may hold secrets (SOCKS_PASSWORD):
 *   log it only through `redactEventText`.
 * - `extra` holds the keyword arguments the typed fields do not model (control-spec 4.1: clients must
 *   tolerate unknown keywords), values unquoted; a keyword whose value is malformed for its typed field
 *   (say `NCIRCS=x`) is kept there too, and the typed field stays `undefined`. Extra positional
 *   arguments are ignored (they remain in `raw`).
 * - Optional typed fields are always present as keys (`undefined` when tor did not send them), so all
 *   events of one type share one object shape; this keeps consumers' property access monomorphic.
 * - Lists (and relay references) may be shared between events and frozen: treat them as read-only.
 * - `raw` is a string of its own, decoded from the event's line alone; fields cut from it may be
 *   slices of it (V8 substrings), so a field kept for long keeps that line alive too, never more.
 *   Enumerated values such as statuses and reasons are shared constants, or copies when tor sends
 *   one we do not know.
 * - An event whose name we do not know, or a known event that does not follow its grammar, is a
 *   {@link GenericEvent} (`generic: true`, `type` still the wire name, `parseError` set for the
 *   malformed case): parsing never throws and never drops an event.
 */

/**
 * A relay as tor names it in events: `$FINGERPRINT~nickname` (control-spec 2.4 LongName). The parser
 * shares one frozen object between all events naming the same relay, so compare by value or identity.
 */
export interface RouterRef {
  /**
   * 40 hex digits, upper case, without `$`. The empty string for the legacy nickname-only form
   * (tors before 0.2.2.1-alpha, and the spec's own `moria1,moria2` examples), where tor gave no
   * fingerprint.
   */
  fingerprint: string;
  /** The nickname after `~` (or the legacy `=`), when tor gave one. */
  nickname?: string | undefined;
}

/** An address and port, IPv6 brackets removed (`[::1]:80` gives host `::1`). */
export interface HostPort {
  host: string;
  port: number;
}

/** Fields every event has. */
export interface EventBase<T extends string> {
  /** The wire event name, e.g. `CIRC`. */
  type: T;
  /** The event text as received (see the module comment). May hold secrets: never log it raw. */
  raw: string;
  /** Keyword arguments not modelled by typed fields, values unquoted. */
  extra: Readonly<Record<string, string>>;
  /** Only {@link GenericEvent} sets this; lets `if (e.generic)` narrow the union. */
  generic?: undefined;
}

/** Circuit status (control-spec 4.1.1). Tor may add values: compare, never assume the list is closed. */
export type CircStatus =
  | 'LAUNCHED'
  | 'BUILT'
  | 'GUARD_WAIT'
  | 'EXTENDED'
  | 'FAILED'
  | 'CLOSED'
  | (string & {});

/** Stream status (control-spec 4.1.2). */
export type StreamStatus =
  | 'NEW'
  | 'NEWRESOLVE'
  | 'REMAP'
  | 'SENTCONNECT'
  | 'SENTRESOLVE'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CLOSED'
  | 'DETACHED'
  | 'CONTROLLER_WAIT'
  | 'XOFF_SENT'
  | 'XOFF_RECV'
  | 'XON_SENT'
  | 'XON_RECV'
  | (string & {});

/** OR connection status (control-spec 4.1.3). */
export type OrConnStatus = 'NEW' | 'LAUNCHED' | 'CONNECTED' | 'FAILED' | 'CLOSED' | (string & {});

/** Log severities, which are also the log event names (control-spec 4.1.5). */
export type LogSeverity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARN' | 'ERR';

/** Names of the three status events (control-spec 4.1.10). */
export type StatusEventName = 'STATUS_GENERAL' | 'STATUS_CLIENT' | 'STATUS_SERVER';

/** Fields shared by CIRC and CIRC_MINOR. */
export interface CircuitFields {
  /** Tor's circuit id (1-16 alphanumerics; digits today). */
  circuitId: string;
  /** The hops built so far, first hop (guard) first. Empty before the first hop completes. */
  path: readonly RouterRef[];
  /** BUILD_FLAGS, e.g. `NEED_CAPACITY`, `IS_INTERNAL`, `ONEHOP_TUNNEL`, `NEED_UPTIME`. */
  buildFlags: readonly string[];
  /** PURPOSE, e.g. `GENERAL`, `HS_CLIENT_REND`, `CONFLUX_LINKED`. */
  purpose?: string | undefined;
  /** HS_STATE, e.g. `HSCR_JOINED`. */
  hsState?: string | undefined;
  /** REND_QUERY: the onion address (without `.onion`) of an onion-service circuit. */
  rendQuery?: string | undefined;
  /** TIME_CREATED (UTC; millisecond precision, `raw` keeps the microseconds). */
  timeCreated?: Date | undefined;
}

/** `650 CIRC` (control-spec 4.1.1); also one line of `GETINFO circuit-status`. */
export interface CircEvent extends EventBase<'CIRC'>, CircuitFields {
  status: CircStatus;
  /** REASON (FAILED/CLOSED only), e.g. `FINISHED`, `TIMEOUT`. */
  reason?: string | undefined;
  /** REMOTE_REASON: the reason a remote relay gave in DESTROY/TRUNCATE. */
  remoteReason?: string | undefined;
  /** SOCKS_USERNAME: the isolation credentials the circuit was built for. */
  socksUsername?: string | undefined;
  /** SOCKS_PASSWORD. A secret in practice (Tor Browser's isolation nonce): never log it. */
  socksPassword?: string | undefined;
  /** HS_POW: the proof-of-work an onion-service circuit used, e.g. `v1,100`. */
  hsPow?: { type: string; effort: number } | undefined;
  /** CONFLUX_ID (tor 0.4.8+): the conflux set a leg belongs to. */
  confluxId?: string | undefined;
  /** CONFLUX_RTT (tor 0.4.8+): the leg's round-trip time in milliseconds. */
  confluxRtt?: number | undefined;
}

/** `650 CIRC_MINOR` (control-spec 4.1.19). */
export interface CircMinorEvent extends EventBase<'CIRC_MINOR'>, CircuitFields {
  /** `PURPOSE_CHANGED`, `CANNIBALIZED`, or a newer value. */
  event: string;
  /** OLD_PURPOSE. */
  oldPurpose?: string | undefined;
  /** OLD_HS_STATE. */
  oldHsState?: string | undefined;
  /** CONFLUX_ID (tor 0.4.9 sends it when a leg joins a conflux set: PURPOSE=CONFLUX_LINKED). */
  confluxId?: string | undefined;
}

/** `650 STREAM` (control-spec 4.1.2); also one line of `GETINFO stream-status`. */
export interface StreamEvent extends EventBase<'STREAM'> {
  streamId: string;
  status: StreamStatus;
  /** The circuit the stream is attached to; `"0"` when unattached. */
  circuitId: string;
  /** Where the stream goes; `host` may be `(Tor_internal)` or end in `.$FP.exit`. */
  target: HostPort;
  reason?: string | undefined;
  remoteReason?: string | undefined;
  /** SOURCE (REMAP only): `CACHE` or `EXIT`. */
  source?: string | undefined;
  /** SOURCE_ADDR: the client that opened the stream, e.g. `127.0.0.1:51234` or `(Tor_internal):0`. */
  sourceAddr?: HostPort | undefined;
  /** PURPOSE: `USER`, `DIR_FETCH`, `DNS_REQUEST`, ... */
  purpose?: string | undefined;
  socksUsername?: string | undefined;
  /** SOCKS_PASSWORD. A secret in practice: never log it. */
  socksPassword?: string | undefined;
  /** CLIENT_PROTOCOL: `SOCKS4`, `SOCKS5`, `TRANS`, `NATD`, `DNS`, `HTTPCONNECT`, `UNKNOWN`, ... */
  clientProtocol?: string | undefined;
  /** NYM_EPOCH: incremented by each NEWNYM. */
  nymEpoch?: number | undefined;
  /** SESSION_GROUP of the listener (negative for tor's automatic groups). */
  sessionGroup?: number | undefined;
  /** ISO_FIELDS: the fields the stream is isolated on. */
  isoFields?: readonly string[] | undefined;
}

/** `650 ORCONN` (control-spec 4.1.3); also one line of `GETINFO orconn-status`. */
export interface OrConnEvent extends EventBase<'ORCONN'> {
  /** The connection's peer as tor wrote it: a LongName, or `address:port` for NEW/unknown peers. */
  target: string;
  /** The peer relay when `target` is a LongName. */
  router?: RouterRef | undefined;
  /** The peer address when `target` is `address:port`. */
  address?: HostPort | undefined;
  status: OrConnStatus;
  reason?: string | undefined;
  /** NCIRCS: established and pending circuits on the connection. */
  numCircuits?: number | undefined;
  /** ID: the connection id (tor 0.2.5.2+). */
  connectionId?: string | undefined;
}

/** `650 BW` (control-spec 4.1.4): bytes in the last second. Per-type counts stay in `extra`. */
export interface BwEvent extends EventBase<'BW'> {
  read: number;
  written: number;
}

/** `650 DEBUG|INFO|NOTICE|WARN|ERR` (control-spec 4.1.5), single-line or data-block form. */
export interface LogEvent<S extends LogSeverity = LogSeverity> extends EventBase<S> {
  severity: S;
  message: string;
}

/** `650 NEWDESC` (control-spec 4.1.6). */
export interface NewDescEvent extends EventBase<'NEWDESC'> {
  routers: readonly RouterRef[];
}

/** `650 ADDRMAP` (control-spec 4.1.7); also one line of `GETINFO address-mappings/*`. */
export interface AddrMapEvent extends EventBase<'ADDRMAP'> {
  /** The address that was mapped (a hostname, or an IP for reverse/virtual mappings). */
  address: string;
  /** What it maps to; `null` when tor sent `<error>` (a failed resolve). */
  newAddress: string | null;
  /**
   * When the mapping expires, `null` for NEVER. Taken from the UTC `EXPIRES=` keyword when present,
   * else from the positional expiry (local time in events, UTC in GETINFO address-mappings).
   */
  expires: Date | null;
  /** `error=` (e.g. `yes`, `internal`): set for failed resolves. */
  error?: string | undefined;
  /** CACHED: whether tor keeps the mapping until it expires. */
  cached?: boolean | undefined;
  /** STREAMID: the stream (or circuit) the address was resolved for. */
  streamId?: string | undefined;
}

/** `650+AUTHDIR_NEWDESCS` (control-spec 4.1.8; removed in tor 0.3.2.1-alpha). */
export interface AuthDirNewDescsEvent extends EventBase<'AUTHDIR_NEWDESCS'> {
  action: string;
  message: string;
  descriptor: string;
}

/** `650 DESCCHANGED` (control-spec 4.1.9). */
export type DescChangedEvent = EventBase<'DESCCHANGED'>;

/** The keywords of a `STATUS_CLIENT ... BOOTSTRAP` event, typed. */
export interface BootstrapStatus {
  /** PROGRESS, 0..100. */
  progress: number;
  /** TAG, e.g. `done`, `conn`, `handshake_dir` (control-spec 5.5). */
  tag: string;
  /** SUMMARY: human-readable description of the next step. */
  summary: string;
  /** WARNING (problem reports only). */
  warning?: string | undefined;
  /** REASON (problem reports only), one of the ORCONN reasons. */
  reason?: string | undefined;
  /** COUNT of problems at this phase. */
  count?: number | undefined;
  /** RECOMMENDATION: `ignore` or `warn`. */
  recommendation?: string | undefined;
  /** HOST: identity digest of the relay we were connecting to. */
  host?: string | undefined;
  /** HOSTADDR: its `address:port`. */
  hostAddr?: string | undefined;
}

/** `650 STATUS_GENERAL|STATUS_CLIENT|STATUS_SERVER` (control-spec 4.1.10). */
export interface StatusEvent<T extends StatusEventName = StatusEventName> extends EventBase<T> {
  /** `NOTICE`, `WARN` or `ERR`. */
  severity: string;
  /** e.g. `BOOTSTRAP`, `CIRCUIT_ESTABLISHED`, `EXTERNAL_ADDRESS`. */
  action: string;
  /** Every keyword argument, values unquoted (so `extra` is always empty for status events). */
  arguments: Readonly<Record<string, string>>;
  /** For `BOOTSTRAP` actions with a numeric PROGRESS: the typed arguments. */
  bootstrap?: BootstrapStatus | undefined;
}

/** `650 GUARD` (control-spec 4.1.11). */
export interface GuardEvent extends EventBase<'GUARD'> {
  /** `ENTRY` today. */
  guardType: string;
  /** The guard as tor wrote it. */
  name: string;
  router: RouterRef;
  /** `NEW`, `UP`, `DOWN`, `BAD`, `BAD_L2`, `GOOD`, `DROPPED`, ... */
  status: string;
}

/** `650+NS` (control-spec 4.1.12): router status entries, unparsed (see src/state). */
export interface NsEvent extends EventBase<'NS'> {
  /** The data block: router status entries, lines joined by "\n". */
  body: string;
}

/** `650+NEWCONSENSUS` (control-spec 4.1.15): every usable relay's status entry, unparsed. */
export interface NewConsensusEvent extends EventBase<'NEWCONSENSUS'> {
  body: string;
}

/** `650 STREAM_BW` (control-spec 4.1.13). Note the order on the wire: written, then read. */
export interface StreamBwEvent extends EventBase<'STREAM_BW'> {
  streamId: string;
  /** Bytes the application wrote (tor read) since the last STREAM_BW of this stream. */
  written: number;
  /** Bytes the application read (tor wrote). */
  read: number;
  /** When tor made the event (tor 0.3.2.1+). */
  time?: Date | undefined;
}

/** `650 CLIENTS_SEEN` (control-spec 4.1.14). */
export interface ClientsSeenEvent extends EventBase<'CLIENTS_SEEN'> {
  /** TimeStarted (UTC). */
  timeStarted?: Date | undefined;
  /** CountrySummary: country code to (rounded) client count. */
  countrySummary: Readonly<Record<string, number>>;
  /** IPVersions: protocol family (`v4`, `v6`) to client count. */
  ipVersions: Readonly<Record<string, number>>;
}

/** `650 BUILDTIMEOUT_SET` (control-spec 4.1.16). */
export interface BuildTimeoutSetEvent extends EventBase<'BUILDTIMEOUT_SET'> {
  /** `COMPUTED`, `RESET`, `SUSPENDED`, `DISCARD`, `RESUME`, ... */
  setType: string;
  totalTimes?: number | undefined;
  timeoutMs?: number | undefined;
  xm?: number | undefined;
  alpha?: number | undefined;
  cutoffQuantile?: number | undefined;
  timeoutRate?: number | undefined;
  closeMs?: number | undefined;
  closeRate?: number | undefined;
}

/** `650 SIGNAL` (control-spec 4.1.17). */
export interface SignalEvent extends EventBase<'SIGNAL'> {
  /** `RELOAD`, `DUMP`, `DEBUG`, `NEWNYM`, `CLEARDNSCACHE`, ... */
  signal: string;
}

/** One changed option of a CONF_CHANGED event. */
export interface ConfChange {
  key: string;
  /** The new value, verbatim; `null` when the option went back to its default (unset). */
  value: string | null;
}

/** `650-CONF_CHANGED` (control-spec 4.1.18). A repeated key (e.g. two SocksPort lines) appears twice. */
export interface ConfChangedEvent extends EventBase<'CONF_CHANGED'> {
  changes: readonly ConfChange[];
}

/** `650 TRANSPORT_LAUNCHED` (control-spec 4.1.20). */
export interface TransportLaunchedEvent extends EventBase<'TRANSPORT_LAUNCHED'> {
  /** `server` or `client`. */
  transportType: string;
  name: string;
  address: string;
  port: number;
}

/** `650 CONN_BW` (control-spec 4.1.21). */
export interface ConnBwEvent extends EventBase<'CONN_BW'> {
  connectionId: string;
  /** `OR`, `DIR`, `EXIT`, ... */
  connectionType: string;
  read: number;
  written: number;
}

/** `650 CIRC_BW` (control-spec 4.1.22). */
export interface CircBwEvent extends EventBase<'CIRC_BW'> {
  circuitId: string;
  read: number;
  written: number;
  time?: Date | undefined;
  deliveredRead?: number | undefined;
  overheadRead?: number | undefined;
  deliveredWritten?: number | undefined;
  overheadWritten?: number | undefined;
  /** SS: whether the circuit's congestion control is in slow start. */
  slowStart?: boolean | undefined;
  /** CWND, in cells. */
  cwnd?: number | undefined;
  /** RTT in milliseconds. */
  rtt?: number | undefined;
  /** MIN_RTT in milliseconds. */
  minRtt?: number | undefined;
}

/** `650 CELL_STATS` (control-spec 4.1.23). Cell-type maps: cell type to count or milliseconds. */
export interface CellStatsEvent extends EventBase<'CELL_STATS'> {
  circuitId?: string | undefined;
  inboundQueue?: string | undefined;
  inboundConn?: string | undefined;
  inboundAdded?: Readonly<Record<string, number>> | undefined;
  inboundRemoved?: Readonly<Record<string, number>> | undefined;
  inboundTime?: Readonly<Record<string, number>> | undefined;
  outboundQueue?: string | undefined;
  outboundConn?: string | undefined;
  outboundAdded?: Readonly<Record<string, number>> | undefined;
  outboundRemoved?: Readonly<Record<string, number>> | undefined;
  outboundTime?: Readonly<Record<string, number>> | undefined;
}

/** `650 TB_EMPTY` (control-spec 4.1.24). Times in milliseconds. */
export interface TbEmptyEvent extends EventBase<'TB_EMPTY'> {
  /** `GLOBAL`, `RELAY`, `ORCONN`, ... */
  bucket: string;
  connectionId?: string | undefined;
  read?: number | undefined;
  written?: number | undefined;
  last?: number | undefined;
}

/** `650 HS_DESC` (control-spec 4.1.25). */
export interface HsDescEvent extends EventBase<'HS_DESC'> {
  /** `REQUESTED`, `UPLOAD`, `RECEIVED`, `UPLOADED`, `IGNORE`, `FAILED`, `CREATED`, ... */
  action: string;
  /** The onion address without `.onion`, or `UNKNOWN`. */
  address: string;
  /** `NO_AUTH`, `BASIC_AUTH`, `STEALTH_AUTH`, `UNKNOWN`. */
  authType: string;
  /** The directory as tor wrote it (LongName, fingerprint, or `UNKNOWN`). */
  hsDir: string;
  /** The directory relay, when `hsDir` names one. */
  hsDirRouter?: RouterRef | undefined;
  /** The descriptor id (v3: the blinded key). */
  descriptorId?: string | undefined;
  reason?: string | undefined;
  replica?: number | undefined;
  /** HSDIR_INDEX (v3): 64 hex digits. */
  hsDirIndex?: string | undefined;
}

/** `650+HS_DESC_CONTENT` (control-spec 4.1.26). */
export interface HsDescContentEvent extends EventBase<'HS_DESC_CONTENT'> {
  address: string;
  descriptorId: string;
  hsDir: string;
  hsDirRouter?: RouterRef | undefined;
  /** The descriptor text; empty when the fetch failed. */
  descriptor: string;
}

/** `650 NETWORK_LIVENESS` (control-spec 4.1.27). */
export interface NetworkLivenessEvent extends EventBase<'NETWORK_LIVENESS'> {
  /** `UP`, `DOWN`, ... */
  status: string;
}

/** `650 PT_LOG` (control-spec 4.1.28). */
export interface PtLogEvent extends EventBase<'PT_LOG'> {
  /** PT: the transport program's path. */
  program: string;
  /** SEVERITY: `error`, `warning`, `notice`, `info`, `debug`. */
  severity?: string | undefined;
  message?: string | undefined;
}

/** `650 PT_STATUS` (control-spec 4.1.29). */
export interface PtStatusEvent extends EventBase<'PT_STATUS'> {
  program: string;
  transport?: string | undefined;
  /** The status keywords the transport sent (everything but PT and TRANSPORT). */
  arguments: Readonly<Record<string, string>>;
}

/**
 * An event we have no typed form for: an unknown name, or a known name whose text does not follow
 * its grammar (then `parseError` says why). `type` is the wire name (`"UNKNOWN"` only if the reply
 * had no text at all).
 */
export interface GenericEvent {
  type: string;
  /** Always true: distinguishes generic events from typed ones. */
  generic: true;
  raw: string;
  /** Positional arguments after the event name (best effort; empty if they could not be split). */
  args: readonly string[];
  /** All keyword arguments (best effort). */
  extra: Readonly<Record<string, string>>;
  /** The data block, for `650+NAME` events. */
  body?: string | undefined;
  /** Why a known event could not be parsed; absent for unknown event names. */
  parseError?: string | undefined;
}

/** Event name to event type, for typed subscriptions: `subscribe('CIRC', e => e.circuitId)`. */
export interface TorEventMap {
  CIRC: CircEvent;
  CIRC_MINOR: CircMinorEvent;
  STREAM: StreamEvent;
  ORCONN: OrConnEvent;
  BW: BwEvent;
  DEBUG: LogEvent<'DEBUG'>;
  INFO: LogEvent<'INFO'>;
  NOTICE: LogEvent<'NOTICE'>;
  WARN: LogEvent<'WARN'>;
  ERR: LogEvent<'ERR'>;
  NEWDESC: NewDescEvent;
  ADDRMAP: AddrMapEvent;
  AUTHDIR_NEWDESCS: AuthDirNewDescsEvent;
  DESCCHANGED: DescChangedEvent;
  STATUS_GENERAL: StatusEvent<'STATUS_GENERAL'>;
  STATUS_CLIENT: StatusEvent<'STATUS_CLIENT'>;
  STATUS_SERVER: StatusEvent<'STATUS_SERVER'>;
  GUARD: GuardEvent;
  NS: NsEvent;
  STREAM_BW: StreamBwEvent;
  CLIENTS_SEEN: ClientsSeenEvent;
  NEWCONSENSUS: NewConsensusEvent;
  BUILDTIMEOUT_SET: BuildTimeoutSetEvent;
  SIGNAL: SignalEvent;
  CONF_CHANGED: ConfChangedEvent;
  TRANSPORT_LAUNCHED: TransportLaunchedEvent;
  CONN_BW: ConnBwEvent;
  CIRC_BW: CircBwEvent;
  CELL_STATS: CellStatsEvent;
  TB_EMPTY: TbEmptyEvent;
  HS_DESC: HsDescEvent;
  HS_DESC_CONTENT: HsDescContentEvent;
  NETWORK_LIVENESS: NetworkLivenessEvent;
  PT_LOG: PtLogEvent;
  PT_STATUS: PtStatusEvent;
}

/** A known event name. */
export type TorEventName = keyof TorEventMap;

/** Every typed event. */
export type KnownTorEvent = TorEventMap[TorEventName];

/**
 * What `parseEvent` returns. Check `generic` first, then switch on `type`:
 *
 * @example
 * if (!e.generic) switch (e.type) { case 'CIRC': use(e.circuitId); break; }
 */
export type TorEvent = KnownTorEvent | GenericEvent;

/** Every event name of control-spec 4.1 that has a typed form, in spec order. */
export const KNOWN_EVENT_NAMES: readonly TorEventName[] = Object.freeze([
  'CIRC',
  'STREAM',
  'ORCONN',
  'BW',
  'DEBUG',
  'INFO',
  'NOTICE',
  'WARN',
  'ERR',
  'NEWDESC',
  'ADDRMAP',
  'AUTHDIR_NEWDESCS',
  'DESCCHANGED',
  'STATUS_GENERAL',
  'STATUS_CLIENT',
  'STATUS_SERVER',
  'GUARD',
  'NS',
  'STREAM_BW',
  'CLIENTS_SEEN',
  'NEWCONSENSUS',
  'BUILDTIMEOUT_SET',
  'SIGNAL',
  'CONF_CHANGED',
  'CIRC_MINOR',
  'TRANSPORT_LAUNCHED',
  'CONN_BW',
  'CIRC_BW',
  'CELL_STATS',
  'TB_EMPTY',
  'HS_DESC',
  'HS_DESC_CONTENT',
  'NETWORK_LIVENESS',
  'PT_LOG',
  'PT_STATUS',
] as const);

const KNOWN = new Set<string>(KNOWN_EVENT_NAMES);

/**
 * Whether `name` is an event name with a typed form.
 *
 * @param name - a wire event name, e.g. `CIRC`
 */
export function isKnownEventName(name: string): name is TorEventName {
  return KNOWN.has(name);
}

/**
 * Type guard for typed (non-generic) events.
 *
 * @param event - a parsed event
 */
export function isGenericEvent(event: TorEvent): event is GenericEvent {
  return event.generic === true;
}
