import { CommanderError } from 'commander';
import { TorError, TorInvalidValueError } from '../errors.js';
import { printable } from './output.js';

/** A usage error found by a command itself (exit code 2, like commander's own). */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/**
 * `torcon run` could not start the app: exit 127 when there is no such command, 126 when it is not
 * one that can run (a directory, no execute permission), as a shell would.
 */
export class CommandNotRunError extends Error {
  constructor(
    message: string,
    readonly exitCode: 126 | 127,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandNotRunError';
  }
}

/** The abort reason main.ts gives the command's signal: which signal stopped us. */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/**
 * The CLI's exit codes: 0 ok, 1 runtime error, 2 usage error. Runtime errors print one line that
 * names the cause (torcon's stable error code first); nothing more unless --verbose.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return 2;
  if (err instanceof CommandNotRunError) return err.exitCode;
  // A value torcon refused before sending anything: on the command line, always one the user typed
  // (an empty key for info, a CR in an event name, a password in a fetch URL).
  if (err instanceof TorInvalidValueError) return 2;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return 1;
}

/**
 * One line naming the cause: `CODE: message`, followed by the causes that add something
 * (`fetch failed: ECONNRESET: socket hang up`): a wrapper like undici's `TypeError: fetch failed`
 * says nothing on its own. Control characters are escaped (see printable): messages quote tor's
 * words, servers' words and the user's own input, any of which may hold terminal escapes.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const code = codeOf(current);
    // A code an outer message already names ("tried: tcp:127.0.0.1:1 (ECONNREFUSED)") is not said
    // again: a torcon error under it adds its message alone, a Node error nothing.
    const named = code !== undefined && parts.some((p) => p.includes(code));
    const isTorError = current instanceof TorError;
    const text = named ? firstLine((current as Error).message) : describeOne(current);
    // A cause whose message an outer one already quotes adds nothing either.
    const said = isTorError ? firstLine((current as Error).message) : text;
    if ((isTorError || !named) && !parts.some((p) => p.includes(said))) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return printable(parts.join(': '));
}

/** A torcon error's code, or a Node error's (`ECONNREFUSED`); undefined for anything else. */
function codeOf(err: unknown): string | undefined {
  if (err instanceof TorError) return err.code;
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

function describeOne(err: unknown): string {
  if (err instanceof TorError) return `${err.code}: ${firstLine(err.message)}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${firstLine(err.message)}` : firstLine(err.message);
  }
  return firstLine(String(err));
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!;
}
