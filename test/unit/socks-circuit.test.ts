import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { TorCircuitError, TorInvalidValueError } from '../../src/errors.js';
import type { CircuitStreamOpener } from '../../src/socks/socks-options.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { waitUntil } from '../support/settle.js';
import { makeTestCertificate, startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';
import { httpGetText } from '../support/http-get-text.js';

/**
 * The `circuit` option of fetch and httpAgent at the SOCKS client: which streams go to the
 * circuit opener (the Tor handle's, which pins them with the live state; a recording stand-in
 * here), and which kept connections a request may reuse. Pinning itself is tested against real
 * tor (test/integration/circuit-http.test.ts).
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}


describe('socks client: fetch and httpAgent with a circuit', () => {
  let fake: FakeSocksServer;
  let web: http.Server;
  let webPort: number;
  let secureWeb: https.Server;
  let secureWebPort: number;
  let cert: { key: string; cert: string };
  let client: TorSocksClient | undefined;
  /** The opener's calls: circuit id, target and the TLS asked for. */
  let opened: Array<{ circuit: string; host: string; port: number; tls: unknown }>;
  /** What the opener does instead of opening, when set. */
  let refuse: Error | undefined;

  before(async () => {
    // Each response names the connection it came on (its port at the server).
    web = http.createServer((req, res) => res.end(`${req.url} on ${req.socket.remotePort}`));
    web.keepAliveTimeout = 60_000;
    webPort = await listen(web);
    cert = makeTestCertificate({ dns: ['secure.example'] });
    secureWeb = https.createServer(cert, (req, res) => res.end(`secure ${req.url}`));
    secureWebPort = await listen(secureWeb);
    fake = await startFakeSocksServer({ answer: (req) => ({ forwardTo: req.host === 'secure.example' ? secureWebPort : webPort }) });
  });
  after(async () => {
    await fake.close();
    await closeServer(web);
    await closeServer(secureWeb);
  });
  beforeEach(() => {
    opened = [];
    refuse = undefined;
  });
  afterEach(() => {
    client?.close();
    client = undefined;
  });

  /** A client whose circuit opener records each call and opens a plain SOCKS stream. */
  function makeClient(): TorSocksClient {
    const circuitOpener: CircuitStreamOpener = (circuit, target, opts) => {
      opened.push({ circuit: typeof circuit === 'string' ? circuit : circuit.id, host: target.host, port: target.port, tls: opts.tls });
      if (refuse) return Promise.reject(refuse);
      return client!.connect(target, opts);
    };
    client = new TorSocksClient(null, { socksPort: fake.port, circuitOpener });
    return client;
  }

  const text = async (res: Response) => res.text();

  it('fetch: the streams of a fetch with a circuit go to the opener with it; kept connections are reused only by fetches with the same circuit', async () => {
    const c = makeClient();
    const url = 'http://site.example/p';
    const a1 = await text(await c.fetch(url, { circuit: '11' }));
    const b1 = await text(await c.fetch(url, { circuit: '22' }));
    const none1 = await text(await c.fetch(url));
    const a2 = await text(await c.fetch(url, { circuit: '11' }));
    const b2 = await text(await c.fetch(url, { circuit: '22' }));
    const none2 = await text(await c.fetch(url));
    const isolated = await text(await c.fetch(url, { circuit: '11', isolate: 'x' }));
    const conn = (body: string) => body.split(' on ')[1];
    // Each kept connection serves its own kind of request again, and only that.
    assert.equal(conn(a2), conn(a1));
    assert.equal(conn(b2), conn(b1));
    assert.equal(conn(none2), conn(none1));
    assert.equal(new Set([conn(a1), conn(b1), conn(none1), conn(isolated)]).size, 4);
    assert.deepEqual(
      opened.map((o) => [o.circuit, o.host, o.port]),
      [
        ['11', 'site.example', 80],
        ['22', 'site.example', 80],
        ['11', 'site.example', 80],
      ],
    );
    assert.equal(fake.connections.at(-1)!.request?.password, 'x', 'isolate still sets the credentials');
  });

  it('fetch: https with a circuit does TLS over the stream the opener gives', async () => {
    const c = makeClient();
    // Untrusted certificate: the TLS handshake happened, over the pinned stream.
    const err = await c.fetch(`https://secure.example:${secureWebPort}/`, { circuit: '33' }).catch((e: unknown) => e);
    assert.equal((err as { code?: string }).code, 'TOR_SOCKS_TLS_FAILED', String(err));
    assert.deepEqual(opened.map((o) => [o.circuit, o.host, o.port]), [['33', 'secure.example', secureWebPort]]);
    assert.deepEqual((opened[0]!.tls as { ALPNProtocols?: string[] }).ALPNProtocols, ['http/1.1']);
  });

  it("fetch: the opener's error is the fetch's rejection, as is, with and without a signal", async () => {
    const c = makeClient();
    refuse = new TorCircuitError('circuit 44 does not exist or is closed', { circuitId: '44' });
    await assert.rejects(c.fetch('http://site.example/', { circuit: '44' }), (e: unknown) => e === refuse);
    await assert.rejects(c.fetch('http://site.example/', { circuit: '44', timeoutMs: 30_000 }), (e: unknown) => e === refuse);
    await assert.rejects(c.fetch('http://site.example/', { circuit: '44', signal: new AbortController().signal }), (e: unknown) => e === refuse);
    assert.equal(opened.length, 3);
  });

  it('fetch: an .onion URL, a bad circuit, or a client without an opener is refused before any I/O', async () => {
    const c = makeClient();
    const before = fake.connections.length;
    const onion = 'http://pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion/';
    await assert.rejects(c.fetch(onion, { circuit: '5' }), (e: unknown) => e instanceof TorInvalidValueError && /onion service cannot be sent over a chosen circuit/.test(e.message));
    await assert.rejects(c.fetch(new URL(onion.toUpperCase()), { circuit: '5' }), TorInvalidValueError);
    for (const bad of [42, null, 'not an id!', {}] as unknown[]) {
      await assert.rejects(c.fetch('http://site.example/', { circuit: bad as string }), TorInvalidValueError, String(bad));
    }
    const plain = new TorSocksClient(null, { socksPort: fake.port });
    try {
      await assert.rejects(plain.fetch('http://site.example/', { circuit: '5' }), (e: unknown) => e instanceof TorInvalidValueError && /tor\.fetch\(\)/.test(e.message));
      assert.throws(() => plain.httpAgent({ circuit: '5' }), TorInvalidValueError);
    } finally {
      plain.close();
    }
    assert.throws(() => c.httpAgent({ circuit: 7 as unknown as string }), TorInvalidValueError);
    assert.equal(fake.connections.length, before);
    assert.deepEqual(opened, []);
  });

  it('httpAgent: every connection of an agent with a circuit goes to the opener with it, http and https', async () => {
    const c = makeClient();
    const agent = c.httpAgent({ circuit: '55', keepAlive: true });
    const one = await httpGetText('http://site.example/a', agent);
    const two = await httpGetText('http://site.example/b', agent);
    assert.equal(one.split(' on ')[1], two.split(' on ')[1], 'keep-alive reuses the stream');
    const secure = c.httpAgent({ circuit: '66', tls: { ca: cert.cert } });
    assert.equal(await httpGetText(`https://secure.example:${secureWebPort}/s`, secure), 'secure /s');
    assert.deepEqual(opened.map((o) => [o.circuit, o.host]), [['55', 'site.example'], ['66', 'secure.example']]);
    assert.equal((opened[1]!.tls as { ca?: string }).ca, cert.cert);
    agent.destroy();
    secure.destroy();
  });

  it("httpAgent: the opener's error fails the request", async () => {
    const c = makeClient();
    refuse = new TorCircuitError('circuit 77 closed', { circuitId: '77' });
    await assert.rejects(httpGetText('http://site.example/', c.httpAgent({ circuit: '77' })), (e: unknown) => e === refuse);
  });

  it('closeKeptConnections(circuitId) closes the kept connections of that circuit only, of fetch and of agents', async () => {
    const c = makeClient();
    const url = 'http://site.example/k';
    const conn = async (init: { circuit?: string }) => (await text(await c.fetch(url, init))).split(' on ')[1];
    const agent8 = c.httpAgent({ circuit: '8', keepAlive: true });
    const agent9 = c.httpAgent({ circuit: '9', keepAlive: true });
    const viaAgent = async (agent: http.Agent) => (await httpGetText(url, agent)).split(' on ')[1];
    const before = { f8: await conn({ circuit: '8' }), f9: await conn({ circuit: '9' }), none: await conn({}), a8: await viaAgent(agent8), a9: await viaAgent(agent9) };
    await waitUntil(() => Object.values(agent8.freeSockets).flat().length === 1, 'the agent keeps its socket');
    c.closeKeptConnections('8');
    const after = { f8: await conn({ circuit: '8' }), f9: await conn({ circuit: '9' }), none: await conn({}), a8: await viaAgent(agent8), a9: await viaAgent(agent9) };
    assert.notEqual(after.f8, before.f8);
    assert.notEqual(after.a8, before.a8);
    assert.equal(after.f9, before.f9);
    assert.equal(after.none, before.none);
    assert.equal(after.a9, before.a9);
    agent8.destroy();
    agent9.destroy();
  });
});
