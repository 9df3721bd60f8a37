import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TorSocksError } from '../../src/errors.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A running example: its output so far, and a promise of how it ended. */
interface Run {
  child: ChildProcess;
  stdout(): string;
  /** Resolves once stdout has a line matching `re` (rejects if the program ends first). */
  line(re: RegExp): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function start(name: string, args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/examples', `${name}.js`), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve(): void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of [...waiters]) if (w.re.test(out)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err })),
  );
  return {
    child,
    stdout: () => out,
    line: (re) =>
      re.test(out)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ re, resolve })),
            done.then((r) => Promise.reject(new Error(`${name} ended (${r.code}) before printing ${re}:\n${r.stdout}\n${r.stderr}`))),
          ]),
    done,
  };
}

/** Runs an example to its end; it must succeed. */
async function runToEnd(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { code, stdout, stderr } = await start(name, args, env).done;
  assert.equal(code, 0, `${name} failed:\n${stdout}\n${stderr}`);
  return stdout;
}

// Each example of examples/ (README "Examples") against the private network, so that they cannot rot.
describe('examples/ on the private test network', function () {
  this.timeout(120_000);
  let network: TestNetwork;
  let env: NodeJS.ProcessEnv;
  let tor: Tor;
  let site: http.Server;
  let port: number;
  const running: Run[] = [];

  before(async () => {
    network = await sharedTestNetwork();
    env = { ...process.env, ...network.env(), TORCON_REQUIRE_OFFLINE: '1' };
    tor = await connectTor({ control: network.controlEndpoint });
    site = http.createServer((req, res) => res.end('example\n'));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    port = (site.address() as AddressInfo).port;
  });

  after(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    await tor?.close();
    site?.close();
  });

  it('dump-state lists routers with their flags, circuits, streams, address map and guards', async () => {
    const out = await runToEnd('dump-state', [], env);
    assert.match(out, new RegExp(`^tor 0\\.4\\.\\S+: ${network.relays.length} routers \\(.*Exit ${network.relays.length}.*\\)$`, 'm'));
    assert.match(out, /^\d+ circuits:\n {2}\d+ BUILT /m);
    assert.match(out, /^\d+ streams:$/m);
    assert.match(out, /^\d+ address mappings:$/m);
    assert.match(out, /^[1-9]\d* entry guards:\n {2}\w+ [0-9A-F]{40} /m);
  });

  it('stream-circuit-logger logs a stream as it is opened, attached and connected', async () => {
    const run = start('stream-circuit-logger', [], env);
    running.push(run);
    await run.line(/circuits and \d+ streams open now/);
    const res = await tor.fetch(`http://127.0.0.1:${port}/`, { timeoutMs: 60_000 });
    assert.equal(await res.text(), 'example\n');
    // (Its close comes when fetch's kept connection times out: not waited for.)
    await run.line(new RegExp(`stream \\d+ to \\S+:${port} succeeded`));
    run.child.kill('SIGINT');
    const { code, stdout } = await run.done;
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`stream \\d+ new to 127\\.0\\.0\\.1:${port} \\(USER\\)`));
    assert.match(stdout, new RegExp(`stream \\d+ to \\S+:${port} attached to circuit \\d+ \\[\\w+(,\\w+)*\\]`));
    assert.match(stdout, new RegExp(`stream \\d+ to \\S+:${port} succeeded`));
  });

  it('stream-circuit-logger exits 1 saying tor is gone when its tor dies (a DisableNetwork 1 tor, killed)', async () => {
    const doomed = await launchTor({ config: { DisableNetwork: 1 } });
    try {
      const run = start('stream-circuit-logger', [], { ...env, TOR_CONTROL: doomed.controlEndpoint });
      running.push(run);
      await run.line(/circuits and \d+ streams open now/);
      process.kill(doomed.pid!, 'SIGKILL');
      const { code, stdout } = await run.done;
      assert.equal(code, 1);
      assert.match(stdout, /tor is gone: .*closed/);
    } finally {
      await doomed.close();
    }
  });

  it('circuit-failure-rates counts the circuits it builds', async () => {
    const out = await runToEnd('circuit-failure-rates', ['5'], env);
    assert.match(out, /^\S+: \d+\.\d% failed \(\d+ failed, [1-9]\d* built\)$/m);
    assert.match(out, /^ {2}\w+: \d+ built, \d+ failed, \d+\.\d%$/m);
  });

  it('custom-stream-attacher sends the fetch over the circuit through the relays named', async () => {
    const [a, b, c] = network.relays;
    const out = await runToEnd('custom-stream-attacher', [c!.nickname, b!.nickname, a!.nickname], env);
    assert.match(out, new RegExp(`^built circuit \\d+: ${c!.nickname} -> ${b!.nickname} -> ${a!.nickname}$`, 'm'));
    assert.match(out, /^attaching stream \d+ to 127\.0\.0\.1:\d+ to circuit \d+$/m);
    assert.match(out, new RegExp(`the exit relay ${a!.nickname} is at 127\\.0\\.0\\.1$`, 'm'));
    assert.match(out, /^the address matches the exit$/m);
  });

  it('disallow-streams-by-port refuses streams to the ports given (TOR_SOCKS_NOT_ALLOWED) and lets others through', async () => {
    const run = start('disallow-streams-by-port', ['Infinity', String(port)], env);
    running.push(run);
    await run.line(/^refusing streams to ports \d+$/m);
    const refused = await tor.connect(`127.0.0.1:${port}`, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    if (refused instanceof net.Socket) refused.destroy();
    assert.ok(refused instanceof TorSocksError && refused.code === 'TOR_SOCKS_NOT_ALLOWED', String(refused));
    await run.line(new RegExp(`stream \\d+ to port ${port} closed \\(EXITPOLICY\\)`));
    const other = http.createServer((req, res) => res.end('other\n'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const res = await tor.fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`, { timeoutMs: 60_000 });
      assert.equal(await res.text(), 'other\n');
    } finally {
      other.close();
    }
    run.child.kill('SIGINT');
    const { code, stderr } = await run.done;
    assert.equal(code, 0);
    assert.equal(stderr, '', 'no listenerError');
  });

  it('config gets, sets, saves and resets options, and lists SocksPort lines and hidden service groups', async () => {
    const out = await runToEnd('config', [], env);
    assert.match(out, /^DisableNetwork true$/m);
    assert.match(out, /^SocksPort lines \[ 'auto', 'auto IsolateDestAddr' \]$/m);
    assert.match(out, /^ContactInfo ops@example\.org BandwidthRate 1048576$/m);
    assert.match(out, /^hidden service \S+torcon-example-hs-\S+ \[ '80 127\.0\.0\.1:8080' \] \[ \[ 'HiddenServiceMaxStreams', '10' \] \]$/m);
    assert.match(out, /^saved to \S+torrc:\n[\s\S]*^ContactInfo ops@example\.org$/m);
    assert.match(out, /^after reset: ContactInfo null$/m);
  });

  it('relay-locations shows loopback relays as unknown, and placed by a lookup of ones own', async () => {
    assert.match(await runToEnd('relay-locations', [], env), /^circuit \d+:\n( {2}\w+ +127\.0\.0\.1 +unknown\n){3,}/m);
    assert.match(await runToEnd('relay-locations', ['--label-loopback'], env), /^( {2}\w+ +127\.0\.0\.1 +this machine \(loopback\)\n){3,}/m);
  });

  it('exit-used names the exit of its request', async () => {
    const out = await runToEnd('exit-used', [], env);
    assert.match(out, /^fetched: 200 hello$/m);
    assert.match(out, /^stream \d+ to \S+ exits at \w+\n {2}fingerprint [0-9A-F]{40}, address 127\.0\.0\.1, country unknown$/m);
  });

  it("bandwidth-monitor prints tor's BW events and their totals", async () => {
    const out = await runToEnd('bandwidth-monitor', ['2'], env);
    assert.match(out, /^\d\d:\d\d:\d\d {2}read +\d+ B\/s {2}written +\d+ B\/s$/m);
    assert.match(out, /^in 2 s: \d+ bytes read, \d+ bytes written$/m);
  });
});
