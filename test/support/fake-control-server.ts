/**
 * A scriptable fake of tor's control port, for fault cases and replays that real tor cannot be
 * made to produce on demand. It speaks enough of the protocol for `openTorControl` (PROTOCOLINFO
 * with NULL auth, AUTHENTICATE), acknowledges SETEVENTS (remembering the set), keeps a small
 * SETCONF/GETCONF store, answers GETINFO from a table, and answers anything else from handlers the
 * test registers. Tests push `650` events whenever they like.
 *
 * @example
 * const fake = await FakeControlServer.start();
 * fake.info({ 'ns/all': nsText, 'circuit-status': '' });
 * fake.handle(/^EXTENDCIRCUIT/, () => ['250 EXTENDED 7']);
 * const { control } = await openTorControl(fake.endpoint);
 * fake.event('CIRC 7 BUILT $AAAA...~relay');
 */

import net from 'node:net';

/** What a handler answers: wire lines without CRLF (`250 OK`), or undefined to fall through. */
export type FakeReply = string[] | undefined;

/**
 * A command handler: gets the command line (without CRLF; for a command with a data block its
 * `+KEYWORD` line alone) and the connection it came on.
 */
export type FakeHandler = (line: string, conn: FakeConnection) => FakeReply | Promise<FakeReply>;

/** One client connection to the fake. */
export interface FakeConnection {
  readonly socket: net.Socket;
  /** Whether AUTHENTICATE succeeded. */
  authenticated: boolean;
  /** The events this connection asked for (SETEVENTS). */
  events: Set<string>;
}

/** Options of {@link FakeControlServer.start}. */
export interface FakeControlServerOptions {
  /** The tor version PROTOCOLINFO announces. @default '0.4.9.1' */
  version?: string;
  /** Only send events a connection subscribed to (like tor). @default true */
  filterEvents?: boolean;
}

/** Formats a GETINFO/GETCONF answer: `250-k=v` lines, `250+k=` data blocks for multi-line values, `250 OK`. */
export function keyValueReply(values: Record<string, string>): string[] {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (v.includes('\n')) {
      lines.push(`250+${k}=`);
      for (const l of v.split('\n')) lines.push(l.startsWith('.') ? '.' + l : l);
      lines.push('.');
    } else {
      lines.push(`250-${k}=${v}`);
    }
  }
  lines.push('250 OK');
  return lines;
}

/** The wire text of a `650+NAME` event with a data block (NS, NEWCONSENSUS). */
export function dataEvent(name: string, body: string): string {
  const lines = body.split('\n').map((l) => (l.startsWith('.') ? '.' + l : l));
  return `650+${name}\r\n${lines.join('\r\n')}\r\n.\r\n650 OK\r\n`;
}

/**
 * The fake control port. Every received command line is recorded in `commands` (AUTHENTICATE
 * arguments included: tests use no real secrets).
 */
export class FakeControlServer {
  /** Every command line received, in order, across connections. */
  readonly commands: string[] = [];
  /** Open connections. */
  readonly connections = new Set<FakeConnection>();
  /** SETCONF'd values (names as sent). */
  readonly conf = new Map<string, string>();
  private readonly server: net.Server;
  private readonly handlers: Array<{ match: RegExp; handler: FakeHandler }> = [];
  private readonly infoTable = new Map<string, string>();
  private readonly waiters: Array<{ match: RegExp; remaining: number; resolve: (line: string) => void }> = [];
  private readonly version: string;
  private readonly filterEvents: boolean;

  private constructor(server: net.Server, opts: FakeControlServerOptions) {
    this.server = server;
    this.version = opts.version ?? '0.4.9.1';
    this.filterEvents = opts.filterEvents ?? true;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening on 127.0.0.1, on a free port. */
  static async start(opts: FakeControlServerOptions = {}): Promise<FakeControlServer> {
    const server = net.createServer();
    const fake = new FakeControlServer(server, opts);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `tcp:127.0.0.1:PORT`, for `openTorControl` / `connectTor`. */
  get endpoint(): string {
    return `tcp:127.0.0.1:${this.port}`;
  }

  /** Sets GETINFO answers (added to earlier ones). A key missing from the table gets 552. */
  info(values: Record<string, string>): this {
    for (const [k, v] of Object.entries(values)) this.infoTable.set(k, v);
    return this;
  }

  /**
   * Answers commands matching `match` (tested against the whole line). Later handlers win over
   * earlier ones and over the built-in answers; a handler returning undefined falls through.
   */
  handle(match: RegExp, handler: FakeHandler): this {
    this.handlers.unshift({ match, handler });
    return this;
  }

  /**
   * Resolves with the `nth` command line (already received, or future) that matches.
   * @param nth - 1 for the first match
   */
  waitForCommand(match: RegExp, nth = 1): Promise<string> {
    const seen = this.commands.filter((c) => match.test(c));
    if (seen.length >= nth) return Promise.resolve(seen[nth - 1]!);
    return new Promise((resolve) => this.waiters.push({ match, remaining: nth - seen.length, resolve }));
  }

  /** Sends one single-line `650` event (text without `650 `) to every subscribed connection. */
  event(text: string): void {
    this.sendEvent(text.split(' ', 1)[0]!, `650 ${text}\r\n`);
  }

  /** Sends wire text as-is (one or more whole events, CRLF line ends) to every subscribed connection. */
  rawEvent(wire: string): void {
    const first = wire.slice(4, wire.indexOf('\r\n'));
    this.sendEvent(first.split(' ', 1)[0]!, wire);
  }

  /** Writes raw bytes to every connection (for malformed-input cases). */
  broadcast(wire: string): void {
    for (const c of this.connections) c.socket.write(wire);
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private sendEvent(name: string, wire: string): void {
    for (const c of this.connections) {
      if (!this.filterEvents || c.events.has(name)) c.socket.write(wire);
    }
  }

  private accept(socket: net.Socket): void {
    const conn: FakeConnection = { socket, authenticated: false, events: new Set() };
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
    socket.on('error', () => undefined);
    let buffered = '';
    // The `+KEYWORD` line of a command with a data block (control-spec 2.2), while its block is
    // read: tor answers the whole command once, after the `.` line, and so does the fake.
    let dataCommand: string | undefined;
    // Commands are answered strictly in order, as tor does, even when a handler is async.
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (dataCommand === undefined && line.startsWith('+')) {
          dataCommand = line;
          continue;
        }
        if (dataCommand !== undefined && line !== '.') continue;
        const command = dataCommand ?? line;
        dataCommand = undefined;
        chain = chain.then(() => this.answer(command, conn)).catch(() => undefined);
      }
    });
  }

  private async answer(line: string, conn: FakeConnection): Promise<void> {
    this.commands.push(line);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.match.test(line) && --w.remaining === 0) {
        this.waiters.splice(i--, 1);
        w.resolve(line);
      }
    }
    let reply: FakeReply;
    for (const { match, handler } of this.handlers) {
      if (match.test(line)) {
        reply = await handler(line, conn);
        if (reply !== undefined) break;
      }
    }
    reply ??= this.builtIn(line, conn);
    if (conn.socket.destroyed) return;
    if (reply.length > 0) conn.socket.write(reply.join('\r\n') + '\r\n');
    if (/^QUIT\b/i.test(line)) conn.socket.end();
  }

  private builtIn(line: string, conn: FakeConnection): string[] {
    const sp = line.indexOf(' ');
    const keyword = (sp === -1 ? line : line.slice(0, sp)).toUpperCase();
    const rest = sp === -1 ? '' : line.slice(sp + 1);
    switch (keyword) {
      case 'PROTOCOLINFO':
        return ['250-PROTOCOLINFO 1', '250-AUTH METHODS=NULL', `250-VERSION Tor="${this.version}"`, '250 OK'];
      case 'AUTHENTICATE':
        conn.authenticated = true;
        return ['250 OK'];
      case 'QUIT':
        return ['250 closing connection'];
    }
    if (!conn.authenticated) return ['514 Authentication required.'];
    switch (keyword) {
      case 'SETEVENTS':
        conn.events = new Set(rest.split(' ').filter((e) => e !== '' && e !== 'EXTENDED'));
        return ['250 OK'];
      case 'GETINFO': {
        const keys = rest.split(' ').filter(Boolean);
        const values: Record<string, string> = {};
        for (const k of keys) {
          const v = k === 'version' ? this.version : this.infoTable.get(k);
          if (v === undefined) return [`552 Unrecognized key "${k}"`];
          values[k] = v;
        }
        return keyValueReply(values);
      }
      case 'SETCONF':
      case 'RESETCONF': {
        for (const m of rest.matchAll(/([A-Za-z_0-9]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?/g)) {
          const value = m[2] === undefined ? undefined : m[2].startsWith('"') ? JSON.parse(m[2]) as string : m[2];
          if (value === undefined || keyword === 'RESETCONF') this.conf.delete(m[1]!);
          else this.conf.set(m[1]!, value);
        }
        return ['250 OK'];
      }
      case 'GETCONF': {
        const values: Record<string, string> = {};
        for (const k of rest.split(' ').filter(Boolean)) values[k] = this.conf.get(k) ?? '0';
        return keyValueReply(values);
      }
      default:
        return [`510 Unrecognized command "${keyword}"`];
    }
  }
}
