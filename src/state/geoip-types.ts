/**
 * Where a relay is, as far as a GeoIP database knows. Every field is optional: databases differ
 * (a country-only database gives just `countryCode`), and private or unknown addresses give `{}`.
 */
export interface Location {
  /** ISO 3166-1 alpha-2 country code, upper case, e.g. `DE`. */
  countryCode?: string;
  /** City name in English, when the database has cities. */
  city?: string;
  latitude?: number;
  longitude?: number;
  /** Autonomous system number, when the database has ASNs. */
  asn?: number;
  /** The AS owner's name, e.g. `Hetzner Online GmbH`. */
  asOrganization?: string;
}

/**
 * Something that can place an IP address (the MaxMind reader in src/geoip implements it; tests use
 * a fake). Implementations resolve `{}` for addresses they do not know and reject only when the
 * lookup itself is broken.
 *
 * @example
 * const geoip: GeoIpLookup = { lookup: async (ip) => (ip.startsWith('127.') ? {} : { countryCode: 'DE' }) };
 * const state = await TorState.create(control, { geoip });
 */
export interface GeoIpLookup {
  /**
   * @param ip - an IPv4 or IPv6 address, without brackets or port
   */
  lookup(ip: string): Promise<Location>;
}
