import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { TorAuthError, TorError, TorNotAvailableError } from '../../src/errors.js';
import { TorProvider } from '../../src/di/tor-provider.js';
import { pluginRegistry } from '../../src/di/container.js';
import { connect as connectWith } from '../../src/endpoints/connect.js';
import { SocksOnlyTor } from '../../src/tor/socks-only-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { ConnectTorOptions } from '../../src/tor/connect-tor.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';
import { closedPort } from '../support/closed-port.js';

/**
 * `connect("tor:...")` with no tor named and no control port found goes to tor's SOCKS port alone
 * (the usual system tor has no control port); a named tor is never replaced by another.
 */

const NOTHING_AT_CONTROL = ['unix:/run/tor/control (ENOENT)', 'tcp:127.0.0.1:9051 (ECONNREFUSED)', 'tcp:127.0.0.1:9151 (ECONNREFUSED)'];

function noControlPort(seen: ConnectTorOptions[]): (opts: ConnectTorOptions) => Promise<Tor> {
  return async (opts) => {
    seen.push(opts);
    throw new TorNotAvailableError(opts.control ? `cannot reach tor's control port at ${opts.control}` : 'no running tor found', opts.control ? [`${opts.control} (ECONNREFUSED)`] : NOTHING_AT_CONTROL);
  };
}


async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  socket.write(text);
  const [data] = (await once(socket, 'data')) as [Buffer];
  return data.toString();
}

describe('TorProvider.forStreams: tor\'s SOCKS port when no control port is found', () => {
  let echo: net.Server;
  let echoPort: number;
  let fake: FakeSocksServer;
  let providers: TorProvider[];

  beforeEach(async () => {
    providers = [];
    echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = (echo.address() as net.AddressInfo).port;
    fake = await startFakeSocksServer({ answer: () => ({ forwardTo: echoPort }) });
  });
  afterEach(async () => {
    await Promise.all(providers.map((p) => p.closeAll()));
    await fake.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  function provider(opts: ConstructorParameters<typeof TorProvider>[0]): TorProvider {
    const p = new TorProvider(opts);
    providers.push(p);
    return p;
  }
  const connectThrough = (p: TorProvider, description: string) =>
    connectWith(description, { registry: pluginRegistry(), getTor: (control) => p.forStreams(control) });

  it('streams through the usual SOCKS port, the host sent to tor as a name', async () => {
    const seen: ConnectTorOptions[] = [];
    const p = provider({ connect: noControlPort(seen), env: {}, fallbackSocksPorts: [await closedPort(), fake.port] });
    const socket = await connectThrough(p, 'tor:example.com:80');
    try {
      assert.equal(await roundTrip(socket, 'ping'), 'ping');
    } finally {
      socket.destroy();
    }
    assert.equal(seen.length, 1, 'the control ports were searched first');
    assert.equal(seen[0]!.control, undefined);
    assert.equal(fake.connections.at(-1)!.request!.host, 'example.com');
    assert.equal(fake.connections.at(-1)!.request!.addressType, 3);
    assert.equal(fake.connections.at(-1)!.request!.port, 80);
  });

  it('takes the endpoint\'s socksPort and its isolation', async () => {
    const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [await closedPort()] });
    const socket = await connectThrough(p, `tor:127.0.0.1:7:socksPort=${fake.port}:isolate=alice`);
    socket.destroy();
    const request = fake.connections.at(-1)!.request!;
    assert.equal(request.host, '127.0.0.1');
    assert.equal(request.username, 'torcon-isolate');
    assert.equal(request.password, 'alice');
  });

  it('never replaces a tor named by $TOR_CONTROL', async () => {
    const p = provider({ connect: noControlPort([]), env: { TOR_CONTROL: 'tcp:127.0.0.1:1' }, fallbackSocksPorts: [fake.port] });
    await assert.rejects(connectThrough(p, 'tor:example.com:80'), (err: unknown) => {
      assert.ok(err instanceof TorNotAvailableError);
      assert.match(err.message, /tcp:127\.0\.0\.1:1/);
      assert.doesNotMatch(err.message, /SOCKS/);
      return true;
    });
    assert.equal(fake.connections.length, 0);
  });

  it('never replaces a tor named by control=', async () => {
    const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [fake.port] });
    await assert.rejects(connectThrough(p, 'tor:example.com:80:control=9999'), (err: unknown) => err instanceof TorNotAvailableError && /9999/.test(err.message));
    assert.equal(fake.connections.length, 0);
  });

  it('does not go around a control port that refused authentication', async () => {
    const p = provider({
      connect: async () => {
        throw new TorAuthError('password refused');
      },
      env: {},
      fallbackSocksPorts: [fake.port],
    });
    await assert.rejects(connectThrough(p, 'tor:example.com:80'), TorAuthError);
    assert.equal(fake.connections.length, 0);
  });

  it('uses a tor found by its control port', async () => {
    const calls: unknown[] = [];
    const found = {
      control: { unref: () => undefined, once: () => undefined },
      connect: async (target: unknown) => {
        calls.push(target);
        return new net.Socket();
      },
    } as unknown as Tor;
    const p = provider({ connect: async () => found, env: {}, fallbackSocksPorts: [fake.port] });
    (await connectThrough(p, 'tor:example.com:80')).destroy();
    assert.deepEqual(calls, [{ host: 'example.com', port: 80 }]);
    assert.equal(fake.connections.length, 0);
  });

  it('names every place it looked when no SOCKS port answers either', async () => {
    const closed = await closedPort();
    const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [closed] });
    await assert.rejects(connectThrough(p, 'tor:example.com:80'), (err: unknown) => {
      assert.ok(err instanceof TorNotAvailableError);
      assert.equal(err.code, 'TOR_NOT_AVAILABLE');
      assert.deepEqual(err.tried, [...NOTHING_AT_CONTROL, `SOCKS 127.0.0.1:${closed} (nothing accepts connections)`]);
      assert.match(err.message, /^no running tor found: no control port, and no SOCKS port; tried: unix:\/run\/tor\/control/);
      return true;
    });
  });

  it('says which SOCKS port failed when the endpoint named one', async () => {
    const closed = await closedPort();
    const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [fake.port] });
    await assert.rejects(connectThrough(p, `tor:example.com:80:socksPort=${closed}`), (err: unknown) => {
      assert.ok(err instanceof TorError);
      assert.equal(err.code, 'TOR_SOCKS_UNREACHABLE');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${closed}`));
      return true;
    });
    assert.equal(fake.connections.length, 0);
  });

  it('looks for the usual ports at the endpoint\'s socksHostname (tor in another container, say)', async () => {
    const elsewhere = await startFakeSocksServer({ host: '127.0.0.2', answer: () => ({ forwardTo: echoPort }) });
    try {
      const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [elsewhere.port] });
      const socket = await connectThrough(p, 'tor:example.com:80:socksHostname=127.0.0.2');
      try {
        assert.equal(await roundTrip(socket, 'there'), 'there');
      } finally {
        socket.destroy();
      }
      assert.equal(elsewhere.connections.at(-1)!.request!.host, 'example.com');
      // Not at 127.0.0.1, where nothing listens on that port: the error names where it looked.
      await assert.rejects(connectThrough(p, 'tor:example.com:80'), (err: unknown) =>
        err instanceof TorNotAvailableError && err.tried.includes(`SOCKS 127.0.0.1:${elsewhere.port} (nothing accepts connections)`));
      await elsewhere.close();
      await assert.rejects(connectThrough(p, 'tor:example.com:80:socksHostname=127.0.0.2'), (err: unknown) =>
        err instanceof TorNotAvailableError && err.tried.includes(`SOCKS 127.0.0.2:${elsewhere.port} (nothing accepts connections)`));
    } finally {
      await elsewhere.close().catch(() => undefined);
    }
  });

  it('after close(), every call is TOR_SOCKS_CLOSED, whatever its socksHostname', async () => {
    const only = new SocksOnlyTor(new TorNotAvailableError('no running tor found', NOTHING_AT_CONTROL), [fake.port]);
    only.close();
    for (const opts of [{}, { socksHostname: '127.0.0.3' }]) {
      await assert.rejects(only.connect({ host: 'example.com', port: 80 }, opts), (err: unknown) => err instanceof TorError && err.code === 'TOR_SOCKS_CLOSED');
    }
    assert.equal(fake.connections.length, 0);
  });

  it('refuses an onion service, which needs the control port', async () => {
    const only = new SocksOnlyTor(new TorNotAvailableError('no running tor found', NOTHING_AT_CONTROL), [fake.port]);
    try {
      await assert.rejects(only.createOnionService(), (err: unknown) => {
        assert.ok(err instanceof TorNotAvailableError);
        assert.match(err.message, /onion service needs tor's control port/);
        assert.deepEqual(err.tried, NOTHING_AT_CONTROL);
        return true;
      });
    } finally {
      only.close();
    }
  });

  it('shares one SOCKS-only way between calls, as it shares handles', async () => {
    const p = provider({ connect: noControlPort([]), env: {}, fallbackSocksPorts: [fake.port] });
    const [a, b] = await Promise.all([p.forStreams(), p.forStreams()]);
    assert.ok(a instanceof SocksOnlyTor);
    assert.equal(a, b);
  });
});

describe('TorProvider.get: launching a tor when none is found', () => {
  function fakeTor(name: string): Tor {
    return { name, control: { unref: () => undefined, once: () => undefined }, close: async () => undefined } as unknown as Tor;
  }

  it('a caller that may launch is not failed by a search a caller that may not started (connect and listen at once)', async () => {
    let searches = 0;
    let launches = 0;
    const launched = fakeTor('launched');
    const p = new TorProvider({
      connect: async () => {
        searches++;
        await new Promise((r) => setTimeout(r, 20));
        throw new TorNotAvailableError('no running tor found', NOTHING_AT_CONTROL);
      },
      launch: async () => {
        launches++;
        return launched;
      },
      env: {},
      fallbackSocksPorts: [await closedPort()],
    });
    try {
      const [forStream, forServer, forServer2] = await Promise.all([p.forStreams(), p.get({ launchIfMissing: true }), p.get({ launchIfMissing: true })]);
      assert.ok(forStream instanceof SocksOnlyTor, 'the stream caller found no tor when it looked');
      assert.equal(forServer, launched);
      assert.equal(forServer2, launched);
      assert.equal(searches, 1, 'one search shared by all three');
      assert.equal(launches, 1, 'one launch shared by both servers');
      assert.equal(await p.get(), launched, 'later callers share the launched tor');
      assert.equal(await p.forStreams(), launched);
    } finally {
      await p.closeAll();
    }
  });

  it('a failed launch fails its callers and is tried again by the next one', async () => {
    let launches = 0;
    const p = new TorProvider({
      connect: async () => {
        throw new TorNotAvailableError('no running tor found', NOTHING_AT_CONTROL);
      },
      launch: async () => {
        if (++launches === 1) throw new Error('tor binary not found');
        return fakeTor('second');
      },
      env: {},
    });
    await assert.rejects(p.get({ launchIfMissing: true }), /tor binary not found/);
    assert.equal(((await p.get({ launchIfMissing: true })) as unknown as { name: string }).name, 'second');
    assert.equal(launches, 2);
    await p.closeAll();
  });
});
