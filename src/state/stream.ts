import { inspect } from 'node:util';
import type { HostPort, StreamStatus } from '../control/events/event-types.js';
import { TorControlClosedError } from '../errors.js';
import type { CancelOptions } from '../util/abort.js';
import type { Circuit } from './circuit.js';
import { findClientProcess, type ClientProcess } from './client-process.js';
import type { StateSnapshot } from './snapshot.js';

const NO_TARGET: HostPort = Object.freeze({ host: '', port: 0 });

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
  declare status: StreamStatus;
  /** Where the stream goes (after REMAP: where tor now sends it). Port 0 for resolves. */
  declare target: HostPort;
  /** The id of the circuit tor last attached the stream to; `'0'` when unattached. */
  declare circuitId: string;
  /** REASON of FAILED/CLOSED/DETACHED. */
  declare reason: string | undefined;
  /** REMOTE_REASON the exit gave. */
  declare remoteReason: string | undefined;
  /** SOURCE of a REMAP: `CACHE` or `EXIT`. */
  declare source: string | undefined;
  /** SOURCE_ADDR: the client end of the SOCKS (or other) connection that opened the stream. */
  declare sourceAddr: HostPort | undefined;
  /** PURPOSE: `USER`, `DNS_REQUEST`, `DIR_FETCH`, ... */
  declare purpose: string | undefined;
  /** CLIENT_PROTOCOL: `SOCKS5`, `SOCKS4`, `TRANS`, `DNS`, `HTTPCONNECT`, `UNKNOWN`, ... */
  declare clientProtocol: string | undefined;
  /** SOCKS_USERNAME used for isolation (the password is never kept: it is a secret). */
  declare socksUsername: string | undefined;
  /** NYM_EPOCH: how many NEWNYMs tor had seen when the stream was opened. */
  declare nymEpoch: number | undefined;
  /** SESSION_GROUP of the listener the stream came in on. */
  declare sessionGroup: number | undefined;

  /** @internal The circuit whose stream set holds this stream (kept by the reducers). */
  declare attachedTo: Circuit | undefined;
  /** @internal TorState's attach bookkeeping: how often it has attached this stream. */
  declare attachAttempts: number;
  /** @internal TorState has handled (or is handling) this stream's current wait for attachment. */
  declare attachPending: boolean;

  private declare readonly snapshot: StateSnapshot;
  private declare lookup: Promise<ClientProcess | undefined> | undefined;

  constructor(id: string, snapshot: StateSnapshot) {
    this.id = id;
    this.snapshot = snapshot;
    this.status = 'NEW';
    this.target = NO_TARGET;
    this.circuitId = '0';
    this.reason = undefined;
    this.remoteReason = undefined;
    this.source = undefined;
    this.sourceAddr = undefined;
    this.purpose = undefined;
    this.clientProtocol = undefined;
    this.socksUsername = undefined;
    this.nymEpoch = undefined;
    this.sessionGroup = undefined;
    this.attachedTo = undefined;
    this.attachAttempts = 0;
    this.attachPending = false;
    this.lookup = undefined;
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
   * stream's SOURCE_ADDR). Undefined when unknown: no SOURCE_ADDR (tor-internal streams, streams
   * that existed before the state was built), another user's process, the socket already
   * closed, or not Linux. A found process is remembered.
   */
  clientProcess(): Promise<ClientProcess | undefined> {
    if (this.lookup) return this.lookup;
    const src = this.sourceAddr;
    if (src === undefined || src.port === 0) return Promise.resolve(undefined);
    const attempt = findClientProcess(src.host, src.port, { procRoot: this.snapshot.procRoot });
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
   * Asks tor to close the stream (CLOSESTREAM).
   *
   * @param reason - a RELAY_END reason number or name (`MISC`, `DONE`, ...). @default 'MISC'
   */
  close(reason?: number | string, opts: CancelOptions = {}): Promise<void> {
    const owner = this.snapshot.owner;
    if (owner === undefined) return Promise.reject(new TorControlClosedError(`stream ${this.id} has no live state`));
    return owner.closeStream(this.id, reason, opts);
  }

  /** A short description for console.log. */
  [inspect.custom](): string {
    return `Stream { ${this.id} ${this.status} ${this.target.host}:${this.target.port} circuit ${this.circuitId} }`;
  }
}
