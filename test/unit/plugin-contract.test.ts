import assert from 'node:assert/strict';
import net from 'node:net';
import { EndpointArgumentError, EndpointConnectError } from '../../src/errors.js';
import { connect } from '../../src/endpoints/connect.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
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
