import { EndpointArgumentError } from '../errors.js';
import { parseTorClientOptions } from '../plugins/tor-plugin.js';
import type { TorConnectOptions } from '../socks/socks-types.js';
import { parseEndpoint } from '../util/endpoint-grammar.js';

/**
 * Reads the target of `Tor.connect`: `host:port`, `[v6]:port`, or a whole `tor:` endpoint string
 * (its options, such as `isolate=` or `tls=true`, apply; `control=` is refused: this handle *is* the
 * tor). Hostnames stay names: tor resolves them at the exit, never we.
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`), EndpointSyntaxError (`TOR_ENDPOINT_SYNTAX`)
 */
export function parseTorTarget(target: string): { target: { host: string; port: number }; options: TorConnectOptions } {
  if (/^tor:/i.test(target)) {
    const parsed = parseTorClientOptions(parseEndpoint(target));
    if (parsed.control !== undefined) {
      throw new EndpointArgumentError('tor: control= cannot be used with Tor.connect: the handle already is a tor (use connect() instead)');
    }
    return { target: { host: parsed.host, port: parsed.port }, options: parsed.connect };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  if (!m) throw new EndpointArgumentError(`bad target ${JSON.stringify(target)}: expected host:port, [v6]:port or tor:HOST:PORT`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new EndpointArgumentError(`bad port ${m[3]} in target: must be 1-65535`);
  const host = (m[1] ?? m[2])!;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(host)) throw new EndpointArgumentError('bad host in target: whitespace or control characters');
  return { target: { host, port }, options: {} };
}
