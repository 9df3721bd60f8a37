import { OnionPublishError, TorAbortError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';

/**
 * An abort while tor is asked one of these questions: the caller aborted the creation of a
 * service, and hears of that rather than of the GETCONF it did not send itself.
 */
async function asking<T>(question: Promise<T>): Promise<T> {
  try {
    return await question;
  } catch (err) {
    if (err instanceof TorAbortError) throw new TorAbortError('creating an onion service', { cause: err.cause });
    throw err;
  }
}

/**
 * Questions asked of tor before creating a service, so that a doomed request fails at once with a
 * reason instead of after a timeout.
 */

/**
 * Waiting for a descriptor upload with the network disabled could only end in a timeout.
 * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when tor has `DisableNetwork 1`
 */
export async function refuseDisabledNetwork(control: TorControl, signal: AbortSignal | undefined): Promise<void> {
  const conf = await asking(control.getConf('DisableNetwork', { signal }));
  if (conf['DisableNetwork']?.[0] === '1') {
    throw new OnionPublishError(
      'tor has DisableNetwork 1, so no descriptor can be uploaded; pass awaitUpload: false (endpoint: awaitUpload=false) or enable the network',
    );
  }
}

/**
 * Filesystem services take tor's global anonymity mode; a service must never become non-anonymous
 * (or fail to be single-hop) without the caller having asked for it.
 * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when `singleHop` does not match tor's mode
 */
export async function checkAnonymityMode(
  control: TorControl,
  singleHop: boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  const conf = await asking(control.getConf(['HiddenServiceSingleHopMode', 'HiddenServiceNonAnonymousMode'], { signal }));
  const nonAnonymous =
    conf['HiddenServiceSingleHopMode']?.[0] === '1' && conf['HiddenServiceNonAnonymousMode']?.[0] === '1';
  if (singleHop && !nonAnonymous) {
    throw new OnionPublishError(
      'singleHop needs HiddenServiceSingleHopMode 1 and HiddenServiceNonAnonymousMode 1 in the torrc (tor cannot change them while running)',
    );
  }
  if (!singleHop && nonAnonymous) {
    throw new OnionPublishError(
      'this tor runs single-onion (non-anonymous) services only; pass singleHop: true to accept that',
    );
  }
}

/** tor's user id (`GETINFO process/uid`), or `undefined` when tor does not know it (-1) or says nothing. */
export async function torProcessUid(control: TorControl, signal: AbortSignal | undefined): Promise<number | undefined> {
  try {
    const uid = Number(await control.getInfo('process/uid', { signal }));
    return Number.isInteger(uid) && uid >= 0 ? uid : undefined;
  } catch {
    return undefined;
  }
}
