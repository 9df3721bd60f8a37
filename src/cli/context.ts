import { lib } from './lazy.js';
import type { Tor } from '../tor/tor.js';
import type { ConnectTorOptions } from '../tor/connect-tor.js';
import type { SocksOnlyTor } from '../tor/socks-only-tor.js';
import type { Output } from './output.js';

/** Global options every command sees. */
export interface GlobalOptions {
  control?: string;
  password?: string;
  verbose?: boolean;
  /** `--reply-timeout`: see ConnectTorOptions.replyTimeoutMs. */
  replyTimeout?: number;
}

/** What a command runs with: where to print, the global options, and how to get a tor. */
export interface CliContext {
  output: Output;
  globals(): GlobalOptions;
  /** Aborted on SIGINT/SIGTERM so that long commands stop cleanly. */
  signal: AbortSignal;
}

/** How {@link withTor} connects. */
export interface WithTorOptions {
  /**
   * For the commands that only watch (monitor, events, bootstrap): they send no commands of their
   * own, so the connection asks tor something after a few seconds of silence (keepAliveMs),
   * and a stopped or wedged tor, which keeps the connection open, is noticed by the reply timeout:
   * the command exits 1 saying so, as when tor dies. (Not for `serve`: closing its connection would
   * end the onion service that a tor only paused would have kept.)
   */
  watching?: boolean;
}

/** What the global options (`--control`, `--password`, `--reply-timeout`) and Ctrl-C say of connecting to tor. */
export function connectOptions(ctx: CliContext): ConnectTorOptions {
  const { control, password, replyTimeout } = ctx.globals();
  return {
    ...(control ? { control } : {}),
    ...(password ? { password } : {}),
    ...(replyTimeout !== undefined ? { replyTimeoutMs: replyTimeout } : {}),
    signal: ctx.signal,
  };
}

/** Connects to the tor the user pointed at (`--control`, else `$TOR_CONTROL`, else the usual local control ports). */
async function openTor(ctx: CliContext, opts: WithTorOptions = {}): Promise<Tor> {
  const { replyTimeout } = ctx.globals();
  const { connectTor } = await lib.connectTor();
  return connectTor({
    ...connectOptions(ctx),
    ...(opts.watching && replyTimeout !== 0 ? { keepAliveMs: keepAliveFor(replyTimeout) } : {}),
    timeoutMs: 15_000,
  });
}

/** Every 5 s (the default reply timeout is 60 s), more often for a shorter --reply-timeout. */
function keepAliveFor(replyTimeout: number | undefined): number {
  return replyTimeout === undefined ? 5_000 : Math.min(5_000, Math.max(100, Math.floor(replyTimeout / 2)));
}

/** Connects to the tor the user pointed at (see openTor), runs `fn`, and always closes the connection. */
export async function withTor<T>(ctx: CliContext, fn: (tor: Tor) => Promise<T>, opts: WithTorOptions = {}): Promise<T> {
  const tor = await openTor(ctx, opts);
  try {
    return await fn(tor);
  } finally {
    await tor.close();
  }
}

/** What the commands that only open streams or look names up need: a Tor handle has it, and so has tor's SOCKS port alone. */
export type StreamsThroughTor = Pick<SocksOnlyTor, 'connect' | 'createOnionService' | 'fetch' | 'resolve' | 'resolvePtr'>;

/**
 * For `connect`, `fetch` and `resolve`: the tor of {@link withTor}, or, when the user named none
 * (no `--control`, no `$TOR_CONTROL`) and no usual control port answers, tor's SOCKS port alone
 * (127.0.0.1:9050, then 9150), as a system tor without a control port offers. A tor the user named
 * is never swapped for whatever listens on 9050.
 */
export async function withStreamsThroughTor<T>(ctx: CliContext, fn: (tor: StreamsThroughTor) => Promise<T>): Promise<T> {
  let through: StreamsThroughTor & { close(): unknown };
  try {
    through = await openTor(ctx);
  } catch (err) {
    const { mayUseSocksOnly, SocksOnlyTor } = await lib.socksOnly();
    if (!mayUseSocksOnly(err, ctx.globals().control || process.env['TOR_CONTROL'])) throw err;
    through = new SocksOnlyTor(err);
  }
  try {
    return await fn(through);
  } finally {
    await through.close();
  }
}

/**
 * For `fetch --socks-port` and `resolve --socks-port`: tor's SOCKS port the user gave, and no
 * control connection at all.
 */
export async function withSocksPort<T>(socksPort: number | string, fn: (tor: Pick<StreamsThroughTor, 'fetch' | 'resolve' | 'resolvePtr'>) => Promise<T>): Promise<T> {
  const { TorSocksClient } = await lib.socksClient();
  const client = new TorSocksClient(null, { socksPort });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Resolves when the signal aborts (Ctrl-C): for commands that run until interrupted. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
