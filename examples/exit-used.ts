/**
 * Tells which exit relay served a connection through tor. The torcon take on stem's "Determine The
 * Exit You're Using" (exit_used.py).
 *
 * It makes one request itself (to a local web server) and reports the exit of that request's own
 * stream (state.streamForSocket); with --watch it then reports the exits of every connection made
 * through this tor, from its stream events, until Ctrl-C.
 *
 * Run: TOR_CONTROL=... node dist/examples/exit-used.js [--watch]
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connectTor, type Stream } from '../src/index.js';

const tor = await connectTor();
const state = await tor.getState();

// The exit is the last hop of the stream's circuit. (Once the stream SUCCEEDED, tor may have
// rewritten its target: a hostname becomes the address the exit resolved it to, and a target on a
// relay's own address, as all of the test network's are, gets that relay as its exit, which tor
// writes as `ADDRESS.FINGERPRINT.exit`.)
async function report(stream: Stream): Promise<void> {
  if (stream.purpose?.startsWith('DIR_')) return; // tor's own directory requests, not a user's
  const exit = stream.circuit?.path.at(-1);
  if (exit === undefined) return; // not on a circuit the state knows (tor-internal, onion streams)
  const where = await exit.location(); // {} for private addresses: see relay-locations.ts
  console.log(`stream ${stream.id} to ${stream.target.host}:${stream.target.port} exits at ${exit.nickname}`);
  console.log(`  fingerprint ${exit.fingerprint}, address ${exit.address}, country ${where.countryCode ?? 'unknown'}`);
}

const site = http.createServer((req, res) => res.end('hello\n'));
await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
// keepAlive: the connection stays open after the response, and so does its stream, until the
// agent is destroyed (without it the agent closes the connection as the response ends).
const agent = tor.httpAgent({ keepAlive: true });
// The response's socket is the connection to tor's SOCKS port that carried the request. It is taken
// in the callback: Node sets res.socket to null once the response has ended.
const { status, body, socket } = await new Promise<{ status: number; body: string; socket: Socket }>((resolve, reject) => {
  http
    .get(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`, { agent, timeout: 30_000 }, (res) => {
      const socket = res.socket;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body, socket }));
    })
    .once('timeout', function (this: http.ClientRequest) {
      this.destroy(new Error('no answer within 30 s'));
    })
    .once('error', reject);
});
console.log(`fetched: ${status} ${body.trim()}`);
const mine = await state.streamForSocket(socket);
if (mine === undefined) console.log('tor reported no stream for the request');
else await report(mine);
agent.destroy();
site.close();

if (process.argv.includes('--watch')) {
  // Every connection's stream succeeds once the exit has connected to its target.
  state.on('streamSucceeded', report);
  await new Promise((resolve) => process.once('SIGINT', resolve));
}
await tor.close();
