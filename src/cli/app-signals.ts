import { spawn, type ChildProcess } from 'node:child_process';
import { logger } from '../util/log.js';

const log = logger('cli:run');

/**
 * How `torcon run` starts the app and hands it signals, so that it gets each signal exactly once.
 *
 * The problem: a terminal's Ctrl-C is a SIGINT to its whole foreground process group. With the app
 * in torcon's group, the app got that SIGINT from the terminal and then again from torcon, which
 * must pass on a signal sent to it alone (`kill <pid>`, a supervisor, `docker stop`): two SIGINTs,
 * which many apps take for "force quit". torcon cannot tell the two cases apart: Node does not say
 * who sent a signal (no `si_pid`/`si_code`), and nothing the app leaves behind says whether it got
 * one.
 *
 * So the app gets a session, hence a process group, of its own (spawn's `detached`, which is
 * setsid(2) on POSIX): no signal for torcon's group reaches it, and torcon passes on every signal
 * a job gets, to the app's whole group as a terminal would (`npm start` runs npm, a shell and the
 * app: all of them hear it). Exactly one, however the signal came.
 *
 * What that costs, because the app no longer has the terminal as its controlling terminal:
 * - it still reads and writes the terminal through the stdin/stdout/stderr it inherits, raw mode
 *   included (the kernel's job-control checks apply only to a process's controlling terminal), but
 *   opening /dev/tty fails (ENXIO): a prompt that reads /dev/tty does not work under `torcon run`;
 * - the signals the terminal sends to its foreground group come to torcon, which passes them on:
 *   SIGWINCH (resize), SIGQUIT (Ctrl-\), SIGHUP (the terminal closed);
 * - Ctrl-Z: the kernel ignores a SIGTSTP for a group that is orphaned (the app's parent, torcon, is
 *   in another session), so torcon stops the app's group with SIGSTOP, then itself (the shell
 *   sees the job stopped), and continues the app on SIGCONT (`fg`, `bg`). The app's own SIGTSTP
 *   handler does not run;
 * - a supervisor that signals every process of a cgroup itself (systemd's default
 *   `KillMode=control-group`) reaches the app twice; `KillMode=mixed` signals torcon alone.
 *
 * SIGUSR1 is not passed on: it starts torcon's own inspector, as in any Node program. On Windows
 * there are no process groups to speak of: the app runs as before, and only the command's
 * interrupt (SIGINT, SIGTERM) is passed on, to the app alone.
 */

/** Passed on as they come; SIGINT and SIGTERM come through the command's abort signal instead. */
const PASSED_ON = ['SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGWINCH'] as const;

const OWN_SESSION = process.platform !== 'win32';

/** Starts the app in a session of its own (see above), with torcon's stdio. */
export function spawnApp(command: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(command, args, { stdio: 'inherit', env, detached: OWN_SESSION });
}

/**
 * Sends `sig` to the app's process group, as a terminal would; nothing once the app has exited (a
 * reaped app's pid may already be someone else's: Node sets `exitCode` as it reaps).
 */
export function signalApp(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  if (!OWN_SESSION) {
    child.kill(sig);
    return;
  }
  try {
    process.kill(-child.pid, sig);
  } catch (err) {
    // ESRCH: the group has just gone; EPERM: a member changed its user. Neither stops torcon.
    log('%s to the app group %d: %s', sig, child.pid, (err as NodeJS.ErrnoException).code);
  }
}

/**
 * Passes the signals of a job other than SIGINT/SIGTERM on to the app while it runs (see above).
 * @returns a function that stops passing them on (torcon's own default handling comes back)
 */
export function passSignalsOn(child: ChildProcess): () => void {
  if (!OWN_SESSION) return () => undefined;
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of PASSED_ON) handlers.set(sig, () => signalApp(child, sig));
  handlers.set('SIGTSTP', () => {
    signalApp(child, 'SIGSTOP');
    // Stopped as the kernel stops a job without a handler: its shell gets the terminal back.
    // SIGCONT (fg, bg) continues torcon, and the handler below the app. (Without a job-control
    // shell the kernel would have ignored this SIGTSTP; a SIGCONT is then needed all the same.)
    process.kill(process.pid, 'SIGSTOP');
  });
  handlers.set('SIGCONT', () => signalApp(child, 'SIGCONT'));
  for (const [sig, handler] of handlers) process.on(sig, handler);
  return () => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  };
}
