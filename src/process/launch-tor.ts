import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TorAbortError, TorControlClosedError, TorError, TorInvalidValueError, TorLaunchError, TorTimeoutError } from '../errors.js';
import { checkKeepAlive, type ConfValue, type TorControl } from '../control/tor-control.js';
import { openTorControl } from '../control/transport.js';
import { assertNoLineBreak, confValueText } from '../control/wire-values.js';
import { assertCancelOptions, throwIfAborted, timerDelay } from '../util/abort.js';
import { logger } from '../util/log.js';
import { waitForBootstrap, type BootstrapProgress } from './bootstrap.js';
import { isDataDirectoryLocked, makeTempDataDirectory, recordTor, sweepLeftoverDataDirectories } from './temp-data-directory.js';

const log = logger('launch');

/** Options of {@link launchTorProcess}. */
export interface LaunchTorOptions {
  /** Path of the tor binary. @default found on $PATH, then /usr/bin, /usr/sbin, /usr/local/bin */
  torPath?: string;
  /**
   * Data directory to use (kept on close). @default a fresh 0700 temp directory, removed on close
   * (and, should this process die first, by a later launch: see temp-data-directory.ts)
   */
  dataDirectory?: string;
  /** torrc options; arrays give repeated lines. They override torcon's defaults. */
  config?: Record<string, ConfValue | readonly ConfValue[]>;
  /** Control password, when `config` sets `HashedControlPassword`. Never logged. */
  password?: string;
  /** Bootstrap progress from STATUS_CLIENT BOOTSTRAP events. */
  onProgress?: (p: BootstrapProgress) => void;
  /**
   * Hears each line tor writes (its log: `notice` and up by default; set `config.Log`, e.g.
   * `'info stdout'`, for more), control characters escaped, from the start until tor stops. A
   * callback that throws is ignored. tor logs no secrets.
   * @example launchTor({ onLog: (line) => console.error(`[tor] ${line}`) })
   */
  onLog?: (line: string) => void;
  /** Resolve only at 100% bootstrap. @default true, unless `DisableNetwork` is set */
  waitForBootstrap?: boolean;
  /** Give up (and kill tor) after this long: a TorLaunchError whose `cause` is a TorTimeoutError. @default 120000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * How long tor may send nothing at all while a command waits for its reply, before the control
   * connection is closed as hung (see `TorControlOptions.replyTimeoutMs`); 0 or Infinity: never.
   * @default 60000
   */
  replyTimeoutMs?: number;
  /**
   * Ask tor something small whenever it has been silent this long with no command waiting (see
   * `TorControlOptions.keepAliveMs`); 0 or Infinity: off.
   * @default 0
   */
  keepAliveMs?: number;
}

const DEFAULTS = { timeoutMs: 120_000, logTail: 30, stopGraceMs: 2_000, outputGraceMs: 1_000 } as const;
/** Longest piece of tor's output kept waiting for its line end (tor's own lines are far shorter). */
const MAX_LOG_LINE = 64 * 1024;
/** Longest line kept in the log tail (tor's own lines are far shorter). */
const MAX_TAIL_LINE = 1000;

/** A tor process started and owned by us, with its authenticated control connection. */
export interface LaunchedTor {
  control: TorControl;
  child: ChildProcess;
  pid: number;
  dataDirectory: string;
  torVersion: string;
  /** The control endpoint string tor bound (`tcp:127.0.0.1:PORT`). */
  controlEndpoint: string;
  /** tor's last log lines (notice level), newest last. */
  logTail(): string[];
  /** Stops tor (control connection closed, SIGTERM, then SIGKILL) and removes a temp data directory. */
  stop(): Promise<void>;
}

/**
 * Finds the tor binary: `torPath` when given, else the first `tor` on $PATH, else the usual
 * install locations.
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when there is none, saying how to install it
 */
export async function findTorBinary(torPath?: string): Promise<string> {
  const candidates = torPath
    ? [torPath]
    : [
        ...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'tor')),
        '/usr/bin/tor',
        '/usr/sbin/tor',
        '/usr/local/bin/tor',
        '/opt/homebrew/bin/tor',
      ];
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      // A directory passes the X_OK check too (it can be searched); spawning it fails with EACCES.
      if (!(await stat(candidate)).isFile()) continue;
      return candidate;
    } catch {
      /* try the next one */
    }
  }
  throw new TorLaunchError(
    torPath
      ? `tor binary ${torPath} not found, not a file or not executable`
      : 'tor binary not found: install it (Debian/Ubuntu: apt-get install tor; macOS: brew install tor) or pass torPath',
  );
}

/**
 * Renders torrc lines. Values are written verbatim unless they need quoting; CR/LF/NUL are refused
 * because a newline would start a new, caller-controlled option.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a name that is no option name or is given
 *   twice (in any case), or a value that is not a string, finite number or boolean
 */
export function renderTorrc(config: Record<string, ConfValue | readonly ConfValue[]>): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const [key, raw] of Object.entries(config)) {
    // tor reads option names in any case, and for most options the last line wins: with both
    // `DisableNetwork` and `disablenetwork` the torrc would say something else than the check
    // of isOfflineOrPrivate read. A torrc directive (`%include`) would bring in lines unseen.
    if (typeof key !== 'string' || !OPTION_NAME.test(key)) {
      throw new TorInvalidValueError('torrc option name', `${JSON.stringify(String(key).slice(0, 40))} is no option name`);
    }
    if (seen.has(key.toLowerCase())) {
      throw new TorInvalidValueError('torrc option name', `${key} is given twice (tor ignores the case of option names)`);
    }
    seen.add(key.toLowerCase());
    const values = Array.isArray(raw) ? raw : [raw as ConfValue];
    for (const v of values) {
      const s = confValueText(v, key);
      assertNoLineBreak(s, `value of ${key}`);
      lines.push(`${key} ${needsQuoting(s) ? torrcQuote(s) : s}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * `base` with the options of `over` put in, each replacing the option of `base` of the same name
 * in any case (tor's option names are case-insensitive: `socksport` is `SocksPort`).
 */
function withOptions(
  base: Record<string, ConfValue | readonly ConfValue[]>,
  over: Record<string, ConfValue | readonly ConfValue[]>,
): Record<string, ConfValue | readonly ConfValue[]> {
  const out = { ...base };
  for (const key of Object.keys(over)) {
    for (const existing of Object.keys(out)) if (existing.toLowerCase() === key.toLowerCase()) delete out[existing];
  }
  return Object.assign(out, over);
}

/**
 * Options launchTor sets itself and that a caller's `config` must not replace: tor would follow the
 * caller's value while torcon reported, swept and removed its own (a `DataDirectory` in `config` had
 * tor lock and fill that directory while `dataDirectory` named the temporary one).
 */
const MANAGED_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ['DataDirectory', 'is set by launchTor: use its dataDirectory option'],
  ['ControlPortWriteToFile', 'is set by launchTor, which reads the control port tor bound from it'],
  ['__OwningControllerProcess', 'is set by launchTor to this process, so that tor exits with it'],
];

/** tor's option names: letters, digits and underscores (`__OwningControllerProcess`). */
const OPTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function needsQuoting(s: string): boolean {
  return s === '' || /["\\#]/.test(s) || s !== s.trim();
}

function torrcQuote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c).replace(/\t/g, '\\t') + '"';
}

/**
 * The value tor will use for option `name` of `config` (names in any case, as tor reads them; of a
 * list, the last value, as tor takes it for a single-valued option), as text; undefined when unset.
 */
function configValue(config: Record<string, ConfValue | readonly ConfValue[]>, name: string): string | undefined {
  const entry = Object.entries(config).find(([key]) => key.toLowerCase() === name.toLowerCase());
  const v = entry?.[1];
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return last === undefined ? undefined : typeof last === 'boolean' ? (last ? '1' : '0') : String(last);
}

/** True when a config keeps tor off the network or inside a private test network. */
export function isOfflineOrPrivate(config: Record<string, ConfValue | readonly ConfValue[]>): boolean {
  return configValue(config, 'DisableNetwork') === '1' || (configValue(config, 'TestingTorNetwork') === '1' && configValue(config, 'DirAuthority') !== undefined);
}

/**
 * Makes (or takes) tor's DataDirectory, 0700, and writes the torrc and an empty torrc-defaults in
 * it. torcon's defaults give way to the caller's options of the same name.
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) when the directory cannot be made or written, with
 *   Node's error as `cause` (a temporary directory made here is removed again)
 */
async function prepareDataDirectory(
  given: string | undefined,
  userConfig: Record<string, ConfValue | readonly ConfValue[]>,
): Promise<{ dataDirectory: string; portFile: string; torrc: string; defaults: string; config: Record<string, ConfValue | readonly ConfValue[]> }> {
  let made: string | undefined;
  const where = () => given ?? made ?? `a new directory in ${os.tmpdir()}`;
  try {
    const dataDirectory = given ?? (made = await makeTempDataDirectory());
    // A given directory that does not exist yet is made, as tor itself would.
    if (given !== undefined) await mkdir(given, { recursive: true, mode: 0o700 });
    // Before anything in it is rewritten: the torrc and control-port file are that tor's.
    if (given !== undefined && (await isDataDirectoryLocked(given))) {
      throw new TorLaunchError(`another tor is running on the data directory ${given} (it holds its lock)`);
    }
    await chmod(dataDirectory, 0o700);
    const portFile = path.join(dataDirectory, 'control-port');
    await rm(portFile, { force: true });
    // ExtendedErrors: tor then says why an onion service could not be reached (SOCKS replies
    // 0xF0-0xF7, which torcon turns into TOR_SOCKS_ONION_* errors) instead of a bare "host unreachable".
    const config = withOptions(
      withOptions({ DataDirectory: dataDirectory, ControlPort: 'auto', SocksPort: 'auto ExtendedErrors', CookieAuthentication: 1, Log: 'notice stdout' }, userConfig),
      { ControlPortWriteToFile: portFile },
    );
    const torrc = path.join(dataDirectory, 'torrc');
    const defaults = path.join(dataDirectory, 'torrc-defaults');
    await writeFile(torrc, renderTorrc(config), { mode: 0o600 });
    await writeFile(defaults, '', { mode: 0o600 });
    return { dataDirectory, portFile, torrc, defaults, config };
  } catch (err) {
    if (err instanceof TorError) throw err;
    if (made !== undefined) await rm(made, { recursive: true, force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TorLaunchError(`cannot prepare tor's data directory ${where()} (${code})`, [], { cause: err });
  }
}

/**
 * Starts tor without races and takes ownership of it: `ControlPort auto` with
 * `ControlPortWriteToFile` tells us the port tor really bound; `__OwningControllerProcess` and
 * TAKEOWNERSHIP make tor exit when we die or when our control connection closes. No system torrc
 * is read (`-f` and `--defaults-torrc` point at files we write), so the result depends on `config`
 * alone.
 *
 * Resolves once authenticated and, unless `DisableNetwork` is set or `waitForBootstrap` is false,
 * bootstrapped to 100%.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a config renderTorrc refuses, or a
 *   `timeoutMs` that is not a number from 0 to Infinity, before anything starts
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) with tor's last log lines when tor exits or fails,
 *   or is not ready within `timeoutMs` (then `cause` is the TorTimeoutError): tor is killed first
 * @throws TorAbortError (`TOR_ABORTED`) when `signal` aborts: tor is killed first
 */
export async function launchTorProcess(opts: LaunchTorOptions = {}): Promise<LaunchedTor> {
  const userConfig = opts.config ?? {};
  // Test runs set this so that a mistake in a test can never put a tor on the public network.
  if (process.env['TORCON_REQUIRE_OFFLINE'] === '1' && !isOfflineOrPrivate(userConfig)) {
    throw new TorLaunchError(
      'refusing to launch tor: TORCON_REQUIRE_OFFLINE=1 and the config sets neither DisableNetwork 1 nor a private TestingTorNetwork',
    );
  }
  // Checked before anything is created or started (the torrc itself is written below).
  renderTorrc(userConfig);
  if (configValue(userConfig, 'ControlPort') === '0') {
    throw new TorInvalidValueError('ControlPort', 'cannot be 0: torcon talks to the tor it launches through its control port');
  }
  for (const [name, why] of MANAGED_OPTIONS) {
    if (configValue(userConfig, name) !== undefined) throw new TorInvalidValueError(name, why);
  }
  if (configValue(userConfig, 'RunAsDaemon') === '1') {
    // A daemonized tor leaves its parent at once: torcon could neither watch nor stop it.
    throw new TorInvalidValueError('RunAsDaemon', 'cannot be set: torcon runs tor as its own child process');
  }
  // Before looking for the binary: `timeoutMs: -1` would otherwise start tor and kill it at once.
  assertCancelOptions(opts);
  // Likewise a signal aborted already: no directory made, no tor started only to be killed.
  throwIfAborted(opts.signal, 'launching tor');
  checkKeepAlive(opts);
  for (const name of ['onProgress', 'onLog'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') throw new TorInvalidValueError(name, 'must be a function');
  }
  // Only a real boolean: `'false'` (say, from an environment variable) is truthy, and would wait.
  if (opts.waitForBootstrap !== undefined && typeof opts.waitForBootstrap !== 'boolean') {
    throw new TorInvalidValueError('waitForBootstrap', 'must be true or false');
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
  const torPath = await findTorBinary(opts.torPath);
  // Aborted while the binary was looked for, or the directory made: no tor started only to be killed.
  throwIfAborted(opts.signal, 'launching tor');
  const ownsDir = opts.dataDirectory === undefined;
  const { dataDirectory, portFile, torrc, defaults, config } = await prepareDataDirectory(opts.dataDirectory, userConfig);
  if (opts.signal?.aborted) {
    if (ownsDir) await rm(dataDirectory, { recursive: true, force: true }).catch(() => undefined);
    throwIfAborted(opts.signal, 'launching tor');
  }

  const tail: string[] = [];
  // The owner goes on the command line, not in the torrc: SAVECONF rewrites the torrc without `__`
  // options, and a RELOAD of that file would forget it; tor re-applies its command line each reload.
  // No --ignore-missing-torrc: a torrc gone before tor reads it (a tmp cleaner) must stop tor, not
  // leave it on its built-in defaults, network on.
  const args = ['-f', torrc, '--defaults-torrc', defaults, '__OwningControllerProcess', String(process.pid)];
  const child = spawn(torPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { onLog } = opts;
  // Whole lines, however the pipe cuts tor's output into chunks.
  const onLine = (raw: string) => {
    if (!raw.trim()) return;
    const line = printable(raw.trimEnd());
    // Cut in the tail only (onLog hears it whole): the tail goes into TorLaunchError's message,
    // which a program that is no tor could otherwise fill with megabytes.
    tail.push(line.length > MAX_TAIL_LINE ? `${line.slice(0, MAX_TAIL_LINE)}... (${line.length - MAX_TAIL_LINE} more characters)` : line);
    if (tail.length > DEFAULTS.logTail) tail.shift();
    if (onLog) {
      try {
        onLog(line);
      } catch (err) {
        log('onLog threw (ignored): %s', err instanceof Error ? err.message : String(err));
      }
    }
  };
  for (const output of [child.stdout!, child.stderr!]) readLines(output, onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    // 'close' after 'exit': it comes once tor's output has been read too, so that its last words
    // are in the tail a launch error carries. But a torPath that is a wrapper script may leave a
    // process of its own behind that holds the pipes open: then 'close' would never come, and
    // the launch (and its kill) would wait for ever. So 'close' is waited for a moment only.
    child.once('exit', (code, signal) => {
      const timer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ code, signal });
      }, DEFAULTS.outputGraceMs);
      child.once('close', () => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    child.once('error', (err) => {
      tail.push(`spawn error: ${err.message}`);
      resolve({ code: null, signal: null, spawnError: err });
    });
  });
  // So that the sweep of a later launch keeps the directory while this tor runs, whatever becomes
  // of us. (Never rejects; awaited before the directory is removed and before the launch settles.)
  const recorded = ownsDir && child.pid !== undefined ? recordTor(dataDirectory, child.pid) : Promise.resolve();
  let control: TorControl | undefined;

  const kill = async () => {
    if (control) control.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), DEFAULTS.stopGraceMs);
      await exited;
      clearTimeout(timer);
    }
    if (ownsDir) {
      await recorded;
      await rm(dataDirectory, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  // Temporary DataDirectories of owners that died without removing them, swept while tor starts;
  // done (it never fails) before this launch settles.
  const swept = sweepLeftoverDataDirectories();

  const abort = new AbortController();
  const onAbort = () => abort.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => abort.abort(new TorTimeoutError('launching tor', timeoutMs)), timerDelay(timeoutMs));
  try {
    if (opts.signal?.aborted) throw new TorAbortError('launching tor', { cause: opts.signal.reason });
    const died = exited.then(({ code, signal, spawnError }) => {
      // It never ran (a script whose #! interpreter is missing gives ENOENT): no exit code to tell.
      if (spawnError) throw new TorLaunchError(`cannot run ${torPath} (${spawnError.code ?? spawnError.message})`, [...tail], { cause: spawnError });
      throw new TorLaunchError(
        `tor exited during startup (${signal ? `signal ${signal}` : `exit code ${code}`})`,
        [...tail],
      );
    });
    died.catch(() => undefined);
    // Where the launch got to, for a timeout's message: tor that runs but has not bootstrapped is
    // another story (a network problem, the progress says which) than one that never came up.
    let bootstrap: BootstrapProgress | 'waiting' | undefined;
    const cancelled = new Promise<never>((_, reject) => {
      abort.signal.addEventListener('abort', () => {
        const reason = abort.signal.reason;
        const what =
          bootstrap === undefined
            ? `tor did not start within ${timeoutMs} ms`
            : `tor started but did not bootstrap within ${timeoutMs} ms (${bootstrap === 'waiting' ? 'no progress reported' : `at ${bootstrap.percent}%: ${bootstrap.summary}${bootstrap.warning !== undefined ? `; last problem: ${bootstrap.warning}` : ''}`})`;
        reject(reason instanceof TorTimeoutError ? new TorLaunchError(what, [...tail], { cause: reason }) : new TorAbortError('launching tor', { cause: reason }));
      });
    });
    cancelled.catch(() => undefined);
    const race = <T>(p: Promise<T>) => Promise.race([p, died, cancelled]);

    const endpoint = await race(readControlPortFile(portFile, abort.signal));
    log('tor pid %d control %s', child.pid, endpoint);
    const opened = await race(
      openTorControl(endpoint, {
        signal: abort.signal,
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.replyTimeoutMs !== undefined ? { replyTimeoutMs: opts.replyTimeoutMs } : {}),
        ...(opts.keepAliveMs !== undefined ? { keepAliveMs: opts.keepAliveMs } : {}),
      }),
    );
    control = opened.control;
    await race(control.command('TAKEOWNERSHIP'));
    const disabled = configValue(config, 'DisableNetwork') === '1';
    if (opts.waitForBootstrap ?? !disabled) {
      bootstrap = 'waiting';
      const onProgress = opts.onProgress;
      const progress = (p: BootstrapProgress): void => {
        bootstrap = p;
        onProgress?.(p);
      };
      await race(waitForBootstrap(control, { onProgress: progress, signal: abort.signal }));
    }
    const launched: LaunchedTor = {
      control,
      child,
      pid: child.pid!,
      dataDirectory,
      torVersion: opened.torVersion,
      controlEndpoint: endpoint,
      logTail: () => [...tail],
      stop: once(async () => {
        await control!.close({ timeoutMs: 500 }).catch(() => undefined);
        await kill();
      }),
    };
    return launched;
  } catch (err) {
    // A tor that dies while we talk to it shows first as a closed control connection; its exit
    // (and its last words: another tor on the same DataDirectory, a bad option) come just after.
    const exit = err instanceof TorControlClosedError ? await Promise.race([exited, sleep(1000, undefined, { ref: false })]) : undefined;
    await kill();
    if (exit) {
      throw new TorLaunchError(
        `tor exited during startup (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`})`,
        [...tail],
        { cause: err },
      );
    }
    if (err instanceof TorError) throw err;
    throw new TorLaunchError(`tor failed to start: ${(err as Error).message}`, [...tail], { cause: err });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    // Ends what may still run for a lost race (the control-port poll when tor died first).
    if (!abort.signal.aborted) abort.abort(new Error('launch settled'));
    await Promise.all([swept, recorded]);
  }
}

/** Polls for the file that `ControlPortWriteToFile` writes once tor has bound its control port. */
async function readControlPortFile(file: string, signal: AbortSignal): Promise<string> {
  for (;;) {
    if (signal.aborted) throw new TorAbortError('waiting for the control port');
    try {
      const text = await readFile(file, 'utf8');
      // Only a complete line: tor may still be writing. A unix socket ControlPort is UNIX_PORT=.
      const match = /^PORT=(\S+):(\d+)\r?\n/m.exec(text);
      if (match) return `tcp:${match[1]!.replace(/^\[(.*)\]$/, '$1').replace(/:/g, '\\:')}:${match[2]}`;
      const unix = /^UNIX_PORT=(\S+)\r?\n/m.exec(text);
      if (unix) return `unix:${unix[1]!.replace(/:/g, '\\:')}`;
    } catch {
      /* not written yet */
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/**
 * Calls `onLine` with each line of `stream`, split at LF only (a CR stays in its line, where
 * `printable` shows it), however the pipe cuts the output into chunks; the last line even without
 * an LF. (readline would also split at a lone CR.)
 */
function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  // Decoded as a stream, so that a character cut between two chunks stays whole.
  stream.setEncoding('utf8');
  let carry = '';
  stream.on('data', (text: string) => {
    const lines = (carry + text).split('\n');
    carry = lines.pop()!;
    for (const line of lines) onLine(line);
    // A program that never ends its line (a torPath that is not tor) must not grow this without
    // bound: what it wrote so far goes out as a line.
    if (carry.length > MAX_LOG_LINE) {
      onLine(carry);
      carry = '';
    }
  });
  stream.on('end', () => {
    if (carry !== '') onLine(carry);
    carry = '';
  });
}

/**
 * A line of the program's output as an error message may show it: control characters (a terminal's
 * escape sequences, a carriage return that would overwrite the line) become `\xNN`. What torPath
 * runs need not be tor, and its output ends up in messages that are printed to terminals.
 */
function printable(line: string): string {
  return line.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
