import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { GeoIpDatabaseError } from '../../src/errors.js';
import { createGeoIp } from '../../src/geoip/create-geoip.js';
import { MaxMindGeoIp } from '../../src/geoip/maxmind-geoip.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';
import { launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { buildMmdb } from '../support/mmdb-writer.js';
import { isAlive } from '../support/settle.js';

// tor's own GeoIP table, installed with tor. ip-to-country is a lookup in that local table: with
// DisableNetwork 1 nothing leaves the machine.
const TOR_GEOIP = '/usr/share/tor/geoip';
const TOR_GEOIP6 = '/usr/share/tor/geoip6';

let torFileLines: string[] | undefined;

/** The country tor's IPv4 file gives `ip`, read straight from the file (lines `LOW,HIGH,CC`). */
async function countryInTorFile(ip: string): Promise<string | undefined> {
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  torFileLines ??= (await readFile(TOR_GEOIP, 'utf8')).split('\n');
  for (const line of torFileLines) {
    if (line.startsWith('#') || !line.includes(',')) continue;
    const [low, high, cc] = line.split(',');
    if (n >= Number(low) && n <= Number(high)) return cc === '??' ? undefined : cc!.trim().toUpperCase();
  }
  return undefined;
}

describe("GeoIP through tor's own table (DisableNetwork 1)", function () {
  this.timeout(60_000);
  let tor: Tor;
  let dir: string;

  before(async () => {
    tor = await launchTor({ config: { DisableNetwork: 1, GeoIPFile: TOR_GEOIP, GeoIPv6File: TOR_GEOIP6 } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-geoip-int-'));
  });

  afterEach(() => sinon.restore());

  after(async () => {
    const pid = tor?.pid;
    await tor?.close();
    if (pid) assert.equal(isAlive(pid), false, 'tor survived close()');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the country of well-known public addresses, as the file says', async () => {
    const geoip = new TorGeoIp(tor.control);
    for (const ip of ['8.8.8.8', '193.0.6.139', '1.1.1.1']) {
      const expected = await countryInTorFile(ip);
      assert.ok(expected, `${ip} is in tor's file`);
      assert.deepEqual(await geoip.lookup(ip), { countryCode: expected }, ip);
    }
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
  });

  it('looks up IPv6 addresses in the geoip6 table', async () => {
    const geoip = new TorGeoIp(tor.control);
    assert.deepEqual(await geoip.lookup('2001:4860:4860::8888'), { countryCode: 'US' });
  });

  it('answers {} for private and loopback addresses without asking tor', async () => {
    const getInfo = sinon.spy(tor.control, 'getInfo');
    const geoip = new TorGeoIp(tor.control);
    for (const ip of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '::1', 'fe80::1']) {
      assert.deepEqual(await geoip.lookup(ip), {}, ip);
    }
    assert.equal(getInfo.callCount, 0);
  });

  it("createGeoIp picks tor's table when no .mmdb is installed", async () => {
    const geoip = await createGeoIp(tor.control, { directories: [dir] });
    assert.ok(geoip instanceof TorGeoIp);
    assert.equal((await geoip.lookup('8.8.8.8')).countryCode, 'US');
  });

  it('createGeoIp with only an ASN database takes the country from tor and the AS from the database', async () => {
    const asnDir = path.join(dir, 'asn-only');
    await import('node:fs/promises').then((fs) => fs.mkdir(asnDir));
    await writeFile(
      path.join(asnDir, 'GeoLite2-ASN.mmdb'),
      buildMmdb({
        databaseType: 'GeoLite2-ASN',
        networks: [{ network: '8.8.8.0/24', data: { autonomous_system_number: 15169, autonomous_system_organization: 'GOOGLE' } }],
      }),
    );
    const geoip = await createGeoIp(tor.control, { directories: [asnDir] });
    assert.ok(geoip instanceof MaxMindGeoIp);
    assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US', asn: 15169, asOrganization: 'GOOGLE' });
  });
});

describe('GeoIP through a tor without GeoIP data (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let tor: Tor;

  before(async () => {
    tor = await launchTor({
      config: { DisableNetwork: 1, GeoIPFile: '/nonexistent/torcon/geoip', GeoIPv6File: '/nonexistent/torcon/geoip6' },
    });
  });

  after(async () => {
    const pid = tor?.pid;
    await tor?.close();
    if (pid) assert.equal(isAlive(pid), false, 'tor survived close()');
  });

  it('fails with TOR_GEOIP_DATABASE instead of pretending the address is unknown', async () => {
    const geoip = new TorGeoIp(tor.control);
    await assert.rejects(geoip.lookup('8.8.8.8'), (e: unknown) => {
      assert.ok(e instanceof GeoIpDatabaseError);
      assert.equal(e.code, 'TOR_GEOIP_DATABASE');
      assert.equal(e.path, 'GeoIPFile');
      return true;
    });
    // Private addresses still need no table.
    assert.deepEqual(await geoip.lookup('127.0.0.1'), {});
  });
});
