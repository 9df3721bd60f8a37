import type { TorControl } from '../control/tor-control.js';
import { TorAbortError, TorControlClosedError, TorTimeoutError } from '../errors.js';
import { cancelBudget, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { logger } from '../util/log.js';

const log = logger('tor');

/**
 * How long to wait for tor to announce a NEWNYM it accepted. tor applies at most one NEWNYM every
 * 10 seconds (MAX_SIGNEWNYM_RATE) and defers a request that comes sooner, so an announcement is due
 * within 10 s; past this, tor is taken at its word (it said 250) and the wait ends.
 */
export const NEWNYM_ANNOUNCE_WAIT_MS = 15_000;

/**
 * Sends SIGNAL NEWNYM and resolves once tor has applied it, so that streams opened afterwards get
 * new circuits. tor answers 250 at once even when it defers the signal (to keep to one NEWNYM per
 * 10 s; it then only logs "Rate limiting NEWNYM request"), and announces every NEWNYM it applies
 * with a `SIGNAL NEWNYM` event: that event, after the request, is what this waits for. A NEWNYM
 * another controller caused counts as well: from then on new streams get new circuits all the same.
 *
 * @returns how long tor took to apply it, in milliseconds (0 when it could not say: a tor that
 *   refuses SIGNAL events, or no announcement within {@link NEWNYM_ANNOUNCE_WAIT_MS})
 * @throws TorTimeoutError, TorAbortError as `opts` say; TorControlError/TorControlClosedError from tor
 */
export async function requestNewIdentity(control: TorControl, opts: CancelOptions = {}): Promise<number> {
  // Before the subscription below, which would otherwise reach tor (two SETEVENTS) for a caller
  // who had given up already.
  throwIfAborted(opts.signal, 'NEWNYM');
  const remaining = cancelBudget(opts);

  let announce!: () => void;
  const announced = new Promise<void>((resolve) => (announce = resolve));
  let asked = false;
  const subscribing = control.subscribeRaw('SIGNAL', (text) => {
    if (asked && text === 'SIGNAL NEWNYM') announce();
  });
  let unsubscribe: (() => Promise<void>) | undefined;
  try {
    unsubscribe = await raceCancel(subscribing, 'NEWNYM', {
      ...remaining(),
      // Given up before tor answered: a subscription made later must not stay behind.
      onCancel: () => void subscribing.then((off) => off(), () => undefined),
    });
  } catch (err) {
    if (err instanceof TorTimeoutError || err instanceof TorAbortError) throw err;
    // tor refused SIGNAL events, or the connection is gone: the SIGNAL below then says which.
    log('NEWNYM: cannot hear SIGNAL events (%s); not waiting for the announcement', (err as Error).message);
  }
  try {
    const started = Date.now();
    // Set before sending: tor announces a NEWNYM it applies at once before it answers 250.
    asked = true;
    await control.signal('NEWNYM', remaining());
    if (unsubscribe === undefined) return 0;
    const heard = await raceCancel(announcedOrGiveUp(control, announced), 'NEWNYM: waiting for tor to apply it', remaining());
    if (!heard) {
      log('NEWNYM: no announcement within %d ms; tor accepted it', NEWNYM_ANNOUNCE_WAIT_MS);
      return 0;
    }
    return Date.now() - started;
  } finally {
    if (unsubscribe !== undefined) void unsubscribe().catch(() => undefined);
  }
}

/** true when `announced` settles, false after NEWNYM_ANNOUNCE_WAIT_MS; rejects if the connection closes first. */
function announcedOrGiveUp(control: TorControl, announced: Promise<void>): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const onClose = () => finish(() => reject(new TorControlClosedError('NEWNYM: the Tor control connection closed before tor applied it')));
    const timer = setTimeout(() => finish(() => resolve(false)), NEWNYM_ANNOUNCE_WAIT_MS);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      control.off('close', onClose);
      settle();
    };
    control.once('close', onClose);
    void announced.then(() => finish(() => resolve(true)));
  });
}
