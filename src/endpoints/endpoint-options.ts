import type { PluginRegistry } from '../plugins/registry.js';
import type { TorLike } from '../plugins/plugin-types.js';

/** Options of {@link connect} and {@link listen}. */
export interface EndpointCallOptions {
  /** The Tor handle `tor:`/`onion:` endpoints use when their string names no `control=`. */
  tor?: TorLike;
  /**
   * Resolves a Tor handle for a `control=` endpoint string, or the default tor when called
   * without one. @default rejects with `TorNotAvailableError` (code `TOR_NOT_AVAILABLE`)
   */
  getTor?: (control?: string) => Promise<TorLike>;
  /** The plugins to use (the DI layer passes the container's registry). */
  registry: PluginRegistry;
  /** Aborts the operation (`TorAbortError`, code `TOR_ABORTED`). */
  signal?: AbortSignal;
}
