import assert from 'node:assert/strict';
import {
  addressMapKey,
  encodeMapAddress,
  isMapAddressRemoval,
  mappedInReply,
  readMapAddressReply,
  type MappedAddress,
} from '../../src/control/map-address.js';
import type { ControlReply, ReplyLine } from '../../src/control/reply.js';
import { openTorControl } from '../../src/control/transport.js';
import { TorControl } from '../../src/control/tor-control.js';
import { TorControlError, TorInvalidValueError, TorProtocolError, TorTimeoutError } from '../../src/errors.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';

/** A reply from wire lines (`250-a=b`, `512 ...`), as the parser hands it over. */
function reply(...wire: string[]): ControlReply {
  const lines: ReplyLine[] = wire.map((w) => ({ status: Number(w.slice(0, 3)), separator: w[3] as ReplyLine['separator'], text: w.slice(4) }));
  return { status: lines[lines.length - 1]!.status, lines };
}


/**
 * The MAPADDRESS calls of the sequence tests answered as tor would: the first call and the GETINFO
 * sent meanwhile go out, the later MAPADDRESS only once the first is answered; each resolves.
 */
async function expectInTurn(
  peer: ScriptedPeer,
  first: Promise<unknown>,
  later: Promise<unknown>,
  info: Promise<unknown>,
): Promise<void> {
  await peer.waitForLines(2);
  assert.deepEqual(peer.received, ['MAPADDRESS a.example=1.1.1.1', 'GETINFO version']);
  peer.write('250 a.example=1.1.1.1\r\n250-version=0.4.9.11\r\n250 OK\r\n');
  await peer.waitForLines(3);
  assert.equal(peer.received[2], 'MAPADDRESS a.example=a.example');
  peer.write('250 a.example=a.example\r\n');
  assert.deepEqual(await Promise.all([first, later, info]), [
    [{ address: 'a.example', newAddress: '1.1.1.1' }],
    [{ address: 'a.example', newAddress: 'a.example' }],
    '0.4.9.11',
  ]);
}

describe('control: MAPADDRESS', () => {
  describe('building the command', () => {
    it('sends each pair as Old=New, from an object or from pairs', () => {
      assert.equal(encodeMapAddress({ 'gone.example': '127.0.0.1' }).line, 'MAPADDRESS gone.example=127.0.0.1');
      assert.equal(
        encodeMapAddress([
          ['a.example', 'b.example'],
          ['*.w.example', '*.v.example'],
          ['1.2.3.4', 'x.onion'],
        ]).line,
        'MAPADDRESS a.example=b.example *.w.example=*.v.example 1.2.3.4=x.onion',
      );
    });

    it('lets tor choose for 0.0.0.0, ::0 (sent as ::, the form tor knows) and ., several times in one command', () => {
      const { line, pairs } = encodeMapAddress([
        ['0.0.0.0', 'a.onion'],
        ['0.0.0.0', 'b.onion'],
        ['::0', 'c.onion'],
        ['::', 'd.onion'],
        ['.', 'e.onion'],
      ]);
      assert.equal(line, 'MAPADDRESS 0.0.0.0=a.onion 0.0.0.0=b.onion ::=c.onion ::=d.onion .=e.onion');
      assert.deepEqual(
        pairs.map((p) => p.address),
        ['0.0.0.0', '0.0.0.0', '::', '::', '.'],
      );
    });

    const refused: Array<[string, unknown]> = [
      ['no mappings (object)', {}],
      ['no mappings (array)', []],
      ['null', null],
      ['a string', 'a=b'],
      ['CR LF in the address (a second command)', { 'a.example\r\nSIGNAL HALT': 'b.example' }],
      ['LF in the new address', { 'a.example': 'b.example\nSIGNAL HALT' }],
      ['NUL', { 'a.example': 'b\0' }],
      ['a space (a second pair)', { 'a.example': 'b.example c.example=d.example' }],
      ['a tab', { 'a\tb': 'c' }],
      ['a quote', { 'a.example': '"b"' }],
      ['a backslash', { 'a\\b': 'c' }],
      ['= in the address', { 'a=b': 'c' }],
      ['= in the new address', { a: 'b=c' }],
      ['an empty address', { '': 'b' }],
      ['an empty new address', { a: '' }],
      ['a number', [['a', 1]]],
      ['a pair of three', [['a', 'b', 'c']]],
      ['a pair that is no array', ['a=b']],
      ['an address twice', [['a.example', '1.1.1.1'], ['a.example', 'a.example']]],
      ['an address twice, once as a wildcard (one entry of tor\'s map)', [['*.a.example', '*.b.example'], ['a.example', 'a.example']]],
      ['a lone surrogate', { 'a\ud800': 'b' }],
    ];
    for (const [name, mappings] of refused) {
      it(`refuses ${name} with TorInvalidValueError`, () => {
        assert.throws(() => encodeMapAddress(mappings as never), TorInvalidValueError);
      });
    }
  });

  describe('reading the reply', () => {
    it('names removals and wildcards as tor files them', () => {
      assert.equal(isMapAddressRemoval('gone.example', 'gone.example'), true);
      assert.equal(isMapAddressRemoval('Gone.Example', 'gone.example'), true, 'tor compares them ignoring case');
      assert.equal(isMapAddressRemoval('*.w.example', '*.w.example'), true);
      assert.equal(isMapAddressRemoval('*.w.example', 'w.example'), false, 'a wildcard mapping to the domain itself');
      assert.equal(isMapAddressRemoval('gone.example', '127.0.0.1'), false);
      assert.equal(addressMapKey('*.w.example'), 'w.example');
      assert.equal(addressMapKey('Gone.Example'), 'Gone.Example');
    });

    it('gives one outcome per pair, in order, with the address tor chose for an automap request', () => {
      const { pairs } = encodeMapAddress([
        ['0.0.0.0', 'a.onion'],
        ['gone.example', 'gone.example'],
        ['::0', 'b.onion'],
      ]);
      const outcomes = readMapAddressReply(
        reply('250-127.241.91.60=a.onion', '250-gone.example=gone.example', '250 [fe82:a187:4c95:e508:a7cd:53d1:28d1:52d]=b.onion'),
        pairs,
      );
      assert.deepEqual(outcomes, [
        { ok: true, mapped: { address: '127.241.91.60', newAddress: 'a.onion' } },
        { ok: true, mapped: { address: 'gone.example', newAddress: 'gone.example' } },
        { ok: true, mapped: { address: '[fe82:a187:4c95:e508:a7cd:53d1:28d1:52d]', newAddress: 'b.onion' } },
      ]);
    });

    it('keeps a refused pair apart from the others (a reply that mixes statuses)', () => {
      const { pairs } = encodeMapAddress([
        ['ok.example', '1.2.3.4'],
        ['xxx', '@@@'],
      ]);
      assert.deepEqual(readMapAddressReply(reply('250-ok.example=1.2.3.4', "512 syntax error: invalid address '@@@'"), pairs), [
        { ok: true, mapped: { address: 'ok.example', newAddress: '1.2.3.4' } },
        { ok: false, status: 512, text: "syntax error: invalid address '@@@'" },
      ]);
    });

    it('refuses every pair when tor refused the whole command in one line', () => {
      const { pairs } = encodeMapAddress({ a: 'b', c: 'd' });
      const text = 'Bad arguments to MAPADDRESS: Cannot parse keyword argument(s)';
      assert.deepEqual(readMapAddressReply(reply(`512 ${text}`), pairs), [
        { ok: false, status: 512, text },
        { ok: false, status: 512, text },
      ]);
    });

    it('takes a reply that does not answer the pairs one by one for a protocol error', () => {
      const { pairs } = encodeMapAddress({ a: 'b', c: 'd' });
      assert.throws(() => readMapAddressReply(reply('250-a=b', '250-c=d', '250 e=f'), pairs), TorProtocolError);
      assert.throws(() => readMapAddressReply(reply('250-a=b', '250 c=x'), pairs), TorProtocolError, 'another new address');
      assert.throws(() => readMapAddressReply(reply('250-x=b', '250 c=d'), pairs), TorProtocolError, 'another address');
      assert.throws(() => readMapAddressReply(reply('250-a=b', '250 OK'), pairs), TorProtocolError, 'not Old=New');
    });

    it('accepts an echo in lower case (older tors lowered the line)', () => {
      const { pairs } = encodeMapAddress({ 'Gone.Example': 'Other.Example' });
      assert.deepEqual(readMapAddressReply(reply('250 gone.example=other.example'), pairs), [
        { ok: true, mapped: { address: 'gone.example', newAddress: 'other.example' } },
      ]);
    });

    it('lists the mappings made from any MAPADDRESS reply, refused pairs passed over', () => {
      assert.deepEqual(mappedInReply(reply("512-syntax error: invalid address '@@@'", '250 127.196.246.254=bogus1.google.com')), [
        { address: '127.196.246.254', newAddress: 'bogus1.google.com' },
      ]);
      assert.deepEqual(mappedInReply(reply('512 syntax error: not enough arguments to mapaddress.')), []);
    });
  });

  describe('TorControl.mapAddress against a fake tor', () => {
    let fake: FakeControlServer;
    let control: TorControl;

    /** Answers MAPADDRESS as tor does: a line per pair, `@@@` refused, 0.0.0.0 given 127.1.2.x. */
    function answerLikeTor(): void {
      let next = 1;
      fake.handle(/^MAPADDRESS/, (line) => {
        const pairs = line.split(' ').slice(1);
        const lines = pairs.map((p) => {
          const [from, to] = p.split('=') as [string, string];
          if (to === '@@@') return `512-syntax error: invalid address '${to}'`;
          return `250-${from === '0.0.0.0' ? `127.1.2.${next++}` : from}=${to}`;
        });
        const last = lines.length - 1;
        lines[last] = lines[last]!.slice(0, 3) + ' ' + lines[last]!.slice(4);
        return lines;
      });
    }

    beforeEach(async () => {
      fake = await FakeControlServer.start();
      answerLikeTor();
      ({ control } = await openTorControl(fake.endpoint));
    });
    afterEach(async () => {
      await control.close();
      await fake.close();
    });

    it('sends one command for several mappings and resolves with what tor made', async () => {
      const mapped = await control.mapAddress([
        ['gone.example', '127.0.0.1'],
        ['0.0.0.0', 'a.onion'],
      ]);
      assert.deepEqual(mapped, [
        { address: 'gone.example', newAddress: '127.0.0.1' },
        { address: '127.1.2.1', newAddress: 'a.onion' },
      ]);
      assert.deepEqual(
        fake.commands.filter((c) => c.startsWith('MAPADDRESS')),
        ['MAPADDRESS gone.example=127.0.0.1 0.0.0.0=a.onion'],
      );
    });

    it('null options are none, as for every other command (they threw a bare TypeError)', async () => {
      assert.deepEqual(await control.mapAddress({ 'n.example': '127.0.0.1' }, null as never), [{ address: 'n.example', newAddress: '127.0.0.1' }]);
    });

    it('rejects with TorControlError when tor refused a pair, announces the pairs made, and the connection carries on', async () => {
      const announced: Array<readonly MappedAddress[]> = [];
      control.on('addressMapped', (m) => announced.push(m));
      const err = await control.mapAddress({ 'ok.example': '1.2.3.4', xxx: '@@@' }).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TorControlError);
      assert.equal(err.status, 512);
      assert.equal(err.command, 'MAPADDRESS');
      assert.match(err.message, /invalid address '@@@'/);
      assert.deepEqual(announced, [[{ address: 'ok.example', newAddress: '1.2.3.4' }]]);
      assert.equal(control.closed, false);
      assert.equal(await control.getInfo('version'), '0.4.9.1');
    });

    it('a raw MAPADDRESS whose first pair was refused rejects too (the last line alone would say 250), and is announced', async () => {
      const announced: Array<readonly MappedAddress[]> = [];
      control.on('addressMapped', (m) => announced.push(m));
      await assert.rejects(control.command('MAPADDRESS xxx=@@@ 0.0.0.0=bogus.example'), (e: unknown) => e instanceof TorControlError && e.status === 512);
      assert.deepEqual(announced, [[{ address: '127.1.2.1', newAddress: 'bogus.example' }]]);
      assert.equal(control.closed, false);
    });

    it('sends nothing for a value that would inject', async () => {
      await assert.rejects(control.mapAddress({ 'a.example\r\nSIGNAL HALT': 'b' }), TorInvalidValueError);
      await assert.rejects(control.mapAddress({ a: 'b c=d' }), TorInvalidValueError);
      await assert.rejects(control.mapAddress({ a: 'b' }, { timeoutMs: -1 }), TorInvalidValueError);
      await control.getInfo('version');
      assert.deepEqual(
        fake.commands.filter((c) => /MAPADDRESS|SIGNAL/.test(c)),
        [],
      );
    });
  });

  it('TorControl.mapAddress (against a scripted peer) sends calls one at a time, each after the reply to the one before', async () => {
    // So that tor's ADDRMAP event for the first (sent after its reply) reaches a live state before
    // the reply to the second, which removes the same mapping.
    const peer = await ScriptedPeer.start();
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const first = control.mapAddress({ 'a.example': '1.1.1.1' });
      const second = control.mapAddress({ 'a.example': 'a.example' });
      await peer.waitForLines(1);
      const info = control.getInfo('version'); // not held back: only MAPADDRESS calls wait
      await expectInTurn(peer, first, second, info);
    } finally {
      control.destroy();
      await peer.close();
    }
  });

  it('TorControl.mapAddress: a call that timed out waiting for its turn does not let the next one go before the call still awaiting its reply', async () => {
    const peer = await ScriptedPeer.start();
    const control = new TorControl(await connectRaw(peer.port));
    try {
      const first = control.mapAddress({ 'a.example': '1.1.1.1' });
      await peer.waitForLines(1);
      await assert.rejects(control.mapAddress({ 'b.example': '2.2.2.2' }, { timeoutMs: 1 }), TorTimeoutError);
      const third = control.mapAddress({ 'a.example': 'a.example' });
      // Once everything already runnable has run: the third call, had it not waited, is written.
      await new Promise((resolve) => setImmediate(resolve));
      const info = control.getInfo('version');
      await expectInTurn(peer, first, third, info);
    } finally {
      control.destroy();
      await peer.close();
    }
  });
});
