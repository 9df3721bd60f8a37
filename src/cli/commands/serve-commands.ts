import { realpath, stat } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';
import type { Command } from 'commander';
import type { Tor } from '../../tor/tor.js';
import { TorAbortError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { connectOptions, untilAborted } from '../context.js';
import { passSignalsOn, signalApp, spawnApp } from '../app-signals.js';
import { CommandNotRunError, describeError, Interrupted, UsageError } from '../errors.js';
import { checkEndpoint } from '../endpoint-check.js';
import { CLIENT_AUTH_HINT, clientAuthLines } from '../client-auth-lines.js';
import { println, Progress } from '../output.js';
import { lib } from '../lazy.js';
import { staticFiles } from '../static-files.js';
import { isRepublished } from '../../plugins/republish.js';
import { parseEndpoint, redactEndpoint } from '../../util/endpoint-grammar.js';

/** Loaded into the app by `run`: torcon/register plus a line saying where the app is reachable. */
const ANNOUNCE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'run-announce.js');

/** `serve` (a directory on any server endpoint) and `run` (an unchanged app on an onion service). */
export function addServeCommands(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve a directory over HTTP on any server endpoint (default: an onion service)')
    .argument('[dir]', 'directory to serve', '.')
    .option('-p, --port <endpoint>', 'server endpoint string', 'onion:80')
    .addHelpText(
      'after',
      '\nWith clientAuth=NAME,... each client\'s key is printed on stdout after the URL, as the line its tor\n' +
        'needs in NAME.auth_private, and shown only then: new keys at every start, unless clientAuthDir=DIR\n' +
        'keeps the clients (a client kept from before gets a line saying so, and keeps its key). Every\n' +
        'NAME.auth file in DIR is let in, as in tor\'s own authorized_clients: clientAuth= adds clients, it\n' +
        'does not limit them; delete a client\'s file to revoke it.\n' +
        '\nExamples:\n  torcon serve ./public --port onion:80\n  torcon serve ./public --port onion:80:privateKeyFile=./site.key   # same address every time\n  torcon serve ./public --port onion:80:republish=true             # published again after tor restarts\n  torcon serve ./private --port onion:80:clientAuth=alice,bob      # only alice and bob can reach it\n  torcon serve . --port tcp:8080',
    )
    .action(async (dir: string, opts: { port: string }) => {
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) throw new UsageError(`not a directory: ${dir}`);
      // Its real path: what is served must resolve inside it (see static-files.ts).
      const root = await realpath(dir);
      await checkEndpoint(opts.port, 'server', '--port'); // a typo is a usage error, found before any I/O
      const { listen } = await lib.endpoints();
      const server = http.createServer(staticFiles(root));
      const tor = await optionalTor(ctx);
      const progress = new Progress(ctx.output, 'serve');
      progress.update(undefined, `starting ${redactEndpoint(opts.port)}…`);
      try {
        const endpoint = await listen(server, opts.port, { signal: ctx.signal, ...(tor ? { tor } : {}) });
        // A unix socket has no http:// URL: its path is printed as the unix: endpoint it is. A
        // tls: endpoint serves HTTPS, whose URL leaves out 443 (and keeps 80).
        const https = parseEndpoint(opts.port).prefix === 'tls';
        const defaultPort = https ? ':443' : ':80';
        const url = endpoint.address.startsWith('/')
          ? `unix:${endpoint.address}`
          : `${https ? 'https' : 'http'}://${endpoint.address.endsWith(defaultPort) ? endpoint.address.slice(0, -defaultPort.length) : endpoint.address}/`;
        progress.done(`serving ${root} on ${redactEndpoint(opts.port)} until Ctrl-C`);
        println(ctx.output.out, url);
        // clientAuth=: each client's key, with the URL (the result), the one time it is known.
        const keys = clientAuthLines(endpoint);
        if (keys.length > 0) {
          println(ctx.output.err, `serve: ${CLIENT_AUTH_HINT}`);
          for (const line of keys) println(ctx.output.out, line);
        }
        await Promise.race([untilAborted(ctx.signal), untilLost(endpoint, ctx, opts.port)]).catch((err: unknown) => {
          println(ctx.output.err, `serve: ${redactEndpoint(opts.port)} is gone (tor dropped the onion service with its control connection)`);
          throw err;
        });
        await endpoint.close();
        println(ctx.output.err, `serve: stopped; ${redactEndpoint(opts.port)} closed`);
      } finally {
        server.close();
        server.closeAllConnections();
        await tor?.close();
      }
    });

  program
    .command('run')
    .description('run an unchanged Node app whose listen(process.env.PORT) lands on an endpoint (via torcon/register)')
    .requiredOption('-p, --port <endpoint>', 'server endpoint string given to the app as PORT, e.g. onion:80')
    .argument('<command...>', 'the app to run, after --')
    .configureOutput({
      ...program.configureOutput(),
      // `torcon run --port onion:80 node -e ...`: the app's options were taken for torcon's.
      outputError: (text, write) =>
        write(
          text.replace(/^error: /, 'torcon: ') +
            (/unknown option/.test(text) ? "torcon: the app's own options go after --, as in: torcon run --port onion:80 -- node app.js\n" : ''),
        ),
    })
    .addHelpText(
      'after',
      '\nThe app gets PORT=<endpoint> and NODE_OPTIONS="--import <torcon>/cli/run-announce.js", which loads\n' +
        'torcon/register (server.listen("onion:80") publishes an onion service) and prints the onion\n' +
        'address on stderr once it is published (with clientAuth=NAME,... each client\'s key too, as the line\n' +
        'its tor needs in NAME.auth_private). The app runs in a session of its own, and torcon run passes\n' +
        'each signal on to it (Ctrl-C, kill, SIGHUP, SIGQUIT, SIGUSR2, a resize): once, however it came;\n' +
        'Ctrl-Z stops both. torcon run exits with the app\'s exit code (128+N when signal N ended it; 127\n' +
        'when there is no such command, 126 when it cannot be run, as a shell does).\n' +
        '\nExamples:\n  torcon run --port onion:80 -- node app.js\n  torcon run --port onion:80:privateKeyFile=app.key -- npm start',
    )
    .action(async (command: string[], opts: { port: string }) => {
      await checkEndpoint(opts.port, 'server', '--port');
      const { control, password } = ctx.globals();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PORT: opts.port,
        NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${JSON.stringify(pathToFileURL(ANNOUNCE).href)}`.trim(),
        ...(control ? { TOR_CONTROL: control } : {}),
        // In the environment, not on a command line that `ps` shows: connectTor reads it.
        ...(password ? { TOR_CONTROL_PASSWORD: password } : {}),
      };
      // An interrupt that came while torcon was starting (checking --port loads the library) has
      // already fired: the listener below would never hear it, and the app would run on, its
      // signal lost. Not started, then; the exit code says which signal, as for every command.
      if (ctx.signal.aborted) throw new TorAbortError('starting the app', { cause: ctx.signal.reason });
      println(ctx.output.err, `run: ${command.join(' ')}  (PORT=${redactEndpoint(opts.port)}, torcon/register loaded)`);
      const child = spawnApp(command[0]!, command.slice(1), env);
      // The app is in a session of its own (see app-signals.ts): whether the interrupt came from
      // the terminal (to torcon's whole group) or to torcon alone, it reaches the app only from here.
      const forward = () => {
        const reason = ctx.signal.reason as unknown;
        signalApp(child, reason instanceof Interrupted ? reason.signal : 'SIGTERM');
      };
      ctx.signal.addEventListener('abort', forward, { once: true });
      const stopPassingOn = passSignalsOn(child);
      // A second interrupt makes torcon exit at once: the app (and its onion service) must not
      // outlive it, whatever it does with the signal it was passed.
      const killOnExit = () => signalApp(child, 'SIGKILL');
      process.once('exit', killOnExit);
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            err.code === 'ENOENT'
              ? new CommandNotRunError(`cannot run ${command[0]}: command not found`, 127)
              : err.code === 'EACCES'
                ? new CommandNotRunError(`cannot run ${command[0]}: permission denied (a directory, or a file without execute permission)`, 126)
                : err,
          ),
        );
        child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1)));
      }).finally(() => {
        ctx.signal.removeEventListener('abort', forward);
        stopPassingOn();
        process.off('exit', killOnExit);
      });
      process.exitCode = code;
    });
}

/** `1 s`, `30 s`: the republish loop's waits are whole seconds. */
function formatSeconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/**
 * Rejects when an onion service is lost (`lost`: its tor died or its control connection closed),
 * so that serve exits 1 saying so instead of serving an address nobody can reach any more. Other
 * endpoints have no such event: for them it never settles. A service with `republish=true` is
 * published again by torcon: serve says so each time (and each failed try), and goes on, unless
 * torcon gives up (the tor that came back gave another address): then it exits 1 as well.
 */
export function untilLost(endpoint: object, ctx: CliContext, port: string): Promise<never> {
  return new Promise((_, reject) => {
    if (!(endpoint instanceof EventEmitter)) return;
    if (!isRepublished(endpoint)) {
      endpoint.once('lost', reject);
      return;
    }
    endpoint.on('lost', (err: Error) =>
      println(ctx.output.err, `serve: ${redactEndpoint(port)} is gone (${err.message}); publishing it again once a tor is back (republish=true)`),
    );
    endpoint.on('republished', () => println(ctx.output.err, `serve: ${redactEndpoint(port)} published again`));
    endpoint.on('republishFailed', (err: Error, nextTryMs: number | undefined) => {
      // Given up: the address is gone for good, as for a service without republish=true.
      if (nextTryMs === undefined) reject(err);
      else println(ctx.output.err, `serve: ${redactEndpoint(port)} not published yet (${describeError(err)}); next try in ${formatSeconds(nextTryMs)}`);
    });
  });
}

/**
 * A Tor for --control or --password when given; otherwise endpoints find theirs (their own
 * `control=`, $TOR_CONTROL, a local tor).
 */
async function optionalTor(ctx: CliContext): Promise<Tor | undefined> {
  const { control, password } = ctx.globals();
  if (!control && !password) return undefined;
  const { connectTor } = await lib.connectTor();
  return connectTor(connectOptions(ctx));
}
