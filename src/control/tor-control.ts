import { TypedEmitter } from '../util/typed-emitter.js';
import { inspect } from 'node:util';
import type { Duplex } from 'node:stream';
import {
  TorAbortError,
  TorControlClosedError,
  TorControlError,
  TorError,
  TorInvalidValueError,
  TorProtocolError,
  TorTimeoutError,
} from '../errors.js';
import { assertCancelOptions, assertTimeout, cancelBudget, invalidCancelOptions, invalidTimeout, kindOf, raceCancel, timeoutError, timerDelay, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, nearMiss, optionKeys } from '../util/known-options.js';
import { logger } from '../util/log.js';
import { eventRaw, parseEvent, parseEventLine } from './events/parse-event.js';
import { isGenericEvent, type GenericEvent, type TorEvent, type TorEventMap } from './events/event-types.js';
import { ReplyParser, type ReplyParserOptions } from './reply-parser.js';
import { failedLine, type ControlReply } from './reply.js';
import { encodeMapAddress, mappedInReply, readMapAddressReply, type MapAddressMappings, type MappedAddress } from './map-address.js';
import {
  assertDataBlock,
  assertNoLineBreak,
  assertToken,
  assertTokenList,
  commandKeyword,
  confValueText,
  quoteValue,
  redactCommand,
  undefinedValue,
  redactReplyLine,
  scrubSecrets,
  secretArguments,
  replyIsSecret,
} from './wire-values.js';
import { parseProtocolInfo, type ProtocolInfo } from './protocol-info.js';
import { eventIterator, type EventIteratorOptions } from './event-iterator.js';
import { startsAt, unquoteString } from './keyword-args.js';
import { onListenerRejection } from '../util/listener-result.js';

const log = logger('control');

/** How long a SETEVENTS may wait for tor's answer (see syncEvents). */
const SETEVENTS_TIMEOUT_MS = 5_000;
/** How long an unsubscribe waits for tor's acknowledgement before resolving anyway. */
const UNSUBSCRIBE_WAIT_MS = 1_000;

/** A value SETCONF accepts; booleans become 1/0. */
export type ConfValue = string | number | boolean;

/** The keys of {@link TorControlOptions} (see optionKeys). */
const TOR_CONTROL_OPTION_KEYS = optionKeys<TorControlOptions>({ maxLineLength: true, replyTimeoutMs: true, keepAliveMs: true });

/** Options of one command. */
export interface CommandOptions extends CancelOptions {}

/** Options of {@link TorControl}. */
export interface TorControlOptions extends ReplyParserOptions {
  /**
   * How long tor may send nothing at all while a command waits for its reply. A stopped (SIGSTOP)
   * or wedged tor keeps its socket open, so nothing else would ever tell: past this (noticed within
   * twice this after tor's last byte), the connection is closed as hung, and every command waiting
   * fails with TorControlClosedError whose `cause` is a TorTimeoutError (states, iterators and
   * onion services hear `close` as when tor dies). Any byte from tor (a reply, a piece of a long
   * data block, an event) counts as life, so a big answer still coming is never cut; an idle
   * connection is never closed. 0 or Infinity: never.
   * @default 60000
   */
  replyTimeoutMs?: number;
  /**
   * Asks tor something small (`GETINFO version`) whenever tor has sent nothing for this long and no
   * command is waiting, so that `replyTimeoutMs` also notices a stopped or hung tor on a connection
   * that only listens: a live state, an `events()` iterator, an onion service's owner. A busy
   * connection (events coming) sends nothing. Off by default: closing the connection of a tor that
   * is only paused ends the onion services it owns, which that tor would have kept, and that
   * choice is the application's. Nothing is asked before the connection has authenticated (tor
   * would close it), and the question never holds the process on a connection that lets it exit
   * (`unref()`). Needs `replyTimeoutMs`. 0 or Infinity: off.
   * @default 0
   */
  keepAliveMs?: number;
}

/** How long tor may stay silent while a reply is awaited, unless told (see replyTimeoutMs). */
export const REPLY_TIMEOUT_MS = 60_000;

interface QueuedCommand {
  keyword: string;
  resolve(reply: ControlReply): void;
  reject(err: Error): void;
  /** Set once the caller has been answered (by the reply, a timeout or an abort). */
  settled: boolean;
  /** The reply carries secrets (keys) and must not be logged. */
  secretReply: boolean;
  /** Resolve with the reply even when lines of it are errors (the caller reads them one by one). */
  anyStatus: boolean;
  /** The command's secret arguments, which tor may quote back in an error reply (see secretArguments). */
  secrets: readonly string[];
  /** The keep-alive question: it alone never holds the process (see updateRef). */
  background: boolean;
}

type Listener = (event: TorEvent) => void;
type RawListener = (text: string) => void;

/** Who listens to one event name: typed listeners (`subscribe`) and raw ones (`subscribeRaw`). */
interface EventSubscribers {
  readonly typed: Set<Listener>;
  readonly raw: Set<RawListener>;
}

/** Events emitted by {@link TorControl} itself (not tor's events: use `subscribe` for those). */
export interface TorControlEvents {
  /** The connection closed; `error` says why when it was not a clean `close()`. */
  close: [error?: Error];
  /**
   * Tor sent a known event we could not parse; it was not given to that event's subscribers. A
   * listener of this event that throws (or rejects) is only logged, as for `listenerError`.
   */
  malformedEvent: [event: GenericEvent];
  /**
   * A subscriber threw; the parser and other subscribers carry on. `event` is what the listener
   * was given: the typed event, or the text for a raw subscriber. A listener of this event that
   * throws (or rejects) is only logged (`DEBUG=torcon:control`): the connection stays open.
   */
  listenerError: [error: unknown, event: TorEvent | string];
  /**
   * tor answered a MAPADDRESS sent on this connection (by {@link TorControl.mapAddress} or as a raw
   * command) and made these mappings; a mapping of an address to itself removed its mapping. tor
   * announces a new mapping with an ADDRMAP event too, but a removal with nothing: this is how the
   * live state on this connection learns of one. (Raw MAPADDRESS commands are not sent one at a
   * time as mapAddress calls are: pipelined ones that map and then unmap one address may have the
   * map's ADDRMAP event arrive after the unmapping's reply, and a state put the mapping back.)
   */
  addressMapped: [mappings: readonly MappedAddress[]];
}

/**
 * Tor's control protocol over one connection, and nothing more: commands and their replies, in
 * order, and asynchronous events. Authentication is done by `authenticate()` (see authenticate.ts)
 * before this object is handed to users.
 *
 * Every command settles exactly once: with its reply, with `TorControlError` for a 4xx/5xx status,
 * or with `TorControlClosedError` when the connection ends first. Tor answers commands strictly in
 * order, so commands are written at once (pipelined) and matched FIFO. A command abandoned by a
 * timeout or abort keeps its place in the queue so that its reply, when it comes, is not mistaken
 * for the next command's.
 */
export class TorControl extends TypedEmitter<TorControlEvents> {
  private readonly socket: Duplex;
  private readonly parser: ReplyParser;
  private readonly queue: QueuedCommand[] = [];
  private queueHead = 0;
  private unrefWhenIdle = false;
  private readonly subscribers = new Map<string, EventSubscribers>();
  /**
   * `subscribers` as an array, rebuilt after each change of its keys: the one-line event path
   * finds an event's subscribers by comparing names in place, without slicing the name out.
   */
  private subscriberIndex: Array<[string, EventSubscribers]> | null = null;
  /** The SETEVENTS set tor has acknowledged; changes are serialized through `setEventsChain`. */
  private activeEvents = '';
  private setEventsChain: Promise<void> = Promise.resolve();
  private closedError: TorControlClosedError | null = null;
  /** mapAddress calls, one at a time (see mapAddress). */
  private mapAddressChain: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;
  /**
   * Set once close() has sent QUIT and ended our side: a later write would fail the socket
   * ("write after end") and reject the commands close() is draining.
   */
  private ended = false;
  /** True while an event is being handed to its subscribers. */
  private dispatching = false;
  /**
   * Subscriptions made during the current event's delivery (by one of its listeners, or an
   * events() iterator started there): as with EventEmitter, they begin with the next event.
   */
  private addedMeanwhile: Set<unknown> | null = null;
  /** See TorControlOptions.replyTimeoutMs; 0 when off. */
  private readonly replyTimeoutMs: number;
  /**
   * Counts the reads from tor: what the silence timer compares (a count, not a clock, so that the
   * busiest event stream pays one increment per read).
   */
  private heard = 0;
  /** `heard` when the silence timer was armed. */
  private heardWhenArmed = 0;
  /** When the silence timer was armed (Date.now(): see checkSilence). */
  private armedAt = 0;
  /** Runs while a reply is awaited, to notice a tor that went silent (see checkSilence). */
  private silenceTimer: NodeJS.Timeout | null = null;
  /** Runs when keepAliveMs is on (see keepAlive). */
  private keepAliveTimer: NodeJS.Timeout | null = null;
  /** `heard` at the keep-alive timer's last run. */
  private heardAtKeepAlive = 0;
  /** The keep-alive question waits for its reply. */
  private backgroundWaiting = false;
  /**
   * An AUTHENTICATE on this connection succeeded. Before that the keep-alive asks nothing: tor
   * answers any other question from an unauthenticated controller by closing the connection.
   */
  private authenticated = false;

  /**
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a `replyTimeoutMs` or `keepAliveMs`
   *   that is not a number from 0 to Infinity, or a `keepAliveMs` without a `replyTimeoutMs`
   */
  constructor(socket: Duplex, options: TorControlOptions = {}) {
    super();
    // A JavaScript caller's null means no options. A misspelt limit (`replyTimeout`) would be the
    // default; other keys are let through, since openTorControl hands on its whole options.
    options ??= {};
    if (typeof options !== 'object') throw new TorInvalidValueError('TorControl options', `must be an object (replyTimeoutMs, keepAliveMs...), got ${kindOf(options)}`);
    const misspelt = nearMiss(options, TOR_CONTROL_OPTION_KEYS, 'TorControl');
    if (misspelt) throw misspelt;
    const keepAliveMs = checkKeepAlive(options);
    const replyTimeoutMs = options.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
    this.replyTimeoutMs = Number.isFinite(replyTimeoutMs) ? replyTimeoutMs : 0;
    // Everything that waits on this connection hears of its end through 'close': each onion
    // service being published, each state, each events() iterator. A dozen services created at
    // once is no leak, and must not print Node's MaxListenersExceededWarning.
    this.setMaxListeners(0);
    this.socket = socket;
    this.parser = new ReplyParser(
      {
        onReply: (reply) => this.onReply(reply),
        onEvent: (event) => this.onEvent(event),
        onEventLine: (text) => this.onEventLine(text),
      },
      options,
    );
    socket.on('data', (chunk: Buffer) => {
      this.heard++;
      try {
        this.parser.push(chunk);
      } catch (err) {
        this.fail(err instanceof TorError ? err : new TorProtocolError(String(err), { cause: err }));
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail());
    socket.on('end', () => this.fail());
    if (keepAliveMs > 0) {
      this.keepAliveTimer = setInterval(() => this.keepAlive(), timerDelay(keepAliveMs));
      // Never what keeps a process alive: the socket does that, as long as the application wants.
      this.keepAliveTimer.unref();
    }
  }

  /** True once the connection has closed (for any reason). */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /**
   * Sends one raw command line and resolves with tor's reply.
   * @param line the command without CRLF, e.g. `GETINFO version`. CR, LF and NUL are refused.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) before writing, for CR/LF/NUL in `line`, or
   *   for a `timeoutMs` that is not a number from 0 to Infinity
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor answers 4xx/5xx
   * @throws TorControlClosedError (`TOR_CONTROL_CLOSED`) when the connection is or becomes closed
   * @example const reply = await control.command('GETINFO version');
   */
  command(line: string, opts: CommandOptions = {}): Promise<ControlReply> {
    try {
      assertNoLineBreak(line, 'command line');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.send(line + '\r\n', line, opts);
  }

  /**
   * Sends a command followed by a data block (`+KEYWORD`, control-spec 2.2 / e.g. `+LOADCONF`).
   * Lines of `data` are dot-stuffed; a final newline ends the last line (as in a file), so
   * `'a\n'` and `'a'` send the same block; CR and NUL are refused.
   */
  commandWithData(line: string, data: string, opts: CommandOptions = {}): Promise<ControlReply> {
    try {
      assertNoLineBreak(line, 'command line');
      assertDataBlock(data, 'data block');
    } catch (err) {
      return Promise.reject(err);
    }
    // Lines as a text file holds them: a final newline ends the last line rather than starting an
    // empty one (a torrc read from disk would otherwise gain a blank line), and '' has no lines.
    const lines = data === '' ? [] : (data.endsWith('\n') ? data.slice(0, -1) : data).split('\n');
    const body = lines.map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n').join('');
    return this.send(`+${line}\r\n${body}.\r\n`, line, opts);
  }

  /** @param background - the keep-alive question (see QueuedCommand.background) */
  private send(wire: string, line: string, opts: CommandOptions, anyStatus = false, background = false): Promise<ControlReply> {
    const keyword = commandKeyword(line) || '(empty)';
    // Every command goes through here: one check refuses a bad timeout for all of them, before
    // anything is written.
    // A misspelt limit (`timeout`) would be no limit; other keys are let through, since torcon's
    // own calls hand on their whole options.
    const invalid = invalidCancelOptions(opts) ?? (opts ? nearMiss(opts, CANCEL_OPTION_KEYS, keyword) : undefined);
    if (invalid) return Promise.reject(invalid);
    if (this.closedError) {
      return Promise.reject(
        new TorControlClosedError(`${keyword} not sent: ${this.closedError.message}`, {
          cause: this.closedError,
        }),
      );
    }
    if (this.ended) {
      return Promise.reject(new TorControlClosedError(`${keyword} not sent: the connection is closing (close() was called)`));
    }
    // A JavaScript caller's null is no options, as invalidCancelOptions takes it.
    const { signal, timeoutMs } = opts ?? {};
    if (signal?.aborted) return Promise.reject(new TorAbortError(keyword, { cause: signal.reason }));
    return new Promise<ControlReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(() => reject(new TorAbortError(keyword, { cause: signal!.reason })));
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const entry: QueuedCommand = {
        keyword,
        settled: false,
        secretReply: replyIsSecret(line),
        anyStatus,
        secrets: secretArguments(line),
        background,
        resolve: (reply) => settle(() => resolve(reply)),
        reject: (err) => settle(() => reject(err)),
      };
      const settle = (fn: () => void) => {
        if (entry.settled) return;
        entry.settled = true;
        cleanup();
        fn();
      };
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => settle(() => reject(timeoutError(keyword, opts, timeoutMs))),
          timerDelay(timeoutMs),
        );
      }
      this.queue.push(entry);
      this.watchSilence();
      if (entry.background) this.backgroundWaiting = true;
      if (this.unrefWhenIdle) this.updateRef();
      if (log.enabled) log('> %s', redactCommand(line));
      this.socket.write(wire);
    });
  }

  private onReply(reply: ControlReply): void {
    if (this.queueHead >= this.queue.length) {
      // Nothing is waiting: tor and we disagree about the conversation, and any later reply could
      // be matched to the wrong command. Close rather than guess.
      throw new TorProtocolError(`reply with no command waiting (status ${reply.status})`);
    }
    const entry = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined as unknown as QueuedCommand;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (log.enabled) {
      log(
        '< %d %s',
        reply.status,
        entry.secretReply ? '[redacted]' : redactReplyLine(scrubSecrets(reply.lines[0]!.text, entry.secrets)),
      );
    }
    if (entry.background) this.backgroundWaiting = false;
    if (this.unrefWhenIdle) this.updateRef();
    // Before the caller hears of it: whoever awaits the command finds the live state updated.
    if (entry.keyword === 'MAPADDRESS') this.announceMapped(reply);
    const failed = failedLine(reply);
    if (failed === undefined && entry.keyword === 'AUTHENTICATE') this.authenticated = true;
    if (failed === undefined || entry.anyStatus) entry.resolve(reply);
    else {
      const text = scrubSecrets(reply.lines.map((l) => l.text).join(' '), entry.secrets);
      entry.reject(new TorControlError(failed.status, text, entry.keyword));
    }
  }

  /** Emits `addressMapped` for the mappings a MAPADDRESS reply says were made. Never throws. */
  private announceMapped(reply: ControlReply): void {
    if (this.listenerCount('addressMapped') === 0) return;
    const mapped = mappedInReply(reply);
    if (mapped.length === 0) return;
    try {
      this.emit('addressMapped', mapped);
    } catch (err) {
      // A throwing listener must not break the reader (and with it the connection).
      this.reportListenerError(err, 'MAPADDRESS', reply.lines.map((l) => l.text).join('\n'));
    }
  }

  /** An event of several lines or with a data block (or a status other than 650). */
  private onEvent(raw: ControlReply): void {
    // Closed by a listener of an earlier event in the same read: nothing more is delivered.
    if (this.closedError !== null) return;
    const first = raw.lines[0]!.text;
    const space = first.indexOf(' ');
    const name = space === -1 ? first : first.slice(0, space);
    const subs = this.subscribers.get(name);
    if (subs === undefined) return;
    this.dispatching = true;
    try {
      if (subs.raw.size > 0) this.callEach(name, subs.raw, eventRaw(raw));
      if (subs.typed.size > 0) this.dispatch(name, subs.typed, parseEvent(raw));
    } finally {
      this.dispatching = false;
      this.addedMeanwhile = null;
    }
  }

  /** The common case, a one-line `650` event: `text` is what follows `650 `. */
  private onEventLine(text: string): void {
    if (this.closedError !== null) return;
    const sp = text.indexOf(' ');
    const nameLength = sp === -1 ? text.length : sp;
    const index = (this.subscriberIndex ??= [...this.subscribers]);
    for (let i = 0; i < index.length; i++) {
      const entry = index[i]!;
      const name = entry[0];
      if (name.length === nameLength && startsAt(text, 0, name)) {
        const subs = entry[1];
        this.dispatching = true;
        try {
          if (subs.raw.size > 0) this.callEach(name, subs.raw, text);
          // Parsed only when someone wants it typed, and once for all of them.
          if (subs.typed.size > 0) this.dispatch(name, subs.typed, parseEventLine(text, name));
        } finally {
          this.dispatching = false;
          this.addedMeanwhile = null;
        }
        return;
      }
    }
  }

  private dispatch(name: string, set: Set<Listener>, event: TorEvent): void {
    if (isGenericEvent(event) && event.parseError !== undefined) {
      // A known event we could not parse must not reach listeners typed for its well-formed shape.
      if (this.listenerCount('malformedEvent') > 0) this.report('malformedEvent', event);
      else log('malformed %s event dropped: %s', name, event.parseError);
      return;
    }
    this.callEach(name, set, event);
  }

  /** Calls each listener with `event`; one that throws (or rejects) is reported and the others still run. */
  private callEach<T extends TorEvent | string>(name: string, set: Set<(event: T) => unknown>, event: T): void {
    for (const listener of set) {
      // A Set's iteration reaches what is added during it: skip what this event's listeners added.
      if (this.addedMeanwhile !== null && this.addedMeanwhile.has(listener)) continue;
      try {
        const result = listener(event);
        // Most listeners return nothing: no closure is made for them (this runs for every event).
        if (result !== undefined) onListenerRejection(result, (err) => this.reportListenerError(err, name, event));
      } catch (err) {
        // A throwing subscriber must not break the parser or starve the others.
        this.reportListenerError(err, name, event);
      }
    }
  }

  private reportListenerError(err: unknown, name: string, event: TorEvent | string): void {
    if (this.listenerCount('listenerError') > 0) this.report('listenerError', err, event);
    else log('subscriber for %s threw: %O', name, err);
  }

  /**
   * Emits `malformedEvent` or `listenerError` to each of its listeners in turn. These run inside
   * the socket's data handler: a listener that threw there would close the connection as if tor
   * had broken the protocol, and one that rejected would be an unhandled rejection. So a listener
   * that throws or rejects is logged, and the others still run.
   */
  private report<K extends 'malformedEvent' | 'listenerError'>(name: K, ...args: TorControlEvents[K]): void {
    for (const fn of this.rawListeners(name) as Array<(...a: unknown[]) => unknown>) {
      try {
        const result = fn.apply(this, args);
        if (result !== undefined) onListenerRejection(result, (err) => log('a %s listener rejected: %O', name, err));
      } catch (err) {
        log('a %s listener threw: %O', name, err);
      }
    }
  }

  /** Arms the silence timer unless it runs (or replyTimeoutMs is off). */
  private watchSilence(): void {
    if (this.silenceTimer !== null || this.replyTimeoutMs === 0) return;
    this.heardWhenArmed = this.heard;
    this.armedAt = Date.now();
    this.silenceTimer = setTimeout(() => this.checkSilence(), timerDelay(this.replyTimeoutMs));
    // Never what keeps a process alive: a command waiting does that through the socket.
    this.silenceTimer.unref();
  }

  /**
   * One timer per connection, not one per command. Each time it runs while replies are awaited,
   * it closes the connection if nothing came from tor since it was armed, replyTimeoutMs ago, and
   * otherwise arms itself again: a hang is noticed between one and two replyTimeoutMs after tor's
   * last byte. With nothing awaited it stops, and the next command arms it afresh: the silence of
   * an idle connection is no hang. (A window in which the queue emptied saw a read: the reply.)
   */
  private checkSilence(): void {
    this.silenceTimer = null;
    if (this.closedError !== null || this.queueHead >= this.queue.length) return;
    // A timer this late means that this process (or the machine: a laptop's sleep, which the wall
    // clock counts and a monotonic one would not) was not running: tor's answer may be waiting to
    // be read, so that silence is no evidence. Judge the next window instead.
    const late = Date.now() - this.armedAt > 2 * this.replyTimeoutMs;
    if (this.heard === this.heardWhenArmed && !late) {
      const keyword = this.queue[this.queueHead]!.keyword;
      this.fail(new TorTimeoutError(`waiting for tor's reply to ${keyword}, with nothing at all coming from tor (stopped or hung?),`, this.replyTimeoutMs));
      return;
    }
    this.watchSilence();
  }

  /**
   * The keep-alive timer's run: tor heard from since the last run, or a command waiting (which
   * the silence timer watches), needs nothing; otherwise one small question, whose missing reply
   * the silence timer will notice. Its failure is the connection's, which everything on it hears.
   */
  private keepAlive(): void {
    const heard = this.heard;
    if (heard !== this.heardAtKeepAlive || this.queueHead < this.queue.length || this.closing !== null || !this.authenticated) {
      this.heardAtKeepAlive = heard;
      return;
    }
    this.send('GETINFO version\r\n', 'GETINFO version', {}, false, true).catch((err: unknown) => log('keep-alive question failed: %s', err));
  }

  /** Ends the connection and rejects everything pending, naming each command. */
  private fail(cause?: Error): void {
    if (this.closedError) return;
    if (this.silenceTimer !== null) {
      clearTimeout(this.silenceTimer);
      this.silenceTimer = null;
    }
    if (this.keepAliveTimer !== null) {
      clearInterval(this.keepAliveTimer);
      this.keepAliveTimer = null;
    }
    // After our own close() (QUIT), tor ending the connection is what we asked for.
    const why = cause ? cause.message : this.closing !== null ? 'closed by the caller (close())' : 'connection closed by tor';
    this.closedError = new TorControlClosedError(`the Tor control connection closed: ${why}`, {
      cause,
    });
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const entry = this.queue[i]!;
      entry.reject(
        new TorControlClosedError(`${entry.keyword} failed: the Tor control connection closed (${why})`, {
          cause,
        }),
      );
    }
    this.queue.length = 0;
    this.queueHead = 0;
    this.socket.destroy();
    // No cause and no close() of ours: tor (or whatever ended it, a SIGKILL say) closed the
    // connection, which is not a clean close for whoever listens.
    this.emitClose(cause ?? (this.closing === null ? this.closedError : undefined));
  }

  /**
   * Emits `close` to every listener, even when one throws: everything waiting on this connection
   * (close() itself, events() iterators, states, onion services being published) hears of its end
   * through this event, and EventEmitter would stop at a throwing listener and leave the rest waiting
   * for ever. The first error is thrown once all have run, as emit would have thrown it.
   */
  private emitClose(error: Error | undefined): void {
    let thrown: { error: unknown } | undefined;
    for (const fn of this.rawListeners('close') as Array<(error?: Error) => void>) {
      try {
        fn.call(this, error);
      } catch (err) {
        thrown ??= { error: err };
      }
    }
    if (thrown) throw thrown.error;
  }

  /**
   * `GETINFO` for one key (resolves with its value) or several keys in one round trip (resolves
   * with a record keyed as asked).
   * @throws TorInvalidValueError for a key with whitespace, quotes or CR/LF/NUL
   * @throws TorControlError when tor does not know a key (552)
   * @example const v = await control.getInfo('version');
   * @example const { 'net/listeners/socks': socks } = await control.getInfo(['version', 'net/listeners/socks']);
   */
  getInfo(key: string, opts?: CommandOptions): Promise<string>;
  getInfo(keys: readonly string[], opts?: CommandOptions): Promise<Record<string, string>>;
  async getInfo(
    keys: string | readonly string[],
    opts: CommandOptions = {},
  ): Promise<string | Record<string, string>> {
    const list = assertTokenList(keys, 'GETINFO key');
    if (list.length === 0) return {};
    const reply = await this.command(`GETINFO ${list.join(' ')}`, opts);
    const values = parseKeyValueReply(reply);
    const out: Record<string, string> = {};
    for (const k of list) {
      const v = values.get(k) ?? values.get(k.toLowerCase());
      if (v === undefined || v.length === 0) {
        throw new TorProtocolError(`GETINFO reply has no value for ${JSON.stringify(k)}`);
      }
      out[k] = v[v.length - 1]!;
    }
    return typeof keys === 'string' ? out[keys]! : out;
  }

  /**
   * `GETCONF` for several options in one round trip. Each option maps to its values (options
   * like `SocksPort` or `HiddenServicePort` may have several); an option at its default that tor
   * reports without a value maps to `[]`. Keys are as tor spells them (`socksport` → `SocksPort`).
   */
  async getConf(keys: string | readonly string[], opts: CommandOptions = {}): Promise<Record<string, string[]>> {
    // tor answers an option once per time it is named (option names ignore case), and the lines
    // of a list option named twice would read as twice its values: each is asked for once.
    const byName = new Map(assertTokenList(keys, 'GETCONF key').map((k) => [k.toLowerCase(), k]));
    const list = [...byName.values()];
    if (list.length === 0) return {};
    const reply = await this.command(`GETCONF ${list.join(' ')}`, opts);
    return Object.fromEntries(parseKeyValueReply(reply, true));
  }

  /**
   * `SETCONF` of many options in one command (tor applies them atomically). Array values set a
   * list option; `null` (or `[]`) sends the bare option name, which tor takes as 0 or empty, not
   * as the default (control-spec 3.1; `resetConf` restores defaults). Values are quoted, so any
   * string without CR/LF/NUL round-trips.
   * @throws TorInvalidValueError for a bad option name, a value with CR/LF/NUL, `undefined` (give
   *   `null` to send an option bare) or a value that is not a string, finite number or boolean
   *   (nothing is sent)
   * @example await control.setConf({ SocksPort: ['9050', '127.0.0.1:9150 IsolateSOCKSAuth'], ContactInfo: 'me' });
   */
  async setConf(
    values: Record<string, ConfValue | readonly ConfValue[] | null>,
    opts: CommandOptions = {},
  ): Promise<void> {
    await this.command(`SETCONF ${encodeConfValues(values)}`, opts);
  }

  /**
   * `RESETCONF`: options back to their defaults (or to given values, like SETCONF). One option name
   * or several, as for {@link getConf}.
   * @example await control.resetConf('ContactInfo');
   */
  async resetConf(
    keys: string | readonly string[] | Record<string, ConfValue | readonly ConfValue[] | null>,
    opts: CommandOptions = {},
  ): Promise<void> {
    const values =
      typeof keys === 'string' || Array.isArray(keys)
        ? Object.fromEntries(assertTokenList(keys as string | readonly string[], 'config option name').map((k) => [k, null]))
        : (keys as Record<string, ConfValue | readonly ConfValue[] | null>);
    await this.command(`RESETCONF ${encodeConfValues(values)}`, opts);
  }

  /** `SAVECONF`, writing tor's torrc. `force` overwrites even a torrc with %include. */
  async saveConf(opts: CommandOptions & { force?: boolean } = {}): Promise<void> {
    await this.command(opts.force ? 'SAVECONF FORCE' : 'SAVECONF', opts);
  }

  /**
   * `SIGNAL name`, e.g. `NEWNYM`, `RELOAD`, `HALT`.
   * @throws TorInvalidValueError for a malformed name; TorControlError for one tor does not know
   */
  async signal(name: string, opts: CommandOptions = {}): Promise<void> {
    assertToken(name, 'signal name');
    await this.command(`SIGNAL ${name}`, opts);
  }

  /**
   * `MAPADDRESS`: from now on tor sends connections to each original address to its replacement
   * instead (control-spec 3.8). Several mappings go in one command. An original address of
   * `0.0.0.0`, `::0` (sent as `::`, the form tor knows) or `.` asks tor to choose an unused IPv4
   * address, IPv6 address or hostname: the reply says which. Mapping an address to itself removes
   * its mapping. Mappings made this way never expire; they last until tor exits.
   *
   * tor's answer is applied to every live state (TorState) on this connection before this
   * resolves, removals included (tor announces those with no event). Calls are sent one at a time,
   * each after the previous one's reply: tor announces a new mapping (ADDRMAP) only after its reply,
   * and a state must hear of it before a later call's removal of the same address.
   *
   * @param mappings - original address to replacement, as an object or as `[address, newAddress]`
   *   pairs. Addresses are bare (no spaces, quotes, backslashes, `=`, CR/LF/NUL); a wildcard
   *   `*.example.com` maps a whole domain. An original address may be given once per call.
   * @returns the mappings tor made, one per pair in order: `address` is the original one (the one
   *   tor chose for an automap request)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad mappings or options (nothing is sent)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refused any pair (512 for a malformed
   *   address, 451 when it has no address left to choose): `status` is the first refusal's, the
   *   message has tor's words for each. The pairs it did not refuse were made (and the live state
   *   shows them).
   * @throws TorProtocolError when the reply does not answer the pairs one by one
   * @example const [{ address }] = await control.mapAddress([['0.0.0.0', 'example.onion']]); // '127.199.80.246'
   * @example await control.mapAddress({ 'www.example.com': 'example.onion', 'old.example': 'old.example' });
   */
  async mapAddress(mappings: MapAddressMappings, opts: CommandOptions = {}): Promise<MappedAddress[]> {
    const { line, pairs } = encodeMapAddress(mappings);
    // A JavaScript caller's null means no options, as for command().
    opts ??= {};
    assertCancelOptions(opts);
    const remaining = cancelBudget(opts);
    const previous = this.mapAddressChain;
    const answered = (async () => {
      await raceCancel(previous, 'MAPADDRESS', opts);
      return this.send(line + '\r\n', line, remaining(), true);
    })();
    // The next call waits for this one and for the one before: should this one give up (timeout,
    // abort) while waiting its turn, the one before may still be awaiting its reply.
    this.mapAddressChain = Promise.allSettled([previous, answered]).then(() => undefined);
    const outcomes = readMapAddressReply(await answered, pairs);
    const mapped: MappedAddress[] = [];
    const refusals: Array<{ status: number; text: string }> = [];
    for (const o of outcomes) {
      if (o.ok) mapped.push(o.mapped);
      else refusals.push(o);
    }
    if (refusals.length > 0) {
      throw new TorControlError(refusals[0]!.status, [...new Set(refusals.map((r) => r.text))].join('; '), 'MAPADDRESS');
    }
    return mapped;
  }

  /** `PROTOCOLINFO 1`: auth methods, cookie file and tor's version. */
  async protocolInfo(opts: CommandOptions = {}): Promise<ProtocolInfo> {
    return parseProtocolInfo(await this.command('PROTOCOLINFO 1', opts));
  }

  /**
   * Calls `listener` for each `event` tor sends, keeping tor's SETEVENTS set equal to the union of
   * all subscriptions. Resolves once tor has acknowledged; resolves to an unsubscribe function.
   * A listener subscribed twice is called twice per event, until one of its unsubscribe functions
   * is called.
   * @throws TorControlError when tor does not know the event (the listener is not kept)
   * @throws TorControlClosedError when the connection is closed
   * @example const off = await control.subscribe('CIRC', (e) => console.log(e.circuitId, e.status));
   */
  async subscribe<K extends keyof TorEventMap>(
    event: K,
    listener: (e: TorEventMap[K]) => void,
  ): Promise<() => Promise<void>>;
  /**
   * {@link TorControl.subscribe} for a name known only at run time, or one newer than torcon: the
   * listener gets a TorEvent, generic when torcon has no parser for it (`raw` holds tor's text).
   * @example const off = await control.subscribe(name, (e) => console.log(e.type));
   */
  async subscribe(event: string, listener: (e: TorEvent) => void): Promise<() => Promise<void>>;
  async subscribe(event: string, listener: (e: never) => void): Promise<() => Promise<void>> {
    return this.addSubscriber(event, 'typed', listener as Listener);
  }

  /**
   * Like {@link subscribe}, but `listener` gets each event as tor sent it, unparsed: for a one-line
   * event the text after `650 ` (`BW 1024 2048`), for an event of several lines or with a data
   * block the same text as a typed event's `raw`. Nothing is parsed for a raw subscriber, so this
   * is the cheap way to count, log or forward events. The text is tor's own: a STREAM event's
   * SOCKS_PASSWORD, say, is in it.
   * @throws TorControlError when tor does not know the event (the listener is not kept)
   * @throws TorControlClosedError when the connection is closed
   * @example const off = await control.subscribeRaw('BW', (text) => console.log(text));
   */
  async subscribeRaw(event: string, listener: (text: string) => void): Promise<() => Promise<void>> {
    return this.addSubscriber(event, 'raw', listener);
  }

  private async addSubscriber<K extends keyof EventSubscribers>(
    event: string,
    kind: K,
    fn: Listener | RawListener,
    retried = false,
  ): Promise<() => Promise<void>> {
    assertToken(event, 'event name');
    if (typeof fn !== 'function') throw new TorInvalidValueError('event listener', 'must be a function');
    const name = event.toUpperCase();
    if (this.closedError) {
      // Without tor to ask, an event tor had acknowledged before would look subscribed.
      throw new TorControlClosedError(`cannot subscribe to ${name}: ${this.closedError.message}`, { cause: this.closedError });
    }
    let subs = this.subscribers.get(name);
    if (!subs) {
      this.subscribers.set(name, (subs = { typed: new Set(), raw: new Set() }));
      this.subscriberIndex = null;
    }
    // Which kind of listener a set holds is fixed by `kind`; the sets only store them.
    const set = subs[kind] as Set<unknown>;
    // One function subscribed twice is two subscriptions, each with its own unsubscribe (as with
    // EventEmitter): the second goes in as a wrapper, so that ending one leaves the other.
    const entry: Listener | RawListener = set.has(fn) ? (e: unknown) => (fn as (x: unknown) => unknown)(e) : fn;
    set.add(entry);
    if (this.dispatching) (this.addedMeanwhile ??= new Set()).add(entry);
    try {
      await this.syncEvents();
    } catch (err) {
      set.delete(entry);
      this.dropIfUnused(name);
      // Put tor back on the set without the refused name, unless the connection is gone.
      if (!this.closed) await this.syncEvents().catch(() => undefined);
      // tor refuses a whole SETEVENTS for one name it does not know. When that name is another
      // subscription's, made at the same time, ours was fine: that one has removed itself by now,
      // so ours is made again (once: a tor that keeps naming someone else gets the error).
      if (!retried && !this.closed && refusedOtherEvent(err, name)) return this.addSubscriber(event, kind, fn, true);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const current = this.subscribers.get(name);
      if (current) {
        (current[kind] as Set<unknown>).delete(entry);
        this.dropIfUnused(name);
      }
      // The listener is gone at once, and events tor still sends are dropped, so waiting for tor's
      // acknowledgement only matters to a caller who wants quiet: wait for it briefly, never fail.
      if (!this.closed) {
        await raceCancel(this.syncEvents(), `unsubscribing from ${name}`, { timeoutMs: UNSUBSCRIBE_WAIT_MS }).catch(
          (err: Error) => log('%s', err.message),
        );
      }
    };
  }

  /** Forgets `name` once nobody listens to it, so that the next SETEVENTS leaves it out. */
  private dropIfUnused(name: string): void {
    const subs = this.subscribers.get(name);
    if (subs && subs.typed.size === 0 && subs.raw.size === 0) {
      this.subscribers.delete(name);
      this.subscriberIndex = null;
    }
  }

  /**
   * Sends SETEVENTS with the current union, one change at a time, skipping no-ops. Each SETEVENTS is
   * bounded: a tor that stopped answering must neither hang an unsubscribe (and with it every
   * close() built on one) nor block the chain for later subscriptions. A timed-out change is simply
   * sent again with the next one, since `activeEvents` only records what tor acknowledged.
   */
  private syncEvents(): Promise<void> {
    const run = async () => {
      const wanted = [...this.subscribers.keys()].sort().join(' ');
      if (wanted === this.activeEvents) return;
      await this.command(wanted ? `SETEVENTS ${wanted}` : 'SETEVENTS', { timeoutMs: SETEVENTS_TIMEOUT_MS });
      this.activeEvents = wanted;
    };
    const next = this.setEventsChain.then(run, run);
    this.setEventsChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Tor's events as an async iterator. Ends when `signal` aborts (unsubscribing at once; events
   * buffered before the abort are still read), when the loop breaks (or
   * `return()` is called, which also ends any `next()` still waiting), or when the connection
   * closes (then the iterator throws TorControlClosedError). Events are buffered between reads, at
   * most `maxBuffered` (default 10,000): a reader that falls further behind gets the buffered events,
   * then TorEventsOverflowError, and the iterator unsubscribes at once. Several `next()` calls may
   * wait at once, each gets its own event. A name given twice (in any case) is subscribed once.
   * Typed by the names given as tor writes them (`'BW'` yields BwEvent, `['CIRC', 'STREAM']`
   * CircEvent | StreamEvent, as `subscribe` types its listener); other strings yield TorEvent.
   * @throws TorInvalidValueError (at the call) for no event names or a malformed one, a `signal`
   *   that is not an AbortSignal, or a `maxBuffered` that is not a whole number from 1 (or Infinity)
   * @throws TorControlError (at the first `next()`) when tor does not know an event, and
   *   TorControlClosedError when the connection is closed; after either, `next()` gives done
   * @example for await (const e of control.events(['CIRC', 'STREAM'], { signal })) console.log(e.type);
   * @example for await (const bw of control.events('BW', { signal })) console.log(bw.read, bw.written);
   */
  events<K extends keyof TorEventMap>(names: K | readonly K[], opts?: EventIteratorOptions): AsyncIterableIterator<TorEventMap[K]>;
  /**
   * {@link TorControl.events} for names known only at run time, or newer than torcon: yields
   * TorEvent, generic when torcon has no parser for it (`raw` holds tor's text).
   * @example for await (const e of control.events(process.argv.slice(2), { signal })) console.log(e.type);
   */
  events(names: string | readonly string[], opts?: EventIteratorOptions): AsyncIterableIterator<TorEvent>;
  events(
    names: string | readonly string[],
    opts: EventIteratorOptions = {},
  ): AsyncIterableIterator<TorEvent> {
    return eventIterator(this, names, opts);
  }

  /**
   * Closes the connection: sends QUIT and waits for tor to close (at most `timeoutMs`), then
   * destroys the socket. Commands sent before get tor's replies if they come first; those still
   * pending then, and any made after close(), reject with TorControlClosedError.
   * @throws TorInvalidValueError for a `timeoutMs` that is not a number from 0 to Infinity (the
   *   connection is then left as it was)
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    // A JavaScript caller's null is no options, as for command().
    opts ??= {};
    const invalid = invalidTimeout(opts.timeoutMs);
    if (invalid) return Promise.reject(invalid);
    if (this.closing) return this.closing;
    if (this.closed) return (this.closing = Promise.resolve());
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.destroy(), timerDelay(opts.timeoutMs ?? 1000));
      this.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.command('QUIT').catch(() => undefined);
      this.ended = true;
      this.socket.end();
    });
    return this.closing;
  }

  /** `close()` with its default wait, for `await using control = new TorControl(socket)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Lets the process exit while this connection is open (like `socket.unref()`). Shared handles
   * made for endpoint strings use it so that a script that ran `connect("tor:...")` ends normally.
   */
  unref(): this {
    this.unrefWhenIdle = true;
    this.updateRef();
    return this;
  }

  /** Undoes {@link unref}. */
  ref(): this {
    this.unrefWhenIdle = false;
    this.updateRef();
    return this;
  }

  /**
   * An unref'd connection still holds the process while a command waits for its reply, but not
   * for the keep-alive question alone: asked of a hung tor, it would hold an exiting process until
   * the reply timeout.
   */
  private updateRef(): void {
    const socket = this.socket as Duplex & { ref?: () => void; unref?: () => void };
    const waiting = this.queue.length - this.queueHead - (this.backgroundWaiting ? 1 : 0);
    if (!this.unrefWhenIdle || waiting > 0) socket.ref?.();
    else socket.unref?.();
  }

  /** Destroys the connection at once; everything pending rejects with TorControlClosedError. */
  destroy(reason?: Error): void {
    this.fail(reason ?? new TorControlClosedError('closed by the caller'));
  }

  /**
   * What console.log shows: open or closed, replies awaited, events subscribed. Not the socket
   * and parser: their buffers hold the last bytes tor sent, which may be a reply with a secret in
   * it (an onion service's PrivateKey=).
   */
  [inspect.custom](): string {
    const events = [...this.subscribers.keys()].sort().join(' ');
    const awaited = this.queue.length - this.queueHead;
    return `TorControl { ${this.closedError ? 'closed' : 'open'}, ${awaited} awaiting a reply, events: [${events}] }`;
  }
}

/**
 * Whether `err` is tor refusing a SETEVENTS for an event other than `name` (`552 Unrecognized
 * event "NAME"`).
 */
function refusedOtherEvent(err: unknown, name: string): boolean {
  if (!(err instanceof TorControlError) || err.status !== 552 || err.command !== 'SETEVENTS') return false;
  const refused = /Unrecognized event "([^"]*)"/.exec(err.message)?.[1];
  return refused !== undefined && refused.toUpperCase() !== name;
}

/**
 * Reads `key=value` reply lines (and `key=` data blocks) into a map of value lists, skipping the
 * final `OK`. GETCONF (`conf`) quotes values that need it, so they are unquoted, and a line without
 * `=` maps to an empty list (the option is at its default). GETINFO values are returned as tor
 * sent them: their format is per key (`net/listeners/socks` is a list of quoted strings, say).
 */
export function parseKeyValueReply(reply: ControlReply, conf = false): Map<string, string[]> {
  const allowBare = conf;
  const out = new Map<string, string[]>();
  for (const line of reply.lines) {
    const { text } = line;
    if (line.separator === ' ' && text === 'OK') continue;
    const eq = text.indexOf('=');
    if (eq === -1) {
      if (allowBare) {
        if (!out.has(text)) out.set(text, []);
        continue;
      }
      if (line.separator === ' ') continue;
      throw new TorProtocolError(`malformed key=value line in reply`);
    }
    const key = text.slice(0, eq);
    let value: string;
    if (line.separator === '+') value = line.data ?? '';
    else value = conf ? unquoteIfQuoted(text.slice(eq + 1)) : text.slice(eq + 1);
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** GETCONF quotes values that need it (octal escapes are UTF-8 bytes); plain values come bare. */
function unquoteIfQuoted(v: string): string {
  if (v.length < 2 || v[0] !== '"' || v[v.length - 1] !== '"') return v;
  try {
    return unquoteString(v);
  } catch {
    return v;
  }
}

/**
 * `Key="value" Key2="a" Key2="b" Key3` for SETCONF/RESETCONF, with every name and value checked:
 * values are strings, finite numbers or booleans (`1`/`0`), or lists of them; anything else would
 * reach tor as its `String()` form (`[object Object]`, `NaN`), so it is refused.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function encodeConfValues(values: Record<string, ConfValue | readonly ConfValue[] | null>): string {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new TorInvalidValueError('config options', 'must be an object of option names to values');
  }
  const parts: string[] = [];
  for (const [key, raw] of Object.entries(values)) {
    assertToken(key, 'config option name');
    if (key.includes('=')) throw new TorInvalidValueError('config option name', 'contains "="');
    if (raw === undefined) throw undefinedValue(key);
    if (raw === null) {
      parts.push(key);
      continue;
    }
    const list = Array.isArray(raw) ? raw : [raw as ConfValue];
    if (list.length === 0) parts.push(key);
    for (const v of list) parts.push(`${key}=${quoteValue(confValueText(v, key), `value of ${key}`)}`);
  }
  if (parts.length === 0) throw new TorInvalidValueError('config options', 'none given');
  return parts.join(' ');
}

/**
 * Throws unless `value` is a TorControl (or has its shape: a test double, another copy of torcon):
 * what `new TorState`, `TorState.create` and `TorConfig.create` take first. A JavaScript caller's
 * `null` or a `Tor` handle put there would otherwise fail later with a bare TypeError.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertTorControl(value: unknown, what: string): asserts value is TorControl {
  const v = value as { command?: unknown; subscribeRaw?: unknown; getInfo?: unknown } | null | undefined;
  if (typeof v === 'object' && v !== null && typeof v.command === 'function' && typeof v.subscribeRaw === 'function' && typeof v.getInfo === 'function') return;
  const hint = typeof v === 'object' && v !== null && 'control' in v ? ' (a Tor handle? pass tor.control)' : '';
  throw new TorInvalidValueError(what, `must be a TorControl (tor.control, or openTorControl()'s control)${hint}`);
}

/**
 * Checks `replyTimeoutMs` and `keepAliveMs` (see TorControlOptions) and returns the keep-alive
 * interval, 0 when off. Keep-alive questions without a reply timeout would notice nothing.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function checkKeepAlive(options: Pick<TorControlOptions, 'replyTimeoutMs' | 'keepAliveMs'>): number {
  assertTimeout(options.replyTimeoutMs, 'replyTimeoutMs');
  assertTimeout(options.keepAliveMs, 'keepAliveMs');
  const keepAliveMs = options.keepAliveMs ?? 0;
  if (!Number.isFinite(keepAliveMs) || keepAliveMs === 0) return 0;
  const replyTimeoutMs = options.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
  if (replyTimeoutMs === 0 || !Number.isFinite(replyTimeoutMs)) {
    throw new TorInvalidValueError('keepAliveMs', 'needs a replyTimeoutMs (it is what notices that the question got no answer), not 0 or Infinity');
  }
  return keepAliveMs;
}
