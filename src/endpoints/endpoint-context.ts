import { TorInvalidValueError, TorNotAvailableError } from '../errors.js';
import type { EndpointContext } from '../plugins/plugin-types.js';
import type { EndpointCallOptions } from './endpoint-options.js';

/**
 * Builds the context a plugin receives. Without a `getTor`, asking for a tor fails: an endpoint
 * that needs tor must never quietly get a plain connection instead.
 * @param opts - the options of a `connect`/`listen` call.
 * @returns a context whose `getTor` rejects with `TorNotAvailableError` (code `TOR_NOT_AVAILABLE`)
 *   unless `opts.getTor` is given.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a `tor` that is no Tor handle
 */
export function buildContext(opts: EndpointCallOptions): EndpointContext {
  // A JavaScript caller's number or string where the handle goes would fail inside the plugin as a
  // TypeError wrapped in a connect error; null and undefined mean no handle, as for the other options.
  const tor: unknown = opts.tor;
  if (tor !== undefined && tor !== null) {
    const handle = tor as { connect?: unknown; createOnionService?: unknown };
    if ((typeof tor !== 'object' && typeof tor !== 'function') || (typeof handle.connect !== 'function' && typeof handle.createOnionService !== 'function')) {
      throw new TorInvalidValueError('tor', 'must be a Tor handle (from connectTor or launchTor)');
    }
  }
  // The same for the DI layer's two: a registry without get(), a getTor that is no function.
  if (typeof (opts.registry as { get?: unknown } | null | undefined)?.get !== 'function') {
    throw new TorInvalidValueError('registry', 'must be a PluginRegistry (pluginRegistry() gives torcon\'s own)');
  }
  if (opts.getTor !== undefined && opts.getTor !== null && typeof opts.getTor !== 'function') {
    throw new TorInvalidValueError('getTor', 'must be a function returning a Tor handle');
  }
  const ctx: EndpointContext = {
    registry: opts.registry,
    getTor:
      opts.getTor ??
      (async (control?: string) => {
        throw new TorNotAvailableError(
          control !== undefined
            ? `no way to reach the tor at ${control} was configured (pass { tor } or { getTor })`
            : 'no tor is available for this endpoint (pass { tor } or { getTor })',
        );
      }),
  };
  if (opts.tor) ctx.tor = opts.tor;
  if (opts.signal) ctx.signal = opts.signal;
  return ctx;
}
