import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import sinon from 'sinon';
import { PassThrough } from 'node:stream';
import { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import type { TorConfig } from '../../src/config/tor-config.js';
import { connect, listen } from '../../src/di/endpoint-api.js';
import { TorError, TorInvalidValueError } from '../../src/errors.js';
import { createGeoIp, findGeoIpDatabases } from '../../src/geoip/create-geoip.js';
import { MaxMindGeoIp } from '../../src/geoip/maxmind-geoip.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import type { Circuit } from '../../src/state/circuit.js';
import { TorState } from '../../src/state/tor-state.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import { Tor } from '../../src/tor/tor.js';
import { closedPort } from '../support/closed-port.js';
import { recordControlWrites } from '../support/control-writes.js';
import { FakeControlServer } from '../support/fake-control-server.js';

// In JavaScript, a misspelt option of a call was ignored without a word (TypeScript refuses it
// already): `tor.connect(t, { isolaton: 'a' })` shared a circuit it was meant not to, and
// `{ timeout: 5000 }` set no limit at all. Every public call with options now refuses a key it does
// not take, naming the nearest it does, before it sends anything or opens any socket.

const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const NS_ALL = `r relay0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Running Stable Valid\nw Bandwidth=20`;
const CONFIG_NAMES = ['ContactInfo String', 'SocksPort LineList', 'HiddenServiceDir Dependent', 'HiddenServicePort Dependent', 'HiddenServiceOptions Virtual'].join('\n');
const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';

/** Asserts a TOR_INVALID_VALUE naming `key` (and `near`, the option it nearly is, when given). */
function refusesKey(key: string, near?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TorInvalidValueError, `expected TorInvalidValueError, got ${String(e)}`);
    assert.equal(e.code, 'TOR_INVALID_VALUE');
    assert.match(e.message, new RegExp(`option "${key}"`));
    assert.match(e.message, /is none of its options/);
    if (near !== undefined) assert.match(e.message, new RegExp(`did you mean ${near}\\?`));
    return true;
  };
}

describe('call options: a key a call does not take is refused before any I/O', () => {
  let fake: FakeControlServer;
  let control: TorControl;
  let tor: Tor;
  let state: TorState;
  let config: TorConfig;
  let circuit: Circuit;
  let written: string[];
  let opened: sinon.SinonSpy[];

  before(async () => {
    fake = await FakeControlServer.start();
    fake.info({
      'ns/all': NS_ALL,
      'circuit-status': '7 BUILT $' + FP + '~relay0 PURPOSE=GENERAL',
      'stream-status': '',
      'address-mappings/all': '',
      'entry-guards': '',
      'config/names': CONFIG_NAMES,
      // A port where nothing listens: a SOCKS call that got through would fail there, not hang.
      'net/listeners/socks': `"127.0.0.1:${await closedPort()}"`,
    });
    ({ control } = await openTorControl(fake.endpoint));
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    state = await tor.getState();
    config = await tor.getConfig();
    circuit = state.circuits.get('7')!;
    ({ written } = recordControlWrites(control));
  });
  after(async () => {
    await tor?.close();
    await fake?.close();
  });
  beforeEach(() => {
    written.length = 0;
    opened = [sinon.spy(net, 'connect'), sinon.spy(net, 'createConnection'), sinon.spy(net.Socket.prototype, 'connect'), sinon.spy(net.Server.prototype, 'listen')];
  });
  afterEach(() => {
    for (const s of opened) s.restore();
  });

  /** Nothing went to tor and no socket was opened by the call just made. */
  function nothingDone(): void {
    assert.deepEqual(written, []);
    for (const s of opened) assert.equal(s.callCount, 0, `${s.toString()} was called`);
  }

  // [the call, the key given, the option it nearly is]
  const calls: [string, (bad: Record<string, unknown>) => Promise<unknown>, string, string | undefined][] = [
    ['tor.connect', (o) => tor.connect('example.com:80', o), 'isolaton', 'isolate'],
    ['tor.connect', (o) => tor.connect('example.com:80', o), 'timeout', 'timeoutMs'],
    ['tor.connect', (o) => tor.connect('example.com:80', o), 'Circuit', 'circuit'],
    ['tor.resolve', (o) => tor.resolve('example.com', o), 'isolation', 'isolate'],
    ['tor.resolvePtr', (o) => tor.resolvePtr('127.0.0.1', o), 'timout', 'timeoutMs'],
    ['tor.fetch', (o) => tor.fetch('http://example.com/', o), 'isolaton', 'isolate'],
    ['tor.fetch', (o) => tor.fetch('http://example.com/', o), 'timeout', 'timeoutMs'],
    ['tor.getState', (o) => tor.getState(o), 'clok', 'clock'],
    ['tor.getConfig', (o) => tor.getConfig(o), 'signl', 'signal'],
    ['tor.getStatus', (o) => tor.getStatus(o), 'timeout', 'timeoutMs'],
    ['tor.bootstrapProgress', (o) => tor.bootstrapProgress(o), 'timeout', 'timeoutMs'],
    ['tor.waitForBootstrap', (o) => tor.waitForBootstrap(o), 'onprogress', 'onProgress'],
    ['tor.newIdentity', (o) => tor.newIdentity(o), 'timeout', 'timeoutMs'],
    ['tor.mapAddress', (o) => tor.mapAddress([['a.example', 'b.example']], o), 'timeout', 'timeoutMs'],
    ['tor.createOnionService', (o) => tor.createOnionService({ ports: [{ virtualPort: 80 }], ...o }), 'privatekey', 'privateKey'],
    ['tor.createOnionService ports', (o) => tor.createOnionService({ ports: [{ virtualPort: 80, ...o }] }), 'targt', 'target'],
    ['tor.addOnionClientAuth', (o) => tor.addOnionClientAuth(ONION, 'x'.repeat(52), o), 'permanant', 'permanent'],
    ['tor.removeOnionClientAuth', (o) => tor.removeOnionClientAuth(ONION, o), 'timeout', 'timeoutMs'],
    ['tor.listOnionClientAuth', (o) => tor.listOnionClientAuth(o), 'timeout', 'timeoutMs'],
    ['tor.listOnionServices', (o) => tor.listOnionServices(o), 'timeout', 'timeoutMs'],
    ['tor.removeOnionService', (o) => tor.removeOnionService(ONION, o), 'timeout', 'timeoutMs'],
    ['tor.fetchOnionDescriptor', (o) => tor.fetchOnionDescriptor(ONION, o), 'server', 'servers'],
    ['tor.socks.connect', (o) => tor.socks.connect({ host: 'example.com', port: 80 }, o), 'usename', 'username'],
    ['tor.socks.socksAddress', (o) => tor.socks.socksAddress(o), 'timeout', 'timeoutMs'],
    ['state.buildCircuit', (o) => state.buildCircuit(undefined, o), 'purpse', 'purpose'],
    ['state.closeCircuit', (o) => state.closeCircuit('7', o), 'ifunused', 'ifUnused'],
    ['circuit.close', (o) => circuit.close(o), 'ifUnsed', 'ifUnused'],
    ['circuit.whenBuilt', (o) => circuit.whenBuilt(o), 'timeout', 'timeoutMs'],
    ['circuit.whenClosed', (o) => circuit.whenClosed(o), 'timeout', 'timeoutMs'],
    ['state.closeStream', (o) => state.closeStream('9', 'MISC', o), 'timeout', 'timeoutMs'],
    ['state.mapAddress', (o) => state.mapAddress([['a.example', 'b.example']], o), 'timeout', 'timeoutMs'],
    ['state.loadRouterVersions', (o) => state.loadRouterVersions(o), 'timeout', 'timeoutMs'],
    ['state.loadExitPolicies', (o) => state.loadExitPolicies(o), 'timeout', 'timeoutMs'],
    ['config.get', (o) => config.get('ContactInfo', o), 'Fresh', 'fresh'],
    ['config.getMany', (o) => config.getMany(['ContactInfo'], o), 'frsh', 'fresh'],
    ['config.set', (o) => config.set({ ContactInfo: 'x' }, o), 'timeout', 'timeoutMs'],
    ['config.reset', (o) => config.reset(['ContactInfo'], o), 'timeout', 'timeoutMs'],
    ['config.save', (o) => config.save(o), 'forse', 'force'],
    ['config.hiddenServices', (o) => config.hiddenServices(o), 'fresh2', 'fresh'],
    ['config.defaults', (o) => config.defaults(o), 'timeout', 'timeoutMs'],
    ['connect', (o) => connect('tcp:127.0.0.1:1', o), 'tor2', 'tor'],
    ['connect', (o) => connect('tcp:127.0.0.1:1', o), 'timeoutMs', undefined],
    ['listen', (o) => listen(http.createServer(), 'tcp:0', o), 'signall', 'signal'],
  ];
  for (const [name, call, key, near] of calls) {
    it(`${name} refuses "${key}"${near ? `, naming ${near}` : ''}`, async () => {
      await assert.rejects(call({ [key]: key === 'timeout' || key === 'timout' || key === 'timeoutMs' ? 5000 : 'x' }), refusesKey(key, near));
      nothingDone();
    });
  }

  it('control commands refuse a misspelt limit, and let other keys through (torcon hands on whole options)', async () => {
    await assert.rejects(control.getInfo('version', { timeout: 5000 } as never), (e: unknown) => {
      assert.ok(e instanceof TorInvalidValueError);
      assert.equal(e.message, 'invalid GETINFO option "timeout": is none of its options (did you mean timeoutMs?)');
      return true;
    });
    await assert.rejects(control.command('SIGNAL NEWNYM', { signl: AbortSignal.timeout(1000) } as never), refusesKey('signl', 'signal'));
    nothingDone();
    fake.info({ version: '0.4.9.1' });
    assert.equal(await control.getInfo('version', { fresh: true, timeoutMs: 5000 } as never), '0.4.9.1');
  });

  it('new TorControl refuses a misspelt option and options of the wrong kind, and takes null as none', () => {
    const socket = new PassThrough();
    try {
      assert.throws(() => new TorControl(socket, { replyTimeout: 1000 } as never), refusesKey('replyTimeout', 'replyTimeoutMs'));
      assert.throws(() => new TorControl(socket, 1000 as never), (e: unknown) => e instanceof TorInvalidValueError && /must be an object/.test(e.message));
      new TorControl(socket, null as never).destroy();
    } finally {
      socket.destroy();
    }
  });

  it('control.events refuses an option it does not take, and options of the wrong kind', () => {
    assert.throws(() => control.events('BW', { maxbuffered: 10 } as never), refusesKey('maxbuffered', 'maxBuffered'));
    assert.throws(() => control.events('BW', 10 as never), (e: unknown) => e instanceof TorInvalidValueError && /must be an object/.test(e.message));
    nothingDone();
  });

  it('values of the wrong kind are TOR_INVALID_VALUE, not a TypeError later (found by QA)', async () => {
    const invalid = (pattern: RegExp) => (e: unknown) => e instanceof TorInvalidValueError && pattern.test(e.message);
    await assert.rejects(tor.connect('127.0.0.1:80', [] as never), invalid(/options: must be an object.*an array/));
    await assert.rejects(tor.getState([] as never), invalid(/must be an object/));
    await assert.rejects(config.get('ContactInfo', { fresh: 'true' } as never), invalid(/fresh: must be a boolean/));
    assert.throws(() => tor.httpAgent({ agent: 'x' } as never), invalid(/httpAgent agent: must be an object/));
    await assert.rejects(tor.socks.connect({ host: '127.0.0.1', port: 80 }, { beforeHandshake: 1 } as never), invalid(/beforeHandshake: must be a function/));
    await assert.rejects(connect('tcp:127.0.0.1:1', { registry: {} } as never), invalid(/registry: must be a PluginRegistry/));
    await assert.rejects(connect('tcp:127.0.0.1:1', { getTor: 'x' } as never), invalid(/getTor: must be a function/));
    await assert.rejects(tor.createOnionService({ ports: 80 } as never), invalid(/ports must be an array/));
    await assert.rejects(createGeoIp(tor as never), invalid(/TorGeoIp control: must be a TorControl/));
    assert.throws(() => new TorGeoIp(null as never), invalid(/must be a TorControl/));
    await assert.rejects(MaxMindGeoIp.open({ citydatabase: '/nonexistent' } as never), refusesKey('citydatabase', 'cityDatabase'));
    nothingDone();
  });

  it('the synchronous ones throw: tor.httpAgent, new TorSocksClient, new TorState', () => {
    assert.throws(() => tor.httpAgent({ keepalive: true } as never), refusesKey('keepalive', 'keepAlive'));
    assert.throws(() => new TorSocksClient(null, { socksport: 9050 } as never), refusesKey('socksport', 'socksPort'));
    assert.throws(() => new TorState(control, { procroot: '/proc' } as never), refusesKey('procroot', 'procRoot'));
    nothingDone();
  });

  it('the message lists what the call does take', async () => {
    await assert.rejects(tor.connect('example.com:80', { bogus: 1 } as never), (e: unknown) => {
      assert.ok(e instanceof TorError);
      assert.equal(e.message, 'invalid tor.connect option "bogus": is none of its options; known: socksPort, socksHostname, tls, isolate, username, password, signal, timeoutMs, circuit');
      return true;
    });
  });

  it('getState and getConfig refuse a signal already aborted even when the answer is ready (found by QA)', async () => {
    const aborted = (e: unknown) => e instanceof TorError && e.code === 'TOR_ABORTED';
    await assert.rejects(tor.getState({ signal: AbortSignal.abort() }), aborted);
    await assert.rejects(tor.getConfig({ signal: AbortSignal.abort() }), aborted);
    assert.equal(await tor.getState(), state);
  });

  it('so do answers known already: whenBuilt of a built circuit, whenClosed of a closed one, a cached config value or GeoIP answer (found by QA)', async () => {
    const reason = new Error('shutting down');
    // The known answers, read once without a signal.
    await config.get('ContactInfo');
    fake.info({ 'ip-to-country/8.8.8.8': 'us' });
    const geoip = new TorGeoIp(control);
    await geoip.lookup('8.8.8.8');
    const closing = new Promise<Circuit>((resolve) => state.once('circuitClosed', resolve));
    fake.event('CIRC 8 LAUNCHED');
    fake.event('CIRC 8 CLOSED REASON=FINISHED');
    const closed = await closing;
    assert.equal(await closed.whenClosed(), closed);
    written.length = 0;
    const aborted = (name: string) => (e: unknown) => {
      // The circuit waits wrap it in a TorCircuitError, as they do for a wait given up.
      const abort = e instanceof TorError && e.code === 'TOR_ABORTED' ? e : (e as { cause?: unknown } | null)?.cause;
      assert.ok(abort instanceof TorError && abort.code === 'TOR_ABORTED', `${name}: ${String(e)}`);
      assert.equal(abort.cause, reason, name);
      return true;
    };
    for (const [name, run] of [
      ['circuit.whenBuilt (built)', () => state.circuits.get('7')!.whenBuilt({ signal: AbortSignal.abort(reason) })],
      ['circuit.whenClosed (closed)', () => closed.whenClosed({ signal: AbortSignal.abort(reason) })],
      ['config.get (cached)', () => config.get('ContactInfo', { signal: AbortSignal.abort(reason) })],
      ['geoip.lookup (cached)', () => geoip.lookup('8.8.8.8', { signal: AbortSignal.abort(reason) })],
      ['geoip.lookup (a private address: no question)', () => geoip.lookup('10.0.0.1', { signal: AbortSignal.abort(reason) })],
    ] as const) {
      await assert.rejects(run(), aborted(name));
    }
    assert.deepEqual(written, []);
  });

  it('a key whose value is undefined is let through (spread optional values leave them)', async () => {
    // A built circuit: whenBuilt answers at once, with nothing sent.
    assert.equal(await circuit.whenBuilt({ timeout: undefined } as never), circuit);
    assert.equal(await tor.getState({ clok: undefined } as never), state);
  });

  it("fetch's own options are checked, the platform's RequestInit keys are not", async () => {
    // `priority` is a RequestInit key torcon does not list; the request goes on (and fails at the
    // closed SOCKS port, with a SOCKS error, not an option error).
    const socks = new TorSocksClient(null, { socksPort: await closedPort() });
    try {
      await assert.rejects(socks.fetch('http://example.com/', { priority: 'high', timeoutMs: 5000 } as never), (e: unknown) => {
        assert.ok(e instanceof TorError);
        assert.notEqual(e.code, 'TOR_INVALID_VALUE');
        return true;
      });
      await assert.rejects(socks.fetch('http://example.com/', { Isolate: 'a' } as never), refusesKey('Isolate', 'isolate'));
    } finally {
      socks.close();
    }
  });
});

describe('GeoIP options: a misspelt one is refused, not a database silently missed', () => {
  it('createGeoIp, findGeoIpDatabases and MaxMindGeoIp.open refuse before opening any file', async () => {
    await assert.rejects(createGeoIp(undefined, { cityDatabse: '/nonexistent/city.mmdb' } as never), refusesKey('cityDatabse', 'cityDatabase'));
    await assert.rejects(findGeoIpDatabases({ directory: ['/nonexistent'] } as never), refusesKey('directory', 'directories'));
    // Had the options been taken, opening /nonexistent would have failed with TOR_GEOIP_DATABASE instead.
    await assert.rejects(MaxMindGeoIp.open({ cityDatabase: '/nonexistent/city.mmdb', asnDatabse: '/nonexistent/asn.mmdb' } as never), refusesKey('asnDatabse', 'asnDatabase'));
  });

  it('TorGeoIp refuses a misspelt option, a cache size that is no whole number, and a misspelt lookup limit', async () => {
    const control = { getInfo: () => Promise.reject(new Error('not asked')) } as never;
    assert.throws(() => new TorGeoIp(control, { cachesize: 5 } as never), refusesKey('cachesize', 'cacheSize'));
    assert.throws(() => new TorGeoIp(control, { cacheSize: -1 }), (e: unknown) => e instanceof TorInvalidValueError && /cacheSize.*whole number/.test(e.message));
    assert.throws(() => new TorGeoIp(control, 5 as never), (e: unknown) => e instanceof TorInvalidValueError && /must be an object/.test(e.message));
    await assert.rejects(new TorGeoIp(control).lookup('1.1.1.1', { timeout: 5 } as never), refusesKey('timeout', 'timeoutMs'));
  });
});

describe('connectTor: options of the wrong kind (found by QA)', () => {
  it('refuses a control, password or cookieFile that is no string, and an array of options, before connecting', async () => {
    const invalid = (pattern: RegExp) => (e: unknown) => e instanceof TorInvalidValueError && pattern.test(e.message);
    await assert.rejects(connectTor({ control: { host: '127.0.0.1', port: 9051 } } as never), invalid(/connectTor control: must be a string \(an endpoint/));
    await assert.rejects(connectTor({ control: 'tcp:127.0.0.1:1', password: 1234 } as never), invalid(/connectTor password: must be a string, got a number/));
    await assert.rejects(connectTor({ control: 'tcp:127.0.0.1:1', cookieFile: 5 } as never), invalid(/connectTor cookieFile: must be a string/));
    await assert.rejects(connectTor([] as never), invalid(/must be an object/));
  });

  it('takes null as no options (it threw a TypeError)', async () => {
    const before = process.env['TOR_CONTROL'];
    process.env['TOR_CONTROL'] = `tcp:127.0.0.1:${await closedPort()}`;
    try {
      await assert.rejects(connectTor(null as never), (e: unknown) => e instanceof TorError && e.code === 'TOR_NOT_AVAILABLE');
    } finally {
      if (before === undefined) delete process.env['TOR_CONTROL'];
      else process.env['TOR_CONTROL'] = before;
    }
  });
});
