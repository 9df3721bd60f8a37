import net from 'node:net';
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type tls from 'node:tls';
import { EndpointArgumentError, EndpointSyntaxError, TorTimeoutError } from '../errors.js';
import { throwIfAborted, timerDelay } from '../util/abort.js';
import { nodeTls } from '../util/node-builtins.js';
import type { PluginRegistry } from './registry.js';
import { parseEndpoint, quoteEndpointArgument, redactEndpoint, type ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { EndpointContext, EndpointPlugin, EndpointRole, ListeningEndpoint } from './plugin-types.js';
import {
  collectArgs,
  parseBoolean,
  parseFilePath,
  parseHost,
  parseInteger,
  parseIpAddress,
  parsePort,
  parseSeconds,
  required,
  showValue,
  type ArgSpec,
} from './arg-validation.js';
import { DEFAULT_TCP_INTERFACE } from './tcp-plugin.js';
import { validateEndpoint } from '../endpoints/plugin-failure.js';
import { assertNotListening, closeServer, formatServerAddress, listenServer, listeningEndpoint, openSocket } from './socket-io.js';

/**
 * `tls:` endpoints.
 *
 * Client, as Twisted's `tls:`: `tls:HOST:PORT[:servername=S][:rejectUnauthorized=false][:caFile=F]
 * [:timeout=SECONDS][:endpoint=ENDPOINT]`. TLS runs over the inner `endpoint` (any client endpoint,
 * escaped), by default `tcp:HOST:PORT`; so `tls:example.com:443:endpoint=tor\:example.com\:443` is
 * TLS through tor. The certificate is checked against HOST (or `servername`). An inner endpoint that
 * does TLS itself (`tls:`, `tor:` with `tls=true`) is refused: TLS inside TLS is never what was meant.
 *
 * Server: `tls:PORT:privateKey=F[:certKey=F][:interface=A][:backlog=N]`, keys as PEM files (as
 * Twisted's `ssl:`, `certKey` defaults to `privateKey`, a file holding both). The caller's `server`
 * listens, as with `tcp:` (`address()`, `listening`, `'listening'`, `close(cb)`, a second listen
 * refused), and its `'connection'` listeners get each connection once its TLS handshake has
 * succeeded, decrypted, so a plain `net.Server` or an `http.Server` works unchanged (see `serveTls`).
 * A server that does TLS itself (`https.Server`, `tls.Server`) is refused.
 */

/** Options of a `tls:` client. */
export interface TlsClientOptions {
  host: string;
  port: number;
  /** SNI name and the name the certificate must match. @default HOST unless it is an IP address */
  servername?: string;
  /** @default true */
  rejectUnauthorized: boolean;
  /** PEM file of trusted CA certificates, instead of Node's built-in list (one at least: a file without any is refused). */
  caFile?: string;
  /** Connect + handshake timeout in milliseconds (`timeout=` is in seconds). */
  timeoutMs?: number;
  /** The inner client endpoint string. @default `tcp:HOST:PORT` */
  endpoint: string;
}

/** Options of a `tls:` server. */
export interface TlsServerOptions {
  port: number;
  /** PEM file with the private key (and the certificate chain unless `certKey` is given). */
  privateKey: string;
  /** PEM file with the certificate chain. @default `privateKey` */
  certKey: string;
  /** @default `127.0.0.1` (see `DEFAULT_TCP_INTERFACE`) */
  interface: string;
  backlog?: number;
}

const CLIENT_SPEC: ArgSpec = {
  what: 'tls: client',
  positional: ['host', 'port'],
  keywords: ['servername', 'rejectUnauthorized', 'caFile', 'timeout', 'endpoint'],
  usage: 'tls:HOST:PORT[:servername=S][:rejectUnauthorized=false][:caFile=F][:timeout=SECONDS][:endpoint=ENDPOINT]',
  bracketedHost: true,
};

const SERVER_SPEC: ArgSpec = {
  what: 'tls: server',
  positional: ['port'],
  keywords: ['privateKey', 'certKey', 'interface', 'backlog'],
  usage: 'tls:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:interface=IP][:backlog=N]',
};

/**
 * Parses and validates a `tls:` client endpoint without any I/O (the inner endpoint's grammar is
 * checked here; its own arguments are checked by its plugin before it does any I/O).
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseTlsClientOptions(endpoint: ParsedEndpoint): TlsClientOptions {
  const { named, keywords: k } = collectArgs(endpoint, CLIENT_SPEC);
  // The host is only a name to verify when another endpoint carries the bytes (it may be an onion
  // address reached through tor:); otherwise it is dialled directly and must not be an onion.
  const host = parseHost(required(named.host, 'host', CLIENT_SPEC), 'tls: host', { onion: k.endpoint !== undefined });
  const port = parsePort(required(named.port, 'port', CLIENT_SPEC), 'tls: port');
  const out: TlsClientOptions = {
    host,
    port,
    rejectUnauthorized: k.rejectUnauthorized !== undefined ? parseBoolean(k.rejectUnauthorized, 'tls: rejectUnauthorized') : true,
    endpoint: `tcp:${quoteEndpointArgument(host)}:${port}`,
  };
  if (k.servername !== undefined) {
    const name = parseHost(k.servername, 'tls: servername', { onion: true });
    if (net.isIP(name)) throw new EndpointArgumentError('tls: servername must be a host name, not an IP address (SNI)');
    out.servername = name;
  } else if (net.isIP(host) === 0) {
    out.servername = host;
  }
  if (k.caFile !== undefined) out.caFile = parseFilePath(k.caFile, 'tls: caFile');
  if (k.timeout !== undefined) out.timeoutMs = parseSeconds(k.timeout, 'tls: timeout');
  if (k.endpoint !== undefined) {
    let inner: ParsedEndpoint;
    try {
      inner = parseEndpoint(k.endpoint);
    } catch (err) {
      if (!(err instanceof EndpointSyntaxError)) throw err;
      throw new EndpointArgumentError(`tls: endpoint is not a valid endpoint string: ${err.message}`);
    }
    if (inner.prefix === 'tls') {
      throw new EndpointArgumentError(`tls: endpoint may not itself be a tls: endpoint, got ${showValue(redactEndpoint(k.endpoint))}`);
    }
    if (inner.prefix === 'tor' && innerTorTls(inner)) {
      throw new EndpointArgumentError(
        `tls: endpoint is a tor: stream with its own tls=true: that would be TLS inside TLS; leave tls=true out of the inner endpoint, got ${showValue(redactEndpoint(k.endpoint))}`,
      );
    }
    out.endpoint = k.endpoint;
  }
  return out;
}

/**
 * Whether a wrapped `tor:` endpoint asks for TLS itself (`tls=true`). A value that is no boolean
 * is left for `tor:`'s own validation to name.
 */
function innerTorTls(inner: ParsedEndpoint): boolean {
  const value = Object.prototype.hasOwnProperty.call(inner.options, 'tls') ? inner.options.tls : undefined;
  if (value === undefined) return false;
  try {
    return parseBoolean(value, 'tor: tls');
  } catch {
    return false;
  }
}

/**
 * Parses and validates a `tls:` server endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseTlsServerOptions(endpoint: ParsedEndpoint): TlsServerOptions {
  const { named, keywords: k } = collectArgs(endpoint, SERVER_SPEC);
  const port = parsePort(required(named.port, 'port', SERVER_SPEC), 'tls: port', true);
  const privateKey = parseFilePath(required(k.privateKey, 'privateKey=FILE', SERVER_SPEC), 'tls: privateKey');
  const out: TlsServerOptions = {
    port,
    privateKey,
    certKey: k.certKey !== undefined ? parseFilePath(k.certKey, 'tls: certKey') : privateKey,
    interface: k.interface !== undefined ? parseIpAddress(k.interface, 'tls: interface') : DEFAULT_TCP_INTERFACE,
  };
  if (k.backlog !== undefined) out.backlog = parseInteger(k.backlog, 'tls: backlog', 1, 65535);
  return out;
}

async function readPem(path: string, name: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new EndpointArgumentError(`tls: cannot read ${name} file ${showValue(path)} (${code})`);
  }
}

/**
 * Reads a `caFile`, which must hold at least one PEM certificate: Node takes a file without any as
 * an empty list of trusted CAs, and the connection would then fail as "self-signed certificate" or
 * "unable to get local issuer certificate", far from the mistake. Only Node's PEM forms count (a DER
 * file is no PEM), and the contents never appear in a message.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
async function readCaFile(path: string): Promise<Buffer> {
  const pem = await readPem(path, 'caFile');
  let usable = /-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----/.test(pem.toString('latin1'));
  if (usable) {
    try {
      new X509Certificate(pem);
    } catch {
      usable = false;
    }
  }
  if (!usable) throw new EndpointArgumentError(`tls: caFile ${showValue(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----) to trust`);
  return pem;
}

/**
 * Makes `server` speak TLS on the connections it accepts itself: each raw connection goes to
 * `tlsServer` (a `tls.Server` that never listens, only holds the key and does Node's server-side
 * handshake, with its timeout), and only a connection whose handshake succeeded reaches `server`'s
 * `'connection'` listeners (an `http.Server`'s among them), decrypted, as `https.Server` hands its
 * own. The raw connection still belongs to `server`: `close()` waits for it, `getConnections()`
 * and `maxConnections` count it. A failed handshake concerns that client only: it is dropped.
 *
 * The connections are taken in `server`'s own `emit`: listeners the application adds at any time,
 * before or after, see only TLS sockets. Returns what undoes it; `listen` calls that on a failed
 * listen and on the server's `'close'` (when `close(cb)` and the endpoint's `close()` finish), and
 * it undoes itself at a later listen elsewhere that comes first, so that a later listen on `tcp:`
 * is plain again.
 */
function serveTls(server: net.Server, tlsServer: tls.Server): () => void {
  const TLSSocket = nodeTls().TLSSocket;
  tlsServer.on('tlsClientError', () => undefined);
  tlsServer.on('secureConnection', (socket: tls.TLSSocket) => server.emit('connection', socket));
  const hadOwnEmit = Object.prototype.hasOwnProperty.call(server, 'emit');
  const inherited = server.emit;
  let active = true;
  /** Where the tls: listen is, once it is: `address()` as JSON. */
  let ours: string | undefined;
  const undo = (): void => {
    active = false;
    // Put back only when nobody wrapped emit since; otherwise ours stays, passing everything on.
    if (server.emit !== (emit as typeof server.emit)) return;
    if (hadOwnEmit) server.emit = inherited;
    else delete (server as { emit?: unknown }).emit;
  };
  const emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (active && event === 'connection' && !(args[0] instanceof TLSSocket)) return tlsServer.emit('connection', args[0]);
    // The first 'listening' is the tls: listen's own. One at another address means the
    // application closed the server and listened again (on tcp:, say) before 'close', while
    // clients of the tls: listen were still connected: that listen is not ours and must not get
    // TLS. (The register hook emits 'listening' again at the same address; a new listen on the
    // very same port before 'close' stays TLS.)
    if (event === 'listening') {
      const here = JSON.stringify(this.address());
      if (ours === undefined) ours = here;
      else if (here !== ours) undo();
    }
    return Reflect.apply(inherited, this, [event, ...args]) as boolean;
  };
  server.emit = emit as typeof server.emit;
  return undo;
}

/** The built-in `tls:` plugin. */
export const tlsPlugin: EndpointPlugin = {
  prefix: 'tls',
  describe: `client ${CLIENT_SPEC.usage}; server ${SERVER_SPEC.usage}`,

  validate(endpoint: ParsedEndpoint, role: EndpointRole, registry?: PluginRegistry): void {
    if (role === 'client') {
      const o = parseTlsClientOptions(endpoint);
      // The wrapped endpoint must name a known client prefix: found now, before any I/O.
      registry?.get(parseEndpoint(o.endpoint).prefix, 'client');
    } else parseTlsServerOptions(endpoint);
  },

  async connect(endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<net.Socket> {
    const o = parseTlsClientOptions(endpoint);
    const inner = parseEndpoint(o.endpoint);
    const plugin = ctx.registry.get(inner.prefix, 'client');
    await validateEndpoint(plugin, inner, 'client', ctx.registry);
    const ca = o.caFile !== undefined ? await readCaFile(o.caFile) : undefined;
    const what = `tls connection to ${net.isIPv6(o.host) ? `[${o.host}]` : o.host}:${o.port}`;
    throwIfAborted(ctx.signal, what);

    // One signal for the inner connection and the handshake, fired by the caller's abort or by
    // our timeout, so that a stalled attempt is torn down rather than left open.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      o.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timerDelay(o.timeoutMs))
        : undefined;
    let raw: net.Socket | undefined;
    try {
      raw = await plugin.connect!(inner, { ...ctx, signal: controller.signal });
      const socket = raw;
      return await openSocket(
        () =>
          nodeTls().connect({
            socket,
            host: o.host,
            rejectUnauthorized: o.rejectUnauthorized,
            ...(o.servername !== undefined ? { servername: o.servername } : {}),
            ...(ca ? { ca } : {}),
          }),
        'secureConnect',
        what,
        { signal: controller.signal },
      );
    } catch (err) {
      raw?.destroy();
      if (timedOut) throw new TorTimeoutError(what, o.timeoutMs!);
      throw err;
    } finally {
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
    }
  },

  async listen(server: net.Server, endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<ListeningEndpoint> {
    const o = parseTlsServerOptions(endpoint);
    // An https.Server (or tls.Server) wraps what it is handed in TLS again: TLS inside TLS.
    if (server instanceof nodeTls().Server) {
      throw new EndpointArgumentError(
        'tls: the server does TLS itself (an https.Server or tls.Server): a tls: endpoint would make that TLS inside TLS; listen on tcp: with it, or give tls: an http.Server or net.Server',
      );
    }
    const what = `listening on tls ${net.isIPv6(o.interface) ? `[${o.interface}]:${o.port}` : `${o.interface}:${o.port}`}`;
    // Refused before anything is wrapped: a server that listens already keeps what it has.
    assertNotListening(server, what);
    const key = await readPem(o.privateKey, 'privateKey');
    const cert = o.certKey === o.privateKey ? key : await readPem(o.certKey, 'certKey');
    try {
      // Checked here so that a bad key is an argument error before anything listens.
      nodeTls().createSecureContext({ key, cert });
    } catch (err) {
      // OpenSSL's reason only: never the file contents.
      const reason = err instanceof Error ? err.message : String(err);
      throw new EndpointArgumentError(`tls: privateKey/certKey are not a usable PEM key and certificate: ${reason}`);
    }
    const unwrap = serveTls(server, nodeTls().createServer({ key, cert }));
    try {
      await listenServer(
        server,
        { port: o.port, host: o.interface, ...(o.backlog !== undefined ? { backlog: o.backlog } : {}) },
        what,
        ctx.signal,
      );
    } catch (err) {
      unwrap();
      throw err;
    }
    // However it is closed (here or by the application), the server is an ordinary one again.
    server.once('close', unwrap);
    return listeningEndpoint(formatServerAddress(server), () => closeServer(server));
  },
};
