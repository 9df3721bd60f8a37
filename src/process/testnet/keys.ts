import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TorAbortError, TorInvalidValueError, TorLaunchError } from '../../errors.js';
import { logger } from '../../util/log.js';
import { buildKeygenTorrc, type TestNodeSpec } from './torrc-builder.js';

/**
 * Key material of the test network: authority certificates from `tor-gencert` and relay identities
 * from `tor --list-fingerprint` run offline (`DisableNetwork 1`). Callers run these for all nodes
 * at once: they are CPU-bound and short, so overlapping them saves about a second.
 */

const log = logger('testnet:keys');

/** Identities of one relaying node. */
export interface NodeKeys {
  /** Relay identity fingerprint (40 upper-case hex). */
  fingerprint: string;
  /** Authority v3 identity (40 upper-case hex); authorities only. */
  v3Ident?: string;
}

/** Where to find the tor binaries. */
export interface KeyToolOptions {
  torPath?: string;
  gencertPath?: string;
  signal?: AbortSignal;
}

interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a short tool to completion; kills it if `signal` aborts. Never throws for a non-zero exit. */
function runTool(cmd: string, args: string[], opts: { input?: string; signal?: AbortSignal }): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new TorAbortError(`${path.basename(cmd)}`, { cause: opts.signal.reason }));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new TorLaunchError(`could not run ${cmd}: ${err.message}`, [], { cause: err }));
    });
    child.once('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) {
        reject(new TorAbortError(`${path.basename(cmd)}`, { cause: opts.signal.reason }));
        return;
      }
      resolve({ code, signal: sig, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the tool may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

function lastLines(text: string, n = 15): string[] {
  return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-n);
}

/**
 * Parses the `fingerprint` line of an authority key certificate.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when there is none
 */
export function parseCertificateFingerprint(certificate: string): string {
  const m = /^fingerprint ([0-9A-Fa-f]{40})$/m.exec(certificate);
  if (!m) throw new TorInvalidValueError('authority certificate', 'no fingerprint line');
  return m[1]!.toUpperCase();
}

/**
 * Parses `tor --list-fingerprint` output: the last `NICK XXXX XXXX ...` line (ten groups of four hex).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when no such line exists
 */
export function parseListFingerprint(output: string, nickname: string): string {
  const re = new RegExp(`^${nickname} ((?:[0-9A-F]{4} ){9}[0-9A-F]{4})\\s*$`, 'gm');
  let last: string | undefined;
  for (const m of output.matchAll(re)) last = m[1];
  if (!last) throw new TorInvalidValueError('tor --list-fingerprint output', `no fingerprint line for ${nickname}`);
  return last.replace(/ /g, '');
}

/**
 * Creates an authority identity key, signing key and certificate (12 months) in `dataDir/keys`.
 * @returns the authority's v3 identity (40 hex)
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) with tor-gencert's output when it fails
 * @throws TorAbortError (`TOR_ABORTED`) when `opts.signal` aborts
 */
export async function generateAuthorityCertificate(
  dataDir: string,
  dirPort: number,
  opts: KeyToolOptions = {},
): Promise<string> {
  const keys = path.join(dataDir, 'keys');
  await mkdir(keys, { recursive: true, mode: 0o700 });
  const args = [
    '--create-identity-key',
    '--passphrase-fd', '0',
    '-i', path.join(keys, 'authority_identity_key'),
    '-s', path.join(keys, 'authority_signing_key'),
    '-c', path.join(keys, 'authority_certificate'),
    '-m', '12',
    '-a', `127.0.0.1:${dirPort}`,
  ];
  // an empty line on stdin is the (empty) passphrase
  const r = await runTool(opts.gencertPath ?? 'tor-gencert', args, { input: '\n', signal: opts.signal });
  if (r.code !== 0) {
    throw new TorLaunchError(`tor-gencert failed for ${dataDir} (exit ${r.code ?? r.signal})`, lastLines(r.stdout + r.stderr));
  }
  return parseCertificateFingerprint(await readFile(path.join(keys, 'authority_certificate'), 'utf8'));
}

/**
 * Creates a relay's identity keys in its DataDirectory with `tor --list-fingerprint` and a minimal
 * offline torrc (written next to the data as `torrc.keygen`).
 * @returns the relay fingerprint (40 hex)
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) naming the node, with tor's last lines, when it fails
 * @throws TorAbortError (`TOR_ABORTED`) when `opts.signal` aborts
 */
export async function generateRelayKeys(node: TestNodeSpec, opts: KeyToolOptions = {}): Promise<string> {
  const torrc = buildKeygenTorrc(node);
  await mkdir(node.dataDir, { recursive: true, mode: 0o700 });
  const torrcPath = path.join(node.dataDir, 'torrc.keygen');
  await writeFile(torrcPath, torrc, { mode: 0o600 });
  const r = await runTool(
    opts.torPath ?? 'tor',
    ['--defaults-torrc', '/dev/null', '--ignore-missing-torrc', '-f', torrcPath, '--list-fingerprint'],
    { signal: opts.signal },
  );
  if (r.code !== 0) {
    throw new TorLaunchError(`tor --list-fingerprint failed for node ${node.nickname} (exit ${r.code ?? r.signal})`, lastLines(r.stdout + r.stderr));
  }
  try {
    return parseListFingerprint(r.stdout, node.nickname);
  } catch (err) {
    throw new TorLaunchError(`tor --list-fingerprint printed no fingerprint for node ${node.nickname}`, lastLines(r.stdout + r.stderr), { cause: err });
  }
}

/**
 * All keys one node needs: relay keys, plus an authority certificate for authorities (both at once).
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) / TorAbortError (`TOR_ABORTED`) as the tools do
 */
export async function generateNodeKeys(node: TestNodeSpec, opts: KeyToolOptions = {}): Promise<NodeKeys> {
  if (node.role === 'client') throw new TorInvalidValueError('role', 'a client has no relay keys to generate');
  await mkdir(path.join(node.dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const started = Date.now();
  const [fingerprint, v3Ident] = await Promise.all([
    generateRelayKeys(node, opts),
    node.role === 'authority' ? generateAuthorityCertificate(node.dataDir, node.dirPort!, opts) : Promise.resolve(undefined),
  ]);
  log('keys for %s in %d ms', node.nickname, Date.now() - started);
  return v3Ident ? { fingerprint, v3Ident } : { fingerprint };
}

/** A cache entry is ignored once this old: certificates from tor-gencert -m 12 last a year. */
const CACHE_MAX_AGE_MS = 180 * 24 * 3600 * 1000;

interface CacheMeta {
  version: 1;
  nickname: string;
  role: 'authority' | 'relay';
  fingerprint: string;
  v3Ident?: string;
  createdAt: string;
}

/**
 * Copies a node's cached keys into its DataDirectory, when the cache has a fresh entry for this
 * nickname and role.
 * @returns the cached identities, or undefined when the cache has nothing usable
 */
export async function loadCachedKeys(cacheDir: string, node: TestNodeSpec): Promise<NodeKeys | undefined> {
  const entry = path.join(cacheDir, node.nickname);
  let meta: CacheMeta;
  try {
    meta = JSON.parse(await readFile(path.join(entry, 'identity.json'), 'utf8')) as CacheMeta;
  } catch {
    return undefined;
  }
  const fresh = Date.now() - Date.parse(meta.createdAt) < CACHE_MAX_AGE_MS;
  if (meta.version !== 1 || meta.role !== node.role || meta.nickname !== node.nickname || !fresh) return undefined;
  if (!/^[0-9A-F]{40}$/.test(meta.fingerprint) || (node.role === 'authority' && !/^[0-9A-F]{40}$/.test(meta.v3Ident ?? ''))) {
    return undefined;
  }
  try {
    await mkdir(node.dataDir, { recursive: true, mode: 0o700 });
    await cp(path.join(entry, 'keys'), path.join(node.dataDir, 'keys'), { recursive: true });
  } catch (err) {
    log('cache entry for %s unusable: %s', node.nickname, (err as Error).message);
    await rm(path.join(node.dataDir, 'keys'), { recursive: true, force: true });
    return undefined;
  }
  return meta.v3Ident ? { fingerprint: meta.fingerprint, v3Ident: meta.v3Ident } : { fingerprint: meta.fingerprint };
}

/**
 * Stores a node's freshly generated keys in the cache. Written to a temporary name and renamed, so
 * that a concurrent reader sees either the old entry or the new one. Failures are logged, not thrown:
 * the cache only saves time.
 */
export async function saveCachedKeys(cacheDir: string, node: TestNodeSpec, keys: NodeKeys): Promise<void> {
  if (node.role === 'client') return;
  const entry = path.join(cacheDir, node.nickname);
  const tmp = `${entry}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await mkdir(tmp, { mode: 0o700 });
    await cp(path.join(node.dataDir, 'keys'), path.join(tmp, 'keys'), { recursive: true });
    const meta: CacheMeta = {
      version: 1,
      nickname: node.nickname,
      role: node.role,
      fingerprint: keys.fingerprint,
      ...(keys.v3Ident ? { v3Ident: keys.v3Ident } : {}),
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(tmp, 'identity.json'), JSON.stringify(meta, null, 2), { mode: 0o600 });
    await rm(entry, { recursive: true, force: true });
    await rename(tmp, entry);
  } catch (err) {
    log('could not cache keys of %s: %s', node.nickname, (err as Error).message);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
