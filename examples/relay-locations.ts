/**
 * Where the relays of a circuit are: `router.location()` for each hop. The torcon take on
 * txtorcon's location examples (Router.location, attach_streams_by_country).
 *
 * torcon uses a MaxMind/DB-IP .mmdb database when one is installed (/usr/share/GeoIP, ...: city,
 * coordinates, AS), else tor's own table (GETINFO ip-to-country: the country only). Private and
 * loopback addresses are in no database: their location is `{}`. Every relay of torcon's test
 * network is on 127.0.0.1, so there each hop shows "unknown": pass a `geoip` of your own to
 * getState() to place such addresses (as below with --label-loopback).
 *
 * Run: TOR_CONTROL=... node dist/examples/relay-locations.js [--label-loopback]
 */
import { connectTor, type GeoIpLookup, type Location } from '../src/index.js';

// A GeoIpLookup is any object with lookup(ip): this one names loopback addresses and knows nothing else.
const labelLoopback: GeoIpLookup = {
  lookup: async (ip: string): Promise<Location> => (ip.startsWith('127.') ? { city: 'this machine (loopback)' } : {}),
};

const tor = await connectTor();
try {
  const state = await tor.getState(process.argv.includes('--label-loopback') ? { geoip: labelLoopback } : {});
  // Any built circuit of three hops or more will do; build one if there is none.
  const circuit =
    [...state.circuits.values()].find((c) => c.status === 'BUILT' && c.path.length >= 3) ??
    (await state.buildCircuit(undefined, { timeoutMs: 30_000 }));
  console.log(`circuit ${circuit.id}:`);
  for (const relay of circuit.path) {
    const where = await relay.location();
    const text = [where.city, where.countryCode, where.asOrganization].filter(Boolean).join(', ') || 'unknown';
    console.log(`  ${relay.nickname.padEnd(20)} ${relay.address.padEnd(15)} ${text}`);
  }
} finally {
  await tor.close();
}
