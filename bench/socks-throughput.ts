/**
 * SOCKS benchmark against a private test network started by this script (and stopped at the end):
 * torcon's `tor.connect` against a bare `socks` SocksClient connection to the same tor SocksPort,
 * same target, in one run:
 *
 * - throughput: a 127.0.0.1 server sends SIZE bytes down each stream (after one request byte); the
 *   time from the request to the last byte is measured, in ROUNDS rounds, the two clients
 *   interleaved (the order swaps every round so that neither always goes first);
 * - connect rate: CONNECTS sequential connects each way (connect through tor and the exit to the
 *   server, then close), interleaved in blocks of 20.
 *
 * Both paths use the same circuit (no isolation credentials), so the difference is the client
 * library's own cost. The figures are dominated by tor (cell crypto, flow control) and the machine;
 * nothing is asserted.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/socks-throughput.js [--size MiB] [--rounds N] [--connects N] [--json]
 */

import http from 'node:http';
import net from 'node:net';
import { SocksClient } from 'socks';
import { connect as connectEndpoint, listen as listenEndpoint } from '../src/di/endpoint-api.js';
import { connectTor } from '../src/tor/connect-tor.js';
import { startTestNetwork } from '../src/testnet.js';
import { machine, median, parseFlags } from './bench-util.js';

const flags = parseFlags(process.argv.slice(2), ['size', 'rounds', 'connects', 'onion-runs'], ['json']);
const SIZE = Math.round(Number(flags.get('size') ?? 16) * 1024 * 1024);
const ROUNDS = Number(flags.get('rounds') ?? 6);
const CONNECTS = Number(flags.get('connects') ?? 200);
const BLOCK = 20;
const ONION_RUNS = Number(flags.get('onion-runs') ?? 3);
const json = flags.has('json');

type Opener = () => Promise<net.Socket>;

/** Sends SIZE bytes to whoever connects, once they send one byte. */
function startSource(payload: Buffer): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.once('data', () => s.end(payload));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}

/** Seconds from the request byte to the last of SIZE bytes. */
async function download(open: Opener): Promise<number> {
  const socket = await open();
  try {
    return await new Promise<number>((resolve, reject) => {
      let got = 0;
      let start = 0n;
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got === SIZE) resolve(Number(process.hrtime.bigint() - start) / 1e9);
        else if (got > SIZE) reject(new Error(`received ${got} bytes, expected ${SIZE}`));
      });
      socket.once('error', reject);
      socket.once('close', () => {
        if (got !== SIZE) reject(new Error(`stream closed after ${got} of ${SIZE} bytes`));
      });
      start = process.hrtime.bigint();
      socket.write('g');
    });
  } finally {
    socket.destroy();
  }
}

/** Seconds for `n` sequential connect+close. */
async function connects(open: Opener, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) (await open()).destroy();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  process.stderr.write('starting the private test network...\n');
  const network = await startTestNetwork({ timeoutMs: 180_000 });
  process.stderr.write(`network ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (socks 127.0.0.1:${network.socksPort})\n`);
  const payload = Buffer.alloc(SIZE, 0x5a);
  const source = await startSource(payload);
  const tor = await connectTor({ control: network.controlEndpoint });
  try {
    const target = { host: '127.0.0.1', port: source.port };
    const openers: Record<'torcon' | 'socks', Opener> = {
      // The public API with an endpoint string, as users write it.
      torcon: () => connectEndpoint(`tor:127.0.0.1:${source.port}:timeout=60`, { tor }),
      socks: async () =>
        (
          await SocksClient.createConnection({
            proxy: { host: '127.0.0.1', port: network.socksPort, type: 5 },
            command: 'connect',
            destination: target,
            timeout: 60_000,
          })
        ).socket,
    };
    const names = ['torcon', 'socks'] as const;

    // Warm-up: build the circuit, fault in code paths.
    for (const name of names) await download(openers[name]);

    const seconds: Record<'torcon' | 'socks', number[]> = { torcon: [], socks: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? names : ([...names].reverse() as typeof names[number][]);
      for (const name of order) seconds[name].push(await download(openers[name]));
      process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`);
    }

    const connectSeconds: Record<'torcon' | 'socks', number> = { torcon: 0, socks: 0 };
    for (let done = 0, b = 0; done < CONNECTS; done += BLOCK, b++) {
      const n = Math.min(BLOCK, CONNECTS - done);
      const order = b % 2 === 0 ? names : ([...names].reverse() as typeof names[number][]);
      for (const name of order) connectSeconds[name] += await connects(openers[name], n);
    }

    // Seconds from listen(server, "onion:80") to its resolution, which waits for the first UPLOADED.
    const onionSeconds: number[] = [];
    for (let i = 0; i < ONION_RUNS; i++) {
      const server = http.createServer((_req, res) => res.end('ok'));
      const started = performance.now();
      const service = await listenEndpoint(server, 'onion:80', { tor });
      onionSeconds.push((performance.now() - started) / 1000);
      await service.close();
      server.close();
    }

    const mbps = (s: number) => SIZE / s / (1024 * 1024);
    const result = {
      machine: machine(),
      sizeMiB: SIZE / (1024 * 1024),
      rounds: ROUNDS,
      connects: CONNECTS,
      throughputMiBps: Object.fromEntries(
        names.map((n) => [n, { median: mbps(median(seconds[n])), best: mbps(Math.min(...seconds[n])), worst: mbps(Math.max(...seconds[n])) }]),
      ),
      connectsPerSecond: Object.fromEntries(names.map((n) => [n, CONNECTS / connectSeconds[n]])),
      msPerConnect: Object.fromEntries(names.map((n) => [n, (connectSeconds[n] * 1000) / CONNECTS])),
      onionListenToUploadedSeconds: { min: Math.min(...onionSeconds), median: median(onionSeconds), max: Math.max(...onionSeconds), runs: ONION_RUNS },
    };
    if (json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const t = result.throughputMiBps as Record<string, { median: number; best: number; worst: number }>;
    const c = result.connectsPerSecond as Record<string, number>;
    const m = result.msPerConnect as Record<string, number>;
    const row = (label: string, a: string, b: string) => console.log(`${label.padEnd(34)}${a.padStart(14)}${b.padStart(14)}`);
    console.log(`SOCKS through the private test network: ${result.machine.cpus} x ${result.machine.cpuModel}, node ${result.machine.node}`);
    console.log(`${SIZE / (1024 * 1024)} MiB per download, ${ROUNDS} interleaved rounds; ${CONNECTS} sequential connects each way\n`);
    row('', 'tor.connect', 'raw socks');
    row('download MiB/s (median)', t['torcon']!.median.toFixed(1), t['socks']!.median.toFixed(1));
    row('download MiB/s (best)', t['torcon']!.best.toFixed(1), t['socks']!.best.toFixed(1));
    row('download MiB/s (worst)', t['torcon']!.worst.toFixed(1), t['socks']!.worst.toFixed(1));
    row('connects/s (connect + close)', c['torcon']!.toFixed(1), c['socks']!.toFixed(1));
    row('ms per connect', m['torcon']!.toFixed(2), m['socks']!.toFixed(2));
    const o = result.onionListenToUploadedSeconds;
    console.log(`\nlisten(server, "onion:80") to first UPLOADED: min ${o.min.toFixed(2)} s, median ${o.median.toFixed(2)} s, max ${o.max.toFixed(2)} s (${o.runs} runs)`);
  } finally {
    await tor.close().catch(() => undefined);
    await source.close();
    await network.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
