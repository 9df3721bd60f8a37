import { TorInvalidValueError } from '../errors.js';
import { isOnionHostname } from '../onion/service-id.js';
import type { Circuit } from '../state/circuit.js';

/**
 * The rules shared by every way of sending streams over a chosen circuit (`tor.connect`,
 * `tor.fetch` and `tor.httpAgent` with `circuit`), so that they refuse alike.
 */

/**
 * Refuses a stream to an onion service over a chosen circuit, before any I/O: tor reaches onion
 * services over rendezvous circuits it builds itself, and the state hands such streams back to tor.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `host` is an `.onion` name
 */
export function refuseOnionOverCircuit(host: string): void {
  if (isOnionHostname(host)) {
    throw new TorInvalidValueError('circuit', 'a stream to an onion service cannot be sent over a chosen circuit');
  }
}

/** The id of a `circuit` argument (already checked: a Circuit or an id): what pools are keyed by. */
export function circuitIdOf(circuit: Circuit | string): string {
  return typeof circuit === 'string' ? circuit : circuit.id;
}
