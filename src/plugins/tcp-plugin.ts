import net from 'node:net';
import { describeTarget } from '../util/ip-address.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { EndpointContext, EndpointPlugin, EndpointRole, ListeningEndpoint } from './plugin-types.js';
import {
  collectArgs,
  parseHost,
  parseInteger,
  parseIpAddress,
  parsePort,
  parseSeconds,
  required,
  type ArgSpec,
} from './arg-validation.js';
import { closeServer, formatServerAddress, listenServer, listeningEndpoint, openSocket } from './socket-io.js';

/**
 * `tcp:` endpoints: a plain TCP connection (client) or listening socket (server), with node:net.
 * A `.onion` host is refused: only tor can reach it, and trying would leak the name to DNS.
 */

/** Options of a `tcp:HOST:PORT` client. */
export interface TcpClientOptions {
  host: string;
  port: number;
  /** Connect timeout in milliseconds (`timeout=` is in seconds). */
  timeoutMs?: number;
  /** Local IP address to connect from. */
  bindAddress?: string;
}

/** Options of a `tcp:PORT` server. */
export interface TcpServerOptions {
  /** 0 asks for an ephemeral port. */
  port: number;
  /** @default `127.0.0.1` */
  interface: string;
  /** Node's listen backlog. */
  backlog?: number;
}

/**
 * The interface a `tcp:` server listens on when none is given. Twisted listens on every interface;
 * we listen on loopback, because exposing a port to the network should be an explicit choice
 * (`interface=0.0.0.0` or `interface=\:\:`), and most servers here sit behind an onion service.
 */
export const DEFAULT_TCP_INTERFACE = '127.0.0.1';

const CLIENT_SPEC: ArgSpec = {
  what: 'tcp: client',
  positional: ['host', 'port'],
  keywords: ['timeout', 'bindAddress'],
  usage: 'tcp:HOST:PORT[:timeout=SECONDS][:bindAddress=IP]',
  bracketedHost: true,
};

const SERVER_SPEC: ArgSpec = {
  what: 'tcp: server',
  positional: ['port'],
  keywords: ['interface', 'backlog'],
  usage: 'tcp:PORT[:interface=IP][:backlog=N]',
};

/**
 * Parses and validates a `tcp:` client endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 * @example parseTcpClientOptions(parseEndpoint('tcp:[::1]:80:timeout=5')) // { host: '::1', port: 80, timeoutMs: 5000 }
 */
export function parseTcpClientOptions(endpoint: ParsedEndpoint): TcpClientOptions {
  const { named, keywords } = collectArgs(endpoint, CLIENT_SPEC);
  const host = parseHost(required(named.host, 'host', CLIENT_SPEC), 'tcp: host', { onion: false });
  const port = parsePort(required(named.port, 'port', CLIENT_SPEC), 'tcp: port');
  const out: TcpClientOptions = { host, port };
  if (keywords.timeout !== undefined) out.timeoutMs = parseSeconds(keywords.timeout, 'tcp: timeout');
  if (keywords.bindAddress !== undefined) out.bindAddress = parseIpAddress(keywords.bindAddress, 'tcp: bindAddress');
  return out;
}

/**
 * Parses and validates a `tcp:` server endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 * @example parseTcpServerOptions(parseEndpoint('tcp:8080')) // { port: 8080, interface: '127.0.0.1' }
 */
export function parseTcpServerOptions(endpoint: ParsedEndpoint): TcpServerOptions {
  const { named, keywords } = collectArgs(endpoint, SERVER_SPEC);
  const port = parsePort(required(named.port, 'port', SERVER_SPEC), 'tcp: port', true);
  const out: TcpServerOptions = {
    port,
    interface:
      keywords.interface !== undefined ? parseIpAddress(keywords.interface, 'tcp: interface') : DEFAULT_TCP_INTERFACE,
  };
  if (keywords.backlog !== undefined) out.backlog = parseInteger(keywords.backlog, 'tcp: backlog', 1, 65535);
  return out;
}


/** Connects as {@link TcpClientOptions} say; used by `tcp:` and as `tls:`'s default transport. */
export function connectTcp(o: TcpClientOptions, signal?: AbortSignal): Promise<net.Socket> {
  const what = `tcp connection to ${describeTarget({ host: o.host, port: o.port })}`;
  return openSocket(
    // Called through the module object so that tests can observe every socket opened.
    () => net.createConnection({ host: o.host, port: o.port, ...(o.bindAddress ? { localAddress: o.bindAddress } : {}) }),
    'connect',
    what,
    { signal, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) },
  );
}

/** The built-in `tcp:` plugin. */
export const tcpPlugin: EndpointPlugin = {
  prefix: 'tcp',
  describe: `client ${CLIENT_SPEC.usage}; server ${SERVER_SPEC.usage} (default interface ${DEFAULT_TCP_INTERFACE})`,

  validate(endpoint: ParsedEndpoint, role: EndpointRole): void {
    if (role === 'client') parseTcpClientOptions(endpoint);
    else parseTcpServerOptions(endpoint);
  },

  async connect(endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<net.Socket> {
    return connectTcp(parseTcpClientOptions(endpoint), ctx.signal);
  },

  async listen(server: net.Server, endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<ListeningEndpoint> {
    const o = parseTcpServerOptions(endpoint);
    await listenServer(
      server,
      { port: o.port, host: o.interface, ...(o.backlog !== undefined ? { backlog: o.backlog } : {}) },
      `listening on tcp ${describeTarget({ host: o.interface, port: o.port })}`,
      ctx.signal,
    );
    return listeningEndpoint(formatServerAddress(server), () => closeServer(server));
  },
};
