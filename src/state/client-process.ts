/**
 * Which local process opened a stream (Linux only): the stream's SOURCE_ADDR is the client end of
 * its connection to tor (SOCKS, HTTP CONNECT, TransPort, NATDPort alike: tor takes it from the
 * accepted socket's peer), so `/proc/net/tcp{,6}` gives the socket's inode for that local address
 * and port, and the process holding a descriptor `socket:[inode]` in `/proc/PID/fd` is the client.
 * The socket must be connected to one of tor's client listeners, or for a transparently redirected
 * stream to the destination it asked for, when they are known: once the client has closed, its port
 * is free for any other socket (a listening server, a connection elsewhere), whose process is not
 * the stream's. Processes of other users cannot be inspected without privileges; they are then not
 * found.
 */

import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { bytesToNormal, normalizeAddress } from '../util/ip-address.js';
import { isWildcardAddress, parseListenerAddresses } from '../control/listener-addresses.js';

/** A local process. */
export interface ClientProcess {
  pid: number;
  /** The command line (arguments joined by spaces), or the short name when it is unreadable. */
  command: string;
}

/** The far end a client's socket must have: an address and port, or (`host` undefined) any address on `port`. */
export interface SocketPeer {
  host: string | undefined;
  port: number;
}

/** Options of {@link findClientProcess}. */
export interface FindClientProcessOptions {
  /** Where procfs is mounted. @default '/proc' */
  procRoot?: string;
  /**
   * The far ends the client's socket may have: tor's client listeners (see {@link listenerPeers}),
   * and for a transparent stream the destination it asked for. Only a socket connected to one of
   * them counts. Without them any socket with that local end does, except a listening one.
   */
  peers?: readonly SocketPeer[];
}

/** TCP states of /proc/net/tcp (include/net/tcp_states.h): a listening socket has no client. */
const TCP_LISTEN = '0A';

/**
 * tor's listeners from the value of `GETINFO net/listeners/socks` (or `.../httptunnel`, `.../trans`, `.../natd`: quoted `host:port` items;
 * `unix:` ones are skipped), as the far end of a client's socket. A wildcard listener (`0.0.0.0`,
 * `[::]`) is reached at any local address, so only its port is kept.
 * @example listenerPeers('"127.0.0.1:9050" "unix:/run/tor/socks"') // [{ host: '127.0.0.1', port: 9050 }]
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for an unterminated quote
 */
export function listenerPeers(value: string): SocketPeer[] {
  const out: SocketPeer[] = [];
  for (const a of parseListenerAddresses(value)) {
    if ('path' in a) continue;
    out.push({ host: isWildcardAddress(a.host) ? undefined : (normalizeAddress(a.host) ?? a.host), port: a.port });
  }
  return out;
}

/** Processes inspected at once while looking for a socket's owner. */
const SCAN_BATCH = 32;

/**
 * The process that owns the TCP socket whose LOCAL end is `host:port`, or undefined when there is
 * no such socket, it is not visible to us, or this is not Linux.
 *
 * @param host - IPv4 or IPv6 address (IPv4-mapped IPv6 matches its IPv4 form)
 * @param port - the local port
 * @example
 * await findClientProcess('127.0.0.1', 51234) // { pid: 4242, command: 'curl --socks5-hostname ...' }
 */
export async function findClientProcess(
  host: string,
  port: number,
  opts: FindClientProcessOptions = {},
): Promise<ClientProcess | undefined> {
  const root = opts.procRoot ?? '/proc';
  if (opts.procRoot === undefined && process.platform !== 'linux') return undefined;
  const wanted = normalizeAddress(host);
  if (wanted === null || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  let inode: string | undefined;
  for (const table of ['net/tcp', 'net/tcp6']) {
    inode = await findInode(path.join(root, table), wanted, port, opts.peers);
    if (inode !== undefined) break;
  }
  if (inode === undefined) return undefined;
  const target = `socket:[${inode}]`;
  let pids: number[];
  try {
    pids = (await readdir(root)).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return undefined;
  }
  // Our own process is the usual client (tests, Tor.connect); look there first.
  const own = pids.indexOf(process.pid);
  if (own > 0) {
    pids.splice(own, 1);
    pids.unshift(process.pid);
  }
  for (let i = 0; i < pids.length; i += SCAN_BATCH) {
    const batch = pids.slice(i, i + SCAN_BATCH);
    const hits = await Promise.all(batch.map((pid) => holdsSocket(root, pid, target)));
    const at = hits.indexOf(true);
    if (at !== -1) {
      const pid = batch[at]!;
      return { pid, command: await commandOf(root, pid) };
    }
  }
  return undefined;
}

/**
 * The inode of the socket in a /proc/net/tcp table whose local address is `wanted:port`, not
 * listening, and connected to one of `peers` when given.
 */
async function findInode(file: string, wanted: string, port: number, peers: readonly SocketPeer[] | undefined): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch {
    return undefined;
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = fields[1]!;
    const colon = local.indexOf(':');
    if (colon === -1 || local.slice(colon + 1).toUpperCase() !== portHex) continue;
    const addr = decodeProcAddress(local.slice(0, colon));
    const inode = fields[9]!;
    if (addr !== wanted || inode === '0' || fields[3] === TCP_LISTEN) continue;
    if (peers !== undefined && !connectedTo(fields[2]!, peers)) continue;
    return inode;
  }
  return undefined;
}

/** Whether a /proc/net/tcp remote address (`HEX:PORT`) is one of `peers`. */
function connectedTo(remote: string, peers: readonly SocketPeer[]): boolean {
  const colon = remote.indexOf(':');
  if (colon === -1) return false;
  const port = Number.parseInt(remote.slice(colon + 1), 16);
  const host = decodeProcAddress(remote.slice(0, colon));
  return peers.some((p) => p.port === port && (p.host === undefined || p.host === host));
}

async function holdsSocket(root: string, pid: number, target: string): Promise<boolean> {
  const fdDir = path.join(root, String(pid), 'fd');
  let fds: string[];
  try {
    fds = await readdir(fdDir);
  } catch {
    return false; // gone, or not ours to look at
  }
  for (const fd of fds) {
    try {
      if ((await readlink(path.join(fdDir, fd))) === target) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

async function commandOf(root: string, pid: number): Promise<string> {
  try {
    const cmdline = await readFile(path.join(root, String(pid), 'cmdline'), 'utf8');
    const args = cmdline.split('\0').filter((a) => a !== '');
    if (args.length > 0) return args.join(' ');
  } catch {
    // fall back to comm
  }
  try {
    return (await readFile(path.join(root, String(pid), 'comm'), 'utf8')).trim();
  } catch {
    return '';
  }
}

/**
 * Decodes a /proc/net/tcp address: 8 hex digits (IPv4, little-endian) or 32 (IPv6, four
 * little-endian 32-bit words), into the normal form {@link normalizeAddress} gives.
 */
export function decodeProcAddress(hex: string): string | null {
  if (hex.length === 8) {
    const n = Number.parseInt(hex, 16);
    if (Number.isNaN(n)) return null;
    return `${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${n >>> 24}`;
  }
  if (hex.length !== 32) return null;
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    for (let b = 3; b >= 0; b--) {
      const v = Number.parseInt(hex.substr(w * 8 + b * 2, 2), 16);
      if (Number.isNaN(v)) return null;
      bytes.push(v);
    }
  }
  return bytesToNormal(bytes);
}
