import 'reflect-metadata';
import { container as tsyringeRoot, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import type { Tor } from '../tor/tor.js';
import { builtinPlugins } from '../plugins/index.js';
import { PluginRegistry } from '../plugins/registry.js';
import { TOKENS } from './tokens.js';
import { TorProvider } from './tor-provider.js';

/**
 * All dependency wiring of torcon lives here. The torcon root container (a child of tsyringe's
 * global one, so that we never pollute an application's own registrations) holds the endpoint
 * plugins, the registry built from them with `injectAll` and the shared Tor provider.
 * Each Tor handle gets its own child container (`createTorContainer`), so that several tors coexist
 * and per-tor services never leak between them.
 */
let root: DependencyContainer | undefined;

/**
 * The torcon root container, built on first use with the built-in plugins.
 * @example torconContainer().resolveAll<EndpointPlugin>(TOKENS.EndpointPlugin).map((p) => p.prefix) // ['tcp', 'unix', 'tls', 'tor', 'onion']
 */
export function torconContainer(): DependencyContainer {
  if (root) return root;
  const c = tsyringeRoot.createChildContainer();
  for (const plugin of builtinPlugins()) c.register(TOKENS.EndpointPlugin, { useValue: plugin });
  c.register(TOKENS.PluginRegistry, { useFactory: instanceCachingFactory((r) => r.resolve(PluginRegistry)) });
  c.register(TOKENS.TorProvider, { useFactory: instanceCachingFactory(() => new TorProvider()) });
  root = c;
  return c;
}

/**
 * A child container for one Tor handle: `TOKENS.Tor` and `TOKENS.TorControl` resolve to it, and
 * everything else falls through to the torcon root (plugins, registry, the Tor provider).
 * @example
 * const scope = createTorContainer(tor);
 * scope.resolve<TorControl>(TOKENS.TorControl) === tor.control // true
 */
export function createTorContainer(tor: Tor, parent: DependencyContainer = torconContainer()): DependencyContainer {
  const child = parent.createChildContainer();
  child.register(TOKENS.Tor, { useValue: tor });
  child.register(TOKENS.TorControl, { useValue: tor.control });
  return child;
}

/** The plugin registry of the torcon root container. */
export function pluginRegistry(): PluginRegistry {
  return torconContainer().resolve<PluginRegistry>(TOKENS.PluginRegistry);
}

/** The shared Tor provider of the torcon root container. */
export function torProvider(): TorProvider {
  return torconContainer().resolve<TorProvider>(TOKENS.TorProvider);
}
