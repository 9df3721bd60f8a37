import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import sirv from 'sirv';
import { listen } from '../../di/endpoint-api.js';
import { connectTor } from '../../tor/connect-tor.js';
import type { Tor } from '../../tor/tor.js';
import { parseEndpoint } from '../../util/endpoint-grammar.js';
import type { CliContext } from '../context.js';
import { untilAborted } from '../context.js';
import { UsageError } from '../errors.js';
import { println, Progress } from '../output.js';

const REGISTER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'register.js');

/** `serve` (a directory on any server endpoint) and `run` (an unchanged app on an onion service). */
export function addServeCommands(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve a directory over HTTP on any server endpoint (default: an onion service)')
    .argument('[dir]', 'directory to serve', '.')
    .option('-p, --port <endpoint>', 'server endpoint string', 'onion:80')
    .addHelpText(
      'after',
      '\nExamples:\n  torcon serve ./public --port onion:80\n  torcon serve ./public --port onion:80:privateKeyFile=./site.key   # same address every time\n  torcon serve . --port tcp:8080',
    )
    .action(async (dir: string, opts: { port: string }) => {
      const root = path.resolve(dir);
      const info = await stat(root).catch(() => undefined);
      if (!info?.isDirectory()) throw new UsageError(`not a directory: ${dir}`);
      parseEndpoint(opts.port); // a syntax error is a usage error: thrown before any I/O
      const files = sirv(root, { dev: false, etag: true, dotfiles: false });
      const server = http.createServer((req, res) =>
        files(req, res, () => {
          res.statusCode = 404;
          res.setHeader('content-type', 'text/plain');
          res.end('not found\n');
        }),
      );
      const tor = await optionalTor(ctx);
      const progress = new Progress(ctx.output, 'serve');
      progress.update(undefined, `starting ${opts.port}…`);
      try {
        const endpoint = await listen(server, opts.port, { signal: ctx.signal, ...(tor ? { tor } : {}) });
        const url = endpoint.address.endsWith(':80') ? `http://${endpoint.address.slice(0, -3)}/` : `http://${endpoint.address}/`;
        progress.done(`serving ${root}`);
        println(ctx.output.out, url);
        await untilAborted(ctx.signal);
        await endpoint.close();
      } finally {
        server.close();
        server.closeAllConnections();
        await tor?.close();
      }
    });

  program
    .command('run')
    .description('run an unchanged app whose listen(process.env.PORT) lands on an endpoint (via torcon/register)')
    .requiredOption('-p, --port <endpoint>', 'server endpoint string given to the app as PORT, e.g. onion:80')
    .argument('<command...>', 'the app to run, after --')
    .addHelpText('after', '\nExamples:\n  torcon run --port onion:80 -- node app.js\n  torcon run --port onion:80:privateKeyFile=app.key -- npm start')
    .action(async (command: string[], opts: { port: string }) => {
      parseEndpoint(opts.port);
      const { control } = ctx.globals();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PORT: opts.port,
        NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${JSON.stringify(REGISTER)}`.trim(),
        ...(control ? { TOR_CONTROL: control } : {}),
      };
      const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
      const forward = () => child.kill('SIGTERM');
      ctx.signal.addEventListener('abort', forward, { once: true });
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 + 15 : 1)));
      }).finally(() => ctx.signal.removeEventListener('abort', forward));
      process.exitCode = code;
    });
}

/** A Tor for --control when given; otherwise endpoints find theirs ($TOR_CONTROL, local tor). */
async function optionalTor(ctx: CliContext): Promise<Tor | undefined> {
  const { control, password } = ctx.globals();
  if (!control) return undefined;
  return connectTor({ control, ...(password ? { password } : {}), signal: ctx.signal });
}
