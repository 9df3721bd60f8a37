import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { TorInvalidValueError } from '../errors.js';
import { retryable } from '../util/retryable.js';
import { kindOf } from '../util/abort.js';
import { assertKnownOptions, optionKeys } from '../util/known-options.js';
import type { TorControl } from '../control/tor-control.js';
import type { GeoIpLookup } from '../state/geoip-types.js';
import { MaxMindGeoIp, assertDatabasePaths } from './maxmind-geoip.js';
import { TorGeoIp } from './tor-geoip.js';

/** Where GeoIP packages and `geoipupdate` put their databases on common systems. */
export const DEFAULT_GEOIP_DIRECTORIES: readonly string[] = [
  '/usr/share/GeoIP',
  '/var/lib/GeoIP',
  '/usr/local/share/GeoIP',
  '/usr/local/var/GeoIP',
  '/opt/homebrew/var/GeoIP',
];

/** File names tried in each directory, best first: cities before countries, MaxMind before DB-IP. */
export const CITY_DATABASE_NAMES: readonly string[] = [
  'GeoLite2-City.mmdb',
  'GeoIP2-City.mmdb',
  'dbip-city-lite.mmdb',
  'dbip-city.mmdb',
  'GeoLite2-Country.mmdb',
  'GeoIP2-Country.mmdb',
  'dbip-country-lite.mmdb',
  'dbip-country.mmdb',
];

/** ASN database file names tried in each directory. */
export const ASN_DATABASE_NAMES: readonly string[] = ['GeoLite2-ASN.mmdb', 'GeoIP2-ISP.mmdb', 'dbip-asn-lite.mmdb', 'dbip-asn.mmdb'];

/** Options of {@link createGeoIp} and {@link findGeoIpDatabases}. */
export interface GeoIpOptions {
  /** A city/country .mmdb to use; when given it must open (no silent fallback). */
  cityDatabase?: string;
  /** An ASN .mmdb to use; when given it must open. */
  asnDatabase?: string;
  /** Directories searched for databases not given explicitly. @default DEFAULT_GEOIP_DIRECTORIES */
  directories?: readonly string[];
}

const GEOIP_OPTION_KEYS = optionKeys<GeoIpOptions>({ cityDatabase: true, asnDatabase: true, directories: true });

/** The databases found: explicit paths as given, others from the first directory that has one. */
export interface FoundGeoIpDatabases {
  cityDatabase?: string;
  asnDatabase?: string;
}

/**
 * Looks for .mmdb files: explicit paths are returned as given (checked when opened), the others are
 * searched by name (best name first) in `directories`.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a path that is no string or `directories`
 *   that are no array of strings (null options are none)
 * @example await findGeoIpDatabases() // { cityDatabase: '/usr/share/GeoIP/GeoLite2-City.mmdb' } on Debian with geoipupdate
 */
export async function findGeoIpDatabases(opts: GeoIpOptions = {}): Promise<FoundGeoIpDatabases> {
  opts = checkedOptions(opts);
  const dirs = opts.directories ?? DEFAULT_GEOIP_DIRECTORIES;
  const cityDatabase = opts.cityDatabase ?? (await firstReadable(dirs, CITY_DATABASE_NAMES));
  const asnDatabase = opts.asnDatabase ?? (await firstReadable(dirs, ASN_DATABASE_NAMES));
  return { ...(cityDatabase && { cityDatabase }), ...(asnDatabase && { asnDatabase }) };
}

/**
 * The best GeoIP lookup available: a {@link MaxMindGeoIp} when a .mmdb database is given or found
 * (asking tor for the country when only an ASN database is there), else a {@link TorGeoIp} that asks
 * tor's own table (country only).
 * @param control the control connection for tor's table; omit it to require a .mmdb database
 * @throws GeoIpDatabaseError (`TOR_GEOIP_DATABASE`) when a given or found database cannot be opened
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when no database is found and no `control` is given,
 *   or for options of the wrong kind, as {@link findGeoIpDatabases}
 * @example const geoip = await createGeoIp(tor.control); await geoip.lookup('8.8.8.8');
 */
export async function createGeoIp(
  control: Pick<TorControl, 'getInfo'> | undefined,
  opts: GeoIpOptions = {},
): Promise<GeoIpLookup> {
  opts = checkedOptions(opts);
  const tor = control !== undefined && control !== null ? new TorGeoIp(control) : undefined;
  const found = await findGeoIpDatabases(opts);
  if (found.cityDatabase || found.asnDatabase) {
    return MaxMindGeoIp.open({ ...found, ...(!found.cityDatabase && tor && { fallback: tor }) });
  }
  if (tor) return tor;
  throw new TorInvalidValueError(
    'GeoIP source',
    `no .mmdb database found (looked in ${(opts.directories ?? DEFAULT_GEOIP_DIRECTORIES).join(', ')}) and no tor to ask`,
  );
}

/**
 * `opts` checked: null is none (as undefined is); anything else of the wrong kind is refused.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
function checkedOptions(opts: GeoIpOptions | null): GeoIpOptions {
  if (opts === null || opts === undefined) return {};
  if (typeof opts !== 'object') throw new TorInvalidValueError('GeoIP options', `must be an object, got ${kindOf(opts)}`);
  // A misspelt `cityDatabse` would be ignored, and another database (or none) used.
  assertKnownOptions(opts, GEOIP_OPTION_KEYS, 'GeoIP');
  assertDatabasePaths(opts);
  const dirs: unknown = opts.directories;
  if (dirs !== undefined && (!Array.isArray(dirs) || dirs.some((d) => typeof d !== 'string'))) {
    throw new TorInvalidValueError('GeoIP directories', 'must be an array of directory paths');
  }
  return opts;
}

/**
 * A GeoIP lookup whose source is opened on first use, so that building the state stays I/O-free.
 * A source that fails to open is not kept: each lookup then fails with that error, and a later one
 * opens it again, so a database that was being replaced (geoipupdate) or repaired is picked up
 * without a new Tor.
 */
export function lazyGeoIp(open: () => Promise<GeoIpLookup>): GeoIpLookup {
  let source: Promise<GeoIpLookup> | undefined;
  return {
    lookup: async (ip) => {
      source ??= retryable(open(), () => (source = undefined));
      return (await source).lookup(ip);
    },
  };
}

async function firstReadable(dirs: readonly string[], names: readonly string[]): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        await access(file, fsConstants.R_OK);
        return file;
      } catch {
        // not there: try the next
      }
    }
  }
  return undefined;
}
