import { assertCancelOptions, budgetMark, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';

/**
 * Runs a multi-step network operation under the caller's signal and timeout. The steps receive an
 * internal signal that aborts when the caller gives up, so that each step can destroy the socket it
 * holds at that moment; a result that still arrives after the caller gave up is handed to
 * `dispose` (e.g. destroys the socket that nobody will ever read). The caller gets
 * `TorAbortError`/`TorTimeoutError` at once.
 * @param stop - the owner's own end (a SOCKS client being closed): the operation is cut short the
 *   same way, and the caller gets the signal's reason as it is
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for an unusable `timeoutMs`, before `work` starts
 * @throws TorAbortError (`TOR_ABORTED`), TorTimeoutError (`TOR_TIMEOUT`), `stop`'s reason, or what `work` throws
 */
export async function cancellable<T>(
  what: string,
  opts: CancelOptions,
  work: (signal: AbortSignal) => Promise<T>,
  dispose: (value: T) => void,
  stop?: AbortSignal,
): Promise<T> {
  assertCancelOptions(opts);
  throwIfAborted(opts.signal, what);
  if (stop?.aborted) throw stop.reason;
  const inner = new AbortController();
  let onStop: (() => void) | undefined;
  const stopped =
    stop &&
    new Promise<never>((_, reject) => {
      onStop = () => {
        inner.abort(stop.reason);
        reject(stop.reason);
      };
      stop.addEventListener('abort', onStop, { once: true });
    });
  const running = work(inner.signal);
  try {
    const raced = raceCancel(running, what, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...budgetMark(opts),
      onCancel: (err) => inner.abort(err),
    });
    if (stopped === undefined) return await raced;
    // The loser of the two must not reject unobserved.
    raced.catch(() => undefined);
    return await Promise.race([raced, stopped]);
  } catch (err) {
    // If the race was lost, the work may still succeed later: release what it produces.
    if (inner.signal.aborted) running.then(dispose, () => undefined);
    throw err;
  } finally {
    if (onStop) stop?.removeEventListener('abort', onStop);
  }
}

/**
 * Rejects with `signal.reason` when it is already aborted (for checks between steps of a
 * {@link cancellable} operation, whose caller has already been answered).
 */
export function checkInnerSignal(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}
