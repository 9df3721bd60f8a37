/**
 * What a circuit's CIRC events say beyond its id and status (path, purpose, flags, times,
 * reasons), and the pure step that folds one event into it. A Circuit reads its events' text into
 * this only when someone asks for one of these fields: see Circuit.
 */

import type { CircEvent, CircMinorEvent, CircuitFields, RouterRef } from '../control/events/event-types.js';
import { ownString } from '../control/events/field-parsers.js';

const NO_REFS: readonly RouterRef[] = Object.freeze([]);
const NO_FLAGS: readonly string[] = Object.freeze([]);

/** The fields of a Circuit that come from its events' text; their meaning is on Circuit. */
export interface CircuitDetail {
  purpose: string | undefined;
  buildFlags: readonly string[];
  hsState: string | undefined;
  rendQuery: string | undefined;
  timeCreated: Date | undefined;
  reason: string | undefined;
  remoteReason: string | undefined;
  socksUsername: string | undefined;
  pathRefs: readonly RouterRef[];
}

/** A circuit no event has described yet. */
export function emptyCircuitDetail(): CircuitDetail {
  return {
    purpose: undefined,
    buildFlags: NO_FLAGS,
    hsState: undefined,
    rendQuery: undefined,
    timeCreated: undefined,
    reason: undefined,
    remoteReason: undefined,
    socksUsername: undefined,
    pathRefs: NO_REFS,
  };
}

/**
 * Folds one CIRC event (or circuit-status line) into `d`: what the event says replaces what `d`
 * had, and what it leaves out (REASON outside FAILED/CLOSED, say) stays.
 */
export function applyCircDetail(d: CircuitDetail, e: CircEvent): void {
  applyCircuitFields(d, e, e.status === 'LAUNCHED');
  if (e.reason !== undefined) d.reason = e.reason;
  if (e.remoteReason !== undefined) d.remoteReason = e.remoteReason;
  if (e.socksUsername !== undefined) d.socksUsername = ownString(d.socksUsername, e.socksUsername);
}

/**
 * The fields CIRC and CIRC_MINOR share. A path is taken when it has hops, or when `emptyPathSays`
 * (a LAUNCHED circuit has none yet). A circuit's events repeat its path and creation time; keeping
 * the objects the circuit already holds when the values are equal lets the new ones die young (and
 * keeps Circuit.path cached). tor writes all it knows of a circuit in each event, so an event that
 * gives a purpose but no HS_STATE or REND_QUERY says the circuit has none any more (an onion
 * service's intro circuit turned into a vanguard or padding circuit); without a purpose (an old
 * tor without extended events) nothing is said about them.
 */
function applyCircuitFields(d: CircuitDetail, e: CircuitFields, emptyPathSays: boolean): void {
  if ((e.path.length > 0 || emptyPathSays) && !samePath(d.pathRefs, e.path)) d.pathRefs = e.path;
  if (e.buildFlags.length > 0) d.buildFlags = e.buildFlags;
  if (e.purpose !== undefined) {
    d.purpose = e.purpose;
    d.hsState = e.hsState;
    d.rendQuery = e.rendQuery === undefined ? undefined : ownString(d.rendQuery, e.rendQuery);
  }
  if (e.timeCreated !== undefined && d.timeCreated?.getTime() !== e.timeCreated.getTime()) d.timeCreated = e.timeCreated;
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
 * Folds a CIRC_MINOR event into `d`: tor sends one when it changes a circuit's purpose
 * (PURPOSE_CHANGED: a conflux leg linked, an intro circuit reused for padding) or takes a spare
 * circuit for another use (CANNIBALIZED), and the CIRC events before it no longer say what the
 * circuit is for. It carries the circuit's fields as they are now.
 */
export function applyCircMinorDetail(d: CircuitDetail, e: CircMinorEvent): void {
  applyCircuitFields(d, e, false);
}
