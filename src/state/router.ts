import { inspect } from 'node:util';
import { parseExitPolicySummary, summaryAcceptsPort, type ExitPolicySummary } from './exit-policy.js';
import type { Location } from './geoip-types.js';

/**
 * What a router needs from its owner to answer `location()`. TorState supplies one that asks the
 * injected GeoIP database, or tor itself (`GETINFO ip-to-country/...`) when there is none.
 */
export interface RouterContext {
  locate(ip: string): Promise<Location>;
}

/**
 * The fields of one router status entry, as the consensus parser collects them. Strings that are
 * rarely read (flags, policy, publication time) stay raw here and are parsed on first use.
 */
export interface RouterInit {
  /** 40 hex digits, upper case. */
  fingerprint: string;
  nickname: string;
  address: string;
  orPort: number;
  dirPort: number;
  /** `YYYY-MM-DD HH:MM:SS` (UTC) from the `r` line. */
  publishedText: string;
  /** Base64 descriptor digest; absent from microdescriptor-consensus `r` lines. */
  descriptorDigest: string | undefined;
  /** `a` lines, verbatim (`[2001:db8::1]:9001`). */
  orAddresses: string[] | undefined;
  /** The `s` line after `s `: space-separated flags. */
  flagsText: string;
  bandwidth: number | undefined;
  measured: number | undefined;
  unmeasured: boolean;
  /** The `v` line after `v `, e.g. `Tor 0.4.9.1`. */
  versionLine: string | undefined;
  /** The `pr` line after `pr `. */
  protocols: string | undefined;
  /** The `p` line after `p `. */
  policyText: string | undefined;
}

const EMPTY: readonly string[] = Object.freeze([]);
const NO_FLAGS: ReadonlySet<string> = Object.freeze(new Set<string>());
/** Marks a lazily parsed field that has not been parsed yet (distinct from "parsed: absent"). */
const UNPARSED = Symbol('unparsed');

/**
 * A relay as the current consensus describes it (one router status entry, dir-spec 3.4.1).
 * Immutable: a new consensus or an NS update replaces the object rather than changing it, so a
 * Router held by a circuit's path keeps describing what was true when the path was built.
 *
 * @example
 * const r = state.routerByName('moria1');
 * if (r && r.flags.has('Exit') && r.acceptsPort(443)) console.log(r.fingerprint, r.address);
 */
export class Router {
  /** 40 hex digits, upper case (the key of `TorState.routers`). */
  readonly fingerprint: string;
  readonly nickname: string;
  /** IPv4 address of the OR port. */
  readonly address: string;
  readonly orPort: number;
  /** 0 when the relay has no directory port. */
  readonly dirPort: number;
  /** Base64 digest of the relay's descriptor; undefined in microdescriptor consensuses. */
  readonly descriptorDigest: string | undefined;
  /** Further OR addresses from `a` lines (IPv6 in practice), e.g. `[2001:db8::1]:9001`. */
  readonly ipv6: readonly string[];
  /** Consensus weight (`w Bandwidth=`), kilobytes per second; undefined without a `w` line. */
  readonly bandwidth: number | undefined;
  /** `w Measured=` (votes only). */
  readonly measured: number | undefined;
  /** `w Unmeasured=1`: the weight is not based on enough measurements. */
  readonly unmeasured: boolean;
  /** The `v` line without the `Tor ` prefix (e.g. `0.4.9.1`), or verbatim for other protocols. */
  readonly version: string | undefined;
  /** The `pr` line (subprotocol versions), verbatim, e.g. `Cons=1-2 Desc=1-2 ...`. */
  readonly protocols: string | undefined;
  private readonly flagsText: string;
  private readonly policyText: string | undefined;
  private readonly publishedText: string;
  private readonly context: RouterContext | undefined;
  private flagSet: ReadonlySet<string> | undefined = undefined;
  private policy: ExitPolicySummary | null | typeof UNPARSED = UNPARSED;
  private publishedDate: Date | undefined | typeof UNPARSED = UNPARSED;
  private locating: Promise<Location> | undefined = undefined;

  /**
   * @param init - the entry's fields (copied; the parser reuses its init object)
   * @param context - where `location()` looks addresses up; without one `location()` gives `{}`
   */
  constructor(init: RouterInit, context?: RouterContext) {
    this.fingerprint = init.fingerprint;
    this.nickname = init.nickname;
    this.address = init.address;
    this.orPort = init.orPort;
    this.dirPort = init.dirPort;
    this.descriptorDigest = init.descriptorDigest;
    this.ipv6 = init.orAddresses ?? EMPTY;
    this.bandwidth = init.bandwidth;
    this.measured = init.measured;
    this.unmeasured = init.unmeasured;
    const v = init.versionLine;
    this.version = v !== undefined && v.startsWith('Tor ') ? v.slice(4) : v;
    this.protocols = init.protocols;
    this.flagsText = init.flagsText;
    this.policyText = init.policyText;
    this.publishedText = init.publishedText;
    this.context = context;
  }

  /**
   * A placeholder for a relay the consensus does not list (a circuit hop or guard tor named that
   * we have no entry for): only the fingerprint and nickname are known.
   */
  static unlisted(fingerprint: string, nickname: string | undefined, context?: RouterContext): Router {
    return new Router(
      {
        fingerprint,
        nickname: nickname ?? '',
        address: '',
        orPort: 0,
        dirPort: 0,
        publishedText: '',
        descriptorDigest: undefined,
        orAddresses: undefined,
        flagsText: '',
        bandwidth: undefined,
        measured: undefined,
        unmeasured: false,
        versionLine: undefined,
        protocols: undefined,
        policyText: undefined,
      },
      context,
    );
  }

  /** False for {@link Router.unlisted} placeholders. */
  get listed(): boolean {
    return this.address !== '';
  }

  /** The consensus flags (`Exit`, `Guard`, `Fast`, `Running`, `Stable`, `Valid`, ...). */
  get flags(): ReadonlySet<string> {
    if (this.flagSet === undefined) {
      this.flagSet = this.flagsText === '' ? NO_FLAGS : new Set(this.flagsText.split(' ').filter((f) => f !== ''));
    }
    return this.flagSet;
  }

  /** Whether the consensus gave this relay `flag` (case-sensitive, as tor writes flags). */
  hasFlag(flag: string): boolean {
    return this.flags.has(flag);
  }

  /** The `p` line: which ports the relay exits to; undefined when tor gave no summary. */
  get exitPolicy(): ExitPolicySummary | undefined {
    if (this.policy === UNPARSED) {
      this.policy = this.policyText === undefined ? null : parseExitPolicySummary(this.policyText);
    }
    return this.policy ?? undefined;
  }

  /**
   * Whether the relay's exit-policy summary allows `port`. False when there is no summary: a relay
   * without one is not usable as a general exit.
   */
  acceptsPort(port: number): boolean {
    const summary = this.exitPolicy;
    return summary !== undefined && summaryAcceptsPort(summary, port);
  }

  /** The publication time on the `r` line (UTC); undefined when it is missing or malformed. */
  get published(): Date | undefined {
    if (this.publishedDate === UNPARSED) {
      const t = Date.parse(this.publishedText.replace(' ', 'T') + 'Z');
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
   * Looked up once and remembered. Gives `{}` for a placeholder or when nothing is known.
   *
   * @throws whatever the GeoIP lookup throws (e.g. TorControlClosedError for tor's fallback)
   */
  location(): Promise<Location> {
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

  /** The LongName. */
  toString(): string {
    return this.longName;
  }

  /** A short description for console.log, without the context or caches. */
  [inspect.custom](): string {
    return `Router { ${this.longName} ${this.address}:${this.orPort} [${[...this.flags].join(' ')}] }`;
  }
}
