import { createHash } from 'node:crypto';
import { TorInvalidValueError } from '../errors.js';
import { base32Decode, base32Encode } from './base32.js';

/**
 * v3 onion service ids (rend-spec-v3 section 6): base32(PUBKEY | CHECKSUM | VERSION), 56
 * characters, where CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2] and VERSION = 3.
 */

const VERSION = Buffer.from([3]);

function checksum(pubkey: Uint8Array): Buffer {
  return createHash('sha3-256').update('.onion checksum').update(pubkey).update(VERSION).digest().subarray(0, 2);
}

/**
 * The service id (lower case, without `.onion`) of an ed25519 public key.
 * @param publicKey - the service's 32-byte ed25519 identity key
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when the key is not 32 bytes
 */
export function serviceIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new TorInvalidValueError('ed25519 public key', 'must be 32 bytes');
  return base32Encode(Buffer.concat([publicKey, checksum(publicKey), VERSION]), true);
}

/** Whether `id` (56 characters, any case, no `.onion`) is a v3 service id with a valid checksum. */
export function isValidServiceId(id: string): boolean {
  if (typeof id !== 'string' || id.length !== 56) return false;
  const raw = base32Decode(id);
  if (!raw || raw.length !== 35 || raw[34] !== 3) return false;
  return checksum(raw.subarray(0, 32)).equals(raw.subarray(32, 34));
}

/** Whether a hostname is an onion address (ends in `.onion`, any case, a trailing dot allowed). */
export function isOnionHostname(host: string): boolean {
  const end = host.endsWith('.') ? host.length - 1 : host.length;
  return end > 6 && host.slice(end - 6, end).toLowerCase() === '.onion';
}

/**
 * Normalizes `<id>` or `<id>.onion` (any case, a trailing dot allowed) to the lower-case 56-character id.
 * @param field - what the value is, for the error message
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything but a valid v3 address (a v2
 *   address gets its own message: tor removed them)
 * @example normalizeServiceId('PG6MMJIYJMCRSSLVYKFWNNTLARU7P5SVN6Y2YMMJU6NUBXNDF4PSCRYD.onion')
 */
export function normalizeServiceId(value: string, field = 'onion address'): string {
  if (typeof value !== 'string') throw new TorInvalidValueError(field, 'not a string');
  let id = value.trim().toLowerCase();
  if (id.endsWith('.')) id = id.slice(0, -1);
  if (id.endsWith('.onion')) id = id.slice(0, -'.onion'.length);
  // `<id>.onion:80` is what a service's `address` and `server.onionAddress` hold: the port is
  // the service's, no part of its address, and the message says which property has none.
  if (/\.onion\.?:\d+$/.test(id)) {
    throw new TorInvalidValueError(field, 'ends in a port (:PORT): give the address without it, as an onion service\'s hostname has it (its address adds the port)');
  }
  if (/^[a-z2-7]{16}$/.test(id)) {
    throw new TorInvalidValueError(field, 'is a version 2 address; tor no longer supports them (v3 ids have 56 characters)');
  }
  if (!isValidServiceId(id)) {
    throw new TorInvalidValueError(field, 'is not a v3 onion address (56 base32 characters with a valid checksum)');
  }
  return id;
}
