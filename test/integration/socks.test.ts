import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import sinon from 'sinon';
import type { StreamEvent } from '../../src/control/events/event-types.js';
import { TorAbortError, TorFetchError, TorInvalidValueError, TorSocksError, TorTimeoutError } from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import { makeTestCertificate } from '../unit/socks-fake-server.js';
import { TorProvider } from '../../src/di/tor-provider.js';
import { pluginRegistry } from '../../src/di/container.js';
import { connect as connectEndpoint } from '../../src/endpoints/connect.js';
import { unpublishedOnion } from '../support/unpublished-onion.js';

/**
 * The SOCKS layer against real tor: the client node of the private test network (its SocksPort
 * has ExtendedErrors and IsolateSOCKSAuth; its exits accept 127.0.0.0/8 only).
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function closeServer(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

/** A v3 onion address with a valid checksum for a fresh key: no service has it. */
describe('socks (integration, private test network)', function () {
  this.timeout(120_000);
  let network: TestNetwork;
  let tor: Tor;
  let echo: net.Server;
  let echoPort: number;
  const streams: StreamEvent[] = [];
  let unsubscribe: (() => Promise<void>) | undefined;

  before(async () => {
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
    echo = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    echoPort = await listen(echo);
    unsubscribe = await tor.control.subscribe('STREAM', (e) => streams.push(e as StreamEvent));
  });
  after(async () => {
    await unsubscribe?.().catch(() => undefined);
    await closeServer(echo);
    await tor?.close();
  });

  /** The circuit a stream opened from `localPort` succeeded on, and its SOCKS username. */
  async function circuitOf(localPort: number): Promise<{ circuitId: string; username: string | undefined }> {
    const opened = await waitFor(() => streams.find((e) => e.status === 'NEW' && e.sourceAddr?.port === localPort));
    const ok = await waitFor(() => streams.find((e) => e.streamId === opened.streamId && e.status === 'SUCCEEDED'));
    return { circuitId: ok.circuitId, username: opened.socksUsername };
  }

  it('finds the SOCKS port by asking tor (GETINFO net/listeners/socks)', async () => {
    assert.deepEqual(await tor.socks.socksAddress(), { host: '127.0.0.1', port: network.socksPort });
  });

  it('tor.connect to an echo server on 127.0.0.1: 1 MiB byte-exact (sha256) both ways', async () => {
    const socket = await tor.connect({ host: '127.0.0.1', port: echoPort }, { timeoutMs: 60_000 });
    try {
      const payload = randomBytes(1 << 20);
      const received = new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let got = 0;
        socket.on('data', (d: Buffer) => {
          chunks.push(d);
          got += d.length;
          if (got >= payload.length) resolve(Buffer.concat(chunks));
        });
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed early')));
      });
      socket.write(payload);
      const back = await received;
      assert.equal(back.length, payload.length);
      assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(payload).digest('hex'));
    } finally {
      socket.destroy();
    }
  });

  it('connect("tor:...") with no tor named and no control port found streams through tor\'s SOCKS port alone', async () => {
    // What a system tor without a control port offers. The provider is pointed at a control port
    // where nothing listens and at the test network's SOCKS port as "the usual" one, with no
    // $TOR_CONTROL: the public defaults (9050) are never tried from a test.
    const nothing = net.createServer();
    const closed = await listen(nothing);
    await closeServer(nothing);
    const provider = new TorProvider({
      connect: (opts) => connectTor({ ...opts, control: `tcp:127.0.0.1:${closed}` }),
      env: {},
      fallbackSocksPorts: [network.socksPort],
    });
    try {
      const socket = await connectEndpoint(`tor:127.0.0.1:${echoPort}:isolate=socks-only`, {
        registry: pluginRegistry(),
        getTor: (control) => provider.forStreams(control),
      });
      try {
        socket.write('through tor without its control port');
        const [echoed] = (await once(socket, 'data')) as [Buffer];
        assert.equal(echoed.toString(), 'through tor without its control port');
        const { username } = await circuitOf(socket.localPort!);
        assert.equal(username, 'torcon-isolate', 'the stream went through the test network\'s tor, isolated');
      } finally {
        socket.destroy();
      }
    } finally {
      await provider.closeAll();
    }
  });

  it('tor.connect accepts "host:port" strings', async () => {
    const socket = await tor.connect(`127.0.0.1:${echoPort}`, { timeoutMs: 60_000 });
    socket.destroy();
    assert.equal(socket.destroyed, true);
  });

  it('beforeHandshake sees the socket whose local port tor reports as SOURCE_ADDR', async () => {
    let port: number | undefined;
    const socket = await tor.socks.connect({ host: '127.0.0.1', port: echoPort }, {
      timeoutMs: 60_000,
      beforeHandshake: (s) => {
        port = s.localPort;
      },
    });
    try {
      assert.equal(port, socket.localPort);
      const opened = await waitFor(() => streams.find((e) => e.status === 'NEW' && e.sourceAddr?.port === port));
      assert.equal(opened.target.port, echoPort);
    } finally {
      socket.destroy();
    }
  });

  it('different isolate tokens use different circuits; the same token reuses its circuit', async () => {
    const a = `a-${randomBytes(4).toString('hex')}`;
    const b = `b-${randomBytes(4).toString('hex')}`;
    const used: Array<{ circuitId: string; username: string | undefined }> = [];
    for (const isolate of [a, b, a]) {
      const socket = await tor.connect({ host: '127.0.0.1', port: echoPort }, { isolate, timeoutMs: 60_000 });
      try {
        used.push(await circuitOf(socket.localPort!));
      } finally {
        socket.destroy();
      }
    }
    assert.notEqual(used[0]!.circuitId, used[1]!.circuitId);
    assert.equal(used[2]!.circuitId, used[0]!.circuitId);
    assert.deepEqual(used.map((u) => u.username), ['torcon-isolate', 'torcon-isolate', 'torcon-isolate']);
  });

  it('tor.resolve of IP literals answers them; of an unresolvable name -> TOR_SOCKS_HOST_UNREACHABLE', async () => {
    assert.equal(await tor.resolve('127.0.0.1', { timeoutMs: 60_000 }), '127.0.0.1');
    assert.equal(await tor.resolve('::1', { timeoutMs: 60_000 }), '::1');
    // The exits' resolver is a loopback nameserver that does not exist: no name resolves.
    await assert.rejects(tor.resolve('localhost', { timeoutMs: 60_000 }), (e: unknown) =>
      e instanceof TorSocksError && e.code === 'TOR_SOCKS_HOST_UNREACHABLE' && e.reply === 0x04);
  });

  it('tor.resolvePtr fails with a typed error on this network; a name is refused before any I/O', async () => {
    await assert.rejects(tor.resolvePtr('127.0.0.1', { timeoutMs: 60_000 }), (e: unknown) =>
      e instanceof TorSocksError && e.code === 'TOR_SOCKS_HOST_UNREACHABLE' && e.reply === 0x04);
    await assert.rejects(tor.resolvePtr('localhost'), TorInvalidValueError);
  });

  it('an onion address nobody published -> TOR_SOCKS_ONION_NOT_FOUND (0xF0)', async () => {
    await assert.rejects(tor.connect({ host: unpublishedOnion(), port: 80 }, { timeoutMs: 90_000 }), (e: unknown) =>
      e instanceof TorSocksError && e.code === 'TOR_SOCKS_ONION_NOT_FOUND' && e.reply === 0xf0);
  });

  it('an onion address with a bad checksum -> TOR_SOCKS_ONION_BAD_ADDRESS (0xF6)', async () => {
    const good = unpublishedOnion();
    const bad = (good[0] === 'a' ? 'b' : 'a') + good.slice(1);
    await assert.rejects(tor.connect({ host: bad, port: 80 }, { timeoutMs: 60_000 }), (e: unknown) =>
      e instanceof TorSocksError && e.code === 'TOR_SOCKS_ONION_BAD_ADDRESS' && e.reply === 0xf6);
  });

  it('timeoutMs and abort end a connect that is still waiting for its SOCKS reply', async () => {
    // A SOCKS port that accepts and never answers: how long tor itself takes to fail a stream
    // depends on the network and the load, this does not.
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const socksPort = (silent.address() as net.AddressInfo).port;
    try {
      await assert.rejects(tor.connect({ host: '127.0.0.1', port: 80 }, { socksPort, timeoutMs: 300 }), TorTimeoutError);
      const ac = new AbortController();
      const p = tor.connect({ host: '127.0.0.1', port: 80 }, { socksPort, signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      await assert.rejects(p, TorAbortError);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  describe('http and fetch through tor', () => {
    let web: http.Server;
    let webPort: number;
    let webConnections = 0;
    let secureWeb: https.Server;
    let secureWebPort: number;
    const sni: Array<string | false> = [];
    const hostname = 'tls-test.torcon';
    let cert: { key: string; cert: string };

    before(async () => {
      cert = makeTestCertificate({ dns: [hostname], ip: ['127.0.0.1'] });
      web = http.createServer((req, res) => {
        // Headers after 3 s; or headers at once and the rest of the body 600 ms later.
        if (req.url === '/late-headers') setTimeout(() => res.end('late'), 3_000);
        else if (req.url === '/slow-body') {
          res.write('first ');
          setTimeout(() => res.end('second'), 600);
        } else res.end(`hello ${req.url}`);
      });
      web.on('connection', () => webConnections++);
      webPort = await listen(web);
      secureWeb = https.createServer(cert, (req, res) => res.end(`secure ${req.url}`));
      secureWeb.on('secureConnection', (s: tls.TLSSocket & { servername?: string | false }) => sni.push(s.servername ?? false));
      secureWebPort = await listen(secureWeb);
      // The exits cannot resolve names; a client-side mapping lets a hostname (for SNI) reach 127.0.0.1.
      await tor.control.command(`MAPADDRESS ${hostname}=127.0.0.1`);
    });
    after(async () => {
      await tor.control.command(`MAPADDRESS ${hostname}=${hostname}`).catch(() => undefined);
      await closeServer(web);
      await closeServer(secureWeb);
    });

    it('httpAgent: http.get through tor, keep-alive reusing one stream', async () => {
      const agent = tor.httpAgent({ keepAlive: true });
      const get = (path: string) =>
        new Promise<string>((resolve, reject) => {
          http.get(`http://127.0.0.1:${webPort}${path}`, { agent }, (res) => resolve(readBody(res))).on('error', reject);
        });
      const before = webConnections;
      assert.equal(await get('/one'), 'hello /one');
      assert.equal(await get('/two'), 'hello /two');
      assert.equal(webConnections - before, 1);
      agent.destroy();
    });

    it('httpAgent with tls: https through tor with SNI = the host, and no local DNS lookup', async () => {
      const lookup = sinon.spy(dns, 'lookup');
      const promisesLookup = sinon.spy(dns.promises, 'lookup');
      try {
        const agent = tor.httpAgent({ tls: { ca: cert.cert } });
        const body = await new Promise<string>((resolve, reject) => {
          https.get(`https://${hostname}:${secureWebPort}/s`, { agent }, (res) => resolve(readBody(res))).on('error', reject);
        });
        assert.equal(body, 'secure /s');
        assert.equal(sni.at(-1), hostname);
        const socket = await tor.socks.connect({ host: hostname, port: secureWebPort }, { tls: { ca: cert.cert }, timeoutMs: 60_000 });
        assert.ok(socket instanceof tls.TLSSocket && socket.authorized);
        socket.destroy();
        agent.destroy();
        assert.equal(lookup.callCount + promisesLookup.callCount, 0);
      } finally {
        sinon.restore();
      }
    });

    it('tor.newIdentity() closes the kept connections of fetch and of agents: requests after it open new streams, which tor puts on new circuits', async () => {
      // A server of its own, which names the connection each request came on.
      const site = http.createServer((req, res) => res.end(String(req.socket.remotePort)));
      site.keepAliveTimeout = 60_000;
      const port = await listen(site);
      const agent = tor.httpAgent({ keepAlive: true, isolate: 'newnym-agent' });
      try {
        const url = `http://127.0.0.1:${port}/`;
        const fetchOnce = async () => (await tor.fetch(url, { isolate: 'newnym-fetch' })).text();
        const getOnce = () =>
          new Promise<string>((resolve, reject) => {
            http.get(url, { agent }, (res) => resolve(readBody(res))).on('error', reject);
          });
        const before = new Set([await fetchOnce(), await getOnce(), await fetchOnce(), await getOnce()]);
        await tor.newIdentity();
        const after = [await fetchOnce(), await getOnce()];
        assert.deepEqual(after.filter((c) => before.has(c)), [], `connections before: ${[...before].join(' ')}; after: ${after.join(' ')}`);
      } finally {
        agent.destroy();
        await closeServer(site);
      }
    });

    it('tor.fetch: http to 127.0.0.1 through tor, with and without isolation', async () => {
      const res = await tor.fetch(`http://127.0.0.1:${webPort}/f`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello /f');
      const iso = await tor.fetch(`http://127.0.0.1:${webPort}/g`, { isolate: 'fetch-iso' });
      assert.equal(await iso.text(), 'hello /g');
    });

    it('tor.fetch timeoutMs: TorTimeoutError when the headers are late; a body still streaming afterwards is not cut', async () => {
      const err = await tor.fetch(`http://127.0.0.1:${webPort}/late-headers`, { timeoutMs: 500 }).catch((e: unknown) => e);
      assert.ok(err instanceof TorTimeoutError, String(err));
      assert.equal(err.message, `fetching http://127.0.0.1:${webPort} timed out after 500 ms`);
      const res = await tor.fetch(`http://127.0.0.1:${webPort}/slow-body`, { timeoutMs: 300, isolate: 'slow-body' });
      assert.equal(await res.text(), 'first second');
    });

    it('tor.fetch: https with an untrusted certificate -> TOR_SOCKS_TLS_FAILED', async () => {
      await assert.rejects(tor.fetch(`https://${hostname}:${secureWebPort}/`), (e: unknown) =>
        e instanceof TorSocksError && e.code === 'TOR_SOCKS_TLS_FAILED');
    });

    it('tor.fetch failures through real tor are torcon errors, never fetch\'s TypeError', async () => {
      // Hangs up once the request arrives: the stream through tor ends before any response.
      const closer = net.createServer((s) => {
        s.on('error', () => undefined);
        s.once('data', () => s.destroy());
      });
      const closerPort = await listen(closer);
      // Never answers: the request waits until it is aborted.
      const asked: http.IncomingMessage[] = [];
      const silent = http.createServer((req) => asked.push(req));
      const silentPort = await listen(silent);
      try {
        const isolate = 'fetch-errors-token';
        const cut = await tor.fetch(`http://127.0.0.1:${closerPort}/p?secret=hunter2`, { isolate }).then(() => undefined, (e: unknown) => e);
        assert.ok(cut instanceof TorFetchError && cut.code === 'TOR_FETCH_FAILED', String(cut));
        assert.match(cut.message, new RegExp(`^fetching http://127\\.0\\.0\\.1:${closerPort} failed: the connection through tor closed`));
        assert.ok(!/hunter2|fetch-errors-token/.test(cut.message), cut.message);
        assert.ok(cut.cause instanceof TypeError, 'fetch\'s own error is not the cause');

        const blocked = await tor.fetch('http://127.0.0.1:6667/').then(() => undefined, (e: unknown) => e);
        assert.ok(blocked instanceof TorFetchError, String(blocked));
        assert.match(blocked.message, /fetch refuses to connect to this port/);

        const ac = new AbortController();
        const waiting = tor.fetch(`http://127.0.0.1:${silentPort}/`, { signal: ac.signal });
        await waitFor(() => (asked.length > 0 ? true : undefined));
        ac.abort();
        const aborted = await waiting.then(() => undefined, (e: unknown) => e);
        assert.ok(aborted instanceof TorAbortError && aborted.cause === ac.signal.reason, String(aborted));
      } finally {
        await closeServer(closer);
        await closeServer(silent);
      }
    });
  });

  it('SOCKS over a unix socket listener added to the client (SETCONF SocksPort, restored after)', async () => {
    const before = await tor.control.getConf('SocksPort');
    const dir = mkdtempSync(join(tmpdir(), 'torcon-socks-'));
    chmodSync(dir, 0o700);
    const path = join(dir, 'socks');
    const client = new TorSocksClient(tor.control, { socksPort: `unix:${path}` });
    try {
      await tor.control.setConf({ SocksPort: [...before['SocksPort']!, `unix:${path} ExtendedErrors IsolateSOCKSAuth`] });
      const socket = await client.connect({ host: '127.0.0.1', port: echoPort }, { timeoutMs: 60_000 });
      const back = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
      socket.write('over unix');
      assert.equal(await back, 'over unix');
      socket.destroy();
      assert.equal(await client.resolve('127.0.0.1', { timeoutMs: 60_000 }), '127.0.0.1');
    } finally {
      client.close();
      await tor.control.setConf({ SocksPort: before['SocksPort']! });
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(await tor.socks.socksAddress(), { host: '127.0.0.1', port: network.socksPort });
  });

  it('a SOCKS port that moved (SETCONF SocksPort, as after a restart with SocksPort auto) is found again by the first call after the move', async () => {
    const before = await tor.control.getConf('SocksPort');
    const client = new TorSocksClient(tor.control);
    const echoOnce = async (text: string) => {
      const socket = await client.connect({ host: '127.0.0.1', port: echoPort }, { timeoutMs: 60_000 });
      const back = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
      socket.write(text);
      try {
        return await back;
      } finally {
        socket.destroy();
      }
    };
    try {
      assert.equal(await echoOnce('before the move'), 'before the move');
      const spare = net.createServer();
      const newPort = await listen(spare);
      await closeServer(spare);
      await tor.control.setConf({ SocksPort: `127.0.0.1:${newPort} ExtendedErrors IsolateSOCKSAuth` });
      // The client still has the old port: nothing listens there now.
      assert.equal(await echoOnce('after the move'), 'after the move');
      assert.deepEqual(await client.socksAddress(), { host: '127.0.0.1', port: newPort });
    } finally {
      client.close();
      await tor.control.setConf({ SocksPort: before['SocksPort']! });
    }
    assert.deepEqual(await tor.socks.socksAddress(), { host: '127.0.0.1', port: network.socksPort });
  });

  it('a tor with SocksPort 0 -> TOR_SOCKS_NO_LISTENER', async () => {
    const offline = await launchTor({ config: { DisableNetwork: 1, SocksPort: 0 }, timeoutMs: 60_000 });
    try {
      await assert.rejects(offline.connect({ host: '127.0.0.1', port: echoPort }), (e: unknown) =>
        e instanceof TorSocksError && e.code === 'TOR_SOCKS_NO_LISTENER');
    } finally {
      await offline.close();
    }
  });
});
