/**
 * The live state's reducers: `(snapshot, event) → snapshot`, one per event kind tor reports.
 *
 * They are pure in the sense that matters for testing (the result depends only on the snapshot
 * and the event; no I/O, no clock, no emitting), but for speed they update the snapshot IN PLACE
 * and return it: TorState hands its own maps to users, and at a million events a second copying
 * maps is not an option. The `apply*` variants return the object an event touched, which is what
 * TorState needs to emit its events; `reduce` is the plain `(snapshot, event) → snapshot` form.
 */

import type { AddrMapEvent, CircEvent, CircMinorEvent, CircStatus, GuardEvent, StreamEvent, StreamStatus, TorEvent } from '../control/events/event-types.js';
import { detach, parseRouterRef } from '../control/events/field-parsers.js';
import { parseAddrMapLine, scanAddrMap } from '../control/events/addrmap-event.js';
import { addressMapKey, isMapAddressRemoval, type MappedAddress } from '../control/map-address.js';
import { parseCircuitStatusLine, scanCircHead } from '../control/events/circuit-events.js';
import { parseStreamStatusLine, scanStreamHead } from '../control/events/stream-events.js';
import { AddressMapping } from './address-map.js';
import { Circuit, isClosedStatus } from './circuit.js';
import { applyCircDetail, applyCircMinorDetail } from './circuit-detail.js';
import { forEachRouterStatus, type ConsensusParseProblem } from './consensus-parser.js';
import { RECENTLY_CLOSED_LIMIT, type EntryGuard, type StateSnapshot } from './snapshot.js';
import { Stream, isClosedStreamStatus } from './stream.js';
import { applyStreamDetail } from './stream-detail.js';
import { CIRC_PREFIX, STREAM_PREFIX, keptText } from './unread-texts.js';

/**
 * The fields only the reducers change: readonly in the public types (a user who assigned one would
 * put the state out of step with tor), written here through these views, at no cost at run time.
 */
type CircuitWrites = { status: CircStatus };
type StreamWrites = { status: StreamStatus; circuitId: string };

/**
 * Applies a CIRC event (or a `GETINFO circuit-status` line parsed as one).
 *
 * @returns the circuit concerned: for FAILED/CLOSED the circuit that was removed (or, for a
 *   circuit we never saw open, one made from the event alone)
 */
export function applyCircEvent(s: StateSnapshot, e: CircEvent): Circuit {
  const c = circuitStatus(s, e.circuitId, e.status);
  applyCircDetail(c.detail(), e);
  return c;
}

/**
 * Applies a CIRC event from its text, reading only the circuit id and status now: the circuit
 * keeps the rest of the text and parses it when one of its other fields is first read. The
 * snapshot ends up the same as with {@link applyCircEvent} on the parsed event.
 *
 * @param text - the event (`CIRC 5 BUILT ...`) or a circuit-status line
 * @param start - where the circuit id starts: 5 for an event, 0 for a circuit-status line
 * @throws TorProtocolError when the id or status is missing (the snapshot is unchanged)
 */
export function applyCircText(s: StateSnapshot, text: string, start: number): Circuit {
  const head = scanCircHead(text, start);
  const c = circuitStatus(s, head.circuitId, head.status);
  c.deferText(keptText(text, start, CIRC_PREFIX));
  return c;
}

/**
 * Applies a CIRC_MINOR event (a purpose changed, a circuit cannibalized) to the open circuit it
 * names; one about a circuit the state does not list changes nothing.
 *
 * @returns the circuit changed, or undefined
 */
export function applyCircMinorEvent(s: StateSnapshot, e: CircMinorEvent): Circuit | undefined {
  const c = s.circuits.get(e.circuitId);
  if (c !== undefined) applyCircMinorDetail(c.detail(), e);
  return c;
}

/** A CIRC event's id and status applied: finds or makes the circuit and files it as open or closed. */
function circuitStatus(s: StateSnapshot, circuitId: string, status: CircStatus): Circuit {
  // Ids are kept as map keys and on the objects: copies, like everything the state keeps.
  const id = detach(circuitId);
  const closing = isClosedStatus(status);
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
  (c as CircuitWrites).status = status;
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

/**
 * A circuit tor just told us it launched (EXTENDCIRCUIT's reply) that no event has shown yet:
 * the known circuit, a recently closed one, or a new LAUNCHED circuit.
 */
export function ensureCircuit(s: StateSnapshot, id: string, purpose?: string): Circuit {
  let c = s.circuits.get(id) ?? s.recentlyClosed.get(id);
  if (c === undefined) {
    c = new Circuit(id, s);
    if (purpose !== undefined) c.detail().purpose = purpose;
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
  (st as StreamWrites).circuitId = cid;
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
 * Applies a STREAM event (or a `GETINFO stream-status` line parsed as one).
 *
 * @returns the stream concerned (for FAILED/CLOSED the one removed; it keeps its last circuit)
 */
export function applyStreamEvent(s: StateSnapshot, e: StreamEvent): Stream {
  const st = streamStatus(s, e.streamId, e.status, e.circuitId);
  applyStreamDetail(st.detail(), e);
  return st;
}

/**
 * Applies a STREAM event from its text, reading only the stream id, status and circuit id now
 * (and checking that a target follows): the stream keeps the rest of the text and parses it when
 * one of its other fields is first read. The snapshot ends up the same as with
 * {@link applyStreamEvent} on the parsed event.
 *
 * @param text - the event (`STREAM 12 NEW 0 example.com:443 ...`) or a stream-status line
 * @param start - where the stream id starts: 7 for an event, 0 for a stream-status line
 * @throws TorProtocolError when a field is missing or the target has no valid port (the snapshot is unchanged)
 */
export function applyStreamText(s: StateSnapshot, text: string, start: number): Stream {
  const head = scanStreamHead(text, start);
  const st = streamStatus(s, head.streamId, head.status, head.circuitId);
  st.deferText(keptText(text, start, STREAM_PREFIX));
  return st;
}

/** A STREAM event's id, status and circuit applied: finds or makes the stream and files it. */
function streamStatus(s: StateSnapshot, streamId: string, status: StreamStatus, circuitId: string): Stream {
  const closing = isClosedStreamStatus(status);
  let st = s.streams.get(streamId);
  if (st === undefined && status === 'CLOSED' && s.failedStreams.size > 0) {
    // tor follows FAILED with CLOSED: the same stream ends.
    st = s.failedStreams.get(streamId);
    if (st !== undefined) s.failedStreams.delete(streamId);
  }
  if (st === undefined) {
    const id = detach(streamId);
    st = new Stream(id, s);
    if (!closing) s.streams.set(id, st);
  }
  (st as StreamWrites).status = status;
  const before = st.circuitId;
  // tor names the old circuit in DETACHED, and in the CONTROLLER_WAIT that follows it (tor 0.4.9),
  // but the stream is no longer on it: it waits for one.
  const cid = status === 'DETACHED' || status === 'CONTROLLER_WAIT' ? '0' : detach(circuitId);
  if (closing) {
    leaveCircuit(s, st);
    if (cid !== '0' && cid !== before) {
      (st as StreamWrites).circuitId = cid;
      st.attachedTo = s.circuits.get(cid) ?? s.recentlyClosed.get(cid);
    }
    s.streams.delete(st.id);
    if (status === 'FAILED') {
      const failed = s.failedStreams;
      failed.set(st.id, st);
      if (failed.size > RECENTLY_CLOSED_LIMIT) failed.delete(failed.firstKey()!);
    }
  } else if (cid !== before) {
    leaveCircuit(s, st);
    joinCircuit(s, st, cid);
  }
  st.justAttached = before === '0' && st.circuitId !== '0' && !closing;
  return st;
}

/**
 * Applies an ADDRMAP event (or an address-mappings line parsed as one): the mapping replaces any
 * earlier one for the same address, unless tor does not keep it (`CACHED="NO"`: a one-off answer
 * to a RESOLVE, control-spec 4.1.7), which leaves the map as it was, as tor's own map stays.
 * Expiry is not judged here (no clock): see AddressMapView.
 */
export function applyAddrMapEvent(s: StateSnapshot, e: AddrMapEvent): AddressMapping {
  const m = AddressMapping.fromEvent(e, s.addressMap.get(e.address));
  if (m.cached !== false) s.addressMap.set(m.address, m);
  return m;
}

/** Where {@link applyAddrMapText} says which mapping the new one replaced (reused by the caller); undefined when it replaced none or was not kept. */
export interface ReplacedMapping {
  previous: AddressMapping | undefined;
}

/**
 * Applies an ADDRMAP event from its text, read straight into the mapping (no event object, no
 * Date). The snapshot ends up the same as with {@link applyAddrMapEvent} on the parsed event.
 *
 * @param text - the event (`ADDRMAP example.com 192.0.2.1 "2026-11-25 16:00:00" EXPIRES=...`)
 * @param start - where the address starts: 8
 * @param replaced - if given, gets the mapping the new one replaced
 * @throws TorProtocolError when parseAddrMapBody would (the snapshot is unchanged)
 */
export function applyAddrMapText(s: StateSnapshot, text: string, start: number, replaced?: ReplacedMapping): AddressMapping {
  const scan = scanAddrMap(text, start, false);
  const previous = s.addressMap.get(scan.address);
  const m = AddressMapping.fromScan(scan, previous);
  // A RESOLVE answer tor does not keep (CACHED="NO") leaves the map as it was: see applyAddrMapEvent.
  const kept = m.cached !== false;
  if (kept) s.addressMap.set(m.address, m);
  if (replaced !== undefined) replaced.previous = kept ? previous : undefined;
  return m;
}

/** What {@link applyMappedAddresses} changed. */
export interface MapAddressChanges {
  /** Mappings made (announced by ADDRMAP events that follow the reply). */
  readonly added: AddressMapping[];
  /** Mappings tor removed. */
  readonly removed: AddressMapping[];
}

/**
 * Applies what a MAPADDRESS reply says tor did (control-spec 3.8): an address mapped to itself
 * removes its mapping, which tor announces with no event; any other pair replaces the mapping of
 * its address with one that never expires. A wildcard mapping (`*.example.com`) is filed under the
 * domain, as tor files it and its ADDRMAP events name it (the initial load spells it so too).
 */
export function applyMappedAddresses(s: StateSnapshot, mapped: readonly MappedAddress[]): MapAddressChanges {
  const changes: MapAddressChanges = { added: [], removed: [] };
  for (const { address, newAddress } of mapped) {
    const key = addressMapKey(address);
    if (isMapAddressRemoval(address, newAddress)) {
      const m = s.addressMap.get(key);
      if (m !== undefined) {
        s.addressMap.delete(key);
        changes.removed.push(m);
      }
      continue;
    }
    const m = AddressMapping.fromMapAddress(key, addressMapKey(newAddress), s.addressMap.get(key));
    s.addressMap.set(key, m);
    changes.added.push(m);
  }
  return changes;
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
      status: (sp2 === -1 ? l.slice(sp + 1) : l.slice(sp + 1, sp2)).toLowerCase(),
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
  // Lower case, as GETINFO entry-guards writes statuses: one spelling for `status === 'up'`.
  const guard: EntryGuard = { fingerprint: fp, nickname: nick ?? s.guards[i]?.nickname, status: e.status.toLowerCase() };
  if (i !== -1) {
    // tor repeats a status (DOWN four times for one dead guard): nothing changed.
    const old = s.guards[i]!;
    if (old.status === guard.status && old.nickname === guard.nickname && old.fingerprint === guard.fingerprint) return false;
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
  eachLine(info['address-mappings/all'], 'address-mappings/all', onProblem, (l) => applyAddrMapEvent(s, keptByTor(inEventSpelling(parseAddrMapLine(l)))));
  const guards = info['entry-guards'];
  if (guards !== undefined) applyEntryGuardsText(s, guards);
  return s;
}

/**
 * An `address-mappings/all` line as tor's ADDRMAP events spell it. tor files a wildcard mapping
 * (`MAPADDRESS *.w.example=*.x.example`) under the domain and names it so in its events
 * (`ADDRMAP w.example x.example ...`), but lists it with the `*.`s: the map keys it as the events do,
 * so that a state built after the mapping holds the same entry as one that saw it made.
 */
function inEventSpelling(e: AddrMapEvent): AddrMapEvent {
  if (!e.address.startsWith('*.')) return e;
  const newAddress = e.newAddress !== null && e.newAddress.startsWith('*.') ? e.newAddress.slice(2) : e.newAddress;
  return { ...e, address: e.address.slice(2), newAddress };
}

/**
 * An `address-mappings/all` line says nothing of CACHED: everything it lists is in tor's map, kept
 * until it expires, which is what an ADDRMAP event says with `CACHED="YES"`. So a mapping reads the
 * same whether the state saw it made or found it at the start.
 */
function keptByTor(e: AddrMapEvent): AddrMapEvent {
  return e.cached === undefined ? { ...e, cached: true } : e;
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
    case 'CIRC_MINOR':
      applyCircMinorEvent(s, e);
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
