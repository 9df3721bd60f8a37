/** One hop as the CLI shows it. */
interface HopLike {
  nickname?: string;
  fingerprint: string;
  location?: () => Promise<{ countryCode?: string; city?: string; asn?: number; asOrganization?: string }>;
}

/**
 * One hop in the monitor's path column: its nickname (or the start of its fingerprint), and its
 * country in brackets when one is known. An unknown one is left out rather than shown as `[-]`,
 * which read as a flag; every relay of a test network on 127.0.0.1 has none.
 */
export function formatHop(name: string, countryCode: string): string {
  return countryCode === '-' ? name : `${name} [${countryCode}]`;
}

/** Plain-text location for tables: country code or `-`. */
export async function shortLocation(hop: HopLike): Promise<string> {
  const where = await hop.location?.().catch(() => undefined);
  return where?.countryCode ?? '-';
}
