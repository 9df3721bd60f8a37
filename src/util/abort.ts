import { TorAbortError, TorTimeoutError } from '../errors.js';

/** Options that every async operation of torcon accepts. */
export interface CancelOptions {
  /** Aborts the operation; it then rejects with `TorAbortError` (code `TOR_ABORTED`). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with `TorTimeoutError` (code `TOR_TIMEOUT`). */
  timeoutMs?: number;
}

/** The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timeout in milliseconds as a timer delay. Node fires a timer with a longer delay after 1 ms
 * (with a TimeoutOverflowWarning): a caller's `timeoutMs: 2 ** 40`, meant as "no real limit", would
 * fail at once. Longer delays wait the longest a timer can; a negative or NaN one fires at once.
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}

/** Throws `TorAbortError` at once when the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new TorAbortError(what, { cause: signal.reason });
}

/**
 * Races `work` against an AbortSignal and a timeout. Listeners and timers are removed in `finally`
 * so that nothing keeps the event loop alive. `onCancel` runs when the race is lost, to undo side
 * effects (kill a child, close a socket); its errors are ignored because the caller already gets
 * the abort or timeout error.
 */
export async function raceCancel<T>(
  work: Promise<T>,
  what: string,
  opts: CancelOptions & { onCancel?: (err: Error) => void } = {},
): Promise<T> {
  const { signal, timeoutMs, onCancel } = opts;
  if (!signal && timeoutMs === undefined) return work;
  throwIfAborted(signal, what);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<never>((_, reject) => {
    const cancel = (err: Error) => {
      try {
        onCancel?.(err);
      } catch {
        /* the caller gets err; cleanup failures must not mask it */
      }
      reject(err);
    };
    if (signal) {
      onAbort = () => cancel(new TorAbortError(what, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => cancel(new TorTimeoutError(what, timeoutMs)), timerDelay(timeoutMs));
    }
  });
  try {
    return await Promise.race([work, cancelled]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // The losing side may still reject later; it has been handled by the race.
    work.catch(() => undefined);
  }
}
