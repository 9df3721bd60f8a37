import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { redactEventText } from '../../src/control/events/redact.js';
import { TorControlClosedError, TorCircuitError, TorError, TorSocksError, TorTimeoutError } from '../../src/errors.js';
import type { TorOnionService } from '../../src/onion/onion-service.js';
import type { Circuit, TorState } from '../../src/state/tor-state.js';
import { startTestNetwork, type TestNetwork, type TestRelay } from '../../src/testnet.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { echoOnce, listenEchoServer } from '../support/echo-load.js';
import { isAlive, outcome, settleWithin, within, type Settled } from '../support/settle.js';

/**
 * Faults that need a working Tor network: a relay dying under a stream whose path we chose, and
 * the client tor dying mid-stream. They run on a network of this file's own (5 relays, so that
 * paths remain when one dies; the shared test network is never harmed).
 */

/** Deadline for noticing a death: a miss means a hang, not slowness (tor reacts within ms). */
const NOTICE_MS = 30_000;
/** Deadline for what must settle once the client tor itself is gone (its sockets close at once). */
const SETTLE_MS = 1_000;

/** Resolves when the socket has closed, with the error it closed with, if any. */
function closedWith(socket: net.Socket): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    socket.on('error', (err) => (error = err));
    if (socket.destroyed && socket.closed) resolve(error);
    socket.once('close', () => resolve(error));
  });
}

/** Retries `open` while it fails with a circuit or SOCKS error (a path through a relay that just died), 5 times at most. */
async function retryOnCircuitError<T>(open: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      const retryable = err instanceof TorCircuitError || err instanceof TorSocksError || err instanceof TorTimeoutError;
      if (!retryable || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

describe('faults on a test network of our own (5 relays)', function () {
  this.timeout(240_000);
  let network: TestNetwork;
  let tor: Tor;
  let state: TorState;
  let echo: { port: number; close(): Promise<void> };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    network = await startTestNetwork({ relays: 5, timeoutMs: 180_000 });
    tor = await connectTor({ control: network.controlEndpoint });
    state = await tor.getState();
    echo = await listenEchoServer();
    await everyRelayCarriesStreams();
  });

  /**
   * The network is "ready" once one exit stream works; a plain (non-authority) relay may still be
   * fetching its first consensus then, and streams exiting through it end with MISC for a few
   * seconds. The tests below need every relay usable, so wait for each to carry a stream as exit.
   */
  async function everyRelayCarriesStreams(): Promise<void> {
    for (const exit of network.relays) {
      const [a, b] = network.relays.filter((r) => r !== exit);
      const until = Date.now() + 90_000;
      for (;;) {
        try {
          const c = await state.buildCircuit([a!.fingerprint, b!.fingerprint, exit.fingerprint], { timeoutMs: 30_000 });
          const s = await tor.connect({ host: '127.0.0.1', port: echo.port }, { circuit: c, timeoutMs: 30_000 });
          s.destroy();
          await state.closeCircuit(c.id).catch(() => undefined);
          break;
        } catch (err) {
          if (Date.now() > until) throw new Error(`relay ${exit.nickname} never carried an exit stream: ${String(err)}`);
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    }
  }
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await tor?.close();
    await echo?.close();
    await network?.stop();
    if (network) for (const pid of network.pids) assert.equal(isAlive(pid), false, `tor ${pid} survived stop()`);
  });
  afterEach(async () => {
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled.map(String), [], 'unhandled rejections');
  });

  /**
   * What the client tor and the state say about circuits and streams, and the last lines of the
   * client's and the given relays' notice logs: for the failure message of a step that waits on tor.
   */
  async function torView(dead: TestRelay, relays: TestRelay[]): Promise<string> {
    const parts = [`killed ${dead.nickname} (pid ${dead.pid}) alive: ${isAlive(dead.pid)}`];
    const info = await outcome(tor.control.getInfo(['circuit-status', 'stream-status'], { timeoutMs: 5_000 }));
    // Redacted: circuit-status carries SOCKS_PASSWORD values.
    parts.push(info.ok ? `tor: ${redactEventText(JSON.stringify(info.value))}` : `tor: ${String(info.error)}`);
    parts.push(`state: circuits ${[...state.circuits.values()].map((c) => `${c.id} ${c.status}`).join(', ')}; streams ${[...state.streams.values()].map((st) => `${st.id} ${st.status} on ${st.circuitId}`).join(', ')}`);
    const noise = /TestingTorNetwork is set|opening log file/;
    for (const [name, dir] of [['client', network.clientNode.dataDir], ...relays.map((r) => [r.nickname, r.dataDir])] as const) {
      const log = await readFile(path.join(dir, 'notice.log'), 'utf8').catch((e: unknown) => String(e));
      parts.push(`${name} notice.log:\n  ${log.split('\n').filter((l) => l && !noise.test(l)).slice(-12).join('\n  ')}`);
    }
    return parts.join('\n');
  }

  /** The plain (non-authority) relay: killing it leaves the directory untouched. */
  const victim = (): TestRelay => network.relays.find((r) => r.role === 'relay')!;
  const authorities = (): TestRelay[] => network.relays.filter((r) => r.role === 'authority');

  it('a relay SIGKILLed under a stream ends that stream and its circuit; other circuits carry new streams', async function () {
    // Room for every retry below to run out (5 x 50 s, then 35 s) before mocha gives up.
    this.timeout(330_000);
    assert.equal(network.relays.length, 5);
    // The dead relay is the circuit's first hop: the client tor's own connection to it breaks, so
    // tor learns of the death at once. With it in the middle, the first hop must notice and destroy
    // the circuit; in one CI run it had not after 30 s (the client still listed the circuit BUILT).
    const dead = victim();
    const [middle, exit, other1, other2] = authorities();
    assert.ok(middle && exit && other1 && other2 && dead);
    const circuit = await state.buildCircuit([dead.fingerprint, middle.fingerprint, exit.fingerprint], { timeoutMs: 60_000 });
    assert.deepEqual(circuit.path.map((r) => r.fingerprint), [dead.fingerprint, middle.fingerprint, exit.fingerprint]);
    const socket = await tor.connect({ host: '127.0.0.1', port: echo.port }, { circuit, timeoutMs: 60_000 });
    assert.equal(await echoOnce(socket, 'before the fault'), 'before the fault');
    // The stream really runs over the chosen circuit (else the kill below would test nothing).
    const stream = [...state.streams.values()].find((st) => st.sourceAddr?.port === socket.localPort);
    assert.equal(stream?.circuitId, circuit.id, `stream ${String(stream)} is not on circuit ${circuit.id}`);
    const streamClosed = closedWith(socket);
    const circuitGone = new Promise<Circuit>((resolve) =>
      state.on('circuitClosed', (c) => {
        if (c.id === circuit.id) resolve(c);
      }),
    );

    process.kill(dead.pid, 'SIGKILL');

    const closed = await settleWithin(streamClosed, NOTICE_MS, 'the stream through the dead relay').catch(async (err: unknown) => {
      // Should it happen again: say what tor and the state saw.
      throw new Error(`${String(err)}\n${await torView(dead, [middle, exit])}`, { cause: err });
    });
    assert.ok(closed.ok);
    assert.equal(socket.destroyed, true);
    const gone = await settleWithin(circuitGone, NOTICE_MS, "the circuit's circuitClosed").catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await torView(dead, [middle, exit])}`, { cause: err });
    });
    assert.ok(gone.ok && gone.value.closed);
    assert.equal(state.circuits.has(circuit.id), false);

    // A circuit we name through other relays works.
    const again = await retryOnCircuitError(async () => {
      const fresh = await state.buildCircuit([other1.fingerprint, other2.fingerprint, middle.fingerprint], { timeoutMs: 30_000 });
      return tor.connect({ host: '127.0.0.1', port: echo.port }, { circuit: fresh, timeoutMs: 20_000 });
    }).catch((err: unknown) => {
      throw new Error(`a stream on a circuit named through live relays, after the kill: ${String(err)}`, { cause: err });
    });
    assert.equal(await echoOnce(again, 'after the fault'), 'after the fault');
    again.destroy();
    // A path tor chooses itself (buildCircuit without a path). Whether tor can start one soon after
    // a relay death is tor's own business (its guard and directory state): in CI it once answered
    // 551 "Couldn't start circuit" for five attempts in a row, and once left streams waiting in all
    // five attempts of 30 s. What torcon owes is a typed answer in time: a BUILT circuit that
    // avoids the dead relay and carries a stream, or a TorCircuitError (its cause a TorTimeoutError at 30 s).
    const own = await settleWithin(state.buildCircuit(undefined, { timeoutMs: 30_000 }), 35_000, 'buildCircuit() after the kill');
    if (own.ok) {
      assert.ok(!own.value.path.some((r) => r.fingerprint === dead.fingerprint), 'a BUILT circuit through the dead relay');
      const chosen = await tor.connect({ host: '127.0.0.1', port: echo.port }, { circuit: own.value, timeoutMs: 30_000 });
      assert.equal(await echoOnce(chosen, 'tor chose'), 'tor chose');
      chosen.destroy();
    } else {
      assert.ok(own.error instanceof TorCircuitError, `buildCircuit() after the kill: ${String(own.error)}`);
    }
  });

  it('a circuit asked through the dead relay fails with TorCircuitError', async () => {
    const [a, b] = authorities();
    const built = await settleWithin(
      state.buildCircuit([a!.fingerprint, victim().fingerprint, b!.fingerprint], { timeoutMs: 60_000 }),
      70_000,
      'buildCircuit through a dead relay',
    );
    assert.ok(!built.ok, 'a circuit through a dead relay was built');
    assert.ok(built.error instanceof TorCircuitError, String(built.error));
  });

  it('the client tor SIGKILLed mid-stream: streams, pending commands and connects end at once, typed; state and services hear of it', async () => {
    const pid = network.clientNode.pid;
    // Through live relays only: the relay killed above may still be in the consensus.
    const [g, m, x] = authorities();
    const live = await state.buildCircuit([g!.fingerprint, m!.fingerprint, x!.fingerprint], { timeoutMs: 60_000 });
    const socket = await tor.connect({ host: '127.0.0.1', port: echo.port }, { circuit: live, timeoutMs: 60_000 });
    assert.equal(await echoOnce(socket, 'alive'), 'alive');
    const streamClosed = closedWith(socket);
    const service = (await tor.createOnionService({ ports: [{ virtualPort: 80, target: `127.0.0.1:${echo.port}` }], awaitUpload: false })) as TorOnionService;
    const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
    const stateClosed = new Promise<Error | undefined>((resolve) => state.once('close', resolve));
    // Data in flight at the moment of death.
    const pump = setInterval(() => socket.writable && socket.write('x'.repeat(1024)), 1);

    // Stopped first: everything below is in flight, unanswered, when the kill lands.
    process.kill(pid, 'SIGSTOP');
    const pending: Record<string, Promise<Settled<unknown>>> = {
      getInfo: outcome(tor.control.getInfo('ns/all')),
      circuit: outcome(state.buildCircuit(undefined, { timeoutMs: 60_000 })),
      connect: outcome(tor.connect({ host: '127.0.0.1', port: echo.port }, { timeoutMs: 60_000 })),
      resolve: outcome(tor.resolve('127.0.0.1', { timeoutMs: 60_000 })),
    };
    await new Promise((r) => setTimeout(r, 50)); // let the SOCKS connections reach the kernel's backlog
    process.kill(pid, 'SIGKILL');

    try {
      const closed = await settleWithin(streamClosed, SETTLE_MS, 'the open stream');
      assert.ok(closed.ok);
      for (const [what, p] of Object.entries(pending)) {
        const r = await within<unknown>(p, SETTLE_MS, what);
        assert.ok(!r.ok, `${what} succeeded against a dead tor`);
        assert.ok(r.error instanceof TorError, `${what}: ${String(r.error)}`);
        if (what === 'getInfo' || what === 'circuit') assert.ok(r.error instanceof TorControlClosedError, `${what}: ${String(r.error)}`);
        if (what === 'connect' || what === 'resolve') assert.ok(r.error instanceof TorSocksError, `${what}: ${String(r.error)}`);
      }
      const why = await settleWithin(stateClosed, SETTLE_MS, "TorState 'close'");
      assert.ok(why.ok && why.value instanceof TorControlClosedError);
      const gone = await settleWithin(lost, SETTLE_MS, "the onion service's 'lost'");
      assert.ok(gone.ok);
      await assert.rejects(tor.control.getInfo('version'), TorControlClosedError);
      await assert.rejects(tor.connect({ host: '127.0.0.1', port: echo.port }, { timeoutMs: 5_000 }), TorError);
    } finally {
      clearInterval(pump);
    }
    await service.close();
    await settleWithin(tor.close(), SETTLE_MS, 'tor.close() after the kill');
  });
});
