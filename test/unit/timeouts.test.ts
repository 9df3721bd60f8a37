import assert from 'node:assert/strict';
import net from 'node:net';
import sinon from 'sinon';
import type { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import type { TorConfig } from '../../src/config/tor-config.js';
import { TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import { connect as connectEndpoint } from '../../src/endpoints/connect.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { cancellable } from '../../src/socks/cancellable.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import type { TorState } from '../../src/state/tor-state.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import { Tor } from '../../src/tor/tor.js';
import { cancelBudget, kindOf, raceCancel } from '../../src/util/abort.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { recordControlWrites } from '../support/control-writes.js';
import { settleWithin } from '../support/settle.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * Timeouts that are no timeouts: `timeoutMs: -1`, `NaN`, `'5000'`... Node's timers turn those into
 * a 1 ms delay, so they used to fail with a TorTimeoutError at once and hide the caller's mistake.
 * Every public entry point that takes a timeout must refuse them with TorInvalidValueError, as a
 * rejection (a sync throw only from sync APIs), before it writes to the control connection or
 * opens a socket. 0 (give up at once) and Infinity (no limit) stay valid.
 */

/** Values that are not a number of milliseconds from 0 to Infinity. */
const BAD: unknown[] = [-1, -0.5, -Infinity, NaN, '5000', 'hunter2', null, true, {}, 10n];

/** Values that are not an AbortSignal (`hunter2` stands for a string that must not be shown). */
const BAD_SIGNALS: unknown[] = [{}, 'hunter2', true, 1, null, [], { aborted: true }, new AbortController()];

const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const NS_ALL = `r auth0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Guard Running Stable Valid\nw Bandwidth=20`;
const CONFIG_NAMES = ['ContactInfo String', 'Nickname String', 'SocksPort LineList', 'DisableNetwork Boolean'].join('\n');
const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';

/** Casts a bad value to what the typed API wants (callers from JS, or from JSON, do pass these). */
const ms = (v: unknown) => v as number;

function assertInvalidTimeout(err: unknown, label: string, field = 'timeoutMs'): void {
  assert.ok(err instanceof TorInvalidValueError, `${label}: ${err === undefined ? 'accepted' : String(err)}`);
  assert.equal(err.code, 'TOR_INVALID_VALUE', label);
  assert.equal(err.field, field, label);
  // A string where a number belongs is not shown: it could be anything.
  assert.ok(!err.message.includes('hunter2'), `${label}: ${err.message}`);
}

describe('timeouts: cancelBudget, one budget for several steps', () => {
  it('gives each step what is left of timeoutMs, the same signal, and bad values as they came', async () => {
    const signal = new AbortController().signal;
    const remaining = cancelBudget({ signal, timeoutMs: 1_000 });
    const first = remaining();
    assert.equal(first.signal, signal);
    await new Promise((r) => setTimeout(r, 30));
    const later = remaining().timeoutMs!;
    assert.ok(later < first.timeoutMs! && later >= 0, `${first.timeoutMs} then ${later}`);
    assert.equal(cancelBudget({ timeoutMs: 0 })().timeoutMs, 0);
    assert.deepEqual(cancelBudget({})(), {});
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) assert.ok(Object.is(cancelBudget({ timeoutMs: bad })().timeoutMs, bad));
  });
});

describe('timeouts: a step that runs out of a budget reports the caller\'s whole timeout', () => {
  const never = () => new Promise<never>(() => undefined);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Rejects with what `run` rejects with, after the first step of a 150 ms budget took 60 ms. */
  async function lastStepError(run: (opts: ReturnType<ReturnType<typeof cancelBudget>>) => Promise<unknown>): Promise<unknown> {
    const remaining = cancelBudget({ timeoutMs: 150 });
    await sleep(60);
    return run(remaining()).then(
      () => assert.fail('the step did not time out'),
      (err: unknown) => err,
    );
  }

  function assertWhole(err: unknown, what: RegExp): void {
    assert.ok(err instanceof TorTimeoutError, String(err));
    assert.equal(err.timeoutMs, 150, err.message);
    assert.match(err.message, what);
    assert.match(err.message, /timed out after 150 ms$/);
  }

  it('raceCancel and cancellable (SOCKS connections, resolving)', async () => {
    assertWhole(await lastStepError((o) => raceCancel(never(), 'the last step', o)), /^the last step/);
    assertWhole(await lastStepError((o) => cancellable('connecting to x:80 through tor', o, never, () => undefined)), /^connecting to x:80/);
  });

  it('a control command (the last step of buildCircuit, mapAddress, fetchOnionDescriptor...)', async () => {
    const silent = await FakeControlServer.start();
    silent.handle(/^GETINFO slow/, never);
    const { control } = await openTorControl(silent.endpoint);
    try {
      assertWhole(await lastStepError((o) => control.getInfo('slow', o)), /^GETINFO/);
    } finally {
      control.destroy(new Error('test over'));
      await silent.close();
    }
  });

  it('a budget within a budget reports the outermost; a plain timeoutMs reports itself', async () => {
    assertWhole(await lastStepError((o) => raceCancel(never(), 'inner', cancelBudget(o)())), /^inner/);
    const err = await raceCancel(never(), 'alone', { timeoutMs: 20 }).catch((e: unknown) => e);
    assert.ok(err instanceof TorTimeoutError && err.timeoutMs === 20, String(err));
  });

  it('the mark travels as a symbol: no key of its own in JSON or Object.keys', () => {
    const opts = cancelBudget({ timeoutMs: 500 })();
    assert.deepEqual(Object.keys(opts), ['timeoutMs']);
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(opts))), ['timeoutMs']);
  });
});

describe('timeouts: what a refused value was is said in words, never shown', () => {
  it('kindOf names the kind with its article ("an object", "a string"), null, undefined, arrays', async () => {
    const kinds: Array<[unknown, string]> = [
      [{}, 'an object'],
      ['SECRET', 'a string'],
      [5, 'a number'],
      [() => 1, 'a function'],
      [true, 'a boolean'],
      [1n, 'a bigint'],
      [Symbol('s'), 'a symbol'],
      [[1], 'an array'],
      [null, 'null'],
      [undefined, 'undefined'],
    ];
    for (const [value, kind] of kinds) assert.equal(kindOf(value), kind);
    await assert.rejects(raceCancel(new Promise(() => undefined), 'waiting', { signal: {} as AbortSignal }), /must be an AbortSignal .*got an object$/);
    await assert.rejects(raceCancel(new Promise(() => undefined), 'waiting', { timeoutMs: 'SECRET' as unknown as number }), (e: unknown) => e instanceof TorInvalidValueError && /got a string$/.test(e.message) && !e.message.includes('SECRET'));
  });
});

describe('timeouts: negative, NaN and non-number values are refused before anything starts', () => {
  describe('raceCancel and cancellable (the shared path of most waits)', () => {
    it('refuse a bad timeoutMs with TorInvalidValueError, undo the work, and leave no unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        for (const v of BAD) {
          let fail!: (err: Error) => void;
          const work = new Promise<string>((_, reject) => (fail = reject));
          const onCancel = sinon.spy();
          const err = await raceCancel(work, 'waiting', { timeoutMs: ms(v), onCancel }).then(() => undefined, (e: unknown) => e);
          assertInvalidTimeout(err, `raceCancel(${String(v)})`);
          assert.equal(onCancel.callCount, 1, `raceCancel(${String(v)}): work not cancelled`);
          // The work fails afterwards, as a cancelled socket would: nobody may be left unhandled.
          fail(new Error('late failure'));
        }
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('cancellable does not start its work for a bad timeoutMs', async () => {
      for (const v of BAD) {
        const work = sinon.spy(async () => 'done');
        const err = await cancellable('opening', { timeoutMs: ms(v) }, work, () => undefined).then(() => undefined, (e: unknown) => e);
        assertInvalidTimeout(err, `cancellable(${String(v)})`);
        assert.equal(work.callCount, 0, `cancellable(${String(v)}): the work started`);
      }
    });

    it('0 still gives up at once, Infinity and 2 ** 40 still mean "no practical limit"', async () => {
      const never = new Promise<never>(() => undefined);
      await assert.rejects(raceCancel(never, 'waiting', { timeoutMs: 0 }), TorTimeoutError);
      await assert.rejects(raceCancel(never, 'waiting', { timeoutMs: -0 }), TorTimeoutError);
      const clock = sinon.useFakeTimers();
      try {
        for (const v of [Infinity, 2 ** 40]) {
          let done!: (s: string) => void;
          const racing = raceCancel(new Promise<string>((r) => (done = r)), 'waiting', { timeoutMs: v });
          // A timer longer than Node's longest (2^31 - 1 ms) must not fire early.
          await clock.tickAsync(2 ** 31 - 2);
          done('ok');
          assert.equal(await racing, 'ok', String(v));
        }
      } finally {
        clock.restore();
      }
    });
  });

  describe('public entry points against a fake tor', () => {
    let fake: FakeControlServer;
    let socks: FakeSocksServer;
    let control: TorControl;
    let tor: Tor;
    let state: TorState;
    let config: TorConfig;
    let written: string[];
    let opened: sinon.SinonSpy[];

    before(async () => {
      socks = await startFakeSocksServer({ answer: () => ({ reply: 0x05 }) });
      fake = await FakeControlServer.start();
      fake.info({
        'ns/all': NS_ALL,
        'circuit-status': `7 BUILT $${FP}~auth0 PURPOSE=GENERAL`,
        'stream-status': '',
        'address-mappings/all': '',
        'entry-guards': '',
        'config/names': CONFIG_NAMES,
        'config/defaults': 'Nickname Unnamed',
        'net/listeners/socks': `"127.0.0.1:${socks.port}"`,
        'ip-to-country/8.8.8.8': 'us',
        'version': '0.4.9.1',
      });
      fake.handle(/^(SIGNAL|EXTENDCIRCUIT|CLOSECIRCUIT|ONION_CLIENT_AUTH_ADD|ONION_CLIENT_AUTH_REMOVE|SETCONF)\b/, () => ['250 OK']);
      // Answered late, so that a command with timeoutMs: 0 surely gives up before its reply.
      fake.handle(/^GETINFO slow$/, () => new Promise((r) => setTimeout(() => r(['250-slow=1', '250 OK']), 50)));
      fake.handle(/^ONION_CLIENT_AUTH_VIEW/, () => ['250-ONION_CLIENT_AUTH_VIEW', '250 OK']);
      ({ control } = await openTorControl(fake.endpoint));
      tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      state = await tor.getState();
      config = await tor.getConfig();
      // Fill the config cache, so that get() would answer without asking tor.
      await config.get('Nickname');
      written = recordControlWrites(control).written;
    });
    after(async () => {
      sinon.restore();
      await tor?.close();
      await fake?.close();
      await socks?.close();
    });
    beforeEach(() => {
      opened = [sinon.spy(net, 'connect'), sinon.spy(net, 'createConnection'), sinon.spy(net.Socket.prototype, 'connect')];
    });
    afterEach(() => {
      for (const s of opened) s.restore();
    });

    /**
     * Calls `run` with each bad value: it must return a promise (no sync throw) that rejects with
     * TorInvalidValueError, with nothing written to the control connection and no socket opened.
     */
    async function refused(name: string, run: (v: number) => Promise<unknown>, field = 'timeoutMs', values: unknown[] = BAD): Promise<void> {
      for (const v of values) {
        const label = `${name} with ${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? String(v)}`;
        written.length = 0;
        const socksBefore = socks.connections.length;
        const before = opened.map((s) => s.callCount);
        let promise: Promise<unknown> | undefined;
        assert.doesNotThrow(() => {
          promise = run(ms(v));
        }, `${label}: threw synchronously instead of rejecting`);
        const err = await promise!.then(
          () => undefined,
          (e: unknown) => e,
        );
        assertInvalidTimeout(err, label, field);
        assert.deepEqual(written, [], `${label}: bytes reached the control connection`);
        assert.deepEqual(opened.map((s) => s.callCount), before, `${label}: a socket was opened`);
        assert.equal(socks.connections.length, socksBefore, `${label}: the SOCKS port was contacted`);
      }
    }

    it('TorControl: command, getInfo, signal, commandWithData, close (which then leaves the connection open)', async () => {
      await refused('control.command', (v) => control.command('GETINFO version', { timeoutMs: v }));
      await refused('control.getInfo', (v) => control.getInfo('version', { timeoutMs: v }));
      await refused('control.signal', (v) => control.signal('NEWNYM', { timeoutMs: v }));
      await refused('control.commandWithData', (v) => control.commandWithData('LOADCONF', 'SocksPort 0', { timeoutMs: v }));
      await refused('control.close', (v) => control.close({ timeoutMs: v }));
      assert.equal(control.closed, false);
      assert.equal(await control.getInfo('version', { timeoutMs: Infinity }), '0.4.9.1');
    });

    it('Tor: getState, getConfig, connect (with and without a circuit), resolve, resolvePtr, newIdentity, client auth', async () => {
      const fresh = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      await refused('tor.getState (nothing built yet)', (v) => fresh.getState({ timeoutMs: v }));
      await refused('tor.getState (built)', (v) => tor.getState({ timeoutMs: v }));
      await refused('tor.getConfig', (v) => fresh.getConfig({ timeoutMs: v }));
      await refused('tor.connect', (v) => tor.connect('127.0.0.1:80', { timeoutMs: v }));
      await refused('tor.connect({ host, port }) with isolate', (v) => tor.connect({ host: 'example.com', port: 80 }, { timeoutMs: v, isolate: 'x' }));
      await refused('tor.connect with a circuit', (v) => fresh.connect('127.0.0.1:80', { circuit: '7', timeoutMs: v }));
      await refused('tor.resolve', (v) => tor.resolve('example.com', { timeoutMs: v }));
      await refused('tor.resolvePtr', (v) => tor.resolvePtr('127.0.0.1', { timeoutMs: v }));
      await refused('tor.socks.socksAddress', (v) => tor.socks.socksAddress({ timeoutMs: v }));
      await refused('tor.newIdentity', (v) => tor.newIdentity({ timeoutMs: v }));
      await refused('tor.listOnionClientAuth', (v) => tor.listOnionClientAuth({ timeoutMs: v }));
      await refused('tor.removeOnionClientAuth', (v) => tor.removeOnionClientAuth(ONION, { timeoutMs: v }));
      // `fresh` is not closed: it shares `control` with `tor`.
    });

    it('TorState: buildCircuit, whenBuilt/whenClosed (even when already known), connectVia, closeCircuit, loadRouterVersions, loadExitPolicies', async () => {
      const circuit = state.circuits.get('7');
      assert.ok(circuit && circuit.status === 'BUILT');
      await refused('state.buildCircuit', (v) => state.buildCircuit(undefined, { timeoutMs: v }));
      await refused('circuit.whenBuilt (built)', (v) => circuit.whenBuilt({ timeoutMs: v }));
      await refused('circuit.whenClosed', (v) => circuit.whenClosed({ timeoutMs: v }));
      const open = sinon.spy(async () => 'opened');
      await refused('state.connectVia', (v) => state.connectVia(circuit, open, { timeoutMs: v }));
      assert.equal(open.callCount, 0, 'connectVia called open()');
      await refused('state.closeCircuit', (v) => state.closeCircuit('7', { timeoutMs: v }));
      await refused('state.loadRouterVersions', (v) => state.loadRouterVersions({ timeoutMs: v }));
      await refused('state.loadExitPolicies', (v) => state.loadExitPolicies({ timeoutMs: v }));
    });

    it('TorConfig: get (even from the cache), set, defaults; TorGeoIp.lookup (even from the cache)', async () => {
      await refused('config.get (cached)', (v) => config.get('Nickname', { timeoutMs: v }));
      await refused('config.set', (v) => config.set({ Nickname: 'x' }, { timeoutMs: v }));
      await refused('config.defaults', (v) => config.defaults({ timeoutMs: v }));
      const geoip = new TorGeoIp(control);
      assert.deepEqual(await geoip.lookup('8.8.8.8'), { countryCode: 'US' });
      await refused('geoip.lookup (cached)', (v) => geoip.lookup('8.8.8.8', { timeoutMs: v }));
    });

    it('connectTor and launchTor: refused before any connection or any tor binary is looked for', async () => {
      await refused('connectTor', (v) => connectTor({ control: fake.endpoint, timeoutMs: v }));
      // A tor path that does not exist: had the value been accepted, this would fail differently.
      await refused('launchTor', (v) => launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, timeoutMs: v }));
      // The silence allowed while a reply is awaited: refused the same way, before connecting.
      await refused('connectTor replyTimeoutMs', (v) => connectTor({ control: fake.endpoint, replyTimeoutMs: v }), 'replyTimeoutMs');
      await refused('openTorControl replyTimeoutMs', (v) => openTorControl(fake.endpoint, { replyTimeoutMs: v }), 'replyTimeoutMs');
      await refused('launchTor replyTimeoutMs', (v) => launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, replyTimeoutMs: v }), 'replyTimeoutMs');
      // keepAliveMs likewise, and a keep-alive without a reply timeout (which would notice nothing).
      await refused('connectTor keepAliveMs', (v) => connectTor({ control: fake.endpoint, keepAliveMs: v }), 'keepAliveMs');
      await refused('openTorControl keepAliveMs', (v) => openTorControl(fake.endpoint, { keepAliveMs: v }), 'keepAliveMs');
      await refused('launchTor keepAliveMs', (v) => launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, keepAliveMs: v }), 'keepAliveMs');
      for (const [name, run] of [
        ['connectTor', () => connectTor({ control: fake.endpoint, replyTimeoutMs: 0, keepAliveMs: 1000 })],
        ['openTorControl', () => openTorControl(fake.endpoint, { replyTimeoutMs: Infinity, keepAliveMs: 1000 })],
        ['launchTor', () => launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, replyTimeoutMs: 0, keepAliveMs: 1000 })],
      ] as const) {
        const before = opened.map((sp) => sp.callCount);
        await assert.rejects(run(), (err: Error) => err instanceof TorInvalidValueError && err.field === 'keepAliveMs' && /needs a replyTimeoutMs/.test(err.message), name);
        assert.deepEqual(opened.map((sp) => sp.callCount), before, `${name}: a socket was opened`);
      }
    });

    it('sync APIs throw at once: TorSocksClient handshakeTimeoutMs, httpAgent connectTimeoutMs', () => {
      for (const v of BAD) {
        assertInvalidTimeout(
          (() => {
            try {
              new TorSocksClient(null, { socksPort: socks.port, handshakeTimeoutMs: ms(v) }).close();
            } catch (err) {
              return err;
            }
          })(),
          `new TorSocksClient(handshakeTimeoutMs: ${String(v)})`,
          'handshakeTimeoutMs',
        );
        assertInvalidTimeout(
          (() => {
            try {
              tor.httpAgent({ connectTimeoutMs: ms(v) });
            } catch (err) {
              return err;
            }
          })(),
          `httpAgent(connectTimeoutMs: ${String(v)})`,
          'connectTimeoutMs',
        );
      }
    });

    it('a signal that is no AbortSignal ({}, a string, the AbortController itself...) is refused the same way', async () => {
      // Each used to fail with a bare TypeError ("addEventListener is not a function"), some only
      // after a socket was opened, or (an `aborted` flag alone) to be ignored.
      const sig = (v: unknown) => v as AbortSignal;
      const refusedSignal = (name: string, run: (v: AbortSignal) => Promise<unknown>, field = 'signal', values = BAD_SIGNALS) =>
        refused(name, (v) => run(sig(v)), field, values);
      const fresh = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      const circuit = state.circuits.get('7')!;
      await refusedSignal('control.command', (signal) => control.command('GETINFO version', { signal }));
      await refusedSignal('control.getInfo', (signal) => control.getInfo('version', { signal }));
      await refusedSignal('tor.getState (nothing built yet)', (signal) => fresh.getState({ signal }));
      await refusedSignal('tor.getState (built)', (signal) => tor.getState({ signal }));
      await refusedSignal('tor.getConfig', (signal) => fresh.getConfig({ signal }));
      await refusedSignal('tor.connect', (signal) => tor.connect('127.0.0.1:80', { signal }));
      await refusedSignal('tor.connect with a circuit', (signal) => fresh.connect('127.0.0.1:80', { circuit: '7', signal }));
      await refusedSignal('tor.resolve', (signal) => tor.resolve('example.com', { signal }));
      await refusedSignal('tor.resolvePtr', (signal) => tor.resolvePtr('127.0.0.1', { signal }));
      await refusedSignal('tor.socks.socksAddress', (signal) => tor.socks.socksAddress({ signal }));
      await refusedSignal('tor.newIdentity', (signal) => tor.newIdentity({ signal }));
      // fetch's RequestInit takes `signal: null` for "none".
      const notForFetch = BAD_SIGNALS.filter((v) => v !== null);
      await refusedSignal('tor.fetch', (signal) => tor.fetch('http://127.0.0.1/', { signal }), 'fetch init.signal', notForFetch);
      await refusedSignal('tor.createOnionService', (signal) => tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }], signal }));
      await refusedSignal('state.buildCircuit', (signal) => state.buildCircuit(undefined, { signal }));
      await refusedSignal('circuit.whenBuilt (built)', (signal) => circuit.whenBuilt({ signal }));
      await refusedSignal('circuit.whenClosed', (signal) => circuit.whenClosed({ signal }));
      await refusedSignal('state.connectVia', (signal) => state.connectVia(circuit, async () => 'opened', { signal }));
      await refusedSignal('config.get (cached)', (signal) => config.get('Nickname', { signal }));
      await refusedSignal('geoip.lookup', (signal) => new TorGeoIp(control).lookup('8.8.8.8', { signal }));
      await refusedSignal('connectTor', (signal) => connectTor({ control: fake.endpoint, signal }));
      await refusedSignal('launchTor', (signal) => launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, signal }));
      await refusedSignal('endpoint connect()', (signal) => connectEndpoint('tcp:127.0.0.1:9', { registry: createDefaultRegistry(), signal }));
      for (const v of BAD_SIGNALS) {
        assert.throws(() => control.events(['BW'], { signal: sig(v) }), TorInvalidValueError, `control.events with ${String(v)}`);
      }
      // Still fine: a real signal, and one of another realm's shape.
      const ac = new AbortController();
      assert.equal(await control.getInfo('version', { signal: ac.signal }), '0.4.9.1');
      const lookalike = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} };
      assert.equal(await control.getInfo('version', { signal: sig(lookalike) }), '0.4.9.1');
    });

    it('tor.connect with a circuit: timeoutMs also bounds building the state first (a tor that never answers)', async () => {
      const silent = await FakeControlServer.start();
      // Answers the connection's own questions, never the state's.
      silent.info({ version: '0.4.9.1' });
      silent.handle(/^GETINFO (ns\/all|circuit-status|stream-status|address-mappings|entry-guards)/, () => new Promise<never>(() => undefined));
      const { control: silentControl } = await openTorControl(silent.endpoint);
      const fresh = new Tor(silentControl, { version: '0.4.9.1', controlEndpoint: silent.endpoint });
      try {
        const outcome = await settleWithin(fresh.connect('127.0.0.1:80', { circuit: '7', timeoutMs: 100 }), 3_000, 'tor.connect with a circuit');
        assert.ok(!outcome.ok && outcome.error instanceof TorTimeoutError, String(!outcome.ok && outcome.error));
      } finally {
        await fresh.close();
        await silent.close();
      }
    });

    it('0 and Infinity stay valid: a command with 0 times out, one with Infinity is answered', async () => {
      await assert.rejects(control.command('GETINFO slow', { timeoutMs: 0 }), TorTimeoutError);
      assert.equal(await control.getInfo('version', { timeoutMs: Infinity }), '0.4.9.1');
      assert.equal((await state.circuits.get('7')!.whenBuilt({ timeoutMs: 0 })).id, '7');
    });
  });
});
