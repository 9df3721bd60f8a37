import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { TorControl } from '../../src/control/tor-control.js';
import { TorConfig } from '../../src/config/tor-config.js';
import { TorAbortError, TorControlClosedError, TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import type { ConfLine } from '../../src/config/config-types.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';

/**
 * Cache behaviour against a scripted control port, for orderings real tor produces only by chance
 * (an event in the same read as an older reply). Everything else about TorConfig is tested against
 * real tor in test/integration/config.test.ts.
 */
const NAMES = '250+config/names=\r\nContactInfo String\r\nNickname String\r\nSocksPort Dependent\r\nSocksPortLines Virtual\r\n.\r\n250 OK\r\n';

const GROUP_NAMES =
  '250+config/names=\r\nContactInfo String\r\nHiddenServiceOptions Virtual\r\nHiddenServiceDir Dependent\r\n' +
  'HiddenServiceDirGroupReadable Dependent\r\nHiddenServiceMaxStreams Dependent\r\nHiddenServiceMaxStreamsCloseCircuit Dependent\r\n.\r\n250 OK\r\n';

describe('config: TorConfig cache (scripted control port)', () => {
  let peer: ScriptedPeer;
  let control: TorControl;
  let config: TorConfig;

  const getconfCount = () => peer.received.filter((l) => l.startsWith('GETCONF')).length;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    peer.auto.set('GETINFO', NAMES);
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    control = new TorControl(await connectRaw(peer.port));
    config = await TorConfig.create(control);
    assert.ok(peer.received.includes('SETEVENTS CONF_CHANGED'));
  });

  afterEach(async () => {
    await config.close();
    control.destroy();
    await peer.close();
  });

  it('refuses an option given twice in different case, sending nothing (tor would keep both lines, or only the last)', async () => {
    const before = peer.received.length;
    const twice: Array<Record<string, string | string[]>> = [{ SocksPort: ['9050'], socksport: ['9150'] }, { ContactInfo: 'a', contactinfo: 'b' }];
    for (const values of twice) {
      await assert.rejects(config.set(values), (err: unknown) => err instanceof TorInvalidValueError && /given twice/.test(err.message));
    }
    assert.equal(peer.received.length, before, 'nothing was sent');
  });

  it('refuses a malformed MetricsPortPolicy, sending nothing (tor 0.4.9 would exit on it rather than refuse it)', async () => {
    peer.auto.set('GETINFO', NAMES.replace('ContactInfo String', 'ContactInfo String\r\nMetricsPortPolicy LineList'));
    const cfg = await TorConfig.create(control);
    try {
      const before = peer.received.length;
      for (const value of ['z', ['accept 127.0.0.1', 'reject'], 'accept 127.0.0.1:0']) {
        await assert.rejects(
          cfg.set({ MetricsPortPolicy: value }),
          (err: unknown) => err instanceof TorInvalidValueError && /MetricsPortPolicy/.test(err.message) && /would exit/.test(err.message),
        );
      }
      assert.equal(peer.received.length, before, 'nothing was sent');
      peer.auto.set('SETCONF', '250 OK\r\n');
      await cfg.set({ metricsportpolicy: ['accept 127.0.0.1', 'reject *'] });
      assert.ok(peer.received.includes('SETCONF MetricsPortPolicy="accept 127.0.0.1" MetricsPortPolicy="reject *"'));
    } finally {
      await cfg.close();
    }
  });

  it('util.inspect at any depth does not show the cached values (they may be secrets: Socks5ProxyPassword...)', async () => {
    peer.auto.set('GETCONF', '250 ContactInfo=PLANTEDSECRET\r\n');
    assert.equal(await config.get('ContactInfo'), 'PLANTEDSECRET');
    assert.equal(getconfCount(), 1);
    assert.equal(await config.get('ContactInfo'), 'PLANTEDSECRET', 'from the cache');
    assert.equal(getconfCount(), 1);
    assert.doesNotMatch(inspect(config, { depth: null, showHidden: true }), /PLANTEDSECRET/);
  });

  it('does not cache a GETCONF reply that a CONF_CHANGED in the same read has overtaken', async () => {
    // Both in one write: the reply is parsed first, the event right after, before the caller resumes.
    peer.auto.set('GETCONF', '250 ContactInfo=old\r\n650-CONF_CHANGED\r\n650-ContactInfo=new\r\n650 OK\r\n');
    assert.equal(await config.get('ContactInfo'), 'old');
    peer.auto.set('GETCONF', '250 ContactInfo=new\r\n');
    assert.equal(await config.get('ContactInfo'), 'new');
    assert.equal(getconfCount(), 2);
    assert.equal(await config.get('ContactInfo'), 'new');
    assert.equal(getconfCount(), 2);
  });

  it('caches GETCONF answers until a CONF_CHANGED names the option; never caches the event\'s value', async () => {
    peer.auto.set('GETCONF', '250-ContactInfo=me\r\n250 Nickname\r\n');
    assert.deepEqual(await config.getMany(['contactinfo', 'Nickname']), { contactinfo: 'me', Nickname: null });
    assert.equal(await config.get('ContactInfo'), 'me');
    assert.equal(getconfCount(), 1);
    assert.equal(peer.received.at(-1), 'GETCONF ContactInfo Nickname');

    const changed = new Promise<readonly ConfLine[]>((resolve) => config.once('changed', resolve));
    // An event may describe a state older than what GETCONF says now (tor sends events late): the
    // value it carries ("stale") must not be served.
    peer.write('650-CONF_CHANGED\r\n650-Nickname=stale\r\n650-ContactInfo\r\n650 OK\r\n');
    assert.deepEqual(await changed, [
      { key: 'Nickname', value: 'stale' },
      { key: 'ContactInfo', value: null },
    ]);
    peer.auto.set('GETCONF', (line) => (line === 'GETCONF Nickname' ? '250 Nickname=Bob\r\n' : '250 ContactInfo\r\n'));
    assert.equal(await config.get('Nickname'), 'Bob');
    assert.equal(await config.get('ContactInfo'), null);
    assert.equal(getconfCount(), 3);
    // `fresh` asks tor even for a cached option.
    assert.equal(await config.get('Nickname', { fresh: true }), 'Bob');
    assert.equal(getconfCount(), 4);
  });

  it('asks a grouped option whose name extends another asked on its own, so that no line comes twice', async () => {
    // Tor answers a grouped option with every line of the group whose key starts with the name
    // asked: GETCONF HiddenServiceDir also returns HiddenServiceDirGroupReadable.
    await config.close();
    peer.auto.set('GETINFO', GROUP_NAMES);
    config = await TorConfig.create(control);
    const group: Array<[string, string]> = [
      ['HiddenServiceDir', '/a'],
      ['HiddenServiceDirGroupReadable', '1'],
      ['HiddenServiceMaxStreams', '7'],
      ['HiddenServiceMaxStreamsCloseCircuit', '1'],
      ['HiddenServiceDir', '/b'],
      ['HiddenServiceDirGroupReadable', '0'],
    ];
    peer.auto.set('GETCONF', (line) => {
      const lines: string[] = [];
      for (const asked of line.slice('GETCONF '.length).split(' ')) {
        const found = group.filter(([k]) => k.toLowerCase().startsWith(asked.toLowerCase()));
        if (found.length === 0) lines.push(asked);
        else for (const [k, v] of found) lines.push(`${k}=${v}`);
      }
      return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
    });
    const names = ['HiddenServiceDir', 'HiddenServiceDirGroupReadable', 'HiddenServiceMaxStreams', 'HiddenServiceMaxStreamsCloseCircuit', 'ContactInfo'];
    assert.deepEqual(await config.getMany(names), {
      HiddenServiceDir: ['/a', '/b'],
      HiddenServiceDirGroupReadable: ['1', '0'],
      HiddenServiceMaxStreams: ['7'],
      HiddenServiceMaxStreamsCloseCircuit: ['1'],
      ContactInfo: null,
    });
    const sent = peer.received.filter((l) => l.startsWith('GETCONF')).sort();
    assert.deepEqual(sent, [
      'GETCONF HiddenServiceDir HiddenServiceMaxStreams ContactInfo',
      'GETCONF HiddenServiceDirGroupReadable',
      'GETCONF HiddenServiceMaxStreamsCloseCircuit',
    ]);
    // The cache holds the same single lines.
    assert.deepEqual(await config.get('HiddenServiceDirGroupReadable'), ['1', '0']);
    assert.equal(getconfCount(), 3);
  });

  it('an async "changed" listener that rejects is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      let called = 0;
      config.on('changed', async () => {
        called++;
        throw new Error('listener bug');
      });
      const changed = new Promise((resolve) => config.once('changed', resolve));
      peer.write('650-CONF_CHANGED\r\n650-Nickname=x\r\n650 OK\r\n');
      await changed;
      await new Promise((r) => setImmediate(r));
      assert.equal(called, 1);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('refuses to read a virtual option (its lines carry other keys), naming what to read instead; sends nothing', async () => {
    // tor answers GETCONF SocksPortLines with SocksPort= and __SocksPort= lines, and GETCONF
    // HiddenServiceOptions with every line of every group: values without their keys mean nothing.
    await config.close();
    peer.auto.set('GETINFO', GROUP_NAMES.replace('ContactInfo String', 'ContactInfo String\r\nSocksPort Dependent\r\n__SocksPort Dependent\r\nSocksPortLines Virtual'));
    config = await TorConfig.create(control);
    peer.auto.set('GETCONF', '250-SocksPort=9050\r\n250 __SocksPort=9150\r\n');
    const before = peer.received.length;
    const reads: Array<[string, (name: string) => Promise<unknown>]> = [
      ['get', (n) => config.get(n)],
      ['getMany', (n) => config.getMany(['ContactInfo', n])],
      ['getRaw', (n) => config.getRaw(n)],
      ['getList', (n) => config.getList(n)],
      ['getString', (n) => config.getString(n)],
      ['getNumber', (n) => config.getNumber(n)],
      ['getBoolean', (n) => config.getBoolean(n)],
    ];
    for (const [method, read] of reads) {
      await assert.rejects(read('socksportlines'), (err: unknown) => {
        assert.ok(err instanceof TorInvalidValueError, `${method}: ${String(err)}`);
        assert.match(err.message, /SocksPortLines: is virtual/);
        assert.match(err.message, /read SocksPort and __SocksPort/);
        return true;
      });
      await assert.rejects(read('HiddenServiceOptions'), (err: unknown) => {
        assert.ok(err instanceof TorInvalidValueError, `${method}: ${String(err)}`);
        assert.match(err.message, /HiddenServiceOptions: is virtual/);
        assert.match(err.message, /hiddenServices\(\)/);
        return true;
      });
    }
    assert.equal(peer.received.length, before, 'nothing was sent');
  });

  it('getNumber and getBoolean refuse an option of another type before reading it, set or unset (an unset one gave null)', async () => {
    await config.close();
    peer.auto.set('GETINFO', NAMES.replace('ContactInfo String', 'ContactInfo String\r\nBandwidthRate DataSize\r\nDisableNetwork Boolean\r\nCookieAuthFile Filename'));
    config = await TorConfig.create(control);
    // Answered as unset, should one be asked (as before the fix): then it resolved with null.
    peer.auto.set('GETCONF', (line) => `250 ${line.split(' ')[1]}\r\n`);
    const before = peer.received.length;
    const wrong: Array<[string, (name: string) => Promise<unknown>, string]> = [
      ['getNumber', (n) => config.getNumber(n), 'ContactInfo'],
      ['getNumber', (n) => config.getNumber(n), 'CookieAuthFile'],
      ['getNumber', (n) => config.getNumber(n), 'DisableNetwork'],
      ['getNumber', (n) => config.getNumber(n), 'SocksPort'],
      ['getBoolean', (n) => config.getBoolean(n), 'ContactInfo'],
      ['getBoolean', (n) => config.getBoolean(n), 'BandwidthRate'],
      ['getBoolean', (n) => config.getBoolean(n), 'SocksPort'],
    ];
    for (const [method, read, name] of wrong) {
      await assert.rejects(read(name), (err: unknown) => {
        assert.ok(err instanceof TorInvalidValueError, `${method}(${name}): ${String(err)}`);
        assert.match(err.message, new RegExp(`config option ${name}: is an? [\\w+]+, not a (number|boolean)`));
        return true;
      }, `${method}(${name})`);
    }
    assert.equal(peer.received.length, before, 'nothing was sent');
    // Their own types still read, null when unset.
    peer.auto.set('GETCONF', '250 BandwidthRate\r\n');
    assert.equal(await config.getNumber('BandwidthRate'), null);
    peer.auto.set('GETCONF', '250 DisableNetwork=1\r\n');
    assert.equal(await config.getBoolean('DisableNetwork'), true);
  });

  it('hiddenServices() forgets its groups when one of their options changes', async () => {
    await config.close();
    peer.auto.set('GETINFO', GROUP_NAMES);
    config = await TorConfig.create(control);
    peer.auto.set('GETCONF', '250-HiddenServiceDir=/a\r\n250 HiddenServiceMaxStreams=5\r\n');
    assert.deepEqual(await config.hiddenServices(), [{ dir: '/a', ports: [], options: [['HiddenServiceMaxStreams', '5']] }]);
    assert.equal(peer.received.at(-1), 'GETCONF HiddenServiceOptions');
    assert.equal((await config.hiddenServices()).length, 1);
    assert.equal(getconfCount(), 1, 'cached');
    const changed = new Promise((resolve) => config.once('changed', resolve));
    peer.write('650-CONF_CHANGED\r\n650-HiddenServiceMaxStreams=7\r\n650 OK\r\n');
    await changed;
    peer.auto.set('GETCONF', '250-HiddenServiceDir=/a\r\n250 HiddenServiceMaxStreams=7\r\n');
    assert.deepEqual(await config.hiddenServices(), [{ dir: '/a', ports: [], options: [['HiddenServiceMaxStreams', '7']] }]);
    assert.equal(getconfCount(), 2);
  });

  it('drops the whole cache on a CONF_CHANGED it cannot parse', async () => {
    peer.auto.set('GETCONF', '250 Nickname=A\r\n');
    assert.equal(await config.get('Nickname'), 'A');
    // A second listener on the same event runs right after TorConfig's: when it fires, TorConfig has
    // seen the event too.
    let seen!: () => void;
    const delivered = new Promise<void>((resolve) => (seen = resolve));
    const off = await control.subscribe('CONF_CHANGED', () => seen());
    peer.write('650-CONF_CHANGED\r\n650-Nickname="unterminated\r\n650 OK\r\n');
    await delivered;
    await off();
    peer.auto.set('GETCONF', '250 Nickname=B\r\n');
    assert.equal(await config.get('Nickname'), 'B');
  });

  // What a JavaScript caller may pass where the options go: null is none, as undefined is.
  it('null options are none for every method (they threw a bare TypeError); a force that is no boolean is TOR_INVALID_VALUE', async () => {
    peer.auto.set('GETCONF', '250 ContactInfo=me\r\n');
    peer.auto.set('SAVECONF', '250 OK\r\n');
    const none = null as never;
    assert.equal(await config.get('ContactInfo', none), 'me');
    assert.deepEqual(await config.getMany(['ContactInfo'], none), { ContactInfo: 'me' });
    assert.deepEqual(await config.getRaw('ContactInfo', none), ['me']);
    assert.equal(await config.getString('ContactInfo', none), 'me');
    await config.save(none);
    assert.equal(peer.received.at(-1), 'SAVECONF');
    const before = peer.received.length;
    await assert.rejects(config.save({ force: 'yes' as never }), (e: unknown) => e instanceof TorInvalidValueError && /force/.test(e.message));
    assert.equal(peer.received.length, before, 'nothing was sent');
    const bare = new TorConfig(control, [{ name: 'ContactInfo', type: 'String' }]);
    await bare.start(none);
    await bare.close();
    peer.auto.set('GETINFO', GROUP_NAMES);
    const other = await TorConfig.create(control, none);
    try {
      peer.auto.set('GETCONF', '250 HiddenServiceOptions\r\n');
      assert.deepEqual(await other.hiddenServices(none), []);
      peer.auto.set('GETINFO', '250+config/defaults=\r\nContactInfo ""\r\n.\r\n250 OK\r\n');
      assert.deepEqual([...(await other.defaults(none)).keys()], ['ContactInfo']);
    } finally {
      await other.close();
    }
  });

  it('refuses unknown option names before sending anything', async () => {
    const before = peer.received.length;
    await assert.rejects(config.get('NoSuchOption'), TorInvalidValueError);
    await assert.rejects(config.set({ NoSuchOption: 1 }), TorInvalidValueError);
    assert.equal(peer.received.length, before);
  });

  it('names the option a misspelt name nearly is (SocksPorts: SocksPort), and none for a name far from all', async () => {
    const near = (e: unknown) => e instanceof TorInvalidValueError && /SocksPorts is not an option of this tor \(did you mean SocksPort\?\)/.test(e.message);
    await assert.rejects(config.get('SocksPorts'), near);
    await assert.rejects(config.set({ SocksPorts: [9050] }), near);
    await assert.rejects(config.getList('Nicknam'), /Nicknam is not an option of this tor \(did you mean Nickname\?\)/);
    await assert.rejects(config.get('NoSuchOption'), (e: unknown) => e instanceof TorInvalidValueError && !/did you mean/.test(e.message));
  });

  it('after close(): unsubscribed, and every call fails with TOR_CONTROL_CLOSED', async () => {
    await config.close();
    assert.equal(peer.received.at(-1), 'SETEVENTS');
    await assert.rejects(config.get('Nickname'), TorControlClosedError);
    await assert.rejects(config.set({ Nickname: 'x' }), TorControlClosedError);
  });

  it('when the control connection dies, calls fail instead of serving a cache nobody updates', async () => {
    peer.auto.set('GETCONF', '250 Nickname=A\r\n');
    assert.equal(await config.get('Nickname'), 'A');
    const closed = new Promise((resolve) => control.once('close', resolve));
    peer.cut();
    await closed;
    await assert.rejects(config.get('Nickname'), (e: unknown) => e instanceof TorControlClosedError);
  });
});

describe('config: TorConfig.defaults (scripted control port)', () => {
  it("one caller's timeout or abort bounds its own wait, not the other callers'", async () => {
    const peer = await ScriptedPeer.start();
    peer.auto.set('GETINFO', NAMES);
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const config = await TorConfig.create(control);
      peer.auto.delete('GETINFO');
      const before = peer.received.length;
      const impatient = assert.rejects(config.defaults({ timeoutMs: 1 }), TorTimeoutError);
      const ac = new AbortController();
      const aborted = assert.rejects(config.defaults({ signal: ac.signal }), TorAbortError);
      const patient = config.defaults();
      await peer.waitForLines(before + 1);
      await impatient;
      ac.abort();
      await aborted;
      peer.write('250+config/defaults=\r\nContactInfo "x y"\r\n.\r\n250 OK\r\n');
      assert.deepEqual((await patient).get('ContactInfo'), ['x y']);
      assert.equal(peer.received.filter((l) => l === 'GETINFO config/defaults').length, 1, 'one GETINFO for all');
      await config.close();
    } finally {
      control.destroy();
      await peer.close();
    }
  });
});
