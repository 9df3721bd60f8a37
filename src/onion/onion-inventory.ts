/**
 * The ADD_ONION services a tor runs, as a controller may see them (`GETINFO onions/current` and
 * `onions/detached`, control-spec 3.9), and their removal by id (DEL_ONION, 3.28): what a process
 * needs to find and remove a `detach` service it created before a restart, whose handle is gone.
 */
import type { TorControl } from '../control/tor-control.js';
import { TorControlError, TorProtocolError } from '../errors.js';
import type { CancelOptions } from '../util/abort.js';
import { logger } from '../util/log.js';
import { isValidServiceId } from './service-id.js';

const log = logger('onion');

/** An ADD_ONION service that tor lists to this control connection. */
export interface OnionServiceInfo {
  /** The 56-character service id, lower case. */
  serviceId: string;
  /** `<serviceId>.onion`. */
  hostname: string;
  /**
   * Created with `detach` (on any control connection): it runs until removed or tor stops. The
   * others were created on this control connection and end with it.
   */
  detached: boolean;
}

/**
 * Reads a `GETINFO onions/current` or `onions/detached` value: one id per line, empty when there is
 * none. An older tor's refusal "No onion services of the specified type" is handled by the caller.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a line that is no v3 service id
 */
export function parseOnionIdList(value: string, key: string): string[] {
  const ids: string[] = [];
  for (const line of value.split('\n')) {
    const id = line.trim();
    if (id === '') continue;
    if (!isValidServiceId(id)) throw new TorProtocolError(`GETINFO ${key}: tor listed something that is no v3 onion service id`);
    ids.push(id.toLowerCase());
  }
  return ids;
}

/**
 * The ADD_ONION services tor shows this connection: those it created (not detached), then the
 * detached ones of every connection. Services of other connections that are not detached, and
 * `HiddenServiceDir` services (see `TorConfig.hiddenServices()`), are not listed: tor does not
 * show them here.
 */
export async function listOnionServices(control: TorControl, opts: CancelOptions = {}): Promise<OnionServiceInfo[]> {
  const out: OnionServiceInfo[] = [];
  const seen = new Set<string>();
  for (const [key, detached] of [['onions/current', false], ['onions/detached', true]] as const) {
    for (const serviceId of await readIds(control, key, opts)) {
      if (seen.has(serviceId)) continue;
      seen.add(serviceId);
      out.push({ serviceId, hostname: `${serviceId}.onion`, detached });
    }
  }
  return out;
}

async function readIds(control: TorControl, key: string, opts: CancelOptions): Promise<string[]> {
  try {
    return parseOnionIdList(await control.getInfo(key, opts), key);
  } catch (err) {
    // tor before 0.3.x refused an empty list instead of answering an empty value.
    if (err instanceof TorControlError && /no onion services/i.test(err.message)) return [];
    throw err;
  }
}

/**
 * DEL_ONION of a service id (already checked). tor removes a service of this connection or a
 * detached one; it answers 552 for any other (unknown, or another connection's own).
 * @returns true when tor removed it, false when tor has no such service for this connection
 */
export async function deleteOnionById(control: TorControl, serviceId: string, opts: CancelOptions = {}): Promise<boolean> {
  try {
    await control.command(`DEL_ONION ${serviceId}`, opts);
  } catch (err) {
    if (err instanceof TorControlError && err.status === 552) return false;
    throw err;
  }
  log('DEL_ONION %s.onion (by id)', serviceId);
  return true;
}
