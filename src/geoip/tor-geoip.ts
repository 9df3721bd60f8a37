import { GeoIpDatabaseError, TorControlError, TorInvalidValueError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import type { GeoIpLookup, Location } from '../state/geoip-types.js';
import { kindOf, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { CANCEL_OPTION_KEYS, assertCallOptions, assertKnownOptions, optionKeys } from '../util/known-options.js';
import { isGlobalIp, parseIp } from './ip-ranges.js';

/** Options of {@link TorGeoIp}. */
export interface TorGeoIpOptions {
  /** How many answers to remember (tor's table only changes on reload). @default 10000 */
  cacheSize?: number;
}

const DEFAULTS = { cacheSize: 10_000 } as const;
const TOR_GEOIP_OPTION_KEYS = optionKeys<TorGeoIpOptions>({ cacheSize: true });

/**
 * Country lookups through tor's own GeoIP table (`GETINFO ip-to-country/<ip>`, control-spec 3.9):
 * country code only, no city, coordinates or AS. The fallback when no .mmdb database is installed.
 * Tor's `??` (unknown) gives `{}`, and so do private and loopback addresses, without asking tor.
 *
 * @example
 * const geoip = new TorGeoIp(tor.control);
 * await geoip.lookup('8.8.8.8'); // { countryCode: 'US' }
 */
export class TorGeoIp implements GeoIpLookup {
  private readonly control: Pick<TorControl, 'getInfo'>;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, Location>();
  private readonly inFlight = new Map<string, Promise<Location>>();

  /**
   * @param control the control connection of the tor whose table is asked (only `getInfo` is used)
   * @param opts cache size
   */
  constructor(control: Pick<TorControl, 'getInfo'>, opts: TorGeoIpOptions = {}) {
    // A JavaScript caller's null means no options.
    opts ??= {};
    if (typeof opts !== 'object') throw new TorInvalidValueError('TorGeoIp options', `must be an object ({ cacheSize }), got ${kindOf(opts)}`);
    assertKnownOptions(opts, TOR_GEOIP_OPTION_KEYS, 'TorGeoIp');
    const { cacheSize } = opts;
    if (cacheSize !== undefined && !(Number.isSafeInteger(cacheSize) && cacheSize >= 0)) {
      throw new TorInvalidValueError('cacheSize', 'must be a whole number from 0');
    }
    // Checked now: a Tor handle given for its control (a common slip) would fail at the first lookup.
    if (typeof (control as { getInfo?: unknown } | null | undefined)?.getInfo !== 'function') {
      throw new TorInvalidValueError('TorGeoIp control', 'must be a TorControl (tor.control), not a Tor handle');
    }
    this.control = control;
    this.cacheSize = cacheSize ?? DEFAULTS.cacheSize;
  }

  /**
   * The country tor's table gives for `ip`.
   * @param ip an IPv4 or IPv6 address (brackets allowed)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `ip` is not an IP address
   * @throws GeoIpDatabaseError (`TOR_GEOIP_DATABASE`) when tor has no GeoIP data for the address family
   * @throws TorControlError / TorControlClosedError from the control connection
   */
  lookup(ip: string, opts: CancelOptions = {}): Promise<Location> {
    let parsed;
    try {
      // Also for an answer from the cache: a bad timeout is refused the same every time.
      assertCallOptions(opts, CANCEL_OPTION_KEYS, 'TorGeoIp.lookup');
      parsed = parseIp(ip);
      // Likewise a signal already aborted, also for an answer known without asking tor.
      throwIfAborted(opts?.signal, 'GETINFO ip-to-country');
    } catch (err) {
      return Promise.reject(err);
    }
    if (!isGlobalIp(parsed)) return Promise.resolve({});
    const key = parsed.address.toLowerCase();
    const cached = this.cache.get(key);
    if (cached) return Promise.resolve({ ...cached });
    // Callers with their own signal or timeout get their own request, so that one caller's abort
    // never rejects another's lookup.
    if (opts.signal || opts.timeoutMs !== undefined) return this.ask(key, parsed.family, opts).then((l) => ({ ...l }));
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.ask(key, parsed.family, opts).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending.then((l) => ({ ...l }));
  }

  private async ask(address: string, family: 4 | 6, opts: CancelOptions): Promise<Location> {
    let answer: string;
    try {
      answer = await this.control.getInfo(`ip-to-country/${address}`, opts);
    } catch (err) {
      if (err instanceof TorControlError && /not loaded/i.test(err.message)) {
        throw new GeoIpDatabaseError(
          family === 4 ? 'GeoIPFile' : 'GeoIPv6File',
          `tor has no IPv${family} GeoIP data loaded`,
          { cause: err },
        );
      }
      throw err;
    }
    const code = answer.trim();
    const location: Location = /^[A-Za-z]{2}$/.test(code) ? { countryCode: code.toUpperCase() } : {};
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(address, location);
    }
    return location;
  }
}
