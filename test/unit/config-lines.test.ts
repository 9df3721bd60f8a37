import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import {
  decodeConfValue,
  encodeConfLines,
  parseConfChangedText,
  parseConfigDefaults,
  parseConfigNames,
  parseGetConfReply,
} from '../../src/config/conf-lines.js';
import type { ControlReply } from '../../src/control/reply.js';

function reply(...texts: string[]): ControlReply {
  return {
    status: 250,
    lines: texts.map((text, i) => ({ status: 250, separator: i === texts.length - 1 ? ' ' : '-', text })),
  };
}

describe('config: wire lines', () => {
  it('parses GETCONF replies in order, bare keys as null, quoted values unescaped (UTF-8 octal runs)', () => {
    const lines = parseGetConfReply(
      reply(
        'SocksPort=auto',
        'SocksPort=127.0.0.1:auto IsolateDestAddr',
        'ContactInfo="a b \\"q\\" back\\\\slash\\ttab \\303\\251\\360\\237\\230\\200 end "',
        'ExitPolicy',
        'ExitNodes=',
        'Log=notice file /tmp/x=y.log',
      ),
    );
    assert.deepEqual(lines, [
      { key: 'SocksPort', value: 'auto' },
      { key: 'SocksPort', value: '127.0.0.1:auto IsolateDestAddr' },
      { key: 'ContactInfo', value: 'a b "q" back\\slash\ttab é😀 end ' },
      { key: 'ExitPolicy', value: null },
      { key: 'ExitNodes', value: '' },
      { key: 'Log', value: 'notice file /tmp/x=y.log' },
    ]);
  });

  it('gives no lines for the lone OK of an empty GETCONF and refuses a line without a key', () => {
    assert.deepEqual(parseGetConfReply(reply('OK')), []);
    assert.throws(() => parseGetConfReply(reply('=x')), TorProtocolError);
    assert.throws(() => parseGetConfReply(reply('K="unterminated')), TorProtocolError);
  });

  it('parses CONF_CHANGED text (as kept in event.raw)', () => {
    assert.deepEqual(parseConfChangedText('CONF_CHANGED\nExitPolicy=reject *:25\nExitPolicy=accept *:*\nContactInfo\nOK'), [
      { key: 'ExitPolicy', value: 'reject *:25' },
      { key: 'ExitPolicy', value: 'accept *:*' },
      { key: 'ContactInfo', value: null },
    ]);
    assert.deepEqual(parseConfChangedText('CONF_CHANGED\nOK'), []);
  });

  it('encodes ordered lines, quoting every value and keeping repeated keys where they are', () => {
    assert.equal(
      encodeConfLines([
        { key: 'HiddenServiceDir', value: '/a b' },
        { key: 'HiddenServicePort', value: '80 127.0.0.1:1' },
        { key: 'HiddenServiceDir', value: '/c"d\\e' },
        { key: 'HiddenServicePort', value: '81' },
        { key: 'ContactInfo', value: null },
        { key: 'Nickname', value: 'tab\there' },
      ]),
      'HiddenServiceDir="/a b" HiddenServicePort="80 127.0.0.1:1" HiddenServiceDir="/c\\"d\\\\e" HiddenServicePort="81" ContactInfo Nickname="tab\\there"',
    );
  });

  it('refuses CR, LF or NUL in any value, bad keys and an empty list', () => {
    for (const bad of ['a\rb', 'a\nb', 'a\0b', '\r\n250 OK']) {
      assert.throws(
        () => encodeConfLines([{ key: 'ContactInfo', value: 'ok' }, { key: 'Nickname', value: bad }]),
        (e: unknown) => e instanceof TorInvalidValueError && e.code === 'TOR_INVALID_VALUE' && !e.message.includes(bad),
      );
    }
    for (const key of ['', 'a b', 'a=b', 'a"b', 'a\nb']) {
      assert.throws(() => encodeConfLines([{ key, value: 'x' }]), TorInvalidValueError, JSON.stringify(key));
    }
    assert.throws(() => encodeConfLines([]), TorInvalidValueError);
  });

  it('round-trips any value without CR/LF/NUL through encode and decode (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s)), (value) => {
        const encoded = encodeConfLines([{ key: 'ContactInfo', value }]);
        const quoted = encoded.slice('ContactInfo='.length);
        assert.equal(decodeConfValue(quoted), value);
      }),
    );
  });

  it('parses config/names, normalizing the old "Dependant" spelling and keeping descriptions', () => {
    assert.deepEqual(parseConfigNames('SocksPort Dependent\nBandwidthRate DataSize\nFoo Dependant\nBar String Some words here\n'), [
      { name: 'SocksPort', type: 'Dependent' },
      { name: 'BandwidthRate', type: 'DataSize' },
      { name: 'Foo', type: 'Dependent' },
      { name: 'Bar', type: 'String', description: 'Some words here' },
    ]);
    assert.throws(() => parseConfigNames('Lonely\n'), TorProtocolError);
  });

  it('parses config/defaults with quoted values and repeated names', () => {
    const d = parseConfigDefaults('AccountingMax "0 bytes"\nAutomapHostsSuffixes ".onion,.exit"\nLog "a"\nLog "b"\nPlain 5\n');
    assert.deepEqual([...d], [
      ['AccountingMax', ['0 bytes']],
      ['AutomapHostsSuffixes', ['.onion,.exit']],
      ['Log', ['a', 'b']],
      ['Plain', ['5']],
    ]);
  });
});
