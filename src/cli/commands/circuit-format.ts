import type { Circuit } from '../../state/tor-state.js';

/** One hop as the CLI shows it. */
interface HopLike {
  nickname?: string;
  fingerprint: string;
  location?: () => Promise<{ countryCode?: string; city?: string; asn?: number; asOrganization?: string }>;
}

/**
 * `nick (ABCD1234…, DE Berlin, AS3320) → …` for a circuit's path. Locations come from GeoIP when it
 * has them; loopback relays of the test network have none, and say so.
 */
export async function describePath(circuit: Circuit): Promise<string> {
  const hops = (circuit.path ?? []) as unknown as HopLike[];
  if (hops.length === 0) return '(no hops yet)';
  const parts = await Promise.all(hops.map(describeHop));
  return parts.join(' → ');
}

export async function describeHop(hop: HopLike): Promise<string> {
  const where = await hop.location?.().catch(() => undefined);
  const place = where && (where.countryCode || where.city || where.asn)
    ? [where.countryCode, where.city, where.asn ? `AS${where.asn}` : undefined].filter(Boolean).join(' ')
    : 'no GeoIP location (loopback)';
  return `${hop.nickname ?? '?'} (${hop.fingerprint.slice(0, 8)}…, ${place})`;
}

/** Plain-text location for tables: country code or `-`. */
export async function shortLocation(hop: HopLike): Promise<string> {
  const where = await hop.location?.().catch(() => undefined);
  return where?.countryCode ?? '-';
}
