/**
 * Why tor ended or detached a stream, in words: from the REASON and REMOTE_REASON of its STREAM
 * events (control-spec 4.1.2; the reasons themselves are tor-spec's RELAY_END reasons).
 */

import type { HostPort } from '../control/events/event-types.js';
import { describeTarget } from '../util/ip-address.js';

/** What each reason means, as a phrase that follows "the stream failed: ". */
const REASON_PHRASES: Readonly<Record<string, string>> = Object.freeze({
  MISC: 'an unspecified failure',
  RESOLVEFAILED: 'the name could not be resolved',
  CONNECTREFUSED: 'the target refused the connection',
  EXITPOLICY: 'the exit policy refuses the address',
  DESTROY: 'the circuit was destroyed',
  DONE: 'the connection was closed',
  TIMEOUT: 'the connection timed out',
  NOROUTE: 'no route to the target',
  HIBERNATING: 'the exit is hibernating',
  INTERNAL: 'an internal error of the relay',
  RESOURCELIMIT: 'the relay is out of resources',
  CONNRESET: 'the connection was reset',
  TORPROTOCOL: 'a Tor protocol violation',
  NOTDIRECTORY: 'the relay is not a directory',
  END: 'the other end closed the stream',
  PRIVATE_ADDR: 'the target is a private address',
});

/**
 * What the exit answered when it turned down a stream in a way that the same exit will repeat (so
 * that attaching the stream to the same circuit again cannot help), or undefined. tor detaches a
 * stream for these and would try another exit; a stream pinned to a circuit has no other exit,
 * and a second try on the same one was seen to wait for tor's stream timeout (10 s and more)
 * instead of failing again.
 * @param remoteReason the stream's REMOTE_REASON (kept from its last DETACHED or FAILED event)
 */
export function exitRefusal(remoteReason: string | undefined, target: HostPort): string | undefined {
  const { host } = target;
  switch (remoteReason) {
    case 'RESOLVEFAILED':
      return `could not resolve ${host} (REMOTE_REASON=RESOLVEFAILED)`;
    case 'EXITPOLICY':
      return `does not allow ${describeTarget(target)} by its exit policy (REMOTE_REASON=EXITPOLICY)`;
    case 'NOROUTE':
      return `has no route to ${host} (REMOTE_REASON=NOROUTE)`;
    default:
      return undefined;
  }
}

/**
 * Why tor ended a stream, e.g. `the target refused the connection (REASON=END
 * REMOTE_REASON=CONNECTREFUSED)`: the exit's reason when it gave one, else tor's own. Reasons
 * tor may add later are named as they are.
 */
export function describeStreamEnd(reason: string | undefined, remoteReason: string | undefined): string {
  const named = [reason === undefined ? undefined : `REASON=${reason}`, remoteReason === undefined ? undefined : `REMOTE_REASON=${remoteReason}`]
    .filter((part) => part !== undefined)
    .join(' ');
  const main = remoteReason ?? reason;
  const phrase =
    main === undefined ? 'tor gave no reason' : Object.hasOwn(REASON_PHRASES, main) ? REASON_PHRASES[main]! : 'a reason torcon does not know';
  return named === '' ? phrase : `${phrase} (${named})`;
}
