import { TorAuthError, TorError, TorInvalidValueError, TorNotAvailableError } from '../errors.js';
import { FOR_TOR_GROUP_ONLY } from '../control/authenticate.js';
import { describeControlAddress, openTorControl, parseControlEndpoint } from '../control/transport.js';
import { kindOf, type CancelOptions } from '../util/abort.js';
import { assertCallOptions, optionKeys } from '../util/known-options.js';
import { launchTorProcess, type LaunchTorOptions } from '../process/launch-tor.js';
import { Tor } from './tor.js';

/** Where `connectTor()` looks for tor when no `control` is given and `$TOR_CONTROL` is unset. */
export const DEFAULT_CONTROL_ENDPOINTS = [
  'unix:/run/tor/control',
  'tcp:127.0.0.1:9051',
  'tcp:127.0.0.1:9151', // Tor Browser
] as const;

/**
 * The keys of {@link ConnectTorOptions}: any other is a misspelt one (see assertCallOptions). A
 * record of every key, so that the compiler refuses one missing here or one the options lack.
 */
const CONNECT_TOR_OPTIONS = optionKeys<ConnectTorOptions>({
  control: true, password: true, cookieFile: true, timeoutMs: true, replyTimeoutMs: true, keepAliveMs: true, signal: true,
});

/** Options of {@link connectTor}. */
export interface ConnectTorOptions extends CancelOptions {
  /** Control endpoint string, e.g. `tcp:127.0.0.1:9051` or `unix:/run/tor/control`. @default $TOR_CONTROL, then {@link DEFAULT_CONTROL_ENDPOINTS} */
  control?: string;
  /** Password for HASHEDPASSWORD authentication. Never logged. @default $TOR_CONTROL_PASSWORD */
  password?: string;
  /** Override the cookie file path tor announces. */
  cookieFile?: string;
  /**
   * Limit for connecting and for authenticating, each (`TorTimeoutError`): something that accepts
   * the connection but never answers like tor must not hold the caller for ever.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * How long tor may send nothing at all while a command waits for its reply, before the
   * connection is closed as hung (a stopped tor keeps its socket open). See
   * `TorControlOptions.replyTimeoutMs`; 0 or Infinity: never.
   * @default 60000
   */
  replyTimeoutMs?: number;
  /**
   * Ask tor something small whenever it has been silent this long with no command waiting, so
   * that a stopped or hung tor is noticed by a connection that only listens (a live state, an
   * events() iterator). See `TorControlOptions.keepAliveMs`; 0 or Infinity: off.
   * @default 0
   */
  keepAliveMs?: number;
}

/** How long connectTor waits for the connection, and then for authentication, unless told. */
export const CONNECT_TIMEOUT_MS = 30_000;

/**
 * Connects to a running tor's control port and authenticates.
 *
 * With an explicit `control` (or `$TOR_CONTROL`) only that endpoint is tried. Otherwise the usual
 * places are tried in order, and the first that accepts a connection is used: a tor that accepts the
 * connection but refuses authentication is an error, not a reason to try the next one.
 * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`) listing what was tried and why it failed
 * @throws TorAuthError (`TOR_AUTH_FAILED`)
 * @throws TorTimeoutError (`TOR_TIMEOUT`) when a control port takes longer than `timeoutMs` to
 *   accept the connection or to authenticate
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a `timeoutMs` that is not a number from 0
 *   to Infinity, before any connection is tried
 * @example const tor = await connectTor({ control: 'tcp:127.0.0.1:9051' });
 */
export async function connectTor(opts: ConnectTorOptions = {}): Promise<Tor> {
  // A JavaScript caller's null means no options (it threw a TypeError).
  opts ??= {};
  assertCallOptions(opts, CONNECT_TOR_OPTIONS, 'connectTor');
  // Checked now: an endpoint object or a numeric password failed later as a bare TypeError, or
  // as an authentication failure naming the file `5`.
  for (const key of ['control', 'password', 'cookieFile'] as const) {
    const value: unknown = opts[key];
    if (value !== undefined && typeof value !== 'string') {
      throw new TorInvalidValueError(`connectTor ${key}`, `must be a string${key === 'control' ? ' (an endpoint such as tcp:127.0.0.1:9051 or unix:/run/tor/control)' : ''}, got ${kindOf(value)}`);
    }
  }
  const explicit = opts.control ?? process.env['TOR_CONTROL'] ?? undefined;
  // Beside $TOR_CONTROL, so that an app started by `torcon run --password` (or any unchanged app
  // using torcon/register) can authenticate without the password in its code or command line.
  const password = opts.password ?? (process.env['TOR_CONTROL_PASSWORD'] || undefined);
  const endpoints = explicit ? [explicit] : [...DEFAULT_CONTROL_ENDPOINTS];
  const tried: string[] = [];
  let last: unknown;
  // A tor that runs but whose control socket this user may not open (Debian's, for a user outside
  // its group): "no running tor" would send the user looking for the wrong thing.
  let denied: string | undefined;
  for (const endpoint of endpoints) {
    const address = parseControlEndpoint(endpoint);
    try {
      const { control, torVersion } = await openTorControl(address, {
        ...opts,
        ...(password !== undefined ? { password } : {}),
        timeoutMs: opts.timeoutMs ?? CONNECT_TIMEOUT_MS,
      });
      return new Tor(control, { version: torVersion, controlEndpoint: describeControlAddress(address) });
    } catch (err) {
      if (err instanceof TorAuthError) throw err;
      if (err instanceof TorError && err.code !== 'TOR_CONTROL_CLOSED') throw err;
      last = err;
      // Something that answered but is no tor (garbage, an HTTP banner) closes with a protocol
      // error as the cause: say so, rather than only that the connection closed.
      const inner = (err as Error).cause;
      const code =
        inner instanceof TorError && inner.code === 'TOR_PROTOCOL_ERROR'
          ? `TOR_PROTOCOL_ERROR: not a tor control port? ${inner.message}`
          : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      tried.push(`${endpoint} (${code})`);
      if (code === 'EACCES' || code === 'EPERM') denied ??= endpoint;
    }
  }
  const what = explicit ? `cannot reach tor's control port at ${explicit}` : denied ? 'found no tor this user may control' : 'no running tor found';
  throw new TorNotAvailableError(denied === undefined ? what : `${what}: ${deniedHint(denied)}`, tried, { cause: last });
}

/** What to do about a control socket that refused this user (EACCES). */
function deniedHint(endpoint: string): string {
  return `${endpoint} exists but is not open to this user, so a tor probably runs there: its control socket is ${FOR_TOR_GROUP_ONLY}`;
}

/** The keys of `LaunchTorOptions`, the same way as {@link CONNECT_TOR_OPTIONS}. */
const LAUNCH_TOR_OPTIONS = optionKeys<LaunchTorOptions>({
  torPath: true, dataDirectory: true, config: true, password: true, onProgress: true, onLog: true,
  waitForBootstrap: true, timeoutMs: true, signal: true, replyTimeoutMs: true, keepAliveMs: true,
});

/**
 * Starts a tor of our own and connects to it; `close()` stops it. See `LaunchTorOptions`.
 * Everything about the process (race-free control port, ownership, temp DataDirectory, bootstrap
 * progress, timeout and abort) is in `launchTorProcess`.
 * @throws TorLaunchError (`TOR_LAUNCH_FAILED`) with tor's last log lines
 * @example const tor = await launchTor({ config: { DisableNetwork: 1 } });
 */
export async function launchTor(opts: LaunchTorOptions = {}): Promise<Tor> {
  assertCallOptions(opts, LAUNCH_TOR_OPTIONS, 'launchTor');
  const launched = await launchTorProcess(opts);
  return new Tor(launched.control, {
    version: launched.torVersion,
    controlEndpoint: launched.controlEndpoint,
    launched,
  });
}
