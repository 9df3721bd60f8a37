import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { TorAbortError, TorAuthError, TorControlClosedError, TorControlError, TorInvalidValueError, TorProtocolError } from '../../errors.js';
import { LOOPBACK } from './torrc-builder.js';

/**
 * The few control-port exchanges the launcher itself needs (authenticate with the cookie, switch
 * the client's network on). Deliberately tiny and private to the test network: it keeps
 * `torcon/testnet` independent of the full control layer, which is built (and tested) on top of it.
 * Replies are read in order; 6xx asynchronous events are skipped.
 */

/** One reply: the status of its last line and the text of every line. */
export interface LiteReply {
  status: number;
  lines: string[];
}

/** A minimal control connection to a test-network node on 127.0.0.1. */
export class LiteControl {
  private buffer = '';
  private current: string[] = [];
  private inData = false;
  private waiters: Array<{ resolve: (r: LiteReply) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new TorControlClosedError(`control connection failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new TorControlClosedError()));
  }

  /**
   * Connects to 127.0.0.1:port and authenticates with the node's cookie file (COOKIE method).
   * @throws TorAuthError (`TOR_AUTH_FAILED`) when tor refuses the cookie
   * @throws TorControlClosedError (`TOR_CONTROL_CLOSED`) when the connection fails
   */
  static async open(port: number, cookieFile: string, opts: { signal?: AbortSignal } = {}): Promise<LiteControl> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TorInvalidValueError('control port', 'must be an integer from 1 to 65535');
    const cookie = await readFile(cookieFile);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new TorAbortError('control connection', { cause: opts.signal.reason }));
      const s = net.connect({ host: LOOPBACK, port });
      const onAbort = () => {
        s.destroy();
        reject(new TorAbortError('control connection', { cause: opts.signal?.reason }));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      s.once('connect', () => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(s);
      });
      s.once('error', (err) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(new TorControlClosedError(`cannot connect to control port ${LOOPBACK}:${port}: ${err.message}`, { cause: err }));
      });
    });
    const ctl = new LiteControl(socket);
    try {
      const r = await ctl.send(`AUTHENTICATE ${cookie.toString('hex')}`, 'AUTHENTICATE');
      if (r.status !== 250) throw new TorAuthError(`tor refused the control cookie: ${r.status} ${r.lines.join(' ')}`);
    } catch (err) {
      ctl.close();
      throw err;
    }
    return ctl;
  }

  /**
   * Sends one command line and waits for its reply.
   * @param keyword - how the command is named in errors (never its arguments)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) for a 4xx/5xx reply
   */
  async command(line: string, keyword = line.split(' ', 1)[0]!): Promise<LiteReply> {
    const r = await this.send(line, keyword);
    if (r.status >= 400) throw new TorControlError(r.status, r.lines[r.lines.length - 1] ?? '', keyword);
    return r;
  }

  /** Closes the connection (tor drops services and ownership tied to it). */
  close(): void {
    this.socket.destroy();
  }

  private send(line: string, keyword: string): Promise<LiteReply> {
    if (/[\r\n\0]/.test(line)) return Promise.reject(new TorInvalidValueError(`${keyword} command`, 'contains CR, LF or NUL'));
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.socket.write(`${line}\r\n`);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (this.inData) {
      if (line === '.') this.inData = false;
      else this.current.push(line.startsWith('..') ? line.slice(1) : line);
      return;
    }
    const m = /^(\d{3})([ +-])(.*)$/.exec(line);
    if (!m) {
      this.fail(new TorProtocolError(`unexpected control line from tor: ${JSON.stringify(line.slice(0, 80))}`));
      return;
    }
    this.current.push(m[3]!);
    if (m[2] === '+') this.inData = true;
    if (m[2] !== ' ') return;
    const reply = { status: Number(m[1]), lines: this.current };
    this.current = [];
    if (reply.status >= 600) return; // asynchronous event: nobody here subscribed to it
    const w = this.waiters.shift();
    if (w) w.resolve(reply);
    else this.fail(new TorProtocolError(`tor sent a ${reply.status} reply with no command waiting`));
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.socket.destroy();
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
