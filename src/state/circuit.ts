import { inspect } from 'node:util';
import { parseCircBody } from '../control/events/circuit-events.js';
import type { CircEvent, CircStatus, RouterRef } from '../control/events/event-types.js';
import { TorAbortError, TorCircuitError, TorControlClosedError, TorTimeoutError } from '../errors.js';
import { timeoutError, timerDelay, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, invalidCallOptions } from '../util/known-options.js';
import { applyCircDetail, emptyCircuitDetail, type CircuitDetail } from './circuit-detail.js';
import { Router } from './router.js';
import type { StateSnapshot } from './snapshot.js';
import type { Stream } from './stream.js';
import { CIRC_PREFIX, MAX_UNREAD, readUnread } from './unread-texts.js';

/** Parses a kept text (see keptText: always in the event form). */
function parseKeptText(text: string): CircEvent {
  return parseCircBody(text, CIRC_PREFIX.length, text);
}

interface Waiter {
  resolve(c: Circuit): void;
  reject(err: Error): void;
  cleanup(): void;
}

/** Whether a circuit status means the circuit is gone. */
export function isClosedStatus(status: string): boolean {
  return status === 'CLOSED' || status === 'FAILED';
}

/**
 * One of tor's circuits, kept current by the live state's CIRC events. Get them from
 * `TorState.circuits`, `TorState.buildCircuit()` or a stream's `circuit`.
 *
 * @example
 * const circuit = await state.buildCircuit(['relay1', 'relay2', 'relay3']);
 * console.log(circuit.id, circuit.path.map((r) => r.nickname));
 * await circuit.close();
 * await circuit.whenClosed();
 */
export class Circuit {
  /** tor's circuit id. */
  declare readonly id: string;
  /**
   * `LAUNCHED`, `EXTENDED`, `BUILT`, `FAILED`, `CLOSED` (or a newer status). `GUARD_WAIT` only for a
   * circuit read from `circuit-status` when the state was built: tor (0.4.9) announces no event when
   * a built circuit waits for a better guard, so a circuit the state saw launched stays `EXTENDED`
   * until tor announces it `BUILT`.
   */
  declare readonly status: CircStatus;
  private declare readonly snapshot: StateSnapshot;
  /** The fields the events' text gives, as of the last text read in; made on the first read. */
  private declare readDetail: CircuitDetail | undefined;
  /** Event texts not read in yet, oldest first (see unread-texts.ts). */
  private declare unread: string[] | undefined;
  /** Made on the first attached stream: most circuits never carry one. */
  private declare streamSet: Set<Stream> | undefined;
  private declare cachedPath: readonly Router[] | undefined;
  private declare cachedPathRefs: readonly RouterRef[] | undefined;
  private declare cachedGeneration: number;
  private declare builtWaiters: Waiter[] | undefined;
  private declare closedWaiters: Waiter[] | undefined;
  private declare abandoned: Error | undefined;

  /**
   * @param id - tor's circuit id
   * @param snapshot - the state it belongs to (for router lookups and close())
   */
  constructor(id: string, snapshot: StateSnapshot) {
    this.id = id;
    this.snapshot = snapshot;
    this.status = 'LAUNCHED';
    this.readDetail = undefined;
    this.unread = undefined;
    this.streamSet = undefined;
    this.cachedPath = undefined;
    this.cachedPathRefs = undefined;
    this.cachedGeneration = -1;
    this.builtWaiters = undefined;
    this.closedWaiters = undefined;
    this.abandoned = undefined;
  }

  /** PURPOSE, e.g. `GENERAL`, `CONTROLLER`, `HS_CLIENT_REND`. */
  get purpose(): string | undefined {
    return this.detail().purpose;
  }

  /** BUILD_FLAGS, e.g. `NEED_CAPACITY`, `IS_INTERNAL`. */
  get buildFlags(): readonly string[] {
    return this.detail().buildFlags;
  }

  /** HS_STATE for onion-service circuits. */
  get hsState(): string | undefined {
    return this.detail().hsState;
  }

  /** REND_QUERY: the onion address (without `.onion`) for onion-service circuits. */
  get rendQuery(): string | undefined {
    return this.detail().rendQuery;
  }

  /** TIME_CREATED (UTC). */
  get timeCreated(): Date | undefined {
    return this.detail().timeCreated;
  }

  /** REASON tor gave when the circuit failed or closed. */
  get reason(): string | undefined {
    return this.detail().reason;
  }

  /** REMOTE_REASON a relay gave when the circuit failed or closed. */
  get remoteReason(): string | undefined {
    return this.detail().remoteReason;
  }

  /** SOCKS_USERNAME the circuit is isolated for (the password is never kept: it is a secret). */
  get socksUsername(): string | undefined {
    return this.detail().socksUsername;
  }

  /** The hops as tor last named them (fingerprint and nickname). */
  get pathRefs(): readonly RouterRef[] {
    return this.detail().pathRefs;
  }

  /**
   * @internal Keeps the text of an event for this circuit (as keptText gives it: `CIRC ID STATUS
   * ...`, a string of its own) to be parsed when a field above is first read.
   */
  deferText(text: string): void {
    const texts = this.unread;
    if (texts === undefined) this.unread = [text];
    else if (texts.push(text) >= MAX_UNREAD) this.detail();
  }

  /** @internal The detail fields with every kept text read in (the reducers update it for a parsed event). */
  detail(): CircuitDetail {
    // Most of them are never read (streams close before anyone looks): no detail until asked.
    const detail = (this.readDetail ??= emptyCircuitDetail());
    const texts = this.unread;
    if (texts !== undefined) {
      this.unread = undefined;
      readUnread(texts, detail, parseKeptText, applyCircDetail, 'CIRC', this.snapshot.onUnreadable);
    }
    return detail;
  }

  /**
   * The hops, guard first: the consensus's Router for each fingerprint, or a placeholder
   * (`Router.unlisted`, only fingerprint and nickname) for relays the consensus does not list.
   * Resolved on first read after a change and then reused: reading it costs no allocation.
   */
  get path(): readonly Router[] {
    const refs = this.pathRefs;
    if (this.cachedPath === undefined || this.cachedPathRefs !== refs || this.cachedGeneration !== this.snapshot.routerGeneration) {
      const routers = this.snapshot.routers;
      const old = this.cachedPath;
      const path: Router[] = new Array(refs.length);
      for (let i = 0; i < refs.length; i++) {
        const ref = refs[i]!;
        let r = ref.fingerprint === '' ? undefined : routers.get(ref.fingerprint);
        if (r === undefined) {
          // Keep an earlier placeholder for the same hop rather than making a new one each time.
          const prev = old?.[i];
          r =
            prev !== undefined && prev.fingerprint === ref.fingerprint && prev.nickname === (ref.nickname ?? '') && !prev.listed
              ? prev
              : Router.unlisted(ref.fingerprint, ref.nickname, this.snapshot.routerContext);
        }
        path[i] = r;
      }
      this.cachedPath = Object.freeze(path);
      this.cachedPathRefs = refs;
      this.cachedGeneration = this.snapshot.routerGeneration;
    }
    return this.cachedPath;
  }

  /** The streams attached to this circuit now. */
  get streams(): Stream[] {
    return this.streamSet === undefined ? [] : [...this.streamSet];
  }

  /** True once the circuit is CLOSED or FAILED. */
  get closed(): boolean {
    return isClosedStatus(this.status);
  }

  /** @internal the reducers keep the stream set current */
  attachStream(stream: Stream): void {
    (this.streamSet ??= new Set()).add(stream);
  }

  /** @internal */
  detachStream(stream: Stream): void {
    this.streamSet?.delete(stream);
  }

  /**
   * Resolves with this circuit once it is BUILT (at once if it is).
   *
   * @throws TorCircuitError (`TOR_CIRCUIT_FAILED`) when it fails or closes first (with tor's
   *   `reason`/`remoteReason`), or for `timeoutMs` / `signal` (its `cause` is then a
   *   TorTimeoutError / TorAbortError); TorControlClosedError when the state closes first;
   *   TorInvalidValueError (`TOR_INVALID_VALUE`) for a `timeoutMs` that is not a number from 0 to Infinity
   */
  whenBuilt(opts: CancelOptions = {}): Promise<Circuit> {
    // Checked even when the answer is known already: a bad value is refused the same every time.
    const invalid = invalidCallOptions(opts, CANCEL_OPTION_KEYS, 'circuit.whenBuilt');
    if (invalid) return Promise.reject(invalid);
    // A signal already aborted is refused even when the answer is known, as every call refuses it.
    if (opts?.signal?.aborted) return this.wait([], 'built', opts);
    if (this.status === 'BUILT') return Promise.resolve(this);
    if (this.closed) return Promise.reject(this.failure());
    if (this.abandoned) return Promise.reject(this.abandoned);
    return this.wait((this.builtWaiters ??= []), 'built', opts);
  }

  /**
   * Resolves with this circuit once it is CLOSED or FAILED (at once if it is).
   *
   * @throws TorCircuitError for `timeoutMs` / `signal` (its `cause` is a TorTimeoutError /
   *   TorAbortError); TorControlClosedError when the state closes first; TorInvalidValueError
   *   for a `timeoutMs` that is not a number from 0 to Infinity
   */
  whenClosed(opts: CancelOptions = {}): Promise<Circuit> {
    const invalid = invalidCallOptions(opts, CANCEL_OPTION_KEYS, 'circuit.whenClosed');
    if (invalid) return Promise.reject(invalid);
    if (opts?.signal?.aborted) return this.wait([], 'closed', opts);
    if (this.closed) return Promise.resolve(this);
    if (this.abandoned) return Promise.reject(this.abandoned);
    return this.wait((this.closedWaiters ??= []), 'closed', opts);
  }

  /**
   * Asks tor to close the circuit (CLOSECIRCUIT). Resolves when tor accepted; the CLOSED event
   * follows (see {@link whenClosed}).
   *
   * @param opts.ifUnused - only close it if no stream uses it
   * @throws TorControlError when tor does not know the circuit (552)
   */
  close(opts: CancelOptions & { ifUnused?: boolean } = {}): Promise<void> {
    const owner = this.snapshot.owner;
    if (owner === undefined) return Promise.reject(new TorControlClosedError(`circuit ${this.id} has no live state`));
    return owner.closeCircuit(this.id, opts);
  }

  /**
   * Closes the circuit unless it is closed already, for `await using circuit = await
   * state.buildCircuit()`: a circuit that failed or that tor closed meanwhile is no error here
   * (tor sends a circuit's CLOSED event before its 552 reply to the CLOSECIRCUIT that came too late).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    try {
      await this.close();
    } catch (err) {
      if (!this.closed) throw err;
    }
  }

  /** The error that `whenBuilt` rejects with once the circuit failed or closed. */
  failure(): TorCircuitError {
    const why = this.reason ? `: ${this.reason}${this.remoteReason ? ` (remote: ${this.remoteReason})` : ''}` : '';
    const fields: { circuitId: string; reason?: string; remoteReason?: string } = { circuitId: this.id };
    if (this.reason !== undefined) fields.reason = this.reason;
    if (this.remoteReason !== undefined) fields.remoteReason = this.remoteReason;
    return new TorCircuitError(`circuit ${this.id} ${this.status === 'FAILED' ? 'failed' : 'closed'}${why}`, fields);
  }

  /**
   * @internal Settles the waiters after a status change (TorState calls this after each CIRC
   * event for the circuit).
   */
  settle(): void {
    if (this.status === 'BUILT') {
      const list = this.builtWaiters;
      this.builtWaiters = undefined;
      if (list) for (const w of list) w.resolve(this);
    } else if (this.closed) {
      const built = this.builtWaiters;
      const closed = this.closedWaiters;
      this.builtWaiters = undefined;
      this.closedWaiters = undefined;
      if (built) for (const w of built) w.reject(this.failure());
      if (closed) for (const w of closed) w.resolve(this);
    }
  }

  /** @internal The state is closing: whoever still waits gets `err`. */
  abandon(err: Error): void {
    this.abandoned = err;
    const lists = [this.builtWaiters, this.closedWaiters];
    this.builtWaiters = undefined;
    this.closedWaiters = undefined;
    for (const list of lists) if (list) for (const w of list) w.reject(err);
  }

  /** Waits in `list`; with a signal already aborted, rejects at once (and `list` is left as it is). */
  private wait(list: Waiter[], until: 'built' | 'closed', opts: CancelOptions | null): Promise<Circuit> {
    // A JavaScript caller's null means no options, as undefined does.
    const { signal, timeoutMs } = opts ?? {};
    const what = `waiting for circuit ${this.id} to be ${until}`;
    // A wait given up is still about this circuit: TorCircuitError, with the why as its cause.
    const givenUp = (cause: TorAbortError | TorTimeoutError) => new TorCircuitError(cause.message, { circuitId: this.id }, { cause });
    if (signal?.aborted) return Promise.reject(givenUp(new TorAbortError(what, { cause: signal.reason })));
    return new Promise<Circuit>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const remove = () => {
        const i = list.indexOf(waiter);
        if (i !== -1) list.splice(i, 1);
      };
      const onAbort = () => {
        remove();
        waiter.cleanup();
        reject(givenUp(new TorAbortError(what, { cause: signal!.reason })));
      };
      const waiter: Waiter = {
        resolve: (c) => {
          waiter.cleanup();
          resolve(c);
        },
        reject: (err) => {
          waiter.cleanup();
          reject(err);
        },
        cleanup: () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          remove();
          waiter.cleanup();
          reject(givenUp(timeoutError(what, opts, timeoutMs)));
        }, timerDelay(timeoutMs));
      }
      list.push(waiter);
    });
  }

  /** A short description for console.log. */
  [inspect.custom](): string {
    const path = this.pathRefs.map((r) => r.nickname || r.fingerprint.slice(0, 8)).join(',');
    return `Circuit { ${this.id} ${this.status}${this.purpose ? ' ' + this.purpose : ''} [${path}] }`;
  }
}
