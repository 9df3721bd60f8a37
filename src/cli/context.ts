import { lib } from './lazy.js';
import type { Tor } from '../tor/tor.js';
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

/** Connects to the tor the user pointed at (`--control`, else `$TOR_CONTROL`, else the usual local control ports). */
async function openTor(ctx: CliContext): Promise<Tor> {
  const { control, password, replyTimeout } = ctx.globals();
  const { connectTor } = await lib.connectTor();
  return connectTor({
    ...(control ? { control } : {}),
    ...(password ? { password } : {}),
    ...(replyTimeout !== undefined ? { replyTimeoutMs: replyTimeout } : {}),
    signal: ctx.signal,
    timeoutMs: 15_000,
  });
}

/** Connects to the tor the user pointed at (see openTor), runs `fn`, and always closes the connection. */
export async function withTor<T>(ctx: CliContext, fn: (tor: Tor) => Promise<T>): Promise<T> {
  const tor = await openTor(ctx);
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
