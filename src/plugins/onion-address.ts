import { createHash } from 'node:crypto';
import { EndpointArgumentError } from '../errors.js';

/**
 * Checks v3 onion addresses (rend-spec-v3 section 6, "Encoding onion addresses"): 56 base32
 * characters encoding PUBKEY (32 bytes) | CHECKSUM (2) | VERSION (1, = 3), where CHECKSUM is the
 * first two bytes of SHA3-256(".onion checksum" | PUBKEY | VERSION). Checking it here turns a typo
 * into a clear error before any connection, instead of tor's terse SOCKS reply 0xF6.
 */

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32Decode(text: string): Buffer | undefined {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of text.toLowerCase()) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/**
 * Whether `serviceId` (the 56 characters before `.onion`, any case) is a well-formed v3 onion
 * service id with a valid checksum and version.
 */
export function isValidOnionV3ServiceId(serviceId: string): boolean {
  if (serviceId.length !== 56) return false;
  const raw = base32Decode(serviceId);
  if (!raw || raw.length !== 35) return false;
  const pubkey = raw.subarray(0, 32);
  const version = raw.subarray(34, 35);
  if (version[0] !== 3) return false;
  const digest = createHash('sha3-256').update('.onion checksum').update(pubkey).update(version).digest();
  return digest[0] === raw[32] && digest[1] === raw[33];
}

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
  if (!isValidOnionV3ServiceId(id)) {
    throw new EndpointArgumentError(
      `${name}: "${id}.onion" is not a valid v3 onion address (56 base32 characters with a matching checksum)`,
    );
  }
}
