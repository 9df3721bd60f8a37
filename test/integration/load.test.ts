import assert from 'node:assert/strict';
import net from 'node:net';
import { connect } from '../../src/di/endpoint-api.js';
import { TorSocksError } from '../../src/errors.js';
import type { OnionService } from '../../src/onion/onion-types.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import { retryOnionLookup } from '../support/retry.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import {
  createEchoServer,
  describeFailures,
  echoExchange,
  runEchoStream,
  runExitLoad,
  runOnionLoad,
  type LoadEchoServer,
} from '../support/echo-load.js';

/**
 * Nothing is lost under load, on the private test network (CI sizes; bench/load.ts runs the full
 * ones: 500 x 256 KiB exit streams, 200 onion clients):
 *
 * - many concurrent `connect("tor:127.0.0.1:PORT")` streams, each echoing its own pseudo-random
 *   payload: sha256 sent == sha256 received for every stream, and the echo server saw every byte
 *   exactly once;
 * - many concurrent clients of one onion service, each with a verified echo exchange;
 * - `maxStreams=N` on an onion service: on one rendezvous circuit, N streams work and every stream
 *   beyond N is refused with a typed error; with `maxStreamsCloseCircuit` tor tears the circuit down.
 *
 * Onion connections get 20 s and more (testnet.md); the first one after publication is retried.
 * Assertions are about data and errors only, never about speed.
 */

const CI_EXIT_STREAMS = 100;
const CI_EXIT_SIZE = 64 * 1024;
const CI_ONION_CLIENTS = 40;
const CI_ONION_SIZE = 64 * 1024;
const STREAM_TIMEOUT_MS = 90_000;
const ONION_TIMEOUT_MS = 30_000;

/** `StreamID StreamStatus CircuitID Target` lines of GETINFO stream-status for one target host. */
async function streamsTo(tor: Tor, host: string): Promise<Array<{ id: string; status: string; circuit: string }>> {
  const text = await tor.control.getInfo('stream-status');
  return text
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter((f) => f.length >= 4 && f[3]!.startsWith(`${host}:`))
    .map((f) => ({ id: f[0]!, status: f[1]!, circuit: f[2]! }));
}

/** Resolves once `socket` has closed (tor closed it, or we did). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Mangle = (socket: net.Socket, data: Buffer, seen: number) => void;

/** A loopback server that echoes through `mangle` (a deliberately broken echo). */
async function brokenEcho(mangle: Mangle): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    let seen = 0;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      mangle(s, d, seen);
      seen += d.length;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const flipByte100k: Mangle = (s, d, seen) => {
  const copy = Buffer.from(d);
  if (seen <= 100_000 && 100_000 < seen + d.length) copy[100_000 - seen]! ^= 0x01;
  s.write(copy);
};
const dropLastByte =
  (size: number): Mangle =>
  (s, d, seen) => {
    if (seen + d.length >= size) s.end(d.subarray(0, d.length - 1));
    else s.write(d);
  };
const duplicate: Mangle = (s, d) => {
  s.write(d);
  s.write(d);
};

describe('the load checker itself (loopback, no tor)', () => {
  const SIZE = 256 * 1024;
  const cases: Array<[string, string, Mangle]> = [
    ['one flipped byte', 'LOAD_CORRUPTED', flipByte100k],
    ['a lost last byte', 'LOAD_CLOSED_EARLY', dropLastByte(SIZE)],
    ['a duplicated chunk', 'LOAD_TOO_MUCH', duplicate],
  ];
  for (const [what, code, mangle] of cases) {
    it(`reports ${what} as ${code}`, async () => {
      const server = await brokenEcho(mangle);
      try {
        const open = () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(server.port, '127.0.0.1', () => resolve(s)).once('error', reject);
          });
        const r = await runEchoStream(open, { index: 0, size: SIZE, seed: 'self-check', timeoutMs: 20_000 });
        assert.equal(r.ok, false);
        assert.equal(r.errorCode, code, describeFailures([r]));
      } finally {
        await server.close();
      }
    });
  }

  it('accepts an honest echo', async () => {
    const echo = createEchoServer();
    await new Promise<void>((resolve) => echo.server.listen(0, '127.0.0.1', resolve));
    try {
      const open = () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(echo.port, '127.0.0.1', () => resolve(s)).once('error', reject);
        });
      const r = await runEchoStream(open, { index: 0, size: SIZE, seed: 'self-check', timeoutMs: 20_000 });
      assert.equal(r.ok, true, describeFailures([r]));
      assert.equal(r.receivedSha256, r.sentSha256);
      assert.equal(echo.bytes, SIZE);
    } finally {
      await echo.close();
    }
  });
});

describe('load on the private test network: nothing lost', function () {
  this.timeout(300_000);
  let network: TestNetwork;
  let tor: Tor;

  before(async function () {
    this.timeout(240_000);
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
  });
  after(async () => {
    await tor?.close();
  });

  it(`${CI_EXIT_STREAMS} concurrent tor: streams x ${CI_EXIT_SIZE / 1024} KiB echo byte for byte (one client, no isolation)`, async () => {
    const run = await runExitLoad(tor, {
      streams: CI_EXIT_STREAMS,
      size: CI_EXIT_SIZE,
      streamTimeoutMs: STREAM_TIMEOUT_MS,
      signal: AbortSignal.timeout(240_000),
    });
    assert.equal(run.summary.failed, 0, describeFailures(run.results));
    assert.equal(run.results.length, CI_EXIT_STREAMS);
    for (const r of run.results) {
      assert.equal(r.bytesReceived, CI_EXIT_SIZE);
      assert.match(r.sentSha256!, /^[0-9a-f]{64}$/);
      assert.equal(r.receivedSha256, r.sentSha256, `stream ${r.index}`);
    }
    // Every stream carried different bytes, so a mix-up between streams could not go unnoticed.
    assert.equal(new Set(run.results.map((r) => r.sentSha256)).size, CI_EXIT_STREAMS);
    // The server saw each payload once: no duplicated or missing data behind tor's back. (tor may
    // retry a stream that was slow to connect, so connections can exceed streams; bytes cannot.)
    assert.equal(run.echoedBytes, CI_EXIT_STREAMS * CI_EXIT_SIZE);
    assert.ok(run.accepted >= CI_EXIT_STREAMS, `${run.accepted} connections for ${CI_EXIT_STREAMS} streams`);
  });

  it(`${CI_EXIT_STREAMS} concurrent tor: streams spread over 10 isolation tokens (10+ circuits) echo byte for byte`, async () => {
    const run = await runExitLoad(tor, {
      streams: CI_EXIT_STREAMS,
      size: CI_EXIT_SIZE,
      isolationTokens: 10,
      streamTimeoutMs: STREAM_TIMEOUT_MS,
      signal: AbortSignal.timeout(240_000),
      seed: 'exit-isolated',
    });
    assert.equal(run.summary.failed, 0, describeFailures(run.results));
    for (const r of run.results) assert.equal(r.receivedSha256, r.sentSha256, `stream ${r.index}`);
    assert.equal(run.echoedBytes, CI_EXIT_STREAMS * CI_EXIT_SIZE);
  });

  it(`${CI_ONION_CLIENTS} concurrent clients of one onion service (listen onion:80) echo ${CI_ONION_SIZE / 1024} KiB each`, async () => {
    const run = await runOnionLoad(tor, {
      clients: CI_ONION_CLIENTS,
      size: CI_ONION_SIZE,
      rendezvousCircuits: 4,
      streamTimeoutMs: ONION_TIMEOUT_MS * 2,
      signal: AbortSignal.timeout(240_000),
    });
    assert.match(run.address, /^[a-z2-7]{56}\.onion:80$/);
    assert.equal(run.summary.failed, 0, describeFailures(run.results));
    for (const r of run.results) {
      assert.equal(r.bytesReceived, CI_ONION_SIZE);
      assert.equal(r.receivedSha256, r.sentSha256, `client ${r.index}`);
    }
    assert.equal(new Set(run.results.map((r) => r.sentSha256)).size, CI_ONION_CLIENTS);
    assert.equal(run.echoedBytes, CI_ONION_CLIENTS * CI_ONION_SIZE);
    assert.ok(run.accepted >= CI_ONION_CLIENTS);
  });

  describe('maxStreams on an onion service (per rendezvous circuit)', () => {
    const N = 3;
    const K = 2;
    let echo: LoadEchoServer;
    let service: OnionService | undefined;
    const sockets: net.Socket[] = [];

    afterEach(async () => {
      for (const s of sockets.splice(0)) s.destroy();
      await service?.close().catch(() => undefined);
      service = undefined;
      await echo?.close();
    });

    /** Publishes a service with the limit; returns the endpoint string every stream of the test uses. */
    async function publish(closeCircuit: boolean, token: string): Promise<string> {
      echo = createEchoServer();
      service = await tor.createOnionService({
        ports: [{ virtualPort: 80 }],
        server: echo.server,
        maxStreams: N,
        maxStreamsCloseCircuit: closeCircuit,
        uploadTimeoutMs: 60_000,
      });
      // One isolation token for every stream of the test: tor then puts them all on one
      // rendezvous circuit, which is what MaxStreams counts.
      return `tor:${service.hostname}:80:isolate=${token}:timeout=${ONION_TIMEOUT_MS / 1000}`;
    }

    /** The first stream after publication, retried while the descriptor is not yet fetchable. */
    const firstStream = (endpoint: string): Promise<net.Socket> => retryOnionLookup(() => connect(endpoint, { tor }));

    const exchange = (socket: net.Socket, index: number) =>
      echoExchange(socket, { index, size: 16 * 1024, seed: 'max-streams', timeoutMs: ONION_TIMEOUT_MS });

    it(`N=${N}: ${N} streams on one circuit work, ${K} more are refused with TOR_SOCKS_CONNECTION_REFUSED, the first N keep working`, async () => {
      const endpoint = await publish(false, 'max-streams-ignore');
      sockets.push(await firstStream(endpoint));
      // The other N-1+K at once, on the rendezvous circuit the first one built.
      const outcomes = await Promise.allSettled(Array.from({ length: N - 1 + K }, () => connect(endpoint, { tor })));
      const opened = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      sockets.push(...opened);
      const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));

      assert.equal(sockets.length, N, `streams opened: ${sockets.length}, refused: ${refused.map(String).join('; ')}`);
      assert.equal(refused.length, K);
      for (const err of refused) {
        // tor's service answers a stream over the limit with RELAY_END reason DONE before
        // CONNECTED, which the client reports as SOCKS 0x05 (it does the same for a closed port).
        assert.ok(err instanceof TorSocksError, `expected TorSocksError, got ${String(err)}`);
        assert.equal(err.code, 'TOR_SOCKS_CONNECTION_REFUSED');
        assert.equal(err.reply, 0x05);
      }

      // All N are open at once and carry verified data; they share one circuit, which is still up.
      await Promise.all(sockets.map((s, i) => exchange(s, i)));
      const streams = (await streamsTo(tor, service!.hostname)).filter((s) => s.status === 'SUCCEEDED');
      assert.equal(streams.length, N);
      assert.equal(new Set(streams.map((s) => s.circuit)).size, 1, `streams on circuits ${streams.map((s) => s.circuit).join(',')}`);
      assert.equal(echo.open, N, 'the service handed exactly N connections to the server');

      // The bound is on concurrent streams: once one closes, the next stream gets its place.
      const circuit = streams[0]!.circuit;
      sockets.shift()!.destroy();
      // The service frees the place when it closes its side of the stream, which is when our
      // echo server sees its connection close (tor marks the stream on END, and only detaches it
      // from the circuit when it closes the connection; a BEGIN arriving in between is refused).
      await waitFor('the service to close its side of the stream', async () => echo.open === N - 1, 20_000);
      assert.equal((await streamsTo(tor, service!.hostname)).length, N - 1);
      const again = await connect(endpoint, { tor });
      sockets.push(again);
      await exchange(again, 100);
      const after = await streamsTo(tor, service!.hostname);
      assert.deepEqual([...new Set(after.map((s) => s.circuit))], [circuit], 'still the same rendezvous circuit');
      const over = await connect(endpoint, { tor }).catch((e: unknown) => e);
      assert.ok(over instanceof TorSocksError && over.code === 'TOR_SOCKS_CONNECTION_REFUSED', `expected a refusal, got ${String(over)}`);
    });

    it(`N=${N} with maxStreamsCloseCircuit: stream N+1 fails with a TorSocksError and tor closes the first N with the circuit`, async () => {
      const endpoint = await publish(true, 'max-streams-close');
      sockets.push(await firstStream(endpoint));
      for (let i = 1; i < N; i++) sockets.push(await connect(endpoint, { tor }));
      await Promise.all(sockets.map((s, i) => exchange(s, i)));
      const before = await streamsTo(tor, service!.hostname);
      assert.equal(new Set(before.map((s) => s.circuit)).size, 1, 'the N streams share one circuit');

      const err = await connect(endpoint, { tor }).catch((e: unknown) => e);
      assert.ok(err instanceof TorSocksError, `expected TorSocksError, got ${String(err)}`);
      // The service sends END (0x05) and closes the circuit; if the teardown overtakes the END, the
      // client sees the circuit destroyed instead (0x01). Either way a typed refusal.
      assert.ok(
        err.code === 'TOR_SOCKS_CONNECTION_REFUSED' || err.code === 'TOR_SOCKS_GENERAL_FAILURE',
        `unexpected code ${err.code}`,
      );
      // The circuit is gone, and the N streams on it with it: tor closes their sockets.
      await Promise.all(sockets.map(closed));
      await waitFor('the streams to leave stream-status', async () => (await streamsTo(tor, service!.hostname)).length === 0, 20_000);

      // A new stream with the same token gets a new rendezvous circuit and works.
      const fresh = await firstStream(endpoint);
      sockets.push(fresh);
      await exchange(fresh, 200);
      const now = await streamsTo(tor, service!.hostname);
      assert.equal(now.length, 1);
      assert.notEqual(now[0]!.circuit, before[0]!.circuit);
    });
  });
});
