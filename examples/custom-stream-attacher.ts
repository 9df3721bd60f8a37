/**
 * Builds a circuit through relays you name, attaches every new stream to it with an attacher,
 * fetches a local web page through it, and compares the address the web server saw with the
 * circuit's exit. The torcon take on txtorcon's custom_stream_attacher.
 *
 * Run: TOR_CONTROL=... node dist/examples/custom-stream-attacher.js [GUARD MIDDLE EXIT]
 * (nicknames or fingerprints; default: three relays of the consensus, the last an Exit)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectTor, type Router } from '../src/index.js';

// A local web server that answers with the address the request came from: the exit's.
const site = http.createServer((req, res) => res.end(`${req.socket.remoteAddress}:${req.socket.remotePort}\n`));
await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;

const tor = await connectTor();
try {
  const state = await tor.getState();

  // The path: the relays named on the command line, else any three with an Exit last.
  let path: Array<Router | string> = process.argv.slice(2);
  if (path.length === 0) {
    const routers = [...state.routers.values()];
    // On the public network add `&& r.acceptsPort(80)` (on a tor that uses microdescriptors, as
    // most do, after `await state.loadExitPolicies()`). The test network's exits reach only
    // 127.0.0.0/8, so their policy summaries (which describe most addresses) reject every port.
    const exit = routers.find((r) => r.hasFlag('Exit'));
    if (exit === undefined) throw new Error('no exit relay in the consensus');
    path = [...routers.filter((r) => r !== exit).slice(0, 2), exit];
  }
  // Resolves once tor says BUILT; a relay the consensus lacks is a TOR_INVALID_VALUE here.
  const circuit = await state.buildCircuit(path, { timeoutMs: 30_000 });
  const exit = circuit.path.at(-1)!;
  console.log(`built circuit ${circuit.id}: ${circuit.path.map((r) => r.nickname).join(' -> ')}`);

  // While an attacher is set, tor leaves every new stream for it to place: return a circuit, or
  // undefined to let tor choose. Streams to .onion addresses are always left to tor. (To send only
  // your own requests over a circuit, no attacher is needed: `tor.fetch(url, { circuit })`.)
  await state.setAttacher((stream) => {
    console.log(`attaching stream ${stream.id} to ${stream.target.host}:${stream.target.port} to circuit ${circuit.id}`);
    return circuit;
  });
  // An attacher that throws (or picks a closed circuit) closes the stream: hear about it here.
  state.on('listenerError', (err, where) => console.error(`${where}: ${String(err)}`));

  const response = await tor.fetch(url, { timeoutMs: 30_000 });
  const seen = (await response.text()).trim();
  console.log(`the server saw the request come from ${seen}; the exit relay ${exit.nickname} is at ${exit.address}`);
  // Every relay of the test network is on 127.0.0.1: there this check cannot tell exits apart.
  console.log(seen.startsWith(`${exit.address}:`) ? 'the address matches the exit' : 'the address does NOT match the exit');

  await state.setAttacher(null); // hand streams back to tor
  await circuit.close();
} finally {
  await tor.close();
  site.close();
}
