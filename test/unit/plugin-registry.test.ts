import 'reflect-metadata';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { container } from 'tsyringe';
import { DuplicateEndpointError, EndpointArgumentError, UnknownEndpointError } from '../../src/errors.js';
import { TOKENS } from '../../src/di/tokens.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import { builtinPlugins, createDefaultRegistry } from '../../src/plugins/index.js';
import type { EndpointPlugin } from '../../src/plugins/plugin-types.js';

const clientOnly: EndpointPlugin = { prefix: 'alpha', connect: async () => ({}) as net.Socket };
const serverOnly: EndpointPlugin = { prefix: 'beta', listen: async () => ({ address: 'x', close: async () => {} }) };
const both: EndpointPlugin = { ...clientOnly, ...serverOnly, prefix: 'Gamma' };

describe('plugin registry', () => {
  it('starts empty and registers nothing on import', () => {
    assert.deepEqual(new PluginRegistry().list(), []);
    assert.deepEqual(new PluginRegistry().prefixes(), []);
  });

  it('finds plugins by prefix, case-insensitively', () => {
    const r = new PluginRegistry([clientOnly, both]);
    assert.equal(r.get('alpha'), clientOnly);
    assert.equal(r.get('ALPHA'), clientOnly);
    assert.equal(r.get('gamma'), both);
    assert.ok(r.has('GAMMA'));
    assert.ok(!r.has('delta'));
  });

  it('lists plugins in registration order and prefixes sorted', () => {
    const r = new PluginRegistry([both, serverOnly, clientOnly]);
    assert.deepEqual(r.list(), [both, serverOnly, clientOnly]);
    assert.deepEqual(r.prefixes(), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(r.prefixes('client'), ['alpha', 'gamma']);
    assert.deepEqual(r.prefixes('server'), ['beta', 'gamma']);
  });

  it('rejects a duplicate prefix (any case) with DuplicateEndpointError', () => {
    const r = new PluginRegistry([clientOnly]);
    assert.throws(
      () => r.register({ ...serverOnly, prefix: 'ALPHA' }),
      (err: unknown) => err instanceof DuplicateEndpointError && err.code === 'TOR_ENDPOINT_DUPLICATE' && err.prefix === 'alpha',
    );
    assert.throws(() => new PluginRegistry([clientOnly, clientOnly]), DuplicateEndpointError);
    assert.equal(r.get('alpha'), clientOnly, 'the first plugin stays');
  });

  for (const bad of ['', 'a:b', 'a=b', 'a b', 'a\\b', '-x']) {
    it(`rejects the prefix ${JSON.stringify(bad)}`, () => {
      assert.throws(() => new PluginRegistry().register({ prefix: bad }), EndpointArgumentError);
    });
  }

  it('names the known prefixes of the right role in UnknownEndpointError', () => {
    const r = new PluginRegistry([clientOnly, serverOnly, both]);
    assert.throws(
      () => r.get('nope', 'client'),
      (err: unknown) => {
        assert.ok(err instanceof UnknownEndpointError);
        assert.equal(err.code, 'TOR_ENDPOINT_UNKNOWN');
        assert.equal(err.prefix, 'nope');
        assert.deepEqual(err.known, ['alpha', 'gamma']);
        assert.match(err.message, /client endpoint type "nope"; known: alpha, gamma/);
        return true;
      },
    );
    // A plugin that exists but cannot play the role is unknown for that role, and the message says
    // where it belongs (onion: given to connect(), say).
    assert.throws(
      () => r.get('alpha', 'server'),
      (err: unknown) =>
        err instanceof UnknownEndpointError &&
        err.known.join() === 'beta,gamma' &&
        err.message === '"alpha" is a client endpoint, for connect(), not a server endpoint type; known: beta, gamma',
    );
    assert.throws(
      () => r.get('beta', 'client'),
      (err: unknown) => err instanceof UnknownEndpointError && /^"beta" is a server endpoint, for listen\(\), not a client endpoint type/.test(err.message),
    );
    assert.throws(() => r.get('nope'), (err: unknown) => err instanceof UnknownEndpointError && err.known.length === 3);
  });

  it('names a registered prefix close to a misspelt one, and says when it is of the other role', () => {
    const r = createDefaultRegistry();
    const cases: Array<[string, 'client' | 'server', string | undefined, string]> = [
      ['tro', 'client', 'tor', 'unknown client endpoint type "tro" (did you mean "tor"?); known: tcp, tls, tor, unix'],
      ['TPC', 'server', 'tcp', 'unknown server endpoint type "TPC" (did you mean "tcp"?); known: onion, tcp, tls, unix'],
      ['onoin', 'client', 'onion', 'unknown client endpoint type "onoin" (did you mean "onion", a server endpoint, for listen()?); known: tcp, tls, tor, unix'],
      ['tro', 'server', 'tor', 'unknown server endpoint type "tro" (did you mean "tor", a client endpoint, for connect()?); known: onion, tcp, tls, unix'],
      ['xyz', 'client', undefined, 'unknown client endpoint type "xyz"; known: tcp, tls, tor, unix'],
      // Two edits from tcp, and a network of its own: no guess.
      ['i2p', 'client', undefined, 'unknown client endpoint type "i2p"; known: tcp, tls, tor, unix'],
    ];
    for (const [prefix, role, suggestion, message] of cases) {
      assert.throws(
        () => r.get(prefix, role),
        (err: unknown) => {
          assert.ok(err instanceof UnknownEndpointError);
          assert.equal(err.suggestion, suggestion, prefix);
          assert.equal(err.message, message);
          return true;
        },
      );
    }
    // A registered prefix of the other role is said as such, not guessed at.
    assert.throws(() => r.get('onion', 'client'), (err: unknown) => err instanceof UnknownEndpointError && err.suggestion === undefined);
  });

  it('builds a separate default registry with the five built-ins on every call', () => {
    const a = createDefaultRegistry();
    const b = createDefaultRegistry();
    assert.deepEqual(a.prefixes(), ['onion', 'tcp', 'tls', 'tor', 'unix']);
    assert.deepEqual(a.prefixes('client'), ['tcp', 'tls', 'tor', 'unix']);
    assert.deepEqual(a.prefixes('server'), ['onion', 'tcp', 'tls', 'unix']);
    a.register(clientOnly);
    assert.ok(a.has('alpha'));
    assert.ok(!b.has('alpha'));
    assert.throws(() => createDefaultRegistry([{ prefix: 'tor' }]), DuplicateEndpointError);
    assert.equal(builtinPlugins().length, 5);
  });

  it('is built by the DI container from every plugin registered under TOKENS.EndpointPlugin', () => {
    const child = container.createChildContainer();
    child.register(TOKENS.EndpointPlugin, { useValue: clientOnly });
    child.register(TOKENS.EndpointPlugin, { useValue: serverOnly });
    const r = child.resolve(PluginRegistry);
    assert.deepEqual(r.prefixes(), ['alpha', 'beta']);
    assert.equal(r.get('beta', 'server'), serverOnly);
  });
});
