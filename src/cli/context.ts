import { lib } from './lazy.js';
import type { Tor } from '../tor/tor.js';
import type { Output } from './output.js';

/** Global options every command sees. */
export interface GlobalOptions {
  control?: string;
  password?: string;
  verbose?: boolean;
}

/** What a command runs with: where to print, the global options, and how to get a tor. */
export interface CliContext {
  output: Output;
  globals(): GlobalOptions;
  /** Aborted on SIGINT/SIGTERM so that long commands stop cleanly. */
  signal: AbortSignal;
}

/**
 * Connects to the tor the user pointed at (`--control`, else `$TOR_CONTROL`, else the usual local
 * control ports), runs `fn`, and always closes the connection.
 */
export async function withTor<T>(ctx: CliContext, fn: (tor: Tor) => Promise<T>): Promise<T> {
  const { control, password } = ctx.globals();
  const { connectTor } = await lib.connectTor();
  const tor = await connectTor({
    ...(control ? { control } : {}),
    ...(password ? { password } : {}),
    signal: ctx.signal,
    timeoutMs: 15_000,
  });
  try {
    return await fn(tor);
  } finally {
    await tor.close();
  }
}

/** Resolves when the signal aborts (Ctrl-C): for commands that run until interrupted. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
