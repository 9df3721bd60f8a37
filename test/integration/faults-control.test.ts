import assert from 'node:assert/strict';
import net from 'node:net';
import sinon from 'sinon';
import type { TorControl } from '../../src/control/tor-control.js';
import {
  EndpointListenError,
  OnionPublishError,
  TorAbortError,
  TorCircuitError,
  TorControlClosedError,
  TorError,
  TorNotAvailableError,
  TorSocksError,
  TorTimeoutError,
} from '../../src/errors.js';
import type { TorOnionService } from '../../src/onion/onion-service.js';
import { openTorControl } from '../../src/control/transport.js';
import { generateClientAuthKey } from '../../src/onion/client-auth.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import { Tor } from '../../src/tor/tor.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { isAlive, outcome, settleWithin, within, type Settled } from '../support/settle.js';

/**
 * Faults at the control level: tor SIGKILLed while commands, a state build, an ADD_ONION or an
 * authentication are in flight, and peers that accept a connection and then never answer.
 * Every tor here runs with DisableNetwork 1 (its own; the shared test network is never touched).
 *
 * What must hold: every pending operation settles within a second of the fault, with a typed
 * error; the state and onion services hear of the loss; no rejection goes unhandled; sockets and
 * timers are released (this file must let mocha exit without --exit).
 */

const OFFLINE = { DisableNetwork: 1 } as const;
/** How long anything may take to settle after tor died (a hang shows up as a miss). */
const SETTLE_MS = 1_000;

/**
 * The resources at the start of a test. Taken after a turn of the event loop, so that mocha's own
 * timer for the running test (armed once the test function has returned its promise) is counted.
 */
async function baselineResources(): Promise<Map<string, number>> {
  await new Promise((r) => setImmediate(r));
  return resources();
}

/** Counts of Node's active resources by kind (TCPSocketWrap, Timeout, ProcessWrap, ...). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Asserts that no socket, server, child process or timer outlived the test (waiting up to 1 s for closes). */
async function assertNoLeaks(baseline: Map<string, number>, what: string): Promise<void> {
  const kinds = ['TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'ProcessWrap', 'Timeout'];
  const over = () => kinds.filter((k) => (resources().get(k) ?? 0) > (baseline.get(k) ?? 0));
  for (let i = 0; i < 50 && over().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  const now = resources();
  assert.deepEqual(over(), [], `${what}: left behind ${over().map((k) => `${k} ${baseline.get(k) ?? 0} -> ${now.get(k)}`).join(', ')}`);
}

/** Records unhandled rejections during one test. */
function trackUnhandled(): { check(): Promise<void> } {
  const seen: unknown[] = [];
  const on = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', on);
  return {
    async check() {
      await new Promise((r) => setImmediate(r));
      process.off('unhandledRejection', on);
      assert.deepEqual(seen.map(String), [], 'unhandled rejections');
    },
  };
}

/**
 * Kills tor while the command starting with `prefix` is in flight: tor is stopped (SIGSTOP) just
 * before the command is written, so it cannot answer, and killed (SIGKILL) right after.
 */
function killDuring(control: TorControl, prefix: string, pid: number): void {
  const socket = (control as unknown as { socket: net.Socket }).socket;
  const original = socket.write;
  let fired = false;
  socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    const hit = !fired && String(chunk).startsWith(prefix);
    if (hit) {
      fired = true;
      process.kill(pid, 'SIGSTOP');
    }
    const result = (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    if (hit) process.kill(pid, 'SIGKILL');
    return result;
  } as typeof socket.write;
}

function isClosedError(err: unknown): boolean {
  return err instanceof TorControlClosedError;
}

describe('faults: tor SIGKILLed under load (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let unhandled: { check(): Promise<void> };

  beforeEach(() => {
    unhandled = trackUnhandled();
  });
  afterEach(async () => {
    await unhandled.check();
  });

  it('rejects hundreds of pipelined commands, the event iterator and waiters; state and config hear of it', async () => {
    const baseline = await baselineResources();
    const tor = await launchTor({ config: OFFLINE });
    const pid = tor.pid!;
    const state = await tor.getState();
    const config = await tor.getConfig();
    const stateClosed = new Promise<Error | undefined>((resolve) => state.once('close', resolve));
    const controlClosed = new Promise<Error | undefined>((resolve) => tor.control.once('close', resolve));
    const iterator = tor.control.events(['CIRC', 'STREAM']);
    const nextEvent = iterator.next();
    nextEvent.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50)); // let the iterator subscribe

    // Stopped first, so that every command below is in flight (written, unanswered) at the kill.
    process.kill(pid, 'SIGSTOP');
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 100; i++) pending.push(tor.control.getInfo('config-text'));
    pending.push(tor.control.getInfo(['config/names', 'info/names', 'config/defaults', 'events/names']));
    for (let i = 0; i < 100; i++) pending.push(tor.control.getConf(['SocksPort', 'ContactInfo', 'DataDirectory']));
    pending.push(config.get('ContactInfo', { fresh: true }));
    pending.push(tor.newIdentity());
    process.kill(pid, 'SIGKILL');

    const outcomes = await settleWithin(Promise.allSettled(pending), SETTLE_MS, 'the pipelined commands');
    assert.ok(outcomes.ok);
    for (const o of outcomes.value) {
      assert.equal(o.status, 'rejected', 'a stopped tor answered');
      const reason = (o as PromiseRejectedResult).reason as Error;
      assert.ok(isClosedError(reason), `rejected with ${String(reason)}`);
      // Each names its own command.
      assert.match(reason.message, /^(GETINFO|GETCONF|SIGNAL) (failed|not sent)/);
    }

    const why = await settleWithin(controlClosed, SETTLE_MS, "TorControl 'close'");
    assert.ok(why.ok);
    const stateWhy = await settleWithin(stateClosed, SETTLE_MS, "TorState 'close'");
    assert.ok(stateWhy.ok && stateWhy.value instanceof TorControlClosedError, `state closed with ${String(stateWhy.ok && stateWhy.value)}`);
    const iter = await settleWithin(nextEvent, SETTLE_MS, 'the event iterator');
    assert.ok(!iter.ok && isClosedError(iter.error), `iterator: ${String(!iter.ok && iter.error)}`);

    // Later calls fail at once, typed.
    await assert.rejects(tor.control.getInfo('version'), TorControlClosedError);
    await assert.rejects(state.buildCircuit(), TorControlClosedError);
    await assert.rejects(config.set({ ContactInfo: 'x' }), TorError);
    await settleWithin(tor.close(), 3_000, 'tor.close() after the kill');
    assert.equal(isAlive(pid), false);
    await assertNoLeaks(baseline, 'after the kill');
  });

  it('a state being built when tor dies rejects typed, and the next getState() fails at once', async () => {
    const baseline = await baselineResources();
    const tor = await launchTor({ config: OFFLINE });
    killDuring(tor.control, 'GETINFO ns/all', tor.pid!);
    const building = await settleWithin(tor.getState(), 5_000, 'getState()');
    assert.ok(!building.ok && isClosedError(building.error), `getState: ${String(!building.ok && building.error)}`);
    const again = await settleWithin(tor.getState(), SETTLE_MS, 'the second getState()');
    assert.ok(!again.ok && isClosedError(again.error));
    const config = await settleWithin(tor.getConfig(), SETTLE_MS, 'getConfig()');
    assert.ok(!config.ok && isClosedError(config.error));
    await tor.close();
    await assertNoLeaks(baseline, 'after the kill');
  });

  it('mid-ADD_ONION: createOnionService rejects typed and closes the listener it opened; live services report the loss', async () => {
    const baseline = await baselineResources();
    const tor = await launchTor({ config: OFFLINE });
    const live = (await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false })) as TorOnionService;
    const lost = new Promise<Error>((resolve) => live.once('lost', resolve));
    const server = net.createServer();
    killDuring(tor.control, 'ADD_ONION', tor.pid!);
    const creating = await settleWithin(
      tor.createOnionService({ ports: [{ virtualPort: 443 }], server, awaitUpload: false }),
      SETTLE_MS,
      'createOnionService',
    );
    assert.ok(!creating.ok, 'a stopped tor answered ADD_ONION');
    assert.ok(isClosedError(creating.error) || creating.error instanceof OnionPublishError, String(creating.error));
    assert.equal(server.listening, false, 'the listener torcon opened for the service is closed again');
    const lostWhy = await settleWithin(lost, SETTLE_MS, "the live service's 'lost'");
    assert.ok(lostWhy.ok && lostWhy.value instanceof Error);
    assert.equal(live.closed, true);
    await settleWithin(live.close(), SETTLE_MS, 'closing a lost service');
    await tor.close();
    await assertNoLeaks(baseline, 'after the kill');
  });

  it('mid-SETCONF and mid-authentication: the setter and connectTor reject typed', async () => {
    const baseline = await baselineResources();
    const tor = await launchTor({ config: OFFLINE });
    const config = await tor.getConfig();
    killDuring(tor.control, 'SETCONF', tor.pid!);
    const set = await settleWithin(config.set({ ContactInfo: 'dies mid-command' }), SETTLE_MS, 'config.set');
    assert.ok(!set.ok && isClosedError(set.error), String(!set.ok && set.error));
    await tor.close();

    const victim = await launchTor({ config: OFFLINE });
    const write = net.Socket.prototype.write;
    let fired = false;
    const stub = sinon.stub(net.Socket.prototype, 'write').callsFake(function (this: net.Socket, ...args: unknown[]) {
      const hit = !fired && /^AUTH(CHALLENGE|ENTICATE)/.test(String(args[0]));
      if (hit) {
        fired = true;
        process.kill(victim.pid!, 'SIGSTOP');
      }
      const result = (write as (...a: unknown[]) => boolean).apply(this, args);
      if (hit) process.kill(victim.pid!, 'SIGKILL');
      return result;
    });
    try {
      const connecting = await settleWithin(connectTor({ control: victim.controlEndpoint }), SETTLE_MS, 'connectTor');
      assert.ok(!connecting.ok, 'connectTor resolved against a dead tor');
      assert.ok(
        connecting.error instanceof TorNotAvailableError || isClosedError(connecting.error) || connecting.error instanceof TorError,
        String(connecting.error),
      );
    } finally {
      stub.restore();
      await victim.close();
    }
    await assertNoLeaks(baseline, 'after the kills');
  });
});

describe('faults: a control port that accepts and never answers', function () {
  this.timeout(30_000);
  let peer: ScriptedPeer;
  let unhandled: { check(): Promise<void> };

  beforeEach(async () => {
    unhandled = trackUnhandled();
    peer = await ScriptedPeer.start();
  });
  afterEach(async function () {
    await peer.close();
    await unhandled.check();
  });

  /** Resolves when the peer's side of its connection has closed (we hung up). */
  function peerSeesClose(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        const s = (peer as unknown as { socket?: net.Socket }).socket;
        if (s && (s.destroyed || s.readableEnded)) return resolve();
        s?.once('close', () => resolve());
        s?.once('end', () => resolve());
        if (!s) setTimeout(check, 10);
      };
      check();
    });
  }

  it('connectTor with timeoutMs rejects with TorTimeoutError and hangs up', async () => {
    const baseline = await baselineResources();
    const result = await settleWithin(connectTor({ control: peer.endpoint, timeoutMs: 300 }), 300 + SETTLE_MS, 'connectTor');
    assert.ok(!result.ok && result.error instanceof TorTimeoutError, String(!result.ok && result.error));
    assert.equal((result.error as TorError).code, 'TOR_TIMEOUT');
    assert.deepEqual(peer.received, ['PROTOCOLINFO 1'], 'it got as far as PROTOCOLINFO');
    await settleWithin(peerSeesClose(), SETTLE_MS, 'the hang-up');
    await assertNoLeaks(baseline, 'connectTor timeout');
  });

  it('connectTor with an AbortSignal rejects with TorAbortError and hangs up', async () => {
    const baseline = await baselineResources();
    const ac = new AbortController();
    const connecting = connectTor({ control: peer.endpoint, signal: ac.signal });
    await peer.waitForLines(1);
    ac.abort();
    const result = await settleWithin(connecting, SETTLE_MS, 'connectTor');
    assert.ok(!result.ok && result.error instanceof TorAbortError, String(!result.ok && result.error));
    await settleWithin(peerSeesClose(), SETTLE_MS, 'the hang-up');
    await assertNoLeaks(baseline, 'connectTor abort');
  });

  it('commands, the state build and the config build time out or abort, typed; the rest end when the peer hangs up', async () => {
    const baseline = await baselineResources();
    const control = new (await import('../../src/control/tor-control.js')).TorControl(await connectRaw(peer.port));
    const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: peer.endpoint });
    const ac = new AbortController();
    // Outcomes are taken at once: a rejection must never wait unobserved.
    const timed = [10, 50, 100].map((ms) => outcome(control.getInfo('version', { timeoutMs: ms })));
    const aborted = [outcome(control.getInfo('version', { signal: ac.signal })), outcome(control.signal('NEWNYM', { signal: ac.signal }))];
    const waiting = [outcome(control.getInfo('version')), outcome(control.getConf('SocksPort'))];
    const builds = { getState: outcome(tor.getState({ timeoutMs: 150 })), getConfig: outcome(tor.getConfig({ timeoutMs: 150 })) };
    setTimeout(() => ac.abort(), 30);

    for (const p of timed) {
      const r = await within(p, SETTLE_MS, 'a command with timeoutMs');
      assert.ok(!r.ok && r.error instanceof TorTimeoutError, String(!r.ok && r.error));
    }
    for (const p of aborted) {
      const r = await within(p as Promise<Settled<unknown>>, SETTLE_MS, 'an aborted command');
      assert.ok(!r.ok && r.error instanceof TorAbortError, String(!r.ok && r.error));
    }
    for (const [what, p] of Object.entries(builds)) {
      const r = await within(p as Promise<Settled<unknown>>, SETTLE_MS, what);
      assert.ok(!r.ok && r.error instanceof TorTimeoutError, `${what}: ${String(!r.ok && r.error)}`);
    }
    // Nothing answered: the commands without a limit still wait, and end with the connection.
    peer.cut();
    for (const p of waiting) {
      const r = await within(p as Promise<Settled<unknown>>, SETTLE_MS, 'a command without a limit');
      assert.ok(!r.ok && isClosedError(r.error), String(!r.ok && r.error));
    }
    await tor.close();
    await assertNoLeaks(baseline, 'stalled control port');
  });

  /** A SOCKS port that accepts and never answers; `hungUp()` resolves once every client connection it got has closed. */
  async function silentSocksPort(): Promise<{ port: number; accepted: () => number; hungUp: () => Promise<void>; close: () => void }> {
    const conns: net.Socket[] = [];
    const closed: Array<Promise<void>> = [];
    const server = net.createServer((s) => {
      conns.push(s);
      closed.push(new Promise<void>((r) => s.once('close', () => r())));
      s.on('error', () => undefined);
      s.resume(); // read, so that the client's FIN is seen
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      port: (server.address() as net.AddressInfo).port,
      accepted: () => conns.length,
      hungUp: () => Promise.all(closed).then(() => undefined),
      close: () => {
        for (const c of conns) c.destroy();
        server.close();
      },
    };
  }

  async function torOverPeer(socksPort: number): Promise<Tor> {
    peer.auto.set('GETINFO', `250-net/listeners/socks="127.0.0.1:${socksPort}"\r\n250 OK\r\n`);
    const control = new (await import('../../src/control/tor-control.js')).TorControl(await connectRaw(peer.port));
    return new Tor(control, { version: '0.4.9.1', controlEndpoint: peer.endpoint });
  }

  it('a SOCKS port that never answers: tor.connect and tor.resolve with timeoutMs reject typed and hang up', async () => {
    const baseline = await baselineResources();
    const silent = await silentSocksPort();
    const tor = await torOverPeer(silent.port);
    try {
      const connecting = await settleWithin(tor.connect({ host: '127.0.0.1', port: 80 }, { timeoutMs: 200 }), 200 + SETTLE_MS, 'tor.connect');
      assert.ok(!connecting.ok, 'connected through a silent SOCKS port');
      assert.ok(connecting.error instanceof TorTimeoutError || (connecting.error instanceof TorSocksError && connecting.error.code === 'TOR_SOCKS_TIMEOUT'), String(connecting.error));
      const resolving = await settleWithin(tor.resolve('example.com', { timeoutMs: 200 }), 200 + SETTLE_MS, 'tor.resolve');
      assert.ok(!resolving.ok && (resolving.error instanceof TorTimeoutError || resolving.error instanceof TorSocksError), String(!resolving.ok && resolving.error));
      assert.equal(silent.accepted(), 2);
      await settleWithin(silent.hungUp(), SETTLE_MS, 'closing the SOCKS connections');
    } finally {
      await tor.close();
      silent.close();
    }
    await assertNoLeaks(baseline, 'silent SOCKS port');
  });

  it('a SOCKS port that never answers: an aborted tor.fetch rejects and hangs up its SOCKS connection', async () => {
    const silent = await silentSocksPort();
    const tor = await torOverPeer(silent.port);
    try {
      const ac = new AbortController();
      const fetching = tor.fetch('http://example.com/', { signal: ac.signal });
      while (silent.accepted() === 0) await new Promise((r) => setTimeout(r, 5));
      ac.abort();
      const fetched = await settleWithin(fetching, SETTLE_MS, 'tor.fetch');
      assert.ok(!fetched.ok, 'fetch resolved through a silent SOCKS port');
      await tor.close();
      // The stream the fetch was opening is of no use to anyone now: it must not wait for tor
      // (up to the 130 s SOCKS handshake limit) with its socket and timer.
      await settleWithin(silent.hungUp(), SETTLE_MS, 'closing the aborted fetch\'s SOCKS connection');
    } finally {
      await tor.close();
      silent.close();
    }
  });

  it('listen() on an onion endpoint whose control port stalls: the AbortSignal ends it, nothing listens', async () => {
    const { listen } = await import('../../src/index.js');
    const server = net.createServer();
    const ac = new AbortController();
    const listening = listen(server, `onion:80:control=tcp\\:127.0.0.1\\:${peer.port}`, { signal: ac.signal });
    await peer.waitForLines(1);
    ac.abort();
    const r = await settleWithin(listening, SETTLE_MS, 'listen');
    assert.ok(!r.ok && (r.error instanceof TorAbortError || r.error instanceof EndpointListenError || r.error instanceof TorNotAvailableError), String(!r.ok && r.error));
    assert.equal(server.listening, false);
  });
});

describe('faults: a tor that goes silent in the middle of a session', function () {
  this.timeout(30_000);

  it('state, config, onion and signal operations with timeoutMs/signal reject typed; the rest end with the connection', async () => {
    const unhandled = trackUnhandled();
    const baseline = await baselineResources();
    const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
    const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
    const fake = await FakeControlServer.start();
    let silent = false;
    // Once silent, no command is ever answered (and, tor answering in order, nothing after it).
    fake.handle(/./, () => (silent ? new Promise<undefined>(() => undefined) : undefined));
    fake.info({
      'ns/all': `r auth0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Guard Running Stable Valid`,
      'circuit-status': `1 BUILT $${FP}~auth0 PURPOSE=GENERAL`,
      'stream-status': `2 SUCCEEDED 1 127.0.0.1:80`,
      'address-mappings/all': '',
      'entry-guards': '',
      'config/names': 'ContactInfo String\nDisableNetwork Boolean',
    });
    const { control } = await openTorControl(fake.endpoint);
    const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    try {
      const state = await tor.getState();
      const config = await tor.getConfig();
      assert.equal(state.circuits.get('1')?.status, 'BUILT');
      silent = true;

      const ac = new AbortController();
      const limited: Record<string, Promise<Settled<unknown>>> = {
        buildCircuit: outcome(state.buildCircuit(['auth0'], { timeoutMs: 100 })),
        closeCircuit: outcome(state.closeCircuit('1', { timeoutMs: 100 })),
        closeStream: outcome(state.closeStream('2', 'DONE', { timeoutMs: 100 })),
        'config.get': outcome(config.get('ContactInfo', { fresh: true, timeoutMs: 100 })),
        'config.set': outcome(config.set({ ContactInfo: 'x' }, { timeoutMs: 100 })),
        newIdentity: outcome(tor.newIdentity({ timeoutMs: 100 })),
        addOnionClientAuth: outcome(tor.addOnionClientAuth(ONION, generateClientAuthKey('a').privateKey, { timeoutMs: 100 })),
        removeOnionClientAuth: outcome(tor.removeOnionClientAuth(ONION, { signal: ac.signal })),
        createOnionService: outcome(tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false, signal: ac.signal })),
      };
      const unlimited: Array<Promise<Settled<unknown>>> = [outcome(state.closeCircuit('1')), outcome(tor.control.getInfo('version'))];
      setTimeout(() => ac.abort(), 50);
      const problems: string[] = [];
      for (const [what, p] of Object.entries(limited)) {
        const r = await within(p, SETTLE_MS, what).catch((e: Error) => ({ ok: false as const, error: e, late: true }));
        if ('late' in r) problems.push(`${what}: still pending ${SETTLE_MS} ms after its limit`);
        else if (r.ok) problems.push(`${what}: succeeded against a silent tor`);
        else {
          // buildCircuit's are TorCircuitErrors, the timeout or abort as their cause.
          const why = r.error instanceof TorCircuitError ? r.error.cause : r.error;
          if (!(why instanceof TorTimeoutError || why instanceof TorAbortError)) problems.push(`${what}: ${String(r.error)}`);
        }
      }
      assert.deepEqual(problems, []);
      // The state still follows tor: a silent control port is not a closed one.
      assert.equal(control.closed, false);
      await fake.close();
      for (const p of unlimited) {
        const r = await within(p, SETTLE_MS, 'an operation without a limit');
        assert.ok(!r.ok && isClosedError(r.error), String(!r.ok && r.error));
      }
    } finally {
      await fake.close().catch(() => undefined);
      await tor.close();
    }
    await unhandled.check();
    await assertNoLeaks(baseline, 'silent tor');
  });

  it('tor.close() (with its state and config) finishes against a tor that stopped answering', async () => {
    const fake = await FakeControlServer.start();
    let silent = false;
    fake.handle(/./, () => (silent ? new Promise<undefined>(() => undefined) : undefined));
    fake.info({ 'ns/all': '', 'circuit-status': '', 'stream-status': '', 'address-mappings/all': '', 'entry-guards': '', 'config/names': 'ContactInfo String' });
    const { control } = await openTorControl(fake.endpoint);
    const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    try {
      await tor.getState();
      await tor.getConfig();
      silent = true;
      // The control connection waits 1 s for QUIT and the state 5 s for its unsubscriptions; nothing
      // may wait forever (10 s here tells a hang from those bounds).
      const closed = await settleWithin(tor.close(), 10_000, 'tor.close() on a silent tor');
      assert.ok(closed.ok);
      assert.equal(control.closed, true);
    } finally {
      await fake.close();
    }
  });
});

describe('faults: a real tor stopped (SIGSTOP) while a command waits (DisableNetwork 1)', function () {
  this.timeout(60_000);

  it('the connection is closed as hung after replyTimeoutMs of silence: the command, the state and an onion service hear why; tor works again once resumed', async () => {
    const unhandled = trackUnhandled();
    const LIMIT = 1_500;
    // The owner keeps the default limit (60 s): stopping tor for a few seconds closes nothing of its.
    const tor = await launchTor({ config: OFFLINE });
    const pid = tor.pid!;
    let stopped = false;
    const second = await connectTor({ control: tor.controlEndpoint, replyTimeoutMs: LIMIT });
    try {
      const state = await second.getState();
      const service = (await second.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false })) as TorOnionService;
      const stateClosed = new Promise<Error | undefined>((resolve) => state.once('close', resolve));
      const lost = new Promise<Error>((resolve) => service.once('lost', resolve));

      process.kill(pid, 'SIGSTOP');
      stopped = true;
      // No timeoutMs: before replyTimeoutMs, this waited for ever on a stopped tor.
      const r = await within(outcome(second.control.getInfo('version')), LIMIT + SETTLE_MS * 5, 'GETINFO to a stopped tor');
      assert.ok(!r.ok);
      assert.ok(r.error instanceof TorControlClosedError, String(r.error));
      assert.ok(r.error.cause instanceof TorTimeoutError, String(r.error.cause));
      assert.equal(r.error.cause.timeoutMs, LIMIT);
      assert.match(r.error.message, /GETINFO failed: .*nothing at all coming from tor \(stopped or hung\?\)/);
      const why = await within(outcome(stateClosed), SETTLE_MS, "the state's close");
      assert.ok(why.ok && why.value instanceof TorControlClosedError, String(why.ok ? why.value : why.error));
      assert.match(why.value.message, /stopped or hung\?/);
      const loss = await within(outcome(lost), SETTLE_MS, "the onion service's 'lost'");
      assert.ok(loss.ok && loss.value instanceof TorTimeoutError, String(loss.ok ? loss.value : loss.error));
      assert.equal(second.control.closed, true);

      process.kill(pid, 'SIGCONT');
      stopped = false;
      // The owner's connection was only slow: tor answers it, and a new connection, again.
      assert.equal(tor.control.closed, false);
      assert.equal(await tor.control.getInfo('version'), tor.version);
      const third = await connectTor({ control: tor.controlEndpoint });
      try {
        assert.equal(await third.control.getInfo('version'), tor.version);
      } finally {
        await third.close();
      }
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      await second.close();
      await tor.close();
    }
    await unhandled.check();
  });

  it('with keepAliveMs, a state that only listens (no command of its own) hears of the stop too; without, it does not', async () => {
    const unhandled = trackUnhandled();
    const LIMIT = 1_000;
    const EVERY = 300;
    const tor = await launchTor({ config: OFFLINE });
    const pid = tor.pid!;
    let stopped = false;
    const watching = await connectTor({ control: tor.controlEndpoint, replyTimeoutMs: LIMIT, keepAliveMs: EVERY });
    const plain = await connectTor({ control: tor.controlEndpoint, replyTimeoutMs: LIMIT });
    try {
      const state = await watching.getState();
      const plainState = await plain.getState();
      const closed = new Promise<Error | undefined>((resolve) => state.once('close', resolve));
      let plainClosed = false;
      plainState.once('close', () => (plainClosed = true));

      process.kill(pid, 'SIGSTOP');
      stopped = true;
      // Asked within two intervals of silence, closed one to two limits after that.
      const why = await within(outcome(closed), 2 * EVERY + 2 * LIMIT + SETTLE_MS * 5, "the listening state's close");
      assert.ok(why.ok && why.value instanceof TorControlClosedError, String(why.ok ? why.value : why.error));
      assert.match(why.value.message, /reply to GETINFO, with nothing at all coming from tor \(stopped or hung\?\)/);
      assert.equal(watching.control.closed, true);
      // The same wait with no question asked: nothing told the other connection.
      assert.equal(plainClosed, false);
      assert.equal(plain.control.closed, false);

      process.kill(pid, 'SIGCONT');
      stopped = false;
      assert.equal(await plain.control.getInfo('version'), tor.version);
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      await watching.close();
      await plain.close();
      await tor.close();
    }
    await unhandled.check();
  });

  it('launchTor passes keepAliveMs to its own connection: its state hears of the stop, and close() still stops tor', async () => {
    const unhandled = trackUnhandled();
    const LIMIT = 1_000;
    const EVERY = 300;
    const tor = await launchTor({ config: OFFLINE, replyTimeoutMs: LIMIT, keepAliveMs: EVERY });
    const pid = tor.pid!;
    let stopped = false;
    try {
      const state = await tor.getState();
      const closed = new Promise<Error | undefined>((resolve) => state.once('close', resolve));
      process.kill(pid, 'SIGSTOP');
      stopped = true;
      const why = await within(outcome(closed), 2 * EVERY + 2 * LIMIT + SETTLE_MS * 5, "the launched tor's state's close");
      assert.ok(why.ok && why.value instanceof TorControlClosedError, String(why.ok ? why.value : why.error));
      assert.match(why.value.message, /reply to GETINFO, with nothing at all coming from tor/);
      process.kill(pid, 'SIGCONT');
      stopped = false;
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      // The owning connection is gone (tor exits once it sees that); close() stops what is left.
      await within(outcome(tor.close()), 15_000, 'tor.close() after the hang');
    }
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the launched tor still runs');
    await unhandled.check();
  });
});
