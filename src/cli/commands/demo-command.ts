import { execFile } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import type { TestNetwork } from '../../testnet.js';
import { TorSocksError } from '../../errors.js';
import type { Tor } from '../../tor/tor.js';
import type { Circuit, Stream, TorState } from '../../state/tor-state.js';
import type { Router } from '../../state/router.js';
import type { Location } from '../../state/geoip-types.js';
import type { CliContext } from '../context.js';
import { untilAborted } from '../context.js';
import { println, Progress } from '../output.js';
import { reportNetworkProgress } from '../network-progress.js';
import { lib } from '../lazy.js';
import { relayCount } from './tor-commands.js';

const execFileAsync = promisify(execFile);

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
    .option('--relays <n>', 'relays in the private network (4..32)', (v) => relayCount(v, '--relays'), 4)
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
  println(out, 'Nothing here touches the public Tor network: every tor started belongs to the private network.\n');

  const [{ connect, listen }, { findTorBinary }, { startTestNetwork }, { connectTor }] = await Promise.all([
    lib.endpoints(),
    lib.launch(),
    lib.testnet(),
    lib.connectTor(),
  ]);
  const torPath = await findTorBinary();
  const torVersion = await readTorVersion(torPath);
  println(out, `tor: ${torPath}${torVersion ? ` (${torVersion})` : ''}`);

  let network: TestNetwork | undefined;
  let tor: Tor | undefined;
  const servers: net.Server[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const netProgress = new Progress(ctx.output, 'network');
    network = await startTestNetwork({
      relays: opts.relays,
      signal: ctx.signal,
      onProgress: (p) => reportNetworkProgress(netProgress, p),
    });
    netProgress.done(`ready in ${since(t0)}`);
    const authorities = network.relays.filter((r) => r.role === 'authority').length;
    const roles = authorities === network.relays.length ? 'each a directory authority, ' : `${authorities} of them directory authorities; each `;
    println(
      out,
      `network: ${network.relays.length} relays (${network.relays.map((r) => r.nickname).join(', ')}; ${roles}a guard, an exit to 127.0.0.0/8 only, and an HSDir) and a client tor, ready in ${since(t0)}`,
    );
    println(out, `client tor: control ${network.controlEndpoint}, SOCKS 127.0.0.1:${network.socksPort}`);
    // Endpoint strings below find this tor through TOR_CONTROL, as an application would.
    Object.assign(process.env, network.env());
    tor = await connectTor({ control: network.controlEndpoint, signal: ctx.signal });
    const state = await tor.getState({ signal: ctx.signal });
    const traffic = trackTraffic(state);
    cleanups.push(async () => traffic.stop());

    // A "clearnet" site: a plain server on 127.0.0.1 that we reach only through a Tor exit.
    const clearnet = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE('Hello from the clearnet', 'This page sits on 127.0.0.1 and was reached through a Tor exit relay.'));
    });
    servers.push(clearnet);
    await new Promise<void>((resolve) => clearnet.listen(0, '127.0.0.1', resolve));
    const clearPort = (clearnet.address() as net.AddressInfo).port;
    println(out, `clearnet site: an ordinary web server on http://127.0.0.1:${clearPort}/ (reached below only through an exit relay)`);

    // The onion site: an ordinary http.Server, made an onion service by one endpoint string.
    const site = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE('Hello from an onion service', `You asked for ${req.url}. This server only listens on 127.0.0.1; Tor brought you here.`));
    });
    servers.push(site);
    const onionProgress = new Progress(ctx.output, 'onion');
    const uploads = await watchUploads(tor, (done, tried) =>
      onionProgress.update(undefined, done === 0 ? 'uploading the descriptor to the HSDirs…' : `descriptor uploaded to ${done} of ${tried} HSDirs asked`),
    );
    cleanups.push(uploads.stop);
    onionProgress.update(undefined, 'listen(server, "onion:80"): ADD_ONION, then publishing the descriptor…');
    const tOnion = Date.now();
    const service = await listen(site, 'onion:80', { tor, signal: ctx.signal });
    cleanups.push(() => service.close());
    const hostname = service.address.replace(/:80$/, '');
    await uploads.stop();
    onionProgress.done(`published in ${since(tOnion)}`);
    println(out, `onion service: http://${hostname}/ (listen(server, "onion:80"), published in ${since(tOnion)})`);

    println(out, '\nThree requests through Tor:');
    // 1. A raw socket from an endpoint string.
    let t = Date.now();
    traffic.begin(1);
    const raw = await httpOverSocket(await connectWithRetry(() => connect(`tor:${hostname}:80`, { tor: tor!, signal: ctx.signal }), ctx.signal), hostname);
    println(out, `1. connect("tor:${short(hostname)}:80"), a net.Socket, HTTP/1.0 over it → ${raw.statusLine || '(no reply)'}, "${title(raw.body)}" (${since(t)})`);
    if (!raw.statusLine.includes(' 200 ')) throw new Error(`request 1 (connect to the onion service) got ${raw.statusLine ? `"${raw.statusLine}"` : 'no reply'}`);

    // 2. WHATWG fetch through Tor.
    t = Date.now();
    traffic.begin(2);
    const res2 = await tor.fetch(`http://${hostname}/fetch`, { signal: ctx.signal });
    const body2 = await res2.text();
    println(out, `2. tor.fetch("http://${short(hostname)}/fetch") → ${res2.status} ${res2.statusText}, "${title(body2)}" (${since(t)})`);

    // 3. The clearnet site through an exit relay.
    t = Date.now();
    traffic.begin(3);
    const res3 = await tor.fetch(`http://127.0.0.1:${clearPort}/`, { signal: ctx.signal });
    const body3 = await res3.text();
    println(out, `3. tor.fetch("http://127.0.0.1:${clearPort}/") through an exit relay → ${res3.status} ${res3.statusText}, "${title(body3)}" (${since(t)})`);
    traffic.begin(undefined);
    if (!res2.ok || !res3.ok) throw new Error(`a fetch failed: request 2 got ${res2.status}, request 3 got ${res3.status}`);

    // The circuits those requests used, as the live state saw them.
    println(out, '\nCircuits that carried them (from the live TorState; paths from the client outwards):');
    const relays = new Map<string, Router>();
    for (const line of describeTraffic(traffic.byRequest(), relays)) println(out, line);
    println(out, '\nRelays on those paths (nickname, fingerprint, OR address, location):');
    for (const line of await describeRelays([...relays.values()])) println(out, line);

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
    const pids = network?.pids ?? [];
    await network?.stop();
    if (ctx.signal.aborted && !opts.keep) {
      println(err, `\ninterrupted: stopped everything the demo had started (${since(tStop)})`);
    }
    if (network) {
      const alive = pids.filter(isAlive);
      println(
        out,
        `\nStopped: the onion service (DEL_ONION), both web servers, and all ${pids.length} tor processes of the network ` +
          `(${alive.length === 0 ? 'none left running' : `still running: ${alive.join(', ')}`}; its directory removed) in ${since(tStop)}. Total ${since(t0)}.`,
      );
    }
  }
}

/** Which circuits carried which request: the client's streams, and the service's rendezvous circuits. */
interface RequestTraffic {
  request: number;
  client: Circuit[];
  service: Circuit[];
}

/**
 * Watches the live state while the requests run. A client stream names its circuit; the service
 * side has no stream events (tor reports only streams it opened for clients), but its rendezvous
 * circuit is built in answer to our request, so the HS_SERVICE_REND circuits built meanwhile are it.
 * Directory streams (descriptor uploads and fetches) are left out: they are tor's, not ours.
 */
function trackTraffic(state: TorState): {
  begin(request: number | undefined): void;
  byRequest(): RequestTraffic[];
  stop(): void;
} {
  const seen = new Map<number, { client: Map<string, Circuit>; service: Map<string, Circuit> }>();
  let current: number | undefined;
  const slot = () => {
    if (current === undefined) return undefined;
    let s = seen.get(current);
    if (!s) seen.set(current, (s = { client: new Map(), service: new Map() }));
    return s;
  };
  const onStream = (stream: Stream) => {
    if (stream.purpose && stream.purpose.startsWith('DIR_')) return;
    const circuit = stream.circuit;
    if (circuit) slot()?.client.set(circuit.id, circuit);
  };
  const onCircuit = (circuit: Circuit) => {
    if (String(circuit.purpose) === 'HS_SERVICE_REND') slot()?.service.set(circuit.id, circuit);
  };
  state.on('streamSucceeded', onStream);
  state.on('circuitBuilt', onCircuit);
  return {
    begin: (request) => {
      current = request;
    },
    byRequest: () =>
      [...seen.entries()].map(([request, s]) => ({ request, client: [...s.client.values()], service: [...s.service.values()] })),
    stop: () => {
      state.off('streamSucceeded', onStream);
      state.off('circuitBuilt', onCircuit);
    },
  };
}

function describeTraffic(traffic: RequestTraffic[], relays: Map<string, Router>): string[] {
  const lines: string[] = [];
  const shown = new Set<string>();
  for (const { request, client, service } of traffic) {
    const rows: Array<[string, Circuit]> = [
      ...client.map((c): [string, Circuit] => ['client side ', c]),
      ...service.map((c): [string, Circuit] => ['service side', c]),
    ];
    if (rows.length === 0) lines.push(`${request}. (no circuit seen)`);
    rows.forEach(([side, c], i) => {
      for (const hop of c.path) relays.set(hop.fingerprint, hop);
      const again = shown.has(c.id) ? ' (the same circuit again)' : '';
      shown.add(c.id);
      const hops = c.path.map((h) => h.nickname ?? h.fingerprint.slice(0, 8)).join(' → ') || '(no hops)';
      lines.push(`${i === 0 ? `${request}.` : '  '} ${side} circuit ${c.id.padEnd(4)} ${String(c.purpose ?? '').padEnd(15)} ${hops}${again}`);
    });
    const rendezvous = client.find((c) => String(c.purpose).startsWith('HS_CLIENT_REND'))?.path.at(-1);
    if (rendezvous && service.some((c) => c.path.at(-1)?.fingerprint === rendezvous.fingerprint)) {
      lines.push(`   both sides meet at the rendezvous point ${rendezvous.nickname}; neither knows the other's address`);
    }
    const exitCircuit = client.find((c) => !String(c.purpose).startsWith('HS_'));
    const exit = exitCircuit?.path.at(-1);
    if (exitCircuit && exit && service.length === 0) {
      lines.push(`   ${exit.nickname} is the exit: it opened the TCP connection to 127.0.0.1`);
      if (String(exitCircuit.purpose) === 'CONFLUX_LINKED') {
        lines.push('   (CONFLUX_LINKED: one leg of a conflux set; tor 0.4.8+ may send exit traffic over two linked circuits)');
      }
    }
  }
  return lines;
}

/** One line per relay: nickname, full fingerprint, OR address, and where GeoIP puts it (or why it cannot). */
async function describeRelays(relays: Router[]): Promise<string[]> {
  const sorted = [...relays].sort((a, b) => a.nickname.localeCompare(b.nickname));
  const width = Math.max(0, ...sorted.map((r) => r.nickname.length));
  return Promise.all(
    sorted.map(async (r) => {
      const where = await r.location().catch(() => ({}) as Location);
      const place = [where.countryCode, where.city, where.asn ? `AS${where.asn}` : undefined].filter(Boolean).join(' ');
      const why = place
        ? place
        : isLoopback(r.address)
          ? `no location: ${r.address} is a loopback address, which no GeoIP database places`
          : `no location: GeoIP has no entry for ${r.address}`;
      return `  ${r.nickname.padEnd(width)}  $${r.fingerprint}  ${r.address}:${r.orPort}  ${why}`;
    }),
  );
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `tor --version`'s version number, for the header; a failure only drops it. */
async function readTorVersion(torPath: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(torPath, ['--version'], { timeout: 10_000 });
    return /Tor version ([^\s]+?)\.?(\s|$)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** Counts HS_DESC UPLOAD / UPLOADED while the service publishes. */
async function watchUploads(tor: Tor, report: (done: number, tried: number) => void): Promise<{ stop: () => Promise<void> }> {
  let tried = 0;
  let done = 0;
  const off = await tor.control.subscribe('HS_DESC', (e) => {
    const action = (e as { action?: string }).action;
    // Report the first upload and each success: one line per HSDir asked would only be noise.
    if (action === 'UPLOAD') {
      if (++tried > 1) return;
    } else if (action === 'UPLOADED') done++;
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
 * The first connection to a fresh onion service can find no descriptor: on the test network a time
 * period lasts four minutes (24 votes of 10 s), and right at a rotation the service is still
 * uploading for the new period. Tor then asks none of the HSDirs again for 5 s, so a retry waits
 * that out first. Only SOCKS failures are retried; anything else (abort included) is final.
 */
async function connectWithRetry(open: () => Promise<net.Socket>, signal: AbortSignal): Promise<net.Socket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      if (!(err instanceof TorSocksError) || attempt >= 3 || signal.aborted) throw err;
      await sleep(6_000, undefined, { signal });
    }
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
    // write, not end: tor has no half-closed streams, and ending our side would end the whole
    // stream before the reply comes back. HTTP/1.0 makes the server close when it is done.
    socket.write(`GET /socket HTTP/1.0\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

function title(html: string): string {
  return /<title>([^<]*)<\/title>/.exec(html)?.[1] ?? html.slice(0, 40);
}

function short(hostname: string): string {
  return hostname.length > 20 ? `${hostname.slice(0, 8)}…${hostname.slice(-12)}` : hostname;
}
