/**
 * Prints tor's traffic once a second for 10 seconds (or SECONDS) from its BW events, then the
 * totals. The torcon take on the bandwidth monitors of txtorcon and stem. From a shell,
 * `torcon events BW` prints the same events as they come.
 *
 * Run: TOR_CONTROL=... node dist/examples/bandwidth-monitor.js [SECONDS]
 */
import { connectTor } from '../src/index.js';

const seconds = Number(process.argv[2] ?? 10);
const tor = await connectTor();
let read = 0;
let written = 0;
// events() subscribes (SETEVENTS) and yields typed events (BwEvent here); the loop ends when the
// signal aborts, and ending it unsubscribes. tor sends one BW event a second: the bytes it read
// and wrote in that second.
for await (const bw of tor.control.events('BW', { signal: AbortSignal.timeout(seconds * 1000) })) {
  read += bw.read;
  written += bw.written;
  console.log(`${new Date().toISOString().slice(11, 19)}  read ${String(bw.read).padStart(8)} B/s  written ${String(bw.written).padStart(8)} B/s`);
}
console.log(`in ${seconds} s: ${read} bytes read, ${written} bytes written`);
await tor.close();
