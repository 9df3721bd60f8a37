import { EndpointArgumentError } from '../errors.js';
import type { TorConnectOptions } from '../socks/socks-types.js';

/**
 * Reads the target of `Tor.connect`: `host:port`, `[v6]:port`. Hostnames stay names: tor resolves
 * them at the exit, never we.
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for a missing host or a bad port
 */
export function parseTorTarget(target: string): { target: { host: string; port: number }; options: TorConnectOptions } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  if (!m) throw new EndpointArgumentError(`bad target ${JSON.stringify(target)}: expected host:port or [v6]:port`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new EndpointArgumentError(`bad port ${m[3]} in target: must be 1-65535`);
  return { target: { host: (m[1] ?? m[2])!, port }, options: {} };
}
