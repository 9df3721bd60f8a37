import type { Duplex } from 'node:stream';
import { bytesToIp, ipToBytes } from './ip-bytes.js';
import { socksFailure, socksReplyError } from './socks-errors.js';
import type { SocksCredentials } from './socks-request.js';

/**
 * tor's SOCKS5 name-lookup extensions (socks-extensions.txt 2), which the `socks` package does
 * not speak: RESOLVE (command 0xF0: a hostname in, an IPv4/IPv6 address out) and RESOLVE_PTR
 * (0xF1: an address in, a hostname out). The exit does the lookup; nothing is resolved locally.
 *
 * Wire format (RFC 1928/1929, as tor uses it):
 *   greeting  05 01 METHOD                       (00 no auth, or 02 username/password)
 *   reply     05 METHOD                          (FF: none acceptable)
 *   auth      01 ULEN USER PLEN PASS  ->  01 STATUS (00 ok)
 *   request   05 CMD 00 ATYP ADDR 00 00          (ATYP 1 IPv4, 3 name, 4 IPv6; port unused)
 *   reply     05 REP 00 ATYP ADDR PORT           (REP 00 success, else an error byte)
 */

/** SOCKS5 command byte of tor's RESOLVE. */
export const SOCKS_CMD_RESOLVE = 0xf0;
/** SOCKS5 command byte of tor's RESOLVE_PTR. */
export const SOCKS_CMD_RESOLVE_PTR = 0xf1;

/** Which lookup. */
export type ResolveCommand = typeof SOCKS_CMD_RESOLVE | typeof SOCKS_CMD_RESOLVE_PTR;

/** The client greeting: offers exactly one method, so that tor cannot pick another one. */
export function encodeGreeting(credentials: SocksCredentials | undefined): Buffer {
  return Buffer.from([0x05, 0x01, credentials ? 0x02 : 0x00]);
}

/** The RFC 1929 username/password message (lengths checked by `socksCredentials`). */
export function encodeUserPass(credentials: SocksCredentials): Buffer {
  const user = Buffer.from(credentials.username);
  const pass = Buffer.from(credentials.password);
  if (user.length > 255 || pass.length > 255) throw new RangeError('SOCKS username and password are limited to 255 bytes');
  return Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]);
}

/**
 * The RESOLVE/RESOLVE_PTR request. RESOLVE sends a name as type 3 (or an IP literal as type 1/4:
 * tor answers those itself); RESOLVE_PTR sends the address as type 1/4.
 * @param host validated by `parseSocksHost` (ASCII, at most 255 bytes)
 */
export function encodeResolveRequest(command: ResolveCommand, host: string, addressType: 1 | 3 | 4): Buffer {
  let address: Buffer;
  if (addressType === 3) {
    const name = Buffer.from(host, 'ascii');
    if (name.length === 0 || name.length > 255) throw new RangeError('a SOCKS5 domain name has 1 to 255 bytes');
    address = Buffer.concat([Buffer.from([name.length]), name]);
  } else {
    address = ipToBytes(host);
  }
  return Buffer.concat([Buffer.from([0x05, command, 0x00, addressType]), address, Buffer.from([0x00, 0x00])]);
}

/**
 * Reads exactly-sized pieces from a socket. A close, end or error while bytes are awaited
 * rejects the read; bytes that arrive while nobody waits are kept.
 */
export class SocketReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.pump();
  };
  private readonly onEnd = () => this.fail(new Error('tor closed the SOCKS connection'));
  private readonly onError = (err: Error) => this.fail(err);

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Resolves with the next `n` bytes. Only one read may be pending. */
  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.pump();
    });
  }

  /** Removes the listeners (the socket is left as it is). */
  dispose(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.buffered.length >= w.n) {
      this.waiter = undefined;
      const out = this.buffered.subarray(0, w.n);
      this.buffered = this.buffered.subarray(w.n);
      w.resolve(out);
    } else if (this.failure) {
      this.waiter = undefined;
      w.reject(this.failure);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.pump();
  }
}

/** Hostnames in replies: printable ASCII without spaces, so nothing odd reaches the application. */
function decodeReplyHostname(bytes: Buffer, what: string): string {
  if (bytes.length === 0) throw socksFailure('protocol', `${what} failed: tor answered an empty hostname`);
  for (const b of bytes) {
    if (b < 0x21 || b > 0x7e) throw socksFailure('protocol', `${what} failed: tor's answer holds a byte that cannot be in a hostname (0x${b.toString(16)})`);
  }
  return bytes.toString('ascii');
}

/**
 * Runs the whole RESOLVE/RESOLVE_PTR exchange on a socket connected to tor's SOCKS port and returns
 * the answer: an IPv4/IPv6 address for RESOLVE, a hostname for RESOLVE_PTR. The caller owns the
 * socket (and destroys it afterwards, and on abort or timeout, which also ends a pending read).
 * @param what what was asked, for messages, e.g. `RESOLVE example.com through tor`
 * @throws TorSocksError: a reply-byte code with `reply` (e.g. `TOR_SOCKS_HOST_UNREACHABLE` for a
 *   name the exit could not resolve), `TOR_SOCKS_AUTH_FAILED`, `TOR_SOCKS_PROTOCOL` for a malformed
 *   or unexpected reply, `TOR_SOCKS_CLOSED` when tor hangs up
 */
export async function socksResolveExchange(
  socket: Duplex,
  command: ResolveCommand,
  target: { host: string; addressType: 1 | 3 | 4 },
  credentials: SocksCredentials | undefined,
  what: string,
): Promise<string> {
  const reader = new SocketReader(socket);
  const read = async (n: number): Promise<Buffer> => {
    try {
      return await reader.read(n);
    } catch (err) {
      throw socksFailure('closed', `${what} failed: the SOCKS connection closed before tor's answer was complete (${(err as Error).message})`, err);
    }
  };
  try {
    socket.write(encodeGreeting(credentials));
    const greeting = await read(2);
    if (greeting[0] !== 0x05) {
      throw socksFailure('protocol', `${what} failed: the SOCKS port did not answer as SOCKS5 (first byte 0x${greeting[0]!.toString(16)}): is it tor's SocksPort?`);
    }
    const wanted = credentials ? 0x02 : 0x00;
    if (greeting[1] !== wanted) {
      throw greeting[1] === 0xff
        ? socksFailure('auth', `${what} failed: tor accepted none of the offered SOCKS authentication methods`)
        : socksFailure('protocol', `${what} failed: tor chose SOCKS authentication method 0x${greeting[1]!.toString(16)}, which was not offered`);
    }
    if (credentials) {
      socket.write(encodeUserPass(credentials));
      const auth = await read(2);
      // RFC 1929 says version 1; some servers echo 5. Only the status matters.
      if (auth[0] !== 0x01 && auth[0] !== 0x05) throw socksFailure('protocol', `${what} failed: malformed SOCKS authentication reply`);
      if (auth[1] !== 0x00) throw socksFailure('auth', `${what} failed: tor refused the SOCKS username/password`);
    }
    socket.write(encodeResolveRequest(command, target.host, target.addressType));
    const header = await read(4);
    if (header[0] !== 0x05) throw socksFailure('protocol', `${what} failed: tor's reply has SOCKS version 0x${header[0]!.toString(16)} instead of 5`);
    if (header[1] !== 0x00) throw socksReplyError(header[1]!, what, { reverse: command === SOCKS_CMD_RESOLVE_PTR });
    const addressType = header[3]!;
    let answer: string;
    if (addressType === 0x01 || addressType === 0x04) {
      const body = await read(addressType === 0x01 ? 4 + 2 : 16 + 2);
      answer = bytesToIp(body.subarray(0, body.length - 2));
      if (command === SOCKS_CMD_RESOLVE_PTR) {
        throw socksFailure('protocol', `${what} failed: tor answered an address where a hostname was expected`);
      }
    } else if (addressType === 0x03) {
      const len = (await read(1))[0]!;
      const body = await read(len + 2);
      answer = decodeReplyHostname(body.subarray(0, len), what);
      if (command === SOCKS_CMD_RESOLVE) {
        throw socksFailure('protocol', `${what} failed: tor answered a hostname where an address was expected`);
      }
    } else {
      throw socksFailure('protocol', `${what} failed: tor's reply has unknown address type ${addressType}`);
    }
    return answer;
  } finally {
    reader.dispose();
  }
}

