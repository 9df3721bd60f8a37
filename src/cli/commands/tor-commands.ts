import { isIP } from 'node:net';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { withSocksPort, withStreamsThroughTor, withTor, type StreamsThroughTor } from '../context.js';
import { UsageError } from '../errors.js';
import { jsonLine, printable, println } from '../output.js';
import { checkEndpoint } from '../endpoint-check.js';
import { pipeStdio } from '../stdio-pipe.js';
import { lib } from '../lazy.js';
import { redactEndpoint } from '../../util/endpoint-grammar.js';
import { normalizeServiceId } from '../../onion/service-id.js';
import type { BootstrapProgress } from '../../process/bootstrap.js';
import { normalizeServers } from '../../onion/descriptor-fetch.js';
import type { TorStatus } from '../../tor/tor-status.js';
import { formatAge, formatBytes } from './format-units.js';
import { parseSocksPortOption } from '../../socks/socks-address.js';
import { socksCredentials } from '../../socks/socks-request.js';
import { redactEventText } from '../../control/events/redact.js';
import { describeFetch } from '../../socks/tor-fetch.js';

/** `info`, `events`, `bootstrap`, `newnym`, `onion-descriptor`, `resolve`, `onions`, `connect`, `fetch`: small commands against a running tor. */
export function addTorCommands(program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description("print GETINFO values (one round trip)")
    .argument('<keys...>', 'GETINFO keys, e.g. version net/listeners/socks')
    .addHelpText('after', '\nExamples:\n  torcon info version\n  torcon info status/bootstrap-phase net/listeners/socks')
    .action(async (keys: string[]) => {
      await withTor(ctx, async (tor) => {
        const values = await tor.control.getInfo(keys);
        for (const key of keys) {
          const value = printable(values[key]!);
          if (keys.length === 1) println(ctx.output.out, value);
          else if (value.includes('\n')) println(ctx.output.out, `${key}=\n${value}`);
          else println(ctx.output.out, `${key}=${value}`);
        }
      });
    });

  program
    .command('status')
    .description("what tor says of itself: version, pid, uptime, traffic, bootstrap, circuits, network, dormant")
    .option('--json', 'one JSON object (the TorStatus of tor.getStatus())')
    .addHelpText('after', '\nExamples:\n  torcon status\n  torcon status --json')
    .action(async (opts: { json?: boolean }) => {
      await withTor(ctx, async (tor) => {
        const s = await tor.getStatus({ signal: ctx.signal });
        if (opts.json) {
          println(ctx.output.out, jsonLine(s));
          return;
        }
        // tor's words (its version text, bootstrap summary, user name) go to the terminal escaped.
        for (const [label, value] of statusLines(s)) println(ctx.output.out, `${label.padEnd(13)} ${printable(value)}`);
      });
    });

  program
    .command('events')
    .description('print tor events as they arrive, until interrupted')
    .argument('<names...>', 'event names, e.g. CIRC STREAM BW')
    .option('--json', 'one JSON object per line (typed fields)')
    .option('-n, --count <n>', 'stop after N events', (v) => positiveInt(v, '--count'))
    .addHelpText('after', '\nExamples:\n  torcon events CIRC STREAM\n  torcon events BW --json --count 5')
    .action(async (names: string[], opts: { json?: boolean; count?: number }) => {
      await withTor(
        ctx,
        async (tor) => {
          let seen = 0;
          for await (const event of tor.control.events(names.map((n) => n.toUpperCase()), { signal: ctx.signal })) {
            const shown = withoutSocksPassword(event);
            println(ctx.output.out, opts.json ? jsonLine(shown) : `650 ${printable(shown.raw).replace(/\n/g, '\n    ')}`);
            if (opts.count !== undefined && ++seen >= opts.count) break;
          }
        },
        { watching: true },
      );
    });

  program
    .command('bootstrap')
    .description('wait until tor has bootstrapped (can carry traffic), printing each step')
    .option('-t, --timeout <seconds>', 'give up after this long, exit 1 (0, or none given: wait as long as it takes)', (v) => nonNegativeNumber(v, '--timeout'))
    .option('-q, --quiet', 'print nothing but an error')
    .addHelpText(
      'after',
      "\nExits 0 once tor is at 100% (at once if it already is); 1 on the timeout, saying where tor stopped and its last problem, or at once when tor's network is disabled (DisableNetwork 1), which it never finishes with. A check for a tor that has just started.\n\nExamples:\n  torcon bootstrap --timeout 120\n  torcon bootstrap -q -t 300 && node app.js",
    )
    .action(async (opts: { timeout?: number; quiet?: boolean }) => {
      const progress = opts.quiet
        ? {}
        : {
            onProgress: (p: BootstrapProgress) =>
              println(
                ctx.output.out,
                printable(`${p.percent}% ${p.summary}${p.warning !== undefined ? ` (problem: ${p.warning}${p.reason ? `, ${p.reason}` : ''}; tor keeps trying)` : ''}`),
              ),
          };
      await withTor(
        ctx,
        (tor) =>
          tor.waitForBootstrap({
            signal: ctx.signal,
            ...(opts.timeout !== undefined && opts.timeout > 0 ? { timeoutMs: opts.timeout * 1000 } : {}),
            ...progress,
          }),
        { watching: true },
      );
    });

  program
    .command('onions')
    .description('list the onion services tor runs detached (ADD_ONION with detach), or remove one')
    .option('--remove <address>', 'remove that service (DEL_ONION): exit 1 when tor has no such service', onionAddress)
    .addHelpText(
      'after',
      "\nServices made on a control connection without detach end with it, and tor shows them to that connection only; HiddenServiceDir services are tor's configuration (torcon info config-text).\n\nExamples:\n  torcon onions\n  torcon onions --remove pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
    )
    .action(async (opts: { remove?: string }) => {
      await withTor(ctx, async (tor) => {
        if (opts.remove !== undefined) {
          if (await tor.removeOnionService(opts.remove, { signal: ctx.signal })) println(ctx.output.out, `removed ${opts.remove}`);
          else {
            println(ctx.output.err, `torcon: tor runs no such service that this connection may remove: ${opts.remove}`);
            process.exitCode = 1;
          }
          return;
        }
        for (const s of await tor.listOnionServices({ signal: ctx.signal })) println(ctx.output.out, s.hostname);
      });
    });

  program
    .command('newnym')
    .description('SIGNAL NEWNYM: use new circuits for new connections')
    .addHelpText('after', '\nWaits until tor has applied it: tor applies at most one NEWNYM every 10 seconds, so a second request soon after the first waits for its turn.\n\nExamples:\n  torcon newnym\n  torcon --control tcp:127.0.0.1:9051 newnym')
    .action(async () => {
      await withTor(ctx, async (tor) => {
        const started = Date.now();
        await tor.newIdentity({ signal: ctx.signal });
        const waited = (Date.now() - started) / 1000;
        // tor's 10 s rate limit is the only reason for a wait this long
        const after = waited >= 1 ? ` (tor applied it after ${waited.toFixed(1)} s: it applies one NEWNYM every 10 s at most)` : '';
        println(ctx.output.out, `ok: new circuits will be used for new connections${after}`);
      });
    });

  program
    .command('onion-descriptor')
    .description("fetch an onion service's descriptor from the directories (HSFETCH), without connecting to it: is it published?")
    .argument('<address>', 'v3 onion address, with or without .onion')
    .option('--server <fingerprint>', 'ask this HSDir (a relay fingerprint) instead of one tor picks; may be repeated', (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'one JSON object: serviceId, source, hsDir, hsDirNickname, descriptorId, version, lifetimeMinutes, revisionCounter (a string), descriptor')
    .addHelpText(
      'after',
      '\nPrints the descriptor on stdout and where it came from on stderr; exits 1 with TOR_ONION_NOT_FOUND when no HSDir has it.\n\nExamples:\n  torcon onion-descriptor pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion\n  torcon onion-descriptor --json pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd\n  torcon onion-descriptor --server 9695DFC35FFEB861329B9F1AB04C46397020CE31 pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion',
    )
    .action(async (address: string, opts: { server?: string[]; json?: boolean }) => {
      // A malformed address or fingerprint is a usage error (exit 2), found before connecting.
      const onion = usage(() => normalizeServiceId(address, '<address>'));
      // Named as the user wrote it: the library's message names its own field (servers[0]).
      const servers = usage(() => normalizeServers(opts.server ?? []), '--server');
      await withTor(ctx, async (tor) => {
        const d = await tor.fetchOnionDescriptor(onion, { servers, signal: ctx.signal });
        if (opts.json) {
          // JSON has no bigint: the 64-bit counter goes as a decimal string.
          println(ctx.output.out, jsonLine({ ...d, revisionCounter: d.revisionCounter?.toString() }));
          return;
        }
        const from = d.source === 'cache' ? "tor's cache (no HSDir left to ask within the requery period)" : `HSDir $${d.hsDir}${d.hsDirNickname ? `~${d.hsDirNickname}` : ''}`;
        println(ctx.output.err, `descriptor of ${d.serviceId}.onion from ${from}: revision ${d.revisionCounter ?? '?'}, lifetime ${d.lifetimeMinutes ?? '?'} min`);
        println(ctx.output.out, d.descriptor.replace(/\n$/, ''));
      });
    });

  program
    .command('resolve')
    .description('resolve a hostname (or, with --ptr, an address) through tor: no local DNS')
    .argument('<name>', 'hostname or IP address')
    .option('--ptr', 'reverse lookup (RESOLVE_PTR)')
    .option(SOCKS_PORT_FLAGS, SOCKS_PORT_HELP, socksPortArgument)
    .addHelpText('after', '\nExamples:\n  torcon resolve example.com\n  torcon resolve --ptr 93.184.216.34\n  torcon resolve --socks-port 9050 example.com')
    .action(async (name: string, opts: { ptr?: boolean; socksPort?: number | string }) => {
      // The user's typo (exit 2), said before connecting, not tor's TOR_INVALID_VALUE (exit 1).
      if (opts.ptr && isIP(name.replace(/^\[(.*)\]$/, '$1')) === 0) throw new UsageError(`--ptr: ${name} is not an IPv4 or IPv6 address`);
      await throughTor(ctx, opts.socksPort, async (tor) => {
        const answer = opts.ptr ? await tor.resolvePtr(name, { signal: ctx.signal }) : await tor.resolve(name, { signal: ctx.signal });
        println(ctx.output.out, printable(answer));
      });
    });

  program
    .command('connect')
    .description('netcat through tor: stdin to the stream, the stream to stdout')
    .argument('<endpoint>', 'a tor: client endpoint string, e.g. tor:example.com:80 (HOST:PORT alone means tor:HOST:PORT)')
    .option(
      '-q, --quit-after <seconds>',
      'once stdin has ended, close after the stream was quiet this long (default: wait until the other side closes)',
      (v) => nonNegativeNumber(v, '--quit-after'),
    )
    .addHelpText(
      'after',
      '\nTor cannot half-close a stream: a client that ends its side ends the whole stream, and replies\n' +
        'still on their way are lost. So the end of stdin does not close the stream; torcon waits for the\n' +
        'other side to close it (an HTTP/1.0 server does), for --quit-after seconds of quiet, or Ctrl-C.\n' +
        '\nNo control port is needed: with no --control, $TOR_CONTROL or control= in the endpoint, and no\n' +
        "control port at the usual places, the stream goes to tor's SOCKS port (socksPort= in the endpoint,\n" +
        'else 127.0.0.1:9050, then 9150).\n' +
        '\nExamples:\n  printf "GET / HTTP/1.0\\r\\n\\r\\n" | torcon connect tor:2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:80\n  echo hello | torcon connect tor:127.0.0.1:7:isolate=a --quit-after 2',
    )
    .action(async (endpoint: string, opts: { quitAfter?: number }) => {
      const { pluginRegistry } = await lib.container();
      const registry = pluginRegistry();
      const prefix = /^([a-z][a-z0-9+.-]*):/i.exec(endpoint)?.[1];
      // A server endpoint (onion:80) would otherwise pass for HOST:PORT and become tor:onion:80,
      // a connection to a host called "onion": say what was given instead.
      if (prefix !== undefined && registry.has(prefix, 'server') && !registry.has(prefix, 'client')) {
        throw new UsageError(
          `<endpoint>: ${redactEndpoint(endpoint)} is a server endpoint, for listening (torcon serve, torcon run); ` +
            'torcon connect takes tor:HOST:PORT, e.g. tor:<56 chars>.onion:80',
        );
      }
      // HOST:PORT alone means tor:HOST:PORT, unless HOST is an endpoint prefix (tcp:8080 is not a host "tcp").
      const isEndpointString = prefix !== undefined && (registry.has(prefix) || !/^[^:]+:\d+$/.test(endpoint));
      const description = isEndpointString ? endpoint : `tor:${endpoint}`;
      const parsed = await checkEndpoint(description, 'client', '<endpoint>');
      if (parsed.prefix.toLowerCase() !== 'tor') throw new UsageError(`torcon connect takes a tor: endpoint, not ${parsed.prefix}:`);
      const run = async (tor?: StreamsThroughTor) => {
        const { connect } = await lib.endpoints();
        const socket = await connect(description, { ...(tor ? { tor } : {}), signal: ctx.signal });
        await pipeStdio(ctx, socket, opts.quitAfter);
      };
      // An endpoint that names its tor (control=) uses that one, as connect() does: no other tor is
      // looked for first (--control's, $TOR_CONTROL's), whose absence failed the command.
      const { parseTorClientOptions } = await lib.torPlugin();
      if (parseTorClientOptions(parsed).control === undefined) return withStreamsThroughTor(ctx, run);
      const { torProvider } = await lib.container();
      try {
        await run();
      } finally {
        await torProvider().closeAll();
      }
    });

  program
    .command('fetch')
    .description('HTTP(S) GET through tor; prints the body (status and headers with -i)')
    .argument('<url>', 'http:// or https:// URL (onion addresses welcome)')
    .option('-i, --include', 'print status line and headers first')
    .option('--isolate <token>', 'stream isolation token')
    .option(SOCKS_PORT_FLAGS, SOCKS_PORT_HELP, socksPortArgument)
    .addHelpText('after', '\nExamples:\n  torcon fetch http://<56 chars>.onion/\n  torcon fetch -i https://example.com/\n  torcon fetch --socks-port 9050 https://example.com/')
    .action(async (url: string, opts: { include?: boolean; isolate?: string; socksPort?: number | string }) => {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        // Not shown: what the user typed may hold credentials (user:password@) or a token.
        throw new UsageError('<url> is not a URL (an absolute http:// or https:// URL)');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('only http: and https: URLs');
      // An empty token used to be dropped: the fetch then went without the isolation asked for.
      // Checked as the SOCKS client checks it (1 to 255 bytes), but as the user's typo (exit 2).
      if (opts.isolate !== undefined) usage(() => socksCredentials({ isolate: opts.isolate }), '--isolate');
      await throughTor(ctx, opts.socksPort, async (tor) => {
        const response = await tor.fetch(parsed, { signal: ctx.signal, ...(opts.isolate !== undefined ? { isolate: opts.isolate } : {}) });
        if (opts.include) {
          // The server's words (any exit, any onion site): escaped like every other text from others.
          println(ctx.output.out, printable(`HTTP ${response.status} ${response.statusText}`));
          response.headers.forEach((value, key) => println(ctx.output.out, printable(`${key}: ${value}`)));
          println(ctx.output.out);
        }
        ctx.output.out.write(Buffer.from(await response.arrayBuffer()));
        if (!response.ok) {
          // The body is printed (it often says why); the status line names the failure.
          // Scheme, host and port only, as the library's messages: a path or query may carry a token.
          println(ctx.output.err, printable(`torcon: HTTP ${response.status} ${response.statusText} ${describeFetch(parsed)}`));
          process.exitCode = 1;
        }
      });
    });
}

const SOCKS_PORT_FLAGS = '--socks-port <port|unix:/path>';
const SOCKS_PORT_HELP = "tor's SOCKS port: go straight to it, without tor's control port (default: asked from tor, or 9050, then 9150 when no control port answers)";

/** `--socks-port`: a port number or a unix socket path; anything else is a usage error (exit 2). */
function socksPortArgument(value: string): number | string {
  let address;
  try {
    address = parseSocksPortOption(value);
  } catch {
    throw new UsageError(`--socks-port must be a port number (1-65535), an absolute unix socket path or unix:/path, got ${printable(JSON.stringify(value))}`);
  }
  return 'path' in address ? address.path : address.port;
}

/** `fetch` and `resolve`: straight to `--socks-port` when given, else as withStreamsThroughTor finds tor. */
function throughTor<T>(ctx: CliContext, socksPort: number | string | undefined, fn: (tor: Pick<StreamsThroughTor, 'fetch' | 'resolve' | 'resolvePtr'>) => Promise<T>): Promise<T> {
  return socksPort === undefined ? withStreamsThroughTor(ctx, fn) : withSocksPort(socksPort, fn);
}

/** What `check` returns; what it throws, as a usage error (exit 2). */
function usage<T>(check: () => T, option?: string): T {
  try {
    return check();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(option === undefined ? message : message.replace(/^invalid (servers\[\d+\]|isolate)/, `invalid ${option}`));
  }
}

/** `<56 chars>.onion` or the bare id, as `<id>.onion`; anything else is a usage error (exit 2). */
function onionAddress(value: string): string {
  return `${usage(() => normalizeServiceId(value, '--remove'))}.onion`;
}

export function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

/** The test network's relay count, checked as a usage error (before anything starts). */
export function relayCount(value: string, name: string): number {
  const n = positiveInt(value, name);
  if (n < 4 || n > 32) throw new UsageError(`${name} must be from 4 to 32 (paths need at least 4 relays)`);
  return n;
}

export function nonNegativeNumber(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new UsageError(`${name} must be a number of seconds (0 or more)`);
  return n;
}

/** `torcon status` as label and value lines. */
function statusLines(s: TorStatus): Array<[string, string]> {
  const b = s.bootstrap;
  const yesNo = (v: boolean) => (v ? 'yes' : 'no');
  return [
    ['version', s.version],
    ['process', `pid ${s.pid}${s.user !== undefined ? `, user ${s.user}` : ''}${s.descriptorLimit !== undefined ? `, up to ${s.descriptorLimit} descriptors` : ''}`],
    ['uptime', s.uptimeSeconds !== undefined ? formatAge(s.uptimeSeconds * 1000) : 'unknown (tor older than 0.3.5)'],
    ['traffic', `${formatBytes(s.bytesRead)} read, ${formatBytes(s.bytesWritten)} written`],
    ['bootstrap', `${b.percent}% ${b.summary}${b.warning !== undefined ? ` (problem: ${b.warning}${b.reason !== undefined ? `, ${b.reason}` : ''})` : ''}`],
    ['circuit', yesNo(s.circuitEstablished)],
    ['dir info', s.enoughDirInfo ? 'enough' : 'not enough'],
    // tor's network-liveness can still say "up" with the network disabled: what it last saw.
    ['network', s.networkDisabled ? 'disabled (DisableNetwork 1): tor makes no connection' : s.networkLive ? 'up' : 'down'],
    ['dormant', yesNo(s.dormant)],
    ['hibernating', s.hibernating === 'awake' ? 'no' : s.hibernating],
    ['streams', s.streamsLeftUnattached ? 'left unattached (__LeaveStreamsUnattached 1): a controller must attach each one, or it goes nowhere' : 'attached by tor'],
  ];
}

/**
 * An event as the CLI shows it: tor echoes each stream's SOCKS password in CIRC and STREAM events,
 * and for torcon's streams that is the isolation token, which a terminal or a log must not get.
 */
function withoutSocksPassword<E extends { raw: string }>(event: E): E {
  const raw = redactEventText(event.raw);
  if (raw === event.raw && (event as { socksPassword?: unknown }).socksPassword === undefined) return event;
  const shown = { ...event, raw };
  if ((event as { socksPassword?: unknown }).socksPassword !== undefined) (shown as { socksPassword?: string }).socksPassword = '[redacted]';
  return shown;
}
