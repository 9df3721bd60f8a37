import { TorInvalidValueError, TorProtocolError } from '../errors.js';
import { assertToken } from '../control/wire-values.js';
import type { ControlReply } from '../control/reply.js';
import { parseOnionPrivateKey } from './key-file.js';

/**
 * Building ADD_ONION (control-spec 3.27) and reading its reply: pure functions, so that every flag
 * and port combination is unit-tested without tor.
 */

/** One `Port=VIRT,TARGET` argument. */
export interface AddOnionPort {
  virtualPort: number;
  /** `host:port`, `[v6]:port` or `unix:/path`; no whitespace, quotes or commas. */
  target: string;
}

/** Everything one ADD_ONION command says. */
export interface AddOnionSpec {
  /** An existing `ED25519-V3:<base64>` key, or `undefined` for a new one. */
  privateKey?: string | undefined;
  ports: readonly AddOnionPort[];
  /** Do not return a newly generated key. @default false */
  discardPk?: boolean | undefined;
  detach?: boolean | undefined;
  nonAnonymous?: boolean | undefined;
  maxStreams?: number | undefined;
  maxStreamsCloseCircuit?: boolean | undefined;
  /** base32 x25519 public keys of authorized clients (adds `Flags=V3Auth`). */
  clientAuthV3?: readonly string[] | undefined;
  /**
   * Proof-of-work defences (`PoWDefensesEnabled=1`): accepted by tor 0.4.9's ADD_ONION although the
   * control-spec text does not list it yet; older tors refuse the keyword.
   */
  pow?: boolean | undefined;
}

/**
 * The ADD_ONION command line for `spec`. Every value is checked, so no caller value can add an
 * argument or a line. Log it only through `redactCommand` (it may hold the private key).
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for a malformed key; TorInvalidValueError
 *   (`TOR_INVALID_VALUE`) for a bad port, a target with whitespace, quotes or a comma, a bad client key
 * @example buildAddOnionCommand({ ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }] })
 * // 'ADD_ONION NEW:ED25519-V3 Port=80,127.0.0.1:8080'
 */
export function buildAddOnionCommand(spec: AddOnionSpec): string {
  const parts = ['ADD_ONION', spec.privateKey === undefined ? 'NEW:ED25519-V3' : parseOnionPrivateKey(spec.privateKey)];
  const flags: string[] = [];
  if (spec.discardPk) flags.push('DiscardPK');
  if (spec.detach) flags.push('Detach');
  if (spec.nonAnonymous) flags.push('NonAnonymous');
  if (spec.maxStreamsCloseCircuit) flags.push('MaxStreamsCloseCircuit');
  const clients = spec.clientAuthV3 ?? [];
  if (clients.length > 0) flags.push('V3Auth');
  if (flags.length > 0) parts.push(`Flags=${flags.join(',')}`);
  if (spec.maxStreams !== undefined) {
    if (!Number.isInteger(spec.maxStreams) || spec.maxStreams < 0 || spec.maxStreams > 65535) {
      throw new TorInvalidValueError('MaxStreams', 'must be an integer 0..65535');
    }
    parts.push(`MaxStreams=${spec.maxStreams}`);
  }
  if (spec.pow) parts.push('PoWDefensesEnabled=1');
  if (spec.ports.length === 0) throw new TorInvalidValueError('onion ports', 'at least one is needed');
  for (const { virtualPort, target } of spec.ports) {
    if (!Number.isInteger(virtualPort) || virtualPort < 1 || virtualPort > 65535) {
      throw new TorInvalidValueError('onion virtual port', `${String(virtualPort)} is not an integer 1..65535`);
    }
    assertTarget(target);
    parts.push(`Port=${virtualPort},${target}`);
  }
  for (const key of clients) {
    assertToken(key, 'ClientAuthV3 key');
    if (!/^[A-Za-z2-7]{52}$/.test(key)) throw new TorInvalidValueError('ClientAuthV3 key', 'must be 52 base32 characters');
    parts.push(`ClientAuthV3=${key}`);
  }
  return parts.join(' ');
}

/**
 * Checks a port target for ADD_ONION and HiddenServicePort: a token without commas.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertTarget(target: string): void {
  assertToken(target, 'onion port target');
  if (target.includes(',')) throw new TorInvalidValueError('onion port target', 'contains a comma');
}

/** What ADD_ONION answered. */
export interface AddOnionResult {
  /** 56 characters, lower case, no `.onion`. */
  serviceId: string;
  /** `ED25519-V3:<base64>` when tor generated the key and did not discard it. */
  privateKey?: string;
  /** The client keys tor echoed (`ClientAuthV3=`). */
  clientAuthV3: string[];
}

/**
 * Reads `250-ServiceID=...`, `250-PrivateKey=...`, `250-ClientAuthV3=...` (unknown lines ignored).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the reply has no ServiceID
 */
export function parseAddOnionReply(reply: ControlReply): AddOnionResult {
  let serviceId: string | undefined;
  let privateKey: string | undefined;
  const clientAuthV3: string[] = [];
  for (const { text } of reply.lines) {
    const eq = text.indexOf('=');
    if (eq < 0) continue;
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    if (key === 'ServiceID') serviceId = value.toLowerCase();
    else if (key === 'PrivateKey') privateKey = value;
    else if (key === 'ClientAuthV3') clientAuthV3.push(value);
  }
  if (!serviceId || !/^[a-z2-7]{56}$/.test(serviceId)) throw new TorProtocolError('ADD_ONION reply has no v3 ServiceID');
  return { serviceId, ...(privateKey !== undefined ? { privateKey } : {}), clientAuthV3 };
}
