import http from 'node:http';
import { TorAbortError, TorInvalidValueError } from '../../errors.js';
import { REQUIRED_FLAGS, LOOPBACK } from './torrc-builder.js';

/**
 * When is the private network usable? Not when "some consensus" exists: the first one often lists
 * only part of the relays, and a client that fetched it waits a whole voting round for the next.
 * We poll the authorities' DirPorts (loopback only) until every relay is listed with every flag a
 * path needs, and only then start the client.
 */

/** One relay as a consensus lists it. */
export interface ConsensusRelay {
  nickname: string;
  /** 40 upper-case hex. */
  fingerprint: string;
  flags: string[];
}

/**
 * Parses the `r` and `s` lines of a network-status consensus (dir-spec.txt §3.4.1).
 * Lines it does not need are ignored; an `r` line without a valid identity is skipped.
 */
export function parseConsensusRelays(text: string): ConsensusRelay[] {
  const relays: ConsensusRelay[] = [];
  let current: ConsensusRelay | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('r ')) {
      const parts = line.split(' ');
      const identity = parts[2];
      current = undefined;
      if (!parts[1] || !identity || !/^[A-Za-z0-9+/]{27}=?$/.test(identity)) continue;
      const bytes = Buffer.from(identity, 'base64');
      if (bytes.length !== 20) continue;
      current = { nickname: parts[1], fingerprint: bytes.toString('hex').toUpperCase(), flags: [] };
      relays.push(current);
    } else if (line.startsWith('s') && (line.length === 1 || line[1] === ' ') && current) {
      current.flags = line.split(' ').slice(1).filter(Boolean);
    } else if (line.startsWith('directory-footer')) {
      break;
    }
  }
  return relays;
}

/** How far a consensus is from listing every expected relay with every required flag. */
export interface ConsensusProgress {
  /** Expected relays listed with all required flags. */
  complete: number;
  /** How many relays are expected. */
  expected: number;
  /** Expected relays absent or lacking flags, each with what it lacks. */
  missing: Array<{ fingerprint: string; lacks: string[] | 'absent' }>;
}

/**
 * Compares a parsed consensus with the relays we started.
 * @param relays - from {@link parseConsensusRelays}
 * @param expected - 40-hex fingerprints of every relay of the network
 * @param required - flags every relay must have
 */
export function consensusProgress(
  relays: readonly ConsensusRelay[],
  expected: readonly string[],
  required: readonly string[] = REQUIRED_FLAGS,
): ConsensusProgress {
  const byFp = new Map(relays.map((r) => [r.fingerprint, r]));
  const missing: ConsensusProgress['missing'] = [];
  for (const fp of expected) {
    const r = byFp.get(fp.toUpperCase());
    if (!r) {
      missing.push({ fingerprint: fp, lacks: 'absent' });
      continue;
    }
    const lacks = required.filter((f) => !r.flags.includes(f));
    if (lacks.length) missing.push({ fingerprint: fp, lacks });
  }
  return { complete: expected.length - missing.length, expected: expected.length, missing };
}

/**
 * Fetches the current consensus from an authority's DirPort on 127.0.0.1.
 * @returns the document, or undefined when the authority has none yet (404) or is not listening yet
 * @throws TorAbortError (`TOR_ABORTED`) when `signal` aborts
 */
export function fetchConsensus(dirPort: number, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string | undefined> {
  if (!Number.isInteger(dirPort) || dirPort < 1 || dirPort > 65535) {
    return Promise.reject(new TorInvalidValueError('dirPort', 'must be an integer from 1 to 65535'));
  }
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new TorAbortError('consensus fetch', { cause: opts.signal.reason }));
    const onAbort = () => {
      req.destroy();
      reject(new TorAbortError('consensus fetch', { cause: opts.signal?.reason }));
    };
    const req = http.get(
      {
        host: LOOPBACK, // never anything else: this code only talks to our own authorities
        port: dirPort,
        path: '/tor/status-vote/current/consensus',
        agent: false,
        timeout: opts.timeoutMs ?? 3000,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.once('end', () => resolve(undefined));
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () => resolve(body));
        res.once('error', () => resolve(undefined));
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.once('close', () => opts.signal?.removeEventListener('abort', onAbort));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls every authority until each serves a consensus that lists all expected relays with all
 * required flags (a client may fetch from any authority, so all must be ready).
 * @param opts.onProgress - called when the best progress seen changes
 * @throws TorAbortError (`TOR_ABORTED`) when `signal` aborts (the caller's timeout uses the same signal)
 */
export async function waitForCompleteConsensus(opts: {
  dirPorts: readonly number[];
  fingerprints: readonly string[];
  signal?: AbortSignal;
  intervalMs?: number;
  onProgress?: (p: ConsensusProgress) => void;
}): Promise<void> {
  const interval = opts.intervalMs ?? 250;
  let lastReported = -1;
  for (;;) {
    if (opts.signal?.aborted) throw new TorAbortError('waiting for the consensus', { cause: opts.signal.reason });
    const docs = await Promise.all(opts.dirPorts.map((p) => fetchConsensus(p, { signal: opts.signal })));
    const progress = docs.map((d) =>
      consensusProgress(d ? parseConsensusRelays(d) : [], opts.fingerprints),
    );
    const worst = progress.reduce((a, b) => (b.complete < a.complete ? b : a));
    const best = progress.reduce((a, b) => (b.complete > a.complete ? b : a));
    if (best.complete !== lastReported) {
      lastReported = best.complete;
      opts.onProgress?.(best);
    }
    if (worst.missing.length === 0) return;
    await sleep(interval, opts.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One `Bootstrapped N% (tag): summary` notice from tor's log. */
export interface BootstrapLine {
  percent: number;
  tag: string;
  summary: string;
}

/**
 * Recognises tor's bootstrap notices, e.g.
 * `Nov 25 15:28:41.824 [notice] Bootstrapped 100% (done): Done`.
 * @returns the parsed notice, or undefined for any other line
 */
export function parseBootstrapLine(line: string): BootstrapLine | undefined {
  const m = /\[notice\] Bootstrapped (\d{1,3})% \(([^)]*)\): (.*)$/.exec(line);
  if (!m) return undefined;
  const percent = Number(m[1]);
  if (percent > 100) return undefined;
  return { percent, tag: m[2]!, summary: m[3]! };
}
