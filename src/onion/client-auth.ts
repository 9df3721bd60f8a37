import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { TorInvalidValueError, TorProtocolError } from '../errors.js';
import type { ControlReply } from '../control/reply.js';
import { base32Decode, base32Encode } from './base32.js';
import type { OnionClientAuthKey } from './onion-types.js';
import { isValidServiceId } from './service-id.js';

/**
 * v3 client authorization keys (rend-spec-v3 appendix G): x25519 key pairs. The service gets the
 * client's public key (`ClientAuthV3=<base32>` or an `authorized_clients/<name>.auth` file), the
 * client gets the private key (`ONION_CLIENT_AUTH_ADD ... x25519:<base64>` or a `.auth_private`
 * file, base32). Private keys never appear in inspect() or JSON output.
 */

/** Client names as tor's `ClientName` accepts them. */
export const CLIENT_NAME = /^[A-Za-z0-9+_-]{1,16}$/;

const REDACTED = '[redacted]';

/** One client's key pair; `privateKey` is hidden from inspect() and JSON. */
class ClientAuthKeyPair implements OnionClientAuthKey {
  readonly name: string;
  readonly publicKey: string;
  readonly #privateKey: string;

  constructor(name: string, publicKey: string, privateKey: string) {
    this.name = name;
    this.publicKey = publicKey;
    this.#privateKey = privateKey;
  }

  /** The client's x25519 private key, base32 (52 characters): give it to that client only. */
  get privateKey(): string {
    return this.#privateKey;
  }

  toJSON(): Record<string, string> {
    return { name: this.name, publicKey: this.publicKey, privateKey: REDACTED };
  }

  [inspect.custom](): string {
    return `OnionClientAuthKey { name: ${JSON.stringify(this.name)}, publicKey: '${this.publicKey}', privateKey: ${REDACTED} }`;
  }
}

/** PKCS#8 DER header of an X25519 private key (RFC 8410): the 32 raw bytes follow it. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function rawX25519(key: KeyObject, part: 'x' | 'd'): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const value = jwk[part];
  if (typeof value !== 'string') throw new TorProtocolError('node:crypto exported no x25519 key material');
  return Buffer.from(value, 'base64url');
}

/**
 * Generates a client-authorization key pair for `name`.
 * @returns `{ name, publicKey, privateKey }`, both keys base32 (upper case, 52 characters, no padding)
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a name that is not 1-16 of `A-Za-z0-9+-_`
 * @example const { publicKey, privateKey } = generateClientAuthKey('alice');
 */
export function generateClientAuthKey(name: string): Required<OnionClientAuthKey> {
  if (typeof name !== 'string' || !CLIENT_NAME.test(name)) {
    throw new TorInvalidValueError('client name', 'must be 1 to 16 letters, digits, "+", "-" or "_"');
  }
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return new ClientAuthKeyPair(name, base32Encode(rawX25519(publicKey, 'x')), base32Encode(rawX25519(privateKey, 'd')));
}

/**
 * The x25519 public key (base32) of a raw 32-byte private key, to check a pair or to derive the
 * `ClientAuthV3` value from a client's `.auth_private` key.
 */
export function clientAuthPublicKey(privateKey: Uint8Array): string {
  if (privateKey.length !== 32) throw new TorInvalidValueError('x25519 private key', 'must be 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  return base32Encode(rawX25519(createPublicKey(key), 'x'));
}

/**
 * Reads an x25519 private key given as base32 (52 characters, as in `.auth_private` files and in
 * {@link generateClientAuthKey}) or base64 (44 characters with `=`, or 43 without, as tor's
 * ONION_CLIENT_AUTH commands use), optionally prefixed `x25519:` or `descriptor:x25519:`, or a whole
 * `.auth_private` line `<onion>:descriptor:x25519:<key>`.
 * @returns the 32 raw bytes
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`); the message never contains the key
 */
export function parseClientAuthPrivateKey(input: string): Buffer {
  if (typeof input !== 'string') throw new TorInvalidValueError('client auth private key', 'not a string');
  let text = input.trim();
  const parts = text.split(':');
  if (parts.length === 4 && isValidServiceId(parts[0]!.replace(/\.onion$/i, ''))) parts.shift();
  if (parts.length === 3 && parts[0]!.toLowerCase() === 'descriptor') parts.shift();
  if (parts.length === 2) {
    if (parts[0]!.toLowerCase() !== 'x25519') {
      throw new TorInvalidValueError('client auth private key', 'only x25519 keys exist for v3 client authorization');
    }
    parts.shift();
  }
  if (parts.length !== 1) throw new TorInvalidValueError('client auth private key', 'unrecognized format');
  text = parts[0]!;
  let raw: Buffer | undefined;
  if (text.length === 52) raw = base32Decode(text);
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    raw = Buffer.from(text, 'base64');
    // Refuse non-canonical trailing bits, as base32Decode does.
    if (raw.toString('base64').slice(0, 43) !== text.slice(0, 43)) raw = undefined;
  }
  if (!raw || raw.length !== 32) {
    throw new TorInvalidValueError(
      'client auth private key',
      'must be a 32-byte x25519 key, base32 (52 characters) or base64 (44 characters)',
    );
  }
  return raw;
}

/** Reads a base32 x25519 public key (52 characters, either case). */
export function parseClientAuthPublicKey(input: string): string {
  const raw = typeof input === 'string' ? base32Decode(input.trim()) : undefined;
  if (!raw || raw.length !== 32) {
    throw new TorInvalidValueError('client auth public key', 'must be a base32 x25519 key (52 characters)');
  }
  return base32Encode(raw);
}

/** A client-authorization credential tor holds as a client (ONION_CLIENT_AUTH_VIEW). */
export interface OnionClientAuth {
  /** The 56-character service id (no `.onion`). */
  onion: string;
  keyType: 'x25519';
  /** The nickname given with ONION_CLIENT_AUTH_ADD, or the credential's file name. */
  clientName?: string;
  /** e.g. `Permanent` (stored in `ClientOnionAuthDir`). */
  flags: string[];
  /**
   * The x25519 private key, base32 (52 characters; the form `.auth_private` files and
   * `addOnionClientAuth` use). Not enumerable: hidden from inspect(), JSON and spreading.
   */
  readonly privateKey: string;
}

/** Builds an {@link OnionClientAuth} whose private key is not enumerable and never printed. */
export function makeOnionClientAuth(
  onion: string,
  privateKey: Buffer,
  clientName: string | undefined,
  flags: string[],
): OnionClientAuth {
  const entry: OnionClientAuth = Object.create(CLIENT_AUTH_PROTO) as OnionClientAuth;
  Object.assign(entry, { onion, keyType: 'x25519' as const });
  if (clientName !== undefined) entry.clientName = clientName;
  entry.flags = flags;
  Object.defineProperty(entry, 'privateKey', { value: base32Encode(privateKey), enumerable: false });
  return entry;
}

const CLIENT_AUTH_PROTO = {
  toJSON(this: OnionClientAuth) {
    return { ...this, privateKey: REDACTED };
  },
  [inspect.custom](this: OnionClientAuth) {
    const name = this.clientName !== undefined ? `, clientName: ${JSON.stringify(this.clientName)}` : '';
    return `OnionClientAuth { onion: '${this.onion}', keyType: 'x25519'${name}, flags: [${this.flags.map((f) => `'${f}'`).join(', ')}], privateKey: ${REDACTED} }`;
  },
};
Object.defineProperty(CLIENT_AUTH_PROTO, 'toJSON', { enumerable: false });
Object.defineProperty(CLIENT_AUTH_PROTO, inspect.custom, { enumerable: false });

/**
 * Parses an ONION_CLIENT_AUTH_VIEW reply (control-spec 3.32):
 * `250-CLIENT <id> x25519:<base64> [ClientName=N] [Flags=A,B]` lines. Unknown keywords are ignored;
 * keys of another type are skipped (tor only has x25519 so far).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a CLIENT line that breaks the grammar
 */
export function parseClientAuthView(reply: ControlReply): OnionClientAuth[] {
  const out: OnionClientAuth[] = [];
  for (const line of reply.lines) {
    if (!line.text.startsWith('CLIENT ')) continue;
    const words = line.text.split(' ').filter(Boolean);
    const onion = words[1];
    const key = words[2];
    if (!onion || !key || !key.includes(':')) throw new TorProtocolError('malformed CLIENT line in ONION_CLIENT_AUTH_VIEW reply');
    const colon = key.indexOf(':');
    if (key.slice(0, colon).toLowerCase() !== 'x25519') continue;
    let raw: Buffer;
    try {
      raw = parseClientAuthPrivateKey(key.slice(colon + 1));
    } catch {
      throw new TorProtocolError('ONION_CLIENT_AUTH_VIEW reply holds a malformed x25519 key');
    }
    let clientName: string | undefined;
    let flags: string[] = [];
    for (const word of words.slice(3)) {
      const eq = word.indexOf('=');
      if (eq < 0) continue;
      const k = word.slice(0, eq);
      const v = unquote(word.slice(eq + 1));
      if (k === 'ClientName') clientName = v;
      else if (k === 'Flags') flags = v.split(',').filter(Boolean);
    }
    out.push(makeOnionClientAuth(onion, raw, clientName, flags));
  }
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}
