import { TorControlClosedError, TorControlError, TorInvalidValueError, TorOnionDescriptorNotFoundError, type OnionDescriptorAttempt } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import type { HsDescContentEvent, HsDescEvent } from '../control/events/event-types.js';
import { assertCancelOptions, cancelBudget, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { normalizeServiceId } from './service-id.js';

/**
 * Fetching an onion service's descriptor from the directories (HSFETCH, control-spec 3.26): the
 * way to learn that a v3 service is published without connecting to it. tor answers the command
 * with `250 OK` at once and reports the outcome later in events: HS_DESC (4.1.25) `REQUESTED` per
 * directory asked, then `RECEIVED` followed by HS_DESC_CONTENT (4.1.26) with the text, or `FAILED`
 * with a REASON. Both events are subscribed to before the command is sent, so none can be missed.
 */

/** Options of {@link fetchOnionDescriptor}. */
export interface FetchOnionDescriptorOptions extends CancelOptions {
  /**
   * Ask these HSDirs (relay fingerprints: 40 hex digits, a leading `$` allowed), all in parallel,
   * instead of the one tor picks among those responsible for the service. Empty or absent: tor picks.
   */
  servers?: readonly string[];
}

/** A descriptor tor fetched: the raw text, and the plain-text fields of its outer layer. */
export interface OnionDescriptor {
  /** The service id (56 characters, lower case, without `.onion`). */
  serviceId: string;
  /**
   * Where it came from: an HSDir, or tor's client cache when tor would ask no HSDir (it asks each
   * responsible one about a service at most once per requery period, successful fetches included)
   * and holds a descriptor it fetched before, still within its lifetime.
   */
  source: 'hsdir' | 'cache';
  /** The HSDir that answered: 40 hex digits, upper case; undefined from the cache. */
  hsDir: string | undefined;
  /** That HSDir's nickname, when tor gave one. */
  hsDirNickname?: string | undefined;
  /** The descriptor id tor gave (v3: the service's blinded key for the time period, base64); undefined from the cache. */
  descriptorId: string | undefined;
  /** The descriptor as the HSDir served it (rend-spec-v3 2.4), line ends `\n`. */
  descriptor: string;
  /** `hs-descriptor` (3 for v3), when present and a number. */
  version: number | undefined;
  /** `descriptor-lifetime` in minutes, when present and a number. */
  lifetimeMinutes: number | undefined;
  /** `revision-counter` (a 64-bit value, hence a bigint), when present and a number. */
  revisionCounter: bigint | undefined;
}

/** The fields of a descriptor's outer layer that are plain text (rend-spec-v3 2.4). */
export interface DescriptorHeader {
  version: number | undefined;
  lifetimeMinutes: number | undefined;
  revisionCounter: bigint | undefined;
}

/** How long a fetch waits by default: tor gives one HSDir up to a minute or so over a fresh circuit. */
export const DEFAULT_DESCRIPTOR_FETCH_TIMEOUT_MS = 120_000;

const FINGERPRINT = /^\$?[0-9A-Fa-f]{40}$/;
const DECIMAL = /^[0-9]{1,20}$/;

/**
 * Reads the plain-text header of a v3 descriptor's outer layer: the keyword lines before
 * `superencrypted` (what follows is encrypted, or the signature). A field that is missing or not a
 * number is undefined: tor has already checked the descriptor it hands over, so this never throws.
 */
export function parseDescriptorHeader(text: string): DescriptorHeader {
  const header: DescriptorHeader = { version: undefined, lifetimeMinutes: undefined, revisionCounter: undefined };
  for (const line of text.split('\n')) {
    const [keyword, value, more] = line.replace(/\r$/, '').split(' ');
    if (keyword === 'superencrypted' || keyword === 'signature') break;
    // Each of these takes exactly one argument; a line with more is not the field we know.
    if (value === undefined || more !== undefined || !DECIMAL.test(value)) continue;
    if (keyword === 'hs-descriptor') header.version ??= Number(value);
    else if (keyword === 'descriptor-lifetime') header.lifetimeMinutes ??= Number(value);
    else if (keyword === 'revision-counter') header.revisionCounter ??= BigInt(value);
  }
  return header;
}

/**
 * Checks and normalizes `servers`: upper-case fingerprints without `$`, each once.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function normalizeServers(servers: unknown): string[] {
  if (servers === undefined) return [];
  if (!Array.isArray(servers)) throw new TorInvalidValueError('servers', 'must be an array of relay fingerprints');
  const out = new Set<string>();
  servers.forEach((s: unknown, i) => {
    // The value is not shown: whatever was put there, it is no fingerprint.
    if (typeof s !== 'string' || !FINGERPRINT.test(s)) {
      throw new TorInvalidValueError(`servers[${i}]`, 'is not a relay fingerprint (40 hex digits, a leading $ allowed)');
    }
    out.add((s.startsWith('$') ? s.slice(1) : s).toUpperCase());
  });
  return [...out];
}

/** What {@link FetchTracker} has made of the events so far. */
export type FetchOutcome =
  | { state: 'waiting' }
  | { state: 'found'; descriptor: OnionDescriptor }
  | { state: 'not-found'; attempts: OnionDescriptorAttempt[] };

/**
 * Pure bookkeeping of one fetch, from the events about its service. Any descriptor for the service
 * ends it with success, whoever's fetch brought it: it is as good.
 *
 * With `servers`, the fetch has failed once each of them has answered FAILED. Without, tor asks one
 * directory, and after each "not found" asks another responsible one by itself (when the failed
 * connection closes), until it has asked them all within the requery period: the tracker counts
 * directories from their REQUESTED events and is {@link idle} when every one asked has failed, and
 * the caller decides (see {@link fetchOnionDescriptor}) whether tor will ask another. A FAILED from
 * a directory not asked since the events were followed belongs to an earlier fetch and is ignored,
 * except tor's "no directory to ask" (HsDir `UNKNOWN`).
 */
export class FetchTracker {
  /** Directories asked and not yet answered, with how many requests each. */
  private readonly pending = new Map<string, number>();
  private readonly attempts: OnionDescriptorAttempt[] = [];
  private readonly servers: ReadonlySet<string>;
  private result: FetchOutcome = { state: 'waiting' };
  /** REQUESTED events seen: a caller compares counts to learn whether tor asked another directory. */
  requests = 0;

  /** @param servers - normalized fingerprints (see {@link normalizeServers}); empty when tor picks */
  constructor(
    readonly serviceId: string,
    servers: readonly string[] = [],
  ) {
    this.servers = new Set(servers);
  }

  /** The outcome so far. */
  get outcome(): FetchOutcome {
    return this.result;
  }

  /** Without servers: every directory asked has failed (or none was asked), and no descriptor came. */
  get idle(): boolean {
    return this.result.state === 'waiting' && this.servers.size === 0 && this.pending.size === 0;
  }

  /** Applies one event (events about other services are ignored); returns the outcome so far. */
  apply(e: HsDescEvent | HsDescContentEvent): FetchOutcome {
    if (this.result.state !== 'waiting' || e.address.toLowerCase() !== this.serviceId) return this.result;
    if (e.type === 'HS_DESC_CONTENT') {
      // tor sends an empty one after each failure; the HS_DESC FAILED before it says why.
      if (e.descriptor.length === 0 || !e.hsDirRouter?.fingerprint) return this.result;
      this.result = {
        state: 'found',
        descriptor: {
          serviceId: this.serviceId,
          source: 'hsdir',
          hsDir: e.hsDirRouter.fingerprint,
          hsDirNickname: e.hsDirRouter.nickname,
          descriptorId: e.descriptorId,
          descriptor: e.descriptor,
          ...parseDescriptorHeader(e.descriptor),
        },
      };
      return this.result;
    }
    const dir = e.hsDirRouter?.fingerprint || 'UNKNOWN';
    if (e.action === 'REQUESTED') {
      this.requests++;
      this.pending.set(dir, (this.pending.get(dir) ?? 0) + 1);
    } else if (e.action === 'FAILED') {
      const n = this.pending.get(dir);
      if (n === undefined && dir !== 'UNKNOWN') return this.result;
      if (n !== undefined && n > 1) this.pending.set(dir, n - 1);
      else this.pending.delete(dir);
      this.attempts.push({ hsDir: dir, reason: e.reason ?? 'UNEXPECTED' });
      if (this.servers.size > 0 && [...this.servers].every((s) => this.attempts.some((a) => a.hsDir === s))) {
        this.result = { state: 'not-found', attempts: [...this.attempts] };
      }
    }
    // RECEIVED: the descriptor follows in HS_DESC_CONTENT; until then the directory still counts.
    return this.result;
  }

  /**
   * What a fetch that is {@link idle}, and for which tor will ask no other directory, has found:
   * nothing, with the answers heard, or (none heard) tor's own reason for asking nobody,
   * `QUERY_NO_HSDIR`. The tracker itself keeps waiting: the caller may still look elsewhere (tor's
   * cache), and a descriptor that comes meanwhile is still an answer.
   */
  giveUp(): OnionDescriptorAttempt[] {
    return this.attempts.length > 0 ? [...this.attempts] : [{ hsDir: 'UNKNOWN', reason: 'QUERY_NO_HSDIR' }];
  }
}

/**
 * Fetches running on each connection, by service id: a fetch waits for the one before it of the
 * same service, because events carry no request id and two fetches' events could not be told apart.
 */
const inFlight = new WeakMap<TorControl, Map<string, Promise<void>>>();

/** Waits for this connection's earlier fetches of `serviceId`; the returned function ends our turn. */
async function takeTurn(control: TorControl, serviceId: string, opts: CancelOptions): Promise<() => void> {
  let fetches = inFlight.get(control);
  if (!fetches) inFlight.set(control, (fetches = new Map()));
  const before = fetches.get(serviceId);
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  // The next one waits for ours and everything before it, even if we stop waiting early.
  const chain = (before ?? Promise.resolve()).then(() => mine);
  fetches.set(serviceId, chain);
  const end = () => {
    release();
    if (fetches.get(serviceId) === chain) fetches.delete(serviceId);
  };
  if (before) {
    try {
      await raceCancel(before, `fetching the descriptor of ${serviceId}.onion`, opts);
    } catch (err) {
      end();
      throw err;
    }
  }
  return end;
}

/**
 * Fetches the descriptor of a v3 onion service from the HSDirs (HSFETCH): resolves with the first
 * descriptor tor receives. A found descriptor shows that the service is published for the current
 * time period, not that it is up; its outer layer is plain text, the rest is encrypted. tor keeps
 * the descriptor in its client cache, as for a connection.
 *
 * Without `servers`, tor asks one of the HSDirs responsible for the service and, while they answer
 * "not found", the next, each at most once per requery period (15 minutes; 5 s on a
 * TestingTorNetwork), and then stops without a word. So whenever every directory asked has failed,
 * a round trip of two commands (`GETINFO version`) tells whether tor asked another: tor writes out
 * the events of what it did before it reads the next command, and the second command covers a
 * retry tor starts only as the failed connection closes. With none, the fetch ends with
 * TorOnionDescriptorNotFoundError. tor also remembers successful fetches: when it asked no directory
 * at all, the descriptor in its client cache is the answer (`source: 'cache'`), and without one the
 * error's attempts are one `{ hsDir: 'UNKNOWN', reason: 'QUERY_NO_HSDIR' }`.
 *
 * @param onion - `<56 chars>.onion` or the bare id, any case
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything but a v3 address, a `servers`
 *   entry that is no fingerprint, or bad `timeoutMs`/`signal` (nothing sent); and for an address
 *   whose checksum is right but whose key is no ed25519 point, which only tor checks (its 513
 *   reply as `cause`)
 * @throws TorOnionDescriptorNotFoundError (`TOR_ONION_NOT_FOUND`) when every HSDir asked answered
 *   without a descriptor (`attempts`: each HSDir and its REASON), or tor asked none
 * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refuses HSFETCH (e.g. 552 for a server it
 *   does not know); TorTimeoutError (`TOR_TIMEOUT`, default after 120 s); TorAbortError
 *   (`TOR_ABORTED`); TorControlClosedError (`TOR_CONTROL_CLOSED`)
 */
export async function fetchOnionDescriptor(
  control: TorControl,
  onion: string,
  options: FetchOnionDescriptorOptions = {},
): Promise<OnionDescriptor> {
  // A JavaScript caller's null means no options, as undefined does.
  const opts = options ?? {};
  const serviceId = normalizeServiceId(onion);
  assertCancelOptions(opts);
  const servers = normalizeServers(opts.servers);
  const what = `fetching the descriptor of ${serviceId}.onion`;
  throwIfAborted(opts.signal, what);
  const remaining = cancelBudget({
    ...(opts.signal ? { signal: opts.signal } : {}),
    timeoutMs: opts.timeoutMs ?? DEFAULT_DESCRIPTOR_FETCH_TIMEOUT_MS,
  });
  const endTurn = await takeTurn(control, serviceId, remaining());
  const tracker = new FetchTracker(serviceId, servers);
  let stopped = false;
  let settle: ((o: FetchOutcome) => void) | undefined;
  const outcome = new Promise<FetchOutcome>((resolve) => (settle = resolve));
  /** Wakes the idle check after each event about the service. */
  let wake: (() => void) | undefined;
  const onEvent = (e: HsDescEvent | HsDescContentEvent) => {
    const o = tracker.apply(e);
    if (o.state !== 'waiting') settle?.(o);
    else wake?.();
  };
  const onClose = () => settle?.({ state: 'waiting' });
  const offs: Array<() => Promise<void>> = [];
  const keep = (off: () => Promise<void>) => {
    // A subscription that lands after the caller gave up is ended at once.
    if (stopped) void off();
    else offs.push(off);
  };
  try {
    // Asked together: TorControl sends one SETEVENTS for both.
    const subscribed = Promise.allSettled([control.subscribe('HS_DESC', onEvent), control.subscribe('HS_DESC_CONTENT', onEvent)]).then((results) => {
      for (const r of results) if (r.status === 'fulfilled') keep(r.value);
      const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) throw refused.reason;
    });
    await raceCancel(subscribed, what, remaining());
    control.once('close', onClose);
    if (control.closed) onClose();
    const watched = (async (): Promise<FetchOutcome> => {
      await control.command(['HSFETCH', serviceId, ...servers.map((s) => `SERVER=${s}`)].join(' '), remaining()).catch((err: unknown) => {
        // The id passed its checksum, but tor also checks that its key is an ed25519 point.
        if (err instanceof TorControlError && err.status === 513) {
          throw new TorInvalidValueError('onion address', 'tor refused it as no valid v3 address (its key is no ed25519 public key)', { cause: err });
        }
        throw err;
      });
      while (!stopped && tracker.outcome.state === 'waiting') {
        if (!tracker.idle) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const asked = tracker.requests;
        await control.getInfo('version', remaining());
        await control.getInfo('version', remaining());
        if (tracker.idle && tracker.requests === asked) {
          const attempts = tracker.giveUp();
          const cached = askedNone(attempts) ? await readCached(control, serviceId, remaining()) : undefined;
          settle?.(cached ? { state: 'found', descriptor: cached } : { state: 'not-found', attempts });
          break;
        }
      }
      return outcome;
    })();
    // The outcome may come while a round trip is under way; the command's own failure ends it too.
    const result = await raceCancel(Promise.race([outcome, watched]), what, remaining());
    if (result.state === 'found') return result.descriptor;
    if (result.state === 'not-found') throw notFound(serviceId, result.attempts);
    throw new TorControlClosedError(`${what} stopped: the Tor control connection closed`);
  } finally {
    stopped = true;
    settle = undefined;
    wake?.();
    control.off('close', onClose);
    endTurn();
    // Unsubscribing never throws (see TorControl.subscribe), and must not hold the caller long.
    await Promise.all(offs.map((off) => off()));
  }
}

/** Whether tor asked no HSDir at all. */
function askedNone(attempts: readonly OnionDescriptorAttempt[]): boolean {
  return attempts.every((a) => a.hsDir === 'UNKNOWN');
}

/**
 * The descriptor in tor's client cache (`GETINFO hs/client/desc/id/ID`), or undefined when tor has
 * none (551) or cannot say (an older tor's 552): then the fetch's own "not found" is the better answer.
 */
async function readCached(control: TorControl, serviceId: string, opts: CancelOptions): Promise<OnionDescriptor | undefined> {
  let text: string;
  try {
    text = await control.getInfo(`hs/client/desc/id/${serviceId}`, opts);
  } catch (err) {
    if (err instanceof TorControlError) return undefined;
    throw err;
  }
  if (text.length === 0) return undefined;
  return { serviceId, source: 'cache', hsDir: undefined, descriptorId: undefined, descriptor: text, ...parseDescriptorHeader(text) };
}

function notFound(serviceId: string, attempts: OnionDescriptorAttempt[]): TorOnionDescriptorNotFoundError {
  const detail =
    attempts.length === 1 && attempts[0]!.hsDir === 'UNKNOWN'
      ? `tor asked no HSDir (${attempts[0]!.reason}: each responsible one was asked within the requery period, or tor lacks directory information)`
      : attempts.map((a) => `${a.hsDir === 'UNKNOWN' ? 'no HSDir' : `HSDir $${a.hsDir}`} answered ${a.reason}`).join('; ');
  return new TorOnionDescriptorNotFoundError(serviceId, attempts, `no descriptor of ${serviceId}.onion was found: ${detail}`);
}
