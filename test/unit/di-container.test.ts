import 'reflect-metadata';
import assert from 'node:assert/strict';
import { container as tsyringeGlobal } from 'tsyringe';
import { createTorContainer, pluginRegistry, torconContainer, torProvider } from '../../src/di/container.js';
import { TOKENS } from '../../src/di/tokens.js';
import type { EndpointPlugin } from '../../src/plugins/plugin-types.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { Tor } from '../../src/tor/tor.js';

// The wiring of DESIGN.md §3 and §4.10: one torcon root container (a child of tsyringe's global
// one) with the plugins, the registry and the Tor provider; one child per Tor handle.

/** A stand-in handle: createTorContainer reads only `control`. */
function fakeTor(name: string): Tor {
  return { control: { name } } as unknown as Tor;
}

describe('DI container', () => {
  it('the torcon root is built once, with the five built-in plugins under TOKENS.EndpointPlugin', () => {
    const root = torconContainer();
    assert.equal(torconContainer(), root);
    const prefixes = root.resolveAll<EndpointPlugin>(TOKENS.EndpointPlugin).map((p) => p.prefix);
    assert.deepEqual([...prefixes].sort(), ['onion', 'tcp', 'tls', 'tor', 'unix']);
  });

  it('the registry is one instance, built by injectAll from those plugins', () => {
    const registry = torconContainer().resolve<PluginRegistry>(TOKENS.PluginRegistry);
    assert.ok(registry instanceof PluginRegistry);
    assert.equal(pluginRegistry(), registry);
    assert.equal(torconContainer().resolve(TOKENS.PluginRegistry), registry);
    for (const prefix of ['tcp', 'unix', 'tls', 'tor']) assert.equal(registry.get(prefix, 'client').prefix, prefix);
    for (const prefix of ['tcp', 'unix', 'tls', 'onion']) assert.equal(registry.get(prefix, 'server').prefix, prefix);
  });

  it('the Tor provider is one instance', () => {
    assert.equal(torProvider(), torconContainer().resolve(TOKENS.TorProvider));
    assert.equal(torProvider(), torProvider());
  });

  it("registers nothing in tsyringe's global container (an application's own)", () => {
    for (const token of Object.values(TOKENS)) assert.equal(tsyringeGlobal.isRegistered(token), false, String(token));
  });

  it('createTorContainer: a child per handle, resolving its Tor and TorControl, the rest from the root', () => {
    const a = fakeTor('a');
    const b = fakeTor('b');
    const scopeA = createTorContainer(a);
    const scopeB = createTorContainer(b);
    assert.equal(scopeA.resolve(TOKENS.Tor), a);
    assert.equal(scopeA.resolve(TOKENS.TorControl), a.control);
    assert.equal(scopeB.resolve(TOKENS.Tor), b);
    assert.equal(scopeB.resolve(TOKENS.TorControl), b.control);
    assert.equal(scopeA.resolve(TOKENS.PluginRegistry), pluginRegistry());
    // Per-tor registrations stay in their child.
    assert.equal(torconContainer().isRegistered(TOKENS.Tor), false);
    assert.equal(torconContainer().isRegistered(TOKENS.TorControl), false);
  });

  it('createTorContainer takes a parent of the caller\'s, e.g. one with a plugin of its own', () => {
    const parent = torconContainer().createChildContainer();
    const extra: EndpointPlugin = { prefix: 'ditest', connect: () => Promise.reject(new Error('not used')) };
    parent.register(TOKENS.EndpointPlugin, { useValue: extra });
    const scope = createTorContainer(fakeTor('c'), parent);
    assert.ok(scope.resolveAll<EndpointPlugin>(TOKENS.EndpointPlugin).some((p) => p.prefix === 'ditest'));
    // The torcon root, and so connect()/listen(), do not see it.
    assert.ok(!torconContainer().resolveAll<EndpointPlugin>(TOKENS.EndpointPlugin).some((p) => p.prefix === 'ditest'));
    assert.throws(() => pluginRegistry().get('ditest', 'client'), (e: unknown) => (e as { code?: string }).code === 'TOR_ENDPOINT_UNKNOWN');
  });
});
