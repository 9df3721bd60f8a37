/**
 * Symbol tokens for the tsyringe container. Symbols (not classes) so that tests and users can
 * register their own implementations without subclassing, and so several Tor handles can each have
 * their own child container.
 */
export const TOKENS = {
  /** Every registered `EndpointPlugin` (resolved with `injectAll`). */
  EndpointPlugin: Symbol.for('torcon.EndpointPlugin'),
  /** The `PluginRegistry` built from the registered plugins. */
  PluginRegistry: Symbol.for('torcon.PluginRegistry'),
  /** The shared `TorProvider` that endpoint strings use to find a tor. */
  TorProvider: Symbol.for('torcon.TorProvider'),
  /** The `TorControl` of one Tor handle (child containers only). */
  TorControl: Symbol.for('torcon.TorControl'),
  /** The `Tor` handle of a child container. */
  Tor: Symbol.for('torcon.Tor'),
} as const;
