import { CommanderError } from 'commander';
import { TorError } from '../errors.js';

/** A usage error found by a command itself (exit code 2, like commander's own). */
export class UsageError extends Error {}

/**
 * The CLI's exit codes: 0 ok, 1 runtime error, 2 usage error. Runtime errors print one line that
 * names the cause (torcon's stable error code first); nothing more unless --verbose.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return 2;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return 1;
}

export function describeError(err: unknown): string {
  if (err instanceof TorError) return `${err.code}: ${firstLine(err.message)}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${firstLine(err.message)}` : firstLine(err.message);
  }
  return String(err);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!;
}
