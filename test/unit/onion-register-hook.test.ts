import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { endpointListenDescription, installListenHook, isEndpointListenArgument, removeListenHook } from '../../src/register-hook.js';
import { listenServer } from '../../src/util/listen-server.js';
import { pluginRegistry } from '../../src/di/container.js';
import type { EndpointPlugin, ListeningEndpoint } from '../../src/plugins/plugin-types.js';
import { EndpointListenError } from '../../src/errors.js';

/**
 * The `torcon/register` listen hook with a stand-in endpoint plugin (no tor): which calls it takes,
 * and how 'listening', the callback, 'error' and close() behave. The real thing, with an onion
 * service and an unchanged app, runs in test/integration/register.test.ts.
 */

const PREFIX = 'torcon-hook-test';
let behaviour: (server: net.Server) => Promise<ListeningEndpoint>;
const plugin: EndpointPlugin = { prefix: PREFIX, listen: (server) => behaviour(server) };

describe('torcon/register listen hook', () => {
  before(() => {
    if (!pluginRegistry().has(PREFIX)) pluginRegistry().register(plugin);
    installListenHook();
  });
  after(() => removeListenHook());

  it('takes only strings whose prefix is a registered server plugin', () => {
    for (const yes of ['onion:80', 'ONION:80:privateKeyFile=/k', 'tcp:8080', 'unix:/tmp/app.sock', `${PREFIX}:1`]) {
      assert.equal(isEndpointListenArgument(yes), true, yes);
    }
    for (const no of [80, '8080', '/tmp/app.sock', 'relative/path', '\\\\.\\pipe\\app', 'c:\\pipe', 'nosuchprefix:80', '', undefined, { port: 80 }]) {
      assert.equal(isEndpointListenArgument(no), false, String(no));
    }
  });

  it('leaves ordinary listen calls to Node', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    assert.ok((server.address() as net.AddressInfo).port > 0);
    assert.equal(server.torconEndpoint, undefined);
    server.close();
  });

  it("emits 'listening' once, after the endpoint is up, not at the local bind", async () => {
    let endpointUp = false;
    const closed = sinon.spy();
    behaviour = async (server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)); // the local bind
      await new Promise((r) => setTimeout(r, 50)); // publishing...
      endpointUp = true;
      return { address: 'example:1', close: async () => closed() };
    };
    const server = net.createServer();
    const early = sinon.spy(() => assert.ok(endpointUp, 'a listener registered before listen() heard the local bind'));
    server.on('listening', early);
    const done = new Promise<void>((resolve) => {
      const returned = server.listen(`${PREFIX}:1`, () => {
        assert.ok(endpointUp);
        resolve();
      });
      assert.equal(returned, server, 'listen() returns the server');
    });
    const late = sinon.spy(() => assert.ok(endpointUp, 'a listener registered after listen() heard the local bind'));
    server.on('listening', late);
    await done;
    assert.equal(early.callCount, 1);
    assert.equal(late.callCount, 1);
    assert.equal(server.torconEndpoint?.address, 'example:1');
    assert.equal(server.onionAddress, undefined, 'only onion endpoints get onionAddress');
    assert.ok((server.address() as net.AddressInfo).port > 0, 'address() is the local side');
    server.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(closed.callCount, 1, "server.close() closes the endpoint");
  });

  it("a 'listening' listener added after the first tick hears only the endpoint's, not the local bind", async () => {
    let endpointUp = false;
    behaviour = async (server) => {
      await new Promise((r) => setTimeout(r, 30)); // connecting to tor...
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)); // the local bind
      await new Promise((r) => setTimeout(r, 30)); // publishing...
      endpointUp = true;
      return { address: 'example:1', close: async () => undefined };
    };
    const server = net.createServer();
    const up = new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
    await new Promise((r) => setTimeout(r, 5)); // well after the first tick, before the local bind
    const late = sinon.spy(() => assert.ok(endpointUp, "a late listener heard the local bind's 'listening'"));
    server.on('listening', late);
    const lateOnce = sinon.spy();
    server.once('listening', lateOnce);
    await up;
    await new Promise((r) => setImmediate(r));
    assert.equal(late.callCount, 1);
    assert.equal(lateOnce.callCount, 1);
    assert.equal(server.listenerCount('listening'), 1, 'the once listener is gone, the other stays');
    assert.ok(!Object.prototype.hasOwnProperty.call(server, 'emit'), 'the server is left as it was');
    assert.equal(server.listenerCount('newListener'), 0);
    server.close();
  });

  it("a plugin that waits for the local bind from outside torcon's work still gets its 'listening' (no hang)", async () => {
    let bindFromOutside: (() => void) | undefined;
    behaviour = (server) =>
      new Promise((resolve) => {
        bindFromOutside = () => {
          server.once('listening', () => resolve({ address: 'example:1', close: async () => undefined }));
          server.listen(0, '127.0.0.1');
        };
      });
    const server = net.createServer();
    const up = new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
    await new Promise((r) => setTimeout(r, 5));
    bindFromOutside!(); // from the test's own context: torcon cannot tell this listener is the plugin's
    await up;
    assert.equal(server.torconEndpoint?.address, 'example:1');
    server.close();
  });

  it("a failed local bind is one 'error' event, torcon's typed one, whenever the listener was added", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      behaviour = async (server) => {
        await new Promise((r) => setTimeout(r, 20));
        await listenServer(server, { host: '127.0.0.1', port }, `listening on 127.0.0.1:${port}`);
        return { address: 'never', close: async () => undefined };
      };
      const server = net.createServer();
      const early: unknown[] = [];
      const late: unknown[] = [];
      server.on('error', (e) => early.push(e));
      server.listen(`${PREFIX}:1`);
      await new Promise((r) => setTimeout(r, 5));
      server.on('error', (e) => late.push(e));
      await new Promise((r) => setTimeout(r, 60));
      for (const seen of [early, late]) {
        assert.equal(seen.length, 1, `errors heard: ${seen.map((e) => (e as { code?: string }).code).join(', ')}`);
        assert.equal((seen[0] as { code?: string }).code, 'TOR_ENDPOINT_LISTEN');
        assert.equal(((seen[0] as Error).cause as { code?: string }).code, 'EADDRINUSE');
      }
    } finally {
      busy.close();
    }
  });

  it('takes listen({ port }) and listen({ path }) with an endpoint string, as the string form; other options ignored', async () => {
    const seen: string[] = [];
    behaviour = async (server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      seen.push((server.address() as net.AddressInfo).address);
      return { address: `example:${seen.length}`, close: async () => undefined };
    };
    for (const options of [
      { port: `${PREFIX}:1` },
      { port: `${PREFIX}:1`, host: '0.0.0.0', backlog: 7, exclusive: true, ipv6Only: false },
      { path: `${PREFIX}:1`, readableAll: true },
    ]) {
      const server = net.createServer();
      const listening = sinon.spy();
      server.on('listening', listening);
      const returned = await new Promise<net.Server>((resolve) => {
        const r = server.listen(options, () => resolve(r));
      });
      assert.equal(returned, server, JSON.stringify(options));
      assert.equal(server.torconEndpoint?.address, `example:${seen.length}`, JSON.stringify(options));
      assert.equal(listening.callCount, 1, JSON.stringify(options));
      server.close();
    }
    assert.deepEqual(seen, ['127.0.0.1', '127.0.0.1', '127.0.0.1'], 'host 0.0.0.0 did not change where the endpoint bound');
  });

  it('leaves options objects without an endpoint string to Node, and a numeric port wins over a path as in Node', async () => {
    const calls = sinon.spy();
    behaviour = async () => {
      calls();
      throw new Error('not expected');
    };
    for (const options of [{ port: 0, host: '127.0.0.1' }, { port: 0, host: '127.0.0.1', path: `${PREFIX}:1` }]) {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(options, resolve));
      assert.ok((server.address() as net.AddressInfo).port > 0);
      assert.equal(server.torconEndpoint, undefined);
      await new Promise((r) => server.close(r));
    }
    assert.equal(calls.callCount, 0);
    const server = net.createServer();
    assert.equal(endpointListenDescription(server, [{ port: `${PREFIX}:1` }]), `${PREFIX}:1`);
    assert.equal(endpointListenDescription(server, [{ path: `${PREFIX}:2` }, () => undefined]), `${PREFIX}:2`);
    assert.equal(endpointListenDescription(server, [`${PREFIX}:3`, '0.0.0.0']), `${PREFIX}:3`);
    for (const args of [[{ port: 8080, path: `${PREFIX}:1` }], [{ port: undefined, path: `${PREFIX}:1` }], [{ path: '/tmp/x.sock' }], [{ fd: 3, port: `${PREFIX}:1` }], [{ handle: {}, path: `${PREFIX}:1` }], [{ port: 'nosuchprefix:80' }], [{}], [null], []]) {
      assert.equal(endpointListenDescription(server, args), undefined, JSON.stringify(args));
    }
  });

  it("an options object's signal closes the server and the endpoint when aborted, as in Node", async () => {
    const closed = sinon.spy();
    behaviour = async (server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { address: 'example:1', close: async () => closed() };
    };
    const controller = new AbortController();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ port: `${PREFIX}:1`, signal: controller.signal }, resolve));
    const serverClosed = new Promise((resolve) => server.once('close', resolve));
    controller.abort();
    await serverClosed;
    await new Promise((r) => setImmediate(r));
    assert.equal(server.listening, false);
    assert.equal(closed.callCount, 1);
  });

  it("torcon's own listen for the local side goes to Node even when its path looks like an endpoint string", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-hook-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      behaviour = async (server) => {
        // A unix: endpoint whose relative path reads like an endpoint string.
        await listenServer(server, { path: `${PREFIX}:sock` }, 'listening on a unix socket');
        return { address: String(server.address()), close: async () => undefined };
      };
      const server = net.createServer();
      const errors = sinon.spy();
      server.on('error', errors);
      await new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
      assert.equal(errors.callCount, 0);
      assert.equal(server.address(), `${PREFIX}:sock`);
      await new Promise((r) => server.close(r));
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warns once of a string shaped like an endpoint with an unknown prefix, and still gives Node the socket path', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-hook-'));
    const cwd = process.cwd();
    process.chdir(dir);
    const warn = sinon.stub(process, 'emitWarning');
    const listenOn = async (arg: unknown): Promise<net.Server> => {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(arg, resolve);
      });
      return server;
    };
    try {
      const typo = await listenOn('onoin:80');
      assert.equal(typo.address(), 'onoin:80', 'a legitimate (if odd) socket path still works');
      assert.equal(typo.torconEndpoint, undefined);
      assert.equal(warn.callCount, 1);
      const [message, options] = warn.firstCall.args as [string, { code: string; type: string }];
      assert.equal(options.code, 'TORCON_NOT_AN_ENDPOINT');
      assert.match(message, /^listen\("onoin:80"\) goes to Node as a unix socket path: "onoin:" is no server endpoint \(known: .*onion.*\)\. Did you mean onion:80\? Write \.\/onoin:80 /);
      await new Promise((r) => typo.close(r));
      (await listenOn('onoin:80')).close(); // the same string again: no second warning
      assert.equal(warn.callCount, 1);

      const unknown = await listenOn({ path: 'worker:1:x=y' });
      assert.equal(warn.callCount, 2);
      assert.doesNotMatch(warn.secondCall.args[0] as string, /Did you mean/, 'nothing near "worker"');
      unknown.close();

      // Not warned: the explicit path form, a path that exists, ports, absolute paths, other shapes.
      await writeFile('tpc:8080', '');
      for (const arg of ['./tpc:81', 'tpc:8080', '/nonexistent-dir/onoin:80', 'onoin:http', 'onoin', '1:2']) {
        const server = net.createServer();
        server.on('error', () => undefined);
        server.listen(arg);
        server.close();
      }
      (await listenOn({ port: 0, host: '127.0.0.1' })).close();
      (await listenOn(0)).close();
      await new Promise((r) => setImmediate(r));
      assert.equal(warn.callCount, 2, warn.args.map((a) => String(a[0])).join('\n'));
    } finally {
      warn.restore();
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("turns a failure into an 'error' event and no 'listening'", async () => {
    const failure = new Error('tor is unreachable');
    behaviour = async () => {
      throw failure;
    };
    const server = net.createServer();
    const listening = sinon.spy();
    server.on('listening', listening);
    const err = await new Promise<unknown>((resolve) => {
      server.once('error', resolve);
      server.listen(`${PREFIX}:1`, listening);
    });
    // The plugin's own error, wrapped as listen() wraps every plugin's (the code is stable).
    assert.ok(err instanceof EndpointListenError);
    assert.equal(err.cause, failure);
    assert.equal(listening.callCount, 0);
    assert.equal(server.listenerCount('listening'), 1, 'the listeners set aside are given back');
  });

  it("a second listen on an endpoint: thrown once the server listens (as Node's throws), an 'error' while the first is under way; the first endpoint stays the only one", async () => {
    let made = 0;
    behaviour = async (server) => {
      made++;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { address: `example:${made}`, close: async () => undefined };
    };
    const server = net.createServer();
    const errors: unknown[] = [];
    server.on('error', (e) => errors.push(e));
    const up = new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
    server.listen(`${PREFIX}:2`); // while the first is under way
    await up;
    // Once it is up: thrown, as Node's own listen() throws ERR_SERVER_ALREADY_LISTEN.
    assert.throws(
      () => server.listen(`${PREFIX}:3`),
      (e: unknown) => e instanceof EndpointListenError && e.systemCode === 'ERR_SERVER_ALREADY_LISTEN' && /already listening/.test(e.message),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(made, 1);
    assert.equal(errors.length, 1, "the one made while the first was under way, as an 'error'");
    assert.equal((errors[0] as { code?: string }).code, 'TOR_ENDPOINT_LISTEN');
    assert.equal(server.torconEndpoint?.address, 'example:1');
    server.close();
    await new Promise((r) => setImmediate(r));
    // A closed server has no endpoint any more, as its address() is null.
    assert.equal(server.address(), null);
    assert.equal(server.torconEndpoint, undefined);
    assert.equal(server.onionAddress, undefined);
  });

  it("the application's own 'close' listeners, added before listen(), find onionAddress and torconEndpoint gone", async () => {
    const closed = sinon.spy();
    behaviour = async (server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      // An onion service as the hook sees one: an endpoint with a hostname.
      return { address: 'example.onion:80', hostname: 'example.onion', close: async () => closed() } as ListeningEndpoint;
    };
    const server = net.createServer();
    const seen: Array<[unknown, unknown, unknown]> = [];
    server.on('close', () => seen.push([server.address(), server.onionAddress, server.torconEndpoint]));
    await new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
    assert.equal(server.onionAddress, 'example.onion:80');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.deepEqual(seen, [[null, undefined, undefined]], "a closed server shows no endpoint, in its 'close' listeners too");
    await new Promise((r) => setImmediate(r));
    assert.equal(closed.callCount, 1);
  });

  it("a second listen while the first one's local bind is under way: the error is the app's, the first listen still comes up", async () => {
    // As tcp:0 does: the plugin waits for the local bind with listenServer, whose 'error' listener
    // must not take the second call's error for a failed bind.
    behaviour = async (server) => {
      await listenServer(server, { host: '127.0.0.1', port: 0 }, 'listening on 127.0.0.1:0');
      return { address: 'example:1', close: async () => undefined };
    };
    const server = net.createServer();
    const errors: unknown[] = [];
    server.on('error', (e) => errors.push(e));
    const up = new Promise<void>((resolve) => server.listen(`${PREFIX}:1`, resolve));
    server.listen(`${PREFIX}:2`); // in the same tick, as an app calling listen() twice does
    await up;
    await new Promise((r) => setImmediate(r));
    assert.equal(server.torconEndpoint?.address, 'example:1');
    assert.equal(server.listening, true);
    assert.equal(errors.length, 1, 'one error, for the second call');
    assert.match((errors[0] as Error).message, /already listening/);
    server.close();
  });

  it('close() right after listen(): no ERR_SERVER_NOT_RUNNING, and the endpoint is closed once it is up', async () => {
    const closed = sinon.spy();
    behaviour = async (server) => {
      await new Promise((r) => setTimeout(r, 20));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { address: 'example:1', close: async () => closed() };
    };
    const server = net.createServer();
    const listening = sinon.spy();
    server.on('listening', listening);
    server.listen(`${PREFIX}:1`);
    const closeResult = await new Promise<unknown>((resolve) => server.close((err) => resolve(err)));
    assert.equal(closeResult, undefined, 'the close callback gets no error');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.listening, false);
    assert.equal(closed.callCount, 1, 'the endpoint is closed');
    assert.equal(listening.callCount, 0, "no 'listening' for a server the app closed");
  });

  it("an endpoint that serves without making the server itself listen comes up: 'listening' and the callback, not closed at once", async () => {
    const closed = sinon.spy();
    const beside = net.createServer();
    behaviour = async () => {
      // As a plugin may do (tls: did): a server beside the application's listens; the app's does not.
      await new Promise<void>((resolve) => beside.listen(0, '127.0.0.1', resolve));
      return { address: 'example:1', close: async () => closed() };
    };
    const server = net.createServer();
    const listening = sinon.spy();
    server.on('listening', listening);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`${PREFIX}:1`, resolve);
    });
    assert.equal(listening.callCount, 1);
    assert.equal(server.torconEndpoint?.address, 'example:1');
    assert.equal(closed.callCount, 0, 'the endpoint stays up');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise((r) => setImmediate(r));
    assert.equal(closed.callCount, 1, "the app's close() closes the endpoint");
    beside.close();
  });

  it("a tls: server: one 'listening', address(), TLS on its own port, close(cb) without an error, a second listen thrown", async function () {
    this.timeout(20_000);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-hook-tls-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const server = net.createServer((s) => s.end('over tls'));
      const listening = sinon.spy();
      server.on('listening', listening);
      const errors: Error[] = [];
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(`tls:0:privateKey=${key}:certKey=${cert}`, resolve);
      });
      server.on('error', (err) => errors.push(err));
      assert.equal(listening.callCount, 1);
      const { port } = server.address() as net.AddressInfo;
      assert.equal(server.torconEndpoint?.address, `127.0.0.1:${port}`);
      const got = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(cert) }, () => c.once('data', (d: Buffer) => resolve(d.toString())));
        c.on('error', reject);
      });
      assert.equal(got, 'over tls');
      assert.throws(() => server.listen(`tls:0:privateKey=${key}:certKey=${cert}`), /already listening/);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(errors, []);
      const closeError = await new Promise<Error | undefined>((resolve) => server.close(resolve));
      assert.equal(closeError, undefined);
      assert.equal(listening.callCount, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('close() while the endpoint is being published, after the local bind: the endpoint is closed once up, no listening', async () => {
    const closed = sinon.spy();
    let bound!: () => void;
    const boundLocally = new Promise<void>((r) => (bound = r));
    let publish!: () => void;
    const published = new Promise<void>((r) => (publish = r));
    behaviour = async (server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      bound();
      await published;
      return { address: 'example:1', close: async () => closed() };
    };
    const server = net.createServer();
    const listening = sinon.spy();
    server.on('listening', listening);
    server.listen(`${PREFIX}:1`);
    await boundLocally;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    publish();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closed.callCount, 1, 'the endpoint is closed');
    assert.equal(listening.callCount, 0, "no 'listening' for a server the app closed");
  });
});
