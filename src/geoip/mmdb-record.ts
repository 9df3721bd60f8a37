import type { Location } from '../state/geoip-types.js';

/**
 * Reads a {@link Location} out of one .mmdb record. Two schemas are understood, and a record may mix
 * them:
 * - MaxMind's GeoIP2/GeoLite2 (also DB-IP's "lite" .mmdb files): `country.iso_code`,
 *   `city.names.en`, `location.latitude`/`longitude`, and for ASN databases
 *   `autonomous_system_number`/`autonomous_system_organization`;
 * - the flat one of the ip-location-db project: `country_code`, `city`, `latitude`, `longitude`.
 * Fields with an unexpected type are ignored, never guessed at. Pure.
 * @example locationFromRecord({ country: { iso_code: 'DE' }, location: { latitude: 50.1, longitude: 8.6 } })
 * // { countryCode: 'DE', latitude: 50.1, longitude: 8.6 }
 */
export function locationFromRecord(record: unknown): Location {
  const out: Location = {};
  if (!isObject(record)) return out;
  const country = isObject(record['country']) ? record['country']['iso_code'] : record['country_code'];
  if (typeof country === 'string' && /^[A-Za-z]{2}$/.test(country)) out.countryCode = country.toUpperCase();
  const cityField = record['city'];
  const city = isObject(cityField) && isObject(cityField['names']) ? cityField['names']['en'] : cityField;
  if (typeof city === 'string' && city.length > 0) out.city = city;
  const loc = isObject(record['location']) ? record['location'] : record;
  const lat = loc['latitude'];
  const lon = loc['longitude'];
  if (isCoordinate(lat, 90) && isCoordinate(lon, 180)) {
    out.latitude = lat;
    out.longitude = lon;
  }
  const asn = record['autonomous_system_number'];
  if (typeof asn === 'number' && Number.isSafeInteger(asn) && asn >= 0) out.asn = asn;
  const org = record['autonomous_system_organization'];
  if (typeof org === 'string' && org.length > 0) out.asOrganization = org;
  return out;
}

/** Fields of `extra` fill those `base` lacks; `base` wins where both have a value. */
export function mergeLocations(base: Location, extra: Location): Location {
  return { ...extra, ...base };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCoordinate(v: unknown, limit: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= limit;
}
