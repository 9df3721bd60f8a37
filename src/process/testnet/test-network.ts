import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TorAbortError, TorError, TorInvalidValueError, TorLaunchError, TorTimeoutError } from '../../errors.js';
import { logger } from '../../util/log.js';
import { identifyProcess, isProcessAlive } from '../process-identity.js';
import { LiteControl } from './control-lite.js';
import { checkExitStream, startEchoServer, type EchoServer } from './exit-check.js';
import { generateNodeKeys, loadCachedKeys, saveCachedKeys, type NodeKeys } from './keys.js';
import { TorNodeProcess } from './node-process.js';
import { allocatePorts, type PortLease } from './ports.js';
import { parseBootstrapLine, waitForCompleteConsensus, type ConsensusProgress } from './readiness.js';
import { readTestNetworkState, writeTestNetworkState, type TestNetworkState } from './state-file.js';
import { authoritiesOf, buildNetworkTorrcs, planNetwork, portsNeeded } from './network-plan.js';
import { checkTorrcPath, LOOPBACK, LOOPBACK_RESOLV_CONF, type TestNodeSpec } from './torrc-builder.js';

/**
 * `startLoopbackNetwork()`: a private Tor network on 127.0.0.1 (authorities that are also relays,
 * guards, exits and HSDirs, optional extra relays, and one client) that is usable within seconds.
 *
 * The order is the fastest one measured on small machines: all keys at once; then every node, the
 * client with its network disabled; then wait until every authority serves a consensus listing
 * every relay with every flag a path needs; only then switch the client's network on (a client
 * online earlier fetches an incomplete consensus and backs off; one started only now spends a
 * second or more starting up); then prove an exit stream to a loopback echo server.
 */

const log = logger('testnet');

/** A step of {@link startTestNetwork}, reported through `onProgress`. */
export type TestNetworkPhase = 'keys' | 'node' | 'consensus' | 'bootstrap' | 'exit-check' | 'ready';

/** One progress report. */
export interface TestNetworkProgress {
  phase: TestNetworkPhase;
  /** The node concerned, when there is one. */
  node?: string;
  /** 0–100 within the phase, when it can be measured. */
  percent?: number;
  /** The process id of the node just started (phase `node`). */
  pid?: number;
  message: string;
}

/** Options of {@link startLoopbackNetwork} (and `startTestNetwork`); all optional. */
export interface StartTestNetworkOptions {
  /**
   * Relays in the network. The first `authorities` of them are directory authorities; the rest
   * are plain relays. Every relay is a guard, exit (to 127.0.0.0/8 only) and HSDir. 4..32.
   * @default 4
   */
  relays?: number;
  /** How many of the relays are directory authorities (1..relays). @default min(relays, 4) */
  authorities?: number;
  /** The network's directory. @default a new `os.tmpdir()/torcon-testnet-XXXXXX` */
  baseDir?: string;
  /** Keep `baseDir` after stop(). @default false */
  keep?: boolean;
  /** First of a block of consecutive loopback ports. @default free ports found automatically */
  portBase?: number;
  /** A directory caching node keys across runs (created if missing); skips most key generation. */
  reuseKeys?: string;
  /** Progress reports; a listener that throws is ignored. */
  onProgress?: (p: TestNetworkProgress) => void;
  /** Aborts the start; everything started so far is stopped. */
  signal?: AbortSignal;
  /** Gives up (stopping everything) after this long. @default 120000 */
  timeoutMs?: number;
  /** @default 'tor' (from PATH) */
  torPath?: string;
  /** @default 'tor-gencert' (from PATH) */
  gencertPath?: string;
}

/** A relaying node of a running test network. */
export interface TestRelay {
  nickname: string;
  /** Relay identity, 40 upper-case hex. */
  fingerprint: string;
  orPort: number;
  dirPort: number;
  controlPort: number;
  role: 'authority' | 'relay';
  pid: number;
  dataDir: string;
}

/** The client node of a running test network. */
export interface TestClientNode {
  nickname: string;
  controlPort: number;
  socksPort: number;
  pid: number;
  dataDir: string;
}

/**
 * A running private test network, without a control connection of its own; see
 * {@link startLoopbackNetwork}. (`torcon/testnet`'s `TestNetwork` adds a connected `client`.)
 */
export interface LoopbackNetwork {
  /** `tcp:127.0.0.1:PORT`: the client tor's control port. */
  readonly controlEndpoint: string;
  /** The client tor's SOCKS port on 127.0.0.1. */
  readonly socksPort: number;
  /** The client's control auth cookie (CookieAuthentication 1). */
  readonly cookieFile: string;
  /** How to authenticate to {@link controlEndpoint}. */
  readonly auth: { readonly method: 'cookie'; readonly cookieFile: string };
  /** Every relaying node (authorities first). */
  readonly relays: readonly TestRelay[];
  /** The client node. */
  readonly clientNode: TestClientNode;
  /** The network's directory: node data directories and network.json. */
  readonly dataDir: string;
  /** Pids of every tor process of the network. */
  readonly pids: readonly number[];
  /** Environment for a child process that should use this network (`TOR_CONTROL`, `TORCON_TESTNET_DIR`, ...). */
  env(): Record<string, string>;
  /**
   * Stops every node (SIGTERM, SIGKILL after 2 s), waits for them to exit, and removes the
   * directory unless `keep`. Idempotent.
   */
  stop(): Promise<void>;
}

const DEFAULTS = {
  relays: 4,
  timeoutMs: 120_000,
  keep: false,
  torPath: 'tor',
  gencertPath: 'tor-gencert',
} as const;

/** Networks of this process not yet stopped: killed if the process exits without stop(). */
const live = new Set<TorNodeProcess[]>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers cannot wait; SIGKILL is sent synchronously. __OwningControllerProcess is the
  // slower safety net for deaths that skip 'exit' (SIGKILL of this process, a crash).
  process.on('exit', () => {
    for (const nodes of live) for (const n of nodes) n.killNow();
  });
}

interface Validated {
  relays: number;
  authorities: number;
  timeoutMs: number;
  keep: boolean;
  torPath: string;
  gencertPath: string;
}

function validate(opts: StartTestNetworkOptions): Validated {
  const relays = opts.relays ?? DEFAULTS.relays;
  if (!Number.isInteger(relays) || relays < 4 || relays > 32) {
    throw new TorInvalidValueError('relays', 'must be an integer from 4 to 32 (paths need at least 4 relays)');
  }
  const authorities = opts.authorities ?? Math.min(relays, 4);
  if (!Number.isInteger(authorities) || authorities < 1 || authorities > relays) {
    throw new TorInvalidValueError('authorities', `must be an integer from 1 to relays (${relays})`);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TorInvalidValueError('timeoutMs', 'must be a positive number');
  if (opts.baseDir !== undefined) checkTorrcPath('baseDir', path.resolve(opts.baseDir));
  if (opts.reuseKeys !== undefined && typeof opts.reuseKeys !== 'string') throw new TorInvalidValueError('reuseKeys', 'must be a directory path');
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw new TorInvalidValueError('onProgress', 'must be a function');
  return {
    relays,
    authorities,
    timeoutMs,
    keep: opts.keep ?? DEFAULTS.keep,
    torPath: opts.torPath ?? DEFAULTS.torPath,
    gencertPath: opts.gencertPath ?? DEFAULTS.gencertPath,
  };
}

/**
 * Prepares the network directory. A given `baseDir` must be missing, empty, or hold a stopped
 * network of ours (its network.json with no live node); anything else is refused rather than wiped.
 */
async function prepareBaseDir(baseDir: string | undefined): Promise<string> {
  if (baseDir === undefined) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-testnet-'));
    checkTorrcPath('baseDir', dir);
    return dir;
  }
  const dir = path.resolve(baseDir);
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TorLaunchError(`cannot use baseDir ${dir}: ${(err as Error).message}`);
  }
  if (entries.length) {
    let previous;
    try {
      previous = await readTestNetworkState(dir);
    } catch {
      throw new TorInvalidValueError('baseDir', `${dir} is not empty and holds no torcon test network; refusing to overwrite it`);
    }
    if (previous.running) throw new TorLaunchError(`a test network is already running in ${dir} (owner pid ${previous.ownerPid})`);
    // One still starting has no node running yet (its keys come first): its owner tells. Removing
    // the directory under it would fail that start, and its cleanup then hit this network.
    if (previous.status !== 'stopped' && previous.owner !== undefined && (await isProcessAlive(previous.owner))) {
      throw new TorLaunchError(`a test network is already starting in ${dir} (owner pid ${previous.ownerPid})`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Starts a private Tor network on 127.0.0.1 and resolves once a stream through its client and an
 * exit reaches a loopback echo server. Nothing it starts can reach the public Tor network: every
 * torrc names only loopback authorities and addresses (see torrc-builder.ts).
 *
 * @param opts - see {@link StartTestNetworkOptions}
 * @returns a handle; call `stop()` when done. The node processes keep the event loop alive until
 *   then (a `process.on('exit')` hook and `__OwningControllerProcess` are only safety nets).
 *   `network.json` in the network's directory lets another process find and stop it.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad options, before anything starts
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when a node fails or the network stalls (naming the
 *   node, with its last log lines; `cause` is a TorTimeoutError on timeout)
 * @throws TorAbortError (`TOR_ABORTED`) when `opts.signal` aborts
 * @example
 * const net = await startLoopbackNetwork({ onProgress: (p) => console.log(p.phase, p.message) });
 * try { spawnSync('node', ['app.js'], { env: { ...process.env, ...net.env() } }); }
 * finally { await net.stop(); }
 */
export async function startLoopbackNetwork(opts: StartTestNetworkOptions = {}): Promise<LoopbackNetwork> {
  const v = validate(opts);
  if (opts.signal?.aborted) throw new TorAbortError('starting the test network', { cause: opts.signal.reason });

  const ac = new AbortController();
  // every node, key tool and wait listens on this one signal: 32 relays mean well over 10 listeners
  setMaxListeners(0, ac.signal);
  let timedOut = false;
  const onUserAbort = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onUserAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new TorTimeoutError('starting the test network', v.timeoutMs));
  }, v.timeoutMs);

  const progress = (p: TestNetworkProgress) => {
    log('%s%s: %s', p.phase, p.node ? ` ${p.node}` : '', p.message);
    try {
      opts.onProgress?.(p);
    } catch (err) {
      log('onProgress threw: %s', (err as Error).message);
    }
  };

  const nodes: TorNodeProcess[] = [];
  let lease: PortLease | undefined;
  let baseDir: string | undefined;
  let echo: EchoServer | undefined;
  let phase: TestNetworkPhase = 'keys';
  let stalledNode: TorNodeProcess | undefined;
  let lastConsensus: ConsensusProgress | undefined;
  let lastSpecs: { specs: TestNodeSpec[]; fingerprints: string[] } | undefined;

  // Rejects as soon as any node exits before the network is ready.
  let rejectEarlyExit!: (err: Error) => void;
  const earlyExit = new Promise<never>((_, reject) => (rejectEarlyExit = reject));
  earlyExit.catch(() => undefined);
  let ready = false;
  const aborted = new Promise<never>((_, reject) => {
    ac.signal.addEventListener('abort', () => reject(new TorAbortError('starting the test network', { cause: ac.signal.reason })), { once: true });
  });
  aborted.catch(() => undefined);
  const step = <T>(work: Promise<T>): Promise<T> => {
    work.catch(() => undefined);
    return Promise.race([work, earlyExit, aborted]);
  };

  const startNode = (spec: TestNodeSpec, torrcPath: string): TorNodeProcess => {
    const node = TorNodeProcess.start({ nickname: spec.nickname, torrcPath, torPath: v.torPath });
    nodes.push(node);
    void node.exited.then(() => {
      if (!ready) rejectEarlyExit(node.launchError('exited while the network was starting'));
    });
    progress({
      phase: 'node',
      node: spec.nickname,
      ...(node.pid !== undefined ? { pid: node.pid } : {}),
      message: `started ${spec.role} ${spec.nickname} (pid ${node.pid ?? '?'})${spec.startOffline ? ', network disabled' : ''}`,
    });
    return node;
  };

  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.stop(2000)));
  };

  let state: TestNetworkState | undefined;
  try {
    baseDir = await prepareBaseDir(opts.baseDir);
    const dir = baseDir;

    // --- plan: nicknames, directories and ports
    lease = await step(allocatePorts(portsNeeded(v.relays), {
      ...(opts.portBase !== undefined ? { portBase: opts.portBase } : {}),
      signal: ac.signal,
    }));
    const plan = planNetwork({ relays: v.relays, authorities: v.authorities, dir, ports: lease.ports });
    const relaySpecs = plan.relays;
    const clientSpec = plan.client;
    const resolvConfFile = path.join(dir, 'resolv.conf');
    await writeFile(resolvConfFile, LOOPBACK_RESOLV_CONF, { mode: 0o644 });

    state = {
      version: 1,
      status: 'starting',
      ownerPid: process.pid,
      owner: await identifyProcess(process.pid),
      baseDir: dir,
      keep: v.keep,
      startedAt: new Date().toISOString(),
      nodes: [...relaySpecs, clientSpec].map((s) => ({
        nickname: s.nickname,
        role: s.role,
        dataDir: s.dataDir,
        torrcPath: path.join(s.dataDir, 'torrc'),
        controlPort: s.controlPort,
        ...(s.orPort !== undefined ? { orPort: s.orPort } : {}),
        ...(s.dirPort !== undefined ? { dirPort: s.dirPort } : {}),
        ...(s.socksPort !== undefined ? { socksPort: s.socksPort } : {}),
      })),
    };
    await writeTestNetworkState(dir, state);

    // --- keys, all nodes at once
    progress({ phase: 'keys', percent: 0, message: `generating keys for ${v.relays} relays` });
    let keysDone = 0;
    const keys: NodeKeys[] = await step(
      Promise.all(
        relaySpecs.map(async (spec) => {
          const cached = opts.reuseKeys ? await loadCachedKeys(opts.reuseKeys, spec) : undefined;
          const k = cached ?? (await generateNodeKeys(spec, { torPath: v.torPath, gencertPath: v.gencertPath, signal: ac.signal }));
          if (!cached && opts.reuseKeys) await saveCachedKeys(opts.reuseKeys, spec, k);
          keysDone++;
          progress({
            phase: 'keys',
            node: spec.nickname,
            percent: Math.round((keysDone / relaySpecs.length) * 100),
            message: `${cached ? 'reused' : 'generated'} keys of ${spec.nickname}`,
          });
          return k;
        }),
      ),
    );
    await mkdir(clientSpec.dataDir, { recursive: true, mode: 0o700 });

    const authorities = authoritiesOf(plan, keys);
    const torrcs = buildNetworkTorrcs(plan, { authorities, ownerPid: process.pid, resolvConfFile });
    await step(Promise.all(torrcs.map((t) => writeFile(t.path, t.text, { mode: 0o600 }))));

    // --- every node; the client offline until the consensus is complete
    live.add(nodes);
    installExitHook();
    phase = 'node';
    const relayNodes = torrcs.slice(0, relaySpecs.length).map((t) => startNode(t.spec, t.path));
    const client = startNode(clientSpec, torrcs[torrcs.length - 1]!.path);
    // registered at once so that the line cannot slip past before we look for it
    const clientControlOpen = client.waitForLine(/Opened Control listener connection \(ready\)/, { signal: ac.signal });
    clientControlOpen.catch(() => undefined);
    const cookieFile = path.join(clientSpec.dataDir, 'control_auth_cookie');
    relaySpecs.forEach((s, i) => {
      state!.nodes[i]!.pid = relayNodes[i]!.pid;
      state!.nodes[i]!.fingerprint = keys[i]!.fingerprint;
    });
    state.nodes[state.nodes.length - 1]!.pid = client.pid;
    state.controlEndpoint = `tcp:${LOOPBACK}:${clientSpec.controlPort}`;
    state.socksPort = clientSpec.socksPort!;
    state.cookieFile = cookieFile;
    await writeTestNetworkState(dir, state);

    // --- a consensus with every relay and every flag, at every authority
    phase = 'consensus';
    stalledNode = relayNodes[0];
    const fingerprints = keys.map((k) => k.fingerprint);
    lastSpecs = { specs: relaySpecs, fingerprints };
    await step(
      waitForCompleteConsensus({
        dirPorts: authorities.map((a) => a.dirPort),
        fingerprints,
        signal: ac.signal,
        onProgress: (p) => {
          lastConsensus = p;
          const firstMissing = p.missing[0];
          if (firstMissing) stalledNode = relayNodes[fingerprints.indexOf(firstMissing.fingerprint)] ?? relayNodes[0];
          progress({
            phase: 'consensus',
            percent: Math.round((p.complete / p.expected) * 100),
            message: `${p.complete}/${p.expected} relays in the consensus with all flags${describeMissing(p, relaySpecs, fingerprints)}`,
          });
        },
      }),
    );
    progress({ phase: 'consensus', percent: 100, message: `every authority serves a consensus with all ${v.relays} relays` });

    // --- the client goes online; its bootstrap is followed in its log
    phase = 'bootstrap';
    stalledNode = client;
    await step(clientControlOpen);
    const bootstrapped = client.waitForLine(/\[notice\] Bootstrapped 100% /, { signal: ac.signal });
    bootstrapped.catch(() => undefined);
    const offBootstrap = client.onLine((line) => {
      const b = parseBootstrapLine(line);
      if (b) progress({ phase: 'bootstrap', node: client.nickname, percent: b.percent, message: `${b.tag}: ${b.summary}` });
    });
    try {
      const ctl = await step(LiteControl.open(clientSpec.controlPort, cookieFile, { signal: ac.signal }));
      try {
        await step(ctl.command('SETCONF DisableNetwork=0'));
      } finally {
        ctl.close();
      }
      progress({ phase: 'bootstrap', node: client.nickname, message: 'client network enabled' });
      await step(bootstrapped);
    } finally {
      offBootstrap();
    }

    // --- an exit stream to a loopback echo server
    phase = 'exit-check';
    echo = await step(startEchoServer());
    progress({ phase: 'exit-check', node: client.nickname, message: `stream through an exit to ${LOOPBACK}:${echo.port}` });
    for (let attempt = 1; ; attempt++) {
      try {
        await step(checkExitStream(clientSpec.socksPort!, echo.port, { signal: ac.signal, timeoutMs: 10_000 }));
        break;
      } catch (err) {
        if (ac.signal.aborted || !(err instanceof TorError) || err.code !== 'TOR_SOCKS_FAILED') throw err;
        progress({ phase: 'exit-check', node: client.nickname, message: `attempt ${attempt} failed (${err.message}); retrying` });
        await step(new Promise((r) => setTimeout(r, 250)));
      }
    }
    await echo.close();
    echo = undefined;

    ready = true;
    state.status = 'ready';
    await writeTestNetworkState(dir, state);
    progress({ phase: 'ready', percent: 100, message: `test network ready: control ${state.controlEndpoint}, socks ${LOOPBACK}:${clientSpec.socksPort}` });

    return makeHandle({
      dir,
      keep: v.keep,
      nodes,
      lease,
      state,
      relays: relaySpecs.map((s, i) => ({
        nickname: s.nickname,
        fingerprint: keys[i]!.fingerprint,
        orPort: s.orPort!,
        dirPort: s.dirPort!,
        controlPort: s.controlPort,
        role: s.role as 'authority' | 'relay',
        pid: relayNodes[i]!.pid!,
        dataDir: s.dataDir,
      })),
      clientNode: {
        nickname: clientSpec.nickname,
        controlPort: clientSpec.controlPort,
        socksPort: clientSpec.socksPort!,
        pid: client.pid!,
        dataDir: clientSpec.dataDir,
      },
    });
  } catch (err) {
    ready = true; // from here on, node exits are ours
    const error = describeFailure(err);
    // stop whatever is still in flight (consensus polling, key generation, waits on logs)
    if (!ac.signal.aborted) ac.abort(error);
    await echo?.close().catch(() => undefined);
    await stopAll();
    live.delete(nodes);
    lease?.release();
    if (baseDir && !v.keep) await rm(baseDir, { recursive: true, force: true }).catch(() => undefined);
    else if (baseDir && state) await writeTestNetworkState(baseDir, { ...state, status: 'stopped' }).catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onUserAbort);
  }

  function describeFailure(err: unknown): Error {
    if (timedOut) {
      const where =
        phase === 'consensus' && lastConsensus
          ? `waiting for the consensus (${lastConsensus.complete}/${lastConsensus.expected} relays complete${lastSpecs ? describeMissing(lastConsensus, lastSpecs.specs, lastSpecs.fingerprints) : ''})`
          : `in phase "${phase}"`;
      const cause = new TorTimeoutError('starting the test network', v.timeoutMs);
      if (stalledNode) return stalledNode.launchError(`the test network stalled ${where} after ${v.timeoutMs} ms`, cause);
      return new TorLaunchError(`the test network stalled ${where} after ${v.timeoutMs} ms`, [], { cause });
    }
    if (ac.signal.aborted && opts.signal?.aborted) return new TorAbortError('starting the test network', { cause: opts.signal.reason });
    if (err instanceof TorError) return err;
    return new TorLaunchError(`the test network could not start: ${(err as Error)?.message ?? String(err)}`, [], { cause: err });
  }
}

/** `; auth1 lacks Running, auth3 absent` (empty when nothing is missing). */
function describeMissing(p: ConsensusProgress, specs: readonly TestNodeSpec[], fingerprints: readonly string[]): string {
  if (!p.missing.length) return '';
  const parts = p.missing.map((m) => {
    const name = specs[fingerprints.indexOf(m.fingerprint)]?.nickname ?? m.fingerprint;
    return m.lacks === 'absent' ? `${name} absent` : `${name} lacks ${m.lacks.join(' ')}`;
  });
  return `; ${parts.join(', ')}`;
}

function makeHandle(h: {
  dir: string;
  keep: boolean;
  nodes: TorNodeProcess[];
  lease: PortLease;
  state: TestNetworkState;
  relays: TestRelay[];
  clientNode: TestClientNode;
}): LoopbackNetwork {
  const controlEndpoint = `tcp:${LOOPBACK}:${h.clientNode.controlPort}`;
  const cookieFile = path.join(h.clientNode.dataDir, 'control_auth_cookie');
  let stopping: Promise<void> | undefined;
  return {
    controlEndpoint,
    socksPort: h.clientNode.socksPort,
    cookieFile,
    auth: { method: 'cookie', cookieFile },
    relays: h.relays,
    clientNode: h.clientNode,
    dataDir: h.dir,
    pids: h.nodes.map((n) => n.pid!).filter((p) => p !== undefined),
    env: () => ({
      TOR_CONTROL: controlEndpoint,
      TORCON_TESTNET_DIR: h.dir,
      TORCON_TESTNET_SOCKS_PORT: String(h.clientNode.socksPort),
    }),
    stop() {
      stopping ??= (async () => {
        await Promise.all(h.nodes.map((n) => n.stop(2000)));
        live.delete(h.nodes);
        h.lease.release();
        if (h.keep) await writeTestNetworkState(h.dir, { ...h.state, status: 'stopped' }).catch(() => undefined);
        else await rm(h.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
