import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { SocksClient } from 'socks';
import { TorAbortError, TorSocksError } from '../../errors.js';
import { raceCancel } from '../../util/abort.js';
import { LOOPBACK } from './torrc-builder.js';

/**
 * Proof that the client is usable, not merely bootstrapped: a stream through the client's
 * SocksPort, out of an exit, back to an echo server on 127.0.0.1 (the only place our exits go).
 */

/** A tiny TCP echo server on a free loopback port. */
export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a TCP echo server on 127.0.0.1 with a kernel-chosen port. */
export function startEchoServer(): Promise<EchoServer> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
      s.pipe(s);
    });
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Opens one SOCKS5 stream to 127.0.0.1:echoPort through tor and checks that random bytes come back.
 * @throws TorSocksError (`TOR_SOCKS_FAILED`) when the stream fails or echoes something else
 * @throws TorAbortError (`TOR_ABORTED`) when `signal` aborts
 */
export async function checkExitStream(
  socksPort: number,
  echoPort: number,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<void> {
  const token = randomBytes(16);
  let socket: net.Socket | undefined;
  const onAbort = () => socket?.destroy();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // A fresh SOCKS username per try: with IsolateSOCKSAuth, a retry never reuses a stuck circuit.
    const isolation = randomBytes(6).toString('hex');
    const connecting = SocksClient.createConnection({
      proxy: { host: LOOPBACK, port: socksPort, type: 5, userId: `exit-check-${isolation}`, password: 'x' },
      command: 'connect',
      destination: { host: LOOPBACK, port: echoPort },
      timeout: opts.timeoutMs ?? 10000,
    });
    const { socket: s } = await raceCancel(connecting, 'exit check', {
      ...(opts.signal ? { signal: opts.signal } : {}),
      // the handshake cannot be interrupted: close its socket whenever it does arrive
      onCancel: () => void connecting.then((r) => r.socket.destroy(), () => undefined),
    });
    socket = s;
    if (opts.signal?.aborted) throw new TorAbortError('exit check', { cause: opts.signal.reason });
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const timer = setTimeout(() => reject(new TorSocksError('TOR_SOCKS_FAILED', 'no echo through the exit')), opts.timeoutMs ?? 10000);
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got >= token.length) {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        }
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      s.once('close', () => {
        clearTimeout(timer);
        reject(new TorSocksError('TOR_SOCKS_FAILED', 'stream closed before the echo arrived'));
      });
      s.write(token);
    });
    if (!echoed.subarray(0, token.length).equals(token)) {
      throw new TorSocksError('TOR_SOCKS_FAILED', 'the echo through the exit did not match');
    }
  } catch (err) {
    if (opts.signal?.aborted) throw new TorAbortError('exit check', { cause: opts.signal.reason });
    if (err instanceof TorSocksError) throw err;
    throw new TorSocksError('TOR_SOCKS_FAILED', `stream through the test network failed: ${(err as Error).message}`, undefined, { cause: err });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    socket?.destroy();
  }
}
