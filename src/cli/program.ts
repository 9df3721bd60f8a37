import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import createDebug from 'debug';
import type { CliContext, GlobalOptions } from './context.js';
import type { Output } from './output.js';
import { addTorCommands } from './commands/tor-commands.js';
import { addTestnetCommands } from './commands/testnet-commands.js';
import { addServeCommands } from './commands/serve-commands.js';
import { addMonitorCommand } from './commands/monitor-command.js';
import { addRelaysCommand } from './commands/relays-command.js';
import { addDemoCommand } from './commands/demo-command.js';
import { UsageError } from './errors.js';
import { TorError } from '../errors.js';

/** torcon's version, from its package.json (dist/src/cli/ is three levels below it, in the repository and in the package). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `--reply-timeout`: whole milliseconds, 0 for never. */
function replyTimeout(value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError('--reply-timeout must be a number of milliseconds (0: never)');
  return Number(value);
}

/**
 * Builds the `torcon` command tree. Kept apart from main.ts (which owns the process) so that tests
 * can run commands with captured output.
 */
export function buildProgram(output: Output, signal: AbortSignal): Command {
  const program = new Command('torcon');
  const ctx: CliContext = {
    output,
    signal,
    globals: () => program.opts<GlobalOptions>(),
  };
  program
    .description('Tor as a network endpoint: control, SOCKS, onion services and a private test network')
    .option('-c, --control <endpoint>', 'tor control endpoint (default: $TOR_CONTROL, then unix:/run/tor/control, tcp:127.0.0.1:9051, tcp:127.0.0.1:9151)')
    .addOption(
      new Option('--password <password>', 'control port password (HASHEDPASSWORD auth); set it in the environment to keep it out of ps')
        .env('TOR_CONTROL_PASSWORD'),
    )
    .option('--reply-timeout <ms>', 'give tor up as stopped or hung when it sends nothing for this long while a command waits (0: never; default 60000)', replyTimeout)
    .option('-v, --verbose', 'debug logs on stderr (secrets redacted)')
    // -v is --verbose, so the version is -V (as in many CLIs that have both)
    .version(packageVersion(), '-V, --version', "print torcon's version")
    .showHelpAfterError('(use --help for usage)')
    .configureOutput({
      writeOut: (s) => output.out.write(s),
      writeErr: (s) => output.err.write(s),
      // commander's "error: ..." becomes "torcon: ...", like every other message of ours
      outputError: (s, write) => write(s.replace(/^error: /, 'torcon: ')),
    })
    .exitOverride()
    .hook('preAction', async () => {
      if (program.opts<GlobalOptions>().verbose) {
        createDebug.enable(`torcon:*${process.env['DEBUG'] ? ',' + process.env['DEBUG'] : ''}`);
      }
      await checkControlOption(program.opts<GlobalOptions>().control);
    })
    .addHelpText(
      'after',
      '\nExamples:\n  npx torcon demo                       # private Tor network, onion service, fetch: all offline\n  torcon info version --control tcp:127.0.0.1:9051\n  torcon serve ./public --port onion:80\n  torcon run --port onion:80 -- node app.js\n  torcon monitor\n\nExit codes: 0 ok, 1 runtime error, 2 usage error.',
    );
  addDemoCommand(program, ctx);
  addTorCommands(program, ctx);
  addServeCommands(program, ctx);
  addMonitorCommand(program, ctx);
  addRelaysCommand(program, ctx);
  addTestnetCommands(program, ctx);
  addHelpCommand(program);
  return program;
}

/**
 * `torcon help [command...]`, in place of commander's own, which shows the top-level help for a
 * command it does not know (and exits 2 without saying why): ours says the command is unknown.
 * `torcon help testnet start` walks down to a subcommand.
 */
function addHelpCommand(program: Command): void {
  program.helpCommand(false);
  program
    .command('help')
    .description('display help for a command')
    .argument('[command...]', 'the command (and subcommand)')
    .action((names: string[]) => {
      let cmd = program;
      for (const name of names) {
        const sub = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (sub === undefined || sub.name() === 'help') {
          throw new UsageError(`unknown command '${[...names.slice(0, names.indexOf(name)), name].join(' ')}' (torcon --help lists them)`);
        }
        cmd = sub;
      }
      cmd.help();
    });
}

/**
 * A malformed `--control` is the user's typo, a usage error (exit 2) like a malformed `--port`, found
 * before anything starts (`torcon run` would otherwise hand it to the app as $TOR_CONTROL).
 * @throws UsageError carrying torcon's error code (`TOR_ENDPOINT_ARGUMENT`, `TOR_ENDPOINT_SYNTAX`)
 */
async function checkControlOption(control: string | undefined): Promise<void> {
  if (control === undefined) return;
  const { parseControlEndpoint } = await import('../control/transport.js');
  try {
    parseControlEndpoint(control);
  } catch (err) {
    if (err instanceof TorError) throw new UsageError(`--control: ${err.code}: ${err.message}`, { cause: err });
    throw err;
  }
}
