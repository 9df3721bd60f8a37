import { EndpointArgumentError, EndpointConnectError, EndpointListenError, TorAbortError, TorError } from '../errors.js';
import { describeThrown } from '../util/describe-thrown.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { EndpointPlugin, EndpointRole } from '../plugins/plugin-types.js';
import type { PluginRegistry } from '../plugins/registry.js';

/** Which step of an endpoint a plugin failed in. */
export type PluginStep = 'validate' | 'connect' | 'listen';

/**
 * What `connect()`/`listen()` reject with when a plugin fails: its own error when that is already a
 * torcon error (the built-in plugins' always are), otherwise a torcon error with the plugin's as
 * `cause`. Callers then handle one hierarchy with stable codes, whichever plugin served the
 * string; a third-party plugin's error is still there, in `cause`.
 *
 * @param err - what the plugin threw or rejected with
 * @param prefix - the endpoint's prefix, to name the plugin
 * @param step - where it failed: validating (TOR_ENDPOINT_ARGUMENT), connecting (TOR_ENDPOINT_CONNECT)
 *   or listening (TOR_ENDPOINT_LISTEN)
 * @param signal - the caller's signal: a plugin's own abort error after it aborted is TOR_ABORTED
 */
export function pluginFailure(err: unknown, prefix: string, step: PluginStep, signal?: AbortSignal): TorError {
  if (err instanceof TorError) return err;
  const what = `the ${prefix}: plugin's ${step}`;
  if (step === 'validate') {
    return new EndpointArgumentError(`${what} refused the endpoint: ${describeThrown(err)}`, { cause: err });
  }
  if (signal?.aborted) return new TorAbortError(`${step === 'connect' ? 'connecting to' : 'listening on'} the ${prefix}: endpoint`, { cause: err });
  return step === 'connect' ? new EndpointConnectError(what, err) : new EndpointListenError(what, err);
}

/**
 * Runs a plugin's `validate`, its failure made a torcon error by {@link pluginFailure}. What it
 * returns is awaited: TypeScript lets an `async validate()` implement `validate(): void`, and its
 * rejection would otherwise go unhandled while the endpoint was used unchecked.
 */
export async function validateEndpoint(
  plugin: EndpointPlugin,
  endpoint: ParsedEndpoint,
  role: EndpointRole,
  registry: PluginRegistry,
): Promise<void> {
  try {
    await plugin.validate?.(endpoint, role, registry);
  } catch (err) {
    throw pluginFailure(err, endpoint.prefix, 'validate');
  }
}
