import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SocksClient } from 'socks';
import { TorAbortError, TorInvalidValueError, TorLaunchError, TorTimeoutError } from '../../src/errors.js';
import { LiteControl } from '../../src/process/testnet/control-lite.js';
import { probePort } from '../../src/process/testnet/ports.js';
import { parseConsensusRelays } from '../../src/process/testnet/readiness.js';
import { listenEchoServer } from '../support/echo-load.js';
import {
  assertTorrcSafe,
  readTestNetworkState,
  startTestNetwork,
  stopTestNetworkByDir,
  type TestNetwork,
  type TestNetworkProgress,
} from '../../src/testnet.js';

/**
 * Real tor: two private networks at once, their readiness, their sockets, and a clean stop; then
 * the failure paths (a node that cannot start, abort, stall). This suite starts its own networks:
 * it does not use the shared fixture.
 */

/** True while a process with this pid runs a tor of the network in `dir`. */
function runsTorOf(pid: number, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return cmdline.includes(dir) && !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** A path for a network directory that does not exist yet (startTestNetwork creates it). */
function freshDir(tag: string): string {
  return path.join(os.tmpdir(), `torcon-testnet-test-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** A SOCKS5 stream through the network's client to a loopback echo server; returns what came back. */
async function echoThrough(network: TestNetwork, payload: Buffer): Promise<Buffer> {
  const echo = await listenEchoServer();
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: network.socksPort, type: 5 },
      command: 'connect',
      destination: { host: '127.0.0.1', port: echo.port },
      timeout: 30_000,
    });
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => {
          chunks.push(d);
          if (Buffer.concat(chunks).length >= payload.length) resolve(Buffer.concat(chunks));
        });
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed before the echo')));
        socket.write(payload);
      });
    } finally {
      socket.destroy();
    }
  } finally {
    await echo.close();
  }
}

function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

interface SocketRow {
  proto: string;
  state: string;
  local: string;
  peer: string;
  pids: number[];
}

/** Every TCP and UDP socket on the machine with its owning pids, from `ss -Hanp`. */
function sockets(): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const [proto, flag] of [['tcp', '-tanpH'], ['udp', '-uanpH']] as const) {
    for (const line of execFileSync('ss', [flag], { encoding: 'utf8' }).split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6) continue;
      rows.push({ proto, state: f[0]!, local: f[3]!, peer: f[4]!, pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])) });
    }
  }
  return rows;
}

const host = (addr: string) => addr.replace(/:[^:]*$/, '').replace(/^\[|\]$/g, '');

describe('torcon/testnet (real tor)', function () {
  this.timeout(180_000);

  let a: TestNetwork | undefined;
  let b: TestNetwork | undefined;
  const phasesA: TestNetworkProgress[] = [];

  before(async () => {
    // two networks at once: free ports and separate directories must keep them apart
    const results = await Promise.allSettled([
      startTestNetwork({ onProgress: (p) => phasesA.push(p) }),
      // the second one also has a plain (non-authority) relay
      startTestNetwork({ keep: true, relays: 5 }),
    ]);
    if (results[0].status === 'fulfilled') a = results[0].value;
    if (results[1].status === 'fulfilled') b = results[1].value;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all([a?.stop(), b?.stop()]);
      throw (failed as PromiseRejectedResult).reason;
    }
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    // b keeps its directory on stop(); the stop tests remove it, unless they did not run
    if (b) rmSync(b.dataDir, { recursive: true, force: true });
  });

  it('both networks carry an exit stream to a loopback echo server', async () => {
    for (const network of [a!, b!]) {
      const payload = randomBytes(64);
      assert.deepEqual(await echoThrough(network, payload), payload);
    }
  });

  it('reports progress through every phase, in order, ending with ready', () => {
    const order = ['keys', 'node', 'consensus', 'bootstrap', 'exit-check', 'ready'];
    const seen = phasesA.map((p) => order.indexOf(p.phase));
    assert.ok(seen.every((i) => i >= 0));
    assert.deepEqual([...new Set(seen)], [0, 1, 2, 3, 4, 5]);
    assert.ok(seen.every((i, k) => k === 0 || i >= seen[k - 1]!), 'phases never go back');
    assert.ok(phasesA.some((p) => p.phase === 'bootstrap' && p.percent === 100));
    assert.equal(phasesA.filter((p) => p.phase === 'node').length, 5);
  });

  it('lists its relays, whose fingerprints are in every authority consensus with all flags', async () => {
    for (const [network, count] of [[a!, 4], [b!, 5]] as const) {
      assert.equal(network.relays.length, count);
      const fps = network.relays.map((r) => r.fingerprint);
      assert.equal(new Set(fps).size, count);
      assert.deepEqual(network.relays.map((r) => r.role), ['authority', 'authority', 'authority', 'authority', 'relay'].slice(0, count));
      for (const r of network.relays) {
        assert.match(r.fingerprint, /^[0-9A-F]{40}$/);
        // tor wrote its own fingerprint file; ours must agree with it
        assert.equal(readFileSync(`${r.dataDir}/fingerprint`, 'utf8').trim(), `${r.nickname} ${r.fingerprint}`);
      }
      for (const auth of network.relays.filter((r) => r.role === 'authority')) {
        const listed = parseConsensusRelays(await getText(auth.dirPort, '/tor/status-vote/current/consensus'));
        for (const fp of fps) {
          const entry = listed.find((l) => l.fingerprint === fp);
          assert.ok(entry, `${fp} missing from ${auth.nickname}'s consensus`);
          for (const flag of ['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'Valid']) assert.ok(entry.flags.includes(flag), `${fp} lacks ${flag}`);
        }
      }
    }
  });

  it('runs the two networks on disjoint ports and directories', () => {
    const ports = (n: TestNetwork) => [n.socksPort, n.clientNode.controlPort, ...n.relays.flatMap((r) => [r.orPort, r.dirPort, r.controlPort])];
    const pa = new Set(ports(a!));
    assert.equal(pa.size, 14);
    assert.equal(new Set(ports(b!)).size, 17);
    for (const p of ports(b!)) assert.ok(!pa.has(p), `port ${p} used twice`);
    assert.notEqual(a!.dataDir, b!.dataDir);
    assert.notEqual(a!.controlEndpoint, b!.controlEndpoint);
  });

  it('binds and connects every socket of every tor of both networks on 127.0.0.1 only', () => {
    const pids = new Set([...a!.pids, ...b!.pids]);
    assert.equal(pids.size, 11);
    const mine = sockets().filter((s) => s.pids.some((p) => pids.has(p)));
    const listening = mine.filter((s) => s.state === 'LISTEN');
    // per network: relays x (OR, Dir, Control) + client (Control, SOCKS)
    assert.equal(listening.length, 4 * 3 + 2 + 5 * 3 + 2);
    for (const s of mine) {
      assert.equal(host(s.local), '127.0.0.1', `${s.proto} ${s.state} local ${s.local}`);
      if (s.state !== 'LISTEN' && s.state !== 'UNCONN') assert.equal(host(s.peer), '127.0.0.1', `${s.proto} ${s.state} peer ${s.peer}`);
    }
    const listenPorts = new Set(listening.map((s) => Number(s.local.split(':').pop())));
    for (const r of a!.relays) for (const p of [r.orPort, r.dirPort, r.controlPort]) assert.ok(listenPorts.has(p), `${r.nickname} not listening on ${p}`);
    assert.ok(listenPorts.has(a!.socksPort));
  });

  it('wrote safe torrcs: every file on disk passes the safety check', () => {
    for (const network of [a!, b!]) {
      const dirs = [...network.relays.map((r) => r.dataDir), network.clientNode.dataDir];
      for (const d of dirs) {
        const torrc = readFileSync(`${d}/torrc`, 'utf8');
        assert.doesNotThrow(() => assertTorrcSafe(torrc, 'node'));
        assert.match(torrc, /^__OwningControllerProcess \d+$/m);
        assert.equal(Number(/^__OwningControllerProcess (\d+)$/m.exec(torrc)![1]), process.pid);
        if (existsSync(`${d}/torrc.keygen`)) assert.doesNotThrow(() => assertTorrcSafe(readFileSync(`${d}/torrc.keygen`, 'utf8'), 'keygen'));
      }
      assert.equal(readFileSync(`${network.dataDir}/resolv.conf`, 'utf8'), 'nameserver 127.0.0.1\n');
    }
  });

  it("authenticates to the client's control port with its cookie and sees 100% bootstrap", async () => {
    const port = Number(a!.controlEndpoint.replace(/^tcp:127\.0\.0\.1:/, ''));
    assert.equal(a!.controlEndpoint, `tcp:127.0.0.1:${a!.clientNode.controlPort}`);
    assert.equal(readFileSync(a!.cookieFile).length, 32);
    assert.deepEqual(a!.auth, { method: 'cookie', cookieFile: a!.cookieFile });
    const ctl = await LiteControl.open(port, a!.cookieFile);
    try {
      const r = await ctl.command('GETINFO status/bootstrap-phase');
      assert.match(r.lines.join('\n'), /PROGRESS=100 TAG=done/);
    } finally {
      ctl.close();
    }
  });

  it('connects `client`, a Tor handle on the client tor (cookie auth), that sees the private network', async () => {
    const phase = await a!.client.control.getInfo('status/bootstrap-phase');
    assert.match(phase, /PROGRESS=100 TAG=done/);
    // the client's consensus is our network's: every relay we started, nothing else
    const ns = await a!.client.control.getInfo('ns/all');
    const listed = parseConsensusRelays(ns).map((r) => r.fingerprint).sort();
    assert.deepEqual(listed, a!.relays.map((r) => r.fingerprint).sort());
  });

  it('gives child processes the environment to find the network', () => {
    const env = a!.env();
    assert.equal(env['TOR_CONTROL'], a!.controlEndpoint);
    assert.equal(env['TORCON_TESTNET_DIR'], a!.dataDir);
    assert.equal(env['TORCON_TESTNET_SOCKS_PORT'], String(a!.socksPort));
  });

  it('describes itself in network.json for other processes', async () => {
    const st = await readTestNetworkState(a!.dataDir);
    assert.equal(st.status, 'ready');
    assert.equal(st.ownerPid, process.pid);
    assert.equal(st.controlEndpoint, a!.controlEndpoint);
    assert.equal(st.socksPort, a!.socksPort);
    assert.equal(st.running, true);
    assert.deepEqual(st.nodes.map((n) => n.pid).sort(), [...a!.pids].sort());
    assert.ok(st.nodes.every((n) => n.alive));
  });

  it('stop() (here: leaving an `await using` block) ends every tor of the network and removes its directory; a second stop() is a no-op', async () => {
    const network = a!;
    {
      await using inBlock = network;
      assert.equal(inBlock.client.control.closed, false);
    }
    assert.equal(network.client.control.closed, true);
    for (const pid of network.pids) assert.ok(!runsTorOf(pid, network.dataDir), `pid ${pid} still runs`);
    assert.ok(!existsSync(network.dataDir));
    await network.stop();
    // the other network is untouched
    const payload = randomBytes(16);
    assert.deepEqual(await echoThrough(b!, payload), payload);
  });

  it('stopTestNetworkByDir() stops a network through its network.json; keep: true keeps the directory', async () => {
    const network = b!;
    const { stopped } = await stopTestNetworkByDir(network.dataDir);
    assert.equal(stopped, 6);
    for (const pid of network.pids) assert.ok(!runsTorOf(pid, network.dataDir), `pid ${pid} still runs`);
    assert.ok(existsSync(network.dataDir), 'kept');
    const st = await readTestNetworkState(network.dataDir);
    assert.equal(st.running, false);
    await network.stop(); // the handle still stops cleanly (nothing left to kill)
    assert.ok(existsSync(`${network.dataDir}/network.json`));
    const again = await stopTestNetworkByDir(network.dataDir, { removeDir: true });
    assert.equal(again.stopped, 0);
    assert.ok(!existsSync(network.dataDir));
  });

  describe('failures', () => {
    it('refuses bad options before starting anything', async () => {
      await assert.rejects(startTestNetwork({ relays: 3 }), TorInvalidValueError);
      await assert.rejects(startTestNetwork({ timeoutMs: -1 }), TorInvalidValueError);
      await assert.rejects(startTestNetwork({ baseDir: '/tmp/with space' }), TorInvalidValueError);
      await assert.rejects(readTestNetworkState('/nonexistent/torcon'), TorInvalidValueError);
    });

    it('a node that cannot start rejects with TorLaunchError naming it, with its log, and leaves nothing behind', async () => {
      // auth1's ORPort is taken after the ports are chosen and before the node starts: real tor
      // then fails to bind it and exits.
      let base = 0;
      for (let tries = 0; tries < 50 && !base; tries++) {
        const candidate = 15000 + Math.floor(Math.random() * 4000);
        const free = await Promise.all(Array.from({ length: 14 }, (_, i) => probePort(candidate + i)));
        if (free.every(Boolean)) base = candidate;
      }
      assert.ok(base, 'found a free port block');
      const blocker = net.createServer();
      const pids: number[] = [];
      const dir = freshDir('nobind');
      try {
        const err = await startTestNetwork({
          baseDir: dir,
          portBase: base,
          onProgress: (p) => {
            if (p.phase === 'keys' && p.percent === 0) blocker.listen(base + 3, '127.0.0.1');
            if (p.pid) pids.push(p.pid);
          },
        }).then(
          () => assert.fail('should not start'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof TorLaunchError, String(err));
        assert.match(err.message, /node auth1/);
        assert.ok(err.logLines.length > 0 && err.logLines.length <= 15);
        assert.ok(err.logLines.some((l) => /Could not bind|Address already in use|Failed to bind/i.test(l)), err.logLines.join('\n'));
      } finally {
        blocker.close();
      }
      assert.equal(pids.length, 5, 'four authorities and the client were started');
      for (const pid of pids) assert.ok(!runsTorOf(pid, dir), `pid ${pid} left running`);
      assert.ok(!existsSync(dir), 'directory removed');
    });

    it('abort stops every node started so far and rejects with TorAbortError', async () => {
      const ac = new AbortController();
      const pids: number[] = [];
      const dir = freshDir('abort');
      await assert.rejects(
        startTestNetwork({
          baseDir: dir,
          signal: ac.signal,
          onProgress: (p) => {
            if (p.pid) pids.push(p.pid);
            if (p.phase === 'node') ac.abort();
          },
        }),
        TorAbortError,
      );
      assert.ok(pids.length >= 1);
      for (const pid of pids) assert.ok(!runsTorOf(pid, dir), `pid ${pid} left running`);
      assert.ok(!existsSync(dir), 'directory removed');
    });

    it('a stall past timeoutMs rejects with TorLaunchError (cause TorTimeoutError) and stops everything', async () => {
      const pids: number[] = [];
      const dir = freshDir('stall');
      const err = await startTestNetwork({ baseDir: dir, timeoutMs: 4000, onProgress: (p) => p.pid && pids.push(p.pid) }).then(
        () => assert.fail('should not be ready in 4 s'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TorLaunchError, String(err));
      assert.ok(err.cause instanceof TorTimeoutError);
      assert.match(err.message, /stalled/);
      for (const pid of pids) assert.ok(!runsTorOf(pid, dir), `pid ${pid} left running`);
      assert.ok(!existsSync(dir), 'directory removed');
    });
  });
});
