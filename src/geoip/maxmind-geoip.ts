import type { Reader, Response } from 'maxmind';
import { GeoIpDatabaseError, TorInvalidValueError } from '../errors.js';
import type { GeoIpLookup, Location } from '../state/geoip-types.js';
import { logger } from '../util/log.js';
import { assertKnownOptions, optionKeys } from '../util/known-options.js';
import { isGlobalIp, parseIp } from './ip-ranges.js';
import { locationFromRecord, mergeLocations } from './mmdb-record.js';

const log = logger('geoip');

/** Options of {@link MaxMindGeoIp.open}. At least one database is required. */
export interface MaxMindGeoIpOptions {
  /**
   * A location database: GeoLite2/GeoIP2 City or Country, DB-IP city/country lite, or an
   * ip-location-db country/city .mmdb.
   */
  cityDatabase?: string;
  /** An ASN database: GeoLite2-ASN, DB-IP ASN lite, or an ip-location-db ASN .mmdb. */
  asnDatabase?: string;
  /**
   * Asked when the databases give no country for a global address (e.g. only an ASN database is
   * installed: tor's own table can still give the country). Its errors are not swallowed.
   */
  fallback?: GeoIpLookup;
}

const MAXMIND_OPTION_KEYS = optionKeys<MaxMindGeoIpOptions>({ cityDatabase: true, asnDatabase: true, fallback: true });

/** One opened database. */
interface OpenedDatabase {
  path: string;
  reader: Reader<Response>;
}

/**
 * Places IP addresses with MaxMind DB (.mmdb) files read by the `maxmind` package: country, city and
 * coordinates from a city/country database, AS number and organization from an ASN database (either
 * may be missing). Loopback, private and other non-global addresses give `{}` without a lookup.
 *
 * @example
 * const geoip = await MaxMindGeoIp.open({
 *   cityDatabase: '/usr/share/GeoIP/GeoLite2-City.mmdb',
 *   asnDatabase: '/usr/share/GeoIP/GeoLite2-ASN.mmdb',
 * });
 * await geoip.lookup('8.8.8.8'); // { countryCode: 'US', latitude: ..., asn: 15169, asOrganization: 'GOOGLE' }
 */
export class MaxMindGeoIp implements GeoIpLookup {
  /** Path of the location database in use, if any. */
  readonly cityDatabase: string | undefined;
  /** Path of the ASN database in use, if any. */
  readonly asnDatabase: string | undefined;
  private readonly city: Reader<Response> | undefined;
  private readonly asn: Reader<Response> | undefined;
  private readonly fallback: GeoIpLookup | undefined;

  /**
   * Wraps already opened readers (see `open` for the usual way in).
   * @param databases readers of a location and/or an ASN database, with their paths (for messages)
   * @param fallback asked for the country when the databases give none
   */
  constructor(
    databases: { city?: OpenedDatabase; asn?: OpenedDatabase },
    fallback?: GeoIpLookup,
  ) {
    this.city = databases.city?.reader;
    this.asn = databases.asn?.reader;
    this.cityDatabase = databases.city?.path;
    this.asnDatabase = databases.asn?.path;
    this.fallback = fallback;
  }

  /**
   * Opens the given databases (each read once into memory).
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when no database path is given, a path is no
   *   string, or `fallback` has no `lookup` method
   * @throws GeoIpDatabaseError (`TOR_GEOIP_DATABASE`) when a file cannot be read or is not a .mmdb
   */
  static async open(opts: MaxMindGeoIpOptions): Promise<MaxMindGeoIp> {
    // A misspelt `asnDatabse` would be ignored: the AS fields would be missing without a word.
    if (opts !== null && typeof opts === 'object') assertKnownOptions(opts, MAXMIND_OPTION_KEYS, 'MaxMindGeoIp');
    if (opts === null || typeof opts !== 'object' || (!opts.cityDatabase && !opts.asnDatabase)) {
      throw new TorInvalidValueError('GeoIP databases', 'give cityDatabase, asnDatabase or both');
    }
    assertDatabasePaths(opts);
    const { fallback } = opts;
    // Checked now: a fallback of the wrong kind would only fail at a lookup, with a bare TypeError.
    if (fallback !== undefined && (fallback === null || typeof fallback !== 'object' || typeof fallback.lookup !== 'function')) {
      throw new TorInvalidValueError('GeoIP fallback', 'must be an object with a lookup(ip) method (a GeoIpLookup)');
    }
    const [city, asn] = await Promise.all([
      opts.cityDatabase ? openDatabase(opts.cityDatabase) : undefined,
      opts.asnDatabase ? openDatabase(opts.asnDatabase) : undefined,
    ]);
    return new MaxMindGeoIp({ ...(city && { city }), ...(asn && { asn }) }, opts.fallback);
  }

  /**
   * Where `ip` is, as far as the databases know; `{}` for unknown, private and loopback addresses.
   * @param ip an IPv4 or IPv6 address (brackets allowed)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `ip` is not an IP address
   * @throws GeoIpDatabaseError (`TOR_GEOIP_DATABASE`) when a database turns out damaged
   */
  async lookup(ip: string): Promise<Location> {
    const parsed = parseIp(ip);
    if (!isGlobalIp(parsed)) return {};
    let location = this.city ? locationFromRecord(find(this.city, this.cityDatabase!, parsed.address, parsed.family)) : {};
    if (this.asn) location = mergeLocations(location, locationFromRecord(find(this.asn, this.asnDatabase!, parsed.address, parsed.family)));
    if (location.countryCode === undefined && this.fallback) {
      location = mergeLocations(location, await this.fallback.lookup(parsed.address));
    }
    return location;
  }
}

/**
 * A record, or null. An IPv6 address in an IPv4-only tree would walk into unrelated data: skip it.
 * @throws GeoIpDatabaseError (`TOR_GEOIP_DATABASE`) when the file is damaged past its header
 */
function find(reader: Reader<Response>, path: string, address: string, family: 4 | 6): unknown {
  if (family === 6 && reader.metadata.ipVersion === 4) return null;
  try {
    return reader.get(address);
  } catch (err) {
    // A file cut short or overwritten after its metadata only shows when a lookup walks into the
    // broken part: the reader then throws whatever its buffer access gives (a RangeError...).
    throw new GeoIpDatabaseError(path, 'is damaged (a lookup could not read it)', { cause: err });
  }
}

/**
 * Checks the database paths of the options of `MaxMindGeoIp.open` and `createGeoIp`: each given
 * one must be a string (a number or an array would reach the file system as a bare TypeError).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertDatabasePaths(opts: { cityDatabase?: unknown; asnDatabase?: unknown }): void {
  for (const key of ['cityDatabase', 'asnDatabase'] as const) {
    const value = opts[key];
    if (value !== undefined && typeof value !== 'string') throw new TorInvalidValueError(key, 'must be the path of a .mmdb file');
  }
}

async function openDatabase(path: string): Promise<OpenedDatabase> {
  try {
    // Loaded on first use: most programs never open a database, and the package costs memory.
    const { open } = await import('maxmind');
    const reader = await open<Response>(path);
    log('opened %s (%s, built %s)', path, reader.metadata.databaseType, String(reader.metadata.buildEpoch));
    return { path, reader };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code ? `cannot be read (${code})` : 'is not a MaxMind DB (.mmdb) file';
    throw new GeoIpDatabaseError(path, reason, { cause: err });
  }
}
