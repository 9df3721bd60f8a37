import assert from 'node:assert/strict';
import net from 'node:net';
import type { TorConfig } from '../../src/config/tor-config.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { openTorControl } from '../../src/control/transport.js';
import { EndpointListenError, TorError } from '../../src/errors.js';
import { listen } from '../../src/endpoints/listen.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { ListeningEndpoint } from '../../src/plugins/plugin-types.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import type { TorState } from '../../src/state/tor-state.js';
import { Tor } from '../../src/tor/tor.js';
import { FakeControlServer } from '../support/fake-control-server.js';

/**
 * Explicit resource management: every handle with a `close()` closes when an `await using` (or,
 * for the synchronous SOCKS client, `using`) block it was declared in is left, normally or by a
 * throw. TypeScript compiles these blocks down for Node 20; Node 24 runs them as they are.
 */

const FP = '790CDA8DBC6E3EE6A0047D6AED870A7720C5A38A';
const NS_ALL = `r auth0 ${Buffer.from(FP, 'hex').toString('base64').replace(/=+$/, '')} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 127.0.0.1 5000 7000\ns Fast Guard Running Stable Valid\nw Bandwidth=20`;

describe('await using: handles close when their block is left', () => {
  let fake: FakeControlServer;

  beforeEach(async () => {
    fake = await FakeControlServer.start();
    fake.info({
      'ns/all': NS_ALL,
      'circuit-status': [7, 8, 9].map((id) => `${id} BUILT $${FP}~auth0 PURPOSE=GENERAL`).join('\n'),
      'stream-status': '',
      'address-mappings/all': '',
      'entry-guards': '',
      'config/names': 'Nickname String',
      'config/defaults': 'Nickname Unnamed',
      'version': '0.4.9.1',
    });
  });
  afterEach(async () => {
    await fake.close();
  });

  async function openTor(): Promise<{ control: TorControl; tor: Tor }> {
    const { control } = await openTorControl(fake.endpoint);
    return { control, tor: new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint }) };
  }

  it('a Tor handle closes its control connection', async () => {
    const { control, tor } = await openTor();
    {
      await using inBlock = tor;
      assert.equal(await inBlock.control.getInfo('version'), '0.4.9.1');
      assert.equal(control.closed, false);
    }
    assert.equal(control.closed, true);
    await tor.close(); // a later close() is still fine
  });

  it('a Tor handle closes when the block is left by a throw, and the throw is what the caller sees', async () => {
    const { control, tor } = await openTor();
    const err = await (async () => {
      await using inBlock = tor;
      await inBlock.control.getInfo('version');
      throw new Error('the app failed');
    })().catch((e: unknown) => e);
    assert.ok(err instanceof Error && err.message === 'the app failed', String(err));
    assert.equal(control.closed, true);
  });

  it('a TorState and a TorConfig close and leave the connection open; so does a TorControl, itself', async () => {
    const { control, tor } = await openTor();
    try {
      let keptState: TorState | undefined;
      let keptConfig: TorConfig | undefined;
      {
        await using state = await tor.getState();
        await using config = await tor.getConfig();
        keptState = state;
        keptConfig = config;
        assert.equal(state.routers.size, 1);
        assert.equal(typeof (await config.get('Nickname')), 'string');
        assert.equal(config.closed, false);
        // Left in reverse order: the config first, then the state.
      }
      assert.equal(control.closed, false, 'the connection outlives the state and the config');
      assert.equal(keptConfig.closed, true);
      // A closed state refuses further work.
      await assert.rejects(keptState.buildCircuit(), (e: unknown) => e instanceof TorError && e.code === 'TOR_CONTROL_CLOSED');
      {
        await using own = control;
        assert.equal(own.closed, false);
      }
      assert.equal(control.closed, true);
    } finally {
      await tor.close();
    }
  });

  it('a circuit closes (CLOSECIRCUIT) unless it is closed already; tor closing it meanwhile is no error', async () => {
    const { tor } = await openTor();
    try {
      const state = await tor.getState();
      const closes: string[] = [];
      fake.handle(/^CLOSECIRCUIT /, (line) => {
        closes.push(line);
        const id = line.split(' ')[1]!;
        if (id === '7') {
          fake.event('CIRC 7 CLOSED REASON=REQUESTED');
          return ['250 OK'];
        }
        // 8: tor had closed it and said so before the command reached it. 9: tor does not know it
        // and the state was never told: an error worth seeing.
        if (id === '8') fake.event('CIRC 8 CLOSED REASON=FINISHED');
        return [`552 Unknown circuit "${id}"`];
      });
      const [c7, c8, c9] = ['7', '8', '9'].map((id) => state.circuits.get(id)!);
      {
        await using circuit = c7!;
        assert.equal(circuit.status, 'BUILT');
      }
      assert.deepEqual(closes, ['CLOSECIRCUIT 7']);
      await c7!.whenClosed({ timeoutMs: 2000 });
      {
        await using again = c7!; // closed already: nothing is sent
        assert.equal(again.closed, true);
      }
      assert.deepEqual(closes, ['CLOSECIRCUIT 7']);
      {
        await using meanwhile = c8!;
        assert.equal(meanwhile.closed, false);
      }
      assert.equal(c8!.closed, true);
      const err = await (async () => {
        await using unknown = c9!;
        assert.equal(unknown.closed, false);
      })().catch((e: unknown) => e);
      assert.ok(err instanceof TorError && err.code === 'TOR_CONTROL_ERROR', String(err));
      assert.deepEqual(closes, ['CLOSECIRCUIT 7', 'CLOSECIRCUIT 8', 'CLOSECIRCUIT 9']);
    } finally {
      await tor.close();
    }
  });

  it('a TorSocksClient (using, synchronous) refuses streams after its block', async () => {
    const socks = new TorSocksClient(null, { socksPort: 9 });
    {
      using inBlock = socks;
      assert.equal(typeof inBlock.connect, 'function');
    }
    await assert.rejects(socks.connect({ host: 'example.com', port: 80 }), (e: unknown) => e instanceof TorError && e.code === 'TOR_SOCKS_CLOSED');
  });
});

describe('await using: listen() endpoints', () => {
  it("a tcp: endpoint stops listening (the server listen() started)", async () => {
    const server = net.createServer();
    {
      await using endpoint = await listen(server, 'tcp:0:interface=127.0.0.1', { registry: createDefaultRegistry() });
      assert.match(endpoint.address, /^127\.0\.0\.1:\d+$/);
      assert.equal(server.listening, true);
    }
    assert.equal(server.listening, false);
  });

  describe('a plugin whose endpoint has no [Symbol.asyncDispose]', () => {
    let closes: number;
    let made: ListeningEndpoint | undefined;
    let answer: () => unknown;
    const registry = (): PluginRegistry => {
      const r = new PluginRegistry();
      r.register({
        prefix: 'plain',
        listen: async () => {
          made = answer() as ListeningEndpoint;
          return made;
        },
      });
      return r;
    };
    beforeEach(() => {
      closes = 0;
      made = undefined;
    });

    it('gets one from listen(), not enumerable, that calls its close()', async () => {
      answer = () => ({ address: 'plain:1', close: async () => void closes++ });
      {
        await using endpoint = await listen(net.createServer(), 'plain:1', { registry: registry() });
        assert.equal(endpoint, made, 'the plugin\'s own object');
        assert.deepEqual(Object.keys(endpoint).sort(), ['address', 'close']);
        assert.equal(closes, 0);
      }
      assert.equal(closes, 1);
    });

    it('a frozen one is wrapped: same address, same close', async () => {
      answer = () => Object.freeze({ address: 'plain:2', close: async () => void closes++ });
      {
        await using endpoint = await listen(net.createServer(), 'plain:2', { registry: registry() });
        assert.notEqual(endpoint, made);
        assert.equal(endpoint.address, 'plain:2');
      }
      assert.equal(closes, 1);
    });

    it('one with its own [Symbol.asyncDispose] keeps it', async () => {
      let disposed = 0;
      answer = () => ({ address: 'plain:3', close: async () => void closes++, [Symbol.asyncDispose]: async () => void disposed++ });
      {
        await using endpoint = await listen(net.createServer(), 'plain:3', { registry: registry() });
        assert.equal(endpoint, made);
      }
      assert.deepEqual([disposed, closes], [1, 0]);
    });

    for (const [what, value] of [
      ['undefined', undefined],
      ['null', null],
      ['a string', 'plain:4'],
      ['an object without close()', { address: 'plain:4' }],
    ] as const) {
      it(`one that resolves with ${what} is TOR_ENDPOINT_LISTEN, naming the plugin`, async () => {
        answer = () => value;
        const err = await listen(net.createServer(), 'plain:4', { registry: registry() }).catch((e: unknown) => e);
        assert.ok(err instanceof EndpointListenError, String(err));
        assert.match(err.message, /the plain: plugin's listen failed: it resolved with .*, which is no listening endpoint/);
      });
    }
  });
});
