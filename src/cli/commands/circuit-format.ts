/** One hop as the CLI shows it. */
interface HopLike {
  nickname?: string;
  fingerprint: string;
  location?: () => Promise<{ countryCode?: string; city?: string; asn?: number; asOrganization?: string }>;
}

/** Plain-text location for tables: country code or `-`. */
export async function shortLocation(hop: HopLike): Promise<string> {
  const where = await hop.location?.().catch(() => undefined);
  return where?.countryCode ?? '-';
}
