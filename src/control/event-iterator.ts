import { TorControlClosedError, TorEventsOverflowError, TorInvalidValueError } from '../errors.js';
import { controlCloseReason } from './close-reason.js';
import { assertCancelOptions, kindOf } from '../util/abort.js';
import { assertKnownOptions, optionKeys } from '../util/known-options.js';
import type { TorEvent } from './events/event-types.js';
import { assertTokenList } from './wire-values.js';

/**
 * How many events an iterator holds for a reader that has not read them, by default: some 5 MB of
 * parsed events; a busy tor sends thousands a second, and a stalled reader must not take the
 * process's memory.
 */
const DEFAULT_MAX_BUFFERED_EVENTS = 10_000;

/** Options of {@link eventIterator} (and `TorControl.events`). */
export interface EventIteratorOptions {
  /** Ends the iteration (`done`), unsubscribing. */
  signal?: AbortSignal;
  /**
   * Most events held unread; a reader further behind gets TorEventsOverflowError after them.
   * @default 10000
   */
  maxBuffered?: number;
}

/** The keys of {@link EventIteratorOptions}: a misspelt one (`maxbuffered`) would be ignored. */
const EVENT_ITERATOR_OPTION_KEYS = optionKeys<EventIteratorOptions>({ signal: true, maxBuffered: true });

/** What an event iterator needs of its control connection. */
export interface EventSource {
  subscribe(event: string, listener: (e: TorEvent) => void): Promise<() => Promise<void>>;
  on(event: 'close', listener: (error?: Error) => void): unknown;
  off(event: 'close', listener: (error?: Error) => void): unknown;
}

/**
 * `source`'s events `names` as an async iterator: the body of `TorControl.events`, which documents
 * how it ends, buffers and fails. It subscribes at the first `next()`, not at the call.
 * @throws TorInvalidValueError (at the call) for no event names or a malformed one, a `signal`
 *   that is not an AbortSignal, or a `maxBuffered` that is not a whole number from 1 (or Infinity)
 */
export function eventIterator(
  source: EventSource,
  names: string | readonly string[],
  opts: EventIteratorOptions = {},
): AsyncIterableIterator<TorEvent> {
  // Checked now: an iterator over no events would wait for ever. Names are tor's, which ignores
  // case: `BW` and `bw` are one subscription, not two deliveries of each event.
  const list = [...new Set(assertTokenList(names, 'event name').map((n) => n.toUpperCase()))];
  if (list.length === 0) throw new TorInvalidValueError('event names', 'none given');
  // Now too: a signal that is no AbortSignal would otherwise fail at the first next(), after
  // subscribing.
  // A JavaScript caller's null means no options; a number (a buffer size where the options go)
  // would otherwise be ignored.
  opts ??= {};
  if (typeof opts !== 'object') throw new TorInvalidValueError('events options', `must be an object (signal, maxBuffered), got ${kindOf(opts)}`);
  assertCancelOptions({ signal: opts.signal });
  assertKnownOptions(opts, EVENT_ITERATOR_OPTION_KEYS, 'events');
  const maxBuffered = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED_EVENTS;
  if (!(maxBuffered === Infinity || (Number.isSafeInteger(maxBuffered) && maxBuffered >= 1))) {
    throw new TorInvalidValueError('maxBuffered', 'must be a whole number from 1, or Infinity');
  }
  const buffer: TorEvent[] = [];
  // Every next() waiting for an event; each wake-up lets all of them look again.
  const waiters: Array<() => void> = [];
  const wakeAll = () => {
    for (const wake of waiters.splice(0)) wake();
  };
  let ended = false;
  /** Resolves once the iterator has ended (an abort, return()), for a next() still subscribing. */
  let markEnded!: () => void;
  const endedEarly = new Promise<void>((resolve) => (markEnded = resolve));
  let failure: Error | null = null;
  const unsubscribers: Array<() => Promise<void>> = [];
  const unsubscribe = () => {
    const offs = unsubscribers.splice(0);
    return Promise.all(offs.map((off) => off().catch(() => undefined)));
  };
  const push = (e: TorEvent) => {
    // Ended (aborted) and not yet unsubscribed: what comes now is not for the reader.
    if (failure || ended) return;
    if (buffer.length >= maxBuffered) {
      // Unbounded, a reader that stalls would take the process's memory; what is buffered is
      // still read, then the error says that events were dropped from here on.
      failure = new TorEventsOverflowError(maxBuffered);
      void unsubscribe();
    } else buffer.push(e);
    wakeAll();
  };
  const onClose = (err?: Error) => {
    // Why, in the message itself (tor ended it, a reset), as the connection's own error says it.
    failure ??= new TorControlClosedError(`event stream ended: ${controlCloseReason(err)}`, { cause: err });
    wakeAll();
  };
  const onAbort = () => {
    ended = true;
    markEnded();
    // Unsubscribed now, not at the next next(): a reader busy when the signal aborts may call it
    // late or never, and the subscription would live on (and, with a next() for each new event,
    // the loop never end).
    source.off('close', onClose);
    void unsubscribe();
    wakeAll();
  };
  const stop = async () => {
    ended = true;
    markEnded();
    // After return() the iterator is done, whatever had arrived.
    buffer.length = 0;
    wakeAll();
    source.off('close', onClose);
    opts.signal?.removeEventListener('abort', onAbort);
    await unsubscribe();
  };
  let started: Promise<void> | null = null;
  /**
   * start() raced with the iterator's end, made once: a race per next() would add a reaction to
   * endedEarly (pending for the iterator's life) for every event read, a leak that grows with them.
   */
  let ready: Promise<void> | null = null;
  const start = () =>
    (started ??= (async () => {
      // Ended before the first next() (return(), an aborted signal): nothing to subscribe.
      if (ended) return;
      if (opts.signal?.aborted) {
        ended = true;
        return;
      }
      source.on('close', onClose);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      for (const n of list) {
        const off = await source.subscribe(n, push);
        // Ended while tor acknowledged: undo it now, stop() has already run.
        if (ended) {
          await off().catch(() => undefined);
          return;
        }
        unsubscribers.push(off);
      }
    })());
  const iterator: AsyncIterableIterator<TorEvent> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    next: async (): Promise<IteratorResult<TorEvent>> => {
      try {
        // Ended while tor has not yet acknowledged the subscription (a tor that stopped answering
        // would hold this for the SETEVENTS time limit): done at once. start() undoes the
        // subscription when tor answers; the race handles its rejection.
        await (ready ??= Promise.race([start(), endedEarly]));
      } catch (err) {
        // As with any other failure, the iterator is done once it has reported it: stop() ends it,
        // so a reader that calls next() again gets done, not the same error again (started keeps
        // the rejection). One ended meanwhile (return(), an abort) ends without it too.
        if (ended) return { value: undefined, done: true };
        await stop();
        throw err;
      }
      for (;;) {
        if (buffer.length > 0) return { value: buffer.shift()!, done: false };
        if (ended) {
          await stop();
          return { value: undefined, done: true };
        }
        if (failure) {
          await stop();
          throw failure;
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    return: async (): Promise<IteratorResult<TorEvent>> => {
      await stop();
      return { value: undefined, done: true };
    },
  };
  return iterator;
}
