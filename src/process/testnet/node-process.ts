import { spawn, type ChildProcess } from 'node:child_process';
import { TorAbortError, TorLaunchError } from '../../errors.js';
import { logger } from '../../util/log.js';

/**
 * One running tor node of the test network: spawns it with its own torrc (and no defaults file,
 * so nothing from /etc/tor leaks in), follows its notice log live (the torrc logs to stdout as well
 * as to a file), remembers the last lines for error reports, and stops it.
 */

const log = logger('testnet:node');

/** How many log lines each node keeps for error reports. */
const KEEP_LINES = 50;

/** How a node process ended. */
export interface NodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link TorNodeProcess.start}. */
export interface NodeStartOptions {
  nickname: string;
  torrcPath: string;
  /** @default 'tor' */
  torPath?: string;
}

/** A tor node process and the tail of its log. */
export class TorNodeProcess {
  readonly nickname: string;
  readonly torrcPath: string;
  /** The process id (undefined only when spawning failed at once, e.g. tor not installed). */
  readonly pid: number | undefined;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<NodeExit>;

  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private exitInfo: NodeExit | undefined;
  private spawnError: Error | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(opts: NodeStartOptions) {
    this.nickname = opts.nickname;
    this.torrcPath = opts.torrcPath;
    this.child = spawn(opts.torPath ?? 'tor', ['--defaults-torrc', '/dev/null', '-f', opts.torrcPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        // spawn failure: no 'exit' follows when the process never started
        this.spawnError = err;
        this.pushLine(`(could not start tor: ${err.message})`);
        if (this.pid === undefined) {
          this.exitInfo = { code: null, signal: null };
          resolve(this.exitInfo);
        }
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        log('%s exited (%s)', this.nickname, code ?? signal);
        resolve(this.exitInfo);
      });
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop()!;
        for (const p of parts) this.pushLine(p.trimEnd());
      });
      stream.on('end', () => {
        if (partial) this.pushLine(partial.trimEnd());
        partial = '';
      });
    }
  }

  /**
   * Spawns a node. Failures to start show up later through {@link exited} and {@link launchError}.
   * @example const node = TorNodeProcess.start({ nickname: 'auth0', torrcPath: '/tmp/net/auth0/torrc' });
   */
  static start(opts: NodeStartOptions): TorNodeProcess {
    return new TorNodeProcess(opts);
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** How the process ended, once it has. */
  get exitStatus(): NodeExit | undefined {
    return this.exitInfo;
  }

  /** The last `n` log lines (tor's notice log plus anything on stderr). */
  lastLines(n = 15): string[] {
    return this.tail.slice(-n);
  }

  /**
   * Calls `listener` for every new log line.
   * @returns a function that removes the listener
   */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** A TorLaunchError naming this node, with `what` and its last 15 log lines. */
  launchError(what: string, cause?: unknown): TorLaunchError {
    const status = this.exitInfo
      ? ` (${this.spawnError ? 'could not start' : `exit ${this.exitInfo.code ?? this.exitInfo.signal}`})`
      : '';
    return new TorLaunchError(`test network node ${this.nickname}: ${what}${status}`, this.lastLines(15), {
      cause: cause ?? this.spawnError,
    });
  }

  /**
   * Resolves with the first log line (from now on) matching `re`.
   * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when the node exits first
   * @throws TorAbortError (`TOR_ABORTED`) when `signal` aborts
   */
  waitForLine(re: RegExp, opts: { signal?: AbortSignal } = {}): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new TorAbortError(`waiting for ${this.nickname}`, { cause: opts.signal.reason }));
      if (!this.running) return reject(this.launchError('exited before it was ready'));
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        off();
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const off = this.onLine((line) => {
        const m = re.exec(line);
        if (m) finish(() => resolve(m));
      });
      const onAbort = () => finish(() => reject(new TorAbortError(`waiting for ${this.nickname}`, { cause: opts.signal?.reason })));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      void this.exited.then(() => finish(() => reject(this.launchError('exited before it was ready'))));
    });
  }

  /**
   * Stops the node: SIGTERM (tor exits at once, whatever ShutdownWaitLength says), then SIGKILL
   * after `graceMs`. Idempotent; resolves once the process is gone.
   */
  stop(graceMs = 2000): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        if (!this.running || this.pid === undefined) return;
        this.child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const killed = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (this.running) {
              log('%s ignored SIGTERM for %d ms: SIGKILL', this.nickname, graceMs);
              this.child.kill('SIGKILL');
            }
            resolve();
          }, graceMs);
        });
        await Promise.race([this.exited, killed]);
        clearTimeout(timer);
        await this.exited;
      })();
    }
    return this.stopping;
  }

  /** Sends SIGKILL without waiting (for process 'exit' handlers, which cannot wait). */
  killNow(): void {
    if (this.running && this.pid !== undefined) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private pushLine(line: string): void {
    if (!line) return;
    this.tail.push(line);
    if (this.tail.length > KEEP_LINES) this.tail.splice(0, this.tail.length - KEEP_LINES);
    for (const l of this.lineListeners) {
      try {
        l(line);
      } catch (err) {
        log('line listener of %s threw: %s', this.nickname, (err as Error).message);
      }
    }
  }
}
