/**
 * How fast does the private test network become usable, and what does it cost?
 *
 * Starts and stops the network RUNS times (default 3) and prints, in seconds from the call:
 * keys generated, first complete consensus (every authority, every relay, every flag), client
 * bootstrapped, first exit stream working (= startTestNetwork resolved), an onion service
 * reachable through the client (ADD_ONION over a raw control connection, then an HTTP fetch
 * through SOCKS); plus peak memory of all tor processes (sum of VmHWM) and stop time.
 *
 *   node dist/bench/testnet-startup.js [--runs N] [--reuse-keys]
 *
 * --reuse-keys keeps a key cache in a temporary directory across the runs (the first run fills it).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SocksClient } from 'socks';
import { LiteControl } from '../src/process/testnet/control-lite.js';
import { startTestNetwork, type TestNetwork } from '../src/testnet.js';

interface RunResult {
  keys: number;
  consensus: number;
  bootstrapped: number;
  exitStream: number;
  onion: number | undefined;
  peakMemMB: number;
  stop: number;
}

const seconds = (ms: number) => ms / 1000;

function startHttpServer(body: string): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** One HTTP GET of http://HOST/ through tor's SocksPort; resolves with the body. */
async function fetchThroughSocks(socksPort: number, hostname: string, timeoutMs: number): Promise<string> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: socksPort, type: 5 },
    command: 'connect',
    destination: { host: hostname, port: 80 },
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('HTTP response timed out'));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.slice(data.indexOf('\r\n\r\n') + 4));
    });
    socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  });
}

/** Publishes an onion service on the client and fetches from it; returns ms from t0 when it answered. */
async function onionReachable(network: TestNetwork, t0: number): Promise<number | undefined> {
  const body = `torcon-bench-${process.pid}-${Date.now()}`;
  const server = await startHttpServer(body);
  const ctl = await LiteControl.open(network.clientNode.controlPort, network.cookieFile);
  try {
    const reply = await ctl.command(`ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:${server.port}`, 'ADD_ONION');
    const id = reply.lines.map((l) => /^ServiceID=([a-z2-7]{56})$/.exec(l)?.[1]).find(Boolean);
    if (!id) throw new Error('ADD_ONION returned no ServiceID');
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      try {
        if ((await fetchThroughSocks(network.socksPort, `${id}.onion`, 30_000)) === body) return Date.now() - t0;
      } catch {
        // descriptor not yet uploaded or fetched: tor answers with an error; try again
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return undefined;
  } finally {
    ctl.close();
    await server.close();
  }
}

async function peakMemoryMB(pids: readonly number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* exited */
    }
  }
  return kb / 1024;
}

async function oneRun(reuseKeys: string | undefined): Promise<RunResult> {
  const t0 = Date.now();
  let keys = NaN;
  let consensus = NaN;
  let bootstrapped = NaN;
  const network = await startTestNetwork({
    ...(reuseKeys ? { reuseKeys } : {}),
    onProgress: (p) => {
      const t = Date.now() - t0;
      if (p.phase === 'keys' && p.percent === 100) keys = t;
      if (p.phase === 'consensus' && p.percent === 100 && Number.isNaN(consensus)) consensus = t;
      if (p.phase === 'bootstrap' && p.percent === 100) bootstrapped = t;
    },
  });
  const exitStream = Date.now() - t0;
  let onion: number | undefined;
  try {
    onion = await onionReachable(network, t0);
  } catch (err) {
    console.error(`  onion step failed: ${(err as Error).message}`);
  }
  const peakMemMB = await peakMemoryMB(network.pids);
  const s = Date.now();
  await network.stop();
  const stop = Date.now() - s;
  return { keys, consensus, bootstrapped, exitStream, onion, peakMemMB, stop };
}

function stats(values: number[]): string {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return 'n/a';
  const median = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
  return `${f(v[0]!)} / ${f(median)} / ${f(v[v.length - 1]!)}${v.length < values.length ? ` (${values.length - v.length} missing)` : ''}`;
}

/** Runs the benchmark and prints the table. */
export async function runTestnetStartupBench(opts: { runs?: number; reuseKeys?: boolean } = {}): Promise<RunResult[]> {
  const runs = opts.runs ?? 3;
  const cache = opts.reuseKeys ? await mkdtemp(path.join(os.tmpdir(), 'torcon-bench-keys-')) : undefined;
  const results: RunResult[] = [];
  console.log(`testnet startup: ${runs} runs, ${cache ? 'reused keys (first run fills the cache)' : 'fresh keys'}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
  try {
    for (let i = 0; i < runs; i++) {
      const r = await oneRun(cache);
      results.push(r);
      console.log(
        `  run ${i + 1}: keys ${seconds(r.keys).toFixed(2)}s, consensus ${seconds(r.consensus).toFixed(2)}s, ` +
          `bootstrapped ${seconds(r.bootstrapped).toFixed(2)}s, exit stream ${seconds(r.exitStream).toFixed(2)}s, ` +
          `onion ${r.onion === undefined ? 'n/a' : `${seconds(r.onion).toFixed(2)}s`}, peak ${r.peakMemMB.toFixed(0)} MB, stop ${r.stop} ms`,
      );
    }
  } finally {
    if (cache) await rm(cache, { recursive: true, force: true });
  }
  const col = (f: (r: RunResult) => number | undefined) => results.map((r) => f(r) ?? NaN);
  console.log('\n  phase (s from the call)      min / median / max');
  console.log(`  keys generated               ${stats(col((r) => seconds(r.keys)))}`);
  console.log(`  first complete consensus     ${stats(col((r) => seconds(r.consensus)))}`);
  console.log(`  client bootstrapped          ${stats(col((r) => seconds(r.bootstrapped)))}`);
  console.log(`  exit stream works            ${stats(col((r) => seconds(r.exitStream)))}`);
  console.log(`  onion service reachable      ${stats(col((r) => (r.onion === undefined ? undefined : seconds(r.onion))))}`);
  console.log(`  peak memory, all tors (MB)   ${stats(col((r) => r.peakMemMB))}`);
  console.log(`  stop (ms)                    ${stats(col((r) => r.stop))}`);
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const runsIdx = args.indexOf('--runs');
  const runs = runsIdx >= 0 ? Number(args[runsIdx + 1]) : 3;
  runTestnetStartupBench({ runs, reuseKeys: args.includes('--reuse-keys') }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
