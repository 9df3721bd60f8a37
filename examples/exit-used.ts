/**
 * Tells which exit relay served each connection through tor, from its stream events. The torcon
 * take on stem's "Determine The Exit You're Using" (exit_used.py).
 *
 * It makes one request itself (to a local web server) and reports its exit; with --watch it keeps
 * reporting the exits of every connection made through this tor until Ctrl-C.
 *
 * Run: TOR_CONTROL=... node dist/examples/exit-used.js [--watch]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectTor, type Stream } from '../src/index.js';

const tor = await connectTor();
const state = await tor.getState();

// A stream SUCCEEDED once the exit connected to its target: the exit is the last hop of its circuit.
// (By then tor may have rewritten the target: a hostname becomes the address the exit resolved it
// to, and a target on a relay's own address, as all of the test network's are, gets that relay
// as its exit, which tor writes as `ADDRESS.FINGERPRINT.exit`.)
async function report(stream: Stream): Promise<void> {
  if (stream.purpose?.startsWith('DIR_')) return; // tor's own directory requests, not a user's
  const exit = stream.circuit?.path.at(-1);
  if (exit === undefined) return; // not on a circuit the state knows (tor-internal, onion streams)
  const where = await exit.location(); // {} for private addresses: see relay-locations.ts
  console.log(`stream ${stream.id} to ${stream.target.host}:${stream.target.port} exits at ${exit.nickname}`);
  console.log(`  fingerprint ${exit.fingerprint}, address ${exit.address}, country ${where.countryCode ?? 'unknown'}`);
}
state.on('streamSucceeded', report);

const site = http.createServer((req, res) => res.end('hello\n'));
await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
const response = await tor.fetch(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`, { timeoutMs: 30_000 });
console.log(`fetched: ${response.status} ${(await response.text()).trim()}`);
site.close();

if (process.argv.includes('--watch')) await new Promise((resolve) => process.once('SIGINT', resolve));
await tor.close();
