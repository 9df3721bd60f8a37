import assert from 'node:assert/strict';
import { GeoIpDatabaseError, TorControlError, TorInvalidValueError } from '../../src/errors.js';
import { isGlobalIp, parseIp } from '../../src/geoip/ip-ranges.js';
import { locationFromRecord, mergeLocations } from '../../src/geoip/mmdb-record.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';

describe('geoip: locationFromRecord', () => {
  const cases: Array<[string, unknown, object]> = [
    ['null record', null, {}],
    ['not an object', 'US', {}],
    [
      'GeoLite2 City',
      {
        country: { iso_code: 'de', names: { en: 'Germany' } },
        city: { names: { en: 'Berlin', de: 'Berlin' } },
        location: { latitude: 52.5, longitude: 13.4, accuracy_radius: 20 },
      },
      { countryCode: 'DE', city: 'Berlin', latitude: 52.5, longitude: 13.4 },
    ],
    ['GeoLite2 Country', { country: { iso_code: 'FR' } }, { countryCode: 'FR' }],
    [
      'GeoLite2 ASN',
      { autonomous_system_number: 24940, autonomous_system_organization: 'Hetzner Online GmbH' },
      { asn: 24940, asOrganization: 'Hetzner Online GmbH' },
    ],
    [
      'ip-location-db city (flat)',
      { country_code: 'JP', city: 'Tokyo', latitude: 35.69, longitude: 139.69, state1: 'Tokyo' },
      { countryCode: 'JP', city: 'Tokyo', latitude: 35.69, longitude: 139.69 },
    ],
    ['ip-location-db country (flat)', { country_code: 'US' }, { countryCode: 'US' }],
    ['city without an English name', { city: { names: { de: 'München' } }, country: { iso_code: 'DE' } }, { countryCode: 'DE' }],
    ['coordinates out of range are ignored', { location: { latitude: 91, longitude: 10 } }, {}],
    ['half a coordinate pair is ignored', { location: { latitude: 10 } }, {}],
    ['a country code that is not two letters is ignored', { country: { iso_code: 'USA' } }, {}],
    ['wrongly typed fields are ignored', { autonomous_system_number: '15169', autonomous_system_organization: 7 }, {}],
  ];
  for (const [name, record, expected] of cases) {
    it(name, () => assert.deepEqual(locationFromRecord(record), expected));
  }

  it('mergeLocations keeps the first location where both have a field', () => {
    assert.deepEqual(mergeLocations({ countryCode: 'DE' }, { countryCode: 'AT', asn: 1 }), { countryCode: 'DE', asn: 1 });
  });
});

describe('geoip: parseIp / isGlobalIp', () => {
  it('normalizes brackets, zones and IPv4-mapped addresses', () => {
    assert.deepEqual(parseIp('[2001:db8::1]'), { address: '2001:db8::1', family: 6 });
    assert.deepEqual(parseIp('fe80::1%eth0'), { address: 'fe80::1', family: 6 });
    assert.deepEqual(parseIp('::ffff:8.8.8.8'), { address: '8.8.8.8', family: 4 });
    // The same mapped address in hex groups, compressed or written out: still 8.8.8.8.
    assert.deepEqual(parseIp('::ffff:808:808'), { address: '8.8.8.8', family: 4 });
    assert.deepEqual(parseIp('[0:0:0:0:0:FFFF:0808:0808]'), { address: '8.8.8.8', family: 4 });
    assert.deepEqual(isGlobalIp(parseIp('::ffff:7f00:1')), false);
    // IPv4-compatible (::8.8.8.8) and NAT64 (64:ff9b::) addresses are other IPv6 addresses.
    assert.deepEqual(parseIp('::8.8.8.8'), { address: '::8.8.8.8', family: 6 });
    assert.deepEqual(parseIp('64:ff9b::808:808'), { address: '64:ff9b::808:808', family: 6 });
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', ' 8.8.4.4', 'localhost', '1.2.3.4.5', '[1.2.3.4]:80', '01.2.3.4', 'g::1']) {
      assert.throws(() => parseIp(bad), TorInvalidValueError, bad);
    }
  });

  it('classifies global and non-global addresses', () => {
    const global = ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '2a02:d400::1', '100.128.0.1', '172.32.0.1'];
    const local = ['127.0.0.1', '127.255.255.254', '10.0.0.1', '172.31.255.255', '192.168.0.1', '169.254.169.254',
      '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '192.0.2.1', '::1', '::', 'fc00::1', 'fe80::1',
      'ff02::1', '2001:db8::1'];
    for (const ip of global) assert.equal(isGlobalIp(parseIp(ip)), true, ip);
    for (const ip of local) assert.equal(isGlobalIp(parseIp(ip)), false, ip);
  });
});

describe('geoip: TorGeoIp answers (tor replies scripted: fault cases)', () => {
  function fakeControl(answer: (key: string) => Promise<string>) {
    const keys: string[] = [];
    return {
      keys,
      control: {
        getInfo: async (key: string) => {
          keys.push(key);
          return answer(key);
        },
      } as never,
    };
  }

  it("upper-cases tor's answer, maps ?? to {} and caches", async () => {
    const { keys, control } = fakeControl(async (k) => (k.endsWith('9.9.9.9') ? '??' : 'us'));
    const geoip = new TorGeoIp(control);
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('9.9.9.9'), {});
    assert.deepEqual(keys, ['ip-to-country/8.8.8.8', 'ip-to-country/9.9.9.9']);
  });

  it('shares one request among concurrent lookups of one address', async () => {
    const { keys, control } = fakeControl(async () => 'de');
    const geoip = new TorGeoIp(control);
    const results = await Promise.all([geoip.lookup('5.9.0.1'), geoip.lookup('5.9.0.1'), geoip.lookup('[5.9.0.1]')]);
    assert.deepEqual(results, [{ countryCode: 'DE' }, { countryCode: 'DE' }, { countryCode: 'DE' }]);
    assert.equal(keys.length, 1);
    results[0]!.countryCode = 'XX'; // callers get copies
    assert.deepEqual(await geoip.lookup('5.9.0.1'), { countryCode: 'DE' });
  });

  it('does not ask tor about private addresses and refuses non-addresses before asking', async () => {
    const { keys, control } = fakeControl(async () => 'us');
    const geoip = new TorGeoIp(control);
    assert.deepEqual(await geoip.lookup('192.168.1.1'), {});
    await assert.rejects(geoip.lookup('8.8.8.8 SETCONF'), TorInvalidValueError);
    assert.deepEqual(keys, []);
  });

  it('turns "GeoIP data not loaded" into TOR_GEOIP_DATABASE, and passes other errors through', async () => {
    const notLoaded = new TorGeoIp(
      fakeControl(async () => {
        throw new TorControlError(551, 'GeoIP data not loaded', 'GETINFO');
      }).control,
    );
    await assert.rejects(notLoaded.lookup('8.8.8.8'), (e: unknown) => e instanceof GeoIpDatabaseError && e.path === 'GeoIPFile');
    await assert.rejects(notLoaded.lookup('2001:4860::1'), (e: unknown) => e instanceof GeoIpDatabaseError && e.path === 'GeoIPv6File');
    const other = new TorGeoIp(
      fakeControl(async () => {
        throw new TorControlError(552, 'Unrecognized key', 'GETINFO');
      }).control,
    );
    await assert.rejects(other.lookup('8.8.8.8'), (e: unknown) => e instanceof TorControlError && e.status === 552);
  });
});
