import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import { closedPort } from '../support/closed-port.js';
import { ONION_RETRY_PAUSE_MS, retryOnionLookup } from '../support/retry.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import { isAlive } from '../support/settle.js';

/**
 * The `torcon` CLI end to end: every command runs as a child process (`node dist/src/cli/main.js`)
 * against the shared private test network (TOR_CONTROL from `network.env()`), except `testnet`
 * and `demo`, which start networks of their own, and `--verbose`, which uses an offline tor with a
 * control password. Assertions are on exit codes and on what a user reads on stdout and stderr.
 */

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/integration
const ROOT = path.resolve(here, '../../..');
const MAIN = path.resolve(here, '../../src/cli/main.js');
const PLAIN_APP = path.join(ROOT, 'test/fixtures/cli-plain-app.mjs');
const COUNTER_APP = path.join(ROOT, 'test/fixtures/cli-signal-counter.mjs');

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running CLI child whose output is collected; `waitFor` resolves on the first matching line. */
class CliChild {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly exited: Promise<Result>;
  private readonly waiters = new Set<() => void>();

  /** @param detached - torcon leads a process group of its own, as a shell's job does, which the test can signal as a terminal would */
  constructor(args: string[], env: NodeJS.ProcessEnv, stdin: 'ignore' | 'pipe' = 'ignore', detached = false) {
    this.child = spawn(process.execPath, [MAIN, ...args], { env, stdio: [stdin, 'pipe', 'pipe'], cwd: ROOT, detached });
    running.add(this.child);
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString('utf8');
      for (const w of this.waiters) w();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString('utf8');
      for (const w of this.waiters) w();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        running.delete(this.child);
        for (const w of this.waiters) w();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** The first line of stdout or stderr matching `re` (its match), or a rejection naming what was seen. */
  waitFor(re: RegExp, which: 'stdout' | 'stderr', timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        // complete lines only: a chunk may end in the middle of one
        const text = this[which];
        const exited = this.child.exitCode !== null || this.child.signalCode !== null;
        for (const line of (exited ? text : text.slice(0, text.lastIndexOf('\n') + 1)).split('\n')) {
          const m = re.exec(line);
          if (m) return done(() => resolve(m));
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done(() => reject(new Error(`exited (${this.child.exitCode ?? this.child.signalCode}) before ${re} on ${which}; stdout: ${this.stdout}\nstderr: ${this.stderr}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no ${re} on ${which} within ${timeoutMs} ms; stdout: ${this.stdout}\nstderr: ${this.stderr}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  result(): Promise<Result> {
    return this.exited;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs` so that no test hangs). */
  async stop(signal: NodeJS.Signals = 'SIGINT', graceMs = 15_000): Promise<Result> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

const running = new Set<ChildProcess>();

/** Runs the CLI to completion (killed after `timeoutMs`), optionally with `input` on stdin. */
async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const c = new CliChild(args, opts.env ?? cliEnv(), opts.input === undefined ? 'ignore' : 'pipe');
  if (opts.input !== undefined) c.child.stdin!.end(opts.input);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  try {
    return await c.result();
  } finally {
    clearTimeout(timer);
  }
}

/** The environment of a CLI child: ours (TOR_CONTROL of the shared network), no debug output. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DEBUG: '', ...extra };
  delete env['TOR_CONTROL_PASSWORD'];
  return env;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** Tor processes whose command line mentions `needle` (Linux /proc). */
function torProcessesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z /.test(stat)) continue;
      if (path.basename(cmd[0] ?? '') === 'tor' && cmd.some((a) => a.includes(needle))) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** A process's group id and its state letter (R, S, T for stopped...), from Linux /proc/PID/stat. */
function processGroup(pid: number): number {
  return Number(statFields(pid)[2]);
}

function processState(pid: number): string {
  return statFields(pid)[0]!;
}

/** The fields of /proc/PID/stat after the command name (which may hold spaces): state first. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Whether tor still hosts the onion service (GETINFO hs/service/desc/id answers for any connection). */
async function hostsService(tor: Tor, serviceId: string): Promise<boolean> {
  try {
    const desc = await tor.control.getInfo(`hs/service/desc/id/${serviceId}`);
    return desc.startsWith('hs-descriptor 3');
  } catch (err) {
    if ((err as { code?: string }).code === 'TOR_CONTROL_ERROR') return false;
    throw err;
  }
}

/** Polls `check` until it returns `want` (tor notices a closed control connection on its next loop turn). */
async function eventually(check: () => Promise<boolean>, want: boolean, attempts = 50): Promise<boolean> {
  let value = await check();
  for (let i = 0; value !== want && i < attempts; i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await check();
  }
  return value;
}

/** GET through tor, retried while a fresh onion service's descriptor is not yet fetchable. */
async function fetchThroughTor(tor: Tor, url: string): Promise<{ status: number; body: string }> {
  const res = await retryOnionLookup(() => tor.fetch(url, { signal: AbortSignal.timeout(45_000) }));
  return { status: res.status, body: await res.text() };
}

after(() => {
  for (const child of running) child.kill('SIGKILL');
});

describe('torcon CLI against the shared test network (child processes)', function () {
  this.timeout(180_000);
  let network: TestNetwork;
  let tor: Tor;
  let echo: net.Server;
  let echoPort: number;
  let web: http.Server;
  let webPort: number;

  before(async function () {
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
    web = http.createServer((req, res) => {
      if (req.url === '/missing') {
        res.statusCode = 404;
        res.end('no such page\n');
        return;
      }
      res.setHeader('x-cli-test', 'yes');
      res.end(`web says hello to ${req.url}\n`);
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webPort = (web.address() as net.AddressInfo).port;
  });

  after(async () => {
    echo?.close();
    web?.closeAllConnections();
    web?.close();
    await tor?.close();
  });

  describe('info, usage errors', () => {
    it('info version prints the version tor reports', async () => {
      const r = await runCli(['info', 'version']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${await tor.control.getInfo('version')}\n`);
      assert.equal(r.stderr, '');
    });

    it('status prints what the test network client says of itself, and --json its TorStatus', async () => {
      const r = await runCli(['status']);
      assert.equal(r.code, 0, r.stderr);
      const labels = lines(r.stdout).map((l) => l.split(/ +/)[0]);
      assert.deepEqual(labels, ['version', 'process', 'uptime', 'traffic', 'bootstrap', 'circuit', 'dir', 'network', 'dormant', 'hibernating', 'streams']);
      assert.match(r.stdout, /^bootstrap +100% Done$/m);
      assert.match(r.stdout, /^circuit +yes$/m);
      assert.match(r.stdout, /^streams +attached by tor$/m);
      assert.match(r.stdout, /^network +up$/m);
      const j = await runCli(['status', '--json']);
      assert.equal(j.code, 0, j.stderr);
      const s = JSON.parse(j.stdout) as { version: string; pid: number; circuitEstablished: boolean; networkLive: boolean; networkDisabled: boolean; bootstrap: { percent: number } };
      assert.equal(s.version.split(' ')[0], tor.version);
      assert.equal(String(s.pid), await tor.control.getInfo('process/pid'));
      assert.deepEqual([s.circuitEstablished, s.networkLive, s.networkDisabled, s.bootstrap.percent], [true, true, false, 100]);
    });

    it('info with several keys prints key=value lines', async () => {
      const r = await runCli(['info', 'version', 'net/listeners/socks']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines(r.stdout), [`version=${tor.version}`, `net/listeners/socks="127.0.0.1:${network.socksPort}"`]);
    });

    it('relays lists the consensus (fingerprint, address, flags, exit summary); --flag, --exit-port and --json filter and format', async () => {
      const r = await runCli(['relays']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lines(r.stdout).length, network.relays.length);
      for (const relay of network.relays) {
        // The test network's exits reach only 127.0.0.0/8: their summaries (about most addresses) reject all.
        const line = new RegExp(`^${relay.nickname}  \\$${relay.fingerprint}  127\\.0\\.0\\.1:${relay.orPort}  \\d+ kB/s  \\S*\\bExit\\b\\S*  reject 1-65535$`, 'm');
        assert.match(r.stdout, line);
      }
      const j = await runCli(['relays', '--flag', 'Exit', 'Guard', '--json']);
      assert.equal(j.code, 0, j.stderr);
      const listed = lines(j.stdout).map((l) => JSON.parse(l) as { fingerprint: string; orPort: number; flags: string[]; exitPolicy: unknown });
      assert.deepEqual(listed.map((x) => x.fingerprint).sort(), network.relays.map((x) => x.fingerprint).sort());
      for (const x of listed) {
        assert.ok(x.flags.includes('Exit') && x.flags.includes('Guard'), x.fingerprint);
        assert.deepEqual(x.exitPolicy, { policy: 'reject', ranges: [[1, 65535]] });
      }
      // Flags in any case.
      const lower = await runCli(['relays', '--flag', 'exit', 'GUARD', '--json']);
      assert.equal(lower.stdout, j.stdout);
      for (const args of [['--exit-port', '80'], ['--flag', 'NoSuchFlag']]) {
        const none = await runCli(['relays', ...args]);
        assert.deepEqual([none.code, none.stdout, none.stderr], [0, '', ''], args.join(' '));
      }
      const bad = await runCli(['relays', '--exit-port', '70000']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--exit-port must be a port number 1-65535/);
    });

    it('info with an unknown key exits 1 with one line naming the cause', async () => {
      const r = await runCli(['info', 'no/such/key']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      const err = lines(r.stderr);
      assert.equal(err.length, 1, r.stderr);
      assert.match(err[0]!, /^torcon: TOR_CONTROL_ERROR: GETINFO: tor replied 552 .*no\/such\/key/);
    });

    it('an unreachable control endpoint exits 1 naming TOR_NOT_AVAILABLE and what was tried', async () => {
      const closed = net.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as net.AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const r = await runCli(['--control', `tcp:127.0.0.1:${port}`, 'info', 'version']);
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^torcon: TOR_NOT_AVAILABLE: .*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    });

    it('an unknown command, an unknown option and a bad option value exit 2', async () => {
      const unknownCommand = await runCli(['frobnicate']);
      assert.equal(unknownCommand.code, 2);
      assert.match(unknownCommand.stderr, /^torcon: unknown command 'frobnicate'/);
      const unknownOption = await runCli(['info', '--frob', 'version']);
      assert.equal(unknownOption.code, 2);
      assert.match(unknownOption.stderr, /^torcon: unknown option '--frob'/);
      const badValue = await runCli(['events', 'BW', '--count', 'many']);
      assert.equal(badValue.code, 2);
      assert.match(badValue.stderr, /--count must be a positive integer/);
      const missing = await runCli(['info']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /missing required argument/);
      for (const r of [unknownCommand, unknownOption, badValue, missing]) assert.equal(r.stdout, '');
    });

    it('a malformed endpoint string is a usage error (exit 2) that carries torcon\'s error code', async () => {
      const r = await runCli(['connect', 'tor:127.0.0.1:80:frob=1']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^torcon: <endpoint>: TOR_ENDPOINT_ARGUMENT: .*frob/);
      const s = await runCli(['serve', ROOT, '--port', 'nonsense:80']);
      assert.equal(s.code, 2);
      assert.match(s.stderr, /^torcon: --port: TOR_ENDPOINT_UNKNOWN: .*nonsense.*known: .*onion/);
    });
  });

  describe('events, newnym, resolve', () => {
    it('events BW --count 2 --json prints two JSON lines and exits 0', async () => {
      const r = await runCli(['events', 'BW', '--count', '2', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = lines(r.stdout);
      assert.equal(out.length, 2, r.stdout);
      for (const line of out) {
        const event = JSON.parse(line) as { type: string; read: number; written: number; raw: string };
        assert.equal(event.type, 'BW');
        assert.ok(Number.isInteger(event.read) && Number.isInteger(event.written), line);
        assert.equal(event.raw, `BW ${event.read} ${event.written}`);
      }
    });

    it('newnym exits 0 and tor reports the signal', async () => {
      const seen: string[] = [];
      const off = await tor.control.subscribe('SIGNAL', (e) => seen.push(e.raw));
      try {
        const r = await runCli(['newnym']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^ok: new circuits/);
        // tor may rate-limit NEWNYM and then not announce it; when it does announce it, it is ours
        for (const raw of seen) assert.match(raw, /^SIGNAL (NEWNYM|CLEARDNSCACHE)/);
      } finally {
        await off();
      }
    });

    it('bootstrap exits 0 at once for a bootstrapped tor, printing 100%', async () => {
      const r = await runCli(['bootstrap', '--timeout', '30']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^100% /m);
      const quiet = await runCli(['bootstrap', '-q']);
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.equal(quiet.stdout, '');
    });

    it('onions lists a detached service and --remove removes it (exit 1 the second time; a bad address exits 2)', async () => {
      const service = await tor.createOnionService({ ports: [{ virtualPort: 80, target: `127.0.0.1:${webPort}` }], detach: true, awaitUpload: false });
      try {
        const listed = await runCli(['onions']);
        assert.equal(listed.code, 0, listed.stderr);
        assert.ok(lines(listed.stdout).includes(service.hostname), listed.stdout);
        const removed = await runCli(['onions', '--remove', service.hostname.toUpperCase()]);
        assert.equal(removed.code, 0, removed.stderr);
        assert.equal(removed.stdout, `removed ${service.hostname}\n`);
        assert.ok(!lines((await runCli(['onions'])).stdout).includes(service.hostname));
        const again = await runCli(['onions', '--remove', service.hostname]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /no such service/);
      } finally {
        await tor.removeOnionService(service.hostname).catch(() => false);
      }
      const bad = await runCli(['onions', '--remove', 'not-an-onion']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /is not a v3 onion address/);
    });

    it('resolve answers an IP literal; a name the loopback-only exit cannot resolve exits 1 with the SOCKS error', async () => {
      const ok = await runCli(['resolve', '127.0.0.1']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, '127.0.0.1\n');
      // The exits' resolver is 127.0.0.1 only, where nothing answers; ".invalid" never resolves anyway.
      const bad = await runCli(['resolve', 'cli-test.invalid']);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, '');
      assert.equal(lines(bad.stderr).length, 1, bad.stderr);
      assert.match(bad.stderr, /^torcon: TOR_SOCKS_[A-Z_]+: RESOLVE cli-test\.invalid through tor failed/);
    });
  });

  describe('onion-descriptor', () => {
    it("prints a published service's descriptor, --json its fields; an unpublished address exits 1 with TOR_ONION_NOT_FOUND", async () => {
      const service = await tor.createOnionService({ ports: [{ virtualPort: 80, target: `127.0.0.1:${webPort}` }], uploadTimeoutMs: 60_000 });
      try {
        // As for a first connection, a fetch right at a time-period rotation may find nothing: retry then.
        let r = await runCli(['onion-descriptor', service.hostname]);
        for (let i = 0; i < 4 && r.code === 1 && r.stderr.includes('TOR_ONION_NOT_FOUND'); i++) {
          await new Promise((res) => setTimeout(res, ONION_RETRY_PAUSE_MS));
          r = await runCli(['onion-descriptor', service.hostname]);
        }
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^hs-descriptor 3\ndescriptor-lifetime \d+\n/);
        assert.match(r.stderr, new RegExp(`^descriptor of ${service.hostname.replace('.', '\\.')} from (HSDir \\$[0-9A-F]{40}~\\w+|tor's cache .*): revision \\d+, lifetime \\d+ min\n$`));
        const json = await runCli(['onion-descriptor', '--json', service.hostname.toUpperCase()]);
        assert.equal(json.code, 0, json.stderr);
        const d = JSON.parse(json.stdout) as { serviceId: string; version: number; revisionCounter: string; descriptor: string };
        assert.equal(`${d.serviceId}.onion`, service.hostname);
        assert.equal(d.version, 3);
        assert.match(d.revisionCounter, /^\d+$/);
        assert.match(d.descriptor, /^hs-descriptor 3\n/);
      } finally {
        await service.close();
      }
      const nobody = await runCli(['onion-descriptor', 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion']);
      assert.equal(nobody.code, 1);
      assert.equal(nobody.stdout, '');
      assert.equal(lines(nobody.stderr).length, 1, nobody.stderr);
      assert.match(nobody.stderr, /^torcon: TOR_ONION_NOT_FOUND: no descriptor of pg6mm\w+\.onion was found/);
      // A malformed address or fingerprint is a usage error, found before connecting.
      for (const args of [['not-an-onion'], ['--server', 'not-hex', service.hostname]]) {
        const bad = await runCli(['onion-descriptor', ...args]);
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /invalid (<address>|--server): /);
      }
    });
  });

  describe('connect and fetch through an exit', () => {
    it('connect pipes stdin to a loopback echo server and its answer to stdout', async () => {
      const input = 'first line\nsecond line: ünïcödé\n' + 'x'.repeat(50_000) + '\n';
      const r = await runCli(['connect', `tor:127.0.0.1:${echoPort}`, '--quit-after', '2'], { input });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, input);
    });

    it('connect waits for the reply after stdin ends (tor has no half-close): HTTP/1.0 by hand', async () => {
      const r = await runCli(['connect', `127.0.0.1:${webPort}`], { input: 'GET /by-hand HTTP/1.0\r\n\r\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(r.stdout, /\r\n\r\nweb says hello to \/by-hand\n$/);
    });

    it('fetch prints the body; -i prints the status line and headers first', async () => {
      const plain = await runCli(['fetch', `http://127.0.0.1:${webPort}/page`]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout, 'web says hello to /page\n');
      const withHead = await runCli(['fetch', '-i', `http://127.0.0.1:${webPort}/head`]);
      assert.equal(withHead.code, 0, withHead.stderr);
      const [head, body] = withHead.stdout.split('\n\n');
      assert.equal(head!.split('\n')[0], 'HTTP 200 OK');
      assert.ok(head!.split('\n').includes('x-cli-test: yes'), head);
      assert.equal(body, 'web says hello to /head\n');
    });

    it('fetch of a 404 prints the body and exits 1 naming the status', async () => {
      const r = await runCli(['fetch', `http://127.0.0.1:${webPort}/missing`]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, 'no such page\n');
      // The path is not shown (it may carry a token): scheme, host and port.
      assert.equal(r.stderr, `torcon: HTTP 404 Not Found fetching http://127.0.0.1:${webPort}\n`);
    });

    it('fetch --socks-port goes straight to tor\'s SOCKS port: no control port needed', async () => {
      // $TOR_CONTROL names a port where nothing listens: the fetch must not need it.
      const nothing = net.createServer();
      await new Promise<void>((resolve) => nothing.listen(0, '127.0.0.1', () => resolve()));
      const closed = (nothing.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => nothing.close(() => resolve()));
      const env = cliEnv({ TOR_CONTROL: `tcp:127.0.0.1:${closed}` });
      const r = await runCli(['fetch', '--socks-port', String(network.socksPort), `http://127.0.0.1:${webPort}/socks-only`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'web says hello to /socks-only\n');
      const without = await runCli(['fetch', `http://127.0.0.1:${webPort}/socks-only`], { env });
      assert.equal(without.code, 1);
      assert.match(without.stderr, new RegExp(`^torcon: TOR_NOT_AVAILABLE: cannot reach tor's control port at tcp:127\\.0\\.0\\.1:${closed}`), 'a tor named by $TOR_CONTROL is not swapped for a SOCKS port');
      const bad = await runCli(['fetch', '--socks-port', '70000', `http://127.0.0.1:${webPort}/`], { env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^torcon: --socks-port must be a port number/);
    });

    it('fetch of something that is not a URL exits 2', async () => {
      const r = await runCli(['fetch', 'not a url']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^torcon: <url> is not a URL/);
    });
  });

  describe('serve and run: onion services reachable through tor', () => {
    it('serve DIR --port onion:80 prints the URL, serves files through tor, and removes the service on SIGINT', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-cli-serve-'));
      try {
        await writeFile(path.join(dir, 'hello.txt'), 'a file served on an onion service\n');
        const serve = new CliChild(['serve', dir, '--port', 'onion:80'], cliEnv());
        const [url, serviceId] = (await serve.waitFor(/^http:\/\/([a-z2-7]{56})\.onion\/$/, 'stdout', 90_000)) as unknown as [string, string];
        assert.ok(await hostsService(tor, serviceId), 'tor hosts the service while serve runs');
        const file = await fetchThroughTor(tor, `${url}hello.txt`);
        assert.equal(file.status, 200);
        assert.equal(file.body, 'a file served on an onion service\n');
        const missing = await fetchThroughTor(tor, `${url}nope.txt`);
        assert.equal(missing.status, 404);
        assert.match(serve.stderr, /^serve: serving .* on onion:80 until Ctrl-C$/m);

        const r = await serve.stop('SIGINT');
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /^serve: stopped; onion:80 closed$/m);
        assert.equal(await eventually(() => hostsService(tor, serviceId), false), false, 'the service is gone after SIGINT');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('run: a second signal ends torcon at once, and the app that ignored the first goes with it (exit 128 + SIGTERM)', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-cli-stubborn-'));
      try {
        const app = path.join(dir, 'stubborn.mjs');
        await writeFile(
          app,
          "import http from 'node:http';\n" +
            "process.on('SIGTERM', () => console.log('stubborn app: ignoring SIGTERM'));\n" +
            "http.createServer((q, r) => r.end('x')).listen(process.env.PORT, () => console.log(`stubborn app: pid ${process.pid}`));\n",
        );
        const run = new CliChild(['run', '--port', 'tcp:0', '--', process.execPath, app], cliEnv());
        const [, appPid] = (await run.waitFor(/^stubborn app: pid (\d+)$/, 'stdout', 20_000)) as unknown as [string, string];
        run.child.kill('SIGTERM');
        await run.waitFor(/^stubborn app: ignoring SIGTERM$/, 'stdout', 10_000);
        const r = await run.stop('SIGTERM');
        assert.equal(r.code, 143, r.stderr);
        assert.equal(await eventually(async () => isAlive(Number(appPid)), false), false, 'the app is gone with torcon');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('run --port onion:80 -- node app: the unchanged app is reachable through tor and torcon prints its address', async () => {
      const run = new CliChild(['run', '--port', 'onion:80', '--', process.execPath, PLAIN_APP], cliEnv());
      const [, appPid] = (await run.waitFor(/^torcon run: publishing onion:80 for pid (\d+)…$/, 'stderr', 30_000)) as unknown as [string, string];
      const [, url, serviceId] = (await run.waitFor(
        /^torcon run: onion:80 is (http:\/\/([a-z2-7]{56})\.onion\/) \(the app listens on 127\.0\.0\.1:\d+\)$/,
        'stderr',
        90_000,
      )) as unknown as [string, string, string];
      await run.waitFor(/^plain app: listening$/, 'stdout', 10_000);
      const res = await fetchThroughTor(tor, `${url}through-run`);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'plain app says hi at /through-run\n');
      assert.ok(await hostsService(tor, serviceId));

      // SIGINT to torcon alone: it passes the signal on; the app (no handler) dies of it, and
      // torcon reports that as 128+2.
      const r = await run.stop('SIGINT');
      assert.equal(r.code, 130, r.stderr);
      assert.equal(isAlive(Number(appPid)), false, 'the app process is gone');
      assert.equal(await eventually(() => hostsService(tor, serviceId), false), false, 'its onion service is gone');
      assert.equal(lines(r.stdout).filter((l) => l === 'plain app: listening').length, 1);
    });

    it('serve and run with clientAuth= print each client\'s key, the .auth_private line that lets it in', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-cli-auth-'));
      const added: string[] = [];
      const keyLine = /^(?:torcon run: )?(\w+)\.auth_private: (([a-z2-7]{56}):descriptor:x25519:[A-Z2-7]{52})$/;
      try {
        await writeFile(path.join(dir, 'secret.txt'), 'for authorized clients\n');
        const serve = new CliChild(['serve', dir, '--port', 'onion:80:clientAuth=alice,bob'], cliEnv());
        const [serveUrl] = (await serve.waitFor(/^http:\/\/[a-z2-7]{56}\.onion\/$/, 'stdout', 90_000)) as unknown as [string];
        await serve.waitFor(/^bob\.auth_private: /, 'stdout', 5_000);
        const serveKeys = lines(serve.stdout).slice(1).map((l) => keyLine.exec(l)!);
        assert.deepEqual(serveKeys.map((m) => m[1]), ['alice', 'bob'], serve.stdout);
        await serve.waitFor(/^serve: client authorization: each client needs its NAME.auth_private line/, 'stderr', 5_000); // another pipe: may come later

        const run = new CliChild(['run', '--port', 'onion:80:clientAuth=carol', '--', process.execPath, PLAIN_APP], cliEnv());
        const [, runUrl] = (await run.waitFor(/^torcon run: onion:80:clientAuth=carol is (http:\/\/[a-z2-7]{56}\.onion\/) /, 'stderr', 90_000)) as unknown as [string, string];
        const runKey = await run.waitFor(keyLine, 'stderr', 5_000);
        assert.equal(runKey[1], 'carol');
        assert.equal(runKey[3], new URL(runUrl).hostname.slice(0, 56));
        assert.match(run.stderr, /^torcon run: client authorization: each client needs its NAME.auth_private line/m);
        await run.waitFor(/^plain app: listening$/, 'stdout', 10_000);

        for (const [m, url, body] of [
          [serveKeys[0]!, `${serveUrl}secret.txt`, 'for authorized clients\n'],
          [runKey, `${runUrl}with-key`, 'plain app says hi at /with-key\n'],
        ] as const) {
          assert.equal(m[3], new URL(url).hostname.slice(0, 56));
          await tor.addOnionClientAuth(m[3]!, m[2]!); // the whole .auth_private content, as printed
          added.push(m[3]!);
          const res = await fetchThroughTor(tor, url);
          assert.equal(res.status, 200);
          assert.equal(res.body, body);
        }
        for (const c of [serve, run]) {
          const r = await c.stop('SIGINT');
          // The key is printed where the address is, and nowhere else: once in all of the output.
          for (const m of c === serve ? serveKeys : [runKey]) {
            const key = m[2]!.split(':').pop()!;
            assert.equal((r.stdout + r.stderr).split(key).length - 1, 1, `${m[1]}'s key printed once`);
          }
        }
      } finally {
        for (const id of added) await tor.removeOnionClientAuth(id).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('run: the app gets one SIGINT or SIGTERM, whether it went to torcon\'s process group (a terminal\'s Ctrl-C) or to torcon alone', async () => {
      const none = { SIGINT: 0, SIGTERM: 0, SIGHUP: 0, SIGUSR2: 0 };
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        for (const to of ['group', 'torcon'] as const) {
          const run = new CliChild(['run', '--port', 'tcp:0', '--', process.execPath, COUNTER_APP], cliEnv(), 'pipe', true);
          try {
            await run.waitFor(/^counter: pid \d+$/, 'stdout', 20_000);
            if (to === 'group') process.kill(-run.child.pid!, sig);
            else run.child.kill(sig);
            await run.waitFor(new RegExp(`^counter: ${sig} 1$`), 'stdout', 10_000);
            // torcon passes signals on in the order it gets them: once the app has the SIGUSR2 sent
            // to torcon after the first signal, any copy of that signal torcon would send is there.
            run.child.kill('SIGUSR2');
            await run.waitFor(/^counter: SIGUSR2 1$/, 'stdout', 10_000);
            run.child.stdin!.write('report\n');
            const [, counts] = (await run.waitFor(/^counter: report (.*)$/, 'stdout', 10_000)) as unknown as [string, string];
            assert.deepEqual(JSON.parse(counts), { ...none, [sig]: 1, SIGUSR2: 1 }, `${sig} to ${to}:\n${run.stdout}`);
            const r = await run.result();
            assert.equal(r.code, 0, r.stderr);
          } finally {
            await run.stop('SIGKILL', 5_000);
            run.child.stdin!.end(); // an app that outlived torcon ends with its stdin
          }
        }
      }
    });

    it('run: the app has a process group of its own; torcon passes on SIGHUP, and Ctrl-Z (SIGTSTP) stops both until SIGCONT', async () => {
      const run = new CliChild(['run', '--port', 'tcp:0', '--', process.execPath, COUNTER_APP], cliEnv(), 'pipe', true);
      try {
        const [, appPid] = (await run.waitFor(/^counter: pid (\d+)$/, 'stdout', 20_000)) as unknown as [string, string];
        const torconPid = run.child.pid!;
        assert.equal(processGroup(torconPid), torconPid);
        assert.equal(processGroup(Number(appPid)), Number(appPid), 'the app leads a group of its own');
        process.kill(-torconPid, 'SIGHUP'); // as a closing terminal sends it
        await run.waitFor(/^counter: SIGHUP 1$/, 'stdout', 10_000);
        process.kill(-torconPid, 'SIGTSTP');
        assert.equal(await eventually(async () => processState(Number(appPid)) === 'T' && processState(torconPid) === 'T', true), true, 'both stopped');
        process.kill(-torconPid, 'SIGCONT');
        assert.equal(await eventually(async () => processState(Number(appPid)) !== 'T' && processState(torconPid) !== 'T', true), true, 'both continued');
        run.child.stdin!.write('report\n');
        const [, counts] = (await run.waitFor(/^counter: report (.*)$/, 'stdout', 10_000)) as unknown as [string, string];
        assert.deepEqual(JSON.parse(counts), { SIGINT: 0, SIGTERM: 0, SIGHUP: 1, SIGUSR2: 0 }, run.stdout);
        assert.equal((await run.result()).code, 0, run.stderr);
      } finally {
        await run.stop('SIGKILL', 5_000);
        run.child.stdin!.end(); // an app that outlived torcon ends with its stdin
      }
    });

    it('run exits with the app\'s own exit code; as a shell does, 127 for a command that does not exist and 126 for one that cannot run', async () => {
      const r = await runCli(['run', '--port', 'onion:80', '--', process.execPath, '-e', 'process.exit(7)']);
      assert.equal(r.code, 7, r.stderr);
      const missing = await runCli(['run', '--port', 'onion:80', '--', 'no-such-command-for-torcon']);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /torcon: cannot run no-such-command-for-torcon: command not found/);
      const directory = await runCli(['run', '--port', 'onion:80', '--', os.tmpdir()]);
      assert.equal(directory.code, 126, directory.stderr);
      assert.match(directory.stderr, /torcon: cannot run .*: permission denied/);
    });
  });

  describe('monitor', () => {
    it('monitor --json reports a circuit the test builds (circuitBuilt with its id), and exits 0 on SIGINT', async () => {
      const monitor = new CliChild(['monitor', '--json'], cliEnv());
      const [snapshotLine] = (await monitor.waitFor(/^\{"event":"snapshot".*$/, 'stdout', 60_000)) as unknown as [string];
      const snapshot = JSON.parse(snapshotLine) as { routers: number; circuits: unknown[] };
      assert.ok(snapshot.routers >= 4, snapshotLine.slice(0, 200));

      const state = await tor.getState();
      const path3 = [...state.routers.values()].slice(0, 3);
      const circuit = await state.buildCircuit(path3, { timeoutMs: 60_000 });
      try {
        const [line] = (await monitor.waitFor(new RegExp(`^\\{"event":"circuitBuilt".*"id":"${circuit.id}".*$`), 'stdout', 30_000)) as unknown as [string];
        const event = JSON.parse(line) as { circuit: { id: string; status: string; path: Array<{ nickname: string; fingerprint: string }> } };
        assert.equal(event.circuit.id, circuit.id);
        assert.equal(event.circuit.status, 'BUILT');
        assert.deepEqual(
          event.circuit.path.map((h) => h.fingerprint),
          path3.map((r) => r.fingerprint),
        );
        assert.deepEqual(
          event.circuit.path.map((h) => h.nickname),
          path3.map((r) => r.nickname),
        );
      } finally {
        await state.closeCircuit(circuit.id).catch(() => undefined);
      }
      const r = await monitor.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      for (const line of lines(r.stdout)) JSON.parse(line); // every line is JSON
    });
  });
});

describe('torcon --verbose against a password-protected offline tor', function () {
  this.timeout(60_000);
  const password = 'cli-secret-pw-7f3a9';
  let hashed: string;
  let tor: Tor;

  before(async () => {
    hashed = execFileSync('tor', ['--quiet', '--hash-password', password], { encoding: 'utf8' }).trim();
    tor = await launchTor({ config: { DisableNetwork: 1, CookieAuthentication: 0, HashedControlPassword: hashed }, password });
  });

  after(async () => {
    await tor?.close();
  });

  it("bootstrap exits 1 at once with TOR_NETWORK_DISABLED for a tor whose network is disabled", async () => {
    const r = await runCli(['--control', tor.controlEndpoint, '--password', password, 'bootstrap', '--timeout', '30']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^torcon: TOR_NETWORK_DISABLED: /);
  });

  it('prints debug lines on stderr and neither the password nor its hash', async () => {
    const r = await runCli(['--verbose', '--control', tor.controlEndpoint, '--password', password, 'info', 'version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${tor.version}\n`);
    assert.match(r.stderr, /torcon:control > GETINFO version/);
    assert.match(r.stderr, /torcon:control > AUTHENTICATE \[redacted\]/);
    assert.ok(!r.stderr.includes(password), 'password in stderr');
    assert.ok(!r.stderr.includes(hashed), 'hash in stderr');
    assert.ok(!r.stderr.includes(Buffer.from(password).toString('hex')), 'hex password in stderr');
  });

  it('takes the password from TOR_CONTROL_PASSWORD (kept out of ps)', async () => {
    const r = await runCli(['--verbose', '--control', tor.controlEndpoint, 'info', 'version'], {
      env: { ...cliEnv(), TOR_CONTROL_PASSWORD: password },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${tor.version}\n`);
    assert.ok(!r.stderr.includes(password));
  });

  it('a wrong password exits 1 with TOR_AUTH_FAILED and shows no password, even with --verbose', async () => {
    const wrong = 'not-the-pw-c81e';
    const r = await runCli(['--verbose', '--control', tor.controlEndpoint, '--password', wrong, 'info', 'version']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^torcon: TOR_AUTH_FAILED: /m);
    assert.ok(!r.stderr.includes(wrong));
    assert.ok(!r.stderr.includes(password));
  });
});

describe('torcon monitor, events and serve when their tor dies (offline tors)', function () {
  this.timeout(60_000);

  // Each case its own tor, killed as a crash (SIGKILL) would end it while the command runs.
  for (const args of [['monitor'], ['monitor', '--json'], ['events', 'CIRC']]) {
    it(`${args.join(' ')} exits 1 with TOR_CONTROL_CLOSED, not 0, when tor dies under it`, async () => {
      const tor = await launchTor({ config: { DisableNetwork: 1 } });
      try {
        // Running: monitor has printed its first screen (or snapshot line); events has sent its
        // SETEVENTS (--verbose logs it; whether tor's answer came first or not, the stream ends).
        const verbose = args[0] === 'events' ? ['--verbose'] : [];
        const child = new CliChild([...verbose, '--control', tor.controlEndpoint, ...args], cliEnv());
        if (args[0] === 'monitor') await child.waitFor(/./, 'stdout', 30_000);
        else await child.waitFor(/> SETEVENTS CIRC/, 'stderr', 30_000);
        process.kill(tor.pid!, 'SIGKILL');
        const r = await child.result();
        assert.equal(r.signal, null, `killed, not exited: ${r.stderr}`);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /^torcon: TOR_CONTROL_CLOSED: .*the Tor control connection closed/m);
      } finally {
        await tor.close();
      }
    });
  }

  // A stopped tor (SIGSTOP) keeps the connection open and says nothing: the commands that only watch
  // ask it something after a few seconds of silence (keepAliveMs), so that --reply-timeout sees it.
  for (const args of [['monitor'], ['monitor', '--json'], ['events', 'CIRC']]) {
    it(`${args.join(' ')} exits 1 saying tor is stopped or hung when tor stops answering (SIGSTOP), with --reply-timeout`, async () => {
      const tor = await launchTor({ config: { DisableNetwork: 1 } });
      let stopped = false;
      try {
        const verbose = args[0] === 'events' ? ['--verbose'] : [];
        const child = new CliChild([...verbose, '--control', tor.controlEndpoint, '--reply-timeout', '1000', ...args], cliEnv());
        if (args[0] === 'monitor') await child.waitFor(/./, 'stdout', 30_000);
        else await child.waitFor(/> SETEVENTS CIRC/, 'stderr', 30_000);
        process.kill(tor.pid!, 'SIGSTOP');
        stopped = true;
        const r = await child.result();
        assert.equal(r.signal, null, `killed, not exited: ${r.stderr}`);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /^torcon: TOR_CONTROL_CLOSED: .*nothing at all coming from tor \(stopped or hung\?\), timed out after 1000 ms/m);
      } finally {
        if (stopped) process.kill(tor.pid!, 'SIGCONT');
        await tor.close();
      }
    });
  }

  it('--reply-timeout takes milliseconds or 0, and refuses anything else as a usage error', async () => {
    for (const bad of ['-1', '1.5', 'soon', '']) {
      const r = await runCli(['--reply-timeout', bad, 'info', 'version']);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--reply-timeout must be a number of milliseconds/, bad);
    }
  });

  it('status says when tor leaves streams unattached, as a process that died with a stream attacher leaves it', async () => {
    const tor = await launchTor({ config: { DisableNetwork: 1 } });
    try {
      // Another controller sets it and dies: tor keeps the setting.
      const other = await connectTor({ control: tor.controlEndpoint });
      await other.control.setConf({ __LeaveStreamsUnattached: 1 });
      other.control.destroy();
      const r = await runCli(['--control', tor.controlEndpoint, 'status']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^streams +left unattached \(__LeaveStreamsUnattached 1\): a controller must attach each one, or it goes nowhere$/m);
      const j = await runCli(['--control', tor.controlEndpoint, 'status', '--json']);
      assert.equal((JSON.parse(j.stdout) as { streamsLeftUnattached: boolean }).streamsLeftUnattached, true);
    } finally {
      await tor.close();
    }
  });

  it('serve --port onion:80:republish=true says the service is gone when tor dies, publishes it again on the tor that comes back, and goes on', async () => {
    // A fixed control port, so that the tor started after the kill is where the first one was.
    const port = await closedPort();
    const config = { DisableNetwork: 1, ControlPort: `127.0.0.1:${port}` };
    const first = await launchTor({ config });
    let second: Tor | undefined;
    try {
      const child = new CliChild(['--control', first.controlEndpoint, 'serve', ROOT, '--port', 'onion:80:awaitUpload=false:republish=true'], cliEnv());
      await child.waitFor(/^http:\/\/[a-z2-7]{56}\.onion\/$/, 'stdout', 30_000);
      process.kill(first.pid!, 'SIGKILL');
      await child.waitFor(/^serve: onion:80:awaitUpload=false:republish=true is gone \(.*\); publishing it again once a tor is back \(republish=true\)$/, 'stderr', 30_000);
      // The first try comes at once, and finds no tor yet.
      await child.waitFor(/^serve: onion:80:awaitUpload=false:republish=true not published yet \(TOR_NOT_AVAILABLE: .*\); next try in 1 s$/, 'stderr', 30_000);
      second = await launchTor({ config });
      await child.waitFor(/^serve: onion:80:awaitUpload=false:republish=true published again$/, 'stderr', 30_000);
      assert.equal(child.child.exitCode, null, 'still serving');
      const r = await child.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^serve: stopped; onion:80:awaitUpload=false:republish=true closed$/m);
    } finally {
      await second?.close();
      await first.close();
    }
  });

  it('serve --port onion:80 exits 1, saying its onion service is gone, when tor dies under it (it kept running)', async () => {
    const tor = await launchTor({ config: { DisableNetwork: 1 } });
    try {
      // awaitUpload=false: an offline tor uploads no descriptor; the service exists in tor all the same.
      const child = new CliChild(['--control', tor.controlEndpoint, 'serve', ROOT, '--port', 'onion:80:awaitUpload=false'], cliEnv());
      await child.waitFor(/^http:\/\/[a-z2-7]{56}\.onion\/$/, 'stdout', 30_000);
      process.kill(tor.pid!, 'SIGKILL');
      const r = await child.result();
      assert.equal(r.signal, null, `killed, not exited: ${r.stderr}`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^serve: onion:80:awaitUpload=false is gone /m);
      assert.match(r.stderr, /^torcon: TOR_CONTROL_CLOSED: the Tor control connection closed/m);
    } finally {
      await tor.close();
    }
  });
});

describe('torcon testnet start/status/stop (a second network)', function () {
  this.timeout(240_000);
  let dir: string;

  before(async () => {
    dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'torcon-cli-tn-')), 'net');
  });

  after(async () => {
    // Whatever happened above, leave no network behind.
    if (existsSync(path.join(dir, 'network.json'))) await runCli(['testnet', 'stop', '--dir', dir]);
    for (const pid of torProcessesWith(dir)) process.kill(pid, 'SIGKILL');
    await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('start prints the TOR_CONTROL line and progress lines; status lists the nodes; info works through it; stop leaves nothing', async () => {
    const shared = process.env['TOR_CONTROL'];
    const start = await runCli(['testnet', 'start', '--dir', dir], { timeoutMs: 200_000 });
    assert.equal(start.code, 0, start.stderr);
    const control = /^export TOR_CONTROL=(tcp:127\.0\.0\.1:\d+)$/m.exec(start.stdout)?.[1];
    assert.ok(control, start.stdout);
    assert.notEqual(control, shared, 'a second network, not the shared one');
    assert.match(start.stdout, new RegExp(`^export TORCON_TESTNET_DIR=${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    // Not a terminal: plain progress lines, no bar redrawing.
    assert.ok(!start.stderr.includes('\r'), 'no carriage returns on a non-TTY');
    assert.match(start.stderr, /^testnet: \d+% keys: /m);
    assert.match(start.stderr, /^testnet: \d+% consensus: /m);
    assert.match(start.stderr, /^testnet: ready: 4 relays and a client on 127\.0\.0\.1$/m);
    const nodePids = torProcessesWith(dir);
    assert.equal(nodePids.length, 5, `tor processes of ${dir}: ${nodePids.join(', ')}`);

    const status = await runCli(['testnet', 'status', '--dir', dir]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /: running \(ready\)/);
    const up = lines(status.stdout).filter((l) => /^\s+up\s/.test(l));
    assert.equal(up.length, 5, status.stdout);
    assert.ok(up.some((l) => /\bclient\b/.test(l)));

    const info = await runCli(['info', 'version'], { env: cliEnv({ TOR_CONTROL: control }) });
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^\d+\.\d+\.\d+/);
    const listeners = await runCli(['info', 'net/listeners/control'], { env: cliEnv({ TOR_CONTROL: control }) });
    assert.equal(listeners.stdout, `"${control!.slice('tcp:'.length)}"\n`, 'info talked to the second network');

    const stop = await runCli(['testnet', 'stop', '--dir', dir]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `stopped ${dir}: 5 tor processes ended, directory removed\n`);
    assert.deepEqual(torProcessesWith(dir), [], 'no tor of the network survives');
    for (const pid of nodePids) assert.equal(isAlive(pid), false, `tor ${pid} is gone`);
    assert.equal(existsSync(dir), false, 'the directory is removed');

    const after = await runCli(['testnet', 'status', '--dir', dir]);
    assert.equal(after.code, 2, 'status of a directory without a network is a usage error');
    assert.match(after.stderr, /no network\.json/);
  });
});

describe('torcon demo (its own network)', function () {
  this.timeout(300_000);

  it('exits 0 with the onion address, three fetch results, circuit paths and relays, and leaves no tor running', async () => {
    const shared = process.env['TOR_CONTROL'];
    const env = cliEnv();
    delete env['TOR_CONTROL'];
    delete env['TORCON_TESTNET_DIR'];
    const r = await runCli(['demo'], { env, timeoutMs: 280_000 });
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const out = r.stdout;

    // progress on stderr, plain lines (not a terminal)
    assert.ok(!r.stderr.includes('\r'));
    assert.match(r.stderr, /^network: \d+% consensus: /m);
    assert.match(r.stderr, /^network: ready in \d+\.\d s$/m);
    assert.match(r.stderr, /^onion: published in \d+\.\d s$/m);

    const control = /^client tor: control (tcp:127\.0\.0\.1:\d+), SOCKS 127\.0\.0\.1:\d+$/m.exec(out)?.[1];
    assert.ok(control, out);
    assert.notEqual(control, shared, 'the demo used its own network');
    assert.match(out, /^network: 4 relays \(auth0, auth1, auth2, auth3; each a directory authority, a guard, an exit to 127\.0\.0\.0\/8 only, and an HSDir\) and a client tor, ready in /m);
    assert.match(out, /^onion service: http:\/\/[a-z2-7]{56}\.onion\/ /m);
    assert.match(out, /^1\. connect\("tor:.*\.onion:80"\).* → HTTP\/1\.1 200 OK, "Hello from an onion service"/m);
    assert.match(out, /^2\. tor\.fetch\("http:\/\/.*\.onion\/fetch"\) → 200 OK, "Hello from an onion service"/m);
    assert.match(out, /^3\. tor\.fetch\("http:\/\/127\.0\.0\.1:\d+\/"\) through an exit relay → 200 OK, "Hello from the clearnet"/m);

    // circuit paths by nickname, for both sides of the onion requests and for the exit request
    assert.match(out, /^1\. client side +circuit \d+ +HS_CLIENT_REND +\w+( → \w+){2,}/m);
    assert.match(out, /^ +service side circuit \d+ +HS_SERVICE_REND +\w+( → \w+){2,}/m);
    // an exit circuit: GENERAL, or a leg of a conflux set (tor 0.4.8+ may split exit traffic over two)
    assert.match(out, /^3\. client side +circuit \d+ +(GENERAL|CONFLUX_LINKED|CONFLUX_UNLINKED) +\w+( → \w+){2,}/m);
    assert.match(out, /^ +\w+ is the exit: it opened the TCP connection to 127\.0\.0\.1$/m);
    // relays: nickname, full fingerprint, address, and why there is no location
    const relayLines = lines(out).filter((l) => /^ {2}\w+ +\$[0-9A-F]{40} {2}127\.0\.0\.1:\d+ {2}/.test(l));
    assert.ok(relayLines.length >= 3, out);
    for (const l of relayLines) assert.match(l, /no location: 127\.0\.0\.1 is a loopback address/);

    assert.match(out, /none left running; its directory removed/);
    // every tor the demo started (their pids are in the progress lines) has exited
    const pids = [...r.stderr.matchAll(/started (?:authority|relay|client) \w+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 5, r.stderr);
    for (const pid of pids) assert.equal(isAlive(pid), false, `tor ${pid} survived the demo`);
  });
});
