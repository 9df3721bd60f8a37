import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import sinon from 'sinon';
import { addressPolicyProblem } from '../../src/config/address-policy.js';
import { TorConfig } from '../../src/config/tor-config.js';
import type { ConfLine, HiddenServiceConfig } from '../../src/config/config-types.js';
import { TorControlError, TorInvalidValueError } from '../../src/errors.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { isAlive } from '../support/settle.js';

// DisableNetwork 1: tor's configuration machinery works fully and nothing leaves the machine.
const OFFLINE = { DisableNetwork: 1 } as const;

describe('TorConfig against a real tor (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let tor: Tor;
  let other: Tor; // a second control connection to the same tor: "someone else"
  let config: TorConfig;
  let otherConfig: TorConfig;
  let dataDir: string;

  before(async () => {
    tor = await launchTor({ config: OFFLINE });
    other = await connectTor({ control: tor.controlEndpoint });
    config = await TorConfig.create(tor.control);
    otherConfig = await TorConfig.create(other.control);
    dataDir = (await config.getString('DataDirectory'))!;
  });

  afterEach(() => sinon.restore());

  after(async () => {
    await config?.close();
    await otherConfig?.close();
    await other?.close();
    const pid = tor?.pid;
    await tor?.close();
    if (pid) assert.equal(isAlive(pid), false, 'tor survived close()');
  });

  it("knows every option's type from config/names", () => {
    assert.ok(config.options.size > 300);
    assert.equal(config.typeOf('socksport'), 'Dependent');
    assert.equal(config.typeOf('ContactInfo'), 'String');
    assert.equal(config.typeOf('HiddenServiceOptions'), 'Virtual');
    assert.equal(config.typeOf('DisableNetwork'), 'Boolean');
    assert.equal(config.typeOf('NoSuchOption'), undefined);
  });

  it('returns typed values, many options in one GETCONF', async () => {
    const command = sinon.spy(tor.control, 'command');
    const v = await config.getMany([
      'DisableNetwork',
      'BandwidthRate',
      'KeepalivePeriod',
      'PathsNeededToBuildCircuits',
      'LongLivedPorts',
      'ConnectionPadding',
      'ExitPolicy',
      'Nickname',
    ]);
    assert.deepEqual(
      command.getCalls().map((c) => c.args[0]),
      ['GETCONF DisableNetwork BandwidthRate KeepalivePeriod PathsNeededToBuildCircuits LongLivedPorts ConnectionPadding ExitPolicy Nickname'],
    );
    assert.equal(v['DisableNetwork'], true);
    assert.equal(v['BandwidthRate'], 1073741824); // 1 GB, tor's default, in bytes
    assert.equal(v['KeepalivePeriod'], 300);
    assert.equal(v['PathsNeededToBuildCircuits'], -1);
    assert.ok(Array.isArray(v['LongLivedPorts']) && (v['LongLivedPorts'] as string[]).includes('22'));
    assert.equal(v['ConnectionPadding'], 'auto');
    assert.deepEqual(v['ExitPolicy'], []);
    assert.equal(v['Nickname'], null);
    // Cached now: no second GETCONF.
    assert.equal(await config.get('KeepalivePeriod'), 300);
    assert.equal(command.callCount, 1);
  });

  it('sets numbers from tor syntax and from JavaScript values, and resets to defaults', async () => {
    await config.set({ BandwidthRate: '2 MB', NumCPUs: 3 });
    assert.equal(await config.getNumber('BandwidthRate'), 2 * 1024 * 1024);
    assert.equal(await otherConfig.getNumber('NumCPUs', { fresh: true }), 3);
    await config.set({ BandwidthRate: 3 * 1024 * 1024 });
    assert.equal(await otherConfig.get('BandwidthRate', { fresh: true }), 3 * 1024 * 1024);
    await config.reset(['BandwidthRate', 'numcpus']);
    assert.equal(await otherConfig.get('BandwidthRate', { fresh: true }), 1073741824);
    assert.equal(await config.get('NumCPUs'), 0);
  });

  it('round-trips hostile values: spaces, quotes, backslashes, tabs, unicode, leading/trailing blanks', async () => {
    const values = [
      'plain',
      'two words',
      'say "hi"',
      'back\\slash \\" and \\\\ double',
      'tab\there',
      '  padded both sides  ',
      'unicode é ü 日本語 😀',
      '# not a comment; a=b, c',
      '"fully quoted"',
      '\\',
    ];
    for (const value of values) {
      await config.set({ ContactInfo: value });
      // Read back through another connection, so nothing can come from our own cache.
      assert.equal(await otherConfig.getString('ContactInfo', { fresh: true }), value, JSON.stringify(value));
      assert.equal(await config.get('ContactInfo'), value, JSON.stringify(value));
    }
    await config.set({ ContactInfo: null });
    assert.equal(await otherConfig.get('ContactInfo', { fresh: true }), null);
  });

  it('refuses CR, LF, NUL, lone surrogates and fractions for whole-number options with TOR_INVALID_VALUE without writing a byte, and changes nothing', async () => {
    await config.set({ ContactInfo: 'before' });
    const write = sinon.spy((tor.control as unknown as { socket: { write: () => boolean } }).socket, 'write');
    const attempts: Array<() => Promise<unknown>> = [
      () => config.set({ ContactInfo: 'x\r\nSETCONF DisableNetwork=0' }),
      () => config.set({ ContactInfo: 'x\ny' }),
      () => config.set({ ContactInfo: 'x\0y' }),
      () => config.set({ Nickname: 'ok', ContactInfo: 'bad\r' }), // all or nothing: the good one is not sent either
      () => config.set({ SocksPort: ['auto', '127.0.0.1:auto\nIsolateDestAddr'] }),
      () => config.setHiddenServices([{ dir: path.join(dataDir, 'hs-x'), ports: ['80\r\n'], options: [] }]),
      () => config.setHiddenServices([{ dir: path.join(dataDir, 'hs-x'), ports: ['80'], options: [['HiddenServiceMaxStreams', '1\n']] }]),
      // tor would store U+FFFD for the lone surrogate, and 1 byte/s for 1.5, without a word.
      () => config.set({ ContactInfo: 'x\ud800y' }),
      () => config.set({ Nickname: 'ok', BandwidthRate: 1.5 }),
      () => config.set({ KeepalivePeriod: 2 ** 60 }),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt(), (e: unknown) => e instanceof TorInvalidValueError && e.code === 'TOR_INVALID_VALUE');
    }
    assert.equal(write.callCount, 0);
    write.restore();
    assert.equal(await otherConfig.get('ContactInfo', { fresh: true }), 'before');
    assert.equal(await otherConfig.get('Nickname', { fresh: true }), null);
    assert.equal(await otherConfig.get('DisableNetwork', { fresh: true }), true);
    // What UTF-8 can carry goes through as it is: a surrogate pair, a Float's fraction.
    await config.set({ ContactInfo: 'x\u{1F600}y', CircuitPriorityHalflife: 2.5 });
    assert.equal(await otherConfig.get('ContactInfo', { fresh: true }), 'x\u{1F600}y');
    assert.equal(await otherConfig.get('CircuitPriorityHalflife', { fresh: true }), 2.5);
    await config.reset(['ContactInfo', 'CircuitPriorityHalflife']);
    await config.set({ ContactInfo: 'before' });
  });

  it('reports what tor refuses as TorControlError, setting nothing (SETCONF is all or nothing)', async () => {
    await config.set({ ContactInfo: 'unchanged' });
    await assert.rejects(config.set({ ContactInfo: 'changed', NumCPUs: 'many' }), (e: unknown) => {
      assert.ok(e instanceof TorControlError);
      assert.equal(e.status, 513);
      return true;
    });
    assert.equal(await otherConfig.get('ContactInfo', { fresh: true }), 'unchanged');
  });

  it('sets and gets the SocksPort list; its virtual SocksPortLines is refused (tor gives it under SocksPort and __SocksPort keys)', async () => {
    const original = await config.getList('SocksPort');
    try {
      await config.set({ SocksPort: ['127.0.0.1:auto', '127.0.0.1:auto IsolateDestAddr IsolateDestPort'] });
      const expected = ['127.0.0.1:auto', '127.0.0.1:auto IsolateDestAddr IsolateDestPort'];
      assert.deepEqual(await config.getList('SocksPort'), expected);
      assert.deepEqual(await otherConfig.getList('SocksPort', { fresh: true }), expected);
      await assert.rejects(config.get('SocksPortLines'), (err: unknown) => err instanceof TorInvalidValueError && /read SocksPort and __SocksPort/.test(err.message));
    } finally {
      await config.set({ SocksPort: original });
    }
    assert.deepEqual(await otherConfig.getList('SocksPort', { fresh: true }), original);
  });

  it('keeps HiddenServiceDir groups whole, options unknown to torcon included, through read and write', async () => {
    const groups: HiddenServiceConfig[] = [
      {
        dir: path.join(dataDir, 'hs-one'),
        ports: ['80 127.0.0.1:8080', '81 127.0.0.1:8081'],
        version: 3,
        options: [
          ['HiddenServiceMaxStreams', '5'],
          ['HiddenServiceDirGroupReadable', '1'],
        ],
      },
      {
        dir: path.join(dataDir, 'hs "two" é'),
        ports: ['443 127.0.0.1:8443'],
        options: [
          ['HiddenServiceMaxStreamsCloseCircuit', '1'],
          ['HiddenServiceNumIntroductionPoints', '4'],
        ],
      },
    ];
    assert.deepEqual(await config.hiddenServices(), []);
    await config.setHiddenServices(groups);
    const read = await otherConfig.hiddenServices({ fresh: true });
    assert.deepEqual(read, groups);

    // Options of a group read by name, together: tor answers HiddenServiceDir with the
    // HiddenServiceDirGroupReadable lines too (a name prefix), and each must still come once.
    const names = ['HiddenServiceDir', 'HiddenServiceDirGroupReadable', 'HiddenServiceMaxStreams', 'HiddenServiceMaxStreamsCloseCircuit'];
    const expected: Record<string, string[]> = {
      HiddenServiceDir: [groups[0]!.dir, groups[1]!.dir],
      HiddenServiceDirGroupReadable: ['1'],
      HiddenServiceMaxStreams: ['5'],
      HiddenServiceMaxStreamsCloseCircuit: ['1'],
    };
    assert.deepEqual(await otherConfig.getMany(names, { fresh: true }), expected);
    // ... and what getMany cached is what a read of each alone gives.
    for (const name of names) {
      assert.deepEqual(await otherConfig.get(name), expected[name], `${name} from the cache`);
      assert.deepEqual(await otherConfig.get(name, { fresh: true }), expected[name], `${name} read alone`);
    }

    // tor's own view, line by line, in the order we wrote.
    const reply = await other.control.command('GETCONF HiddenServiceOptions');
    assert.deepEqual(
      reply.lines.map((l) => l.text.split('=')[0]),
      [
        'HiddenServiceDir', 'HiddenServiceVersion', 'HiddenServicePort', 'HiddenServicePort',
        'HiddenServiceMaxStreams', 'HiddenServiceDirGroupReadable',
        'HiddenServiceDir', 'HiddenServicePort', 'HiddenServiceMaxStreamsCloseCircuit',
        'HiddenServiceNumIntroductionPoints',
      ],
    );

    // Another controller adds a service the read-modify-write way: every option of the others survives.
    const third: HiddenServiceConfig = { dir: path.join(dataDir, 'hs-three'), ports: ['22'], options: [] };
    await otherConfig.setHiddenServices([...read, third]);
    assert.deepEqual(await config.hiddenServices(), [...groups, third]);

    // Removing one keeps the rest exactly.
    await config.setHiddenServices([groups[1]!]);
    assert.deepEqual(await otherConfig.hiddenServices({ fresh: true }), [groups[1]]);

    await config.setHiddenServices([]);
    assert.deepEqual(await otherConfig.hiddenServices({ fresh: true }), []);
    assert.deepEqual(await config.hiddenServices(), []);
  });

  it("puts only tor's group options in a HiddenServiceDir group, spelled as tor spells them; a global HiddenService option is refused, and stays as it was", async () => {
    const statistics = await otherConfig.get('HiddenServiceStatistics', { fresh: true });
    const write = sinon.spy((tor.control as unknown as { socket: { write: () => boolean } }).socket, 'write');
    const dir = path.join(dataDir, 'hs-global');
    const refused: Array<[string, string]> = [['HiddenServiceStatistics', '0'], ['HiddenServiceSingleHopMode', '0'], ['HiddenServiceNoSuchOption', '1']];
    for (const option of refused) {
      await assert.rejects(
        config.setHiddenServices([{ dir, ports: ['80'], options: [option] }]),
        (e: unknown) => e instanceof TorInvalidValueError && e.message.includes(option[0]),
        option[0],
      );
    }
    assert.equal(write.callCount, 0, 'nothing was sent');
    write.restore();
    assert.equal(await otherConfig.get('HiddenServiceStatistics', { fresh: true }), statistics);
    assert.deepEqual(await otherConfig.hiddenServices({ fresh: true }), []);
    // A group option in another case is written as tor spells it, so the group reads back as written.
    await config.setHiddenServices([{ dir, ports: ['80'], options: [['hiddenservicemaxstreams', '4']] }]);
    assert.deepEqual(await otherConfig.hiddenServices({ fresh: true }), [{ dir, ports: ['80'], options: [['HiddenServiceMaxStreams', '4']] }]);
    await config.setHiddenServices([]);
  });

  it('refuses HiddenService group options in set(): groups go through setHiddenServices', async () => {
    await assert.rejects(config.set({ HiddenServicePort: '80' }), TorInvalidValueError);
    await assert.rejects(config.set({ SocksPortLines: ['9050'] }), TorInvalidValueError);
  });

  it('clears its cache on CONF_CHANGED when another connection changes a value', async () => {
    await config.set({ ContactInfo: 'mine' });
    assert.equal(await config.get('ContactInfo'), 'mine');
    const command = sinon.spy(tor.control, 'command');
    assert.equal(await config.get('ContactInfo'), 'mine');
    assert.equal(command.callCount, 0, 'served from the cache');
    const changed = new Promise<readonly ConfLine[]>((resolve) => {
      const onChanged = (changes: readonly ConfLine[]) => {
        if (changes.some((c) => c.key === 'ContactInfo' && c.value === 'theirs "quoted" é')) {
          config.off('changed', onChanged);
          resolve(changes);
        }
      };
      config.on('changed', onChanged);
    });
    await other.control.setConf({ ContactInfo: 'theirs "quoted" é' });
    await changed;
    assert.equal(await config.get('ContactInfo'), 'theirs "quoted" é');
    assert.deepEqual(
      command.getCalls().map((c) => c.args[0]),
      ['GETCONF ContactInfo'],
      'the event cleared the cached value, so it was read again',
    );
  });

  it('reads config/defaults', async () => {
    const defaults = await config.defaults();
    assert.deepEqual(defaults.get('AccountingMax'), ['0 bytes']);
    assert.deepEqual(defaults.get('KeepalivePeriod'), ['5 minutes']);
  });

  it('a Float round-trips through set, get, save and the saved file; one six decimals cannot hold is refused, changing nothing', async () => {
    // tor writes a Float with %f in GETCONF replies and in the file SAVECONF writes.
    await config.set({ CircuitPriorityHalflife: 0.123457 });
    assert.equal(await otherConfig.get('CircuitPriorityHalflife', { fresh: true }), 0.123457);
    assert.deepEqual(await otherConfig.getRaw('CircuitPriorityHalflife', { fresh: true }), ['0.123457']);
    await assert.rejects(
      config.set({ CircuitPriorityHalflife: 0.1234567 }),
      (e: unknown) => e instanceof TorInvalidValueError && /six decimals/.test(e.message),
    );
    assert.equal(await otherConfig.get('CircuitPriorityHalflife', { fresh: true }), 0.123457);
    // A value read is written back as it was.
    await config.set({ CircuitPriorityHalflife: (await config.getNumber('CircuitPriorityHalflife'))! });
    await config.save();
    const text = await readFile(await tor.control.getInfo('config-file'), 'utf8');
    assert.match(text, /^CircuitPriorityHalflife 0\.123457$/m);
    await config.reset(['CircuitPriorityHalflife']);
    await config.save();
  });

  it('saves to the torrc tor was started with (SAVECONF)', async () => {
    const torrc = await tor.control.getInfo('config-file');
    assert.equal(path.dirname(torrc), dataDir);
    await config.set({ ContactInfo: 'saved-by-torcon 42' });
    await config.save();
    const text = await readFile(torrc, 'utf8');
    assert.match(text, /^ContactInfo saved-by-torcon 42$/m);
    assert.match(text, /^DisableNetwork 1$/m);
    // SAVECONF leaves out `__` options; after a reload of the saved file tor must still know its
    // owner, so that it exits if this process dies.
    await tor.control.signal('RELOAD');
    assert.equal(await config.get('ContactInfo', { fresh: true }), 'saved-by-torcon 42');
    assert.equal(await config.get('__OwningControllerProcess', { fresh: true }), String(process.pid));
  });
});

describe('address policies against a real tor (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let tor: Tor;
  let config: TorConfig;

  before(async () => {
    tor = await launchTor({ config: OFFLINE });
    config = await TorConfig.create(tor.control);
  });

  after(async () => {
    await config?.close();
    await tor?.close();
  });

  it('refuses a malformed MetricsPortPolicy before tor sees it, so tor lives (tor 0.4.9 exits on one)', async () => {
    for (const value of ['z', ['accept 127.0.0.1', 'reject']]) {
      await assert.rejects(config.set({ MetricsPortPolicy: value }), (err: unknown) => err instanceof TorInvalidValueError && /MetricsPortPolicy/.test(err.message));
    }
    assert.match(await tor.control.getInfo('version'), /^\d+\.\d+/, 'tor still answers');
    await config.set({ MetricsPortPolicy: ['accept 127.0.0.1:9035', 'accept [::1]', 'reject *'] });
    assert.deepEqual(await config.get('MetricsPortPolicy'), ['accept 127.0.0.1:9035', 'accept [::1]', 'reject *']);
    await config.reset(['MetricsPortPolicy']);
  });

  it('accepts only what tor accepts: policy-like values tried on SocksPolicy, which tor does check', async () => {
    // SocksPolicy goes through the same policy parser in tor, and tor answers 513 for a bad one
    // instead of exiting, so it can judge any value. The checker may be stricter than tor (odd
    // spellings such as ":+80" are refused), never looser.
    // Mostly well-formed parts, so that both verdicts are common; each part sometimes odd.
    const w = <T,>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
    const octet = fc.integer({ min: 0, max: 300 }).map(String);
    const ipv4 = fc.oneof(w(6, fc.ipV4()), w(1, fc.tuple(octet, octet, octet, octet).map((p) => p.join('.'))), w(1, fc.ipV4Extended()));
    const address = fc.oneof(
      w(4, fc.constantFrom('*', '*4', '*6', 'private')),
      w(6, ipv4),
      w(4, fc.ipV6().map((a) => `[${a}]`)),
      w(2, fc.constantFrom('localhost', '', '::1', '[::1', '[fe80::1%eth0]')),
      w(1, fc.string({ maxLength: 6 })),
    );
    const mask = fc.oneof(
      w(8, fc.constant('')),
      w(3, fc.integer({ min: -1, max: 140 }).map((n) => `/${n}`)),
      w(1, ipv4.map((a) => `/${a}`)),
      w(1, fc.constant('/')),
    );
    const port = fc.oneof(
      w(3, fc.constant('')),
      w(3, fc.constant(':*')),
      w(4, fc.integer({ min: 0, max: 70_000 }).map((n) => `:${n}`)),
      w(3, fc.tuple(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 70_000 })).map(([a, b]) => `:${a}-${b}`)),
      w(1, fc.constantFrom(':', ':+80', ':08', ':80-', ':-80')),
    );
    const action = fc.oneof(w(12, fc.constantFrom('accept', 'reject', 'accept6', 'reject6')), w(1, fc.constantFrom('Accept', 'acept', '')));
    const separator = fc.oneof(w(8, fc.constant(' ')), w(1, fc.constantFrom('\t', '  ', '')));
    const entry = fc.tuple(action, separator, address, mask, port).map(([a, sep, ad, m, p]) => `${a}${sep}${ad}${m}${p}`);
    const values = fc.sample(fc.array(entry, { minLength: 1, maxLength: 2 }).map((e) => e.join(', ')), { numRuns: 400, seed: 20261126 });

    let accepted = 0;
    let stricter = 0;
    const looser: string[] = [];
    for (const value of values) {
      if (/[\r\n\0]/.test(value)) continue;
      const ours = addressPolicyProblem(value) === undefined;
      const tors = await config.set({ SocksPolicy: value }).then(
        () => true,
        (err: unknown) => {
          if (err instanceof TorControlError) return false;
          throw err;
        },
      );
      if (ours) accepted++;
      if (ours && !tors) looser.push(value);
      if (!ours && tors) stricter++;
    }
    await config.reset(['SocksPolicy']);
    assert.deepEqual(looser, [], 'values the checker accepts and tor refuses');
    assert.ok(accepted >= 50, `the sample exercised accepted values too (${accepted} of ${values.length}; ${stricter} refused that tor takes)`);
  });
});
