#!/usr/bin/env node
import os from 'node:os';
import { CommanderError } from 'commander';
import { describeError, exitCodeFor, Interrupted } from './errors.js';
import { processOutput, println } from './output.js';
import { buildProgram } from './program.js';

/**
 * The `torcon` executable: the only place that exits. SIGINT/SIGTERM abort the running command
 * (which then stops what it started); a second one exits at once (commands that started a
 * process kill it on 'exit'). Exit code 128 + the signal's number, as shells report it.
 */
const output = processOutput();
const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++interrupts > 1) process.exit(signalExitCode(sig));
    controller.abort(new Interrupted(sig));
  });
}
// `torcon monitor | head`: a reader that went away is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = buildProgram(output, controller.signal);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = exitCodeFor(err);
  } else if (controller.signal.aborted && (err as { code?: string }).code === 'TOR_ABORTED') {
    const reason = controller.signal.reason as unknown;
    process.exitCode = signalExitCode(reason instanceof Interrupted ? reason.signal : 'SIGINT');
  } else {
    println(output.err, `torcon: ${describeError(err)}`);
    if (program.opts()['verbose'] && err instanceof Error && err.stack) println(output.err, err.stack);
    process.exitCode = exitCodeFor(err);
  }
}
// Leftover handles (a paused stdin, an unref'd socket's timers) must not keep a finished command
// alive: flush, then exit with the code the command chose.
process.stdout.write('', () => process.exit(process.exitCode ?? 0));

function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (os.constants.signals[sig] ?? 2);
}
