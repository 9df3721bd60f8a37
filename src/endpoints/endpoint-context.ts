import { TorNotAvailableError } from '../errors.js';
import type { EndpointContext } from '../plugins/plugin-types.js';
import type { EndpointCallOptions } from './endpoint-options.js';

/**
 * Builds the context a plugin receives. Without a `getTor`, asking for a tor fails: an endpoint
 * that needs tor must never quietly get a plain connection instead.
 * @param opts - the options of a `connect`/`listen` call.
 * @returns a context whose `getTor` rejects with `TorNotAvailableError` (code `TOR_NOT_AVAILABLE`)
 *   unless `opts.getTor` is given.
 */
export function buildContext(opts: EndpointCallOptions): EndpointContext {
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
