import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TorInvalidValueError } from '../../errors.js';
import { logger } from '../../util/log.js';
import { isNickname } from '../../util/relay-nickname.js';
import { isProcessIdentity, type ProcessIdentity } from '../process-identity.js';
import type { TestNodeRole } from './torrc-builder.js';

/**
 * `network.json`: what another process (the CLI's `status` and `stop`) needs to find a running
 * test network: pids, ports, the client's control endpoint. Written atomically while the network
 * starts (so a crash mid-start still leaves the pids to clean up) and again when it is ready.
 */

const log = logger('testnet:state');

/** File name of the state file inside a network's directory. */
export const STATE_FILE = 'network.json';

/** One node in `network.json`. */
export interface TestNetworkNodeState {
  nickname: string;
  role: TestNodeRole;
  pid?: number;
  dataDir: string;
  torrcPath: string;
  controlPort: number;
  orPort?: number;
  dirPort?: number;
  socksPort?: number;
  fingerprint?: string;
}

/** The content of `network.json`. */
export interface TestNetworkState {
  version: 1;
  status: 'starting' | 'ready' | 'stopped';
  /** The process that started (and owns) the network. */
  ownerPid: number;
  /**
   * That process as it can be recognised later, once its pid may be another's (absent in files
   * of older torcon): a start on the same directory refuses while it lives.
   */
  owner?: ProcessIdentity;
  /** The network's directory (where network.json lives). */
  baseDir: string;
  /** When false, stopping removes `baseDir`. */
  keep: boolean;
  startedAt: string;
  /** `tcp:127.0.0.1:PORT` of the client's control port. */
  controlEndpoint?: string;
  socksPort?: number;
  cookieFile?: string;
  nodes: TestNetworkNodeState[];
}

/** A node as {@link readTestNetworkState} reports it: with whether its process is still alive. */
export interface TestNetworkNodeStatus extends TestNetworkNodeState {
  alive: boolean;
}

/** {@link TestNetworkState} with each node's liveness. */
export interface TestNetworkStatus extends Omit<TestNetworkState, 'nodes'> {
  nodes: TestNetworkNodeStatus[];
  /** True when at least one node process is alive. */
  running: boolean;
}

/** Writes network.json atomically (temporary file, then rename). */
export async function writeTestNetworkState(dir: string, state: TestNetworkState): Promise<void> {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}

function validate(dir: string, value: unknown): TestNetworkState {
  const bad = (why: string): never => {
    throw new TorInvalidValueError(`${path.join(dir, STATE_FILE)}`, why);
  };
  if (typeof value !== 'object' || value === null) bad('not a JSON object');
  const s = value as Partial<TestNetworkState>;
  if (s.version !== 1) bad('unknown version');
  if (!Number.isInteger(s.ownerPid)) bad('no ownerPid');
  if (s.owner !== undefined && !isProcessIdentity(s.owner)) bad('an invalid owner');
  // What `testnet status` prints, so that a damaged or hand-edited file is refused here, typed,
  // rather than crashing the printing or writing escape sequences to the terminal.
  if (!STATUSES.includes(s.status as string)) bad('no valid status');
  // (Any string: the directory is the user's, named as they chose.)
  if (typeof s.baseDir !== 'string') bad('no baseDir');
  if (s.controlEndpoint !== undefined && !isPrintable(s.controlEndpoint)) bad('an invalid controlEndpoint');
  if (!isPortOrAbsent(s.socksPort)) bad('an invalid socksPort');
  if (!Array.isArray(s.nodes)) bad('no nodes');
  for (const n of s.nodes!) {
    if (typeof n !== 'object' || n === null || typeof n.nickname !== 'string' || typeof n.torrcPath !== 'string') bad('a node lacks nickname or torrcPath');
    if (!isNickname(n.nickname)) bad('a node has an invalid nickname');
    if (!ROLES.includes(n.role)) bad(`node ${n.nickname} has no valid role`);
    if (n.pid !== undefined && (!Number.isInteger(n.pid) || n.pid < 2)) bad(`node ${n.nickname} has an invalid pid`);
    if (n.controlPort === undefined || ![n.controlPort, n.orPort, n.dirPort, n.socksPort].every(isPortOrAbsent)) bad(`node ${n.nickname} has an invalid port`);
  }
  return s as TestNetworkState;
}

const STATUSES: readonly string[] = ['starting', 'ready', 'stopped'] satisfies TestNetworkState['status'][];
const ROLES: readonly string[] = ['authority', 'relay', 'client'] satisfies TestNodeRole[];

function isPortOrAbsent(v: unknown): boolean {
  return v === undefined || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535);
}

/** A non-empty string without control characters. */
function isPrintable(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && !/[\x00-\x1f\x7f-\x9f]/.test(v);
}

/**
 * Whether `pid` is alive and is a tor started with `torrcPath` (so a recycled pid is never
 * mistaken for one of our nodes). Linux /proc.
 */
export async function isNodeProcess(pid: number, torrcPath: string): Promise<boolean> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    if (!cmdline.includes(torrcPath)) return false;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // a zombie has exited; only its parent's wait() is missing
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Reads a test network's `network.json` and checks which of its node processes are alive.
 * @param dir - the network's directory (`TORCON_TESTNET_DIR`)
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when there is no valid network.json in `dir`
 * @example const st = await readTestNetworkState(process.env.TORCON_TESTNET_DIR!); st.running
 */
export async function readTestNetworkState(dir: string): Promise<TestNetworkStatus> {
  let text: string;
  try {
    text = await readFile(path.join(dir, STATE_FILE), 'utf8');
  } catch (err) {
    throw new TorInvalidValueError('test network directory', `no ${STATE_FILE} in ${dir} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TorInvalidValueError(path.join(dir, STATE_FILE), 'not valid JSON');
  }
  const state = validate(dir, json);
  const nodes = await Promise.all(
    state.nodes.map(async (n) => ({ ...n, alive: n.pid !== undefined && (await isNodeProcess(n.pid, n.torrcPath)) })),
  );
  return { ...state, nodes, running: nodes.some((n) => n.alive) };
}

/**
 * Stops every node of the network described by `dir/network.json` from any process: SIGTERM,
 * SIGKILL after `graceMs`, then removes the directory unless the network was started with
 * `keep: true` (or `removeDir` says otherwise). Nodes whose pid no longer runs our tor are skipped.
 * @returns how many node processes were signalled
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `dir` holds no valid network.json
 */
export async function stopTestNetworkByDir(
  dir: string,
  opts: { graceMs?: number; removeDir?: boolean } = {},
): Promise<{ stopped: number }> {
  const state = await readTestNetworkState(dir);
  const graceMs = opts.graceMs ?? 2000;
  const live = state.nodes.filter((n) => n.alive && n.pid !== undefined);
  for (const n of live) signal(n.pid!, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let remaining = live;
  while (remaining.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    remaining = (await Promise.all(remaining.map(async (n) => ((await isNodeProcess(n.pid!, n.torrcPath)) ? n : undefined)))).filter(
      (n): n is TestNetworkNodeStatus => n !== undefined,
    );
  }
  for (const n of remaining) {
    log('%s ignored SIGTERM: SIGKILL', n.nickname);
    signal(n.pid!, 'SIGKILL');
  }
  for (let i = 0; remaining.length && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 50));
    remaining = (await Promise.all(remaining.map(async (n) => ((await isNodeProcess(n.pid!, n.torrcPath)) ? n : undefined)))).filter(
      (n): n is TestNetworkNodeStatus => n !== undefined,
    );
  }
  if (opts.removeDir ?? !state.keep) {
    await rm(dir, { recursive: true, force: true });
  }
  return { stopped: live.length };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* it exited meanwhile */
  }
}
