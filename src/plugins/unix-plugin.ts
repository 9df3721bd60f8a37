import net from 'node:net';
import { promises as fs } from 'node:fs';
import { EndpointArgumentError, EndpointListenError } from '../errors.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import type { EndpointContext, EndpointPlugin, EndpointRole, ListeningEndpoint } from './plugin-types.js';
import {
  collectArgs,
  parseBoolean,
  parseInteger,
  parseSeconds,
  parseUnixPath,
  required,
  showValue,
  type ArgSpec,
} from './arg-validation.js';
import { closeServer, listenServer, listeningEndpoint, openSocket } from './socket-io.js';

/** `unix:` endpoints: unix domain sockets, with node:net. */

/** Options of a `unix:PATH` client. */
export interface UnixClientOptions {
  path: string;
  /** Connect timeout in milliseconds (`timeout=` is in seconds). */
  timeoutMs?: number;
}

/** Options of a `unix:PATH` server. */
export interface UnixServerOptions {
  path: string;
  /** Permission bits set on the socket file once it exists (`mode=0660`). @default unchanged (umask) */
  mode?: number;
  /**
   * Guard the path with `PATH.lock` holding our pid: a stale socket left by a dead process is then
   * removed instead of failing with EADDRINUSE. @default false
   */
  lockfile: boolean;
  backlog?: number;
}

const CLIENT_SPEC: ArgSpec = {
  what: 'unix: client',
  positional: ['path'],
  keywords: ['timeout'],
  usage: 'unix:PATH[:timeout=SECONDS]',
};

const SERVER_SPEC: ArgSpec = {
  what: 'unix: server',
  positional: ['path'],
  keywords: ['mode', 'lockfile', 'backlog'],
  usage: 'unix:PATH[:mode=0660][:lockfile=true][:backlog=N]',
};

/**
 * Parses and validates a `unix:` client endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 * @example parseUnixClientOptions(parseEndpoint('unix:/run/tor/control')) // { path: '/run/tor/control' }
 */
export function parseUnixClientOptions(endpoint: ParsedEndpoint): UnixClientOptions {
  const { named, keywords } = collectArgs(endpoint, CLIENT_SPEC);
  const out: UnixClientOptions = { path: parseUnixPath(required(named.path, 'path', CLIENT_SPEC), 'unix: path') };
  if (keywords.timeout !== undefined) out.timeoutMs = parseSeconds(keywords.timeout, 'unix: timeout');
  return out;
}

/**
 * Parses and validates a `unix:` server endpoint without any I/O.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 * @example parseUnixServerOptions(parseEndpoint('unix:/tmp/s:mode=0660')) // { path: '/tmp/s', mode: 0o660, lockfile: false }
 */
export function parseUnixServerOptions(endpoint: ParsedEndpoint): UnixServerOptions {
  const { named, keywords } = collectArgs(endpoint, SERVER_SPEC);
  const out: UnixServerOptions = {
    path: parseUnixPath(required(named.path, 'path', SERVER_SPEC), 'unix: path'),
    lockfile: keywords.lockfile !== undefined ? parseBoolean(keywords.lockfile, 'unix: lockfile') : false,
  };
  if (keywords.mode !== undefined) {
    if (!/^(0o)?[0-7]{1,4}$/i.test(keywords.mode)) {
      throw new EndpointArgumentError(`unix: mode must be octal permission bits such as 0660, got ${showValue(keywords.mode)}`);
    }
    out.mode = parseInt(keywords.mode.replace(/^0o/i, ''), 8);
  }
  if (keywords.backlog !== undefined) out.backlog = parseInteger(keywords.backlog, 'unix: backlog', 1, 65535);
  return out;
}

/** Whether process `pid` exists (EPERM means it exists but belongs to someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `path.lock` for this process. When a lock names a dead process, that lock and the stale
 * socket it guarded are removed and the lock is taken.
 * @throws EndpointListenError (code `TOR_ENDPOINT_LISTEN`) when a live process holds the lock.
 */
async function acquireLock(path: string, what: string): Promise<string> {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return lockPath;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new EndpointListenError(what, err);
    }
    const pid = Number.parseInt(await fs.readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && processExists(pid)) {
      throw new EndpointListenError(what, new Error(`${lockPath} is held by running process ${pid}`));
    }
    await fs.rm(lockPath, { force: true });
    const stat = await fs.lstat(path).catch(() => undefined);
    if (stat?.isSocket()) await fs.rm(path, { force: true });
  }
  throw new EndpointListenError(what, new Error(`could not take ${lockPath}`));
}

/** The built-in `unix:` plugin. */
export const unixPlugin: EndpointPlugin = {
  prefix: 'unix',
  describe: `client ${CLIENT_SPEC.usage}; server ${SERVER_SPEC.usage}`,

  validate(endpoint: ParsedEndpoint, role: EndpointRole): void {
    if (role === 'client') parseUnixClientOptions(endpoint);
    else parseUnixServerOptions(endpoint);
  },

  async connect(endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<net.Socket> {
    const o = parseUnixClientOptions(endpoint);
    return openSocket(() => net.createConnection({ path: o.path }), 'connect', `unix connection to ${o.path}`, {
      signal: ctx.signal,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });
  },

  async listen(server: net.Server, endpoint: ParsedEndpoint, ctx: EndpointContext): Promise<ListeningEndpoint> {
    const o = parseUnixServerOptions(endpoint);
    const what = `listening on unix ${o.path}`;
    const lockPath = o.lockfile ? await acquireLock(o.path, what) : undefined;
    const releaseLock = async (): Promise<void> => {
      if (lockPath) await fs.rm(lockPath, { force: true });
    };
    try {
      await listenServer(server, { path: o.path, ...(o.backlog !== undefined ? { backlog: o.backlog } : {}) }, what, ctx.signal);
    } catch (err) {
      await releaseLock();
      throw err;
    }
    if (o.mode !== undefined) {
      // node:net cannot create the socket with a mode; chmod right after bind narrows the window.
      try {
        await fs.chmod(o.path, o.mode);
      } catch (err) {
        await closeServer(server);
        await releaseLock();
        throw new EndpointListenError(`${what}: setting mode ${o.mode.toString(8)}`, err);
      }
    }
    return listeningEndpoint(o.path, async () => {
      await closeServer(server); // node:net removes the socket file itself
      await releaseLock();
    });
  },
};
