import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { TorAbortError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { untilAborted } from '../context.js';
import { UsageError } from '../errors.js';
import { jsonLine, println, Progress } from '../output.js';
import { reportNetworkProgress } from '../network-progress.js';
import { lib } from '../lazy.js';
import { positiveInt, relayCount } from './tor-commands.js';
import { checkTorrcPath } from '../../process/testnet/torrc-builder.js';
import type { TestNetworkStatus } from '../../process/testnet/state-file.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'main.js');

/** One line the background network process sends its parent (JSON on stdout). */
type DaemonMessage =
  | { kind: 'progress'; phase: string; percent?: number; message: string }
  | { kind: 'ready'; controlEndpoint: string; socksPort: number; dir: string; relays: number }
  | { kind: 'failed'; message: string };

/** `torcon testnet start|status|stop`: the private loopback network as a background service. */
export function addTestnetCommands(program: Command, ctx: CliContext): void {
  const testnet = program
    .command('testnet')
    .description('a private Tor network on 127.0.0.1 (never touches the public network)')
    .addHelpText(
      'after',
      '\nExamples:\n  torcon testnet start --dir /tmp/tn\n  export TOR_CONTROL=tcp:127.0.0.1:PORT   # printed by start\n  torcon testnet status --dir /tmp/tn\n  torcon testnet stop --dir /tmp/tn',
    );

  testnet
    .command('start')
    .description('start a network in the background and print the TOR_CONTROL line to export')
    .option('--dir <dir>', 'network directory (kept until stop)')
    .option('--relays <n>', 'number of relays (4..32)', (v) => relayCount(v, '--relays'), 4)
    .option('--timeout <seconds>', 'give up after this long', (v) => positiveInt(v, '--timeout'), 120)
    .addHelpText(
      'after',
      '\nThe network keeps running after this command returns, in a background process that owns it.\n' +
        '\nExamples:\n  torcon testnet start --dir /tmp/tn\n  eval "$(torcon testnet start --dir /tmp/tn)"   # sets TOR_CONTROL in this shell',
    )
    .action(async (opts: { dir?: string; relays: number; timeout: number }) => {
      // Checked here, before the network process is spawned (it would refuse it only once started).
      if (opts.dir !== undefined) checkTorrcPath('--dir', path.resolve(opts.dir));
      const dir = path.resolve(opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'torcon-testnet-'))));
      const child = spawn(
        process.execPath,
        [MAIN, 'testnet', 'daemon', '--dir', dir, '--relays', String(opts.relays), '--timeout', String(opts.timeout)],
        { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: process.env },
      );
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const progress = new Progress(ctx.output, 'testnet');
      let onAbort = () => {};
      const result = await new Promise<DaemonMessage>((resolve) => {
        let buffered = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) !== -1) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            let msg: DaemonMessage;
            try {
              msg = JSON.parse(line) as DaemonMessage;
            } catch {
              continue;
            }
            if (msg.kind === 'progress') reportNetworkProgress(progress, msg);
            else resolve(msg);
          }
        });
        child.once('exit', (code) => resolve({ kind: 'failed', message: `the network process exited (code ${code})` }));
        // Ctrl-C while starting: the daemon is in its own process group, so stop it ourselves
        // (it then stops every node it started).
        onAbort = () => {
          child.kill('SIGTERM');
          resolve({ kind: 'failed', message: 'interrupted' });
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
      ctx.signal.removeEventListener('abort', onAbort);
      if (result.kind === 'failed') {
        // The daemon stops every node it started; a directory made here, whose name was never
        // printed, goes once it has (the daemon writes its state there until it exits).
        if (opts.dir === undefined) {
          // (before child.unref(): an unref'd child would not keep this process alive to see it exit)
          await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
          await rm(dir, { recursive: true, force: true });
        }
        // Interrupted: the exit code says which signal (130 for Ctrl-C), as for every other command.
        if (ctx.signal.aborted) throw new TorAbortError('starting the test network', { cause: ctx.signal.reason });
        throw new Error(`test network failed to start: ${result.message}`);
      }
      child.stdout!.destroy();
      child.unref();
      if (result.kind !== 'ready') return;
      progress.done(`ready: ${result.relays} relays and a client on 127.0.0.1`);
      println(ctx.output.out, `export TOR_CONTROL=${result.controlEndpoint}`);
      println(ctx.output.out, `export TORCON_TESTNET_DIR=${result.dir}`);
      println(ctx.output.err, `SOCKS: 127.0.0.1:${result.socksPort}    stop with: torcon testnet stop --dir ${result.dir}`);
    });

  testnet
    .command('daemon', { hidden: true })
    .description('(internal) run a network in the foreground, reporting JSON lines on stdout')
    .requiredOption('--dir <dir>')
    .option('--relays <n>', '', (v) => positiveInt(v, '--relays'), 4)
    .option('--timeout <seconds>', '', (v) => positiveInt(v, '--timeout'), 120)
    .action(async (opts: { dir: string; relays: number; timeout: number }) => {
      const send = (m: DaemonMessage) => {
        // The parent goes away after "ready": writes after that must not kill us.
        try {
          process.stdout.write(JSON.stringify(m) + '\n');
        } catch {
          /* parent gone */
        }
      };
      process.stdout.on('error', () => undefined);
      const { startTestNetwork } = await lib.testnet();
      let network;
      try {
        network = await startTestNetwork({
          baseDir: opts.dir,
          keep: true,
          relays: opts.relays,
          timeoutMs: opts.timeout * 1000,
          signal: ctx.signal,
          onProgress: (p) => send({ kind: 'progress', phase: p.phase, message: p.message, ...(p.percent !== undefined ? { percent: p.percent } : {}) }),
        });
      } catch (err) {
        send({ kind: 'failed', message: (err as Error).message.split('\n')[0]! });
        throw err;
      }
      send({ kind: 'ready', controlEndpoint: network.controlEndpoint, socksPort: network.socksPort, dir: opts.dir, relays: network.relays.length });
      await untilAborted(ctx.signal);
      await network.stop();
    });

  testnet
    .command('status')
    .description("show a network's nodes and whether they run")
    .requiredOption('--dir <dir>', 'network directory')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExit code 0 when the network runs, 1 when none of its nodes does or its client (where TOR_CONTROL\npoints) is down.\n\nExamples:\n  torcon testnet status --dir /tmp/tn\n  torcon testnet status --dir /tmp/tn --json | jq .nodes')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const { readTestNetworkState } = await lib.testnet();
      const state = await readTestNetworkState(path.resolve(opts.dir)).catch((err: Error) => {
        throw new UsageError(err.message);
      });
      const verdict = networkVerdict(state);
      if (opts.json) {
        println(ctx.output.out, jsonLine(state));
      } else {
        println(ctx.output.out, verdict.line);
        if (state.controlEndpoint) println(ctx.output.out, `TOR_CONTROL=${state.controlEndpoint}  SOCKS 127.0.0.1:${state.socksPort ?? '-'}`);
        for (const n of state.nodes) {
          const ports = [n.orPort && `or ${n.orPort}`, n.dirPort && `dir ${n.dirPort}`, `control ${n.controlPort}`, n.socksPort && `socks ${n.socksPort}`].filter(Boolean).join(', ');
          println(ctx.output.out, `  ${n.alive ? 'up  ' : 'down'} ${n.nickname.padEnd(10)} ${n.role.padEnd(9)} pid ${n.pid ?? '-'}  ${ports}`);
        }
      }
      process.exitCode = verdict.exitCode;
    });

  testnet
    .command('stop')
    .description('stop a network started with "testnet start" and remove its directory')
    .requiredOption('--dir <dir>', 'network directory')
    .option('--keep-dir', 'keep the directory')
    .addHelpText('after', '\nExamples:\n  torcon testnet stop --dir /tmp/tn\n  torcon testnet stop --dir /tmp/tn --keep-dir   # keep logs and torrcs to read')
    .action(async (opts: { dir: string; keepDir?: boolean }) => {
      const dir = path.resolve(opts.dir);
      const { readTestNetworkState, stopTestNetworkByDir } = await lib.testnet();
      const state = await readTestNetworkState(dir).catch((err: Error) => {
        throw new UsageError(err.message);
      });
      // Ask the owning process first: it stops its nodes cleanly. Only if that pid still runs our
      // daemon for this directory: a recycled pid belongs to someone else.
      if (state.ownerPid !== process.pid && (await isDaemonFor(state.ownerPid, dir))) {
        try {
          process.kill(state.ownerPid, 'SIGTERM');
        } catch {
          /* already gone */
        }
        // Let it finish (it rewrites network.json as it stops) before we read and remove the directory.
        for (let i = 0; i < 100 && (await isDaemonFor(state.ownerPid, dir)); i++) await sleep(50);
      }
      const wereAlive = state.nodes.filter((n) => n.alive).length;
      await stopTestNetworkByDir(dir, { removeDir: !opts.keepDir });
      const left = await readTestNetworkState(dir).then((st) => st.nodes.filter((n) => n.alive).length, () => 0);
      if (left > 0) throw new Error(`${left} tor processes of ${dir} are still running`);
      println(ctx.output.out, `stopped ${dir}: ${wereAlive} tor processes ended, directory ${opts.keepDir ? 'kept' : 'removed'}`);
    });
}

/** Whether `pid` is a `torcon testnet daemon --dir DIR` process (Linux /proc), not a recycled pid. */
async function isDaemonFor(pid: number, dir: string): Promise<boolean> {
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z /.test(stat)) return false;
    const at = args.indexOf('daemon');
    return at > 0 && args[at - 1] === 'testnet' && args[args.indexOf('--dir') + 1] === dir;
  } catch {
    return false;
  }
}

/**
 * `testnet status`'s first line and exit code. A network whose client is down is no usable network,
 * however many of its relays still run: TOR_CONTROL points at that client.
 */
export function networkVerdict(state: Pick<TestNetworkStatus, 'baseDir' | 'status' | 'running' | 'nodes'>): { line: string; exitCode: 0 | 1 } {
  const head = `network ${state.baseDir}:`;
  if (!state.running) return { line: `${head} stopped (${state.status})`, exitCode: 1 };
  const client = state.nodes.find((n) => n.role === 'client');
  if (client !== undefined && !client.alive) {
    return { line: `${head} degraded (${state.status}): its client is down, so TOR_CONTROL does not answer`, exitCode: 1 };
  }
  return { line: `${head} running (${state.status})`, exitCode: 0 };
}
