/**
 * Logs every circuit and stream event as it happens, with tor's reasons for failures and
 * closes. The torcon take on txtorcon's stream_circuit_logger and stem's event listener examples.
 *
 * Run: TOR_CONTROL=... node dist/examples/stream-circuit-logger.js [SECONDS]
 * (runs until Ctrl-C, or for SECONDS), then make some traffic: `torcon fetch http://...`.
 */
import { connectTor, type Circuit, type Stream } from '../src/index.js';

const seconds = Number(process.argv[2] ?? Infinity);
// It only listens: keepAliveMs asks tor something after 5 s of silence, so that a tor that stopped
// answering (SIGSTOP, wedged) is given up within about 20 s, as one that died is at once.
const tor = await connectTor({ keepAliveMs: 5_000, replyTimeoutMs: 10_000 });
const state = await tor.getState();

const path = (c: Circuit) => c.path.map((r) => r.nickname || r.fingerprint.slice(0, 8)).join(',');
// REASON is tor's own; REMOTE_REASON is what a relay (for streams: the exit) said, when it said.
const why = (x: { reason?: string | undefined; remoteReason?: string | undefined }) =>
  x.reason === undefined ? '' : ` reason=${x.reason}${x.remoteReason ? ` remote=${x.remoteReason}` : ''}`;
const target = (s: Stream) => `${s.target.host}:${s.target.port}`;
const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);

console.log(`tor ${tor.version}; ${state.circuits.size} circuits and ${state.streams.size} streams open now`);

state.on('circuitLaunched', (c) => log(`circuit ${c.id} launched (${c.purpose})`));
state.on('circuitExtended', (c) => log(`circuit ${c.id} extended [${path(c)}]`));
state.on('circuitBuilt', (c) => log(`circuit ${c.id} built [${path(c)}] ${c.purpose}`));
state.on('circuitFailed', (c) => log(`circuit ${c.id} FAILED [${path(c)}]${why(c)}`));
state.on('circuitClosed', (c) => log(`circuit ${c.id} closed${why(c)}`));

state.on('streamNew', async (s) => {
  log(`stream ${s.id} new to ${target(s)} (${s.purpose ?? 'purpose unknown'})`);
  // The local program that opened it (Linux, through /proc); found a moment later.
  const client = await s.clientProcess();
  if (client) log(`stream ${s.id} is from process ${client.pid}: ${client.command}`);
});
state.on('streamAttached', (s, c) => log(`stream ${s.id} to ${target(s)} attached to circuit ${c?.id ?? s.circuitId}${c ? ` [${path(c)}]` : ''}`));
state.on('streamSucceeded', (s) => log(`stream ${s.id} to ${target(s)} succeeded`));
state.on('streamDetached', (s) => log(`stream ${s.id} detached${why(s)}`));
state.on('streamFailed', (s) => log(`stream ${s.id} to ${target(s)} FAILED${why(s)}`));
state.on('streamClosed', (s) => log(`stream ${s.id} closed${why(s)}`));

// A stop on Ctrl-C, after SECONDS, or when tor is gone; tor.close() unsubscribes and ends the connection.
let stopping = false;
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  if (Number.isFinite(seconds)) setTimeout(resolve, seconds * 1000);
  state.once('close', (err) => {
    if (stopping) return;
    log(`tor is gone: ${err?.message ?? 'the connection closed'}`);
    process.exitCode = 1;
    resolve();
  });
});
stopping = true;
await tor.close();
