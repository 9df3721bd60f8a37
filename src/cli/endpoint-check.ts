import { TorError } from '../errors.js';
import type { EndpointRole } from '../plugins/plugin-types.js';
import { parseEndpoint, type ParsedEndpoint } from '../util/endpoint-grammar.js';
import { UsageError } from './errors.js';
import { lib } from './lazy.js';

/**
 * Checks an endpoint string given on the command line before anything starts: grammar, a plugin
 * for its prefix in that role, and the plugin's own argument check (no I/O). A bad string is the
 * user's typo, so it becomes a usage error (exit 2) that still carries torcon's error code.
 * @param option - how the user wrote it, for the message (`--port`, `<endpoint>`)
 * @throws UsageError wrapping EndpointSyntaxError, UnknownEndpointError or EndpointArgumentError
 */
export async function checkEndpoint(description: string, role: EndpointRole, option: string): Promise<ParsedEndpoint> {
  const { pluginRegistry } = await lib.container();
  try {
    const parsed = parseEndpoint(description);
    const plugin = pluginRegistry().get(parsed.prefix, role);
    plugin.validate?.(parsed, role);
    return parsed;
  } catch (err) {
    if (err instanceof TorError) throw new UsageError(`${option}: ${err.code}: ${err.message}`, { cause: err });
    throw err;
  }
}
