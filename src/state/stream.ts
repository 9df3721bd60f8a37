import { inspect } from 'node:util';
import type { HostPort, StreamEvent, StreamStatus } from '../control/events/event-types.js';
import { parseStreamBody } from '../control/events/stream-events.js';
import { TorControlClosedError, TorControlError } from '../errors.js';
import type { CancelOptions } from '../util/abort.js';
import type { Circuit } from './circuit.js';
import { findClientProcess, type ClientProcess, type SocketPeer } from './client-process.js';
import { normalizeAddress } from '../util/ip-address.js';
import type { StateSnapshot } from './snapshot.js';
import { applyStreamDetail, emptyStreamDetail, type StreamDetail } from './stream-detail.js';
import { MAX_UNREAD, STREAM_PREFIX, readUnread } from './unread-texts.js';

/** Parses a kept text (see keptText: always in the event form). */
function parseKeptText(text: string): StreamEvent {
  return parseStreamBody(text, STREAM_PREFIX.length, text);
}

/** Whether a stream status means the stream is gone. */
export function isClosedStreamStatus(status: string): boolean {
  return status === 'CLOSED' || status === 'FAILED';
}

/**
 * One of tor's streams (an application connection or resolve through tor), kept current by the
 * live state's STREAM events.
 *
 * @example
 * state.on('streamNew', async (s) => console.log(s.target, await s.clientProcess()));
 */
export class Stream {
  /** tor's stream id. */
  declare readonly id: string;
  /** `NEW`, `NEWRESOLVE`, `SENTCONNECT`, `SUCCEEDED`, `DETACHED`, `CLOSED`, ... */
  declare readonly status: StreamStatus;
  /** The id of the circuit tor last attached the stream to; `'0'` when unattached. */
  declare readonly circuitId: string;
  /** @internal The circuit whose stream set holds this stream (kept by the reducers). */
  declare attachedTo: Circuit | undefined;
  /** @internal TorState's attach bookkeeping: how often it has attached this stream. */
  declare attachAttempts: number;
  /** @internal TorState has handled (or is handling) this stream's current wait for attachment. */
  declare attachPending: boolean;
  /** @internal The last event put the stream on a circuit after it was on none (TorState's `streamAttached`). */
  declare justAttached: boolean;

  private declare readonly snapshot: StateSnapshot;
  private declare lookup: Promise<ClientProcess | undefined> | undefined;
  /** The fields the events' text gives, as of the last text read in; made on the first read. */
  private declare readDetail: StreamDetail | undefined;
  /** Event texts not read in yet, oldest first (see unread-texts.ts). */
  private declare unread: string[] | undefined;

  constructor(id: string, snapshot: StateSnapshot) {
    this.id = id;
    this.snapshot = snapshot;
    this.status = 'NEW';
    this.circuitId = '0';
    this.attachedTo = undefined;
    this.attachAttempts = 0;
    this.attachPending = false;
    this.justAttached = false;
    this.lookup = undefined;
    this.readDetail = undefined;
    this.unread = undefined;
  }

  /** Where the stream goes (after REMAP: where tor now sends it). Port 0 for resolves. */
  get target(): HostPort {
    return this.detail().target;
  }

  /** REASON of FAILED/CLOSED/DETACHED. */
  get reason(): string | undefined {
    return this.detail().reason;
  }

  /** REMOTE_REASON the exit gave. */
  get remoteReason(): string | undefined {
    return this.detail().remoteReason;
  }

  /** SOURCE of a REMAP: `CACHE` or `EXIT`. */
  get source(): string | undefined {
    return this.detail().source;
  }

  /** SOURCE_ADDR: the client end of the SOCKS (or other) connection that opened the stream. */
  get sourceAddr(): HostPort | undefined {
    return this.detail().sourceAddr;
  }

  /** PURPOSE: `USER`, `DNS_REQUEST`, `DIR_FETCH`, ... */
  get purpose(): string | undefined {
    return this.detail().purpose;
  }

  /** CLIENT_PROTOCOL: `SOCKS5`, `SOCKS4`, `TRANS`, `DNS`, `HTTPCONNECT`, `UNKNOWN`, ... */
  get clientProtocol(): string | undefined {
    return this.detail().clientProtocol;
  }

  /** SOCKS_USERNAME used for isolation (the password is never kept: it is a secret). */
  get socksUsername(): string | undefined {
    return this.detail().socksUsername;
  }

  /** NYM_EPOCH: how many NEWNYMs tor had seen when the stream was opened. */
  get nymEpoch(): number | undefined {
    return this.detail().nymEpoch;
  }

  /** SESSION_GROUP of the listener the stream came in on. */
  get sessionGroup(): number | undefined {
    return this.detail().sessionGroup;
  }

  /**
   * @internal Keeps the text of an event for this stream (as keptText gives it: `STREAM ID STATUS
   * CIRCUIT TARGET ...`, a string of its own) to be parsed when a field above is first read.
   */
  deferText(text: string): void {
    const texts = this.unread;
    if (texts === undefined) this.unread = [text];
    else if (texts.push(text) >= MAX_UNREAD) this.detail();
  }

  /** @internal The detail fields with every kept text read in (the reducers update it for a parsed event). */
  detail(): StreamDetail {
    // Most of them are never read (streams close before anyone looks): no detail until asked.
    const detail = (this.readDetail ??= emptyStreamDetail());
    const texts = this.unread;
    if (texts !== undefined) {
      this.unread = undefined;
      readUnread(texts, detail, parseKeptText, applyStreamDetail, 'STREAM', this.snapshot.onUnreadable);
    }
    return detail;
  }

  /**
   * The circuit the stream is attached to, if tor attached it and the circuit is known. A closed
   * stream keeps the circuit it was last on.
   */
  get circuit(): Circuit | undefined {
    if (this.attachedTo !== undefined) return this.attachedTo;
    if (this.circuitId === '0') return undefined;
    return this.snapshot.circuits.get(this.circuitId) ?? this.snapshot.recentlyClosed.get(this.circuitId);
  }

  /** True once the stream is CLOSED or FAILED. */
  get closed(): boolean {
    return isClosedStreamStatus(this.status);
  }

  /**
   * The local process that opened the stream (Linux only: looked up through /proc by the
   * stream's SOURCE_ADDR, the socket connected to one of tor's SOCKS, HTTPTunnelPort, TransPort or
   * NATDPort listeners, or for a transparently redirected stream to the destination it asked for).
   * Undefined when unknown: no SOURCE_ADDR (tor-internal streams, streams that existed before the
   * state was built), another user's process, the socket already closed, or not Linux. A found
   * process is remembered (it may have exited since).
   */
  clientProcess(): Promise<ClientProcess | undefined> {
    if (this.lookup) return this.lookup;
    const src = this.sourceAddr;
    if (src === undefined || src.port === 0) return Promise.resolve(undefined);
    const procRoot = this.snapshot.procRoot;
    const owner = this.snapshot.owner;
    const redirectedTo = this.redirectedDestination();
    const attempt = (async () => {
      const listeners = owner === undefined ? undefined : await owner.clientPeers();
      const peers = listeners === undefined || redirectedTo === undefined ? listeners : [...listeners, redirectedTo];
      return findClientProcess(src.host, src.port, peers === undefined ? { procRoot } : { procRoot, peers });
    })();
    this.lookup = attempt;
    // Only a found process is final: the socket may simply not be visible yet.
    attempt.then(
      (p) => {
        if (p === undefined && this.lookup === attempt) this.lookup = undefined;
      },
      () => {
        if (this.lookup === attempt) this.lookup = undefined;
      },
    );
    return attempt;
  }

  /**
   * Where the client's socket of a transparent stream (CLIENT_PROTOCOL `TRANS`, or `NATD`) is
   * connected: the destination it asked for, which the firewall (iptables REDIRECT, TPROXY, natd)
   * sent to tor's listener without the client knowing. Its socket is connected to that address,
   * not to tor's TransPort, so tor's listeners alone would not find it. The NEW event's target
   * is that destination (tor learns it from SO_ORIGINAL_DST or getsockname, or natd's `[DEST ...]`
   * line, before it announces the stream); a later REMAP (an automapped address) changes `target`,
   * not this.
   */
  private redirectedDestination(): SocketPeer | undefined {
    const protocol = this.clientProtocol;
    if (protocol !== 'TRANS' && protocol !== 'NATD') return undefined;
    const to = this.detail().requestedTarget;
    const host = to === undefined ? null : normalizeAddress(to.host);
    return host === null || to === undefined || to.port === 0 ? undefined : { host, port: to.port };
  }

  /**
   * Asks tor to close the stream (CLOSESTREAM). A stream that ended before tor read the command
   * (its client gave up, tor did) is closed, which is what was asked: that resolves too.
   *
   * @param reason - a RELAY_END reason number or name (`MISC`, `DONE`, ...). @default 'MISC'
   */
  async close(reason?: number | string, opts: CancelOptions = {}): Promise<void> {
    const owner = this.snapshot.owner;
    if (owner === undefined) throw new TorControlClosedError(`stream ${this.id} has no live state`);
    try {
      await owner.closeStream(this.id, reason, opts);
    } catch (err) {
      if (err instanceof TorControlError && isUnknownStream(err)) return;
      throw err;
    }
  }

  /** A short description for console.log. */
  [inspect.custom](): string {
    return `Stream { ${this.id} ${this.status} ${this.target.host}:${this.target.port} circuit ${this.circuitId} }`;
  }
}

/**
 * Whether tor refused a command because the stream it names does not exist (any more): `552
 * Unknown stream "ID"`, as tor words it (control-spec 3.13 gives only the 552, which an unknown
 * circuit shares).
 */
export function isUnknownStream(err: TorControlError): boolean {
  return err.status === 552 && /\b552 Unknown stream\b/.test(err.message);
}
