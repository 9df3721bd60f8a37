import { EndpointArgumentError, EndpointSyntaxError } from '../errors.js';
import { parseEndpoint, quoteEndpointArgument, redactEndpoint } from '../util/endpoint-grammar.js';
import { parsePort, prefixed, showValue } from './arg-validation.js';
import { parseTcpClientOptions } from './tcp-plugin.js';
import { parseUnixClientOptions } from './unix-plugin.js';

/**
 * The `control=` / `controlPort=` keywords of `tor:` and `onion:`: which tor to use, as a control
 * endpoint string for `EndpointContext.getTor`. Accepted forms:
 *
 * - `control=tcp\:127.0.0.1\:9051` or `control=unix\:/run/tor/control` (an escaped endpoint string);
 * - `control=9051` or `controlPort=9051` (a port on 127.0.0.1, as in txtorcon);
 * - `control=/run/tor/control` or `controlPort=/run/tor/control` (a unix socket path).
 *
 * The result is always a `tcp:` or `unix:` endpoint string, validated without I/O.
 */

/**
 * Normalizes the control keywords of `what` (e.g. `onion:`) to a control endpoint string.
 * @returns undefined when neither keyword is given.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`) for both keywords, or a value that
 *   is not a port, an absolute path, or a valid `tcp:`/`unix:` endpoint.
 */
export function parseControlOption(
  what: string,
  control: string | undefined,
  controlPort: string | undefined,
): string | undefined {
  if (control !== undefined && controlPort !== undefined) {
    throw new EndpointArgumentError(`${prefixed(what)} "control" and "controlPort" cannot be used together`);
  }
  const value = control ?? controlPort;
  if (value === undefined) return undefined;
  const name = `${what} ${control !== undefined ? 'control' : 'controlPort'}`;
  if (/^[0-9]+$/.test(value)) return `tcp:127.0.0.1:${parsePort(value, name)}`;
  if (value.startsWith('/')) {
    const endpoint = `unix:${quoteEndpointArgument(value)}`;
    parseUnixClientOptions(parseEndpoint(endpoint));
    return endpoint;
  }
  if (controlPort !== undefined) {
    throw new EndpointArgumentError(`${name} must be a port number or an absolute socket path, got ${showValue(redactEndpoint(value))}`);
  }
  let parsed;
  try {
    parsed = parseEndpoint(value);
  } catch (err) {
    if (!(err instanceof EndpointSyntaxError)) throw err;
    throw new EndpointArgumentError(`${name} is not a valid endpoint string: ${err.message}`);
  }
  if (parsed.prefix === 'tcp') parseTcpClientOptions(parsed);
  else if (parsed.prefix === 'unix') parseUnixClientOptions(parsed);
  else {
    throw new EndpointArgumentError(
      `${name} must be a tcp: or unix: endpoint (escape its colons: tcp\\:127.0.0.1\\:9051), a port or a path, got ${showValue(redactEndpoint(value))}`,
    );
  }
  return value;
}
