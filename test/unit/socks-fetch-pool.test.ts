import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { TorAbortError } from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { outcome, settleWithin, waitUntil, within } from '../support/settle.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * `fetch` keeps its connections (streams through tor) for later requests whether or not a request
 * has a signal or `timeoutMs`, and a connection still being opened for a request with a signal is
 * hung up when that signal aborts, redirects included, without touching the requests beside it.
 *
 * A fake SOCKS server on 127.0.0.1 pipes each granted CONNECT to a local web server; for the host
 * `slow.example` it answers only once the test opens the gate, which stands for tor still building
 * the stream.
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

describe('socks client: fetch keeps connections, with or without a signal', () => {
  let web: http.Server;
  let webPort: number;
  let fake: FakeSocksServer;
  let client: TorSocksClient;
  let openGate: () => void;
  let gate: Promise<void>;
  /** Requests for /never that reached the web server. */
  const unanswered: http.ServerResponse[] = [];

  before(async () => {
    web = http.createServer((req, res) => {
      if (req.url === '/to-slow') res.writeHead(302, { location: 'http://slow.example/landed' }).end();
      else if (req.url === '/never') unanswered.push(res); // the request waits until it is aborted
      else res.end(`ok ${req.url} ${req.socket.remotePort}`);
    });
    webPort = await listen(web);
  });
  after(async () => {
    web.closeAllConnections();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });
  beforeEach(async () => {
    gate = new Promise<void>((resolve) => (openGate = resolve));
    fake = await startFakeSocksServer({
      answer: async (req) => {
        if (req.host === 'slow.example') await gate;
        return { forwardTo: webPort };
      },
    });
    client = new TorSocksClient(null, { socksPort: fake.port });
  });
  afterEach(async () => {
    openGate();
    for (const res of unanswered.splice(0)) res.destroy();
    client.close();
    await fake.close();
  });

  it('requests in a row with timeoutMs or a signal reuse the kept connections, as requests without do', async () => {
    const bodies: string[] = [];
    const inits = [{ timeoutMs: 60_000 }, { timeoutMs: 60_000 }, { signal: new AbortController().signal }, { timeoutMs: 60_000, signal: AbortSignal.timeout(60_000) }, {}];
    for (const [i, init] of inits.entries()) bodies.push(await (await client.fetch(`http://web.example/${i}`, init)).text());
    assert.deepEqual(bodies.map((b) => b.split(' ').slice(0, 2).join(' ')), ['ok /0', 'ok /1', 'ok /2', 'ok /3', 'ok /4']);
    // undici hands a body over a moment before it counts the connection free, so a request right
    // after another may open a second one; each one after that finds one of the two free. Plain
    // requests in a row use one or two connections, and so must these.
    assert.ok(fake.connections.length <= 2, `${fake.connections.length} connections: a request with timeoutMs or a signal opened a stream of its own`);
  });

  it('a signal that aborts after its response leaves the connection it opened kept and usable', async () => {
    const ac = new AbortController();
    const first = await (await client.fetch('http://web.example/first', { signal: ac.signal })).text();
    ac.abort(new Error('later'));
    const later: string[] = [];
    for (const path of ['/second', '/third']) later.push(await (await client.fetch(`http://web.example${path}`, { timeoutMs: 60_000 })).text());
    // The web server's answer ends with the port of the connection it came over.
    const portOf = (body: string) => body.split(' ')[2];
    assert.ok(later.map(portOf).includes(portOf(first)), `not reused: ${first} | ${later.join(' | ')}`);
    assert.equal(fake.connections[0]!.closed, false);
  });

  it('an abort while tor opens the stream hangs up that SOCKS connection at once; requests opening beside it go on', async () => {
    const ac = new AbortController();
    // Observed from the start: it must not reject unhandled while the test waits.
    const aborted = outcome(client.fetch('http://slow.example/a', { signal: ac.signal }));
    await waitUntil(() => fake.connections.some((c) => c.request !== undefined), 'the first SOCKS request');
    // One with a signal of its own, one without: the pool made a spare connection inside the
    // first request's dispatch, and that one must not open under the first request's signal.
    const beside = outcome(client.fetch('http://slow.example/b', { signal: new AbortController().signal }));
    const plain = outcome(client.fetch('http://slow.example/c'));
    await waitUntil(() => fake.connections.filter((c) => c.request !== undefined).length === 3, 'the three SOCKS requests');
    const [mine] = fake.connections.filter((c) => c.request !== undefined);
    ac.abort();
    const gaveUp = await within(aborted, 2_000, 'the aborted fetch');
    assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
    // Hung up before tor answered: the gate is still shut.
    await settleWithin(mine!.whenClosed, 2_000, 'the SOCKS connection of the aborted fetch closing');
    assert.equal(fake.connections.filter((c) => c.closed).length, 1, 'the other SOCKS connection was closed too');
    openGate();
    for (const [path, fetching] of [['/b', beside], ['/c', plain]] as const) {
      const res = await within(fetching, 5_000, `the fetch of ${path} beside it`);
      assert.ok(res.ok, `${path}: ${String(!res.ok && res.error)}`);
      assert.match(await res.value.text(), new RegExp(`^ok ${path} `));
    }
  });

  it('a request with a body (a stream, which undici dispatches a moment later) hangs up the same way', async () => {
    const ac = new AbortController();
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('payload'));
        controller.close();
      },
    });
    const posting = outcome(client.fetch('http://slow.example/post', { method: 'POST', body, duplex: 'half', signal: ac.signal } as RequestInit));
    await waitUntil(() => fake.connections.some((c) => c.request !== undefined), 'the SOCKS request');
    ac.abort();
    const gaveUp = await within(posting, 2_000, 'the aborted fetch');
    assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
    await settleWithin(fake.connections[0]!.whenClosed, 2_000, 'the SOCKS connection closing');
  });

  it('an abort while waiting for the answer hangs up that connection: it is not kept', async () => {
    await (await client.fetch('http://web.example/warm')).text();
    const ac = new AbortController();
    const waiting = outcome(client.fetch('http://web.example/never', { signal: ac.signal }));
    await waitUntil(() => unanswered.length > 0, 'the request at the web server');
    ac.abort();
    const gaveUp = await within(waiting, 2_000, 'the aborted fetch');
    assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
    await waitUntil(() => fake.connections.some((c) => c.closed), 'a SOCKS connection closing');
    // The next request gets a working connection.
    assert.match(await (await client.fetch('http://web.example/after', { timeoutMs: 60_000 })).text(), /^ok \/after /);
  });

  it('one signal shared by many fetches (a shutdown signal) gathers no listeners: no leak warning, and it still aborts', async function () {
    this.timeout(30_000);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const shutdown = new AbortController();
      // undici warns past 1,500 listeners on one signal.
      for (let i = 0; i < 1_600; i++) await (await client.fetch(`http://web.example/${i}`, { signal: shutdown.signal })).text();
      const waiting = outcome(client.fetch('http://web.example/never', { signal: shutdown.signal }));
      await waitUntil(() => unanswered.length > 0, 'the request at the web server');
      const reason = new Error('shutting down');
      shutdown.abort(reason);
      const gaveUp = await within(waiting, 2_000, 'the aborted fetch');
      assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError && gaveUp.error.cause === reason, String(!gaveUp.ok && gaveUp.error));
      // A warning is emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("the connect of a redirect is hung up by the request's signal too", async () => {
    const ac = new AbortController();
    const following = outcome(client.fetch('http://web.example/to-slow', { signal: ac.signal }));
    await waitUntil(() => fake.connections.some((c) => c.request?.host === 'slow.example'), 'the redirect\'s SOCKS request');
    ac.abort();
    const gaveUp = await within(following, 2_000, 'the aborted fetch');
    assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
    const redirected = fake.connections.find((c) => c.request?.host === 'slow.example')!;
    await settleWithin(redirected.whenClosed, 2_000, "the redirect's SOCKS connection closing");
    // The first hop's connection is kept for later requests.
    assert.equal(fake.connections.find((c) => c.request?.host === 'web.example')!.closed, false);
  });
});
