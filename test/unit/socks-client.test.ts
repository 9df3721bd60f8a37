import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  TorAbortError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorProtocolError,
  TorSocksError,
  TorTimeoutError,
} from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { closedPort } from '../support/closed-port.js';
import { waitUntil } from '../support/settle.js';
import {
  fakeControl,
  makeTestCertificate,
  startFakeSocksServer,
  type FakeAnswer,
  type FakeRequest,
  type FakeServerOptions,
  type FakeSocksServer,
} from './socks-fake-server.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function readSome(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
  });
}

const isSocksError = (code: string, reply?: number) => (e: unknown) =>
  e instanceof TorSocksError && e.code === code && e.reply === reply;

/** GETs `url` with Node's http through `agent` and resolves with the body as text. */
function getText(url: string, agent: http.Agent): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('socks client: connect through a fake SOCKS server', () => {
  let fake: FakeSocksServer | undefined;
  let client: TorSocksClient | undefined;
  let echo: net.Server;
  let echoPort: number;
  const sockets: net.Socket[] = [];

  before(async () => {
    echo = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    echoPort = await listen(echo);
  });
  after(() => closeServer(echo));
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    client?.close();
    await fake?.close();
    fake = undefined;
    client = undefined;
  });

  async function setup(answer: (req: FakeRequest) => FakeAnswer = () => ({ forwardTo: echoPort }), opts: FakeServerOptions = {}) {
    fake = await startFakeSocksServer({ ...opts, answer });
    client = new TorSocksClient(null, { socksPort: fake.port });
    return { fake, client };
  }

  it('sends a hostname as a SOCKS5 domain name (type 3) and carries data both ways', async () => {
    const { fake, client } = await setup();
    const socket = await client.connect({ host: 'echo.example', port: 7 });
    sockets.push(socket);
    const got = readSome(socket, 5);
    socket.write('hello');
    assert.equal((await got).toString(), 'hello');
    // greeting [5,1,0], then request 05 01 00 03 len name port
    assert.deepEqual([...fake.connections[0]!.received], [5, 1, 0, 5, 1, 0, 3, 12, ...Buffer.from('echo.example'), 0, 7]);
  });

  it('null options mean no options for connect, httpAgent and socksAddress, as they do for resolve and fetch', async () => {
    const { fake, client } = await setup();
    // A JavaScript caller's null reached a destructuring and failed with a bare TypeError.
    const socket = await client.connect({ host: 'echo.example', port: 7 }, null as never);
    sockets.push(socket);
    assert.equal(fake.connections[0]!.request?.host, 'echo.example');
    assert.ok(client.httpAgent(null as never) instanceof http.Agent);
    assert.deepEqual(await client.socksAddress(null as never), { host: '127.0.0.1', port: fake.port });
  });

  it('tls must be a boolean or TLS options: connect took "true" for no TLS (a plaintext stream), httpAgent took "false" for https', async () => {
    const { fake, client } = await setup();
    for (const tls of ['true', 'false', 1, 0, ['x']]) {
      await assert.rejects(client.connect({ host: 'echo.example', port: 443 }, { tls: tls as never }), (e: unknown) => e instanceof TorInvalidValueError && e.field === 'tls', JSON.stringify(tls));
      assert.throws(() => client.httpAgent({ tls: tls as never }), (e: unknown) => e instanceof TorInvalidValueError && e.field === 'tls', JSON.stringify(tls));
    }
    assert.equal(fake.connections.length, 0, 'nothing was sent');
    // null is no TLS, as undefined and false are.
    const plain = await client.connect({ host: 'echo.example', port: 7 }, { tls: null as never });
    sockets.push(plain);
    assert.ok(!(plain instanceof tls.TLSSocket));
    assert.equal((client.httpAgent({ tls: null as never }) as http.Agent & { defaultPort: number }).defaultPort, 80);
  });

  it('httpAgent refuses options that are no object (a timeout in their place was ignored without a word), as fetch does', async () => {
    const { client } = await setup();
    for (const opts of [30_000, 'x', true]) {
      assert.throws(() => client.httpAgent(opts as never), (e: unknown) => e instanceof TorInvalidValueError && e.field === 'httpAgent options', JSON.stringify(opts));
    }
  });

  it('httpAgent: keepAlive must be a boolean ("false" would keep connections open)', async () => {
    const { client } = await setup();
    for (const keepAlive of ['false', 'true', 0, 1]) {
      assert.throws(() => client.httpAgent({ keepAlive: keepAlive as never }), (e: unknown) => e instanceof TorInvalidValueError && e.field === 'keepAlive', JSON.stringify(keepAlive));
    }
    assert.equal((client.httpAgent({ keepAlive: false }) as http.Agent & { keepAlive: boolean }).keepAlive, false);
  });

  it('a closed connection is not kept alive by the socks package\'s handshake timer (130 s)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { client } = await setup();
    const refs: Array<WeakRef<net.Socket>> = [];
    for (let i = 0; i < 20; i++) {
      const socket = await client.connect({ host: 'echo.example', port: 7 });
      refs.push(new WeakRef(socket));
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.equal(alive, 0, `${alive} of 20 closed sockets still held`);
  });

  it('an agent nobody holds any more is collected, not kept by the client until close(); close() still destroys the kept sockets of one in use', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const web = http.createServer((req, res) => res.end('ok'));
    const webPort = await listen(web);
    try {
      const { client } = await setup(() => ({ forwardTo: webPort }));
      // One agent per user, as for per-user isolation: used once, then dropped.
      const refs: Array<WeakRef<http.Agent>> = [];
      for (let i = 0; i < 20; i++) refs.push(new WeakRef(client.httpAgent({ isolate: `user-${i}` })));
      // And one still in use, with a keep-alive socket in its pool.
      const kept = client.httpAgent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => {
        http.get('http://kept.example/', { agent: kept }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
      await waitUntil(() => Object.values(kept.freeSockets).flat().length === 1, 'a socket in the pool');
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setImmediate(r));
        gc();
      }
      const alive = refs.filter((r) => r.deref() !== undefined).length;
      assert.equal(alive, 0, `${alive} of 20 dropped agents still held`);
      const pooled = Object.values(kept.freeSockets).flat()[0]!;
      client.close();
      assert.equal(pooled.destroyed, true);
    } finally {
      await closeServer(web);
    }
  });

  it('IPv4, IPv6 and .onion targets use address types 1, 4 and 3', async () => {
    const { fake, client } = await setup();
    const onion = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion';
    for (const host of ['10.1.2.3', '[2001:db8::5]', onion]) sockets.push(await client.connect({ host, port: 80 }));
    assert.deepEqual(
      fake.connections.map((c) => [c.request?.addressType, c.request?.host]),
      [[1, '10.1.2.3'], [4, '2001:db8:0:0:0:0:0:5'], [3, onion]],
    );
  });

  it('data tor sends right after its reply reaches the application', async () => {
    const { client } = await setup(() => ({ forwardTo: echoPort, after: Buffer.from('banner\n') }));
    const socket = await client.connect({ host: 'h.example', port: 25 });
    sockets.push(socket);
    assert.equal((await readSome(socket, 7)).toString(), 'banner\n');
  });

  it('nothing is lost when the application starts reading late (like a socket from net.connect)', async () => {
    const bannerSockets: net.Socket[] = [];
    const banner = net.createServer((s) => {
      bannerSockets.push(s);
      s.on('error', () => undefined);
      setTimeout(() => s.write('late'), 20);
    });
    const bannerPort = await listen(banner);
    try {
      const { client } = await setup(() => ({ forwardTo: bannerPort, after: Buffer.from('early+') }));
      const socket = await client.connect({ host: 'h.example', port: 25 });
      sockets.push(socket);
      assert.equal(socket.readableFlowing, null);
      await new Promise((r) => setTimeout(r, 80));
      assert.equal((await readSome(socket, 10)).toString(), 'early+late');
    } finally {
      for (const s of bannerSockets) s.destroy();
      await closeServer(banner);
    }
  });

  it('isolate=TOKEN sends username torcon-isolate and the token; username/password pass through; none offers no-auth only', async () => {
    const { fake, client } = await setup();
    sockets.push(await client.connect({ host: 'a.example', port: 1 }, { isolate: 'alice' }));
    sockets.push(await client.connect({ host: 'a.example', port: 1 }, { username: 'u', password: 'p' }));
    sockets.push(await client.connect({ host: 'a.example', port: 1 }));
    const [iso, up, none] = fake.connections;
    assert.deepEqual([iso!.request?.username, iso!.request?.password], ['torcon-isolate', 'alice']);
    assert.deepEqual([up!.request?.username, up!.request?.password], ['u', 'p']);
    assert.deepEqual(none!.methods, [0]);
    assert.equal(none!.request?.username, undefined);
  });

  const replies: Array<[number, string]> = [
    [0x01, 'TOR_SOCKS_GENERAL_FAILURE'], [0x02, 'TOR_SOCKS_NOT_ALLOWED'], [0x03, 'TOR_SOCKS_NETWORK_UNREACHABLE'],
    [0x04, 'TOR_SOCKS_HOST_UNREACHABLE'], [0x05, 'TOR_SOCKS_CONNECTION_REFUSED'], [0x06, 'TOR_SOCKS_TTL_EXPIRED'],
    [0x07, 'TOR_SOCKS_COMMAND_NOT_SUPPORTED'], [0x08, 'TOR_SOCKS_ADDRESS_NOT_SUPPORTED'],
    [0xf0, 'TOR_SOCKS_ONION_NOT_FOUND'], [0xf1, 'TOR_SOCKS_ONION_DESCRIPTOR_INVALID'], [0xf2, 'TOR_SOCKS_ONION_INTRO_FAILED'],
    [0xf3, 'TOR_SOCKS_ONION_REND_FAILED'], [0xf4, 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING'], [0xf5, 'TOR_SOCKS_ONION_CLIENT_AUTH_WRONG'],
    [0xf6, 'TOR_SOCKS_ONION_BAD_ADDRESS'], [0xf7, 'TOR_SOCKS_ONION_INTRO_TIMEOUT'], [0x42, 'TOR_SOCKS_UNKNOWN_REPLY'],
  ];
  it('every reply byte through the socks package becomes its TorSocksError, with and without auth', async () => {
    let next = 0;
    const { fake, client } = await setup(() => ({ reply: replies[next]![0] }));
    for (const [reply, code] of replies) {
      for (const isolate of [undefined, 'tok']) {
        await assert.rejects(
          client.connect({ host: 'x.onion', port: 80 }, isolate ? { isolate } : {}),
          isSocksError(code, reply),
          `0x${reply.toString(16)}`,
        );
      }
      next++;
    }
    await waitUntil(() => fake.connections.every((c) => c.closed), 'every SOCKS connection closed');
  });

  it("a generic reply for a .onion target says the onion service could not be reached (what tor sends without ExtendedErrors), one for a host blames the exit", async () => {
    const { client } = await setup(() => ({ reply: 0x04 }));
    await assert.rejects(client.connect({ host: 'x.onion', port: 80 }), (e: unknown) => {
      assert.ok(isSocksError('TOR_SOCKS_HOST_UNREACHABLE', 0x04)(e));
      assert.match((e as Error).message, /^connect to x\.onion:80 through tor failed: host unreachable \(SOCKS reply 0x04\): tor could not reach the onion service; a SocksPort with the ExtendedErrors flag says why/);
      return true;
    });
    await assert.rejects(client.connect({ host: 'example.com', port: 80 }), /the exit could not resolve or reach the host/);
  });

  it('beforeHandshake gets the socket (localPort = the port tor sees) before any SOCKS byte, and is awaited', async () => {
    const { fake, client } = await setup();
    let seen: { localPort?: number; bytesAtCall?: number } = {};
    const socket = await client.connect({ host: 'h.example', port: 1 }, {
      beforeHandshake: async (s) => {
        await waitUntil(() => fake.connections.length === 1, 'one SOCKS connection');
        seen = { localPort: s.localPort!, bytesAtCall: fake.connections[0]!.received.length };
        await new Promise((r) => setTimeout(r, 20));
        seen.bytesAtCall! += fake.connections[0]!.received.length;
      },
    });
    sockets.push(socket);
    assert.equal(seen.localPort, fake.connections[0]!.remotePort);
    assert.equal(seen.bytesAtCall, 0);
  });

  it('a throwing beforeHandshake fails the connect with its error and closes the socket', async () => {
    const { fake, client } = await setup();
    const boom = new Error('no circuit');
    await assert.rejects(client.connect({ host: 'h.example', port: 1 }, { beforeHandshake: () => { throw boom; } }), (e) => e === boom);
    await waitUntil(() => fake.connections[0]?.closed === true, 'the SOCKS connection closed');
  });

  it('nothing on the SOCKS port -> TOR_SOCKS_UNREACHABLE naming the address and errno', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await closeServer(probe);
    client = new TorSocksClient(null, { socksPort: port });
    await assert.rejects(client.connect({ host: 'h.example', port: 1 }), (e: unknown) =>
      isSocksError('TOR_SOCKS_UNREACHABLE')(e) && (e as Error).message.includes(`127.0.0.1:${port}`) && /ECONNREFUSED/.test((e as Error).message));
  });

  it('SOCKS over a unix socket (socksPort "/path" and "unix:/path")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'torcon-socks-test-'));
    try {
      fake = await startFakeSocksServer({ path: join(dir, 'socks'), answer: () => ({ forwardTo: echoPort }) });
      for (const socksPort of [join(dir, 'socks'), `unix:${join(dir, 'socks')}`]) {
        client = new TorSocksClient(null, { socksPort });
        const socket = await client.connect({ host: 'via-unix.example', port: 9 });
        sockets.push(socket);
        const got = readSome(socket, 4);
        socket.write('unix');
        assert.equal((await got).toString(), 'unix');
        client.close();
      }
      assert.equal(fake.connections.length, 2);
      await assert.rejects(
        new TorSocksClient(null, { socksPort: join(dir, 'missing') }).connect({ host: 'h', port: 1 }),
        (e: unknown) => isSocksError('TOR_SOCKS_UNREACHABLE')(e) && /ENOENT/.test((e as Error).message),
      );
    } finally {
      await fake?.close();
      fake = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a port that does not speak SOCKS5 -> TOR_SOCKS_PROTOCOL', async () => {
    await setup(() => ({}), { rawGreeting: Buffer.from('HTTP/1.0 501 Tor is not an HTTP Proxy\r\n\r\n') });
    await assert.rejects(client!.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_PROTOCOL'));
  });

  it('a reply with an unknown address type -> TOR_SOCKS_PROTOCOL (not handed to the application as data)', async () => {
    await setup(() => ({ raw: Buffer.from([5, 0, 0, 9, 0, 0, 0, 0, 0, 0]) }));
    await assert.rejects(client!.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_PROTOCOL'));
  });

  it('tor closing during the handshake -> TOR_SOCKS_CLOSED', async () => {
    await setup(() => ({ silent: true, close: true }));
    await assert.rejects(client!.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_CLOSED'));
  });

  it('refused credentials / no acceptable method -> TOR_SOCKS_AUTH_FAILED without the secret', async () => {
    await setup(() => ({}), { authOk: false });
    await assert.rejects(client!.connect({ host: 'h', port: 1 }, { isolate: 'very-secret' }), (e: unknown) =>
      isSocksError('TOR_SOCKS_AUTH_FAILED')(e) && !String((e as Error).message).includes('very-secret') && !JSON.stringify(e).includes('very-secret'));
    client!.close();
    await fake!.close();
    await setup(() => ({}), { method: 'none' });
    await assert.rejects(client!.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_AUTH_FAILED'));
  });

  it('the handshake limit -> TOR_SOCKS_TIMEOUT; timeoutMs -> TorTimeoutError; abort -> TorAbortError; sockets closed', async () => {
    fake = await startFakeSocksServer({ answer: () => ({ silent: true }) });
    client = new TorSocksClient(null, { socksPort: fake.port, handshakeTimeoutMs: 150 });
    await assert.rejects(client.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_TIMEOUT'));
    await assert.rejects(client.connect({ host: 'h', port: 1 }, { timeoutMs: 50 }), TorTimeoutError);
    const ac = new AbortController();
    const p = client.connect({ host: 'h', port: 1 }, { signal: ac.signal });
    await waitUntil(() => fake!.connections[2]?.request !== undefined, 'the third SOCKS request');
    ac.abort();
    await assert.rejects(p, TorAbortError);
    await waitUntil(() => fake!.connections.every((c) => c.closed), 'every SOCKS connection closed');
    assert.equal(fake.connections.length, 3);
    await assert.rejects(client.connect({ host: 'h', port: 1 }, { signal: AbortSignal.abort() }), TorAbortError);
    assert.equal(fake.connections.length, 3);
  });

  it('bad input fails before any I/O', async () => {
    const { fake, client } = await setup();
    await assert.rejects(client.connect({ host: 'h', port: 0 }), TorInvalidValueError);
    await assert.rejects(client.connect({ host: 'a b', port: 1 }), TorInvalidValueError);
    await assert.rejects(client.connect({ host: 'h', port: 1 }, { isolate: 'a', username: 'b' }), TorInvalidValueError);
    await assert.rejects(client.connect({ host: 'h', port: 1 }, { socksPort: 'relative/path' }), TorInvalidValueError);
    assert.throws(() => new TorSocksClient(null, { socksHostname: 'tor.example' }), TorInvalidValueError);
    assert.equal(fake.connections.length, 0);
  });

  describe('finding the SOCKS port', () => {
    it('asks tor (GETINFO net/listeners/socks) once, uses the first listener, and caches it', async () => {
      fake = await startFakeSocksServer({ answer: () => ({ forwardTo: echoPort }) });
      const control = fakeControl(`"127.0.0.1:${fake.port}" "unix:/nonexistent/socks"`);
      client = new TorSocksClient(control);
      assert.deepEqual(await client.socksAddress(), { host: '127.0.0.1', port: fake.port });
      sockets.push(await client.connect({ host: 'h', port: 1 }));
      sockets.push(await client.connect({ host: 'h', port: 1 }));
      assert.deepEqual(control.calls, ['GETINFO net/listeners/socks']);
      assert.equal(fake.connections.length, 2);
    });

    it('SocksPort 0 (no listener) -> TOR_SOCKS_NO_LISTENER, asked again next time', async () => {
      const control = fakeControl('');
      client = new TorSocksClient(control, { fallbackSocksPorts: [] });
      await assert.rejects(client.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_NO_LISTENER'));
      await assert.rejects(client.socksAddress(), isSocksError('TOR_SOCKS_NO_LISTENER'));
      assert.equal(control.calls.length, 2);
    });

    it('when tor refuses GETINFO, tries the fallback ports in order', async () => {
      fake = await startFakeSocksServer({ answer: () => ({ forwardTo: echoPort }) });
      const closed = net.createServer();
      const deadPort = await listen(closed);
      await closeServer(closed);
      const control = fakeControl(new TorControlError(552, 'Unrecognized key', 'GETINFO'));
      client = new TorSocksClient(control, { fallbackSocksPorts: [deadPort, fake.port] });
      assert.deepEqual(await client.socksAddress(), { host: '127.0.0.1', port: fake.port });
      sockets.push(await client.connect({ host: 'h', port: 1 }));
      // the probe connection and the real one
      assert.equal(fake.connections.length, 2);
    });

    it("a closed control connection -> TOR_SOCKS_UNREACHABLE, not another tor on the fallback ports", async () => {
      fake = await startFakeSocksServer({ answer: () => ({ forwardTo: echoPort }) });
      const control = fakeControl(new TorControlClosedError('the connection to tor closed'));
      client = new TorSocksClient(control, { fallbackSocksPorts: [fake.port] });
      await assert.rejects(client.connect({ host: 'h', port: 1 }), (e: unknown) =>
        isSocksError('TOR_SOCKS_UNREACHABLE')(e) && /control connection to tor is closed/.test((e as Error).message) && (e as Error).cause instanceof TorControlClosedError);
      assert.equal(fake.connections.length, 0, 'the tor on the fallback port was used');
    });

    it('tor not answering GETINFO in time, or answering without the key -> TOR_SOCKS_UNREACHABLE, not another tor on the fallback ports', async () => {
      fake = await startFakeSocksServer({ answer: () => ({ forwardTo: echoPort }) });
      for (const failure of [new TorTimeoutError('GETINFO net/listeners/socks', 30_000), new TorProtocolError('GETINFO net/listeners/socks: the reply has no value for the key')]) {
        client?.close();
        client = new TorSocksClient(fakeControl(failure), { fallbackSocksPorts: [fake.port] });
        await assert.rejects(client.connect({ host: 'h', port: 1 }), (e: unknown) =>
          isSocksError('TOR_SOCKS_UNREACHABLE')(e) && /GETINFO net\/listeners\/socks failed/.test((e as Error).message) && (e as Error).cause === failure);
      }
      assert.equal(fake.connections.length, 0, 'the tor on the fallback port was used');
    });

    it('nothing anywhere -> TOR_SOCKS_UNREACHABLE saying what was tried', async () => {
      const closed = net.createServer();
      const deadPort = await listen(closed);
      await closeServer(closed);
      client = new TorSocksClient(null, { fallbackSocksPorts: [deadPort] });
      await assert.rejects(client.socksAddress(), (e: unknown) =>
        isSocksError('TOR_SOCKS_UNREACHABLE')(e) && (e as Error).message.includes(`127.0.0.1:${deadPort}`));
    });

    it('socksHostname is where the usual ports are probed, as it is where the streams go', async () => {
      // Something on 127.0.0.2 only: a probe of 127.0.0.1 finds nothing at that port.
      const there = net.createServer((s) => s.destroy());
      const port = await new Promise<number>((resolve) => there.listen(0, '127.0.0.2', () => resolve((there.address() as net.AddressInfo).port)));
      try {
        client = new TorSocksClient(null, { socksHostname: '127.0.0.2', fallbackSocksPorts: [port] });
        assert.deepEqual(await client.socksAddress(), { host: '127.0.0.2', port });
        client.close();
        const gone = net.createServer();
        const closed = await new Promise<number>((resolve) => gone.listen(0, '127.0.0.2', () => resolve((gone.address() as net.AddressInfo).port)));
        await closeServer(gone);
        client = new TorSocksClient(null, { socksHostname: '127.0.0.2', fallbackSocksPorts: [closed] });
        await assert.rejects(client.socksAddress(), (e: unknown) => isSocksError('TOR_SOCKS_UNREACHABLE')(e) && /nothing accepts connections on 127\.0\.0\.2:/.test((e as Error).message));
      } finally {
        await closeServer(there);
      }
    });

    it('socksHostname replaces the host of a discovered TCP listener', async () => {
      client = new TorSocksClient(fakeControl('"0.0.0.0:9999"'), { socksHostname: '127.0.0.2' });
      assert.deepEqual(await client.socksAddress(), { host: '127.0.0.2', port: 9999 });
    });
  });

  describe('TLS, http agents and fetch over the stream', () => {
    const hostname = 'tls.example';
    let cert: { key: string; cert: string };
    let tlsServer: tls.Server;
    let tlsPort: number;
    const sniSeen: Array<string | false> = [];
    let web: http.Server;
    let webPort: number;
    let webConnections = 0;
    let secureWeb: https.Server;
    let secureWebPort: number;

    before(async () => {
      cert = makeTestCertificate({ dns: [hostname], ip: ['127.0.0.1'] });
      tlsServer = tls.createServer({ ...cert }, (s) => {
        sniSeen.push((s as tls.TLSSocket & { servername?: string | false }).servername ?? false);
        s.on('error', () => undefined);
        s.pipe(s);
      });
      tlsPort = await listen(tlsServer);
      web = http.createServer((req, res) => res.end(`hello ${req.url} via ${req.headers.host}`));
      web.on('connection', () => webConnections++);
      webPort = await listen(web);
      secureWeb = https.createServer({ ...cert }, (req, res) => res.end(`secure ${req.url}`));
      secureWebPort = await listen(secureWeb);
    });
    after(async () => {
      await closeServer(tlsServer);
      await closeServer(web);
      await closeServer(secureWeb);
    });

    it('tls: SNI is the target host, the certificate is checked against it', async () => {
      const { client } = await setup(() => ({ forwardTo: tlsPort }));
      const seenBefore = sniSeen.length;
      const socket = await client.connect({ host: hostname, port: 443 }, { tls: { ca: cert.cert } });
      sockets.push(socket);
      await waitUntil(() => sniSeen.length > seenBefore, 'a new TLS ClientHello');
      assert.ok(socket instanceof tls.TLSSocket && socket.authorized);
      const got = readSome(socket, 3);
      socket.write('tls');
      assert.equal((await got).toString(), 'tls');
      assert.equal(sniSeen.at(-1), hostname);
    });

    it('tls to an IP: no SNI, identity checked against the target IP, not the SOCKS port address', async () => {
      const { client } = await setup(() => ({ forwardTo: tlsPort }));
      const seenBefore = sniSeen.length;
      sockets.push(await client.connect({ host: '127.0.0.1', port: 443 }, { tls: { ca: cert.cert } }));
      await waitUntil(() => sniSeen.length > seenBefore, 'a new TLS ClientHello');
      assert.equal(sniSeen.at(-1), false);
      // The SOCKS port is on 127.0.0.1 (in the certificate); the target 10.9.8.7 is not.
      await assert.rejects(
        client.connect({ host: '10.9.8.7', port: 443 }, { tls: { ca: cert.cert } }),
        (e: unknown) => isSocksError('TOR_SOCKS_TLS_FAILED')(e) && (e as { cause?: { code?: string } }).cause?.code === 'ERR_TLS_CERT_ALTNAME_INVALID',
      );
    });

    it('tls: true with an untrusted certificate -> TOR_SOCKS_TLS_FAILED with the TLS error as cause', async () => {
      const { client } = await setup(() => ({ forwardTo: tlsPort }));
      await assert.rejects(client.connect({ host: hostname, port: 443 }, { tls: true }), (e: unknown) =>
        isSocksError('TOR_SOCKS_TLS_FAILED')(e) && /self.signed/i.test(String((e as { cause?: { code?: string } }).cause?.code)));
    });

    it('httpAgent: http.get through tor, with keep-alive reusing one stream', async () => {
      const { fake, client } = await setup(() => ({ forwardTo: webPort }));
      const agent = client.httpAgent({ keepAlive: true, isolate: 'web' });
      const get = (path: string) => getText(`http://site.example${path}`, agent);
      const before = webConnections;
      assert.equal(await get('/one'), 'hello /one via site.example');
      assert.equal(await get('/two'), 'hello /two via site.example');
      assert.equal(webConnections - before, 1);
      assert.equal(fake.connections.length, 1);
      assert.deepEqual([fake.connections[0]!.request?.host, fake.connections[0]!.request?.addressType, fake.connections[0]!.request?.password], ['site.example', 3, 'web']);
    });

    it('httpAgent with tls: an https.Agent doing TLS with the request host', async () => {
      const { fake, client } = await setup(() => ({ forwardTo: secureWebPort }));
      const agent = client.httpAgent({ tls: { ca: cert.cert } });
      assert.ok(agent instanceof https.Agent);
      const body = await new Promise<string>((resolve, reject) => {
        https.get(`https://${hostname}/s`, { agent }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(body, 'secure /s');
      assert.equal(fake.connections[0]!.request?.host, hostname);
    });

    it('httpAgent: a failing stream fails the request with the TorSocksError', async () => {
      const { client } = await setup(() => ({ reply: 0x05 }));
      const agent = client.httpAgent();
      await assert.rejects(
        new Promise((resolve, reject) => http.get('http://refused.example/', { agent }, resolve).on('error', reject)),
        isSocksError('TOR_SOCKS_CONNECTION_REFUSED', 5),
      );
    });

    it('httpAgent: a request aborted or destroyed while tor opens its stream hangs up on the SOCKS port at once, one error, one callback', async () => {
      let requestHeld: (() => void) | undefined;
      // tor holds the SOCKS handshake open: no reply to the CONNECT.
      const { fake, client } = await setup(() => {
        requestHeld?.();
        return { silent: true };
      });
      const agent = client.httpAgent({ keepAlive: true });
      // Counts Node's callbacks: one per connection, never a late second one.
      const createConnection = agent.createConnection.bind(agent);
      let callbacks = 0;
      agent.createConnection = ((options: http.ClientRequestArgs, cb: (err: Error | null, s: unknown) => void) =>
        createConnection(options, (err: Error | null, s: unknown) => {
          callbacks++;
          cb(err, s);
        })) as typeof agent.createConnection;
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const mine = new Error('mine');
      type Check = (e: Error & { code?: string }) => boolean;
      const cases: Array<[string, (req: http.ClientRequest, ac: AbortController) => void, Check]> = [
        ['signal', (_req, ac) => ac.abort(), (e) => e.name === 'AbortError'],
        // What Node's own agent reports for a request destroyed while its socket connects.
        ['destroy()', (req) => req.destroy(), (e) => e.code === 'ECONNRESET' && e.message === 'socket hang up'],
        ['destroy(err)', (req) => req.destroy(mine), (e) => e === mine],
        ['abort()', (req) => req.abort(), (e) => e.code === 'ECONNRESET'],
      ];
      try {
        for (const [i, [how, stop, expected]] of cases.entries()) {
          const held = new Promise<void>((resolve) => (requestHeld = resolve));
          const ac = new AbortController();
          const req = http.get('http://held.example/', { agent, signal: ac.signal });
          const errors: Error[] = [];
          let closes = 0;
          req.on('error', (e) => errors.push(e));
          const closed = new Promise<void>((resolve) =>
            req.on('close', () => {
              closes++;
              resolve();
            }),
          );
          await held;
          const socksConnection = fake.connections.at(-1)!;
          stop(req, ac);
          // The client hangs up on tor's SOCKS port (so tor drops the stream), without waiting for tor.
          await socksConnection.whenClosed;
          await closed;
          assert.equal(socksConnection.request?.host, 'held.example', how);
          assert.equal(errors.length, 1, `${how}: ${errors.join('; ')}`);
          assert.ok(expected(errors[0]!), `${how}: ${String(errors[0])}`);
          assert.equal(closes, 1, how);
          assert.equal(callbacks, i + 1, `${how}: callbacks`);
        }
        assert.equal(fake.connections.length, cases.length);
        // Nothing counted or kept by the agent (Node leaves an empty list under the request's name).
        assert.equal((agent as http.Agent & { totalSocketCount: number }).totalSocketCount, 0);
        for (const kept of [agent.sockets, agent.freeSockets, agent.requests]) assert.equal(Object.values(kept).flat().length, 0);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it("httpAgent: a request's timeout option covers the opening of its stream, as it covers connecting with Node's agents: 'timeout', then destroy() hangs up on the SOCKS port", async () => {
      let requestHeld: (() => void) | undefined;
      // tor holds the SOCKS handshake open: no reply to the CONNECT.
      const { fake, client } = await setup(() => {
        requestHeld?.();
        return { silent: true };
      });
      // connectTimeoutMs only ends a request that never hears 'timeout' (with TOR_TIMEOUT, first).
      const cases: Array<[string, typeof http | typeof https, http.Agent, http.RequestOptions]> = [
        ['the request option', http, client.httpAgent({ connectTimeoutMs: 5000 }), { timeout: 50 }],
        ["the agent's option", http, client.httpAgent({ connectTimeoutMs: 5000, agent: { timeout: 50 } }), {}],
        ['https', https, client.httpAgent({ connectTimeoutMs: 5000, tls: { ca: cert.cert } }), { timeout: 50 }],
      ];
      for (const [how, module, agent, options] of cases) {
        const held = new Promise<void>((resolve) => (requestHeld = resolve));
        const heard: string[] = [];
        const req = module.get({ host: hostname, path: '/held', agent, ...options });
        req.on('timeout', () => {
          heard.push('timeout');
          req.destroy();
        });
        req.on('error', (e: Error & { code?: string }) => heard.push(`error ${e.code}`));
        const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
        await held;
        await closed;
        await fake.connections.at(-1)!.whenClosed;
        assert.deepEqual(heard, ['timeout', 'error ECONNRESET'], how);
      }
      // Without a timeout, nothing is heard while the stream opens.
      const held = new Promise<void>((resolve) => (requestHeld = resolve));
      const heard: string[] = [];
      const req = http.get({ host: hostname, path: '/held', agent: client.httpAgent({ connectTimeoutMs: 300 }) });
      req.on('timeout', () => heard.push('timeout'));
      req.on('error', (e: Error & { code?: string }) => heard.push(`error ${e.code}`));
      await held;
      await new Promise<void>((resolve) => req.on('close', () => resolve()));
      assert.deepEqual(heard, ['error TOR_TIMEOUT']);
    });

    it('httpAgent with tls: the same for an https request; a request that got its socket keeps its own destroy()', async () => {
      let hold = false;
      let requestHeld: (() => void) | undefined;
      const { fake, client } = await setup(() => {
        if (!hold) return { forwardTo: secureWebPort };
        requestHeld?.();
        return { silent: true };
      });
      const agent = client.httpAgent({ tls: { ca: cert.cert } });
      const served = https.get(`https://${hostname}/ok`, { agent });
      const body = await new Promise<string>((resolve, reject) => {
        served.on('response', (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        });
        served.on('error', reject);
      });
      assert.equal(body, 'secure /ok');
      assert.equal(Object.hasOwn(served, 'destroy'), false, 'the request has its prototype destroy() again');
      hold = true;
      const held = new Promise<void>((resolve) => (requestHeld = resolve));
      const ac = new AbortController();
      const req = https.get(`https://${hostname}/held`, { agent, signal: ac.signal });
      const errors: Error[] = [];
      req.on('error', (e) => errors.push(e));
      const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
      await held;
      ac.abort();
      await fake.connections.at(-1)!.whenClosed;
      await closed;
      assert.deepEqual(errors.map((e) => e.name), ['AbortError']);
    });

    it('fetch: http through tor, isolate on its own connection with its credentials', async () => {
      const { fake, client } = await setup(() => ({ forwardTo: webPort }));
      const res = await client.fetch('http://fetch.example/a');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello /a via fetch.example');
      const res2 = await client.fetch('http://fetch.example/b', { isolate: 'other' });
      assert.equal(await res2.text(), 'hello /b via fetch.example');
      assert.equal(fake.connections.length, 2);
      assert.equal(fake.connections[0]!.request?.username, undefined);
      assert.equal(fake.connections[1]!.request?.password, 'other');
      assert.equal(fake.connections[0]!.request?.host, 'fetch.example');
    });

    it('fetch: username/password isolate as they do for connect, each on connections of its own; socksPort picks the port', async () => {
      // They were passed on to fetch, which ignored them: a request meant to be isolated was not.
      const { fake, client } = await setup(() => ({ forwardTo: webPort }));
      assert.equal(await (await client.fetch('http://fetch.example/a', { username: 'alice', password: 'pw1' })).text(), 'hello /a via fetch.example');
      assert.equal(await (await client.fetch('http://fetch.example/b', { username: 'alice', password: 'pw2' })).text(), 'hello /b via fetch.example');
      assert.equal(await (await client.fetch('http://fetch.example/c', { username: 'alice', password: 'pw1' })).text(), 'hello /c via fetch.example');
      assert.deepEqual(
        fake.connections.map((c) => [c.request?.username, c.request?.password]),
        [['alice', 'pw1'], ['alice', 'pw2']],
        'one connection per set of credentials, the third request on the first',
      );
      await assert.rejects(client.fetch('http://fetch.example/', { isolate: 'x', username: 'u' }), (e: unknown) => (e as { code?: string }).code === 'TOR_INVALID_VALUE');
      // A SOCKS port of the request's own: nothing listens there, so the request fails there.
      const other = new TorSocksClient(null, { socksPort: fake.port });
      try {
        await assert.rejects(other.fetch('http://fetch.example/', { socksPort: await closedPort() }), isSocksError('TOR_SOCKS_UNREACHABLE'));
        assert.equal(fake.connections.length, 2, 'the client\'s own port was not used');
      } finally {
        other.close();
      }
    });

    it('fetch: https does TLS with the URL host (untrusted certificate -> TOR_SOCKS_TLS_FAILED)', async () => {
      const { fake, client } = await setup(() => ({ forwardTo: secureWebPort }));
      await assert.rejects(client.fetch(`https://${hostname}/x`), isSocksError('TOR_SOCKS_TLS_FAILED'));
      assert.deepEqual([fake.connections[0]!.request?.host, fake.connections[0]!.request?.port], [hostname, 443]);
    });

    it("fetch: Node's global FormData is sent as multipart/form-data, fields and files, not as the text [object FormData]", async () => {
      let seen: { type: string | undefined; body: string } | undefined;
      const site = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('latin1');
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          seen = { type: req.headers['content-type'], body };
          res.end('got it');
        });
      });
      const sitePort = await listen(site);
      try {
        const { client } = await setup(() => ({ forwardTo: sitePort }));
        const form = new FormData();
        form.append('name', 'value');
        form.append('upload', new Blob(['file body']), 'a.txt');
        const res = await client.fetch('http://form.example/', { method: 'POST', body: form });
        assert.equal(await res.text(), 'got it');
        assert.match(seen!.type ?? '', /^multipart\/form-data; boundary=/);
        assert.match(seen!.body, /name="name"\r\n\r\nvalue\r\n/);
        assert.match(seen!.body, /name="upload"; filename="a\.txt"[\s\S]*\r\n\r\nfile body\r\n/);
      } finally {
        site.close();
      }
    });

    it('fetch: a SOCKS failure rejects with the TorSocksError, not TypeError', async () => {
      const { client } = await setup(() => ({ reply: 0xf0 }));
      await assert.rejects(client.fetch('http://missing.onion/'), isSocksError('TOR_SOCKS_ONION_NOT_FOUND', 0xf0));
    });

    it('fetch: init.dispatcher cannot replace the tor dispatcher', async () => {
      const { client } = await setup();
      await assert.rejects(client.fetch('http://x.example/', { dispatcher: {} } as RequestInit), TorInvalidValueError);
    });

    it('fetch: a URL that is not absolute http: or https: is a TorInvalidValueError, not fetch\'s TypeError', async () => {
      const { client } = await setup();
      for (const url of ['ftp://127.0.0.1:21/', 'file:///etc/passwd', 'data:,x', 'not a url', '/relative', new URL('ws://x.example/')]) {
        await assert.rejects(client.fetch(url), (e: unknown) => e instanceof TorInvalidValueError, String(url));
      }
    });

    it('closeKeptConnections: the kept connections of fetch and of agents are closed (idle ones at once, a busy one when its request ends); later requests open new streams', async () => {
      const held: http.ServerResponse[] = [];
      const site = http.createServer((req, res) => (req.url === '/hold' ? held.push(res) : res.end(req.url)));
      const sitePort = await listen(site);
      try {
        const { fake, client } = await setup(() => ({ forwardTo: sitePort }));
        const agent = client.httpAgent({ keepAlive: true, agent: { maxSockets: 1 } });
        const get = (path: string) => getText(`http://kept.example${path}`, agent);
        assert.equal(await (await client.fetch('http://kept.example/a')).text(), '/a');
        assert.equal(await get('/b'), '/b');
        assert.equal(fake.connections.length, 2);
        // The agent's one socket is busy with /hold, and /c waits for it.
        const holding = get('/hold');
        await waitUntil(() => held.length === 1, 'the held request at the server');
        const queued = get('/c');
        client.closeKeptConnections();
        await fake.connections[0]!.whenClosed; // fetch's idle connection
        assert.equal(fake.connections[1]!.closed, false, 'a busy connection is left to finish its request');
        held[0]!.end('held');
        assert.equal(await holding, 'held');
        await fake.connections[1]!.whenClosed; // and then closed, not handed to /c
        assert.equal(await queued, '/c');
        assert.equal(await (await client.fetch('http://kept.example/d')).text(), '/d');
        assert.equal(fake.connections.length, 4, 'one new stream for /c, one for /d');
      } finally {
        for (const res of held) res.destroy();
        await closeServer(site);
      }
    });

    it('close() destroys agents and refuses later calls', async () => {
      const { client } = await setup(() => ({ forwardTo: webPort }));
      const agent = client.httpAgent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => http.get('http://k.example/', { agent }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject));
      await waitUntil(() => Object.values(agent.freeSockets).flat().length === 1, 'one free socket in the agent');
      const pooled = Object.values(agent.freeSockets).flat()[0]!;
      client.close();
      assert.equal(pooled.destroyed, true);
      await assert.rejects(client.connect({ host: 'h', port: 1 }), isSocksError('TOR_SOCKS_CLOSED'));
      await assert.rejects(client.fetch('http://h/'), isSocksError('TOR_SOCKS_CLOSED'));
    });
  });
});

describe('TorSocksClient, public: its constructor refuses what would fail later as a bare TypeError', () => {
  const refused: Array<[string, () => unknown, RegExp]> = [
    ['a control that is no TorControl (a Tor handle)', () => new TorSocksClient({} as never), /TorSocksClient control: must be a TorControl \(tor\.control\), or null/],
    ['options that are a number', () => new TorSocksClient(null, 5 as never), /TorSocksClient options: must be an object/],
    ['fallbackSocksPorts that is no array', () => new TorSocksClient(null, { fallbackSocksPorts: '9050' as never }), /fallbackSocksPorts: must be an array/],
    ['a circuitOpener that is no function', () => new TorSocksClient(null, { circuitOpener: 5 as never }), /circuitOpener: must be a function/],
  ];
  for (const [what, make, message] of refused) {
    it(`refuses ${what} with TOR_INVALID_VALUE`, () => {
      assert.throws(make, (err: unknown) => err instanceof TorInvalidValueError && err.code === 'TOR_INVALID_VALUE' && message.test(err.message));
    });
  }

  it('takes null options and an undefined control as none', async () => {
    const client = new TorSocksClient(null, null as never);
    const fixed = new TorSocksClient(undefined as never, { socksPort: 1234 });
    try {
      // No I/O in either: an agent is made lazily, a given socksPort is not probed.
      assert.equal(typeof client.httpAgent().createConnection, 'function');
      assert.deepEqual(await fixed.socksAddress(), { host: '127.0.0.1', port: 1234 });
    } finally {
      client.close();
      fixed.close();
    }
  });
});

describe('TorSocksClient, public: a socksPort or socksHostname of the wrong type is TOR_INVALID_VALUE', () => {
  let fake: FakeSocksServer;
  before(async () => {
    fake = await startFakeSocksServer();
  });
  after(() => fake.close());

  const invalid = (field: string) => (err: unknown) => err instanceof TorInvalidValueError && err.code === 'TOR_INVALID_VALUE' && err.field === field;

  it('refuses them in the constructor, never as a bare TypeError nor read as a port (true would be port 1)', () => {
    assert.throws(() => new TorSocksClient(null, { socksHostname: 5 as never }), invalid('socksHostname'));
    assert.throws(() => new TorSocksClient(null, { socksPort: 9050, socksHostname: 5 as never }), invalid('socksHostname'));
    assert.throws(() => new TorSocksClient(null, { socksPort: true as never }), invalid('socksPort'));
    assert.throws(() => new TorSocksClient(null, { socksPort: [9050] as never }), invalid('socksPort'));
    assert.throws(() => new TorSocksClient(null, { fallbackSocksPorts: [true as never] }), invalid('socksPort'));
  });

  it('refuses them per call and in httpAgent, before any connection to a SOCKS port', async () => {
    const client = new TorSocksClient(null, { fallbackSocksPorts: [fake.port] });
    try {
      const target = { host: 'example.com', port: 80 };
      await assert.rejects(client.connect(target, { socksHostname: 5 as never }), invalid('socksHostname'));
      await assert.rejects(client.connect(target, { socksPort: true as never }), invalid('socksPort'));
      await assert.rejects(client.resolve('example.com', { socksHostname: 5 as never }), invalid('socksHostname'));
      assert.throws(() => client.httpAgent({ socksHostname: 5 as never }), invalid('socksHostname'));
      assert.throws(() => client.httpAgent({ socksPort: true as never }), invalid('socksPort'));
      assert.equal(fake.connections.length, 0);
    } finally {
      client.close();
    }
  });
});

describe('TorSocksClient, public: after close()', () => {
  it('socksAddress fails with TOR_SOCKS_CLOSED, as every other call does, and probes nothing', async () => {
    const fake = await startFakeSocksServer();
    const client = new TorSocksClient(null, { fallbackSocksPorts: [fake.port] });
    client.close();
    try {
      await assert.rejects(client.socksAddress(), isSocksError('TOR_SOCKS_CLOSED'));
      await assert.rejects(client.connect({ host: 'example.com', port: 80 }), isSocksError('TOR_SOCKS_CLOSED'));
      assert.equal(fake.connections.length, 0);
    } finally {
      await fake.close();
    }
  });

  it('says close() closed it: a client made with new TorSocksClient(null) has no Tor handle to blame', async () => {
    const client = new TorSocksClient(null, { socksPort: 1234 });
    client.close();
    const saysClose = (err: unknown) => isSocksError('TOR_SOCKS_CLOSED')(err) && /close\(\)/.test((err as Error).message);
    await assert.rejects(client.connect({ host: 'example.com', port: 80 }), saysClose);
    await assert.rejects(client.fetch('http://example.com/'), saysClose);
    assert.throws(() => client.httpAgent(), saysClose);
  });
});

describe('TorSocksClient, public: a call\'s socksHostname', () => {
  it('replaces the host of the client\'s own socksPort too, as it does a discovered port\'s (it was ignored)', async () => {
    const fake = await startFakeSocksServer(); // on 127.0.0.1 only: 127.0.0.2 finds nothing there
    const client = new TorSocksClient(null, { socksPort: fake.port });
    try {
      await assert.rejects(client.connect({ host: 'example.com', port: 80 }, { socksHostname: '127.0.0.2' }), (err: unknown) => {
        assert.ok(isSocksError('TOR_SOCKS_UNREACHABLE')(err));
        assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.2:${fake.port}`));
        return true;
      });
      await assert.rejects(client.resolve('example.com', { socksHostname: '127.0.0.2' }), isSocksError('TOR_SOCKS_UNREACHABLE'));
      assert.equal(fake.connections.length, 0);
    } finally {
      client.close();
      await fake.close();
    }
  });
});

describe('TorSocksClient, public: closeKeptConnections', () => {
  it('refuses a circuit id that is no string (a Circuit, a number), which matched nothing and closed nothing; null is none', () => {
    const client = new TorSocksClient(null, { socksPort: 1234 });
    try {
      const invalid = (err: unknown) => err instanceof TorInvalidValueError && err.field === 'circuitId';
      assert.throws(() => client.closeKeptConnections({ id: '5' } as never), invalid);
      assert.throws(() => client.closeKeptConnections(5 as never), invalid);
      client.closeKeptConnections(null as never);
      client.closeKeptConnections('5');
      client.closeKeptConnections();
    } finally {
      client.close();
    }
  });
});

describe('TorSocksClient.close() while a stream or lookup is still being made', () => {
  // A tor that takes the SOCKS request and has not answered yet: without this, the connect went on
  // after close() and resolved with a live socket nobody would close (it kept the process alive).
  let server: net.Server;
  let port: number;
  const accepted: net.Socket[] = [];
  before(async () => {
    server = net.createServer((s) => {
      accepted.push(s);
      s.on('error', () => undefined);
      s.resume(); // reads the greeting and the request, never answers
    });
    port = await listen(server);
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    await closeServer(server);
  });

  it('many at once: no MaxListenersExceededWarning (each listens for the close until it is done)', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const client = new TorSocksClient(null, { socksPort: port });
    try {
      const before = accepted.length;
      const pending = Array.from({ length: 20 }, () => client.connect({ host: '127.0.0.1', port: 80 }));
      await waitUntil(() => accepted.length >= before + 20, 'the SOCKS connections');
      client.close();
      const results = await Promise.allSettled(pending);
      assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'TOR_SOCKS_CLOSED'));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      client.close();
    }
  });

  for (const [name, call] of [
    ['connect', (c: TorSocksClient) => c.connect({ host: '127.0.0.1', port: 80 })],
    ['resolve', (c: TorSocksClient) => c.resolve('example.com')],
  ] as const) {
    it(`${name} rejects with TOR_SOCKS_CLOSED at once and its socket to tor is closed`, async () => {
      const client = new TorSocksClient(null, { socksPort: port });
      const before = accepted.length;
      const pending = call(client);
      await waitUntil(() => accepted.length > before, 'the SOCKS connection');
      const conn = accepted.at(-1)!;
      const started = Date.now();
      client.close();
      await assert.rejects(pending, isSocksError('TOR_SOCKS_CLOSED'));
      assert.ok(Date.now() - started < 2000, 'rejected without waiting for tor');
      await waitUntil(() => conn.readableEnded || conn.destroyed, 'the socket to tor closed');
    });
  }
});
