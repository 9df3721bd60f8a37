import { createCipheriv, createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import { connect, listen } from '../../src/di/endpoint-api.js';
import type { Tor } from '../../src/tor/tor.js';
import type { ListeningEndpoint } from '../../src/plugins/plugin-types.js';
import { ONION_RETRY_PAUSE_MS } from './retry.js';

/**
 * Load helpers shared by test/integration/load.test.ts and bench/load.ts: a counting echo server on
 * 127.0.0.1, a deterministic payload per stream, one verified echo exchange (sha256 of what was
 * sent against sha256 of what came back), a bounded task pool and the summary of a run.
 *
 * tor has no half-closed streams: when the client end of a SOCKS connection reaches EOF, tor ends
 * the whole stream, and whatever the server was still sending back is lost. So an exchange never
 * calls `end()` before every echoed byte has arrived; it closes the socket only afterwards.
 */

const LOOPBACK = '127.0.0.1';

/** A TCP echo server on 127.0.0.1 that counts what it served. */
export interface LoadEchoServer {
  readonly server: net.Server;
  /** Its port (0 until it listens: see {@link listenEchoServer}). */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes received (and echoed) so far. */
  readonly bytes: number;
  /** Connections open now. */
  readonly open: number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** A not yet listening echo server (for `listen(server, 'onion:80')`, which makes it listen). */
export function createEchoServer(): LoadEchoServer {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let bytes = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined); // a reset by the far end is the exchange's business, not ours
    s.on('close', () => sockets.delete(s));
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.pipe(s);
  });
  return {
    server,
    get port() {
      const a = server.address();
      return a && typeof a === 'object' ? a.port : 0;
    },
    get accepted() {
      return accepted;
    },
    get bytes() {
      return bytes;
    },
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return done();
        server.close(() => done());
      }),
  };
}

/** An echo server listening on 127.0.0.1 with a kernel-chosen port. */
export async function listenEchoServer(): Promise<LoadEchoServer> {
  const echo = createEchoServer();
  await new Promise<void>((resolve, reject) => {
    echo.server.once('error', reject);
    echo.server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      echo.server.off('error', reject);
      resolve();
    });
  });
  return echo;
}

/** Sends `text` and resolves with what came back once as much has (for short checks of a stream). */
export function echoOnce(socket: net.Socket, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.length >= text.length) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(buf);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

/**
 * The bytes stream `index` sends: an AES-128-CTR keystream keyed by (seed, index), so that every
 * stream carries different data (a mix-up between streams changes the digest) and a run can be
 * repeated byte for byte.
 */
export class PayloadSource {
  private readonly cipher;
  private remaining: number;

  constructor(seed: string, index: number, size: number) {
    const key = createHash('sha256').update(`torcon-load:${seed}:${index}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    this.remaining = size;
  }

  /** The next chunk of at most `max` bytes, or `undefined` at the end. */
  next(max: number): Buffer | undefined {
    if (this.remaining === 0) return undefined;
    const n = Math.min(max, this.remaining);
    this.remaining -= n;
    return this.cipher.update(Buffer.alloc(n));
  }
}

/** What one stream did. `ok` means connected, and the echo matched the payload byte for byte. */
export interface StreamResult {
  index: number;
  ok: boolean;
  /** Milliseconds from asking for the stream until it was connected (SOCKS reply), if it was. */
  connectMs?: number;
  /** Milliseconds from asking for the stream until the last echoed byte arrived, if it did. */
  totalMs?: number;
  bytesSent: number;
  bytesReceived: number;
  sentSha256?: string;
  receivedSha256?: string;
  /** Stable code of the failure: a TorError code, an errno code, or one of ours (`LOAD_*`). */
  errorCode?: string;
  error?: unknown;
}

/** Options of {@link runEchoStream}. */
export interface EchoStreamOptions {
  index: number;
  /** Bytes to send and expect back. */
  size: number;
  seed: string;
  /** Bound on the whole stream (connect and exchange). */
  timeoutMs: number;
  /** Write size. @default 16384 */
  chunkSize?: number;
  /** Aborts the stream (the whole run's bound). */
  signal?: AbortSignal;
}

/** A stable code for any failure, so that failures can be counted by kind. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'UNKNOWN';
}

/** A failure of a load exchange itself (not of tor or the socket). */
export class LoadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

/**
 * Opens a stream with `open` (given an AbortSignal that fires at the stream's bound), sends
 * `size` payload bytes while reading the echo, compares digests and closes the socket. Never
 * throws: the outcome, failures included, is in the result.
 */
export async function runEchoStream(
  open: (signal: AbortSignal) => Promise<net.Socket>,
  opts: EchoStreamOptions,
): Promise<StreamResult> {
  const result: StreamResult = { index: opts.index, ok: false, bytesSent: 0, bytesReceived: 0 };
  const bound = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([bound, opts.signal]) : bound;
  const started = performance.now();
  let socket: net.Socket | undefined;
  try {
    socket = await open(signal);
    result.connectMs = performance.now() - started;
    await echoExchange(socket, { ...opts, signal }, result);
    result.totalMs = performance.now() - started;
    result.ok = true;
  } catch (err) {
    result.error = err;
    result.errorCode = errorCode(err);
  } finally {
    socket?.destroy();
  }
  return result;
}

/**
 * One verified exchange on an open socket, which stays open afterwards: sends `opts.size` payload
 * bytes of stream `opts.index`, reads as many back, and compares sha256 digests.
 * @param result updated as bytes move (so a failure still says how far it got); a new one if omitted
 * @throws LoadError with code `LOAD_CORRUPTED` (digests differ), `LOAD_TOO_MUCH`,
 *   `LOAD_CLOSED_EARLY`, `LOAD_TIMEOUT`; or the socket's own error
 */
export async function echoExchange(
  socket: net.Socket,
  opts: EchoStreamOptions,
  result: StreamResult = { index: opts.index, ok: false, bytesSent: 0, bytesReceived: 0 },
): Promise<StreamResult> {
  const bound = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([bound, opts.signal]) : bound;
  const sent = createHash('sha256');
  const received = createHash('sha256');
  const payload = new PayloadSource(opts.seed, opts.index, opts.size);
  await exchange(socket, payload, opts.size, opts.chunkSize ?? 16_384, sent, received, result, signal);
  result.sentSha256 = sent.digest('hex');
  result.receivedSha256 = received.digest('hex');
  if (result.sentSha256 !== result.receivedSha256 || result.bytesSent !== opts.size || result.bytesReceived !== opts.size) {
    throw new LoadError('LOAD_CORRUPTED', `stream ${opts.index}: the echo differs from what was sent`);
  }
  result.ok = true;
  return result;
}

function exchange(
  socket: net.Socket,
  payload: PayloadSource,
  size: number,
  chunkSize: number,
  sent: Hash,
  received: Hash,
  result: StreamResult,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('drain', write);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer) => {
      result.bytesReceived += d.length;
      if (result.bytesReceived > size) {
        finish(new LoadError('LOAD_TOO_MUCH', `stream ${result.index}: ${result.bytesReceived} bytes echoed, ${size} sent`));
        return;
      }
      received.update(d);
      if (result.bytesReceived === size) finish();
    };
    const onError = (err: Error) => finish(err);
    const onClose = () =>
      finish(new LoadError('LOAD_CLOSED_EARLY', `stream ${result.index}: closed after ${result.bytesReceived} of ${size} echoed bytes`));
    const onAbort = () =>
      finish(new LoadError('LOAD_TIMEOUT', `stream ${result.index}: bound reached after ${result.bytesReceived} of ${size} echoed bytes`));
    // Writes follow the socket's back-pressure: at most one chunk beyond a full buffer.
    function write(): void {
      for (;;) {
        if (settled) return;
        const chunk = payload.next(chunkSize);
        if (!chunk) return;
        sent.update(chunk);
        result.bytesSent += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', write);
          return;
        }
      }
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    write();
  });
}

/**
 * Runs `count` tasks with at most `concurrency` at a time and returns their results in index order.
 * A task that throws is the caller's bug: tasks here report failures in their result.
 */
export async function runPool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** Value at quantile `q` (0..1) of a list, nearest-rank; `undefined` for an empty list. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** Figures of a run of streams. */
export interface LoadSummary {
  streams: number;
  ok: number;
  failed: number;
  /** Failures before the stream was connected (tor refused or gave up: no payload was at stake). */
  failedConnecting: number;
  /** Failures after connecting: lost, corrupted, duplicated or late data. */
  failedExchanging: number;
  /** Failures counted by code. */
  failures: Record<string, number>;
  bytesEachWay: number;
  seconds: number;
  streamsPerSecond: number;
  /** Payload megabytes (10^6 bytes) per second, counting each direction once. */
  mbPerSecondEachWay: number;
  connectP50Ms?: number;
  connectP95Ms?: number;
  connectMaxMs?: number;
  streamP50Ms?: number;
  streamP95Ms?: number;
}

/** Sums a run up. `seconds` is the run's wall time. */
export function summarize(results: readonly StreamResult[], seconds: number): LoadSummary {
  const failures: Record<string, number> = {};
  for (const r of results) if (!r.ok) failures[r.errorCode ?? 'UNKNOWN'] = (failures[r.errorCode ?? 'UNKNOWN'] ?? 0) + 1;
  const ok = results.filter((r) => r.ok);
  const connect = results.flatMap((r) => (r.connectMs === undefined ? [] : [r.connectMs]));
  const total = ok.flatMap((r) => (r.totalMs === undefined ? [] : [r.totalMs]));
  const bytes = ok.reduce((n, r) => n + r.bytesReceived, 0);
  const out: LoadSummary = {
    streams: results.length,
    ok: ok.length,
    failed: results.length - ok.length,
    failedConnecting: results.filter((r) => !r.ok && r.connectMs === undefined).length,
    failedExchanging: results.filter((r) => !r.ok && r.connectMs !== undefined).length,
    failures,
    bytesEachWay: bytes,
    seconds,
    streamsPerSecond: ok.length / seconds,
    mbPerSecondEachWay: bytes / 1e6 / seconds,
  };
  const set = (k: keyof LoadSummary, v: number | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, number>)[k] = v;
  };
  set('connectP50Ms', quantile(connect, 0.5));
  set('connectP95Ms', quantile(connect, 0.95));
  set('connectMaxMs', quantile(connect, 1));
  set('streamP50Ms', quantile(total, 0.5));
  set('streamP95Ms', quantile(total, 0.95));
  return out;
}

/** The first few failures, for an assertion message. */
export function describeFailures(results: readonly StreamResult[], max = 5): string {
  const failed = results.filter((r) => !r.ok);
  const shown = failed
    .slice(0, max)
    .map((r) => `#${r.index} ${r.errorCode}: ${r.error instanceof Error ? r.error.message : String(r.error)} (${r.bytesReceived}/${r.bytesSent} bytes)`);
  return `${failed.length} of ${results.length} failed${shown.length ? ': ' + shown.join('; ') : ''}`;
}

/** Options of {@link runExitLoad}. */
export interface ExitLoadOptions {
  /** Streams to run. */
  streams: number;
  /** Payload bytes per stream (each way). */
  size: number;
  /** Streams in flight at once. @default streams */
  concurrency?: number;
  /**
   * Spread the streams over this many isolation tokens (`isolate=` in the endpoint string), hence
   * over at least as many circuits; 0 sends them all without a token. @default 0
   */
  isolationTokens?: number;
  /** Bound on each stream, connect included. */
  streamTimeoutMs: number;
  /** Aborts every stream still running (the run's overall bound). */
  signal?: AbortSignal;
  /** @default 'exit' */
  seed?: string;
}

/** The outcome of a load run. */
export interface LoadRun {
  results: StreamResult[];
  summary: LoadSummary;
  /** Connections the echo server accepted. */
  accepted: number;
  /** Bytes the echo server received (and echoed). */
  echoedBytes: number;
}

/**
 * Many concurrent `connect("tor:127.0.0.1:PORT")` streams (the public endpoint API with a Tor
 * handle), out of the network's exits, to a loopback echo server; every stream sends its own
 * payload and checks the echo.
 */
export async function runExitLoad(tor: Tor, opts: ExitLoadOptions): Promise<LoadRun> {
  const echo = await listenEchoServer();
  try {
    const seconds = Math.max(1, Math.ceil(opts.streamTimeoutMs / 1000));
    const tokens = opts.isolationTokens ?? 0;
    const t0 = performance.now();
    const results = await runPool(opts.streams, opts.concurrency ?? opts.streams, (index) =>
      runEchoStream(
        (signal) =>
          connect(`tor:127.0.0.1:${echo.port}:timeout=${seconds}${tokens > 0 ? `:isolate=load-${index % tokens}` : ''}`, { tor, signal }),
        {
          index,
          size: opts.size,
          seed: opts.seed ?? 'exit',
          timeoutMs: opts.streamTimeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      ),
    );
    const summary = summarize(results, (performance.now() - t0) / 1000);
    return { results, summary, accepted: echo.accepted, echoedBytes: echo.bytes };
  } finally {
    await echo.close();
  }
}

/** Options of {@link runOnionLoad}. */
export interface OnionLoadOptions {
  /** Concurrent clients of the one service. */
  clients: number;
  /** Payload bytes per client (each way). */
  size: number;
  /** Clients in flight at once. @default clients */
  concurrency?: number;
  /** Spread the clients over this many isolation tokens, i.e. rendezvous circuits. @default 1 */
  rendezvousCircuits?: number;
  /** Bound on each client's stream, connect included (20 s or more: testnet.md). */
  streamTimeoutMs: number;
  /** Bound on publishing the service. @default 120000 */
  publishTimeoutMs?: number;
  /** Attempts of the first connection after publication. @default 4 */
  firstConnectAttempts?: number;
  signal?: AbortSignal;
  /** @default 'onion' */
  seed?: string;
}

/** The outcome of {@link runOnionLoad}. */
export interface OnionLoadRun extends LoadRun {
  /** `<56 chars>.onion:80`. */
  address: string;
  /** Seconds from `listen()` until it resolved (descriptor uploaded). */
  publishSeconds: number;
  /** Seconds from publication until the first echo through the service worked, and how many tries. */
  firstConnectSeconds: number;
  firstConnectAttempts: number;
}

/**
 * One onion service (`listen(server, 'onion:80')` on `tor`, which also connects to it) and many
 * concurrent clients, each with a verified echo exchange. The first connection after publication
 * is retried (the descriptor may not be fetchable yet); the clients after it are not.
 */
export async function runOnionLoad(tor: Tor, opts: OnionLoadOptions): Promise<OnionLoadRun> {
  const echo = createEchoServer();
  let service: ListeningEndpoint | undefined;
  try {
    const p0 = performance.now();
    const publishBound = AbortSignal.timeout(opts.publishTimeoutMs ?? 120_000);
    service = await listen(echo.server, 'onion:80', { tor, signal: opts.signal ? AbortSignal.any([publishBound, opts.signal]) : publishBound });
    const publishSeconds = (performance.now() - p0) / 1000;
    const host = service.address.replace(/:80$/, '');
    const seconds = Math.max(1, Math.ceil(opts.streamTimeoutMs / 1000));
    const circuits = opts.rendezvousCircuits ?? 1;
    const endpoint = (index: number) => `tor:${host}:80:timeout=${seconds}:isolate=onion-load-${index % circuits}`;
    const seed = opts.seed ?? 'onion';

    const f0 = performance.now();
    const attempts = opts.firstConnectAttempts ?? 4;
    let first: StreamResult | undefined;
    let tries = 0;
    while (tries < attempts && !first?.ok) {
      // A fresh service can miss at a time-period rotation; see retryOnionLookup for the pause.
      if (tries > 0) await new Promise((r) => setTimeout(r, ONION_RETRY_PAUSE_MS));
      tries++;
      first = await runEchoStream((signal) => connect(endpoint(0), { tor, signal }), {
        index: -1,
        size: 1024,
        seed,
        timeoutMs: opts.streamTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (opts.signal?.aborted) break;
    }
    if (!first?.ok) throw new Error(`the onion service did not answer after ${tries} tries: ${describeFailures([first!])}`);
    const firstConnectSeconds = (performance.now() - f0) / 1000;
    const acceptedBefore = echo.accepted;
    const bytesBefore = echo.bytes;

    const t0 = performance.now();
    const results = await runPool(opts.clients, opts.concurrency ?? opts.clients, (index) =>
      runEchoStream((signal) => connect(endpoint(index), { tor, signal }), {
        index,
        size: opts.size,
        seed,
        timeoutMs: opts.streamTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
    const summary = summarize(results, (performance.now() - t0) / 1000);
    return {
      results,
      summary,
      accepted: echo.accepted - acceptedBefore,
      echoedBytes: echo.bytes - bytesBefore,
      address: service.address,
      publishSeconds,
      firstConnectSeconds,
      firstConnectAttempts: tries,
    };
  } finally {
    await service?.close().catch(() => undefined);
    await echo.close();
  }
}
