import type { Circuit } from './circuit.js';

/**
 * Purposes of circuits that serve one step of the onion-service protocol: fetching or posting a
 * descriptor, introduction, rendezvous. tor takes an ATTACHSTREAM of a stream to an address to one
 * of them (250 OK), but the stream goes nowhere: the relay at the end ends it (seen on tor 0.4.9:
 * an HS_SERVICE_INTRO circuit, REMOTE_REASON=RESOLVEFAILED for 127.0.0.1), tor detaches it after
 * its stream timeout, and the caller learns nothing useful some 30 seconds later. Streams to
 * onion services, which do use such circuits, are tor's to place and never reach the attacher.
 */
const ONION_ROLE_PURPOSES: ReadonlySet<string> = new Set([
  'HS_CLIENT_HSDIR',
  'HS_CLIENT_INTRO',
  'HS_CLIENT_REND',
  'HS_SERVICE_HSDIR',
  'HS_SERVICE_INTRO',
  'HS_SERVICE_REND',
]);

/**
 * Why `circuit` cannot carry a stream to an address, when it is an onion-service protocol circuit
 * (see ONION_ROLE_PURPOSES); undefined for any other circuit.
 */
export function onionRoleRefusal(circuit: Circuit): string | undefined {
  const purpose = circuit.purpose;
  if (purpose === undefined || !ONION_ROLE_PURPOSES.has(purpose)) return undefined;
  return `is an ${purpose} circuit (onion-service protocol), not one for streams to addresses`;
}
