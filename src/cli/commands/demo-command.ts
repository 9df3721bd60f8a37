import http from 'node:http';
import type net from 'node:net';
import type { Command } from 'commander';
import { connect, listen } from '../../di/endpoint-api.js';
import { findTorBinary } from '../../process/launch-tor.js';
import { startTestNetwork, type TestNetwork } from '../../testnet.js';
import { connectTor } from '../../tor/connect-tor.js';
import type { Tor } from '../../tor/tor.js';
import type { Circuit, Stream, TorState } from '../../state/tor-state.js';
import type { CliContext } from '../context.js';
import { untilAborted } from '../context.js';
import { println, Progress } from '../output.js';
import { describePath } from './circuit-format.js';

const PAGE = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${body}</p></body></html>\n`;

/**
 * `torcon demo`: the README's main job. Starts the private test network, serves a page on an onion
 * service with `listen(server, "onion:80")`, fetches it back through Tor with `connect()` and
 * `tor.fetch()`, reaches a 127.0.0.1 "clearnet" server through an exit, prints the circuits used,
 * and stops everything. Nothing touches the public Tor network: every tor here belongs to the
 * private network on 127.0.0.1.
 */
export function addDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('start a private Tor network, serve a page on an onion service, fetch it through Tor (offline)')
    .option('--keep', 'leave everything running (until Ctrl-C) and print how to use it')
    .option('--relays <n>', 'relays in the private network', (v) => Number(v), 4)
    .addHelpText('after', '\nExamples:\n  npm run demo\n  npx torcon demo --keep')
    .action(async (opts: { keep?: boolean; relays: number }) => {
      await runDemo(ctx, opts);
    });
}

async function runDemo(ctx: CliContext, opts: { keep?: boolean; relays: number }): Promise<void> {
  const { out, err } = ctx.output;
  const t0 = Date.now();
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  println(out, 'torcon demo: a private Tor network on 127.0.0.1, an onion service, and requests through Tor.');
  println(out, 'Nothing here touches the public Tor network.\n');

  const torPath = await findTorBinary();
  println(out, `tor binary: ${torPath}`);

  let network: TestNetwork | undefined;
  let tor: Tor | undefined;
  const servers: net.Server[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const netProgress = new Progress(ctx.output, 'network');
    network = await startTestNetwork({
      relays: opts.relays,
      signal: ctx.signal,
      onProgress: (p) => netProgress.update(p.percent, `${p.phase}${p.node ? ` ${p.node}` : ''}: ${p.message}`),
    });
    netProgress.done(
      `ready in ${since(t0)}: ${network.relays.map((r) => r.nickname).join(', ')} + a client (control ${network.controlEndpoint}, SOCKS 127.0.0.1:${network.socksPort})`,
    );
    // Endpoint strings below find this tor through TOR_CONTROL, as an application would.
    Object.assign(process.env, network.env());
    tor = await connectTor({ control: network.controlEndpoint, signal: ctx.signal });
    const state = await tor.getState({ signal: ctx.signal });
    const used = trackCircuits(state);

    // A "clearnet" site: a plain server on 127.0.0.1 that we reach only through a Tor exit.
    const clearnet = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE('Hello from the clearnet', 'This page sits on 127.0.0.1 and was reached through a Tor exit relay.'));
    });
    servers.push(clearnet);
    await new Promise<void>((resolve) => clearnet.listen(0, '127.0.0.1', resolve));
    const clearPort = (clearnet.address() as net.AddressInfo).port;
    println(out, `clearnet: a web server on http://127.0.0.1:${clearPort}/`);

    // The onion site: an ordinary http.Server, made an onion service by one endpoint string.
    const site = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE('Hello from an onion service', `You asked for ${req.url}. This server only listens on 127.0.0.1; Tor brought you here.`));
    });
    servers.push(site);
    const onionProgress = new Progress(ctx.output, 'onion');
    const uploads = await watchUploads(tor, (done, tried) =>
      onionProgress.update(tried ? (100 * done) / Math.max(tried, 1) : undefined, `descriptor uploads: ${done} of ${tried} HSDirs`),
    );
    cleanups.push(uploads.stop);
    onionProgress.update(undefined, 'listen(server, "onion:80"): ADD_ONION, then publishing the descriptor…');
    const tOnion = Date.now();
    const service = await listen(site, 'onion:80', { tor, signal: ctx.signal });
    cleanups.push(() => service.close());
    const hostname = service.address.replace(/:80$/, '');
    onionProgress.done(`http://${hostname}/ published in ${since(tOnion)}`);
    await uploads.stop();

    // 1. A raw socket from an endpoint string.
    let t = Date.now();
    const raw = await httpOverSocket(await connectWithRetry(() => connect(`tor:${hostname}:80`, { tor: tor!, signal: ctx.signal })), hostname);
    println(out, `\n1. connect("tor:${short(hostname)}:80") → ${raw.statusLine}, ${raw.body.length} bytes, "${title(raw.body)}" (${since(t)})`);

    // 2. WHATWG fetch through Tor.
    t = Date.now();
    const res2 = await tor.fetch(`http://${hostname}/fetch`, { signal: ctx.signal });
    const body2 = await res2.text();
    println(out, `2. tor.fetch("http://${short(hostname)}/fetch") → ${res2.status} ${res2.statusText}, "${title(body2)}" (${since(t)})`);

    // 3. The clearnet site through an exit relay.
    t = Date.now();
    const res3 = await tor.fetch(`http://127.0.0.1:${clearPort}/`, { signal: ctx.signal });
    const body3 = await res3.text();
    println(out, `3. tor.fetch("http://127.0.0.1:${clearPort}/") through an exit → ${res3.status} ${res3.statusText}, "${title(body3)}" (${since(t)})`);

    // The circuits those streams used, as the live state saw them.
    println(out, '\ncircuits used (client → … ; relay nickname, fingerprint, location):');
    for (const line of await describeUsed(used.circuits())) println(out, line);
    used.stop();

    if (opts.keep) {
      println(out, '\nEverything keeps running until Ctrl-C. In another shell:');
      println(out, `  export TOR_CONTROL=${network.controlEndpoint}`);
      println(out, `  curl --socks5-hostname 127.0.0.1:${network.socksPort} http://${hostname}/`);
      println(out, `  npx torcon fetch http://${hostname}/`);
      println(out, '  npx torcon monitor');
      await untilAborted(ctx.signal);
    }
    println(err, '\nstopping…');
  } finally {
    const tStop = Date.now();
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    for (const s of servers) {
      s.close();
      (s as http.Server).closeAllConnections?.();
    }
    await tor?.close().catch(() => undefined);
    await network?.stop();
    if (network) println(out, `stopped the onion service, the servers and the network in ${since(tStop)}; total ${since(t0)}.`);
  }
}

/** Remembers every circuit that carried one of our streams, and the service's rendezvous circuits. */
function trackCircuits(state: TorState): { circuits(): Circuit[]; stop(): void } {
  const seen = new Map<string, Circuit>();
  const onStream = (stream: Stream) => {
    if (stream.circuit) seen.set(stream.circuit.id, stream.circuit);
  };
  const onCircuit = (circuit: Circuit) => {
    if (/HS_SERVICE_REND/.test(String(circuit.purpose))) seen.set(circuit.id, circuit);
  };
  state.on('streamSucceeded', onStream);
  state.on('streamAttached', onStream);
  state.on('circuitBuilt', onCircuit);
  return {
    circuits: () => [...seen.values()].sort((a, b) => Number(a.id) - Number(b.id)),
    stop: () => {
      state.off('streamSucceeded', onStream);
      state.off('streamAttached', onStream);
      state.off('circuitBuilt', onCircuit);
    },
  };
}

async function describeUsed(circuits: Circuit[]): Promise<string[]> {
  if (circuits.length === 0) return ['  (none seen)'];
  const lines: string[] = [];
  for (const c of circuits) {
    lines.push(`  circuit ${c.id} ${String(c.purpose ?? '').padEnd(15)} ${await describePath(c)}`);
  }
  return lines;
}

/** Counts HS_DESC UPLOAD / UPLOADED while the service publishes. */
async function watchUploads(tor: Tor, report: (done: number, tried: number) => void): Promise<{ stop: () => Promise<void> }> {
  let tried = 0;
  let done = 0;
  const off = await tor.control.subscribe('HS_DESC', (e) => {
    const action = (e as { action?: string }).action;
    if (action === 'UPLOAD') tried++;
    else if (action === 'UPLOADED') done++;
    else return;
    report(done, tried);
  });
  let stopped = false;
  return {
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await off();
    },
  };
}

/**
 * The first connection to a fresh onion service can fail while the client still fetches the
 * descriptor (testnet.md: rarely, up to ~13 s); one retry keeps the demo honest and robust.
 */
async function connectWithRetry(open: () => Promise<net.Socket>): Promise<net.Socket> {
  try {
    return await open();
  } catch {
    return open();
  }
}

/** A minimal HTTP/1.0 GET over a raw socket: shows that `connect()` gives an ordinary net.Socket. */
function httpOverSocket(socket: net.Socket, host: string): Promise<{ statusLine: string; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      resolve({ statusLine: text.slice(0, text.indexOf('\r\n')), body: split === -1 ? '' : text.slice(split + 4) });
    });
    socket.end(`GET /socket HTTP/1.0\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

function title(html: string): string {
  return /<title>([^<]*)<\/title>/.exec(html)?.[1] ?? html.slice(0, 40);
}

function short(hostname: string): string {
  return hostname.length > 20 ? `${hostname.slice(0, 8)}…${hostname.slice(-12)}` : hostname;
}
