/**
 * What the TorStates of one control connection share about streams that wait for a controller:
 * tor's `__LeaveStreamsUnattached` (one setting of tor's) and who answers each waiting stream.
 *
 * Every state on the connection sees every STREAM event, so each waiting stream must have exactly
 * one answerer, or the states fight over it: each ATTACHSTREAM puts the stream back into
 * CONTROLLER_WAIT, the other state attaches it elsewhere, and it ends closed or on the wrong
 * circuit (seen on tor 0.4.9 with one state's pinned connection beside another's attacher). The
 * answerer is, in this order:
 * 1. the state that pinned the stream's SOCKS source address (`connectVia`);
 * 2. the first state that set an attacher and still has it;
 * 3. any state that holds the setting (for pins of its own): it hands the stream back to tor;
 * 4. for a few seconds after the setting was put back, the state that put it back, so that a
 *    stream that began waiting just then is handed back rather than left to hang.
 *
 * The setting itself: the first state to need it sets it, and it goes back to tor's own value only
 * when the last one is done. Each state keeping its own memory of it would let one reset it under
 * the other (then the second state's attacher was never asked).
 */

import type { TorControl } from '../control/tor-control.js';
import type { TorEvent } from '../control/events/event-types.js';
import { logger } from '../util/log.js';

const log = logger('state');

/** After __LeaveStreamsUnattached is put back, streams that still wait are handed back this long. */
export const RESCUE_WINDOW_MS = 5000;

/** One connection's sharing (one object per connection: see {@link streamHandoff}). */
export class StreamHandoff {
  /** States on the connection that have not closed, in the order they came. */
  private readonly parties = new Set<object>();
  /** States that need the setting, in the order they claimed it. */
  private readonly holders = new Set<object>();
  /** States with an attacher, in the order they set it. */
  private readonly attachers = new Set<object>();
  /** The state that pinned each SOCKS source address (`host:port`). */
  private readonly pins = new Map<string, object>();
  private lastReleaser: object | undefined = undefined;
  private releasedAt = -Infinity;
  /** tor's value before the first claim; undefined until first needed. */
  private original: string | undefined = undefined;
  /** We set it to 1 and must reset it. */
  private owned = false;
  /** Claims and releases run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  /** Since the first claim: the CONF_CHANGED subscription that notices the setting turned off. */
  private confWatch: Promise<() => Promise<void>> | undefined = undefined;

  constructor(private readonly control: TorControl) {}

  /**
   * The connection ended while the setting was ours: nothing can put it back through it any more,
   * and `ownedAtExit` would otherwise keep this connection, and with it every state that held the
   * setting (routers, buffers), for the life of the process: one more after each tor restart.
   */
  private readonly onControlClose = (): void => this.disown();

  /** `party` follows this connection's streams (until {@link leave}). */
  join(party: object): void {
    this.parties.add(party);
  }

  /**
   * `party` closed: it answers nothing from now on. When it had an attacher working, that is an
   * attacher change as setAttacher(null) is: connections kept for reuse carry streams it placed.
   */
  leave(party: object): void {
    this.parties.delete(party);
    const hadAttacher = this.attachers.delete(party);
    for (const [key, p] of this.pins) if (p === party) this.pins.delete(key);
    if (hadAttacher) this.attacherChanged();
  }

  /** Told when a state on this connection changes its attacher (see {@link onAttacherChange}). */
  private readonly attacherChangeListeners = new Set<() => void>();

  /**
   * Calls `listener` whenever a state on this connection sets another attacher or clears it. The
   * Tor handle closes the connections its fetch and agents keep then: a request on a kept
   * connection opens no stream, so it would go over the circuit an earlier choice made, and the
   * attacher now in place would never be asked.
   * @returns a function that stops the calls
   */
  onAttacherChange(listener: () => void): () => void {
    this.attacherChangeListeners.add(listener);
    return () => this.attacherChangeListeners.delete(listener);
  }

  /** A state on this connection set another attacher or cleared it. */
  attacherChanged(): void {
    for (const listener of this.attacherChangeListeners) {
      try {
        listener();
      } catch (err) {
        log('attacher change listener failed: %s', err);
      }
    }
  }

  /** Whether `party` has an attacher; the first one set answers the streams nobody pinned. */
  setAttaching(party: object, on: boolean): void {
    if (on) {
      if (this.parties.has(party)) this.attachers.add(party);
    } else {
      this.attachers.delete(party);
    }
  }

  /** The stream from SOCKS source address `key` is `party`'s to attach. */
  pin(key: string, party: object): void {
    this.pins.set(key, party);
  }

  unpin(key: string, party: object): void {
    if (this.pins.get(key) === party) this.pins.delete(key);
  }

  /**
   * Which state answers a stream waiting for a controller now (see the file's comment), or
   * undefined when none should (tor's setting is off and was not just turned off).
   * @param key - the stream's SOCKS source address (`host:port`), when tor gave one
   */
  answerer(key: string | undefined, now: number): object | undefined {
    if (key !== undefined) {
      const pinned = this.pins.get(key);
      if (pinned !== undefined) return pinned;
    }
    for (const party of this.attachers) return party;
    for (const party of this.holders) if (this.parties.has(party)) return party;
    if (now - this.releasedAt < RESCUE_WINDOW_MS) {
      if (this.lastReleaser !== undefined && this.parties.has(this.lastReleaser)) return this.lastReleaser;
      for (const party of this.parties) return party;
    }
    return undefined;
  }

  /** `holder` needs streams left unattached; resolves once tor has the setting. */
  claim(holder: object): Promise<void> {
    return this.serial(async () => {
      this.holders.add(holder);
      if (this.original === undefined) {
        const conf = await this.control.getConf(['__LeaveStreamsUnattached']);
        this.original = conf['__LeaveStreamsUnattached']?.[0] ?? '0';
      }
      if (this.original !== '1' && !this.owned) await this.takeSetting();
      // Not awaited: the claim resolves as soon as the setting is in place (a stream may already
      // be waiting for the attacher it is for). Kept once made (CONF_CHANGED is rare), so that no
      // later claim or release waits behind a SETEVENTS of its own.
      void this.watchSetting();
    });
  }

  /**
   * Another controller (or another connection's state, releasing the value it had set) may put
   * the setting back to 0 while states here still need it: tor would then never hand them a stream
   * again, and nothing would say so. Set it again, and take the value found as tor's own, to be
   * put back after the last release.
   */
  private async watchSetting(): Promise<void> {
    if (this.confWatch !== undefined) return;
    const watch = this.control.subscribe('CONF_CHANGED', (e: TorEvent) => {
      if (e.generic || e.type !== 'CONF_CHANGED') return;
      const change = e.changes.findLast((c) => c.key.toLowerCase() === '__leavestreamsunattached');
      if (change === undefined || change.value === '1') return;
      this.serial(async () => {
        if (this.holders.size === 0 || this.control.closed) return;
        // Asked again: the event may be older than a value set since (ours, or another's).
        const now = (await this.control.getConf(['__LeaveStreamsUnattached']))['__LeaveStreamsUnattached']?.[0] ?? '0';
        if (now === '1') return;
        log('__LeaveStreamsUnattached was set to %s while streams here wait for a controller: set again', now);
        this.original = now;
        await this.takeSetting();
      }).catch((err: unknown) => log('could not set __LeaveStreamsUnattached again: %s', err));
    });
    this.confWatch = watch;
    try {
      await watch;
    } catch (err) {
      // The connection closing: nothing to undo; the next claim tries again.
      if (this.confWatch === watch) this.confWatch = undefined;
      log('could not watch __LeaveStreamsUnattached: %s', err);
    }
  }

  /** Sets tor's setting to 1 as ours: put back (to `original`) by the last release, or at exit. */
  private async takeSetting(): Promise<void> {
    await this.control.setConf({ __LeaveStreamsUnattached: 1 });
    // Listened to only while the setting is ours (set again by watchSetting: once).
    if (!this.owned) this.control.on('close', this.onControlClose);
    this.owned = true;
    ownedAtExit.add(this);
    watchExit();
  }

  /** The setting is no longer ours to put back (released, or the connection is gone). */
  private disown(): void {
    this.owned = false;
    ownedAtExit.delete(this);
    this.control.off('close', this.onControlClose);
  }

  /** `holder` no longer needs it; the last release puts back tor's own value. */
  release(holder: object): Promise<void> {
    return this.serial(async () => {
      this.holders.delete(holder);
      if (this.holders.size > 0) return;
      if (!this.owned) {
        this.original = undefined;
        return;
      }
      // Marked first: if the reset fails (connection gone) there is nothing left to undo.
      this.disown();
      const original = this.original ?? '0';
      // Read again at the next claim: someone else may change it meanwhile.
      this.original = undefined;
      this.lastReleaser = holder;
      this.releasedAt = Date.now();
      if (!this.control.closed) await this.control.setConf({ __LeaveStreamsUnattached: original });
      this.releasedAt = Date.now();
    });
  }

  /**
   * @internal The process is exiting with the setting still ours: put tor's value back now. tor
   * keeps it after our connection ends, and a tor left with it leaves every stream of every
   * program unattached. Sent as the last thing the process does: the command is written at once
   * (to a socket with nothing queued, Node writes synchronously), and its reply is not awaited.
   */
  resetAtExit(): void {
    if (!this.owned || this.control.closed) return;
    this.owned = false;
    this.control.setConf({ __LeaveStreamsUnattached: this.original ?? '0' }).catch(() => undefined);
  }

  private serial(run: () => Promise<void>): Promise<void> {
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

const byControl = new WeakMap<TorControl, StreamHandoff>();

/** Connections whose __LeaveStreamsUnattached we set and have not put back. */
const ownedAtExit = new Set<StreamHandoff>();
let exitWatched = false;

/**
 * One 'exit' listener for all connections (not one each, which would trip Node's listener limit):
 * a process that ends by `process.exit()`, an uncaught exception or an empty event loop with an
 * attacher still set puts tor's setting back. A process killed by a signal's default action ends
 * without 'exit', and the setting stays (`torcon status` shows it).
 */
function watchExit(): void {
  if (exitWatched) return;
  exitWatched = true;
  process.once('exit', () => {
    for (const handoff of ownedAtExit) handoff.resetAtExit();
    ownedAtExit.clear();
  });
}

/** The sharing of `control`'s streams (one object per connection). */
export function streamHandoff(control: TorControl): StreamHandoff {
  let handoff = byControl.get(control);
  if (handoff === undefined) byControl.set(control, (handoff = new StreamHandoff(control)));
  return handoff;
}
