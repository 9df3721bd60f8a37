import { TorAbortError, TorInvalidValueError, TorTimeoutError } from '../errors.js';

/** Options that every async operation of torcon accepts. */
export interface CancelOptions {
  /**
   * Aborts the operation; it then rejects with `TorAbortError` (code `TOR_ABORTED`). Anything that
   * is not an AbortSignal is refused with `TorInvalidValueError` before anything is sent.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many milliseconds with `TorTimeoutError` (code `TOR_TIMEOUT`). A number
   * from 0 (give up at once) to `Infinity` (no limit); anything else (negative, NaN, a string) is
   * refused with `TorInvalidValueError` (code `TOR_INVALID_VALUE`) before anything is sent.
   */
  timeoutMs?: number;
}

/** The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Why a caller's timeout is unusable, or undefined when it is fine (or not given). A timeout is a
 * number of milliseconds: 0 means "give up at once", `Infinity` "no practical limit". Node's timers
 * would quietly turn a negative or NaN delay into 1 ms, and `setTimeout` coerces a string, so
 * `timeoutMs: -1` or `timeoutMs: '5000'` would otherwise fail with a TorTimeoutError at once and
 * hide the caller's mistake; they are refused as the invalid values they are.
 * @param field what the value was given as, for the message (e.g. `timeoutMs`, `handshakeTimeoutMs`)
 */
export function invalidTimeout(value: unknown, field = 'timeoutMs'): TorInvalidValueError | undefined {
  if (value === undefined) return undefined;
  // NaN fails `>= 0` too; Infinity passes, and timerDelay caps it.
  if (typeof value === 'number' && value >= 0) return undefined;
  // Only numbers are shown: a string put where a number belongs could be anything.
  const got = typeof value === 'number' ? String(value) : kindOf(value);
  return new TorInvalidValueError(field, `must be a number of milliseconds from 0 to Infinity, got ${got}`);
}

/**
 * Throws what {@link invalidTimeout} finds. Entry points call it before they start anything (open a
 * socket, send a command, spawn tor); async ones from inside, so that the caller gets a rejection.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertTimeout(value: unknown, field = 'timeoutMs'): void {
  const err = invalidTimeout(value, field);
  if (err) throw err;
}

/**
 * Why a caller's `signal` is unusable, or undefined when it is fine (or not given). torcon listens
 * to it with `addEventListener('abort')` and reads `aborted` and `reason`: a plain object, a string
 * or a boolean put there would fail deep inside with a bare TypeError ("addEventListener is not a
 * function"), sometimes after a socket was opened, or never be noticed at all (an `aborted: true`
 * that nothing reads). An AbortSignal of this realm, or an object with the same shape (another
 * realm's, a polyfill's), is accepted.
 * @param field what the value was given as, for the message
 */
export function invalidSignal(value: unknown, field = 'signal'): TorInvalidValueError | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) return undefined;
  const v = value as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  if (
    typeof v === 'object' &&
    v !== null &&
    typeof v.aborted === 'boolean' &&
    typeof v.addEventListener === 'function' &&
    typeof v.removeEventListener === 'function'
  ) {
    return undefined;
  }
  // The value itself is not shown: like a misplaced string, it could be anything.
  const got = kindOf(value);
  return new TorInvalidValueError(field, `must be an AbortSignal (e.g. new AbortController().signal or AbortSignal.timeout(ms)), got ${got}`);
}

/**
 * The first of {@link invalidTimeout} and {@link invalidSignal} that finds something wrong with the
 * {@link CancelOptions} of a call. The one check entry points make before they start anything.
 */
export function invalidCancelOptions(opts: { signal?: unknown; timeoutMs?: unknown } | null | undefined): TorInvalidValueError | undefined {
  if (opts === undefined || opts === null) return undefined;
  // A timeout put where the options go (`call(x, 30_000)`) would otherwise be no limit at all.
  // An array too: its keys would be read as options' and none of them would ever be one.
  if (typeof opts !== 'object' || Array.isArray(opts)) return new TorInvalidValueError('options', `must be an object (e.g. { timeoutMs: 30_000 }), got ${kindOf(opts)}`);
  return invalidTimeout(opts.timeoutMs) ?? invalidSignal(opts.signal);
}

/**
 * Throws what {@link invalidCancelOptions} finds.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertCancelOptions(opts: { signal?: unknown; timeoutMs?: unknown } | null | undefined): void {
  const err = invalidCancelOptions(opts);
  if (err) throw err;
}

/**
 * A timeout in milliseconds as a timer delay. Node fires a timer with a longer delay after 1 ms
 * (with a TimeoutOverflowWarning): a caller's `timeoutMs: 2 ** 40`, meant as "no real limit", would
 * fail at once. Longer delays wait the longest a timer can; a negative or NaN one fires at once.
 * That last case is for torcon's own arithmetic (a deadline already past): callers' timeouts are
 * checked with {@link assertTimeout} before they get here.
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
}

/**
 * Set by {@link cancelBudget} on the options it hands to each step: the caller's whole timeout. A
 * step that runs out reports that one (in its message and `timeoutMs`), which is what the caller
 * set, rather than the few milliseconds that were left for it. A symbol, so that it travels with
 * the options wherever they are spread and never reaches tor or a user's object by name.
 */
const TIMEOUT_BUDGET: unique symbol = Symbol('torcon.timeoutBudget');

type Budgeted = { [TIMEOUT_BUDGET]?: number };

/**
 * The `TorTimeoutError` for a step that ran out of `stepMs`: it names the caller's whole timeout
 * when `opts` came from a {@link cancelBudget}, else `stepMs`.
 */
export function timeoutError(what: string, opts: CancelOptions | null | undefined, stepMs: number): TorTimeoutError {
  return new TorTimeoutError(what, (opts as Budgeted | null | undefined)?.[TIMEOUT_BUDGET] ?? stepMs);
}

/** The budget mark of `opts` (see {@link cancelBudget}), to spread into options built anew from them. */
export function budgetMark(opts: CancelOptions | undefined): Budgeted {
  const whole = (opts as Budgeted | undefined)?.[TIMEOUT_BUDGET];
  return whole === undefined ? {} : { [TIMEOUT_BUDGET]: whole };
}

/**
 * One budget for a call made of several steps: returns a function giving the caller's options with
 * `timeoutMs` reduced by the time spent since `cancelBudget` was called (never below 0), so that
 * no step is given the whole timeout again. A step that runs out reports the whole timeout (see
 * {@link timeoutError}); budgets within budgets report the outermost.
 */
export function cancelBudget(opts: CancelOptions): () => CancelOptions {
  const { signal, timeoutMs } = opts;
  // A timeoutMs that is no usable number is passed on as it is, for the step that checks it to refuse.
  const deadline = typeof timeoutMs === 'number' && timeoutMs >= 0 ? Date.now() + timeoutMs : undefined;
  const mark = deadline === undefined ? {} : { [TIMEOUT_BUDGET]: (opts as Budgeted)[TIMEOUT_BUDGET] ?? timeoutMs! };
  return () => ({
    ...(signal !== undefined ? { signal } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs: deadline === undefined ? timeoutMs : Math.max(0, deadline - Date.now()) } : {}),
    ...mark,
  });
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
 * @throws TorInvalidValueError for an unusable `timeoutMs` or `signal` (see {@link invalidCancelOptions}). `work` has
 *   already started by then, so it is cancelled like a lost race; entry points check the options
 *   before they start anything, and this is the net under those that do not.
 */
export async function raceCancel<T>(
  work: Promise<T>,
  what: string,
  opts: CancelOptions & { onCancel?: (err: Error) => void } = {},
): Promise<T> {
  const { signal, timeoutMs, onCancel } = opts;
  const cancel = (err: Error) => {
    try {
      onCancel?.(err);
    } catch {
      /* the caller gets err; cleanup failures must not mask it */
    }
  };
  const invalid = invalidCancelOptions({ signal, timeoutMs });
  if (invalid) {
    cancel(invalid);
    work.catch(() => undefined);
    throw invalid;
  }
  if (!signal && timeoutMs === undefined) return work;
  throwIfAborted(signal, what);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<never>((_, reject) => {
    const lose = (err: Error) => {
      cancel(err);
      reject(err);
    };
    if (signal) {
      onAbort = () => lose(new TorAbortError(what, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => lose(timeoutError(what, opts, timeoutMs)), timerDelay(timeoutMs));
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

/**
 * What kind of value `value` is, for a message ("a string", "an object", "an array", "null"),
 * never the value itself: a misplaced value could be anything, a secret among others.
 */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'undefined' ? 'undefined' : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}
