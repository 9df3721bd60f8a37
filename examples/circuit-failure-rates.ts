/**
 * Counts built and failed circuits, overall and per relay, for a while (default 60 s), and
 * builds a circuit every 2 s to have something to count. The torcon take on txtorcon's
 * circuit_failure_rates.
 *
 * On a healthy test network nothing fails by itself, so every third circuit is given up 1 ms after
 * it was asked for: torcon then closes it, and tor reports it FAILED (reason REQUESTED).
 *
 * Run: TOR_CONTROL=... node dist/examples/circuit-failure-rates.js [SECONDS]
 */
import { connectTor, type Circuit, type Router } from '../src/index.js';

const seconds = Number(process.argv[2] ?? 60);
const tor = await connectTor();
const state = await tor.getState();

interface Counts { built: number; failed: number }
const total: Counts = { built: 0, failed: 0 };
const perRelay = new Map<string, Counts>();
const countFor = (name: string) => perRelay.get(name) ?? perRelay.set(name, { built: 0, failed: 0 }).get(name)!;
const rate = (c: Counts) => (c.built + c.failed === 0 ? 0 : (100 * c.failed) / (c.built + c.failed));

// Only multi-hop GENERAL circuits: tor's one-hop directory circuits and onion-service circuits
// would skew the figures (txtorcon's example skips them too).
const counted = (c: Circuit) => c.purpose === 'GENERAL' && !c.buildFlags.includes('ONEHOP_TUNNEL');

state.on('circuitBuilt', (c) => {
  if (!counted(c)) return;
  total.built++;
  for (const r of c.path) countFor(r.nickname || r.fingerprint).built++;
});
// A failed circuit's path holds the hops it reached; the hop it failed to reach is not named.
state.on('circuitFailed', (c) => {
  if (!counted(c)) return;
  total.failed++;
  console.log(`circuit ${c.id} failed: ${c.reason}${c.remoteReason ? ` (remote ${c.remoteReason})` : ''}`);
  for (const r of c.path) countFor(r.nickname || r.fingerprint).failed++;
});

function report(): void {
  console.log(`${new Date().toISOString()}: ${rate(total).toFixed(1)}% failed (${total.failed} failed, ${total.built} built)`);
  for (const [name, c] of [...perRelay].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`  ${name}: ${c.built} built, ${c.failed} failed, ${rate(c).toFixed(1)}%`);
  }
}

// Three different relays at random, an Exit last. (Without a path tor picks one itself, but only
// from exits whose policy summary accepts some port: the test network's exits, which reach only
// 127.0.0.0/8, accept none, and tor answers "551 Couldn't start circuit".)
function randomPath(): Router[] {
  const relays = [...state.routers.values()].sort(() => Math.random() - 0.5);
  const exit = relays.find((r) => r.hasFlag('Exit'))!;
  return [...relays.filter((r) => r !== exit).slice(0, 2), exit];
}

// Build circuits along the way; buildCircuit rejects with a TorCircuitError when one fails or
// is given up, which is expected here: the events above do the counting.
let n = 0;
const builder = setInterval(() => {
  const build = ++n;
  const giveUp = build % 3 === 0;
  state.buildCircuit(randomPath(), { timeoutMs: giveUp ? 1 : 30_000 }).catch((err) => console.log(`build ${build}: ${err.message}`));
}, 2000);
const reporter = setInterval(report, 10_000);

await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
clearInterval(builder);
clearInterval(reporter);
report();
await tor.close();
