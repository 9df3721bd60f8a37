import type { Circuit } from './circuit.js';

/**
 * Purposes of circuits that serve one step of the onion-service protocol: fetching or posting a
 * descriptor, introduction, rendezvous. tor takes an ATTACHSTREAM of a stream to an address to one
 * of them (250 OK), but the stream goes nowhere: the relay at the end ends it (seen on tor 0.4.9:
 * an HS_SERVICE_INTRO circuit, REMOTE_REASON=RESOLVEFAILED for 127.0.0.1), tor detaches it after
 * its stream timeout, and the caller learns nothing useful some 30 seconds later. Streams to
 * onion services, which do use such circuits, are tor's to place and never reach the attacher.
 */
const ONION_PROTOCOL_PURPOSES: ReadonlySet<string> = new Set([
  'HS_CLIENT_HSDIR',
  'HS_CLIENT_INTRO',
  'HS_CLIENT_REND',
  'HS_SERVICE_HSDIR',
  'HS_SERVICE_INTRO',
  'HS_SERVICE_REND',
]);

/**
 * Purposes of circuits tor keeps for its own ends (control-spec 4.1.1, and tor 0.4.8's conflux),
 * which end in no exit chosen for the stream or are on their way out. tor takes a stream on them
 * too, with the same result: seen on tor 0.4.9, HS_VANGUARDS (a circuit built ahead for onion
 * services, its last hop any relay) detached the stream until it timed out some 35 s later, and
 * CONFLUX_UNLINKED and CIRCUIT_PADDING ended it with RESOLVEFAILED for an IP address.
 */
const TOR_INTERNAL_PURPOSES: ReadonlyMap<string, string> = new Map([
  ['HS_VANGUARDS', "tor's own, built ahead for onion services"],
  ['CONFLUX_UNLINKED', 'a conflux leg not yet linked'],
  ['CIRCUIT_PADDING', 'kept open only to hide when it closes'],
  ['MEASURE_TIMEOUT', 'kept only to time how long circuits take'],
  ['PATH_BIAS_TESTING', 'a probe of whether circuits are being closed'],
  ['TESTING', "a relay's reachability test"],
]);

/**
 * Why `circuit` cannot carry a stream to an address, when its purpose says so (an onion-service
 * protocol circuit, or one tor keeps for itself: see the two lists above); undefined for any other
 * circuit, a purpose tor adds later among them.
 */
export function streamlessCircuitRefusal(circuit: Circuit): string | undefined {
  const purpose = circuit.purpose;
  if (purpose === undefined) return undefined;
  if (ONION_PROTOCOL_PURPOSES.has(purpose)) {
    return `is an ${purpose} circuit (onion-service protocol), not one for streams to addresses`;
  }
  const why = TOR_INTERNAL_PURPOSES.get(purpose);
  return why === undefined ? undefined : `is a ${purpose} circuit (${why}), not one for streams to addresses`;
}
