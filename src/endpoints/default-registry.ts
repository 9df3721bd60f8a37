import { createDefaultRegistry } from '../plugins/index.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { EndpointPlugin } from '../plugins/plugin-types.js';

/**
 * The registry `connect`/`listen` use when none is passed. Built lazily on first use, so importing
 * this module registers nothing; the DI container (src/di) supplies its own registries.
 */
let defaultRegistry: PluginRegistry | undefined;

/** The process-wide default registry: the built-in plugins plus those added by {@link registerPlugin}. */
export function getDefaultRegistry(): PluginRegistry {
  return (defaultRegistry ??= createDefaultRegistry());
}

/**
 * Adds a plugin to the default registry, e.g. `registerPlugin({ prefix: 'i2p', connect })`.
 * @throws DuplicateEndpointError (code `TOR_ENDPOINT_DUPLICATE`) when the prefix is taken.
 */
export function registerPlugin(plugin: EndpointPlugin): void {
  getDefaultRegistry().register(plugin);
}
