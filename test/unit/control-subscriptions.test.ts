import assert from 'node:assert/strict';
import sinon from 'sinon';
import { TorControl } from '../../src/control/tor-control.js';
import { TorControlClosedError, TorControlError, TorEventsOverflowError, TorInvalidValueError } from '../../src/errors.js';
import type { TorEvent } from '../../src/control/events/event-types.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { outcome, waitUntil } from '../support/settle.js';

/**
 * Subscriptions and event iterators used the ways a program does: several readers at once, ended
 * early, the same listener twice, on a connection that has closed.
 */
describe('TorControl subscriptions and event iterators', () => {
  let peer: ScriptedPeer;
  let control: TorControl;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    control = new TorControl(await connectRaw(peer.port));
  });
  afterEach(async () => {
    control.destroy();
    await peer.close();
  });

  /**
   * One command answered after everything sent so far: when it resolves, tor's earlier replies
   * (a SETEVENTS acknowledgement) have been read, and whoever waited on them has moved on.
   */
  async function roundTrip(): Promise<void> {
    const version = control.getInfo('version');
    await peer.waitForLines(peer.received.length + 1);
    peer.write('250-version=1\r\n250 OK\r\n');
    await version;
    // And the promise chains those replies started have run to their end.
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('gives each of several next() calls waiting at once an event of its own', async () => {
    const iterator = control.events('BW');
    const first = iterator.next();
    const second = iterator.next();
    const third = iterator.next();
    await peer.waitForLines(1);
    // All three wait now; the events come together, in one read.
    await roundTrip();
    peer.write('650 BW 1 1\r\n650 BW 2 2\r\n650 BW 3 3\r\n');
    const raws = (await Promise.all([first, second, third])).map((r) => (r.value as TorEvent).raw);
    assert.deepEqual(raws.sort(), ['BW 1 1', 'BW 2 2', 'BW 3 3']);
    await iterator.return!();
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'GETINFO version', 'SETEVENTS']);
  });

  it('return() ends a next() that is waiting, and the iterator stays done', async () => {
    const iterator = control.events('BW');
    const waiting = iterator.next();
    await peer.waitForLines(1);
    await roundTrip();
    await iterator.return!();
    assert.deepEqual(await waiting, { value: undefined, done: true });
    peer.write('650 BW 1 1\r\n');
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'GETINFO version', 'SETEVENTS']);
  });

  it('return() before the first next(): done, and nothing is subscribed', async () => {
    const iterator = control.events(['BW', 'CIRC']);
    await iterator.return!();
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    // A command after it: had next() subscribed, its SETEVENTS would come first.
    await roundTrip();
    assert.deepEqual(peer.received, ['GETINFO version']);
  });

  it('return() while tor acknowledges the subscription leaves nothing subscribed', async () => {
    peer.auto.delete('SETEVENTS');
    const iterator = control.events(['BW']);
    const first = iterator.next();
    await peer.waitForLines(1);
    const ended = iterator.return!();
    peer.write('250 OK\r\n');
    await ended;
    await peer.waitForLines(2);
    peer.write('250 OK\r\n');
    assert.deepEqual(await first, { value: undefined, done: true });
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS']);
  });

  it('one event name given twice, in any case, is one subscription: each event comes once', async () => {
    const iterator = control.events(['BW', 'bw', 'Bw']);
    const first = iterator.next();
    await peer.waitForLines(1);
    peer.write('650 BW 1 1\r\n650 BW 2 2\r\n');
    assert.equal((await first).value!.raw, 'BW 1 1');
    assert.equal((await iterator.next()).value!.raw, 'BW 2 2');
    await iterator.return!();
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS']);
  });

  it('one listener subscribed twice is two subscriptions: ending one leaves the other', async () => {
    const seen: string[] = [];
    const listener = (e: TorEvent) => seen.push(e.raw);
    const off1 = await control.subscribe('BW', listener);
    const off2 = await control.subscribe('BW', listener);
    peer.write('650 BW 1 1\r\n');
    await waitUntil(() => seen.length === 2, 'both deliveries of the first event');
    await off1();
    peer.write('650 BW 2 2\r\n');
    await waitUntil(() => seen.length === 3, 'the second event');
    await off2();
    assert.deepEqual(seen, ['BW 1 1', 'BW 1 1', 'BW 2 2']);
    // tor is asked to stop only when the last one ends.
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS']);
  });

  it('a raw listener subscribed twice is two subscriptions too', async () => {
    const seen: string[] = [];
    const listener = (text: string) => seen.push(text);
    const off1 = await control.subscribeRaw('BW', listener);
    await control.subscribeRaw('BW', listener);
    await off1();
    peer.write('650 BW 1 1\r\n');
    await waitUntil(() => seen.length === 1, 'the event');
    assert.deepEqual(peer.received, ['SETEVENTS BW']);
  });

  it('after our own close(), commands and subscriptions fail saying the caller closed it, not that tor closed the connection', async () => {
    peer.auto.set('QUIT', '250 closing connection\r\n');
    await control.close({ timeoutMs: 2000 });
    const saysOurClose = (err: unknown) =>
      err instanceof TorControlClosedError && /closed by the caller/.test(err.message) && !/by tor/.test(err.message);
    await assert.rejects(control.getInfo('version'), saysOurClose);
    await assert.rejects(control.subscribe('BW', () => undefined), saysOurClose);
  });

  it('subscribe and events() on a closed connection fail with TorControlClosedError, even for an event tor had acknowledged', async () => {
    await control.subscribe('BW', () => undefined);
    peer.cut();
    await waitUntil(() => control.closed, 'the connection to close');
    await assert.rejects(control.subscribe('BW', () => undefined), TorControlClosedError);
    await assert.rejects(control.subscribeRaw('BW', () => undefined), TorControlClosedError);
    await assert.rejects(control.events('BW').next(), TorControlClosedError);
  });

  it('an events() iterator whose subscription tor refused reports it once, then is done, as after any other failure', async () => {
    peer.auto.set('SETEVENTS', '552 Unrecognized event "BW"\r\n');
    const iterator = control.events('BW');
    await assert.rejects(iterator.next(), (err) => err instanceof TorControlError && err.status === 552);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    const read: unknown[] = [];
    for await (const e of iterator) read.push(e);
    assert.deepEqual(read, []);
  });

  it('a reader that falls maxBuffered events behind reads those, then TorEventsOverflowError; the iterator unsubscribed at once', async () => {
    const iterator = control.events('BW', { maxBuffered: 3 });
    const first = iterator.next();
    await peer.waitForLines(1);
    peer.write('650 BW 1 1\r\n');
    assert.equal((await first).value!.raw, 'BW 1 1');
    // Four more while nobody reads: three fit, the fourth overflows.
    peer.write('650 BW 2 2\r\n650 BW 3 3\r\n650 BW 4 4\r\n650 BW 5 5\r\n');
    await waitUntil(() => peer.received.includes('SETEVENTS'), 'the unsubscribe');
    const read: string[] = [];
    for (let i = 0; i < 3; i++) read.push((await iterator.next()).value!.raw);
    assert.deepEqual(read, ['BW 2 2', 'BW 3 3', 'BW 4 4']);
    await assert.rejects(iterator.next(), (err) => err instanceof TorEventsOverflowError && err.code === 'TOR_EVENTS_OVERFLOW' && err.maxBuffered === 3);
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS']);
  });

  it('an abort while the reader is busy unsubscribes at once: events that come later are not read, the next next() is done', async () => {
    const ac = new AbortController();
    const iterator = control.events('BW', { signal: ac.signal });
    const first = iterator.next();
    await peer.waitForLines(1);
    peer.write('650 BW 1 1\r\n');
    assert.equal((await first).value!.raw, 'BW 1 1');
    // The reader is busy with that event (no next() waiting) when the signal aborts.
    ac.abort();
    await waitUntil(() => peer.received.includes('SETEVENTS'), 'the unsubscribe');
    peer.write('650 BW 2 2\r\n');
    await roundTrip();
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS', 'GETINFO version']);
  });

  it('an abort while tor has not acknowledged the subscription ends the waiting next() at once; the late acknowledgement is undone (found by QA)', async () => {
    peer.auto.delete('SETEVENTS');
    const ac = new AbortController();
    const iterator = control.events('BW', { signal: ac.signal });
    const first = outcome(iterator.next());
    await peer.waitForLines(1);
    // Timers frozen: a next() that waited for the SETEVENTS time limit (5 s) would not end. The
    // real timer made before only bounds the test.
    let bound: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (bound = setTimeout(() => resolve('late'), 2_000)));
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldClearNativeTimers: true });
    let r: Awaited<typeof first> | 'late';
    try {
      ac.abort();
      r = await Promise.race([first, late]);
    } finally {
      clock.restore();
      clearTimeout(bound);
    }
    assert.notEqual(r, 'late', 'next() waited for tor after the abort');
    assert.deepEqual(r, { ok: true, value: { value: undefined, done: true } });
    // tor acknowledges late: the subscription is undone, and the connection stays in step.
    peer.write('250 OK\r\n');
    await waitUntil(() => peer.received.includes('SETEVENTS'), 'the unsubscribe');
    peer.write('250 OK\r\n');
    await roundTrip();
    assert.deepEqual(peer.received, ['SETEVENTS BW', 'SETEVENTS', 'GETINFO version']);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });

  it("reading events keeps nothing per event: next() waits on the subscription once, not on a fresh race each time (a race per next() left a reaction on the iterator's pending end for every event, found in review)", async () => {
    const iterator = control.events('BW');
    const first = iterator.next();
    await peer.waitForLines(1);
    peer.write('650 BW 1 1\r\n');
    assert.equal(((await first).value as { type: string }).type, 'BW');
    const race = sinon.spy(Promise, 'race');
    try {
      for (let i = 0; i < 500; i++) {
        const next = iterator.next();
        peer.write(`650 BW ${i} ${i}\r\n`);
        const r = await next;
        assert.equal(r.done, false);
      }
      assert.equal(race.callCount, 0, 'Promise.race per event read');
    } finally {
      race.restore();
    }
    await iterator.return!();
  });

  it('refuses a maxBuffered that is not a whole number from 1 (Infinity is no bound)', () => {
    for (const bad of [0, -1, 1.5, NaN, '10' as unknown as number]) {
      assert.throws(() => control.events('BW', { maxBuffered: bad }), TorInvalidValueError, String(bad));
    }
    assert.doesNotThrow(() => control.events('BW', { maxBuffered: Infinity }));
  });

  it("a 'close' listener that throws does not keep the others from hearing: an iterator ends, close() resolves", async () => {
    const iterator = control.events('BW');
    const waiting = iterator.next();
    await peer.waitForLines(1);
    await roundTrip();
    const thrown = new Error('a listener of the application');
    control.prependListener('close', () => {
      throw thrown;
    });
    // The socket's close handler throws the listener's error (as EventEmitter's emit would) once
    // every listener has run: it reaches the process as an uncaught exception. Mocha's own
    // handler is set aside meanwhile, so that it does not count it against this test.
    const mochas = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    try {
      const closed = control.close({ timeoutMs: 50 });
      assert.equal(await uncaught, thrown);
      await closed;
      await assert.rejects(waiting, TorControlClosedError);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of mochas) process.on('uncaughtException', l);
    }
  });
});
