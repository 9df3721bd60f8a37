import { inspect } from 'node:util';
import { TorInvalidValueError } from '../errors.js';
import { raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, assertCallOptions } from '../util/known-options.js';
import { parseMicrodescriptor, type Microdescriptor } from './microdescriptor-parser.js';
import { parseServerDescriptor, type ServerDescriptor } from './server-descriptor.js';
import { parseExitPolicySummary, summaryAcceptsPort, type ExitPolicySummary } from './exit-policy.js';
import type { MicrodescriptorPolicies } from './microdescriptors.js';
import type { Location } from './geoip-types.js';
import {
  fingerprintToIdentity,
  identityToFingerprint,
  parseRouterDetails,
  type RouterDetails,
  type RouterHead,
} from './router-status.js';

/**
 * What a router needs from its owner to answer `location()`, `descriptor()` and
 * `microdescriptor()`. TorState supplies one that asks the injected GeoIP database, or tor itself
 * (`GETINFO ip-to-country/...`) when there is none, and asks tor for descriptors.
 */
export interface RouterContext {
  locate(ip: string): Promise<Location>;
  /**
   * The `v` and `pr` lines of a relay's entry in tor's consensus document, by base64 identity,
   * once TorState.loadRouterVersions has read them: `ns/all` and NEWCONSENSUS leave them out.
   */
  documentLines?(identity: string): DocumentLines | undefined;
  /**
   * The exit-policy summaries of a relay's microdescriptor, by base64 identity, once
   * TorState.loadExitPolicies has read them: a microdesc-flavor `ns/all` has no `p` lines.
   */
  microdescriptorPolicies?(identity: string): MicrodescriptorPolicies | undefined;
  /**
   * The text of `GETINFO desc/id/<fingerprint>`: the relay's server descriptor; undefined when
   * tor answers that it has none (552).
   */
  serverDescriptorText?(fingerprint: string, opts: CancelOptions): Promise<string | undefined>;
  /** The text of `GETINFO md/id/<fingerprint>`, the same way. */
  microdescriptorText?(fingerprint: string, opts: CancelOptions): Promise<string | undefined>;
}

/** What a relay's `v` and `pr` lines say, as the consensus document gives them. */
export interface DocumentLines {
  /** As {@link Router.version} gives it: `0.4.9.1` for `v Tor 0.4.9.1`. */
  version: string | undefined;
  protocols: string | undefined;
  /** The `m` line of a microdesc-flavor document: the digest of the relay's microdescriptor. */
  microdescDigest: string | undefined;
}

const NO_FLAGS: ReadonlySet<string> = Object.freeze(new Set<string>());
/** Marks a lazily parsed field that has not been parsed yet (distinct from "parsed: absent"). */
const UNPARSED = Symbol('unparsed');

/** The time a microdesc-flavor consensus puts on every `r` line (dir-spec 3.8.1): no real time. */
const MICRODESC_PUBLISHED_PLACEHOLDER = '2038-01-01 00:00:00';

/**
 * A relay as the current consensus describes it (one router status entry, dir-spec 3.4.1).
 * Immutable: a new consensus or an NS update replaces the object rather than changing it, so a
 * Router held by a circuit's path keeps describing what was true when the path was built.
 *
 * The `r` line fields (fingerprint, nickname, address, ports) are read when the consensus is;
 * the others are read from the entry's text the first time one of them is asked for.
 *
 * @example
 * const r = state.routerByName('moria1');
 * if (r && r.flags.has('Exit') && r.acceptsPort(443)) console.log(r.fingerprint, r.address);
 */
export class Router {
  /** The identity digest in base64 (27 characters), as consensus `r` lines write it. */
  declare readonly identity: string;
  declare readonly nickname: string;
  /** IPv4 address of the OR port. */
  declare readonly address: string;
  declare readonly orPort: number;
  /** 0 when the relay has no directory port. */
  declare readonly dirPort: number;
  private declare readonly source: string;
  private declare readonly entryStart: number;
  private declare readonly entryEnd: number;
  private declare readonly context: RouterContext | undefined;
  private declare hex: string | undefined;
  private declare parsed: RouterDetails | undefined;
  private declare flagSet: ReadonlySet<string> | undefined;
  private declare policy: ExitPolicySummary | null | typeof UNPARSED;
  private declare publishedDate: Date | undefined | typeof UNPARSED;
  private declare locating: Promise<Location> | undefined;

  /**
   * @param head - the `r` line fields (copied: the parser reuses its record)
   * @param source - the text holding the entry (kept: the rest of the entry is read from it on demand)
   * @param entryStart - where the entry's `r` line starts in `source`
   * @param entryEnd - where the entry ends
   * @param context - where `location()` looks addresses up; without one `location()` gives `{}`
   */
  constructor(head: RouterHead, source: string, entryStart: number, entryEnd: number, context?: RouterContext) {
    this.identity = head.identity;
    this.nickname = head.nickname;
    this.address = head.address;
    this.orPort = head.orPort;
    this.dirPort = head.dirPort;
    this.source = source;
    this.entryStart = entryStart;
    this.entryEnd = entryEnd;
    this.context = context;
    this.hex = undefined;
    this.parsed = undefined;
    this.flagSet = undefined;
    this.policy = UNPARSED;
    this.publishedDate = UNPARSED;
    this.locating = undefined;
  }

  /**
   * A placeholder for a relay the consensus does not list (a circuit hop or guard tor named that
   * we have no entry for): only the fingerprint and nickname are known.
   */
  static unlisted(fingerprint: string, nickname: string | undefined, context?: RouterContext): Router {
    const identity = fingerprintToIdentity(fingerprint) ?? '';
    const r = new Router({ identity, nickname: nickname ?? '', address: '', orPort: 0, dirPort: 0 }, '', 0, 0, context);
    r.hex = fingerprint;
    return r;
  }

  /**
   * 40 hex digits, upper case (the key of `TorState.routers`). Derived from {@link identity} on
   * first use; `''` if the consensus gave an identity that is not base64.
   */
  get fingerprint(): string {
    return (this.hex ??= identityToFingerprint(this.identity) ?? '');
  }

  private get details(): RouterDetails {
    return (this.parsed ??= parseRouterDetails(this.source, this.entryStart, this.entryEnd));
  }

  /**
   * The base64 digest in the entry's `r` line: the relay's server descriptor's (SHA-1) when tor
   * reads full descriptors; undefined in a microdesc-flavor consensus document. Beware: the
   * `ns/all` of a client that uses microdescriptors (tor's default) has a digest there too, but it
   * is the first 20 bytes of the microdescriptor's sha256 digest (tor 0.4.9), not a descriptor's,
   * and nothing in `ns/all` tells the two apart.
   */
  get descriptorDigest(): string | undefined {
    return this.details.descriptorDigest;
  }

  /**
   * The digest of the relay's microdescriptor (sha256, base64), from the `m` line of a
   * microdesc-flavor consensus document; undefined for a Router read from `ns/all`, which has none.
   */
  get microdescDigest(): string | undefined {
    return this.details.microdescDigest;
  }

  /** Further OR addresses from `a` lines (IPv6 in practice), e.g. `[2001:db8::1]:9001`. */
  get ipv6(): readonly string[] {
    return this.details.orAddresses;
  }

  /** Consensus weight (`w Bandwidth=`), kilobytes per second; undefined without a `w` line. */
  get bandwidth(): number | undefined {
    return this.details.bandwidth;
  }

  /** `w Measured=` (votes only). */
  get measured(): number | undefined {
    return this.details.measured;
  }

  /** `w Unmeasured=1`: the weight is not based on enough measurements. */
  get unmeasured(): boolean {
    return this.details.unmeasured;
  }

  /**
   * The `v` line without the `Tor ` prefix (e.g. `0.4.9.1`), or verbatim for other protocols.
   * tor's `ns/all` and NEWCONSENSUS have no `v` lines: see TorState.loadRouterVersions.
   */
  get version(): string | undefined {
    const v = this.details.versionLine;
    if (v === undefined) return this.documentLines()?.version;
    return v.startsWith('Tor ') ? v.slice(4) : v;
  }

  /**
   * The `pr` line (subprotocol versions), verbatim, e.g. `Cons=1-2 Desc=1-2 ...`. Like
   * {@link version}, missing from tor's `ns/all` until TorState.loadRouterVersions.
   */
  get protocols(): string | undefined {
    return this.details.protocols ?? this.documentLines()?.protocols;
  }

  private documentLines(): DocumentLines | undefined {
    return this.context?.documentLines?.(this.identity);
  }

  /** False for {@link Router.unlisted} placeholders. */
  get listed(): boolean {
    return this.address !== '';
  }

  /** The consensus flags (`Exit`, `Guard`, `Fast`, `Running`, `Stable`, `Valid`, ...). */
  get flags(): ReadonlySet<string> {
    if (this.flagSet === undefined) {
      const text = this.details.flagsText;
      this.flagSet = text === '' ? NO_FLAGS : new Set(text.split(' ').filter((f) => f !== ''));
    }
    return this.flagSet;
  }

  /** Whether the consensus gave this relay `flag` (case-sensitive, as tor writes flags). */
  hasFlag(flag: string): boolean {
    return this.flags.has(flag);
  }

  /**
   * Which ports the relay exits to (IPv4): the `p` line of its `ns/all` entry, or, where that has
   * none (a client using microdescriptors, tor's default), its microdescriptor's once
   * TorState.loadExitPolicies has read them; undefined when neither says (or tor's line is malformed).
   */
  get exitPolicy(): ExitPolicySummary | undefined {
    if (this.policy === UNPARSED) {
      const text = this.details.policyText;
      this.policy = text === undefined ? null : parseExitPolicySummary(text);
    }
    if (this.policy !== null) return this.policy;
    return this.details.policyText === undefined ? (this.microdescriptorPolicies()?.ipv4 ?? undefined) : undefined;
  }

  /**
   * Which ports the relay exits to over IPv6: its microdescriptor's `p6` line (`reject 1-65535`
   * when it has none), once TorState.loadExitPolicies has read them; `ns/all` has no such line.
   */
  get exitPolicyV6(): ExitPolicySummary | undefined {
    return this.microdescriptorPolicies()?.ipv6 ?? undefined;
  }

  private microdescriptorPolicies(): MicrodescriptorPolicies | undefined {
    return this.context?.microdescriptorPolicies?.(this.identity);
  }

  /**
   * Whether the relay's exit-policy summary allows `port`. False when there is no summary: a relay
   * without one is not usable as a general exit. The summary is about most addresses (dir-spec):
   * a relay that accepts a port may still refuse it for some hosts, and one that rejects it may
   * still allow it to a few (e.g. its own network).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `port` is not a whole number 1-65535
   */
  acceptsPort(port: number): boolean {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TorInvalidValueError('port', 'must be a whole number 1-65535');
    }
    const summary = this.exitPolicy;
    return summary !== undefined && summaryAcceptsPort(summary, port);
  }

  /**
   * The publication time of the relay's descriptor, from the `r` line (UTC); undefined when it is
   * missing or malformed, and for a microdesc-flavor consensus, whose `r` lines all carry the
   * placeholder `2038-01-01 00:00:00` instead (consensus method 33 and later, dir-spec 3.8.1).
   * tor 0.4.9's `ns/all` carries the placeholder even on a client that reads full descriptors
   * (seen on the test network), so it gives no publication times.
   */
  get published(): Date | undefined {
    if (this.publishedDate === UNPARSED) {
      const text = this.details.publishedText;
      const t = text === '' || text === MICRODESC_PUBLISHED_PLACEHOLDER ? NaN : Date.parse(text.replace(' ', 'T') + 'Z');
      this.publishedDate = Number.isNaN(t) ? undefined : new Date(t);
    }
    return this.publishedDate;
  }

  /** `$FINGERPRINT~nickname`, the control protocol's LongName. */
  get longName(): string {
    return this.nickname ? `$${this.fingerprint}~${this.nickname}` : `$${this.fingerprint}`;
  }

  /**
   * Where the relay is (country, and with a MaxMind city/ASN database also city, coordinates, AS).
   * Looked up once and remembered. Gives `{}` for a placeholder, when nothing is known, and for
   * loopback, private and other non-global addresses, which no database places (torcon's own
   * GeoIP lookups answer those without asking): so every relay of a test network on 127.0.0.1 gives
   * `{}`. To place such addresses, give `tor.getState({ geoip })` a GeoIpLookup of your own.
   *
   * @param opts - `signal` / `timeoutMs` bound this call's wait; the lookup itself goes on for the
   *   other callers (and is remembered when it succeeds)
   * @throws whatever the GeoIP lookup throws (e.g. TorControlClosedError for tor's fallback);
   *   TorAbortError (`TOR_ABORTED`) / TorTimeoutError (`TOR_TIMEOUT`) for `signal` / `timeoutMs`;
   *   TorInvalidValueError (`TOR_INVALID_VALUE`) for bad options
   * @example
   * const where = await circuit.path.at(-1)?.location({ timeoutMs: 5_000 });
   * console.log(where?.countryCode ?? 'unknown');
   */
  location(opts: CancelOptions = {}): Promise<Location> {
    opts ??= {};
    try {
      assertCallOptions(opts, CANCEL_OPTION_KEYS, 'router.location');
      // A signal aborted already is refused even when the answer is known, as by every call.
      throwIfAborted(opts.signal, 'locating a relay');
    } catch (err) {
      return Promise.reject(err);
    }
    return raceCancel(this.lookUpLocation(), 'locating a relay', opts);
  }

  /** The lookup location() waits for: one per router, shared by its callers, forgotten when it fails. */
  private lookUpLocation(): Promise<Location> {
    if (this.locating === undefined) {
      if (this.context === undefined || this.address === '') return Promise.resolve({});
      const attempt = this.context.locate(this.address);
      // A failed lookup is not remembered: the next call tries again.
      attempt.catch(() => {
        if (this.locating === attempt) this.locating = undefined;
      });
      this.locating = attempt;
    }
    return this.locating;
  }

  /**
   * The relay's server descriptor, the document it publishes about itself (platform, contact,
   * family, uptime, bandwidths, onion keys, the full exit policy...), read from tor's copy
   * (`GETINFO desc/id/<fingerprint>`) on each call: tor may have fetched a newer one since.
   * Signatures and certificates are not checked again (tor checked them when it took it).
   *
   * Undefined when tor has no server descriptor for the relay, which is usual: a client that uses
   * microdescriptors (tor's default) never downloads them, and tor answers 552. Clients with
   * `UseMicrodescriptors 0` or `FetchUselessDescriptors 1`, relays and authorities keep them (the
   * test network's client has `UseMicrodescriptors 0`). Undefined too for a Router with no
   * fingerprint or made without a TorState.
   *
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when tor's text is not a well-formed descriptor;
   *   TorControlClosedError when the state or connection is closed; TorAbortError /
   *   TorTimeoutError for `signal` / `timeoutMs`; TorInvalidValueError for bad options
   * @example
   * const d = await state.routerByName('moria1')?.descriptor();
   * if (d) console.log(d.platform, d.contact, d.bandwidth.observed, d.exitPolicy);
   */
  async descriptor(opts: CancelOptions = {}): Promise<ServerDescriptor | undefined> {
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'router.descriptor');
    if (this.context?.serverDescriptorText === undefined || this.fingerprint === '') return undefined;
    const text = await this.context.serverDescriptorText(this.fingerprint, opts ?? {});
    return text === undefined ? undefined : parseServerDescriptor(text);
  }

  /**
   * The relay's microdescriptor (onion keys, family, exit-policy summaries, identities), read from
   * tor's copy (`GETINFO md/id/<fingerprint>`) on each call.
   *
   * Undefined when tor has none for the relay (it answers 552): a client with
   * `UseMicrodescriptors 0`, such as the test network's, downloads full descriptors instead (see
   * {@link Router.descriptor}), and any client may not have fetched a new relay's yet. Undefined
   * too for a Router with no fingerprint or made without a TorState.
   *
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when tor's text is not a well-formed
   *   microdescriptor; TorControlClosedError when the state or connection is closed; TorAbortError /
   *   TorTimeoutError for `signal` / `timeoutMs`; TorInvalidValueError for bad options
   * @example
   * const md = await router.microdescriptor();
   * if (md) console.log(md.family, md.exitPolicy);
   */
  async microdescriptor(opts: CancelOptions = {}): Promise<Microdescriptor | undefined> {
    assertCallOptions(opts, CANCEL_OPTION_KEYS, 'router.microdescriptor');
    if (this.context?.microdescriptorText === undefined || this.fingerprint === '') return undefined;
    const text = await this.context.microdescriptorText(this.fingerprint, opts ?? {});
    return text === undefined ? undefined : parseMicrodescriptor(text);
  }

  /** The LongName. */
  toString(): string {
    return this.longName;
  }

  /** A short description for console.log, without the context or caches. */
  [inspect.custom](): string {
    return `Router { ${this.longName} ${this.address}:${this.orPort} [${[...this.flags].join(' ')}] }`;
  }
}
