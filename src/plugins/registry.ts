import 'reflect-metadata';
import { injectable, injectAll } from 'tsyringe';
import { DuplicateEndpointError, EndpointArgumentError, UnknownEndpointError } from '../errors.js';
import { TOKENS } from '../di/tokens.js';
import { nearestPrefix } from '../util/known-options.js';
import type { EndpointPlugin, EndpointRole } from './plugin-types.js';

/**
 * The endpoint plugins known to one `connect`/`listen` call chain, keyed by prefix. The DI container
 * builds it from every plugin registered under `TOKENS.EndpointPlugin`; it is equally usable as
 * `new PluginRegistry([tcpPlugin, ...])`. Nothing registers itself on import.
 */
@injectable()
export class PluginRegistry {
  readonly #plugins = new Map<string, EndpointPlugin>();

  /**
   * @param plugins - the initial plugins.
   * @throws DuplicateEndpointError (code `TOR_ENDPOINT_DUPLICATE`) when two share a prefix.
   */
  constructor(@injectAll(TOKENS.EndpointPlugin) plugins: readonly EndpointPlugin[] = []) {
    for (const plugin of plugins) this.register(plugin);
  }

  /**
   * Adds a plugin.
   * @param plugin - its `prefix` is matched case-insensitively.
   * @throws DuplicateEndpointError (code `TOR_ENDPOINT_DUPLICATE`) when the prefix is taken: replacing
   *   a plugin silently (say `tor:`) could redirect traffic around tor.
   * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`) for a prefix that the grammar could
   *   not express (empty, or holding `:`, `=`, `\` or whitespace), or a plugin with neither `connect`
   *   nor `listen`.
   */
  register(plugin: EndpointPlugin): void {
    const prefix = typeof plugin?.prefix === 'string' ? plugin.prefix.toLowerCase() : '';
    if (!/^[a-z0-9][a-z0-9+._-]*$/.test(prefix)) {
      throw new EndpointArgumentError(
        `invalid endpoint plugin prefix ${JSON.stringify(plugin?.prefix)}: use letters, digits, "+", ".", "_" or "-"`,
      );
    }
    if (this.#plugins.has(prefix)) throw new DuplicateEndpointError(prefix);
    if (typeof plugin.connect !== 'function' && typeof plugin.listen !== 'function') {
      // Such a plugin would only take the prefix, and errors would call it the other role's.
      throw new EndpointArgumentError(`endpoint plugin "${prefix}" has neither a connect nor a listen function`);
    }
    this.#plugins.set(prefix, plugin);
  }

  /**
   * Finds the plugin for a prefix.
   * @param prefix - case-insensitive.
   * @param role - when given, the plugin must support it (`client`: has `connect`; `server`: has
   *   `listen`), and an error lists only the prefixes that do.
   * @throws UnknownEndpointError (code `TOR_ENDPOINT_UNKNOWN`) naming the known prefixes.
   */
  get(prefix: string, role?: EndpointRole): EndpointPlugin {
    const plugin = this.#plugins.get(prefix.toLowerCase());
    if (plugin && (!role || supports(plugin, role))) return plugin;
    // A typo of a registered prefix (`tro:`, `onoin:`) is named, whichever role it has.
    const near = plugin === undefined ? nearestPrefix(prefix, this.prefixes()) : undefined;
    const suggestion = near === undefined ? undefined : { prefix: near, otherRole: role !== undefined && !supports(this.#plugins.get(near)!, role) };
    throw new UnknownEndpointError(prefix, this.prefixes(role), role, plugin !== undefined, suggestion);
  }

  /** Whether a plugin is registered for `prefix` (and supports `role` when given). */
  has(prefix: string, role?: EndpointRole): boolean {
    const plugin = this.#plugins.get(prefix.toLowerCase());
    return plugin !== undefined && (!role || supports(plugin, role));
  }

  /** The registered plugins, in registration order. */
  list(): EndpointPlugin[] {
    return [...this.#plugins.values()];
  }

  /** The registered prefixes (supporting `role` when given), sorted. */
  prefixes(role?: EndpointRole): string[] {
    return [...this.#plugins.entries()]
      .filter(([, p]) => !role || supports(p, role))
      .map(([prefix]) => prefix)
      .sort();
  }
}

function supports(plugin: EndpointPlugin, role: EndpointRole): boolean {
  return typeof (role === 'client' ? plugin.connect : plugin.listen) === 'function';
}
