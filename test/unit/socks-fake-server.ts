import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A tiny SOCKS5 server on 127.0.0.1 (or a unix socket) for byte-level unit tests: it records
 * every byte a client sends, answers each request as the test says (including reply bytes and
 * malformed replies a real tor cannot be made to send), and can forward a granted CONNECT to a
 * local server so that data, TLS and HTTP can run over it. Not used by integration tests, which
 * talk to real tor.
 */

/** A request as the fake server decoded it. */
export interface FakeRequest {
  command: number;
  addressType: number;
  /** Dotted IPv4, IPv6 bytes as hex groups, or the domain name as sent. */
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** How to answer one request. */
export interface FakeAnswer {
  /** REP byte. @default 0 */
  reply?: number;
  /** Address part of the reply after REP/RSV: ATYP and address bytes and port. @default IPv4 0.0.0.0:0 */
  bound?: Buffer;
  /** Send these bytes instead of a well-formed reply. */
  raw?: Buffer;
  /** After a granted CONNECT, pipe the connection to this local TCP port. */
  forwardTo?: number;
  /** Bytes sent right after the reply (in the same write). */
  after?: Buffer;
  /** Close the connection after answering (or instead of answering, with `silent`). */
  close?: boolean;
  /** Do not answer at all (the client must time out or abort). */
  silent?: boolean;
}

export interface FakeServerOptions {
  /** Listen on this unix socket path instead of 127.0.0.1:0. */
  path?: string;
  /** Listen on this loopback address instead of 127.0.0.1. */
  host?: string;
  /** Greeting reply: which method to choose. `auto` picks user/pass when offered. @default 'auto' */
  method?: 'auto' | 'noauth' | 'none' | number;
  /** Whether user/pass authentication succeeds. @default true */
  authOk?: boolean;
  /** Raw bytes to send as the greeting reply, replacing the normal one. */
  rawGreeting?: Buffer;
  /** Answer for each request. @default grant */
  answer?: (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;
}

export interface FakeConnection {
  /** The client's port as seen by the server. */
  remotePort: number | undefined;
  /** Every byte received before the request was answered. */
  received: Buffer;
  request?: FakeRequest;
  /** The greeting's offered methods. */
  methods?: number[];
  closed: boolean;
  /** Resolves when the connection closes (either side). */
  whenClosed: Promise<void>;
}

export interface FakeSocksServer {
  port: number;
  path?: string;
  connections: FakeConnection[];
  close(): Promise<void>;
}

class Reader {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  constructor(private readonly socket: net.Socket, private readonly record: (b: Buffer) => void) {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }
  private readonly onData = (d: Buffer) => {
    this.record(d);
    this.buf = Buffer.concat([this.buf, d]);
    this.wake?.();
  };
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error('client closed');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Stops reading; returns bytes read but not consumed. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    return this.buf;
  }
}

function hexGroups(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}

/** Reply address for IPv4 0.0.0.0:0, as tor sends with CONNECT replies. */
export const ZERO_BOUND = Buffer.from([0x01, 0, 0, 0, 0, 0, 0]);

export function startFakeSocksServer(opts: FakeServerOptions = {}): Promise<FakeSocksServer> {
  const connections: FakeConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let markClosed = () => undefined as void;
    const whenClosed = new Promise<void>((resolve) => (markClosed = resolve));
    const conn: FakeConnection = { remotePort: socket.remotePort, received: Buffer.alloc(0), closed: false, whenClosed };
    connections.push(conn);
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
      markClosed();
    });
    const reader = new Reader(socket, (b) => (conn.received = Buffer.concat([conn.received, b])));
    void handle(socket, conn, reader).catch(() => socket.destroy());
  });

  async function handle(socket: net.Socket, conn: FakeConnection, reader: Reader): Promise<void> {
    const [ver, n] = await reader.read(2);
    if (ver !== 5) throw new Error('not socks5');
    conn.methods = [...(await reader.read(n!))];
    if (opts.rawGreeting) {
      socket.write(opts.rawGreeting);
      return;
    }
    const want = opts.method ?? 'auto';
    const method =
      typeof want === 'number' ? want
      : want === 'none' ? 0xff
      : want === 'noauth' ? 0x00
      : conn.methods.includes(0x02) ? 0x02 : 0x00;
    socket.write(Buffer.from([0x05, method]));
    if (method === 0xff) {
      socket.end();
      return;
    }
    let username: string | undefined;
    let password: string | undefined;
    if (method === 0x02) {
      const [, ulen] = await reader.read(2);
      username = (await reader.read(ulen!)).toString();
      const [plen] = await reader.read(1);
      password = (await reader.read(plen!)).toString();
      const ok = opts.authOk ?? true;
      socket.write(Buffer.from([0x01, ok ? 0x00 : 0x01]));
      if (!ok) {
        socket.end();
        return;
      }
    }
    const [, command, , atyp] = await reader.read(4);
    let host: string;
    if (atyp === 1) host = [...(await reader.read(4))].join('.');
    else if (atyp === 4) host = hexGroups(await reader.read(16));
    else if (atyp === 3) host = (await reader.read((await reader.read(1))[0]!)).toString('latin1');
    else throw new Error('bad atyp');
    const port = (await reader.read(2)).readUInt16BE(0);
    conn.request = { command: command!, addressType: atyp!, host, port, ...(username !== undefined ? { username, password: password! } : {}) };
    const answer = (await opts.answer?.(conn.request)) ?? {};
    if (answer.silent) {
      if (answer.close) socket.destroy();
      return;
    }
    const head = answer.raw ?? Buffer.concat([Buffer.from([0x05, answer.reply ?? 0, 0x00]), answer.bound ?? ZERO_BOUND]);
    if (answer.forwardTo !== undefined && (answer.reply ?? 0) === 0 && !answer.raw) {
      const leftover = reader.detach();
      const upstream = net.connect({ host: '127.0.0.1', port: answer.forwardTo });
      sockets.add(upstream);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.on('close', () => {
        sockets.delete(upstream);
        socket.destroy();
      });
      socket.on('close', () => upstream.destroy());
      await new Promise<void>((r) => upstream.once('connect', () => r()));
      socket.write(answer.after ? Buffer.concat([head, answer.after]) : head);
      if (leftover.length) upstream.write(leftover);
      socket.pipe(upstream);
      upstream.pipe(socket);
      return;
    }
    socket.write(answer.after ? Buffer.concat([head, answer.after]) : head);
    if (answer.close) socket.end();
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : 0,
        ...(opts.path ? { path: opts.path } : {}),
        connections,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    };
    if (opts.path) server.listen(opts.path, onListening);
    else server.listen(0, opts.host ?? '127.0.0.1', onListening);
  });
}

/** A fake control connection answering `GETINFO net/listeners/socks` with `value` (or failing). */
export function fakeControl(value: string | Error): {
  command(line: string): Promise<{ status: number; lines: { status: number; separator: '-' | ' ' | '+'; text: string }[] }>;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    command(line: string) {
      calls.push(line);
      if (value instanceof Error) return Promise.reject(value);
      return Promise.resolve({
        status: 250,
        lines: [
          { status: 250, separator: '-', text: `net/listeners/socks=${value}` },
          { status: 250, separator: ' ', text: 'OK' },
        ],
      });
    },
  };
}

/**
 * A throw-away self-signed certificate (1 day, P-256) made with the openssl CLI, for TLS tests.
 * @param names DNS names and IP addresses for subjectAltName
 */
export function makeTestCertificate(names: { dns?: string[]; ip?: string[] }): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'torcon-cert-'));
  try {
    const san = [...(names.dns ?? []).map((d) => `DNS:${d}`), ...(names.ip ?? []).map((i) => `IP:${i}`)].join(',');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${names.dns?.[0] ?? 'torcon-test'}`, '-addext', `subjectAltName=${san}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
