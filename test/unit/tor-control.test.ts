import assert from 'node:assert/strict';
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { TorControl } from '../../src/control/tor-control.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import { openTorControl, parseControlEndpoint, type ControlAddress } from '../../src/control/transport.js';
import {
  EndpointArgumentError,
  TorAbortError,
  TorAuthError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorNotAvailableError,
  TorProtocolError,
  TorTimeoutError,
} from '../../src/errors.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { waitUntil } from '../support/settle.js';

describe('TorControl against a scripted peer', () => {
  let peer: ScriptedPeer;
  let control: TorControl;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    control = new TorControl(await connectRaw(peer.port));
  });
  afterEach(async () => {
    control.destroy();
    await peer.close();
  });

  it('pipelines commands and matches replies in order', async () => {
    const a = control.command('GETINFO version');
    const b = control.getInfo(['a', 'b']);
    await peer.waitForLines(2);
    assert.deepEqual(peer.received, ['GETINFO version', 'GETINFO a b']);
    peer.write('250-version=0.4.9.11\r\n250 OK\r\n250-a=1\r\n250+b=\r\nline 1\r\n..line 2\r\n.\r\n250 OK\r\n');
    assert.equal((await a).lines[0]!.text, 'version=0.4.9.11');
    assert.deepEqual(await b, { a: '1', b: 'line 1\n.line 2' });
  });

  it('sends a data block line by line, dot-stuffed, a final newline ending the last line, not adding an empty one', async () => {
    const replies = [
      control.commandWithData('LOADCONF', 'SocksPort 0\n.hidden\nLog notice stdout\n'),
      control.commandWithData('LOADCONF', 'SocksPort 0\nLog notice stdout'),
      control.commandWithData('LOADCONF', 'a\n\n'),
      control.commandWithData('LOADCONF', ''),
    ];
    await peer.waitForLines(15);
    assert.deepEqual(peer.received, [
      '+LOADCONF', 'SocksPort 0', '..hidden', 'Log notice stdout', '.',
      '+LOADCONF', 'SocksPort 0', 'Log notice stdout', '.',
      '+LOADCONF', 'a', '', '.',
      '+LOADCONF', '.',
    ]);
    peer.write('250 OK\r\n'.repeat(4));
    for (const r of replies) assert.equal((await r).status, 250);
  });

  it('rejects 5xx replies with TorControlError naming the command, and carries on', async () => {
    const bad = control.getInfo('nope');
    const good = control.getInfo('version');
    await peer.waitForLines(2);
    peer.write('552 Unrecognized key "nope"\r\n250-version=1\r\n250 OK\r\n');
    const err = await bad.catch((e: unknown) => e);
    assert.ok(err instanceof TorControlError);
    assert.equal(err.code, 'TOR_CONTROL_ERROR');
    assert.equal(err.status, 552);
    assert.equal(err.command, 'GETINFO');
    assert.equal(await good, '1');
  });

  it('treats a reply with no command waiting as a protocol error and closes', async () => {
    const closed = new Promise<Error | undefined>((resolve) => control.once('close', resolve));
    peer.write('250 OK\r\n');
    const why = await closed;
    assert.ok(why instanceof TorProtocolError);
    assert.match(why.message, /no command waiting/);
    await assert.rejects(control.getInfo('version'), TorControlClosedError);
  });

  it('rejects every pending command, by name, when the connection closes mid-reply', async () => {
    const first = control.getInfo('ns/all');
    const second = control.signal('NEWNYM');
    await peer.waitForLines(2);
    peer.write('250+ns/all=\r\nr a b\r\n');
    await new Promise((r) => setTimeout(r, 20));
    peer.cut();
    const e1 = await first.catch((e: unknown) => e);
    const e2 = await second.catch((e: unknown) => e);
    assert.ok(e1 instanceof TorControlClosedError);
    assert.match(e1.message, /^GETINFO failed/);
    assert.ok(e2 instanceof TorControlClosedError);
    assert.match(e2.message, /^SIGNAL failed/);
    assert.equal(control.closed, true);
  });

  it("'close' carries a TorControlClosedError when tor ends the connection, and nothing after our own close()", async () => {
    const byTor = new Promise<Error | undefined>((resolve) => control.once('close', resolve));
    await peer.close(); // the peer drops the connection, as a tor killed with SIGKILL would
    const err = await byTor;
    assert.ok(err instanceof TorControlClosedError, String(err));
    assert.match(err.message, /closed by tor/);

    const peer2 = await ScriptedPeer.start();
    peer2.auto.set('QUIT', '250 closing connection\r\n');
    const ours = new TorControl(await connectRaw(peer2.port));
    const clean = new Promise<Error | undefined>((resolve) => ours.once('close', resolve));
    await ours.close({ timeoutMs: 2000 });
    assert.equal(await clean, undefined);
    // A command after our close() says who closed it: not tor.
    const late = await ours.getInfo('version').catch((e: unknown) => e);
    assert.ok(late instanceof TorControlClosedError);
    assert.doesNotMatch(late.message, /closed by tor/);
    assert.match(late.message, /closed by the caller/);
    await peer2.close();
  });

  it('close() still drains when a command is made after it: that one is refused unsent, the earlier one gets its reply', async () => {
    const closeEvent = new Promise<Error | undefined>((resolve) => control.once('close', resolve));
    const before = control.getInfo('version');
    const closing = control.close({ timeoutMs: 5000 });
    const after = control.getInfo('address').catch((e: unknown) => e);
    await peer.waitForLines(2);
    // Answered as tor does: the earlier command, QUIT, then the end of the connection.
    peer.write('250-version=1\r\n250 OK\r\n250 closing connection\r\n');
    peer.cut();
    assert.equal(await before, '1');
    const late = await after;
    assert.ok(late instanceof TorControlClosedError, String(late));
    assert.match((late as Error).message, /close\(\)/);
    await closing;
    assert.equal(await closeEvent, undefined);
    assert.deepEqual(peer.received, ['GETINFO version', 'QUIT']);
  });

  it('close(null) from JavaScript is close() with no options, as null options are for commands', async () => {
    peer.auto.set('QUIT', '250 closing connection\r\n');
    const closed = new Promise<Error | undefined>((resolve) => control.once('close', resolve));
    await control.close(null as never);
    assert.equal(await closed, undefined);
    assert.deepEqual(peer.received, ['QUIT']);
  });

  it('closes with a protocol error on garbage, rejecting what is pending', async () => {
    const pending = control.getInfo('version');
    await peer.waitForLines(1);
    peer.write('HTTP/1.0 400 Bad Request\r\n');
    const err = await pending.catch((e: unknown) => e);
    assert.ok(err instanceof TorControlClosedError);
    assert.ok((err as Error).cause instanceof TorProtocolError);
  });

  it('closes on a 1 MiB line instead of buffering it', async () => {
    const pending = control.getInfo('version');
    await peer.waitForLines(1);
    peer.write('250-version=' + 'x'.repeat(1024 * 1024) + '\r\n250 OK\r\n');
    const err = await pending.catch((e: unknown) => e);
    assert.ok(err instanceof TorControlClosedError);
    assert.match(String((err as Error).cause), /longer than/);
  });

  it('refuses CR, LF and NUL in any value before writing anything', async () => {
    const socket = (control as unknown as { socket: { write: (...a: unknown[]) => boolean } }).socket;
    const write = sinon.spy(socket, 'write');
    const attempts: Array<() => Promise<unknown>> = [
      () => control.command('GETINFO version\r\nSIGNAL HALT'),
      () => control.getInfo('version\nSIGNAL HALT'),
      () => control.getInfo(['ok', 'bad\0']),
      () => control.getConf(['SocksPort\r\nSIGNAL HALT']),
      () => control.setConf({ ContactInfo: 'x\r\nSIGNAL HALT' }),
      () => control.setConf({ 'Bad Key': 'x' }),
      () => control.setConf({ ContactInfo: ['ok', 'bad\n'] }),
      () => control.resetConf(['SocksPort\nX']),
      () => control.signal('NEWNYM\r\nSIGNAL HALT'),
      () => control.signal('NEW NYM'),
      () => control.subscribe('CIRC\r\nSIGNAL HALT', () => undefined),
      () => control.commandWithData('LOADCONF', 'SocksPort 9050\r\nx'),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt(), (err: unknown) => {
        assert.ok(err instanceof TorInvalidValueError, String(err));
        assert.equal(err.code, 'TOR_INVALID_VALUE');
        assert.doesNotMatch(err.message, /SIGNAL HALT/);
        return true;
      });
    }
    assert.equal(write.callCount, 0);
  });

  it('refuses arguments of the wrong type with TorInvalidValueError before writing anything', async () => {
    const socket = (control as unknown as { socket: { write: (...a: unknown[]) => boolean } }).socket;
    const write = sinon.spy(socket, 'write');
    const loose = control as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['an object value', () => loose.setConf!({ ContactInfo: { a: 1 } })],
      ['a symbol value', () => loose.setConf!({ ContactInfo: Symbol('s') })],
      ['a function value', () => loose.setConf!({ ContactInfo: () => 1 })],
      ['NaN', () => loose.setConf!({ BandwidthRate: NaN })],
      ['Infinity', () => loose.setConf!({ BandwidthRate: Infinity })],
      ['a nested list', () => loose.setConf!({ SocksPort: [['a', 'b']] })],
      ['undefined in a list', () => loose.setConf!({ SocksPort: [undefined] })],
      ['null in a list', () => loose.setConf!({ SocksPort: [null] })],
      ['setConf of a string', () => loose.setConf!('ContactInfo')],
      ['setConf of null', () => loose.setConf!(null)],
      ['resetConf of null', () => loose.resetConf!(null)],
      ['resetConf of a number in a list', () => loose.resetConf!([5])],
      ['getInfo of a number', () => loose.getInfo!(42)],
      ['getInfo of null', () => loose.getInfo!(null)],
      ['getInfo of an object', () => loose.getInfo!({})],
      ['getInfo of a function', () => loose.getInfo!(() => 1)],
      ['getConf of undefined', () => loose.getConf!(undefined)],
      ['a data block that is not a string', () => loose.commandWithData!('LOADCONF', 42)],
      ['a data block with a lone surrogate', () => control.commandWithData('LOADCONF', 'a\ud800b')],
      ['a listener that is not a function', () => loose.subscribe!('CIRC', 42)],
    ];
    for (const [what, attempt] of attempts) {
      let result: Promise<unknown>;
      try {
        result = attempt();
      } catch (err) {
        assert.fail(`${what}: threw at the call instead of rejecting: ${String(err)}`);
      }
      await assert.rejects(result, (err: unknown) => {
        assert.ok(err instanceof TorInvalidValueError, `${what}: ${String(err)}`);
        return true;
      });
    }
    assert.throws(() => (control as unknown as { events: (n: unknown) => unknown }).events(null), TorInvalidValueError);
    assert.throws(() => control.events([]), TorInvalidValueError, 'an iterator over no events would never end');
    assert.equal(write.callCount, 0);
  });

  it('quotes SETCONF values so that spaces, quotes, backslashes and tabs survive', async () => {
    const done = control.setConf({ ContactInfo: 'a "b" c\\d\te', SocksPort: ['9050', '127.0.0.1:9150 IsolateSOCKSAuth'], Log: null, X: true });
    await peer.waitForLines(1);
    assert.equal(
      peer.received[0],
      'SETCONF ContactInfo="a \\"b\\" c\\\\d\\te" SocksPort="9050" SocksPort="127.0.0.1:9150 IsolateSOCKSAuth" Log X="1"',
    );
    peer.write('250 OK\r\n');
    await done;
  });

  it('resets one option given by name, or several, as getConf takes them', async () => {
    const one = control.resetConf('ContactInfo');
    const many = control.resetConf(['ContactInfo', 'Nickname']);
    await peer.waitForLines(1);
    assert.equal(peer.received[0], 'RESETCONF ContactInfo', 'the single name was sent first');
    await peer.waitForLines(2);
    assert.equal(peer.received[1], 'RESETCONF ContactInfo Nickname');
    peer.write('250 OK\r\n250 OK\r\n');
    await Promise.all([one, many]);
  });

  it('parses GETCONF values, lists and defaults', async () => {
    const got = control.getConf(['SocksPort', 'ContactInfo', 'Nickname']);
    await peer.waitForLines(1);
    peer.write('250-SocksPort=9050\r\n250-SocksPort=unix:/x\r\n250-ContactInfo="a \\"b\\""\r\n250 Nickname\r\n');
    assert.deepEqual(await got, { SocksPort: ['9050', 'unix:/x'], ContactInfo: ['a "b"'], Nickname: [] });
  });

  it('times out a command and keeps the reply stream aligned', async () => {
    const slow = control.getInfo('slow', { timeoutMs: 30 });
    const err = await slow.catch((e: unknown) => e);
    assert.ok(err instanceof TorTimeoutError);
    assert.equal(err.code, 'TOR_TIMEOUT');
    const next = control.getInfo('next');
    await peer.waitForLines(2);
    peer.write('250-slow=late\r\n250 OK\r\n250-next=right\r\n250 OK\r\n');
    assert.equal(await next, 'right');
  });

  it('aborts a command through its AbortSignal', async () => {
    const ac = new AbortController();
    const p = control.getInfo('x', { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, TorAbortError);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(control.getInfo('x', { signal: pre.signal }), TorAbortError);
  });

  it('keeps SETEVENTS equal to the union of subscriptions', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const off1 = await control.subscribe('CIRC', () => undefined);
    const off2 = await control.subscribe('STREAM', () => undefined);
    const off3 = await control.subscribe('CIRC', () => undefined);
    await off1();
    await off3();
    await off2();
    assert.deepEqual(peer.received, ['SETEVENTS CIRC', 'SETEVENTS CIRC STREAM', 'SETEVENTS STREAM', 'SETEVENTS']);
  });

  it('drops a subscription tor refuses and restores the previous set', async () => {
    peer.auto.set('SETEVENTS', (line) => (line.includes('BOGUS') ? '552 Unrecognized event "BOGUS"\r\n' : '250 OK\r\n'));
    await control.subscribe('CIRC', () => undefined);
    await assert.rejects(control.subscribe('BOGUS', () => undefined), TorControlError);
    await control.subscribe('STREAM', () => undefined);
    assert.deepEqual(peer.received, ['SETEVENTS CIRC', 'SETEVENTS BOGUS CIRC', 'SETEVENTS CIRC STREAM']);
  });

  it('keeps a subscription made at the same time as one tor refuses', async () => {
    peer.auto.set('SETEVENTS', (line) => (line.includes('BOGUS') ? '552 Unrecognized event "BOGUS"\r\n' : '250 OK\r\n'));
    // Both names go in one SETEVENTS, which tor refuses whole for the name it does not know.
    const [circ, bogus] = await Promise.allSettled([
      control.subscribe('CIRC', () => undefined),
      control.subscribe('BOGUS', () => undefined),
    ]);
    assert.equal(circ.status, 'fulfilled');
    assert.ok(bogus.status === 'rejected' && bogus.reason instanceof TorControlError);
    assert.equal(peer.received.at(-1), 'SETEVENTS CIRC');
    const seen: string[] = [];
    await control.subscribeRaw('CIRC', (text) => seen.push(text));
    peer.write('650 CIRC 1 LAUNCHED\r\n');
    await waitUntil(() => seen.length === 1, 'the CIRC event');
  });

  it('delivers no event after a listener destroyed the connection, not even the rest of the same read', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const seen: string[] = [];
    await control.subscribeRaw('BW', (text) => {
      seen.push(text);
      if (seen.length === 1) control.destroy();
    });
    await control.subscribeRaw('NS', (text) => seen.push(text));
    const closed = new Promise((resolve) => control.once('close', resolve));
    // One write: the events after the first arrive in the read that destroy() interrupts.
    peer.write('650 BW 1 1\r\n650 BW 2 2\r\n650+NS\r\nr x\r\n.\r\n650 OK\r\n');
    await closed;
    // Everything of that read has been parsed (or dropped) by now: it came in one chunk.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, ['BW 1 1']);
  });

  it('getConf of one option named twice (in any case) lists its values once', async () => {
    // As tor does: the option's lines once per time it is named.
    peer.auto.set('GETCONF', (line) => {
      const keys = line.split(' ').slice(1);
      const lines = keys.flatMap(() => ['SocksPort=9050', 'SocksPort=9150']);
      return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
    });
    assert.deepEqual(await control.getConf(['SocksPort', 'socksport', 'SocksPort']), { SocksPort: ['9050', '9150'] });
    assert.deepEqual(peer.received, ['GETCONF SocksPort']);
  });

  it('delivers events to every subscriber even when one throws', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const seen: string[] = [];
    const errors: unknown[] = [];
    control.on('listenerError', (err) => errors.push(err));
    await control.subscribe('BW', () => {
      throw new Error('boom');
    });
    await control.subscribe('BW', (e) => seen.push(e.raw));
    peer.write('650 BW 1 2\r\n650 BW 3 4\r\n');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(seen, ['BW 1 2', 'BW 3 4']);
    assert.equal(errors.length, 2);
    // The connection still works.
    const v = control.getInfo('version');
    peer.write('250-version=1\r\n250 OK\r\n');
    assert.equal(await v, '1');
  });

  it('reports an async subscriber that rejects as listenerError, for typed and raw subscribers', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const errors: unknown[] = [];
    control.on('listenerError', (err) => errors.push(err));
    await control.subscribe('BW', async () => {
      throw new Error('typed');
    });
    await control.subscribeRaw('BW', async () => {
      throw new Error('raw');
    });
    peer.write('650 BW 1 2\r\n');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(errors.map((e) => (e as Error).message).sort(), ['raw', 'typed']);
  });

  it('a listenerError or malformedEvent listener that throws or rejects is only logged: the connection stays open, the other listeners run', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const reported: string[] = [];
    control.on('listenerError', () => {
      throw new Error('bug in a listenerError listener');
    });
    control.on('listenerError', async () => {
      throw new Error('async bug in a listenerError listener');
    });
    control.on('listenerError', (err) => reported.push((err as Error).message));
    control.on('malformedEvent', () => {
      throw new Error('bug in a malformedEvent listener');
    });
    control.on('malformedEvent', (e) => reported.push(`malformed ${e.raw}`));
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      await control.subscribe('BW', () => {
        throw new Error('sync');
      });
      await control.subscribeRaw('BW', async () => {
        throw new Error('async');
      });
      await control.subscribe('CIRC', () => undefined);
      peer.write('650 BW 1 2\r\n650 CIRC\r\n');
      await waitUntil(() => reported.length === 3, 'the three reports');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(reported.sort(), ['async', 'malformed CIRC', 'sync']);
      assert.deepEqual(unhandled, []);
      assert.equal(control.closed, false);
      const v = control.getInfo('version');
      peer.write('250-version=1\r\n250 OK\r\n');
      assert.equal(await v, '1');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a subscription made while an event is delivered (by its listener, or an events() iterator started there) begins with the next event, as with EventEmitter', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const heard: string[] = [];
    let iterator: AsyncIterableIterator<{ raw: string }> | undefined;
    let first: Promise<IteratorResult<{ raw: string }>> | undefined;
    const inner = (e: { raw: string }) => heard.push(`inner ${e.raw}`);
    const outer = (e: { raw: string }) => {
      heard.push(`outer ${e.raw}`);
      if (iterator) return;
      // The same listener twice more (two more subscriptions), a raw one, and an iterator.
      void control.subscribe('BW', inner);
      void control.subscribe('BW', inner);
      void control.subscribeRaw('BW', (text) => heard.push(`raw ${text}`));
      iterator = control.events('BW');
      first = iterator.next();
    };
    await control.subscribe('BW', inner);
    await control.subscribe('BW', outer);
    peer.write('650 BW 1 1\r\n650 BW 2 2\r\n');
    await waitUntil(() => heard.length === 7, 'both events');
    assert.deepEqual(heard, [
      'inner BW 1 1', 'outer BW 1 1',
      'raw BW 2 2', 'inner BW 2 2', 'outer BW 2 2', 'inner BW 2 2', 'inner BW 2 2',
    ]);
    assert.equal((await first!).value!.raw, 'BW 2 2');
    await iterator!.return!();
  });

  it('keeps a malformed known event from typed subscribers and reports it', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const circuits: unknown[] = [];
    const malformed: string[] = [];
    control.on('malformedEvent', (e) => malformed.push(e.raw));
    await control.subscribe('CIRC', (e) => circuits.push(e.circuitId));
    peer.write('650 CIRC\r\n650 CIRC 7 BUILT\r\n');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(circuits, ['7']);
    assert.deepEqual(malformed, ['CIRC']);
  });

  it('gives raw subscribers the text as tor sent it, one-line and multi-line, beside typed ones', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const raw: string[] = [];
    const typed: string[] = [];
    const offRaw = await control.subscribeRaw('bw', (text) => raw.push(text));
    await control.subscribe('BW', (e) => typed.push(`${e.read}/${e.written}`));
    await control.subscribeRaw('NS', (text) => raw.push(text));
    // Raw and typed subscriptions of one name make one SETEVENTS entry.
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS BW NS']);
    peer.write('650 BW 1 2\r\n650+NS\r\nr a b c\r\n.\r\n650 OK\r\n650 BW 3 4 EXTRA="x y"\r\n');
    await waitUntil(() => typed.length === 2, 'the typed BW events');
    assert.deepEqual(raw, ['BW 1 2', 'NS\nr a b c\nOK', 'BW 3 4 EXTRA="x y"']);
    assert.deepEqual(typed, ['1/2', '3/4']);
    // The raw text is the typed event's `raw`.
    const viaTyped: string[] = [];
    await control.subscribe('NS', (e) => viaTyped.push(e.raw));
    peer.write('650+NS\r\nr a b c\r\n.\r\n650 OK\r\n');
    await waitUntil(() => viaTyped.length === 1, 'the typed NS event');
    assert.deepEqual(viaTyped, [raw[1]]);
    // Dropping the raw BW subscriber keeps BW while a typed one is left.
    await offRaw();
    peer.write('650 BW 5 6\r\n');
    await waitUntil(() => typed.length === 3, 'the last typed BW event');
    assert.equal(raw.length, 4);
    assert.deepEqual(typed, ['1/2', '3/4', '5/6']);
    assert.equal(peer.received.at(-1), 'SETEVENTS BW NS');
  });

  it('drops a raw subscription tor refuses, and reports a throwing raw subscriber', async () => {
    peer.auto.set('SETEVENTS', (line) => (line.includes('BOGUS') ? '552 Unrecognized event "BOGUS"\r\n' : '250 OK\r\n'));
    await assert.rejects(control.subscribeRaw('BOGUS', () => undefined), TorControlError);
    await assert.rejects(control.subscribeRaw('BW\r\nSIGNAL HALT', () => undefined), TorInvalidValueError);
    const reported: unknown[] = [];
    control.on('listenerError', (_err, event) => reported.push(event));
    const seen: string[] = [];
    await control.subscribeRaw('BW', () => {
      throw new Error('boom');
    });
    await control.subscribeRaw('BW', (text) => seen.push(text));
    peer.write('650 BW 1 2\r\n');
    await waitUntil(() => seen.length === 1, 'the raw BW event');
    assert.deepEqual(seen, ['BW 1 2']);
    assert.deepEqual(reported, ['BW 1 2']);
    assert.deepEqual(peer.received, ['SETEVENTS BOGUS', 'SETEVENTS BW']);
  });

  it('iterates events until aborted, then unsubscribes', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const ac = new AbortController();
    const iterator = control.events(['BW'], { signal: ac.signal });
    const first = iterator.next();
    await peer.waitForLines(1);
    peer.write('650 BW 5 6\r\n');
    const { value } = await first;
    assert.equal(value!.type, 'BW');
    const second = iterator.next();
    ac.abort();
    assert.deepEqual(await second, { value: undefined, done: true });
    await peer.waitForLines(2);
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS']);
  });

  it('ends an event iterator with TorControlClosedError when the connection dies', async () => {
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    const iterator = control.events('CIRC');
    const next = iterator.next();
    await peer.waitForLines(1);
    peer.cut();
    await assert.rejects(next, TorControlClosedError);
  });
});

describe('opening a control connection', () => {
  it('refuses a malformed control endpoint with EndpointArgumentError, before any connection', async () => {
    for (const bad of ['foo:1', 'tcp:127.0.0.1:0', 'tcp:127.0.0.1:70000', 'onion:80', 'tls:127.0.0.1:9051']) {
      await assert.rejects(openTorControl(bad), (e: unknown) => e instanceof EndpointArgumentError && e.code === 'TOR_ENDPOINT_ARGUMENT', bad);
    }
  });

  it('reads the control endpoint forms: port, absolute path, unix:, tcp: with [IPv6], keywords; refuses unknown keywords', () => {
    const table: Array<[string, ControlAddress]> = [
      ['9051', { kind: 'tcp', host: '127.0.0.1', port: 9051 }],
      ['/run/tor/control', { kind: 'unix', path: '/run/tor/control' }],
      ['unix:/run/tor/control', { kind: 'unix', path: '/run/tor/control' }],
      ['unix:path=/x', { kind: 'unix', path: '/x' }],
      ['tcp:127.0.0.1:9051', { kind: 'tcp', host: '127.0.0.1', port: 9051 }],
      ['tcp:[::1]:9051', { kind: 'tcp', host: '::1', port: 9051 }],
      ['tcp:\\:\\:1:9051', { kind: 'tcp', host: '::1', port: 9051 }],
      ['tcp:host=localhost:port=9051', { kind: 'tcp', host: 'localhost', port: 9051 }],
    ];
    for (const [endpoint, want] of table) assert.deepEqual(parseControlEndpoint(endpoint), want, endpoint);
    for (const bad of ['tcp:127.0.0.1:9051:bogus=1', 'unix:/x:Timeout=5', 'tcp:[::1]', 'tcp:127.0.0.1']) {
      assert.throws(() => parseControlEndpoint(bad), EndpointArgumentError, bad);
    }
    // Copied from inside a control= option: the message says what is wrong, not "not tcp:127.0.0.1:9051:".
    assert.throws(
      () => parseControlEndpoint('tcp\\:127.0.0.1\\:9051'),
      (e: unknown) => e instanceof EndpointArgumentError && /its colons are escaped/.test(e.message) && !/not tcp:127/.test(e.message),
    );
  });

  it('a control endpoint without its kind (HOST:PORT as tor writes it, a relative path): the message says what to write', () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1:9051', /write tcp:127\.0\.0\.1:9051$/],
      ['localhost:9051', /write tcp:localhost:9051$/],
      ['[::1]:9051', /write tcp:\[::1\]:9051$/],
      ['relative/control.sock', /neither a port, nor an absolute socket path/],
    ];
    for (const [endpoint, want] of cases) {
      assert.throws(
        () => parseControlEndpoint(endpoint),
        (e: unknown) => e instanceof EndpointArgumentError && want.test(e.message) && !/not \[?[\w./]*:$/.test(e.message),
        endpoint,
      );
    }
    // A word before the colon is a prefix of the wrong kind, and is named as one.
    assert.throws(() => parseControlEndpoint('onion:80'), /control endpoints are tcp: or unix:, not onion:/);
  });

  it('something that answers but is no tor: TorNotAvailableError saying so, with the protocol error in its causes', async () => {
    const server = net.createServer((s) => s.on('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const err = await connectTor({ control: String((server.address() as net.AddressInfo).port), timeoutMs: 5000 }).catch((e: unknown) => e);
      assert.ok(err instanceof TorNotAvailableError, String(err));
      assert.match(err.message, /TOR_PROTOCOL_ERROR: not a tor control port\?/);
      assert.ok(err.cause instanceof TorControlClosedError);
      assert.ok((err.cause as Error).cause instanceof TorProtocolError);
    } finally {
      server.close();
    }
  });

  it('with an already aborted signal: TorAbortError, and no connection is made (none left open)', async () => {
    const peer = await ScriptedPeer.start();
    let connections = 0;
    peer.server.on('connection', () => connections++);
    try {
      const ac = new AbortController();
      ac.abort();
      for (let i = 0; i < 3; i++) await assert.rejects(openTorControl(peer.endpoint, { signal: ac.signal }), TorAbortError);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(connections, 0);
    } finally {
      await peer.close();
    }
  });
});

describe('authentication against a scripted peer', () => {
  let peer: ScriptedPeer;
  let dir: string;
  const cookie = Buffer.alloc(32, 7);

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-auth-'));
    await writeFile(path.join(dir, 'cookie'), cookie);
  });
  afterEach(async () => {
    await peer.close();
    await rm(dir, { recursive: true, force: true });
  });

  const protocolInfo = (methods: string, cookieFile?: string) =>
    `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods}${cookieFile ? ` COOKIEFILE="${cookieFile}"` : ''}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`;

  it('refuses an impostor whose SAFECOOKIE server hash is wrong, before AUTHENTICATE', async () => {
    peer.auto.set('PROTOCOLINFO', protocolInfo('COOKIE,SAFECOOKIE', path.join(dir, 'cookie')));
    peer.auto.set('AUTHCHALLENGE', `250 AUTHCHALLENGE SERVERHASH=${'ab'.repeat(32)} SERVERNONCE=${'cd'.repeat(32)}\r\n`);
    const err = await openTorControl(peer.endpoint).catch((e: unknown) => e);
    assert.ok(err instanceof TorAuthError);
    assert.equal(err.code, 'TOR_AUTH_FAILED');
    assert.match(err.message, /server hash is wrong/);
    assert.equal(peer.received.some((l) => l.startsWith('AUTHENTICATE')), false);
    assert.doesNotMatch(err.message, new RegExp(cookie.toString('hex')));
  });

  it('completes SAFECOOKIE when the server proves it knows the cookie', async () => {
    const serverNonce = Buffer.alloc(32, 9);
    peer.auto.set('PROTOCOLINFO', protocolInfo('SAFECOOKIE', path.join(dir, 'cookie')));
    peer.auto.set('AUTHCHALLENGE', (line) => {
      const clientNonce = Buffer.from(line.split(' ')[2]!, 'hex');
      const hash = createHmac('sha256', 'Tor safe cookie authentication server-to-controller hash')
        .update(Buffer.concat([cookie, clientNonce, serverNonce]))
        .digest('hex');
      return `250 AUTHCHALLENGE SERVERHASH=${hash} SERVERNONCE=${serverNonce.toString('hex')}\r\n`;
    });
    peer.auto.set('AUTHENTICATE', '250 OK\r\n');
    const { control, method } = await openTorControl(peer.endpoint);
    assert.equal(method, 'SAFECOOKIE');
    const auth = peer.received.find((l) => l.startsWith('AUTHENTICATE '))!;
    const clientNonce = Buffer.from(peer.received.find((l) => l.startsWith('AUTHCHALLENGE'))!.split(' ')[2]!, 'hex');
    const expected = createHmac('sha256', 'Tor safe cookie authentication controller-to-server hash')
      .update(Buffer.concat([cookie, clientNonce, serverNonce]))
      .digest('hex');
    assert.equal(auth, `AUTHENTICATE ${expected}`);
    control.destroy();
  });

  it('uses a password only for HASHEDPASSWORD and never puts it in an error', async () => {
    peer.auto.set('PROTOCOLINFO', protocolInfo('HASHEDPASSWORD'));
    peer.auto.set('AUTHENTICATE', '515 Authentication failed: Password did not match HashedControlPassword value from configuration\r\n');
    const err = await openTorControl(peer.endpoint, { password: 'hunter2 "secret"' }).catch((e: unknown) => e);
    assert.ok(err instanceof TorAuthError);
    assert.doesNotMatch(String(err) + String((err as Error).cause), /hunter2/);
    assert.equal(peer.received.at(-1), 'AUTHENTICATE "hunter2 \\"secret\\""');
  });

  it('reads the cookie file a server names only if it is a regular file of 32 bytes (/dev/zero, a FIFO, a big file)', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = path.join(dir, 'big');
    await writeFile(big, Buffer.alloc(1 << 20, 1));
    for (const [file, why] of [
      ['/dev/zero', /not a regular file/],
      [fifo, /not a regular file/],
      [big, /is 1048576 bytes, not 32/],
    ] as const) {
      peer.auto.set('PROTOCOLINFO', protocolInfo('SAFECOOKIE,COOKIE', file));
      // Read blindly, /dev/zero and the FIFO would never end: the connect would time out instead.
      const err = await openTorControl(peer.endpoint, { timeoutMs: 10_000 }).catch((e: unknown) => e);
      assert.ok(err instanceof TorAuthError, `${file}: ${String(err)}`);
      assert.match(err.message, why, file);
    }
  });

  it('explains why no method could be used', async () => {
    peer.auto.set('PROTOCOLINFO', protocolInfo('SAFECOOKIE,COOKIE,HASHEDPASSWORD', '/nonexistent/cookie'));
    const err = await openTorControl(peer.endpoint).catch((e: unknown) => e);
    assert.ok(err instanceof TorAuthError);
    assert.match(err.message, /SAFECOOKIE: cannot read the cookie file/);
    assert.match(err.message, /HASHEDPASSWORD: no password given \(the `password` option; connectTor and the CLI also read \$TOR_CONTROL_PASSWORD\)/);
  });

  it('uses NULL when that is all tor offers', async () => {
    peer.auto.set('PROTOCOLINFO', protocolInfo('NULL'));
    peer.auto.set('AUTHENTICATE', '250 OK\r\n');
    const { control, method } = await openTorControl(peer.endpoint);
    assert.equal(method, 'NULL');
    assert.equal(peer.received.at(-1), 'AUTHENTICATE');
    control.destroy();
  });
});
