/**
 * Refuses streams to some ports (default 25 and 80, or the ports given) with an attacher, and
 * lets tor place all the others. The torcon take on txtorcon's disallow_streams_by_port.
 *
 * Run: TOR_CONTROL=... node dist/examples/disallow-streams-by-port.js [SECONDS] [PORT...]
 * then try `torcon fetch http://127.0.0.1:80/` from another shell: the client is refused.
 */
import { connectTor } from '../src/index.js';

const [secondsArg, ...portArgs] = process.argv.slice(2);
const seconds = Number(secondsArg ?? Infinity);
const refused = new Set(portArgs.length > 0 ? portArgs.map(Number) : [25, 80]);

const tor = await connectTor();
const state = await tor.getState();
await state.setAttacher(async (stream) => {
  if (!refused.has(stream.target.port)) return undefined; // tor chooses the circuit
  console.log(`refusing stream ${stream.id} to ${stream.target.host}:${stream.target.port}`);
  // Close it with a reason of our choosing: EXITPOLICY reaches a SOCKS5 client as "connection
  // not allowed by ruleset". Nothing is attached afterwards.
  await stream.close('EXITPOLICY');
  return undefined;
});
console.log(`refusing streams to ports ${[...refused].join(', ')}`);
state.on('listenerError', (err, where) => console.error(`${where}: ${String(err)}`));
state.on('streamClosed', (s) => console.log(`stream ${s.id} to port ${s.target.port} closed (${s.reason})`));

await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  if (Number.isFinite(seconds)) setTimeout(resolve, seconds * 1000);
});
await tor.close(); // also hands waiting streams back to tor
