/**
 * Load benchmark on a private test network that this script starts (and stops at the end):
 *
 * - exit streams: STREAMS concurrent `connect("tor:127.0.0.1:PORT")` streams (the public endpoint
 *   API with a Tor handle) through the network's exits to a loopback echo server, each sending
 *   SIZE KiB of its own pseudo-random bytes and reading them back; sha256 of what was sent must
 *   equal sha256 of what came back, for every stream;
 * - onion clients: ONION_CLIENTS concurrent clients of one onion service (`listen(server,
 *   'onion:80')` on the network's client tor, which also connects to it), each with a verified
 *   ONION_SIZE KiB echo exchange.
 *
 * It prints streams/s, MB/s (payload, each direction counted once), failures by code, p50/p95
 * connect latency, total time, and the load average (the figures mean little without it). The
 * exit code is 2 when any stream lost or corrupted data. Everything stays on 127.0.0.1.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/load.js [--streams 500] [--size 256] [--concurrency N]
 *     [--isolate 0] [--onion-clients 200] [--onion-size 64] [--onion-circuits 1]
 *     [--stream-timeout 240] [--reuse-keys DIR] [--skip-exit] [--skip-onion] [--json]
 */

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { connectTor } from '../src/tor/connect-tor.js';
import { startTestNetwork, type TestNetwork } from '../src/testnet.js';
import type { Tor } from '../src/tor/tor.js';
import { runExitLoad, runOnionLoad, type LoadRun, type LoadSummary, type OnionLoadRun } from '../test/support/echo-load.js';
import { machine, parseFlags } from './bench-util.js';

const flags = parseFlags(
  process.argv.slice(2),
  ['streams', 'size', 'concurrency', 'isolate', 'onion-clients', 'onion-size', 'onion-circuits', 'onion-concurrency', 'stream-timeout', 'reuse-keys'],
  ['skip-exit', 'skip-onion', 'json'],
);
const num = (name: string, def: number) => {
  const v = Number(flags.get(name) ?? def);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
};
const STREAMS = num('streams', 500);
const SIZE = num('size', 256) * 1024;
const CONCURRENCY = num('concurrency', STREAMS);
const ISOLATE = num('isolate', 0);
const ONION_CLIENTS = num('onion-clients', 200);
const ONION_SIZE = num('onion-size', 64) * 1024;
const ONION_CIRCUITS = Math.max(1, num('onion-circuits', 1));
const ONION_CONCURRENCY = num('onion-concurrency', ONION_CLIENTS);
const STREAM_TIMEOUT_MS = num('stream-timeout', 240) * 1000;
const json = flags.has('json');

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/** Sum of the tor processes' peak resident memory (VmHWM), MB. */
async function torPeakMB(pids: readonly number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    kb += Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
  }
  return kb / 1024;
}

function printSummary(title: string, s: LoadSummary): void {
  const ms = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(0)} ms`);
  console.log(`${title}`);
  console.log(`  streams          ${s.streams} (${s.ok} verified, ${s.failed} failed${s.failed ? `: ${JSON.stringify(s.failures)}` : ''})`);
  if (s.failed) console.log(`  failures         ${s.failedConnecting} while connecting, ${s.failedExchanging} after connecting (data at stake)`);
  console.log(`  payload          ${(s.bytesEachWay / 1048576).toFixed(1)} MiB each way`);
  console.log(`  total time       ${s.seconds.toFixed(2)} s`);
  console.log(`  streams/s        ${s.streamsPerSecond.toFixed(1)}`);
  console.log(`  MB/s each way    ${s.mbPerSecondEachWay.toFixed(2)} (both ways ${(2 * s.mbPerSecondEachWay).toFixed(2)})`);
  console.log(`  connect latency  p50 ${ms(s.connectP50Ms)}, p95 ${ms(s.connectP95Ms)}, max ${ms(s.connectMaxMs)}`);
  console.log(`  stream time      p50 ${ms(s.streamP50Ms)}, p95 ${ms(s.streamP95Ms)}`);
}

async function main(): Promise<number> {
  const m = machine();
  const info = { ...m, totalMemGB: +(os.totalmem() / 2 ** 30).toFixed(1), loadBefore: load() };
  if (!json) console.log(`load: ${m.cpus}x ${m.cpuModel}, ${m.platform}, node ${m.node}, ${m.date}, load average ${info.loadBefore}`);

  const n0 = performance.now();
  const network: TestNetwork = await startTestNetwork({
    timeoutMs: 180_000,
    ...(flags.has('reuse-keys') ? { reuseKeys: flags.get('reuse-keys')! } : {}),
  });
  const networkSeconds = (performance.now() - n0) / 1000;
  let tor: Tor | undefined;
  let exit: LoadRun | undefined;
  let onion: OnionLoadRun | undefined;
  let memory: { nodePeakMB: number; torPeakMB: number } | undefined;
  try {
    tor = await connectTor({ control: network.controlEndpoint });
    if (!json) console.log(`test network ready in ${networkSeconds.toFixed(1)} s (client control ${network.controlEndpoint})\n`);

    if (!flags.has('skip-exit')) {
      const loadStart = load();
      exit = await runExitLoad(tor, {
        streams: STREAMS,
        size: SIZE,
        concurrency: CONCURRENCY,
        isolationTokens: ISOLATE,
        streamTimeoutMs: STREAM_TIMEOUT_MS,
      });
      if (!json) {
        printSummary(
          `exit streams: ${STREAMS} x ${SIZE / 1024} KiB, ${CONCURRENCY} at once, ${ISOLATE ? `${ISOLATE} isolation tokens` : 'no isolation token'} (load ${loadStart} -> ${load()})`,
          exit.summary,
        );
        console.log(`  echo server      ${exit.accepted} connections, ${(exit.echoedBytes / 1048576).toFixed(1)} MiB echoed\n`);
      }
    }

    if (!flags.has('skip-onion')) {
      const loadStart = load();
      onion = await runOnionLoad(tor, {
        clients: ONION_CLIENTS,
        size: ONION_SIZE,
        concurrency: ONION_CONCURRENCY,
        rendezvousCircuits: ONION_CIRCUITS,
        streamTimeoutMs: STREAM_TIMEOUT_MS,
      });
      if (!json) {
        console.log(
          `onion service: published in ${onion.publishSeconds.toFixed(2)} s, first echo after ${onion.firstConnectSeconds.toFixed(2)} s (${onion.firstConnectAttempts} tries)`,
        );
        printSummary(
          `onion clients: ${ONION_CLIENTS} x ${ONION_SIZE / 1024} KiB, ${ONION_CONCURRENCY} at once, ${ONION_CIRCUITS} rendezvous circuit(s) (load ${loadStart} -> ${load()})`,
          onion.summary,
        );
        console.log(`  echo server      ${onion.accepted} connections, ${(onion.echoedBytes / 1048576).toFixed(1)} MiB echoed\n`);
      }
    }
    memory = { nodePeakMB: process.resourceUsage().maxRSS / 1024, torPeakMB: await torPeakMB(network.pids) };
  } finally {
    await tor?.close();
    await network.stop();
  }
  const strip = (r: LoadRun | undefined) => r && { ...r, results: undefined };
  if (json) {
    console.log(JSON.stringify({ machine: info, loadAfter: load(), networkSeconds, memory, exit: strip(exit), onion: strip(onion) }, null, 2));
  } else {
    if (memory) console.log(`peak memory: this process ${memory.nodePeakMB.toFixed(0)} MB, all tors together ${memory.torPeakMB.toFixed(0)} MB`);
    console.log(`load average at the end ${load()}`);
  }
  const failed = (exit?.summary.failed ?? 0) + (onion?.summary.failed ?? 0);
  return failed > 0 ? 2 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
