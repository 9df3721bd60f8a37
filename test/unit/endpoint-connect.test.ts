import assert from 'node:assert/strict';
import net from 'node:net';
import sinon from 'sinon';
import {
  EndpointArgumentError,
  EndpointSyntaxError,
  TorAbortError,
  TorInvalidValueError,
  TorNotAvailableError,
  TorSocksError,
  TorTimeoutError,
  UnknownEndpointError,
} from '../../src/errors.js';
import { connect as connectWith } from '../../src/endpoints/connect.js';
import { listen as listenWith } from '../../src/endpoints/listen.js';
import type { EndpointCallOptions } from '../../src/endpoints/endpoint-options.js';
import { pluginRegistry } from '../../src/di/container.js';
import { registerPlugin, connect as publicConnect } from '../../src/di/endpoint-api.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import type { EndpointContext, TorLike } from '../../src/plugins/plugin-types.js';
import type { OnionService } from '../../src/onion/onion-types.js';
import type { ParsedEndpoint } from '../../src/util/endpoint-grammar.js';

// The endpoints layer takes its registry from the caller (the DI layer passes the container's).
const builtins = createDefaultRegistry();
const connect = (d: string, o: Partial<EndpointCallOptions> = {}) => connectWith(d, { registry: builtins, ...o });
const listen = (server: net.Server, d: string, o: Partial<EndpointCallOptions> = {}) =>
  listenWith(server, d, { registry: builtins, ...o });

const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';

interface FakeTor extends TorLike {
  connect: sinon.SinonStub;
  createOnionService: sinon.SinonStub;
}

function fakeTor(): { tor: FakeTor; socket: net.Socket; service: OnionService } {
  const socket = new net.Socket();
  const service: OnionService = {
    address: `${ONION}:80`,
    hostname: ONION,
    serviceId: ONION.slice(0, 56),
    close: async () => undefined,
  };
  const tor = {
    connect: sinon.stub().resolves(socket),
    createOnionService: sinon.stub().resolves(service),
  } as FakeTor;
  return { tor, socket, service };
}

describe('connect/listen dispatch with tor: and onion:', () => {
  let socketConnect: sinon.SinonStub;
  let serverListen: sinon.SinonStub;

  beforeEach(() => {
    // Nothing in this suite may touch the network; any attempt fails the test loudly.
    socketConnect = sinon.stub(net.Socket.prototype, 'connect').throws(new Error('a real socket was opened'));
    serverListen = sinon.stub(net.Server.prototype, 'listen').throws(new Error('a real server listened'));
  });
  afterEach(() => sinon.restore());

  it('hands tor: host, port and options to the tor handle', async () => {
    const { tor, socket } = fakeTor();
    const got = await connect('tor:example.com:443:tls=true:isolate=abc:timeout=5', { tor });
    assert.equal(got, socket);
    sinon.assert.calledOnceWithExactly(tor.connect, { host: 'example.com', port: 443 }, { tls: true, isolate: 'abc', timeoutMs: 5000 });
    sinon.assert.notCalled(socketConnect);
  });

  it('passes the caller signal and SOCKS settings through', async () => {
    const { tor } = fakeTor();
    const ac = new AbortController();
    await connect(`tor:${ONION}:80:socksPort=unix\\:/run/tor/socks:username=u:password=p`, { tor, signal: ac.signal });
    sinon.assert.calledOnceWithExactly(
      tor.connect,
      { host: ONION, port: 80 },
      { socksPort: '/run/tor/socks', username: 'u', password: 'p', signal: ac.signal },
    );
  });

  it('uses the tor that control= names, not the one passed in', async () => {
    const passed = fakeTor();
    const named = fakeTor();
    const getTor = sinon.stub().resolves(named.tor);
    await connect('tor:example.com:80:control=tcp\\:127.0.0.1\\:9051', { tor: passed.tor, getTor });
    sinon.assert.calledOnceWithExactly(getTor, 'tcp:127.0.0.1:9051');
    sinon.assert.calledOnce(named.tor.connect);
    sinon.assert.notCalled(passed.tor.connect);
  });

  it('asks getTor for the default tor when no tor is passed', async () => {
    const { tor } = fakeTor();
    const getTor = sinon.stub().resolves(tor);
    await connect('tor:example.com:80', { getTor });
    sinon.assert.calledOnce(getTor);
    assert.equal(getTor.firstCall.args[0], undefined);
    sinon.assert.calledOnce(tor.connect);
  });

  it('refuses a tor option that is no Tor handle with TOR_INVALID_VALUE, before any I/O; null is none', async () => {
    for (const bad of [5, 'tcp:127.0.0.1:9051', {}, { connect: 'x' }]) {
      await assert.rejects(connect('tor:example.com:80', { tor: bad as never }), (err: unknown) => err instanceof TorInvalidValueError && err.field === 'tor', String(bad));
      await assert.rejects(listen(new net.Server(), 'onion:80', { tor: bad as never }), (err: unknown) => err instanceof TorInvalidValueError && err.field === 'tor', String(bad));
    }
    await assert.rejects(connect('tor:example.com:80', { tor: null as never }), TorNotAvailableError);
    sinon.assert.notCalled(socketConnect);
    sinon.assert.notCalled(serverListen);
  });

  it('fails with TorNotAvailableError, never a plain connection, when there is no tor', async () => {
    await assert.rejects(connect('tor:example.com:80'), (err: unknown) => {
      assert.ok(err instanceof TorNotAvailableError);
      assert.equal(err.code, 'TOR_NOT_AVAILABLE');
      return true;
    });
    const server = new net.Server();
    await assert.rejects(listen(server, 'onion:80:control=9051'), (err: unknown) => {
      assert.ok(err instanceof TorNotAvailableError);
      assert.match(err.message, /tcp:127\.0\.0\.1:9051/);
      return true;
    });
    sinon.assert.notCalled(socketConnect);
    sinon.assert.notCalled(serverListen);
  });

  it('rejects bad tor: strings before asking for any tor', async () => {
    const { tor } = fakeTor();
    const getTor = sinon.stub().resolves(tor);
    await assert.rejects(connect('tor:example.com:80:isolate=a:username=b', { tor, getTor }), EndpointArgumentError);
    await assert.rejects(connect('tor:example.com:99999', { tor, getTor }), EndpointArgumentError);
    await assert.rejects(connect('tor:example.com:80\\', { tor, getTor }), EndpointSyntaxError);
    sinon.assert.notCalled(tor.connect);
    sinon.assert.notCalled(getTor);
  });

  it('rejects with TorAbortError and touches no tor when the signal is already aborted', async () => {
    const { tor } = fakeTor();
    await assert.rejects(connect('tor:example.com:80', { tor, signal: AbortSignal.abort() }), TorAbortError);
    sinon.assert.notCalled(tor.connect);
  });

  it('an abort before anything started names the endpoint in plain words ("the onion: endpoint")', async () => {
    const { tor } = fakeTor();
    await assert.rejects(connect('tor:example.com:80', { tor, signal: AbortSignal.abort() }), /^TorAbortError: connecting to the tor: endpoint was aborted$/);
    await assert.rejects(listen(net.createServer(), 'onion:80', { tor, signal: AbortSignal.abort() }), /^TorAbortError: listening on the onion: endpoint was aborted$/);
  });

  it('stops waiting for getTor when aborted', async () => {
    const ac = new AbortController();
    const getTor = (): Promise<TorLike> => new Promise(() => undefined); // never resolves
    const pending = connect('tor:example.com:80', { getTor, signal: ac.signal });
    ac.abort();
    await assert.rejects(pending, TorAbortError);
  });

  it('timeout= bounds the search for tor too (a control port that accepts and then says nothing)', async () => {
    const getTor = (): Promise<TorLike> => new Promise(() => undefined); // never resolves
    await assert.rejects(connect('tor:example.com:80:timeout=0.05', { getTor }), (err: unknown) => {
      assert.ok(err instanceof TorTimeoutError);
      assert.equal(err.code, 'TOR_TIMEOUT');
      assert.match(err.message, /^finding tor timed out after 50 ms/);
      return true;
    });
  });

  it('timeout= is one budget: the stream gets what the search for tor left of it', async () => {
    const { tor } = fakeTor();
    const getTor = sinon.stub().resolves(tor);
    await connect('tor:example.com:80:timeout=5', { getTor });
    const { timeoutMs } = tor.connect.firstCall.args[1] as { timeoutMs: number };
    assert.ok(timeoutMs >= 0 && timeoutMs <= 5000, `timeoutMs ${timeoutMs}`);
  });

  it('passes the tor handle errors through unchanged', async () => {
    const { tor } = fakeTor();
    const failure = new TorSocksError('TOR_SOCKS_HOST_UNREACHABLE', 'host unreachable', 4);
    tor.connect.rejects(failure);
    await assert.rejects(connect('tor:example.com:80', { tor }), (err: unknown) => err === failure);
  });

  it('creates an onion service with the parsed options and the server', async () => {
    const { tor, service } = fakeTor();
    const server = new net.Server();
    const got = await listen(server, 'onion:80:localPort=8080:privateKeyFile=/k:clientAuth=alice:awaitUpload=false', { tor });
    assert.equal(got, service);
    sinon.assert.calledOnceWithExactly(tor.createOnionService, {
      ports: [{ virtualPort: 80 }],
      localPort: 8080,
      privateKeyFile: '/k',
      clientAuth: ['alice'],
      awaitUpload: false,
      server,
    });
    sinon.assert.notCalled(serverListen);
  });

  it('rejects bad onion: strings before asking for any tor', async () => {
    const { tor } = fakeTor();
    await assert.rejects(listen(new net.Server(), 'onion:80:version=2', { tor }), /removed from tor/);
    await assert.rejects(listen(new net.Server(), 'onion:80:privateKey=a:privateKeyFile=b', { tor }), EndpointArgumentError);
    sinon.assert.notCalled(tor.createOnionService);
  });

  it('refuses client-only types for listen and server-only types for connect', async () => {
    const { tor } = fakeTor();
    await assert.rejects(listen(new net.Server(), 'tor:example.com:80', { tor }), (err: unknown) => {
      assert.ok(err instanceof UnknownEndpointError);
      assert.deepEqual(err.known, ['onion', 'tcp', 'tls', 'unix']);
      return true;
    });
    await assert.rejects(connect('onion:80', { tor }), (err: unknown) => {
      assert.ok(err instanceof UnknownEndpointError);
      assert.deepEqual(err.known, ['tcp', 'tls', 'tor', 'unix']);
      return true;
    });
    await assert.rejects(connect('i2p:foo:80', { tor }), /unknown client endpoint type "i2p"; known: tcp, tls, tor, unix/);
    sinon.assert.notCalled(tor.connect);
    sinon.assert.notCalled(tor.createOnionService);
  });

  it('uses the registry passed in, and the DI registry for registerPlugin and the public connect', async () => {
    const seen: Array<{ endpoint: ParsedEndpoint; ctx: EndpointContext }> = [];
    const socket = new net.Socket();
    const plugin = {
      prefix: 'test-echo',
      connect: async (endpoint: ParsedEndpoint, ctx: EndpointContext) => {
        seen.push({ endpoint, ctx });
        return socket;
      },
    };
    await assert.rejects(connect('test-echo:x', { registry: createDefaultRegistry() }), UnknownEndpointError);
    const custom = createDefaultRegistry([plugin]);
    assert.equal(await connect('Test-Echo:a:k=v', { registry: custom }), socket);
    assert.deepEqual(seen[0]!.endpoint, { prefix: 'test-echo', args: ['a'], options: { k: 'v' } });
    assert.equal(seen[0]!.ctx.registry, custom);

    registerPlugin(plugin);
    assert.equal(await publicConnect('test-echo:b'), socket);
    assert.equal(seen[1]!.ctx.registry, pluginRegistry());
    assert.throws(() => registerPlugin(plugin), /already registered/);
  });
});
