import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import type { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import type { TorConfig } from '../../src/config/tor-config.js';
import { TorAbortError, TorError, TorTimeoutError } from '../../src/errors.js';
import { connect as connectEndpoint, listen as listenEndpoint } from '../../src/di/endpoint-api.js';
import { TorGeoIp } from '../../src/geoip/tor-geoip.js';
import type { TorState } from '../../src/state/tor-state.js';
import { startTestNetwork } from '../../src/testnet.js';
import { launchTor } from '../../src/tor/connect-tor.js';
import { Tor } from '../../src/tor/tor.js';
import type { CancelOptions } from '../../src/util/abort.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { recordControlWrites } from '../support/control-writes.js';
import { outcome, within, type Settled } from '../support/settle.js';
import { REAL_DESC, REAL_MD } from './descriptor-texts.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * The cancellation promise of DESIGN.md habit 3, checked the same way for every async operation
 * that talks to tor over the control connection (a systematic audit, one table):
 * (a) a signal already aborted rejects at once with TorAbortError (cause: the signal's reason)
 *     and nothing reaches tor;
 * (b) aborting while tor has not answered rejects at once, and the connection stays in step: the
 *     late reply is consumed, never handed to the next command;
 * (c) one long-lived signal reused a thousand times is left with no listener and no warning;
 * (d) timeoutMs against a tor that never answers rejects with TorTimeoutError, and the connection
 *     again stays in step.
 * The SOCKS, fetch and endpoint paths have their own files (socks-*.test.ts, endpoint-connect).
 */

const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const NS_ALL = `r auth0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Guard Running Stable Valid\nw Bandwidth=20`;
const CONFIG_NAMES = ['ContactInfo String', 'Nickname String', 'SocksPort LineList', 'DisableNetwork Boolean', 'HiddenServiceOptions Virtual', 'HiddenServiceDir Dependent', 'HiddenServicePort Dependent'].join('\n');
const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';

/** What a call may be rejected with when given up: the typed error itself, or a wrapper whose cause it is (TorCircuitError). */
function gaveUpError(err: unknown, type: typeof TorAbortError | typeof TorTimeoutError): TorError | undefined {
  if (err instanceof type) return err;
  if (err instanceof TorError && err.cause instanceof type) return err.cause;
  return undefined;
}

/** The real timer, taken before any test fakes them. */
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** `r`'s outcome, failing the test when it does not come within 2 s of real time (timers may be frozen meanwhile). */
async function settledUnfrozen<T>(r: Promise<Settled<T>>, what: string): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = realSetTimeout(() => resolve('late'), 2_000)));
  const settled = await Promise.race([r, late]);
  realClearTimeout(timer);
  if (settled === 'late') assert.fail(`${what} did not settle at once: it waits for a timer, or for tor`);
  return settled;
}

interface Entry {
  name: string;
  run: (opts: CancelOptions) => Promise<unknown>;
  /** The command that stays unanswered for (b) and (d); none: the call waits on an event only. */
  held?: RegExp;
  /** For (c): how many times; calls that tor must answer with events take fewer. */
  reuse?: number;
  /**
   * Why the call may wait for a timer after an abort, so that (b) does not freeze them for it:
   * fetchOnionDescriptor waits for tor to acknowledge its unsubscription, at most 1 s.
   */
  boundedWait?: string;
}

describe('abort audit: signal and timeoutMs on every control operation (fake tor)', function () {
  this.timeout(30_000);
  let fake: FakeControlServer;
  let control: TorControl;
  let tor: Tor;
  let state: TorState;
  let config: TorConfig;
  let cachedGeoIp: TorGeoIp;
  /** A TCP connection on loopback, for state.streamForSocket (which asks tor about a connected socket only). */
  let loopback: net.Server;
  let socket: net.Socket;
  let written: string[];
  /** The command (b)/(d) hold back, and how to let its reply go. */
  let held: RegExp | undefined;
  let release: (() => void) | undefined;
  let gate: Promise<void> = Promise.resolve();
  let nextCircuit = 100;

  before(async () => {
    fake = await FakeControlServer.start();
    fake.info({
      'ns/all': NS_ALL,
      'circuit-status': `7 BUILT $${FP}~auth0 PURPOSE=GENERAL`,
      'stream-status': '9 SUCCEEDED 7 127.0.0.1:80',
      'address-mappings/all': '',
      'entry-guards': '',
      'config/names': CONFIG_NAMES,
      'config/defaults': 'Nickname Unnamed',
      'ip-to-country/8.8.8.8': 'us',
      'status/bootstrap-phase': 'NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
      'onions/current': '',
      'onions/detached': '',
      'network-liveness': 'up',
      'status/circuit-established': '1',
      'status/enough-dir-info': '1',
      'dormant': '0',
      'net/listeners/socks': '"127.0.0.1:9"',
      'status/version/current': 'recommended',
      [`desc/id/${FP}`]: REAL_DESC,
      [`md/id/${FP}`]: REAL_MD,
      'traffic/read': '0',
      'traffic/written': '0',
      'uptime': '1',
      'process/pid': '1',
      'process/uid': '1',
      'process/user': 'tor',
      'process/descriptor-limit': '1024',
      'accounting/hibernating': 'awake',
      'dir/status-vote/current/consensus-microdesc': NS_ALL,
      'dir/status-vote/current/consensus': NS_ALL,
      'md/all': REAL_MD,
    });
    fake.handle(/^(SIGNAL|CLOSECIRCUIT|CLOSESTREAM|ONION_CLIENT_AUTH_ADD|ONION_CLIENT_AUTH_REMOVE|SAVECONF|DEL_ONION|\+LOADCONF)\b/, () => ['250 OK']);
    // tor announces each NEWNYM it applies (newIdentity waits for that).
    fake.handle(/^SIGNAL NEWNYM$/, () => {
      setImmediate(() => fake.event('SIGNAL NEWNYM'));
      return ['250 OK'];
    });
    // No hidden service configured: tor names the option bare.
    fake.handle(/^GETCONF HiddenServiceOptions$/, () => ['250 HiddenServiceOptions']);
    fake.handle(/^ONION_CLIENT_AUTH_VIEW/, () => ['250-ONION_CLIENT_AUTH_VIEW', '250 OK']);
    fake.handle(/^MAPADDRESS/, (line) => [`250 ${line.slice('MAPADDRESS '.length)}`]);
    fake.handle(/^EXTENDCIRCUIT/, () => {
      const id = nextCircuit++;
      setImmediate(() => fake.event(`CIRC ${id} BUILT $${FP}~auth0 PURPOSE=GENERAL`));
      return [`250 EXTENDED ${id}`];
    });
    fake.handle(/^HSFETCH/, () => {
      setImmediate(() => fake.event(`HS_DESC FAILED ${ONION} NO_AUTH UNKNOWN REASON=NOT_FOUND`));
      return ['250 OK'];
    });
    fake.handle(/^ADD_ONION/, () => ['250-ServiceID=' + ONION, '250 OK']);
    // Last registered, so first asked: holds the reply of the command (b) and (d) are about.
    fake.handle(/./, async (line) => {
      if (held?.test(line)) await gate;
      return undefined;
    });
    ({ control } = await openTorControl(fake.endpoint));
    // Each reply at once, as tor's: with Nagle's algorithm a reply written while the previous one
    // is unacknowledged waits for the client's delayed ACK, 40 ms a round trip (minutes here).
    for (const c of fake.connections) c.socket.setNoDelay(true);
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    state = await tor.getState();
    config = await tor.getConfig();
    await config.get('Nickname');
    cachedGeoIp = new TorGeoIp(control);
    await cachedGeoIp.lookup('8.8.8.8');
    loopback = net.createServer(() => undefined);
    await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
    socket = net.connect((loopback.address() as net.AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
  });
  after(async () => {
    sinon.restore();
    release?.();
    socket?.destroy();
    loopback?.close();
    await tor?.close();
    await fake?.close();
  });
  beforeEach(() => {
    written = recordControlWrites(control).written;
  });
  afterEach(() => {
    sinon.restore();
    release?.();
    held = undefined;
  });

  function hold(match: RegExp): void {
    held = match;
    gate = new Promise<void>((resolve) => (release = resolve));
  }

  /** The connection still answers in order: a command sent now gets its own reply. */
  async function inStep(name: string): Promise<void> {
    const next = outcome(control.getInfo('version'));
    release?.();
    const r = await within(next, 5_000, `${name}: the next command`);
    assert.ok(r.ok, `${name}: the next command failed: ${String(!r.ok && r.error)}`);
    assert.equal(r.value, '0.4.9.1', `${name}: the next command got another reply`);
  }

  // Closures over the describe's variables: they read the live state when a test runs.
  const circuit = () => state.circuits.get('7')!;
  const router = () => state.routers.get(FP)!;
  const ENTRIES: Entry[] = [
      { name: 'control.command', run: (o) => control.command('GETINFO version', o), held: /^GETINFO version$/ },
      { name: 'control.commandWithData', run: (o) => control.commandWithData('LOADCONF', 'Nickname x', o), held: /^\+LOADCONF$/ },
      { name: 'control.getInfo', run: (o) => control.getInfo('version', o), held: /^GETINFO version$/ },
      { name: 'control.getConf', run: (o) => control.getConf('Nickname', o), held: /^GETCONF Nickname$/ },
      { name: 'control.setConf', run: (o) => control.setConf({ ContactInfo: 'x' }, o), held: /^SETCONF ContactInfo/ },
      { name: 'control.resetConf', run: (o) => control.resetConf('ContactInfo', o), held: /^RESETCONF ContactInfo/ },
      { name: 'control.saveConf', run: (o) => control.saveConf(o), held: /^SAVECONF/ },
      { name: 'control.signal', run: (o) => control.signal('NEWNYM', o), held: /^SIGNAL NEWNYM/ },
      { name: 'control.mapAddress', run: (o) => control.mapAddress({ 'a.example': 'b.example' }, o), held: /^MAPADDRESS/ },
      { name: 'control.protocolInfo', run: (o) => control.protocolInfo(o), held: /^PROTOCOLINFO/ },
      { name: 'tor.getConfig (built)', run: (o) => tor.getConfig(o) },
      { name: 'tor.getState (built)', run: (o) => tor.getState(o) },
      { name: 'tor.newIdentity', run: (o) => tor.newIdentity(o), held: /^SIGNAL NEWNYM/ },
      { name: 'tor.mapAddress', run: (o) => tor.mapAddress({ 'a.example': 'b.example' }, o), held: /^MAPADDRESS/ },
      { name: 'tor.bootstrapProgress', run: (o) => tor.bootstrapProgress(o), held: /^GETINFO status\/bootstrap-phase/ },
      { name: 'tor.waitForBootstrap', run: (o) => tor.waitForBootstrap(o), held: /^GETINFO status\/bootstrap-phase/ },
      { name: 'tor.getStatus', run: (o) => tor.getStatus(o), held: /^GETINFO / },
      { name: 'tor.listOnionClientAuth', run: (o) => tor.listOnionClientAuth(o), held: /^ONION_CLIENT_AUTH_VIEW/ },
      { name: 'tor.addOnionClientAuth', run: (o) => tor.addOnionClientAuth(ONION, 'x25519:' + 'A'.repeat(43) + '=', o), held: /^ONION_CLIENT_AUTH_ADD/ },
      { name: 'tor.removeOnionClientAuth', run: (o) => tor.removeOnionClientAuth(ONION, o), held: /^ONION_CLIENT_AUTH_REMOVE/ },
      { name: 'tor.listOnionServices', run: (o) => tor.listOnionServices(o), held: /^GETINFO onions/ },
      { name: 'tor.removeOnionService', run: (o) => tor.removeOnionService(ONION, o), held: /^(GETINFO onions|DEL_ONION)/ },
      { name: 'tor.fetchOnionDescriptor', run: (o) => tor.fetchOnionDescriptor(ONION, o).catch((e: unknown) => { if (e instanceof TorError && e.code === 'TOR_ONION_NOT_FOUND') return undefined; throw e; }), held: /^HSFETCH/, reuse: 300, boundedWait: 'the unsubscription (UNSUBSCRIBE_WAIT_MS)' },
      { name: 'tor.createOnionService', run: (o) => tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false, ...o }).then((s) => s.close()), held: /^ADD_ONION/, reuse: 200 },
      { name: 'state.buildCircuit', run: (o) => state.buildCircuit([FP], o), held: /^EXTENDCIRCUIT/, reuse: 300 },
      { name: 'state.closeCircuit', run: (o) => state.closeCircuit('7', o), held: /^CLOSECIRCUIT 7/ },
      { name: 'state.closeStream', run: (o) => state.closeStream('9', undefined, o), held: /^CLOSESTREAM 9/ },
      { name: 'state.mapAddress', run: (o) => state.mapAddress({ 'a.example': 'b.example' }, o), held: /^MAPADDRESS/ },
      { name: 'state.loadRouterVersions', run: (o) => state.loadRouterVersions(o), held: /^GETINFO /, reuse: 100 },
      { name: 'state.loadExitPolicies', run: (o) => state.loadExitPolicies(o), held: /^GETINFO /, reuse: 100 },
      { name: 'circuit.whenBuilt (built)', run: (o) => circuit().whenBuilt(o) },
      { name: 'circuit.close', run: (o) => circuit().close(o), held: /^CLOSECIRCUIT 7/ },
      { name: 'stream.close', run: (o) => state.streams.get('9')!.close(undefined, o), held: /^CLOSESTREAM 9/ },
      { name: 'router.descriptor', run: (o) => router().descriptor(o), held: /^GETINFO desc\/id/ },
      { name: 'router.microdescriptor', run: (o) => router().microdescriptor(o), held: /^GETINFO md\/id/ },
      // A relay on a private address is placed without asking tor: no command to hold.
      { name: 'router.location', run: (o) => router().location(o) },
      { name: 'state.streamForSocket', run: (o) => state.streamForSocket(socket, o), held: /^GETINFO version$/, reuse: 300 },
      { name: 'config.get (fresh)', run: (o) => config.get('Nickname', { ...o, fresh: true }), held: /^GETCONF Nickname/ },
      { name: 'config.getMany (fresh)', run: (o) => config.getMany(['Nickname', 'ContactInfo'], { ...o, fresh: true }), held: /^GETCONF / },
      { name: 'config.getRaw (fresh)', run: (o) => config.getRaw('Nickname', { ...o, fresh: true }), held: /^GETCONF Nickname/ },
      { name: 'config.getBoolean (fresh)', run: (o) => config.getBoolean('DisableNetwork', { ...o, fresh: true }), held: /^GETCONF DisableNetwork/ },
      { name: 'config.getString (fresh)', run: (o) => config.getString('Nickname', { ...o, fresh: true }), held: /^GETCONF Nickname/ },
      { name: 'config.getList (fresh)', run: (o) => config.getList('SocksPort', { ...o, fresh: true }), held: /^GETCONF SocksPort/ },
      { name: 'config.hiddenServices (fresh)', run: (o) => config.hiddenServices({ ...o, fresh: true }), held: /^GETCONF HiddenServiceOptions/ },
      { name: 'config.set', run: (o) => config.set({ ContactInfo: 'x' }, o), held: /^SETCONF/ },
      { name: 'config.reset', run: (o) => config.reset(['ContactInfo'], o), held: /^RESETCONF/ },
      { name: 'config.save', run: (o) => config.save(o), held: /^SAVECONF/ },
      { name: 'config.setHiddenServices', run: (o) => config.setHiddenServices([], o), held: /^(SETCONF|RESETCONF)/ },
      { name: 'geoip.lookup', run: (o) => new TorGeoIp(control).lookup('8.8.8.8', o), held: /^GETINFO ip-to-country/ },
      // Answers known without asking tor.
      { name: 'config.get (cached)', run: (o) => config.get('Nickname', o) },
      { name: 'geoip.lookup (cached)', run: (o) => cachedGeoIp.lookup('8.8.8.8', o) },
  ];

  describe('(a) a signal already aborted: TorAbortError at once, its reason as cause, nothing sent', () => {
    for (const entry of ENTRIES) {
      it(entry.name, async () => {
        const reason = new Error('caller gave up');
        const opened = [sinon.spy(net, 'connect'), sinon.spy(net, 'createConnection')];
        written.length = 0;
        const r = await within(outcome(entry.run({ signal: AbortSignal.abort(reason) })), 2_000, entry.name);
        assert.ok(!r.ok, `${entry.name}: resolved`);
        const err = gaveUpError(r.error, TorAbortError);
        assert.ok(err, `${entry.name}: ${String(r.error)}`);
        assert.equal(err.code, 'TOR_ABORTED');
        assert.equal(err.cause, reason, `${entry.name}: the reason is not the cause`);
        assert.deepEqual(written, [], `${entry.name}: bytes reached tor`);
        assert.deepEqual(opened.map((s) => s.callCount), [0, 0], `${entry.name}: a socket was opened`);
      });
    }
  });

  describe('(b) aborted while tor has not answered: TorAbortError at once, the late reply consumed', () => {
    for (const entry of ENTRIES.filter((e) => e.held !== undefined)) {
      it(entry.name, async () => {
        hold(entry.held!);
        const seen = fake.commands.filter((c) => entry.held!.test(c)).length;
        const ac = new AbortController();
        const reason = new Error('caller gave up');
        const r = outcome(entry.run({ signal: ac.signal }));
        await fake.waitForCommand(entry.held!, seen + 1);
        // "At once": with every timer frozen, the rejection must not wait for one (a grace
        // period, a bounded wait for tor's acknowledgement of some cleanup). The real clock only
        // bounds the test, should it wait after all.
        const clock = entry.boundedWait === undefined ? sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'], shouldClearNativeTimers: true }) : undefined;
        let settled: Settled<unknown>;
        try {
          ac.abort(reason);
          settled = await settledUnfrozen(r, entry.name);
        } finally {
          clock?.restore();
        }
        assert.ok(!settled.ok, `${entry.name}: resolved`);
        const err = gaveUpError(settled.error, TorAbortError);
        assert.ok(err, `${entry.name}: ${String(settled.error)}`);
        assert.equal(err.cause, reason, `${entry.name}: the reason is not the cause`);
        assert.equal(getEventListeners(ac.signal, 'abort').length, 0, `${entry.name}: listener left`);
        await inStep(entry.name);
      });
    }
  });

  describe('(c) one signal reused many times: no listener left, no MaxListenersExceededWarning', () => {
    for (const entry of ENTRIES) {
      it(entry.name, async () => {
        const warnings: Error[] = [];
        const onWarning = (w: Error) => warnings.push(w);
        process.on('warning', onWarning);
        try {
          const ac = new AbortController();
          for (let i = 0; i < (entry.reuse ?? 1000); i++) await entry.run({ signal: ac.signal, timeoutMs: 60_000 });
          assert.equal(getEventListeners(ac.signal, 'abort').length, 0, `${entry.name}: listeners left`);
          // Warnings are emitted on the next tick.
          await new Promise((r) => setImmediate(r));
          assert.deepEqual(warnings.map((w) => w.name), [], `${entry.name}: ${warnings.map((w) => w.message).join('; ')}`);
        } finally {
          process.off('warning', onWarning);
        }
      });
    }
  });

  describe('(d) timeoutMs while tor never answers: TorTimeoutError, the late reply consumed', () => {
    for (const entry of ENTRIES.filter((e) => e.held !== undefined)) {
      it(entry.name, async () => {
        hold(entry.held!);
        const r = await within(outcome(entry.run({ timeoutMs: 50 })), 2_000, entry.name);
        assert.ok(!r.ok, `${entry.name}: resolved`);
        const err = gaveUpError(r.error, TorTimeoutError);
        assert.ok(err, `${entry.name}: ${String(r.error)}`);
        assert.equal(err.code, 'TOR_TIMEOUT');
        await inStep(entry.name);
      });
    }
  });
});

describe('abort audit: launching tor', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-abort-launch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('launchTor with a signal already aborted: TorAbortError (its reason as cause) before any directory is made or process started (found by QA)', async () => {
    // A stand-in for the tor binary that only leaves a mark: had it been started, the mark says so.
    const stub = path.join(dir, 'tor');
    const mark = path.join(dir, 'started');
    await writeFile(stub, `#!/bin/sh\necho started > '${mark}'\n`, { mode: 0o755 });
    const dataDirectory = path.join(dir, 'data');
    const reason = new Error('shutting down');
    await assert.rejects(
      launchTor({ torPath: stub, dataDirectory, config: { DisableNetwork: 1 }, signal: AbortSignal.abort(reason) }),
      (err: unknown) => err instanceof TorAbortError && err.code === 'TOR_ABORTED' && err.cause === reason,
    );
    // It used to write the torrc, start the binary, and only then look at the signal.
    assert.deepEqual((await readdir(dir)).sort(), ['tor']);
  });

  it('launchTor aborted while it looks for the binary: nothing made, nothing started (found in review)', async () => {
    const stub = path.join(dir, 'tor');
    const mark = path.join(dir, 'started');
    await writeFile(stub, `#!/bin/sh\necho started > '${mark}'\nsleep 5\n`, { mode: 0o755 });
    const ac = new AbortController();
    const reason = new Error('shutting down');
    // launchTor runs up to its first await (the binary check) before returning: the abort comes during it.
    const launching = launchTor({ torPath: stub, dataDirectory: path.join(dir, 'data'), config: { DisableNetwork: 1 }, signal: ac.signal });
    ac.abort(reason);
    await assert.rejects(launching, (err: unknown) => err instanceof TorAbortError && err.cause === reason);
    assert.deepEqual((await readdir(dir)).sort(), ['tor']);
  });

  it('startTestNetwork with a signal already aborted: TorAbortError (its reason as cause) before any directory is made or node started', async () => {
    const reason = new Error('shutting down');
    await assert.rejects(
      startTestNetwork({ baseDir: path.join(dir, 'net'), signal: AbortSignal.abort(reason) }),
      (err: unknown) => err instanceof TorAbortError && err.code === 'TOR_ABORTED' && err.cause === reason,
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('abort audit: nothing is left behind by a timeout or an abort', function () {
  this.timeout(30_000);

  it('a process whose calls all timed out or were aborted against a silent tor exits on its own after close()', async () => {
    // Answers PROTOCOLINFO and AUTHENTICATE, then nothing more: a tor that stopped answering.
    const silent = await FakeControlServer.start();
    silent.handle(/./, (_line, conn) => (conn.authenticated ? new Promise<never>(() => undefined) : undefined));
    // Answers nothing at all, not even PROTOCOLINFO.
    const mute = await FakeControlServer.start();
    mute.handle(/./, () => new Promise<never>(() => undefined));
    const index = new URL('../../src/index.js', import.meta.url).href;
    const script = `
      import { connectTor } from ${JSON.stringify(index)};
      const out = [];
      const code = (p) => p.then(() => 'resolved', (e) => e.code ?? e.name);
      out.push(await code(connectTor({ control: ${JSON.stringify(mute.endpoint)}, timeoutMs: 50 })));
      const tor = await connectTor({ control: ${JSON.stringify(silent.endpoint)}, timeoutMs: 5000 });
      const t = { timeoutMs: 50 };
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('gave up')), 50);
      const s = { signal: ac.signal };
      const iterator = tor.control.events('BW', s);
      out.push(...(await Promise.all([
        code(tor.control.getInfo('version', t)),
        code(tor.getState(t)),
        code(tor.getConfig(t)),
        code(tor.newIdentity(t)),
        code(tor.fetchOnionDescriptor('2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid', t)),
        code(tor.waitForBootstrap(t)),
        code(tor.getStatus(t)),
        code(tor.mapAddress({ 'a.example': 'b.example' }, t)),
        code(tor.control.getInfo('version', s)),
        code(tor.getState(s)),
        code(tor.newIdentity(s)),
        code(tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], ...s })),
        iterator.next().then((r) => (r.done ? 'done' : 'event'), (e) => e.code),
      ])));
      await tor.close();
      console.log(JSON.stringify(out));
    `;
    try {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TORCON_REQUIRE_OFFLINE: '1' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // Only a guard: a child held by a timer or socket left behind would otherwise run forever.
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      clearTimeout(guard);
      assert.equal(signal, null, `the process did not exit on its own (something still held it); stderr: ${stderr}`);
      assert.equal(exitCode, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), [
        'TOR_TIMEOUT',
        ...Array<string>(8).fill('TOR_TIMEOUT'),
        ...Array<string>(4).fill('TOR_ABORTED'),
        'done',
      ]);
    } finally {
      await silent.close();
      await mute.close();
    }
  });
});

describe('abort audit: SOCKS and endpoint calls (fake SOCKS port)', function () {
  this.timeout(30_000);
  let echo: net.Server;
  let socks: FakeSocksServer;
  let fake: FakeControlServer;
  let tor: Tor;

  before(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoPort = (echo.address() as net.AddressInfo).port;
    // RESOLVE answers 1.2.3.4; anything else is granted and led to the echo server.
    socks = await startFakeSocksServer({ answer: (req) => (req.command === 0xf0 ? { bound: Buffer.from([1, 1, 2, 3, 4, 0, 0]) } : { forwardTo: echoPort }) });
    fake = await FakeControlServer.start();
    fake.info({ 'net/listeners/socks': `"127.0.0.1:${socks.port}"` });
    const { control } = await openTorControl(fake.endpoint);
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
  });
  after(async () => {
    await tor?.close();
    await fake?.close();
    await socks?.close();
    echo?.close();
  });

  const echoTarget = () => `tcp:127.0.0.1:${(echo.address() as net.AddressInfo).port}`;
  const calls: Array<[string, (o: CancelOptions) => Promise<unknown>]> = [
    ['tor.connect', (o) => tor.connect('example.com:80', o)],
    ['tor.resolve', (o) => tor.resolve('example.com', o)],
    ['tor.resolvePtr', (o) => tor.resolvePtr('1.2.3.4', o)],
    ['tor.socks.socksAddress', (o) => tor.socks.socksAddress(o)],
    ['tor.fetch', (o) => tor.fetch('http://example.com/', o)],
    ['connect("tor:...")', (o) => connectEndpoint('tor:example.com:80', { tor, ...o })],
    ['connect("tcp:...")', (o) => connectEndpoint(echoTarget(), o)],
    ['listen("tcp:...")', (o) => listenEndpoint(net.createServer(), 'tcp:0:interface=127.0.0.1', o)],
  ];

  it('a signal already aborted: TorAbortError with its reason as cause, no socket opened, nothing listening', async () => {
    const opened = [sinon.spy(net, 'connect'), sinon.spy(net, 'createConnection'), sinon.spy(net.Socket.prototype, 'connect'), sinon.spy(net.Server.prototype, 'listen')];
    try {
      for (const [name, run] of calls) {
        const reason = new Error('caller gave up');
        const r = await within(outcome(run({ signal: AbortSignal.abort(reason) })), 2_000, name);
        assert.ok(!r.ok, `${name}: resolved`);
        assert.ok(r.error instanceof TorAbortError && r.error.code === 'TOR_ABORTED', `${name}: ${String(r.error)}`);
        assert.equal(r.error.cause, reason, name);
      }
      assert.deepEqual(opened.map((s) => s.callCount), [0, 0, 0, 0]);
      assert.equal(socks.connections.length, 0);
    } finally {
      for (const s of opened) s.restore();
    }
  });

  it('one signal reused for a thousand streams, resolves, endpoint connects and listens: no listener left, no warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const o = { signal: ac.signal, timeoutMs: 60_000 };
      for (let i = 0; i < 1000; i++) (await tor.connect('example.com:80', o)).destroy();
      for (let i = 0; i < 1000; i++) await tor.resolve('example.com', o);
      for (let i = 0; i < 300; i++) (await connectEndpoint(echoTarget(), { signal: ac.signal })).destroy();
      for (let i = 0; i < 300; i++) await (await listenEndpoint(net.createServer(), 'tcp:0:interface=127.0.0.1', { signal: ac.signal })).close();
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
