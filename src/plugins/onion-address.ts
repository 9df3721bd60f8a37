import { EndpointArgumentError } from '../errors.js';
import { isValidServiceId } from '../onion/service-id.js';

// Checking the v3 checksum here (rend-spec-v3 section 6, with the same code the onion services use)
// turns a typo into a clear error before any connection, instead of tor's terse SOCKS reply 0xF6.

/**
 * Checks the labels of a host name ending in `onion` (subdomains such as `www.<id>.onion` allowed).
 * @param labels - the host split on `.`, trailing dot removed; the last label is `onion`.
 * @param name - what the host is, for messages.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`) for v2 or malformed addresses.
 */
export function checkOnionHostname(labels: readonly string[], name: string): void {
  const id = labels.length >= 2 ? labels[labels.length - 2]! : '';
  if (id.length === 16 && /^[a-z2-7]{16}$/i.test(id)) {
    throw new EndpointArgumentError(
      `${name}: "${id}.onion" is a version 2 onion address; tor no longer supports them (v3 addresses have 56 characters)`,
    );
  }
  if (!isValidServiceId(id)) {
    throw new EndpointArgumentError(
      `${name}: "${id}.onion" is not a valid v3 onion address (56 base32 characters with a matching checksum)`,
    );
  }
}
