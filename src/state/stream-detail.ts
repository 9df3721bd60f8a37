/**
 * What a stream's STREAM events say beyond its id, status and circuit (target, reasons, source
 * address, purpose, ...), and the pure step that folds one event into it. A Stream reads its
 * events' text into this only when someone asks for one of these fields: see Stream.
 */

import type { HostPort, StreamEvent } from '../control/events/event-types.js';
import { detach, ownString } from '../control/events/field-parsers.js';

const NO_TARGET: HostPort = Object.freeze({ host: '', port: 0 });

/** The fields of a Stream that come from its events' text; their meaning is on Stream. */
export interface StreamDetail {
  target: HostPort;
  /**
   * The target of the NEW event: where the client asked to go, which a REMAP does not change. For
   * a transparent (TransPort) stream, the destination the client's socket is connected to.
   */
  requestedTarget: HostPort | undefined;
  reason: string | undefined;
  remoteReason: string | undefined;
  source: string | undefined;
  sourceAddr: HostPort | undefined;
  purpose: string | undefined;
  clientProtocol: string | undefined;
  socksUsername: string | undefined;
  nymEpoch: number | undefined;
  sessionGroup: number | undefined;
}

/** A stream no event has described yet. */
export function emptyStreamDetail(): StreamDetail {
  return {
    target: NO_TARGET,
    requestedTarget: undefined,
    reason: undefined,
    remoteReason: undefined,
    source: undefined,
    sourceAddr: undefined,
    purpose: undefined,
    clientProtocol: undefined,
    socksUsername: undefined,
    nymEpoch: undefined,
    sessionGroup: undefined,
  };
}

/**
 * Folds one STREAM event (or stream-status line) into `d`: what the event says replaces what `d`
 * had, and what it leaves out (SOURCE_ADDR after NEW, say) stays.
 */
export function applyStreamDetail(d: StreamDetail, e: StreamEvent): void {
  // A stream may live long enough to be promoted to the old generation, and a host sliced from the
  // event would take the whole event line along. So a stream keeps the target it has while tor
  // repeats it, and otherwise a copy whose host does not share memory with the line.
  if (d.target.port !== e.target.port || d.target.host !== e.target.host) d.target = ownHostPort(e.target);
  if (e.status === 'NEW' && d.requestedTarget === undefined) d.requestedTarget = d.target;
  if (e.reason !== undefined) d.reason = e.reason;
  if (e.remoteReason !== undefined) d.remoteReason = e.remoteReason;
  if (e.source !== undefined) d.source = e.source;
  if (e.sourceAddr !== undefined && (d.sourceAddr?.port !== e.sourceAddr.port || d.sourceAddr.host !== e.sourceAddr.host)) {
    d.sourceAddr = ownHostPort(e.sourceAddr);
  }
  if (e.purpose !== undefined) d.purpose = e.purpose;
  if (e.clientProtocol !== undefined) d.clientProtocol = e.clientProtocol;
  if (e.socksUsername !== undefined) d.socksUsername = ownString(d.socksUsername, e.socksUsername);
  if (e.nymEpoch !== undefined) d.nymEpoch = e.nymEpoch;
  if (e.sessionGroup !== undefined) d.sessionGroup = e.sessionGroup;
}

/** A copy of `hp` whose host does not point into the event text it was sliced from. */
function ownHostPort(hp: HostPort): HostPort {
  return { host: detach(hp.host), port: hp.port };
}
