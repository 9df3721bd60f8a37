import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { TorAbortError, TorCircuitError, TorInvalidValueError, TorSocksError, TorTimeoutError } from '../../src/errors.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import type { Circuit, Stream, TorState } from '../../src/state/tor-state.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import { makeTestCertificate } from '../unit/socks-fake-server.js';
import { httpGetText } from '../support/http-get-text.js';

/**
 * tor.fetch and tor.httpAgent with `circuit`, against real tor on the private test network: which
 * circuit each stream went over is read from the live state (streamSucceeded), not assumed.
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}


/** A web server on 127.0.0.1 whose answers name the connection (the exit's port) they came on. */
async function webServer(): Promise<{ server: http.Server; port: number; url: string }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/never') return; // the request waits until it is aborted
    res.end(`${req.url} on ${req.socket.remotePort}`);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** The connection an answer of {@link webServer} came on. */
const connectionOf = (body: string) => body.split(' on ')[1];

describe('fetch and httpAgent over a chosen circuit (integration, private test network)', function () {
  this.timeout(120_000);
  let network: TestNetwork;
  let tor: Tor;
  let state: TorState;
  let first: Circuit;
  let second: Circuit;
  /** Every stream tor reported connected, in order. */
  const succeeded: Stream[] = [];
  const onSucceeded = (s: Stream) => succeeded.push(s);

  /** Waits until `n` streams to `port` have succeeded, and returns them. */
  async function streamsTo(port: number, n: number): Promise<Stream[]> {
    for (;;) {
      const found = succeeded.filter((s) => s.target.port === port);
      if (found.length >= n) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  before(async () => {
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
    state = await tor.getState();
    state.on('streamSucceeded', onSucceeded);
    const names = network.relays.map((r) => r.nickname);
    assert.ok(names.length >= 4, `the test network has ${names.length} relays`);
    // Two 3-hop circuits with different exits.
    first = await state.buildCircuit([names[0]!, names[1]!, names[2]!], { timeoutMs: 60_000 });
    second = await state.buildCircuit([names[3]!, names[2]!, names[1]!], { timeoutMs: 60_000 });
  });
  after(async () => {
    state?.off('streamSucceeded', onSucceeded);
    for (const c of [first, second]) if (c && !c.closed) await state.closeCircuit(c.id).catch(() => undefined);
    await tor?.close();
  });

  it('tor.fetch with circuit: the stream goes over that 3-hop circuit', async () => {
    const web = await webServer();
    try {
      const res = await tor.fetch(`${web.url}/a`, { circuit: first, timeoutMs: 60_000 });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^\/a on \d+$/);
      const [stream] = await streamsTo(web.port, 1);
      assert.equal(stream!.circuit, first);
      assert.deepEqual(first.path.map((r) => r.nickname), network.relays.slice(0, 3).map((r) => r.nickname));
    } finally {
      await closeServer(web.server);
    }
  });

  it('two fetches with two circuits, at once, each over its own; no connection serves two circuits, or a circuit and none', async () => {
    const web = await webServer();
    try {
      const fetchText = async (path: string, circuit: Circuit | string) => (await tor.fetch(`${web.url}${path}`, { circuit })).text();
      // One given as a Circuit, the other as its id.
      const [a, b] = await Promise.all([fetchText('/1', first), fetchText('/2', second.id)]);
      const streams = await streamsTo(web.port, 2);
      assert.deepEqual(streams.map((s) => s.circuit).sort((x, y) => Number(x!.id) - Number(y!.id)), [first, second].sort((x, y) => Number(x.id) - Number(y.id)));
      // Again, one after the other, and without a circuit: each fetch reuses a kept connection of
      // its own circuit or opens a stream over it (undici does not always reuse a free one), and
      // a connection serves one circuit only.
      const a2 = await fetchText('/3', first);
      const b2 = await fetchText('/4', second);
      const plain = await (await tor.fetch(`${web.url}/5`)).text();
      const onFirst = new Set([a!, a2].map(connectionOf));
      const onSecond = new Set([b!, b2].map(connectionOf));
      const onNone = connectionOf(plain)!;
      assert.ok(![...onFirst].some((c) => onSecond.has(c)) && !onFirst.has(onNone) && !onSecond.has(onNone), `${a} ${a2} | ${b} ${b2} | ${plain}`);
      // Every stream opened for them went over its fetch's circuit (the last one, without a
      // circuit, wherever tor chose: our circuits are general-purpose ones, which tor may use too).
      const pinned = (await streamsTo(web.port, onFirst.size + onSecond.size + 1)).slice(0, -1);
      assert.equal(pinned.filter((s) => s.circuit === first).length, onFirst.size);
      assert.equal(pinned.filter((s) => s.circuit === second).length, onSecond.size);
    } finally {
      await closeServer(web.server);
    }
  });

  it('tor.httpAgent with circuit: each of its streams goes over it, keep-alive or not, and https does TLS over it', async () => {
    const web = await webServer();
    const cert = makeTestCertificate({ ip: ['127.0.0.1'] });
    const secure = https.createServer(cert, (req, res) => res.end(`secure ${req.url}`));
    const securePort = await listen(secure);
    const fresh = tor.httpAgent({ circuit: second, connectTimeoutMs: 60_000 });
    const kept = tor.httpAgent({ circuit: second.id, keepAlive: true, connectTimeoutMs: 60_000 });
    const tlsAgent = tor.httpAgent({ circuit: first, tls: { ca: cert.cert }, connectTimeoutMs: 60_000 });
    try {
      await httpGetText(`${web.url}/x`, fresh);
      await httpGetText(`${web.url}/y`, fresh);
      const k1 = await httpGetText(`${web.url}/k1`, kept);
      const k2 = await httpGetText(`${web.url}/k2`, kept);
      assert.equal(connectionOf(k2), connectionOf(k1));
      const streams = await streamsTo(web.port, 3);
      assert.deepEqual(streams.map((s) => s.circuit), [second, second, second]);
      assert.equal(await httpGetText(`https://127.0.0.1:${securePort}/s`, tlsAgent), 'secure /s');
      const [tlsStream] = await streamsTo(securePort, 1);
      assert.equal(tlsStream!.circuit, first);
    } finally {
      for (const agent of [fresh, kept, tlsAgent]) agent.destroy();
      await closeServer(web.server);
      await closeServer(secure);
    }
  });

  it('tor.fetch with timeoutMs or a signal reuses kept connections, as an httpAgent with keepAlive does under per-request timeouts', async () => {
    const web = await webServer();
    const kept = tor.httpAgent({ keepAlive: true, connectTimeoutMs: 60_000 });
    const getWithTimeout = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const req = http.get(`${web.url}${path}`, { agent: kept, timeout: 60_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
      });
    try {
      const fetched: string[] = [];
      const inits = [{ timeoutMs: 60_000 }, { timeoutMs: 60_000 }, { signal: new AbortController().signal }, { timeoutMs: 60_000 }, { timeoutMs: 60_000 }];
      for (const [i, init] of inits.entries()) {
        const res = await tor.fetch(`${web.url}/t${i}`, init);
        fetched.push(connectionOf(await res.text())!);
      }
      // undici counts a connection free a moment after handing its body over, so a request right
      // after another may open a second one; every later one finds one of the two free.
      const fetchConnections = new Set(fetched).size;
      assert.ok(fetchConnections <= 2, `connections: ${fetched.join(' ')}`);
      const got: string[] = [];
      for (const path of ['/a1', '/a2', '/a3']) got.push(connectionOf(await getWithTimeout(path))!);
      assert.equal(new Set(got).size, 1, `connections: ${got.join(' ')}`);
      // Each connection is one stream through tor.
      assert.equal((await streamsTo(web.port, fetchConnections + 1)).length, fetchConnections + 1);
    } finally {
      kept.destroy();
      await closeServer(web.server);
    }
  });

  it('tor.fetch https with circuit: TLS runs over the pinned stream (an untrusted certificate -> TOR_SOCKS_TLS_FAILED)', async () => {
    const cert = makeTestCertificate({ ip: ['127.0.0.1'] });
    const secure = https.createServer(cert, (_req, res) => res.end('secure'));
    const securePort = await listen(secure);
    try {
      const err = await tor.fetch(`https://127.0.0.1:${securePort}/`, { circuit: first, timeoutMs: 60_000 }).catch((e: unknown) => e);
      assert.ok(err instanceof TorSocksError && err.code === 'TOR_SOCKS_TLS_FAILED', String(err));
      const [stream] = await streamsTo(securePort, 1);
      assert.equal(stream!.circuit, first);
    } finally {
      await closeServer(secure);
    }
  });

  it("circuit errors are connect's: an .onion URL before any I/O, an exit refusal; signal and timeoutMs hold", async () => {
    const onion = 'http://pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion/';
    await assert.rejects(tor.fetch(onion, { circuit: first }), TorInvalidValueError);
    // A closed port: the exit ends the stream, and the pinned stream fails with tor's reasons.
    const gone = net.createServer();
    const port = await listen(gone);
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const refused = await tor.fetch(`http://127.0.0.1:${port}/`, { circuit: first, timeoutMs: 60_000 }).catch((e: unknown) => e);
    assert.ok(refused instanceof TorCircuitError, String(refused));
    assert.equal(refused.circuitId, first.id);
    assert.equal(refused.reason, 'END', refused.message);
    const agentErr = await httpGetText(`http://127.0.0.1:${port}/`, tor.httpAgent({ circuit: first, connectTimeoutMs: 60_000 })).catch((e: unknown) => e);
    assert.ok(agentErr instanceof TorCircuitError && agentErr.circuitId === first.id, String(agentErr));
    // A server that never answers: the caller's signal ends the wait.
    const web = await webServer();
    try {
      const ac = new AbortController();
      const waiting = tor.fetch(`${web.url}/never`, { circuit: first, signal: ac.signal });
      await streamsTo(web.port, 1);
      ac.abort();
      await assert.rejects(waiting, TorAbortError);
      assert.equal((await streamsTo(web.port, 1))[0]!.circuit, first);
      // And timeoutMs (whether it ends the wait for the stream or for the answer).
      await assert.rejects(tor.fetch(`${web.url}/never`, { circuit: first, timeoutMs: 500 }), TorTimeoutError);
    } finally {
      await closeServer(web.server);
    }
  });

  it('tor.newIdentity() closes the kept connections of pinned fetches and agents; the next streams go over the same circuit', async () => {
    const web = await webServer();
    const agent = tor.httpAgent({ circuit: second, keepAlive: true, connectTimeoutMs: 60_000 });
    try {
      const fetchOnce = async () => (await tor.fetch(`${web.url}/f`, { circuit: second })).text();
      const before = [await fetchOnce(), await httpGetText(`${web.url}/g`, agent), await httpGetText(`${web.url}/g`, agent)].map(connectionOf);
      assert.equal(before[2], before[1], 'the agent keeps its connection');
      await tor.newIdentity({ timeoutMs: 30_000 });
      const after = [await fetchOnce(), await httpGetText(`${web.url}/g`, agent)].map(connectionOf);
      assert.deepEqual(after.filter((c) => before.includes(c)), [], `before: ${before.join(' ')}; after: ${after.join(' ')}`);
      const streams = await streamsTo(web.port, 4);
      assert.deepEqual(streams.map((s) => s.circuit), [second, second, second, second]);
    } finally {
      agent.destroy();
      await closeServer(web.server);
    }
  });

  it('a circuit that closed: later fetches and agent requests fail with TorCircuitError, kept connections and all', async () => {
    const web = await webServer();
    const doomed = await state.buildCircuit(network.relays.slice(1, 4).map((r) => r.nickname), { timeoutMs: 60_000 });
    const agent = tor.httpAgent({ circuit: doomed, keepAlive: true, connectTimeoutMs: 60_000 });
    try {
      // A kept connection of each on the circuit, before it closes (a fetch without timeoutMs or
      // signal: those get a dispatcher of their own, which keeps nothing).
      await (await tor.fetch(`${web.url}/before`, { circuit: doomed })).text();
      await httpGetText(`${web.url}/before`, agent);
      const streams = await streamsTo(web.port, 2);
      assert.deepEqual(streams.map((s) => s.circuit), [doomed, doomed]);
      // Requests made the moment the state hears of the close, when tor may not have closed the
      // kept connections yet: they must not go out on those.
      const atClose = new Promise<unknown[]>((resolve) => {
        const onClosed = (c: Circuit) => {
          if (c !== doomed) return;
          state.off('circuitClosed', onClosed);
          const settle = (p: Promise<unknown>) => p.then(() => 'no error', (e: unknown) => e);
          resolve(Promise.all([settle(tor.fetch(`${web.url}/at-close`, { circuit: doomed })), settle(httpGetText(`${web.url}/at-close`, agent))]));
        };
        state.on('circuitClosed', onClosed);
      });
      await state.closeCircuit(doomed.id);
      for (const err of await atClose) {
        assert.ok(err instanceof TorCircuitError && err.circuitId === doomed.id, String(err));
      }
      await doomed.whenClosed({ timeoutMs: 30_000 });
      for (const circuit of [doomed, doomed.id]) {
        const err = await tor.fetch(`${web.url}/after`, { circuit }).catch((e: unknown) => e);
        assert.ok(err instanceof TorCircuitError && err.circuitId === doomed.id, String(err));
      }
      const agentErr = await httpGetText(`${web.url}/after`, agent).catch((e: unknown) => e);
      assert.ok(agentErr instanceof TorCircuitError && agentErr.circuitId === doomed.id, String(agentErr));
      // Nothing reached the server after the close, and no stream was opened for it.
      assert.equal(succeeded.filter((s) => s.target.port === web.port).length, 2);
    } finally {
      agent.destroy();
      await closeServer(web.server);
    }
  });
});
