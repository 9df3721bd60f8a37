/**
 * The child processes of the state-replay benches: a fake control port and one measured client.
 * Both are started from a given build's `bench` directory, so that `ab-replay` can run two builds
 * with the same code `state-replay` uses for one.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A fake control port serving a corpus to one connection (fake-control-server.ts, `--once`). */
export interface FakeServer {
  port: number;
  child: ChildProcess;
  /** The server's replay report, or null when it exits without one. */
  replayed: Promise<Record<string, number> | null>;
}

/** Starts `benchDir`'s fake control port on a free port, serving `corpusDir`. */
export function startFakeServer(benchDir: string, corpusDir: string): Promise<FakeServer> {
  const child = spawn(process.execPath, [path.join(benchDir, 'fake-control-server.js'), '--port', '0', '--once', '--corpus', corpusDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout! });
  let replayedResolve!: (v: Record<string, number> | null) => void;
  const replayed = new Promise<Record<string, number> | null>((r) => (replayedResolve = r));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      replayedResolve(null);
      reject(new Error(`fake control server exited (${code}) before listening`));
    });
    rl.on('line', (line) => {
      const msg = JSON.parse(line) as { listening?: number; replayed?: Record<string, number> };
      if (msg.listening !== undefined) resolve({ port: msg.listening, child, replayed });
      if (msg.replayed !== undefined) replayedResolve(msg.replayed);
    });
  });
}

/** Options of {@link runReplayWorker}. */
export interface WorkerOptions {
  /** A second fake port for the `warm` client's unmeasured first replay. */
  warmPort?: number | undefined;
  /** Node/V8 options for the client process. */
  nodeFlags?: readonly string[];
}

/**
 * Runs one measured client of `benchDir`'s state-replay.js (a fresh process, so that its peak RSS
 * is its own) against the fake port `port`, and resolves with the report it prints.
 */
export function runReplayWorker<R>(benchDir: string, variant: string, port: number, events: number, opts: WorkerOptions = {}): Promise<R> {
  return new Promise((resolve, reject) => {
    const args = [
      '--expose-gc',
      ...(opts.nodeFlags ?? []),
      path.join(benchDir, 'state-replay.js'),
      '--worker',
      variant,
      '--port',
      String(port),
      '--events',
      String(events),
    ];
    if (opts.warmPort !== undefined) args.push('--warm-port', String(opts.warmPort));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${variant} worker of ${benchDir} exited with ${code}`));
      try {
        resolve(JSON.parse(out) as R);
      } catch {
        reject(new Error(`${variant} worker printed no report: ${out.slice(0, 200)}`));
      }
    });
  });
}
