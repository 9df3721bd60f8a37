import assert from 'node:assert/strict';
import { TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import { toConfLines, toTypedValue } from '../../src/config/config-values.js';
import { encodeConfValues } from '../../src/control/tor-control.js';
import {
  encodeHiddenServiceGroups,
  parseHiddenServiceOptions,
} from '../../src/config/hidden-service-groups.js';
import type { ConfLine } from '../../src/config/config-types.js';
import { encodeConfLines, parseGetConfReply } from '../../src/config/conf-lines.js';
import type { ControlReply } from '../../src/control/reply.js';

const L = (key: string, ...values: Array<string | null>): ConfLine[] => values.map((value) => ({ key, value }));

describe('config: typed values', () => {
  const cases: Array<[string, string | undefined, ConfLine[], unknown]> = [
    ['Boolean 1', 'Boolean', L('DisableNetwork', '1'), true],
    ['Boolean 0', 'Boolean', L('DisableNetwork', '0'), false],
    ['Boolean+Auto auto', 'Boolean+Auto', L('ConnectionPadding', 'auto'), 'auto'],
    ['Boolean+Auto 1', 'Boolean+Auto', L('ConnectionPadding', '1'), true],
    ['Integer', 'Integer', L('NumCPUs', '2'), 2],
    ['SignedInteger negative', 'SignedInteger', L('PathBiasScaleThreshold', '-1'), -1],
    ['Integer beyond 2^53 stays exact as bigint', 'Integer', L('__OwningControllerFD', '18446744073709551615'), 18446744073709551615n],
    ['DataSize in bytes', 'DataSize', L('BandwidthRate', '1073741824'), 1073741824],
    ['TimeInterval in seconds', 'TimeInterval', L('KeepalivePeriod', '300'), 300],
    ['TimeMsecInterval in ms', 'TimeMsecInterval', L('TokenBucketRefillInterval', '100'), 100],
    ['Float', 'Float', L('PathsNeededToBuildCircuits', '-1.000000'), -1],
    ['Integer in an unexpected form is kept as text', 'Integer', L('X', 'auto'), 'auto'],
    ['String', 'String', L('ContactInfo', 'me'), 'me'],
    ['String bare is null', 'String', L('ContactInfo', null), null],
    ['empty String is empty', 'String', L('Nickname', ''), ''],
    ['Filename', 'Filename', L('DataDirectory', '/var/lib/tor'), '/var/lib/tor'],
    ['LineList', 'LineList', L('ExitPolicy', 'reject *:25', 'accept *:*'), ['reject *:25', 'accept *:*']],
    ['LineList bare is []', 'LineList', L('ExitPolicy', null), []],
    ['Dependent (SocksPort) as lines', 'Dependent', L('SocksPort', 'auto', '127.0.0.1:9 IsolateDestAddr'), ['auto', '127.0.0.1:9 IsolateDestAddr']],
    ['CommaList split', 'CommaList', L('LongLivedPorts', '21,22, 706'), ['21', '22', '706']],
    ['RouterList empty value is []', 'RouterList', L('ExitNodes', ''), []],
    ['RouterList', 'RouterList', L('ExitNodes', '{de},$ABCD'), ['{de}', '$ABCD']],
    ['unknown type, several lines', undefined, L('Future', 'a', 'b'), ['a', 'b']],
    ['unknown type, one line', undefined, L('Future', 'a'), 'a'],
  ];
  for (const [name, type, lines, expected] of cases) {
    it(name, () => assert.deepEqual(toTypedValue(type, lines), expected));
  }
});

describe('config: values to SETCONF lines', () => {
  it('converts scalars: booleans to 1/0, numbers and bigints in decimal', () => {
    assert.deepEqual(toConfLines('DisableNetwork', 'Boolean', true), L('DisableNetwork', '1'));
    assert.deepEqual(toConfLines('DisableNetwork', 'Boolean', false), L('DisableNetwork', '0'));
    assert.deepEqual(toConfLines('BandwidthRate', 'DataSize', 2097152), L('BandwidthRate', '2097152'));
    assert.deepEqual(toConfLines('BandwidthRate', 'DataSize', 2n ** 60n), L('BandwidthRate', '1152921504606846976'));
    assert.deepEqual(toConfLines('BandwidthRate', 'DataSize', '2 MB'), L('BandwidthRate', '2 MB'));
    assert.deepEqual(toConfLines('ContactInfo', 'String', null), L('ContactInfo', null));
  });

  it('gives one line per element for line lists and one joined line for comma lists', () => {
    assert.deepEqual(toConfLines('SocksPort', 'Dependent', ['auto', 9050]), L('SocksPort', 'auto', '9050'));
    assert.deepEqual(toConfLines('ExitPolicy', 'LineList', []), L('ExitPolicy', null));
    assert.deepEqual(toConfLines('ExitNodes', 'RouterList', ['{de}', '{at}']), L('ExitNodes', '{de},{at}'));
  });

  it('refuses lists for single-valued options, commas inside comma-list items and non-finite numbers', () => {
    assert.throws(() => toConfLines('ContactInfo', 'String', ['a', 'b']), TorInvalidValueError);
    assert.throws(() => toConfLines('ExitNodes', 'RouterList', ['a,b']), TorInvalidValueError);
    assert.throws(() => toConfLines('NumCPUs', 'Integer', Number.NaN), TorInvalidValueError);
  });

  it('refuses numbers a whole-number option would not keep exactly: fractions, and integers beyond 2^53', () => {
    // tor reads "1.5" as 1 for these types without complaint.
    for (const type of ['Integer', 'SignedInteger', 'Port', 'TimeInterval', 'TimeMsecInterval', 'Interval', 'DataSize']) {
      assert.throws(() => toConfLines('X', type, 1.5), /takes a whole number/, type);
      assert.throws(() => toConfLines('X', type, [1, 0.25]), /takes a whole number/, type);
      assert.throws(() => toConfLines('X', type, 2 ** 53 + 2), /too large to be exact/, type);
      assert.deepEqual(toConfLines('X', type, 2 ** 53 - 1), L('X', String(2 ** 53 - 1)));
      assert.deepEqual(toConfLines('X', type, -3), L('X', '-3'), 'the sign is for tor to judge');
    }
    assert.deepEqual(toConfLines('CircuitPriorityHalflife', 'Float', 1.5), L('CircuitPriorityHalflife', '1.5'));
    assert.deepEqual(toConfLines('ContactInfo', 'String', 1.5), L('ContactInfo', '1.5'));
    assert.deepEqual(toConfLines('Unknown', undefined, 1.5), L('Unknown', '1.5'), 'an option tor does not list: its type is unknown');
    assert.throws(() => toConfLines('NumCPUs', 'Integer', { x: 1 } as never), TorInvalidValueError);
  });

  it('refuses a number a Float option would not read back or save exactly: tor writes Floats with six decimals (%f)', () => {
    // tor keeps 0.1234567, but GETCONF and SAVECONF give 0.123457, and 1e-7 as 0.000000.
    for (const v of [0.1234567, 1e-7, -2.0000001, 1 / 3, 123456789.1234567]) {
      assert.throws(
        () => toConfLines('CircuitPriorityHalflife', 'Float', v),
        (err: unknown) => err instanceof TorInvalidValueError && /six decimals/.test(err.message),
        String(v),
      );
    }
    // What six decimals hold goes through, each as a text tor reads back to the same number.
    for (const v of [0, -1, 2.5, 0.123457, -0.000001, 30, 1e21, 123456789.123456]) {
      const [line] = toConfLines('CircuitPriorityHalflife', 'Float', v);
      assert.equal(Number(line!.value), v, String(v));
    }
    // A string is tor's syntax, sent as it is.
    assert.deepEqual(toConfLines('CircuitPriorityHalflife', 'Float', '0.1234567'), L('CircuitPriorityHalflife', '0.1234567'));
  });

  it('refuses undefined, which sent bare would set the option to 0 or empty; null sends it bare on purpose', () => {
    const missing = process.env['TORCON_SURELY_UNSET_VARIABLE'];
    for (const encode of [
      () => toConfLines('ExitPolicy', 'LineList', missing as never),
      () => encodeConfValues({ ExitPolicy: missing as never }),
      () => encodeConfValues({ ContactInfo: 'me', ExitPolicy: missing as never }),
    ]) {
      assert.throws(encode, (err: unknown) => err instanceof TorInvalidValueError && /ExitPolicy: is undefined/.test(err.message));
    }
    assert.deepEqual(toConfLines('ExitPolicy', 'LineList', null), L('ExitPolicy', null));
    assert.equal(encodeConfValues({ ExitPolicy: null }), 'ExitPolicy');
  });

  it('names the option type in its messages with the right article', () => {
    assert.throws(() => toConfLines('ConnLimit', 'Integer', 1.5), /ConnLimit: is an Integer: it takes a whole number/);
    assert.throws(() => toConfLines('ConnLimit', 'Integer', [1, 2]), /ConnLimit is an Integer, it takes one value/);
    assert.throws(() => toConfLines('CircuitStreamTimeout', 'TimeInterval', 0.5), /is a TimeInterval: it takes/);
  });
});

describe('config: HiddenService groups', () => {
  // Exactly what tor 0.4.9 answered to GETCONF HiddenServiceOptions for a two-service torrc.
  const fromTor: ConfLine[] = [
    { key: 'HiddenServiceDir', value: '/tmp/hs1' },
    { key: 'HiddenServicePort', value: '80 127.0.0.1:8080' },
    { key: 'HiddenServiceMaxStreams', value: '5' },
    { key: 'HiddenServicePort', value: '81 127.0.0.1:8081' },
    { key: 'HiddenServiceDir', value: '/tmp/hs2' },
    { key: 'HiddenServiceVersion', value: '3' },
    { key: 'HiddenServiceDirGroupReadable', value: '1' },
    { key: 'HiddenServicePort', value: '82' },
    { key: 'HiddenServiceFutureOption', value: 'x y' },
  ];

  it('groups lines by HiddenServiceDir, keeping unknown options in order', () => {
    assert.deepEqual(parseHiddenServiceOptions(fromTor), [
      { dir: '/tmp/hs1', ports: ['80 127.0.0.1:8080', '81 127.0.0.1:8081'], options: [['HiddenServiceMaxStreams', '5']] },
      {
        dir: '/tmp/hs2',
        ports: ['82'],
        version: 3,
        options: [
          ['HiddenServiceDirGroupReadable', '1'],
          ['HiddenServiceFutureOption', 'x y'],
        ],
      },
    ]);
  });

  it('reads "none configured" (a bare HiddenServiceOptions) as no groups', () => {
    assert.deepEqual(parseHiddenServiceOptions([{ key: 'HiddenServiceOptions', value: null }]), []);
  });

  it('refuses lines that do not form groups', () => {
    assert.throws(() => parseHiddenServiceOptions([{ key: 'HiddenServicePort', value: '80' }]), TorProtocolError);
    assert.throws(() => parseHiddenServiceOptions([{ key: 'HiddenServiceDir', value: null }]), TorProtocolError);
    assert.throws(
      () => parseHiddenServiceOptions([{ key: 'HiddenServiceDir', value: '/x' }, { key: 'HiddenServiceVersion', value: 'three' }]),
      TorProtocolError,
    );
  });

  it('encodes groups in order and survives parse(encode(parse(x)))', () => {
    const groups = parseHiddenServiceOptions(fromTor);
    const lines = encodeHiddenServiceGroups(groups);
    assert.deepEqual(lines, [
      { key: 'HiddenServiceDir', value: '/tmp/hs1' },
      { key: 'HiddenServicePort', value: '80 127.0.0.1:8080' },
      { key: 'HiddenServicePort', value: '81 127.0.0.1:8081' },
      { key: 'HiddenServiceMaxStreams', value: '5' },
      { key: 'HiddenServiceDir', value: '/tmp/hs2' },
      { key: 'HiddenServiceVersion', value: '3' },
      { key: 'HiddenServicePort', value: '82' },
      { key: 'HiddenServiceDirGroupReadable', value: '1' },
      { key: 'HiddenServiceFutureOption', value: 'x y' },
    ]);
    assert.deepEqual(parseHiddenServiceOptions(lines), groups);
  });

  it('reads a GETCONF reply with quoted and non-ASCII directories (each UTF-8 byte in octal) and writes them back unchanged', () => {
    // tor 0.4.9 answers GETCONF with `HiddenServiceDir="/tmp/hs-\303\251"` for /tmp/hs-é.
    const reply: ControlReply = {
      status: 250,
      lines: ['HiddenServiceDir="/tmp/hs-\\303\\251"', 'HiddenServicePort=80 127.0.0.1:1', 'HiddenServiceDir="/tmp/with \\"quote\\""', 'HiddenServicePoWDefensesEnabled=1'].map(
        (text, i, all) => ({ status: 250, separator: i === all.length - 1 ? ' ' : '-', text }),
      ),
    };
    const groups = parseHiddenServiceOptions(parseGetConfReply(reply));
    assert.deepEqual(groups, [
      { dir: '/tmp/hs-é', ports: ['80 127.0.0.1:1'], options: [] },
      { dir: '/tmp/with "quote"', ports: [], options: [['HiddenServicePoWDefensesEnabled', '1']] },
    ]);
    assert.equal(
      encodeConfLines(encodeHiddenServiceGroups(groups)),
      'HiddenServiceDir="/tmp/hs-é" HiddenServicePort="80 127.0.0.1:1" HiddenServiceDir="/tmp/with \\"quote\\"" HiddenServicePoWDefensesEnabled="1"',
    );
    assert.throws(() => encodeConfLines(encodeHiddenServiceGroups([{ dir: '/a\r\nSIGNAL HALT', ports: [], options: [] }])), TorInvalidValueError);
  });

  it('a group given without options (JavaScript) has none, as one read back without them', () => {
    assert.deepEqual(encodeHiddenServiceGroups([{ dir: '/x', ports: ['80 127.0.0.1:8080'] } as never]), [
      { key: 'HiddenServiceDir', value: '/x' },
      { key: 'HiddenServicePort', value: '80 127.0.0.1:8080' },
    ]);
    assert.throws(() => encodeHiddenServiceGroups([{ dir: '/x', ports: [], options: 'none' } as never]), TorInvalidValueError);
  });

  it('encodes "no groups" as a bare HiddenServiceDir (tor then removes them all)', () => {
    assert.deepEqual(encodeHiddenServiceGroups([]), [{ key: 'HiddenServiceDir', value: null }]);
  });

  it('refuses malformed groups before anything is encoded', () => {
    const bad = [
      { dir: '', ports: ['80'], options: [] },
      { dir: '/x', ports: ['80'], version: 3.5, options: [] },
      { dir: '/x', ports: ['80'], options: [['HiddenServiceDir', '/y']] },
      { dir: '/x', ports: ['80'], options: [['HiddenServicePort', '81']] },
      { dir: '/x', ports: ['80'], options: [['SocksPort', '9050']] },
    ];
    for (const g of bad) {
      assert.throws(() => encodeHiddenServiceGroups([g as never]), TorInvalidValueError, JSON.stringify(g));
    }
  });
});
