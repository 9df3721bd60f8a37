import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import sinon from 'sinon';
import {
  EndpointArgumentError,
  EndpointConnectError,
  EndpointListenError,
  TorAbortError,
  TorInvalidValueError,
  TorTimeoutError,
} from '../../src/errors.js';
import { connect, listen } from '../../src/di/endpoint-api.js';
import { quoteEndpointArgument as q } from '../../src/util/endpoint-grammar.js';
import type { ListeningEndpoint, TorLike } from '../../src/plugins/plugin-types.js';
import { closedPort } from '../support/closed-port.js';

/** A server that echoes every byte back. */
function echoServer(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
}

/** Writes `text` and reads the same number of bytes back. */
async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  socket.write(text);
  let got = '';
  for await (const chunk of socket) {
    got += String(chunk);
    if (got.length >= text.length) break;
  }
  return got;
}

/** Rejects unless a connection to 127.0.0.1:`port` is refused (nothing listens there). */
async function assertRefused(port: number): Promise<void> {
  await assert.rejects(
    new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    }),
    (err: unknown) => (err as NodeJS.ErrnoException).code === 'ECONNREFUSED',
  );
}


let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'torcon-ep-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('tcp: endpoints on 127.0.0.1', () => {
  it('listens (loopback by default, ephemeral port) and connects, bytes echo', async () => {
    const server = echoServer();
    const ep = await listen(server, 'tcp:0');
    try {
      assert.match(ep.address, /^127\.0\.0\.1:\d+$/);
      assert.equal((server.address() as net.AddressInfo).address, '127.0.0.1');
      const socket = await connect(`tcp:${ep.address}:timeout=10`);
      assert.equal(await roundTrip(socket, 'hello over tcp'), 'hello over tcp');
      socket.destroy();
    } finally {
      await ep.close();
    }
    assert.equal(server.listening, false);
    await ep.close(); // idempotent
  });

  it('connects from a bindAddress and with host/port keywords', async () => {
    const server = echoServer();
    const seen: string[] = [];
    server.on('connection', (s) => seen.push(s.remoteAddress ?? ''));
    const ep = await listen(server, 'tcp:port=0:interface=127.0.0.1');
    try {
      const port = ep.address.split(':')[1];
      const socket = await connect(`tcp:host=127.0.0.1:port=${port}:bindAddress=127.0.0.1`);
      assert.equal(await roundTrip(socket, 'x'), 'x');
      assert.deepEqual(seen, ['127.0.0.1']);
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it('reports a refused connection as EndpointConnectError with ECONNREFUSED', async () => {
    const port = await closedPort();
    await assert.rejects(connect(`tcp:127.0.0.1:${port}`), (err: unknown) => {
      assert.ok(err instanceof EndpointConnectError);
      assert.equal(err.code, 'TOR_ENDPOINT_CONNECT');
      assert.equal(err.systemCode, 'ECONNREFUSED');
      assert.match(err.message, new RegExp(`tcp connection to 127\\.0\\.0\\.1:${port} failed`));
      return true;
    });
  });

  it('reports a port in use as EndpointListenError with EADDRINUSE', async () => {
    const first = await listen(echoServer(), 'tcp:0');
    try {
      const port = first.address.split(':')[1];
      await assert.rejects(listen(echoServer(), `tcp:${port}`), (err: unknown) => {
        assert.ok(err instanceof EndpointListenError);
        assert.equal(err.systemCode, 'EADDRINUSE');
        return true;
      });
    } finally {
      await first.close();
    }
  });

  it('refuses a server that already listens', async () => {
    const server = echoServer();
    const ep = await listen(server, 'tcp:0');
    try {
      await assert.rejects(listen(server, 'tcp:0'), /already listening/);
    } finally {
      await ep.close();
    }
  });

  it('two endpoints listening on one server at once: the first binds, the second is refused (not a silent second bind)', async () => {
    for (const [first, second] of [
      ['tcp:0', 'tcp:0:interface=127.0.0.3'],
      ['tcp:0:interface=127.0.0.3', 'tcp:0'],
    ] as const) {
      const server = echoServer();
      const [a, b] = await Promise.allSettled([listen(server, first), listen(server, second)]);
      try {
        assert.equal(a.status, 'fulfilled');
        assert.equal(b.status, 'rejected');
        const err = (b as PromiseRejectedResult).reason;
        assert.ok(err instanceof EndpointListenError, String(err));
        assert.match(err.message, /already being made to listen by another endpoint/);
        // The server listens where the first endpoint said, and that endpoint reports it.
        const ep = (a as PromiseFulfilledResult<ListeningEndpoint>).value;
        const host = first.includes('127.0.0.3') ? '127.0.0.3' : '127.0.0.1';
        assert.equal(ep.address, `${host}:${(server.address() as net.AddressInfo).port}`);
        assert.equal((server.address() as net.AddressInfo).address, host);
      } finally {
        server.close();
      }
    }
  });

  it('refuses what is not a server, typed, and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const notAServer of [{}, null, undefined, 42, { listen: () => undefined }]) {
        for (const where of ['tcp:0', `unix:${path.join(os.tmpdir(), 'torcon-never.sock')}`, 'onion:80']) {
          await assert.rejects(listen(notAServer as never, where), (e: unknown) => e instanceof TorInvalidValueError, `${where} ${String(notAServer)}`);
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('aborts before opening any socket when the signal is already aborted', async () => {
    const spy = sinon.spy(net.Socket.prototype, 'connect');
    try {
      await assert.rejects(connect('tcp:127.0.0.1:9:timeout=1', { signal: AbortSignal.abort() }), TorAbortError);
      sinon.assert.notCalled(spy);
    } finally {
      spy.restore();
    }
  });

  it('listens on IPv6 loopback and formats the address in brackets', async function () {
    const probe = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!ok) this.skip(); // the host has no IPv6 loopback: nothing to test
    const ep = await listen(echoServer(), 'tcp:0:interface=\\:\\:1');
    try {
      assert.match(ep.address, /^\[::1\]:\d+$/);
      const socket = await connect(`tcp:${ep.address}`);
      assert.equal(await roundTrip(socket, 'v6'), 'v6');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });
});

describe('unix: endpoints', () => {
  it('listens with a mode and connects, bytes echo, the socket file goes on close', async () => {
    const sock = path.join(tmp, 'echo.sock');
    const ep = await listen(echoServer(), `unix:${q(sock)}:mode=0600`);
    try {
      assert.equal(ep.address, sock);
      assert.equal((await fs.stat(sock)).mode & 0o777, 0o600);
      const socket = await connect(`unix:${q(sock)}`);
      assert.equal(await roundTrip(socket, 'hello over unix'), 'hello over unix');
      socket.destroy();
    } finally {
      await ep.close();
    }
    await assert.rejects(fs.stat(sock), { code: 'ENOENT' });
  });

  it('handles paths holding ":" and "=" through quoting', async () => {
    const sock = path.join(tmp, 'a:b=c.sock');
    const ep = await listen(echoServer(), `unix:${q(sock)}`);
    try {
      const socket = await connect(`unix:path=${q(sock)}`);
      assert.equal(await roundTrip(socket, 'q'), 'q');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it('reports a missing socket as EndpointConnectError with ENOENT', async () => {
    await assert.rejects(connect(`unix:${q(path.join(tmp, 'missing.sock'))}`), (err: unknown) => {
      assert.ok(err instanceof EndpointConnectError);
      assert.equal(err.systemCode, 'ENOENT');
      return true;
    });
  });

  it('with lockfile=true: writes PATH.lock with our pid, refuses a second listener, removes the lock on close', async () => {
    const sock = path.join(tmp, 'locked.sock');
    const ep = await listen(echoServer(), `unix:${q(sock)}:lockfile=true`);
    try {
      assert.equal((await fs.readFile(`${sock}.lock`, 'utf8')).trim(), String(process.pid));
      await assert.rejects(listen(echoServer(), `unix:${q(sock)}:lockfile=1`), (err: unknown) => {
        assert.ok(err instanceof EndpointListenError);
        assert.match(err.message, new RegExp(`held by running process ${process.pid}`));
        return true;
      });
    } finally {
      await ep.close();
    }
    await assert.rejects(fs.stat(`${sock}.lock`), { code: 'ENOENT' });
  });

  it('with lockfile=true: replaces a stale socket left by a killed process', async () => {
    const sock = path.join(tmp, 'stale.sock');
    const child = spawn(
      process.execPath,
      ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('ready'))", sock],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(child.stdout!, 'data');
    await fs.writeFile(`${sock}.lock`, `${child.pid}\n`);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok((await fs.lstat(sock)).isSocket(), 'the killed process left its socket behind');

    // Without the lock protocol the stale socket is in the way.
    await assert.rejects(listen(echoServer(), `unix:${q(sock)}`), { code: 'TOR_ENDPOINT_LISTEN', systemCode: 'EADDRINUSE' });

    const ep = await listen(echoServer(), `unix:${q(sock)}:lockfile=yes`);
    try {
      assert.equal((await fs.readFile(`${sock}.lock`, 'utf8')).trim(), String(process.pid));
      const socket = await connect(`unix:${q(sock)}`);
      assert.equal(await roundTrip(socket, 'fresh'), 'fresh');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it('rejects a too-long path before any I/O', async () => {
    const spy = sinon.spy(net.Server.prototype, 'listen');
    try {
      await assert.rejects(listen(echoServer(), `unix:/${'x'.repeat(200)}`), EndpointArgumentError);
      sinon.assert.notCalled(spy);
    } finally {
      spy.restore();
    }
  });
});

describe('tls: endpoints', () => {
  let keyFile: string;
  let certFile: string;

  before(function () {
    this.timeout(20_000);
    keyFile = path.join(tmp, 'key.pem');
    certFile = path.join(tmp, 'cert.pem');
    const r = spawnSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,DNS:service.test,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `openssl failed: ${r.stderr}`);
  });

  it('serves TLS to a plain net.Server and connects with a pinned CA (IP SAN)', async () => {
    const server = echoServer();
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    try {
      assert.match(ep.address, /^127\.0\.0\.1:\d+$/);
      const socket = await connect(`tls:${ep.address}:caFile=${q(certFile)}`);
      assert.ok(socket instanceof tls.TLSSocket);
      assert.equal((socket as tls.TLSSocket).authorized, true);
      assert.equal(await roundTrip(socket, 'hello over tls'), 'hello over tls');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it("stops the TLS listener when the application closes its server (server.close())", async () => {
    const server = echoServer();
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const port = Number(ep.address.split(':')[1]);
    try {
      // Nothing may accept connections for it afterwards.
      server.close(() => undefined);
      await once(server, 'close');
      await assertRefused(port);
    } finally {
      await ep.close();
    }
  });

  it("makes the application's server itself listen: address(), listening, one 'listening' event", async () => {
    const server = echoServer();
    let listeningEvents = 0;
    server.on('listening', () => listeningEvents++);
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    try {
      assert.equal(server.listening, true);
      assert.deepEqual(server.address(), { address: '127.0.0.1', family: 'IPv4', port: Number(ep.address.split(':')[1]) });
      assert.equal(listeningEvents, 1);
      // What listens is what speaks TLS: the application's own server.
      const socket = await connect(`tls:${ep.address}:caFile=${q(certFile)}`);
      assert.equal(await roundTrip(socket, 'own port'), 'own port');
      socket.destroy();
    } finally {
      await ep.close();
    }
    assert.equal(server.listening, false);
  });

  it('server.close(cb) calls cb without an error, and stops accepting', async () => {
    const server = echoServer();
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const port = Number(ep.address.split(':')[1]);
    const closeError = await new Promise<Error | undefined>((resolve) => server.close(resolve));
    assert.equal(closeError, undefined);
    await assertRefused(port);
    await ep.close(); // after the application's close: nothing left to do, no error
  });

  it('a tcp: listen started meanwhile on the server makes tls: refuse it, unwrapped', async () => {
    const server = echoServer();
    const [tlsListen, tcpListen] = await Promise.allSettled([listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`), listen(server, 'tcp:0')]);
    try {
      // tls: reads its key files first; tcp: binds meanwhile, and tls: must not wrap that listener.
      assert.equal(tcpListen.status, 'fulfilled');
      assert.equal(tlsListen.status, 'rejected');
      assert.ok((tlsListen as PromiseRejectedResult).reason instanceof EndpointListenError);
      const ep = (tcpListen as PromiseFulfilledResult<ListeningEndpoint>).value;
      const socket = await connect(`tcp:${ep.address}`);
      assert.equal(await roundTrip(socket, 'plain, not TLS'), 'plain, not TLS');
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('refuses a second listen on a server it serves, and keeps serving', async () => {
    const server = echoServer();
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    try {
      for (const again of [`tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`, 'tcp:0']) {
        await assert.rejects(listen(server, again), (err: unknown) => {
          assert.ok(err instanceof EndpointListenError, String(err));
          assert.match(err.message, /already listening/);
          return true;
        });
      }
      // Still one TLS layer: a second wrapping would have garbled the bytes.
      const socket = await connect(`tls:${ep.address}:caFile=${q(certFile)}`);
      assert.equal(await roundTrip(socket, 'still served'), 'still served');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it('serves HTTPS to an http.Server (keep-alive), keeps failed handshakes from the app, and a later tcp: listen is plain', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => res.end(`hello ${req.url}`));
    server.on('connection', (s: net.Socket) => seen.push(s instanceof tls.TLSSocket ? 'tls' : 'raw'));
    server.on('clientError', () => seen.push('clientError'));
    const ep = await listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const port = Number(ep.address.split(':')[1]);
    const ca = await fs.readFile(certFile);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    const get = (p: string): Promise<string> =>
      new Promise((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    try {
      assert.equal(await get('/a'), 'hello /a');
      assert.equal(await get('/b'), 'hello /b');
      // A client that speaks plain HTTP to the TLS port: its handshake fails; nothing reaches the app.
      const plain = net.connect(port, '127.0.0.1');
      plain.on('error', () => undefined);
      plain.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(plain, 'close');
      assert.deepEqual(seen, ['tls']); // one connection, kept alive for both requests
    } finally {
      agent.destroy();
      await ep.close();
    }
    // Closed, the server is an ordinary one again.
    const plainEp = await listen(server, 'tcp:0');
    try {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get(`http://${plainEp.address}/c`, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      assert.equal(body, 'hello /c');
    } finally {
      await plainEp.close();
    }
  });

  it('a server closed while a TLS client is still connected, and listened again on tcp: at once, is plain there', async () => {
    const server = echoServer();
    const ep = await listen(server, `tls:0:interface=127.0.0.1:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const { port } = server.address() as net.AddressInfo;
    const kept = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await once(kept, 'secureConnect');
    // Not roundTrip: leaving its loop would end the client, and the test needs it open.
    kept.write('still tls');
    assert.equal(String((await once(kept, 'data'))[0]), 'still tls');
    // 'close' waits for the kept client; the application does not.
    server.close();
    const plainEp = await listen(server, 'tcp:0');
    try {
      const socket = await connect(`tcp:${plainEp.address}`);
      assert.equal(await roundTrip(socket, 'plain now'), 'plain now');
      socket.destroy();
    } finally {
      kept.destroy();
      await plainEp.close();
      await ep.close().catch(() => undefined);
    }
  });

  it('a tls: listen that fails (port taken) leaves the server an ordinary one', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as net.AddressInfo;
    const server = echoServer();
    try {
      await assert.rejects(listen(server, `tls:${port}:privateKey=${q(keyFile)}:certKey=${q(certFile)}`), (err: unknown) => {
        assert.ok(err instanceof EndpointListenError);
        assert.equal(err.systemCode, 'EADDRINUSE');
        return true;
      });
      const ep = await listen(server, 'tcp:0');
      try {
        const socket = await connect(`tcp:${ep.address}`);
        assert.equal(await roundTrip(socket, 'plain again'), 'plain again');
        socket.destroy();
      } finally {
        await ep.close();
      }
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  it('checks the certificate against servername', async () => {
    const key = await fs.readFile(keyFile);
    const cert = await fs.readFile(certFile);
    await fs.writeFile(path.join(tmp, 'both.pem'), Buffer.concat([key, cert]));
    const ep = await listen(echoServer(), `tls:0:privateKey=${q(path.join(tmp, 'both.pem'))}`);
    try {
      const good = await connect(`tls:${ep.address}:servername=localhost:caFile=${q(certFile)}`);
      assert.equal(await roundTrip(good, 'sni'), 'sni');
      good.destroy();
      await assert.rejects(connect(`tls:${ep.address}:servername=wrong.test:caFile=${q(certFile)}`), (err: unknown) => {
        assert.ok(err instanceof EndpointConnectError);
        assert.equal(err.systemCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
        return true;
      });
    } finally {
      await ep.close();
    }
  });

  it('rejects an untrusted certificate by default', async () => {
    const ep = await listen(echoServer(), `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    try {
      await assert.rejects(connect(`tls:${ep.address}`), (err: unknown) => {
        assert.ok(err instanceof EndpointConnectError);
        assert.equal(err.systemCode, 'DEPTH_ZERO_SELF_SIGNED_CERT');
        return true;
      });
      const insecure = await connect(`tls:${ep.address}:rejectUnauthorized=false`);
      assert.equal((insecure as tls.TLSSocket).authorized, false);
      insecure.destroy();
    } finally {
      await ep.close();
    }
  });

  it('runs TLS over an inner endpoint (endpoint=), e.g. a tor: stream', async () => {
    const ep = await listen(echoServer(), `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const port = Number(ep.address.split(':')[1]);
    // A fake tor whose "stream" is a local TCP connection to the TLS server.
    const targets: Array<{ host: string; port: number }> = [];
    const tor: TorLike = {
      connect: async (target) => {
        targets.push(target);
        const s = net.connect(port, '127.0.0.1');
        await once(s, 'connect');
        return s;
      },
      createOnionService: async () => assert.fail('not used'),
    };
    try {
      const socket = await connect(`tls:service.test:443:caFile=${q(certFile)}:endpoint=tor\\:service.test\\:443`, { tor });
      assert.deepEqual(targets, [{ host: 'service.test', port: 443 }]);
      assert.equal(await roundTrip(socket, 'tls over tor'), 'tls over tor');
      socket.destroy();
    } finally {
      await ep.close();
    }
  });

  it('times out a handshake the server never answers, and closes the connection', async () => {
    const accepted: net.Socket[] = [];
    // Accepts and reads, never speaks TLS.
    const silent = net.createServer((s) => {
      accepted.push(s);
      s.resume();
    });
    const ep = await listen(silent, 'tcp:0');
    try {
      await assert.rejects(connect(`tls:${ep.address}:timeout=0.2`), TorTimeoutError);
      // Our side closed the socket: the silent server sees the end.
      assert.equal(accepted.length, 1);
      if (!accepted[0]!.destroyed) await once(accepted[0]!, 'close');
    } finally {
      for (const s of accepted) s.destroy();
      await ep.close();
    }
  });

  it('refuses a caFile that holds no certificate, naming the file, before connecting', async () => {
    const ep = await listen(echoServer(), `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`);
    const noCert = path.join(tmp, 'no-cert.pem');
    await fs.writeFile(noCert, 'SECRET-NOT-A-CERTIFICATE\n');
    const dials = sinon.spy(net, 'createConnection');
    try {
      // Neither text nor a PEM private key (the wrong file of a pair) is a CA certificate.
      for (const file of [noCert, keyFile]) {
        await assert.rejects(connect(`tls:${ep.address}:caFile=${q(file)}`), (err: unknown) => {
          assert.ok(err instanceof EndpointArgumentError, String(err));
          assert.ok(err.message.includes(JSON.stringify(file)), err.message);
          assert.match(err.message, /caFile .* holds no PEM certificate/);
          assert.ok(!err.message.includes('SECRET') && !err.message.includes('PRIVATE KEY'), err.message);
          return true;
        });
      }
      assert.equal(dials.callCount, 0, 'refused before connecting');
    } finally {
      dials.restore();
      await ep.close();
    }
  });

  it('refuses a server that does TLS itself (https.Server, tls.Server): TLS inside TLS', async () => {
    const key = await fs.readFile(keyFile);
    const cert = await fs.readFile(certFile);
    for (const server of [https.createServer({ key, cert }), tls.createServer({ key, cert })]) {
      await assert.rejects(listen(server, `tls:0:privateKey=${q(keyFile)}:certKey=${q(certFile)}`), (err: unknown) => {
        assert.ok(err instanceof EndpointArgumentError, String(err));
        assert.match(err.message, /TLS inside TLS/);
        return true;
      });
      assert.equal(server.listening, false);
    }
  });

  it('reports unreadable or unusable key files as EndpointArgumentError without their contents', async () => {
    await assert.rejects(
      listen(echoServer(), `tls:0:privateKey=${q(path.join(tmp, 'nope.pem'))}`),
      /cannot read privateKey file .*nope\.pem.*ENOENT/,
    );
    const garbage = path.join(tmp, 'garbage.pem');
    await fs.writeFile(garbage, 'SECRET-NOT-A-KEY');
    await assert.rejects(listen(echoServer(), `tls:0:privateKey=${q(garbage)}`), (err: unknown) => {
      assert.ok(err instanceof EndpointArgumentError);
      assert.ok(!err.message.includes('SECRET-NOT-A-KEY'));
      return true;
    });
  });
});
