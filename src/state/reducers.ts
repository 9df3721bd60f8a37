/**
 * The live state's reducers: `(snapshot, event) → snapshot`, one per event kind tor reports.
 *
 * They are pure in the sense that matters for testing (the result depends only on the snapshot
 * and the event; no I/O, no clock, no emitting), but for speed they update the snapshot IN PLACE
 * and return it: TorState hands its own maps to users, and at a million events a second copying
 * maps is not an option. The `apply*` variants return the object an event touched, which is what
 * TorState needs to emit its events; `reduce` is the plain `(snapshot, event) → snapshot` form.
 */

import type {
  AddrMapEvent,
  CircEvent,
  GuardEvent,
  HostPort,
  RouterRef,
  StreamEvent,
  TorEvent,
} from '../control/events/event-types.js';
import { detach, parseRouterRef } from '../control/events/field-parsers.js';
import { parseAddrMapLine } from '../control/events/addrmap-event.js';
import { parseCircuitStatusLine } from '../control/events/circuit-events.js';
import { parseStreamStatusLine } from '../control/events/stream-events.js';
import { mappingFromEvent, type AddressMapping } from './address-map.js';
import { Circuit, isClosedStatus } from './circuit.js';
import { forEachRouterStatus, type ConsensusParseProblem } from './consensus-parser.js';
import { RECENTLY_CLOSED_LIMIT, type EntryGuard, type StateSnapshot } from './snapshot.js';
import { Stream, isClosedStreamStatus } from './stream.js';

/**
 * Applies a CIRC event (or a `GETINFO circuit-status` line parsed as one).
 *
 * @returns the circuit concerned: for FAILED/CLOSED the circuit that was removed (or, for a
 *   circuit we never saw open, one made from the event alone)
 */
export function applyCircEvent(s: StateSnapshot, e: CircEvent): Circuit {
  // Ids are kept as map keys and on the objects: copies, like everything the state keeps.
  const id = detach(e.circuitId);
  const closing = isClosedStatus(e.status);
  let c = s.circuits.get(id);
  if (c === undefined) {
    c = s.recentlyClosed.get(id);
    if (c === undefined || !closing) {
      c = new Circuit(id, s);
      if (!closing) {
        s.circuits.set(id, c);
        adoptOrphans(s, c);
      }
    }
  }
  c.status = e.status;
  // A circuit's events repeat its path and creation time; keeping the objects the circuit already
  // holds when the values are equal lets the new ones die young (and keeps Circuit.path cached).
  if ((e.path.length > 0 || e.status === 'LAUNCHED') && !samePath(c.pathRefs, e.path)) c.pathRefs = e.path;
  if (e.purpose !== undefined) c.purpose = e.purpose;
  if (e.buildFlags.length > 0) c.buildFlags = e.buildFlags;
  if (e.hsState !== undefined) c.hsState = e.hsState;
  if (e.rendQuery !== undefined) c.rendQuery = ownString(c.rendQuery, e.rendQuery);
  if (e.timeCreated !== undefined && c.timeCreated?.getTime() !== e.timeCreated.getTime()) c.timeCreated = e.timeCreated;
  if (e.reason !== undefined) c.reason = e.reason;
  if (e.remoteReason !== undefined) c.remoteReason = e.remoteReason;
  if (e.socksUsername !== undefined) c.socksUsername = ownString(c.socksUsername, e.socksUsername);
  if (closing) {
    s.circuits.delete(id);
    // Streams tor has not ended yet wait as orphans of this id, like streams of a circuit not yet
    // seen: a stream then never points at a circuit that no longer lists it, even if the id returns.
    const left = c.streams;
    if (left.length > 0) {
      let waiting = s.orphanStreams.get(id);
      if (waiting === undefined) s.orphanStreams.set(id, (waiting = new Set()));
      for (const st of left) {
        st.attachedTo = undefined;
        waiting.add(st);
      }
    }
    const recent = s.recentlyClosed;
    recent.delete(id);
    recent.set(id, c);
    if (recent.size > RECENTLY_CLOSED_LIMIT) recent.delete(recent.firstKey()!);
  }
  return c;
}

/** Whether two paths name the same relays the same way (hop objects are shared by the event parser). */
function samePath(a: readonly RouterRef[], b: readonly RouterRef[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.fingerprint !== y.fingerprint || x.nickname !== y.nickname)) return false;
  }
  return true;
}

/**
 * A circuit tor just told us it launched (EXTENDCIRCUIT's reply) that no event has shown yet:
 * the known circuit, a recently closed one, or a new LAUNCHED circuit.
 */
export function ensureCircuit(s: StateSnapshot, id: string, purpose?: string): Circuit {
  let c = s.circuits.get(id) ?? s.recentlyClosed.get(id);
  if (c === undefined) {
    c = new Circuit(id, s);
    if (purpose !== undefined) c.purpose = purpose;
    s.circuits.set(id, c);
    adoptOrphans(s, c);
  }
  return c;
}

/** Attaches the streams that named this circuit before it was known. */
function adoptOrphans(s: StateSnapshot, c: Circuit): void {
  const waiting = s.orphanStreams.get(c.id);
  if (waiting === undefined) return;
  s.orphanStreams.delete(c.id);
  for (const st of waiting) {
    st.attachedTo = c;
    c.attachStream(st);
  }
}

/** Takes a stream off its circuit's stream set (or off the orphans when its circuit is unknown). */
function leaveCircuit(s: StateSnapshot, st: Stream): void {
  if (st.attachedTo !== undefined) {
    st.attachedTo.detachStream(st);
  } else if (st.circuitId !== '0') {
    const set = s.orphanStreams.get(st.circuitId);
    if (set !== undefined) {
      set.delete(st);
      if (set.size === 0) s.orphanStreams.delete(st.circuitId);
    }
  }
}

/** Puts a stream on circuit `cid` ('0': none), remembering it as an orphan if the circuit is unknown. */
function joinCircuit(s: StateSnapshot, st: Stream, cid: string): void {
  st.circuitId = cid;
  if (cid === '0') {
    st.attachedTo = undefined;
    return;
  }
  const c = s.circuits.get(cid);
  st.attachedTo = c;
  if (c !== undefined) {
    c.attachStream(st);
    return;
  }
  let set = s.orphanStreams.get(cid);
  if (set === undefined) s.orphanStreams.set(cid, (set = new Set()));
  set.add(st);
}

/**
 * What a circuit or stream keeps of a string field: what it has when the value is the same, else
 * a copy that does not share memory with the event's line (see {@link applyStreamEventTo}).
 */
function ownString(kept: string | undefined, value: string): string {
  return kept === value ? kept : detach(value);
}

/** A copy of `hp` whose host does not point into the event text it was sliced from. */
function ownHostPort(hp: HostPort): HostPort {
  return { host: detach(hp.host), port: hp.port };
}

/**
 * Applies a STREAM event (or a `GETINFO stream-status` line parsed as one).
 *
 * @returns the stream concerned (for FAILED/CLOSED the one removed; it keeps its last circuit)
 */
export function applyStreamEvent(s: StateSnapshot, e: StreamEvent): Stream {
  return applyStreamEventTo(s, e, s.streams.get(e.streamId));
}

/**
 * {@link applyStreamEvent} for a caller that has looked the stream up already.
 *
 * @param known - `s.streams.get(e.streamId)`
 */
export function applyStreamEventTo(s: StateSnapshot, e: StreamEvent, known: Stream | undefined): Stream {
  const id = detach(e.streamId);
  const closing = isClosedStreamStatus(e.status);
  let st = known;
  if (st === undefined) {
    st = new Stream(id, s);
    if (!closing) s.streams.set(id, st);
  }
  st.status = e.status;
  // A stream may live long enough to be promoted to the old generation, and a host sliced from the
  // event would take the whole event line along. So a stream keeps the target it has while tor
  // repeats it, and otherwise a copy whose host does not share memory with the line.
  if (st.target.port !== e.target.port || st.target.host !== e.target.host) st.target = ownHostPort(e.target);
  if (e.reason !== undefined) st.reason = e.reason;
  if (e.remoteReason !== undefined) st.remoteReason = e.remoteReason;
  if (e.source !== undefined) st.source = e.source;
  if (e.sourceAddr !== undefined && (st.sourceAddr?.port !== e.sourceAddr.port || st.sourceAddr.host !== e.sourceAddr.host)) {
    st.sourceAddr = ownHostPort(e.sourceAddr);
  }
  if (e.purpose !== undefined) st.purpose = e.purpose;
  if (e.clientProtocol !== undefined) st.clientProtocol = e.clientProtocol;
  if (e.socksUsername !== undefined) st.socksUsername = ownString(st.socksUsername, e.socksUsername);
  if (e.nymEpoch !== undefined) st.nymEpoch = e.nymEpoch;
  if (e.sessionGroup !== undefined) st.sessionGroup = e.sessionGroup;
  // tor names the old circuit in DETACHED, but the stream is no longer on it.
  const cid = e.status === 'DETACHED' ? '0' : detach(e.circuitId);
  if (closing) {
    leaveCircuit(s, st);
    if (cid !== '0' && cid !== st.circuitId) {
      st.circuitId = cid;
      st.attachedTo = s.circuits.get(cid) ?? s.recentlyClosed.get(cid);
    }
    s.streams.delete(id);
  } else if (cid !== st.circuitId) {
    leaveCircuit(s, st);
    joinCircuit(s, st, cid);
  }
  return st;
}

/**
 * Applies an ADDRMAP event (or an address-mappings line parsed as one): the mapping replaces any
 * earlier one for the same address. Expiry is not judged here (no clock): see AddressMapView.
 */
export function applyAddrMapEvent(s: StateSnapshot, e: AddrMapEvent): AddressMapping {
  return applyAddrMapEventTo(s, e, s.addressMap.get(e.address));
}

/**
 * {@link applyAddrMapEvent} for a caller that has looked the address up already.
 *
 * @param previous - `s.addressMap.get(e.address)`
 */
export function applyAddrMapEventTo(s: StateSnapshot, e: AddrMapEvent, previous: AddressMapping | undefined): AddressMapping {
  const m = mappingFromEvent(e, previous);
  s.addressMap.set(m.address, m);
  return m;
}

/**
 * Applies router status entries: a whole consensus (`replace`: NEWCONSENSUS, `ns/all`; relays
 * not listed are dropped) or an update of some entries (NS).
 *
 * @returns how many entries were read
 */
export function applyRouterStatuses(
  s: StateSnapshot,
  text: string,
  replace: boolean,
  onProblem?: (p: ConsensusParseProblem) => void,
): number {
  const routers = s.routers;
  if (replace) routers.clear();
  const opts = onProblem === undefined ? { context: s.routerContext } : { context: s.routerContext, onProblem };
  const n = forEachRouterStatus(text, (r) => routers.add(r), opts);
  s.routerGeneration++;
  return n;
}

/**
 * Replaces the routers with a whole consensus (NEWCONSENSUS, `ns/all`) read lazily: the entries
 * are read by the first use of `s.routers` (see {@link RouterMap.replaceLazily}), so that applying
 * a consensus costs nothing until someone looks at a router. Otherwise as
 * `applyRouterStatuses(s, text, true, onProblem)`, whose problems are reported at that first use.
 */
export function deferRouterStatuses(s: StateSnapshot, text: string, onProblem?: (p: ConsensusParseProblem) => void): void {
  s.routers.replaceLazily(text, s.routerContext, onProblem);
  s.routerGeneration++;
}

/**
 * Replaces the guard list from `GETINFO entry-guards` (`$FP~nick status [time]` per line).
 *
 * @returns how many lines could not be read (skipped)
 */
export function applyEntryGuardsText(s: StateSnapshot, text: string): number {
  const guards: EntryGuard[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '') continue;
    const sp = l.indexOf(' ');
    const ref = parseRouterRef(sp === -1 ? l : l.slice(0, sp));
    if (ref === null || sp === -1) {
      bad++;
      continue;
    }
    const sp2 = l.indexOf(' ', sp + 1);
    guards.push({
      fingerprint: ref.fingerprint,
      nickname: ref.nickname,
      status: sp2 === -1 ? l.slice(sp + 1) : l.slice(sp + 1, sp2),
    });
  }
  s.guards = guards;
  return bad;
}

/**
 * Applies a GUARD event: NEW adds the guard, DROPPED removes it, any other status updates a guard
 * we know (statuses about guards we do not know change nothing; layer-2 `*_L2` statuses are ignored).
 *
 * @returns whether the guard list changed
 */
export function applyGuardEvent(s: StateSnapshot, e: GuardEvent): boolean {
  // `BAD_L2`/`GOOD_L2` (tor 0.4.8+) are about layer-2 vanguards, reported with type ENTRY too.
  if (e.guardType !== 'ENTRY' || e.status.endsWith('_L2')) return false;
  const fp = e.router.fingerprint;
  const nick = e.router.nickname;
  const i = s.guards.findIndex((g) => (fp !== '' ? g.fingerprint === fp : g.nickname === nick));
  if (e.status === 'DROPPED') {
    if (i === -1) return false;
    s.guards = s.guards.filter((_, j) => j !== i);
    return true;
  }
  const guard: EntryGuard = { fingerprint: fp, nickname: nick ?? s.guards[i]?.nickname, status: e.status };
  if (i !== -1) {
    const next = s.guards.slice();
    next[i] = guard;
    s.guards = next;
    return true;
  }
  if (e.status !== 'NEW') return false;
  s.guards = [...s.guards, guard];
  return true;
}

/** The GETINFO keys the initial state is built from, in one round trip. */
export const INITIAL_INFO_KEYS = ['ns/all', 'circuit-status', 'stream-status', 'address-mappings/all', 'entry-guards'] as const;

/** A line of the initial GETINFO that could not be read (it is skipped). */
export interface InitialStateProblem {
  key: string;
  line: string;
  reason: string;
}

/**
 * Loads the answers to {@link INITIAL_INFO_KEYS} into a snapshot (missing keys are skipped).
 * Circuits are loaded before streams so that streams find their circuits.
 *
 * @param onProblem - told about each unreadable line or entry
 */
export function loadInitialState(
  s: StateSnapshot,
  info: Readonly<Record<string, string | undefined>>,
  onProblem?: (p: InitialStateProblem) => void,
): StateSnapshot {
  const ns = info['ns/all'];
  if (ns !== undefined) {
    applyRouterStatuses(s, ns, true, onProblem && ((p) => onProblem({ key: 'ns/all', line: `line ${p.line}`, reason: p.reason })));
  }
  eachLine(info['circuit-status'], 'circuit-status', onProblem, (l) => applyCircEvent(s, parseCircuitStatusLine(l)));
  eachLine(info['stream-status'], 'stream-status', onProblem, (l) => applyStreamEvent(s, parseStreamStatusLine(l)));
  eachLine(info['address-mappings/all'], 'address-mappings/all', onProblem, (l) => applyAddrMapEvent(s, parseAddrMapLine(l)));
  const guards = info['entry-guards'];
  if (guards !== undefined) applyEntryGuardsText(s, guards);
  return s;
}

function eachLine(
  text: string | undefined,
  key: string,
  onProblem: ((p: InitialStateProblem) => void) | undefined,
  fn: (line: string) => void,
): void {
  if (text === undefined || text === '') return;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    try {
      fn(line);
    } catch (err) {
      onProblem?.({ key, line, reason: err instanceof Error ? err.message : String(err) });
    }
  }
}

/**
 * The reducer: applies any event to the snapshot (events the state does not track, and generic
 * events, leave it unchanged) and returns it. See the module comment: the snapshot is updated in
 * place.
 *
 * @example
 * const s = createSnapshot();
 * for (const e of events) reduce(s, e);
 * describeSnapshot(s).circuits
 */
export function reduce(s: StateSnapshot, e: TorEvent): StateSnapshot {
  if (e.generic) return s;
  switch (e.type) {
    case 'CIRC':
      applyCircEvent(s, e);
      break;
    case 'STREAM':
      applyStreamEvent(s, e);
      break;
    case 'ADDRMAP':
      applyAddrMapEvent(s, e);
      break;
    case 'NEWCONSENSUS':
      applyRouterStatuses(s, e.body, true);
      break;
    case 'NS':
      applyRouterStatuses(s, e.body, false);
      break;
    case 'GUARD':
      applyGuardEvent(s, e);
      break;
    default:
      break;
  }
  return s;
}
