import net from 'node:net';

/**
 * A byte-level fake control port on 127.0.0.1 for fault cases real tor cannot produce (garbage, a
 * reply nobody asked for, a connection cut mid-reply, a huge line, a wrong SAFECOOKIE hash). The
 * test drives it: it sees each command line the client sends and writes whatever bytes it likes.
 */
export class ScriptedPeer {
  readonly server: net.Server;
  /** Command lines received, in order, without CRLF. */
  readonly received: string[] = [];
  private socket?: net.Socket;
  private waiting: Array<{ count: number; resolve: () => void }> = [];
  private buffered = '';
  /** Answers sent automatically for commands by keyword; a function can answer from the line. */
  readonly auto = new Map<string, string | ((line: string) => string)>();

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async start(): Promise<ScriptedPeer> {
    const server = net.createServer();
    const peer = new ScriptedPeer(server);
    server.on('connection', (socket) => {
      peer.socket = socket;
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => peer.onData(chunk.toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return peer;
  }

  get endpoint(): string {
    return `tcp:127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private onData(text: string): void {
    this.buffered += text;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) !== -1) {
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      this.received.push(line);
      const keyword = line.split(' ', 1)[0]!.toUpperCase();
      const answer = this.auto.get(keyword);
      if (answer !== undefined) this.write(typeof answer === 'function' ? answer(line) : answer);
    }
    this.waiting = this.waiting.filter((w) => {
      if (this.received.length >= w.count) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  /** Resolves once `count` command lines in all have arrived. */
  waitForLines(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }

  /** Writes raw bytes to the connected client. */
  write(data: string | Buffer): void {
    this.socket?.write(data);
  }

  /** Cuts the connection abruptly. */
  cut(): void {
    this.socket?.destroy();
  }

  /** Resets the connection (TCP RST): the client sees ECONNRESET, as when tor dies with unread input. */
  reset(): void {
    this.socket?.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Connects a raw socket to the peer (for building a TorControl directly, without auth). */
export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}
