import type net from 'node:net';
import type { SocksClient as SocksClientClass } from 'socks';
import type { TorSocksError } from '../errors.js';
import { isOnionHostname } from '../onion/service-id.js';
import { socksFailure, socksReplyError } from './socks-errors.js';
import type { SocksCredentials, SocksTarget } from './socks-request.js';

/**
 * The SOCKS5 CONNECT handshake over a socket already connected to tor, done by the `socks`
 * package. That package reports failures as message strings only (`Socks5 proxy rejected
 * connection - HostUnreachable`), names unknown reply bytes `undefined` (so tor's 0xF0-0xF7
 * onion errors are lost), and keeps the proxy credentials in its error's `options`. So we record
 * the bytes tor sends during the handshake and read the reply byte ourselves, and we never pass its
 * error object on as a cause.
 */

/** What tor sent during the handshake, decoded as far as it goes. */
export interface HandshakeBytes {
  /** The method byte tor chose in its greeting reply (0x00 no auth, 0x02 user/pass, 0xFF none). */
  method?: number;
  /** Version byte of the greeting reply (5 for SOCKS5). */
  greetingVersion?: number;
  /** Status byte of the username/password reply (0x00 accepted). */
  authStatus?: number;
  /** The final reply's header, once 4 bytes of it arrived. */
  reply?: { version: number; reply: number; addressType: number };
}

/** Decodes the server-to-client bytes of a SOCKS5 handshake (pure; partial input is fine). */
export function decodeHandshakeBytes(bytes: Buffer): HandshakeBytes {
  const out: HandshakeBytes = {};
  if (bytes.length < 2) return out;
  out.greetingVersion = bytes[0]!;
  out.method = bytes[1]!;
  let offset = 2;
  if (out.method === 0x02) {
    if (bytes.length < 4) return out;
    out.authStatus = bytes[3]!;
    offset = 4;
  }
  if (bytes.length >= offset + 4) {
    out.reply = { version: bytes[offset]!, reply: bytes[offset + 1]!, addressType: bytes[offset + 3]! };
  }
  return out;
}

// Message prefixes of the `socks` package (node_modules/socks/build/common/constants.js ERRORS).
const REJECTED = 'Socks5 proxy rejected connection';
const TIMED_OUT = 'Proxy connection timed out';
const SOCKET_CLOSED = 'Socket closed';
const NO_ACCEPTED_AUTH = 'Received invalid Socks5 initial handshake (no accepted authentication type)';
const UNKNOWN_AUTH = 'Received invalid Socks5 initial handshake (unknown authentication type)';
const BAD_VERSION = 'Received invalid Socks5 initial handshake (invalid socks version)';
const AUTH_FAILED = 'Socks5 Authentication failed';

/**
 * Turns a failure of the `socks` package into a `TorSocksError`, using the bytes tor sent.
 * @param message the `socks` error's message (it holds no credentials)
 * @param bytes everything tor sent on the socket during the handshake
 * @param what what was asked, e.g. `connect to example.com:80 through tor`
 * @param handshakeTimeoutMs the limit that applied, for the timeout message
 * @param onion the target is a `.onion` address (see socksReplyError)
 */
export function translateSocksFailure(message: string, bytes: Buffer, what: string, handshakeTimeoutMs: number, onion = false): TorSocksError {
  const seen = decodeHandshakeBytes(bytes);
  const cause = new Error(message);
  if (seen.greetingVersion !== undefined && seen.greetingVersion !== 0x05) {
    return socksFailure('protocol', `${what} failed: the SOCKS port did not answer as SOCKS5 (first byte 0x${seen.greetingVersion.toString(16)}): is it tor's SocksPort?`, cause);
  }
  if (message.startsWith(REJECTED)) {
    if (seen.reply === undefined) return socksFailure('protocol', `${what} failed: tor rejected the request with a reply that could not be read`, cause);
    if (seen.reply.version !== 0x05) {
      return socksFailure('protocol', `${what} failed: tor's reply has SOCKS version 0x${seen.reply.version.toString(16)} instead of 5`, cause);
    }
    return socksReplyError(seen.reply.reply, what, { onion });
  }
  if (message === TIMED_OUT) {
    return socksFailure('timeout', `${what} failed: tor did not complete the SOCKS handshake within ${handshakeTimeoutMs} ms`, cause);
  }
  if (message === NO_ACCEPTED_AUTH) {
    return socksFailure('auth', `${what} failed: tor accepted none of the offered SOCKS authentication methods`, cause);
  }
  if (message === AUTH_FAILED) {
    return socksFailure('auth', `${what} failed: tor refused the SOCKS username/password`, cause);
  }
  if (message === UNKNOWN_AUTH || message === BAD_VERSION) {
    return socksFailure('protocol', `${what} failed: the SOCKS port's greeting reply is not SOCKS5 as tor speaks it`, cause);
  }
  if (message === SOCKET_CLOSED) {
    return socksFailure('closed', `${what} failed: tor closed the SOCKS connection during the handshake`, cause);
  }
  return socksFailure('closed', `${what} failed: the SOCKS connection broke during the handshake (${message})`, cause);
}

/**
 * After the handshake the `socks` package, one macrotask later, emits the bytes that followed
 * tor's reply as a 'data' event and calls `resume()`: an application that attaches its 'data'
 * listener after an await of its own would lose that data and everything arriving meanwhile
 * (e.g. a server's banner). A socket from `net.connect` keeps data until someone reads; so we let
 * that macrotask pass with `resume` disabled, put the bytes back in front of the read buffer, and
 * return the socket to the state of a fresh one (not flowing until the first 'data' listener).
 */
async function settleLikeFreshSocket(socket: net.Socket): Promise<void> {
  const early: Buffer[] = [];
  const capture = (chunk: Buffer) => early.push(chunk);
  socket.on('data', capture);
  socket.resume = function (this: net.Socket) {
    return this;
  };
  try {
    await new Promise<void>((resolve) => setImmediate(resolve));
  } finally {
    socket.off('data', capture);
    delete (socket as { resume?: unknown }).resume; // the prototype's resume() again
  }
  if (socket.destroyed) return;
  if (early.length > 0) socket.unshift(Buffer.concat(early));
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}

/** Longest handshake transcript kept: greeting (2) + auth (2) + a reply with a 255-byte name (262). */
const MAX_TRANSCRIPT = 512;

/**
 * Runs the SOCKS5 CONNECT handshake on `socket` (already connected to tor's SOCKS port).
 * Hostnames are sent as SOCKS5 domain names (type 3): tor resolves them, never we.
 * On failure the socket is destroyed.
 * @throws TorSocksError with a reply-byte code (`TOR_SOCKS_CONNECTION_REFUSED`,
 *   `TOR_SOCKS_ONION_NOT_FOUND`, ...) and `reply`, or `TOR_SOCKS_TIMEOUT`, `TOR_SOCKS_AUTH_FAILED`,
 *   `TOR_SOCKS_PROTOCOL`, `TOR_SOCKS_CLOSED`; `signal.reason` when aborted
 */
export async function socksConnectHandshake(
  socket: net.Socket,
  target: SocksTarget,
  credentials: SocksCredentials | undefined,
  opts: { signal: AbortSignal; handshakeTimeoutMs: number; what: string },
): Promise<void> {
  const chunks: Buffer[] = [];
  let recorded = 0;
  const tap = (chunk: Buffer) => {
    if (recorded >= MAX_TRANSCRIPT) return;
    chunks.push(chunk);
    recorded += chunk.length;
  };
  const onAbort = () => socket.destroy();
  socket.on('data', tap);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal.aborted) throw opts.signal.reason;
    const SocksClient = await loadSocksClient();
    let client: SocksClientClass | undefined;
    try {
      // What SocksClient.createConnection does (its validator throws from the constructor),
      // keeping the client so that it can be let go of below.
      const c = (client = new SocksClient({
        command: 'connect',
        // The socket is already connected (existing_socket): these only satisfy the validator.
        proxy: {
          host: '127.0.0.1',
          port: 1,
          type: 5,
          ...(credentials ? { userId: credentials.username, password: credentials.password } : {}),
        },
        destination: { host: target.host, port: target.port },
        existing_socket: socket,
        timeout: opts.handshakeTimeoutMs,
      }));
      await new Promise<void>((resolve, reject) => {
        c.once('established', () => resolve());
        c.once('error', reject);
        c.connect(socket);
      });
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      const onion = isOnionHostname(target.host);
      throw translateSocksFailure(String((err as Error)?.message ?? err), Buffer.concat(chunks), opts.what, opts.handshakeTimeoutMs, onion);
    } finally {
      if (client !== undefined) {
        const made = client;
        made.removeAllListeners();
        setImmediate(() => letGoOf(made));
      }
    }
    await settleLikeFreshSocket(socket);
    const seen = decodeHandshakeBytes(Buffer.concat(chunks));
    // The package accepts any address type in the reply and would then hand the reply itself to
    // the application as data; tor only ever sends 1, 3 or 4.
    if (seen.reply && ![1, 3, 4].includes(seen.reply.addressType)) {
      throw socksFailure('protocol', `${opts.what} failed: tor's reply has unknown address type ${seen.reply.addressType}`);
    }
    if (opts.signal.aborted) throw opts.signal.reason;
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    socket.off('data', tap);
    opts.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The package arms an unref'd timer of `timeout` (our handshake limit, 130 s by default) when it
 * starts a handshake and never clears it; until it fires, its closure keeps the client, and
 * through it our socket, its buffers and the SOCKS credentials. Measured on the test network:
 * about 30 KB held per fetch for those 130 s. Once the handshake is over (and the package's own
 * setImmediate after 'established' has run) the client needs none of them: when the timer fires it
 * only reads its state, which is then Established or Error. So we drop its references.
 */
function letGoOf(client: SocksClientClass): void {
  const held = client as unknown as { socket?: unknown; options?: unknown; receiveBuffer?: unknown };
  held.socket = undefined;
  held.options = undefined;
  held.receiveBuffer = undefined;
}

let socksClient: typeof SocksClientClass | undefined;

/**
 * The `socks` package, loaded by the first SOCKS connection rather than when torcon is imported:
 * a program that only watches tor's state never pays for it.
 */
async function loadSocksClient(): Promise<typeof SocksClientClass> {
  socksClient ??= (await import('socks')).SocksClient;
  return socksClient;
}
