import assert from 'node:assert/strict';
import net from 'node:net';
import { EndpointArgumentError, EndpointConnectError, EndpointListenError, TorAbortError, TorTimeoutError } from '../../src/errors.js';
import { connect } from '../../src/endpoints/connect.js';
import { listen } from '../../src/endpoints/listen.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import { tlsPlugin } from '../../src/plugins/tls-plugin.js';
import type { EndpointPlugin } from '../../src/plugins/plugin-types.js';

// What a third-party plugin gets wrong must fail where it happens, as a torcon error, not later in
// the caller's code as "socket.write is not a function".
describe('endpoint plugins that break their contract', () => {
  const withPlugin = (plugin: EndpointPlugin) => new PluginRegistry([plugin]);

  for (const [label, value] of [
    ['undefined', undefined],
    ['a plain object', { write() {} }],
    ['a number', 42],
  ] as const) {
    it(`connect() rejects with EndpointConnectError when a plugin resolves with ${label}`, async () => {
      const registry = withPlugin({ prefix: 'odd', connect: async () => value as unknown as net.Socket });
      await assert.rejects(
        connect('odd:x', { registry }),
        (err: unknown) =>
          err instanceof EndpointConnectError && err.code === 'TOR_ENDPOINT_CONNECT' && /odd:.*not a socket/.test(err.message),
      );
    });
  }

  it('connect() hands over the socket a plugin resolves with', async () => {
    const socket = new net.Socket();
    const registry = withPlugin({ prefix: 'fine', connect: async () => socket });
    assert.equal(await connect('fine:x', { registry }), socket);
  });

  it('registering a plugin with neither connect nor listen is refused', () => {
    const registry = new PluginRegistry();
    assert.throws(
      () => registry.register({ prefix: 'empty' } as EndpointPlugin),
      (err: unknown) => err instanceof EndpointArgumentError && /"empty".*connect.*listen/.test(err.message),
    );
    assert.equal(registry.has('empty'), false);
  });
});

// One error hierarchy whatever plugin served the string: a third-party plugin's own error reaches
// the caller as a torcon error with a stable code, the plugin's error kept as its cause.
describe("endpoint plugins' own errors", () => {
  const failing = new Error('backend unreachable');
  const registry = new PluginRegistry([
    {
      prefix: 'flaky',
      validate() {},
      connect: async () => {
        throw failing;
      },
      listen: async () => {
        throw Object.assign(new Error('port taken'), { code: 'EADDRINUSE' });
      },
    },
    {
      prefix: 'picky',
      validate() {
        throw new RangeError('port out of range');
      },
      connect: async () => new net.Socket(),
      listen: async () => ({ address: 'x', close: async () => {} }),
    },
    {
      prefix: 'torish',
      connect: async () => {
        throw new TorTimeoutError('the backend', 5);
      },
    },
    {
      prefix: 'slow',
      connect: (_endpoint, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal?.addEventListener('abort', () => reject(new DOMException('This operation was aborted', 'AbortError')));
        }),
    },
  ]);

  it("connect(): a plugin's plain Error becomes EndpointConnectError, the error its cause", async () => {
    await assert.rejects(connect('flaky:x', { registry }), (err: unknown) => {
      assert.ok(err instanceof EndpointConnectError);
      assert.equal(err.code, 'TOR_ENDPOINT_CONNECT');
      assert.equal(err.cause, failing);
      assert.match(err.message, /flaky: plugin's connect failed: backend unreachable/);
      return true;
    });
  });

  it("listen(): a plugin's plain Error becomes EndpointListenError, keeping Node's code as systemCode", async () => {
    await assert.rejects(listen(net.createServer(), 'flaky:x', { registry }), (err: unknown) => {
      assert.ok(err instanceof EndpointListenError);
      assert.equal(err.code, 'TOR_ENDPOINT_LISTEN');
      assert.equal(err.systemCode, 'EADDRINUSE');
      assert.match(err.message, /flaky: plugin's listen failed: port taken/);
      return true;
    });
  });

  it("a plugin's validate that throws its own error gives EndpointArgumentError, before any connect", async () => {
    for (const call of [() => connect('picky:x', { registry }), () => listen(net.createServer(), 'picky:x', { registry })]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof EndpointArgumentError);
        assert.ok(err.cause instanceof RangeError);
        assert.match(err.message, /picky: plugin's validate refused the endpoint: port out of range/);
        return true;
      });
    }
  });

  it("an async validate's rejection is EndpointArgumentError, before any connect or listen (not an unhandled rejection)", async () => {
    // TypeScript lets `async validate()` implement the interface's `validate(): void`.
    let opened = 0;
    const asyncRegistry = new PluginRegistry([
      tlsPlugin,
      {
        prefix: 'lazy',
        validate: (async () => {
          throw new RangeError('port out of range');
        }) as unknown as EndpointPlugin['validate'],
        connect: async () => {
          opened++;
          return new net.Socket();
        },
        listen: async () => {
          opened++;
          return { address: 'x', close: async () => {} };
        },
      },
    ]);
    const calls = [
      () => connect('lazy:x', { registry: asyncRegistry }),
      () => listen(net.createServer(), 'lazy:x', { registry: asyncRegistry }),
      // Wrapped by tls:, which checks the endpoint it wraps before connecting it.
      () => connect('tls:example.com:443:endpoint=lazy\\:x', { registry: asyncRegistry }),
    ];
    for (const call of calls) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof EndpointArgumentError, String(err));
        assert.match(err.message, /lazy: plugin's validate refused the endpoint: port out of range/);
        return true;
      });
    }
    assert.equal(opened, 0);
  });

  it('a plugin that throws something String() cannot convert still gives a torcon error', async () => {
    const odd = Object.create(null) as object;
    const oddRegistry = new PluginRegistry([
      {
        prefix: 'odd',
        validate(endpoint) {
          if (endpoint.args[0] === 'bad') throw odd;
        },
        connect: async () => {
          throw odd;
        },
        listen: async () => {
          throw odd;
        },
      },
    ]);
    await assert.rejects(connect('odd:bad', { registry: oddRegistry }), (err: unknown) => err instanceof EndpointArgumentError && err.cause === odd);
    await assert.rejects(connect('odd:x', { registry: oddRegistry }), (err: unknown) => err instanceof EndpointConnectError && err.cause === odd);
    await assert.rejects(listen(net.createServer(), 'odd:x', { registry: oddRegistry }), (err: unknown) => err instanceof EndpointListenError && err.cause === odd);
  });

  it("a torcon error from a plugin passes through as it is", async () => {
    await assert.rejects(connect('torish:x', { registry }), (err: unknown) => err instanceof TorTimeoutError && err.code === 'TOR_TIMEOUT');
  });

  it("a plugin's own abort error after the caller's signal aborted is TorAbortError", async () => {
    const controller = new AbortController();
    const pending = connect('slow:x', { registry, signal: controller.signal });
    setImmediate(() => controller.abort());
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof TorAbortError);
      assert.equal(err.code, 'TOR_ABORTED');
      assert.equal((err.cause as Error).name, 'AbortError');
      return true;
    });
  });
});
