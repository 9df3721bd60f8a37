import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { describeError, exitCodeFor, UsageError } from '../../src/cli/errors.js';
import { networkVerdict } from '../../src/cli/commands/testnet-commands.js';
import { Progress, type Output } from '../../src/cli/output.js';
import { overallPercent } from '../../src/cli/network-progress.js';
import { pipeStdio } from '../../src/cli/stdio-pipe.js';
import { checkEndpoint } from '../../src/cli/endpoint-check.js';
import { clientAuthLines } from '../../src/cli/client-auth-lines.js';
import { clientAuthPublicKey, generateClientAuthKey, parseClientAuthPrivateKey } from '../../src/onion/client-auth.js';
import type { CliContext } from '../../src/cli/context.js';
import { TorAbortError, TorControlClosedError, TorControlError, TorInvalidValueError, TorNotAvailableError, TorSocksError } from '../../src/errors.js';

/** The CLI's pure parts, in process: help texts, usage errors, error lines, progress, stdio piping. */

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

function captured(interactive = false): Output & { out: Capture; err: Capture } {
  return { out: new Capture(), err: new Capture(), interactive };
}

/** Parses argv with a fresh program; resolves with the exit code the CLI would use. */
async function parse(argv: string[]): Promise<{ code: number; out: string; err: string; error?: unknown }> {
  const output = captured();
  const program = buildProgram(output, new AbortController().signal);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { code: 0, out: output.out.text, err: output.err.text };
  } catch (error) {
    return { code: exitCodeFor(error), out: output.out.text, err: output.err.text, error };
  }
}

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  const paths: string[][] = [];
  for (const sub of cmd.commands) {
    if ((sub as unknown as { _hidden?: boolean })._hidden || sub.name() === 'help') continue;
    paths.push([...prefix, sub.name()], ...commandPaths(sub, [...prefix, sub.name()]));
  }
  return paths;
}

describe('cli: program and help', () => {
  const all = commandPaths(buildProgram(captured(), new AbortController().signal));

  it('has the commands the README lists', () => {
    const names = all.map((p) => p.join(' '));
    for (const name of ['demo', 'serve', 'run', 'monitor', 'connect', 'fetch', 'resolve', 'onion-descriptor', 'events', 'info', 'newnym', 'testnet start', 'testnet status', 'testnet stop']) {
      assert.ok(names.includes(name), `missing command ${name}; have ${names.join(', ')}`);
    }
  });

  it('--help of the program and of every command has an "Examples:" section and exits 0', async () => {
    for (const path of [[], ...all]) {
      const r = await parse([...path, '--help']);
      assert.equal(r.code, 0, `${path.join(' ')}: ${String(r.error)}`);
      assert.match(r.out, /^Usage: torcon/m, path.join(' '));
      assert.match(r.out, /\nExamples:\n {2}\S/, `no Examples in help of "${path.join(' ')}"`);
    }
  });

  it('--version and -V print the version of package.json and exit 0', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await parse([flag]);
      assert.equal(r.code, 0, String(r.error));
      assert.equal(r.out, `${version}\n`);
    }
  });

  it('usage errors are exit code 2 with a "torcon:" message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /^torcon: unknown command 'frobnicate'/],
      [['info', '--frob'], /^torcon: unknown option '--frob'/],
      [['info'], /^torcon: missing required argument 'keys'/],
      [['run', '--', 'node', 'app.js'], /^torcon: required option '-p, --port <endpoint>' not specified/],
    ];
    for (const [argv, message] of cases) {
      const r = await parse(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, message, argv.join(' '));
      assert.equal(r.out, '');
    }
  });

  it('bad option values are UsageErrors (exit 2)', async () => {
    for (const argv of [
      ['events', 'BW', '--count', '0'],
      ['events', 'BW', '--count', 'x'],
      ['monitor', '--interval', '0'],
      ['connect', 'tor:127.0.0.1:7', '--quit-after', 'soon'],
      ['testnet', 'start', '--relays', 'four'],
      ['testnet', 'start', '--relays', '2'],
      ['demo', '--relays', '99'],
    ]) {
      const r = await parse(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${String(r.error)}`);
      assert.ok(r.error instanceof UsageError, argv.join(' '));
    }
  });

  it('fetch --isolate with an empty or over-long token is a usage error, not a fetch without isolation', async () => {
    // --socks-port at a port where nothing listens: the old code went on to fetch there, no default place is tried.
    const nothing = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => nothing.once('listening', resolve));
    const closed = (nothing.address() as net.AddressInfo).port;
    await new Promise((resolve) => nothing.close(resolve));
    for (const token of ['', 'x'.repeat(256)]) {
      const r = await parse(['fetch', '--socks-port', String(closed), '--isolate', token, 'http://127.0.0.1:1/']);
      assert.equal(r.code, 2, String(r.error));
      assert.ok(r.error instanceof UsageError);
      assert.match((r.error as Error).message, /^invalid --isolate: must be 1 to 255 bytes long \(got (0|256)\)$/);
    }
  });

  it('monitor --interval longer than a timer can hold (2^31-1 ms) is a usage error, not a redraw every millisecond', async () => {
    // a control port nothing listens on: going on to connect would be exit 1 (TOR_NOT_AVAILABLE)
    const r = await parse(['--control', 'tcp:127.0.0.1:1', 'monitor', '--interval', '3000000000']);
    assert.equal(r.code, 2, String(r.error));
    assert.ok(r.error instanceof UsageError);
    assert.match((r.error as Error).message, /--interval/);
    assert.equal((await parse(['monitor', '--interval', String(2 ** 31 - 1), '--help'])).code, 0, 'the longest a timer holds is fine');
  });

  it('resolve --ptr with something that is not an IP address is a usage error, found before connecting', async () => {
    for (const name of ['example.com', 'notanip', '1.2.3']) {
      // a control port nothing listens on: reaching for tor would be exit 1 (TOR_NOT_AVAILABLE)
      const r = await parse(['--control', 'tcp:127.0.0.1:1', 'resolve', '--ptr', name]);
      assert.equal(r.code, 2, `${name}: ${String(r.error)}`);
      assert.ok(r.error instanceof UsageError, name);
      assert.match((r.error as Error).message, /IPv4 or IPv6 address/);
    }
  });

  it('endpoint strings are checked before any I/O; a bad one is a usage error with torcon\'s code', async () => {
    assert.equal((await checkEndpoint('onion:80:privateKeyFile=/tmp/k', 'server', '--port')).prefix, 'onion');
    await assert.rejects(checkEndpoint('onion:80:nokey=1', 'server', '--port'), (e: Error) => e instanceof UsageError && /^--port: TOR_ENDPOINT_ARGUMENT: .*nokey/.test(e.message));
    await assert.rejects(checkEndpoint('tor:host:80', 'server', '--port'), (e: Error) => e instanceof UsageError && /TOR_ENDPOINT_UNKNOWN/.test(e.message));
    await assert.rejects(checkEndpoint('tor:host:80:x\\', 'client', '<endpoint>'), (e: Error) => e instanceof UsageError && /TOR_ENDPOINT_SYNTAX/.test(e.message));
    const r = await parse(['connect', 'tcp:127.0.0.1:9']);
    assert.equal(r.code, 2);
    assert.match(String((r.error as Error).message), /takes a tor: endpoint/);
  });

  it('connect with a server endpoint (onion:80) is a usage error saying so, not a connection to a host "onion"', async () => {
    // --control to a closed port: were the string taken for tor:onion:80, no tor would be reached.
    const secret = 'ED25519-V3\\:c2VjcmV0';
    for (const given of ['onion:80', 'ONION:443', `onion:80:privateKey=${secret}`]) {
      const r = await parse(['--control', 'tcp:127.0.0.1:1', 'connect', given]);
      assert.equal(r.code, 2, `${given}: ${String(r.error)}`);
      const message = String((r.error as Error).message);
      assert.match(message, /is a server endpoint, for listening .*torcon connect takes tor:HOST:PORT/, given);
      assert.ok(!message.includes('c2VjcmV0'), 'a private key in the string is not repeated');
    }
    // An endpoint prefix is never taken for a host name either: tcp:8080 is no tor:tcp:8080.
    const tcp = await parse(['--control', 'tcp:127.0.0.1:1', 'connect', 'tcp:8080']);
    assert.equal(tcp.code, 2, String(tcp.error));
  });
});

describe('cli: connect with control= in its endpoint', () => {
  it('uses the tor control= names and looks for no other first (--control\'s, $TOR_CONTROL\'s), as connect() does', async () => {
    const nothing = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => nothing.once('listening', resolve));
    const closed = (nothing.address() as net.AddressInfo).port;
    await new Promise((resolve) => nothing.close(resolve));
    // Nothing listens at either: the error says which tor the command tried.
    const r = await parse(['--control', 'tcp:127.0.0.1:1', 'connect', `tor:127.0.0.1:7:control=${closed}`]);
    assert.equal(r.code, 1, String(r.error));
    assert.match(String((r.error as Error).message), new RegExp(`^cannot reach tor's control port at tcp:127\\.0\\.0\\.1:${closed};`));
  });
});

describe('cli: --control', () => {
  it('a malformed --control is a usage error (exit 2) with its error code, before any command runs', async () => {
    for (const [control, code] of [['garbage', 'TOR_ENDPOINT_ARGUMENT'], ['tcp:127.0.0.1', 'TOR_ENDPOINT_ARGUMENT'], ['tcp:127.0.0.1:99999', 'TOR_ENDPOINT_ARGUMENT'], ['tcp:h:1\\', 'TOR_ENDPOINT_SYNTAX']] as const) {
      for (const command of [['info', 'version'], ['run', '--port', 'onion:80', '--', 'no-such-command-torcon-test']]) {
        const r = await parse(['--control', control, ...command]);
        assert.equal(r.code, 2, `${control} ${command[0]}: ${String(r.error)}`);
        assert.ok(r.error instanceof UsageError, String(r.error));
        assert.match(r.error.message, new RegExp(`^--control: ${code}: `));
      }
    }
  });
});

describe('cli: testnet start interrupted', () => {
  it('exits as interrupted (TOR_ABORTED, so 128+signal) and leaves no directory of its own behind', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-test-tmpdir-'));
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = tmp; // where start makes the network directory, and the daemon's env
    try {
      const output = captured();
      // Interrupted before the daemon reported anything: it is stopped before it starts a node.
      const program = buildProgram(output, AbortSignal.abort());
      const error = await program.parseAsync(['testnet', 'start'], { from: 'user' }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof TorAbortError, String(error));
      assert.deepEqual(await readdir(tmp), [], 'the network directory made for it is removed');
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('cli: client authorization keys (serve, run)', () => {
  it("one line per client: NAME.auth_private, then that file's content, which the key parser takes whole", () => {
    const serviceId = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
    const alice = generateClientAuthKey('alice');
    const bob = generateClientAuthKey('bob');
    const lines = clientAuthLines({ address: `${serviceId}.onion:80`, serviceId, hostname: `${serviceId}.onion`, clientAuth: [alice, bob], close: async () => undefined } as never);
    assert.deepEqual(lines, [
      `alice.auth_private: ${serviceId}:descriptor:x25519:${alice.privateKey}`,
      `bob.auth_private: ${serviceId}:descriptor:x25519:${bob.privateKey}`,
    ]);
    const content = lines[0]!.slice('alice.auth_private: '.length);
    assert.equal(clientAuthPublicKey(parseClientAuthPrivateKey(content)), alice.publicKey);
    for (const endpoint of [{ address: '127.0.0.1:8080' }, { address: `${serviceId}.onion:80`, serviceId }, { address: `${serviceId}.onion:80`, serviceId, clientAuth: [] }]) {
      assert.deepEqual(clientAuthLines({ ...endpoint, close: async () => undefined } as never), []);
    }
  });

  it('a client kept from an earlier start (clientAuthDir) has no key to show: its line says it keeps the one it has', () => {
    const serviceId = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
    const kept = { name: 'carol', publicKey: generateClientAuthKey('carol').publicKey };
    const lines = clientAuthLines({ address: `${serviceId}.onion:80`, serviceId, clientAuth: [kept], close: async () => undefined } as never);
    // The address in the line the client holds may be an old one (no privateKeyFile=): the line names the current one.
    assert.deepEqual(lines, [`carol: authorized with the key it was given before (its NAME.auth_private line must name ${serviceId}: a service without privateKeyFile= has a new address at each start)`]);
  });

  it('serve --help does not promise new client keys every time: clientAuthDir= keeps them across starts', async () => {
    const r = await parse(['serve', '--help']);
    assert.equal(r.code, 0, String(r.error));
    assert.doesNotMatch(r.out, /new keys every time/);
    assert.match(r.out, /clientAuthDir=/);
    // Every client with a file in DIR is let in: dropping a name from clientAuth= revokes nobody.
    assert.match(r.out.replace(/\s+/g, ' '), /Every NAME\.auth file in DIR is let in, .* clientAuth= adds clients, it does not limit them; delete a client's file to revoke it/);
  });
});

describe('cli: testnet status and start', () => {
  const node = (role: 'authority' | 'client', alive: boolean) => ({ nickname: role === 'client' ? 'client' : 'auth0', role, alive, dataDir: '/d', torrcPath: '/t', controlPort: 1 });
  it('status: running, stopped, or degraded (exit 1) when the client TOR_CONTROL points at is down', () => {
    const base = { baseDir: '/tmp/tn', status: 'ready' as const };
    assert.deepEqual(networkVerdict({ ...base, running: true, nodes: [node('authority', true), node('client', true)] }), { line: 'network /tmp/tn: running (ready)', exitCode: 0 });
    assert.deepEqual(networkVerdict({ ...base, running: true, nodes: [node('authority', true), node('client', false)] }), {
      line: 'network /tmp/tn: degraded (ready): its client is down, so TOR_CONTROL does not answer',
      exitCode: 1,
    });
    assert.deepEqual(networkVerdict({ ...base, running: false, nodes: [node('authority', false), node('client', false)] }), { line: 'network /tmp/tn: stopped (ready)', exitCode: 1 });
  });

  it('start refuses a --dir tor could not take before starting anything (exit 2)', async () => {
    const r = await parse(['testnet', 'start', '--dir', '/tmp/torcon no such dir']);
    assert.equal(r.code, 2);
    assert.ok(r.error instanceof TorInvalidValueError && /invalid --dir: must be an absolute path/.test(r.error.message), String(r.error));
  });
});

describe('cli: fetch', () => {
  it('a URL it cannot read is a usage error that does not repeat it (it may hold user:password@)', async () => {
    const r = await parse(['fetch', 'http://u:PLANTEDPW@[zz/']);
    assert.equal(r.code, 2);
    assert.ok(r.error instanceof UsageError);
    assert.equal(r.error.message, '<url> is not a URL (an absolute http:// or https:// URL)');
  });
});

describe('cli: run', () => {
  it("an option of the app given before -- is a usage error that says where the app's options go", async () => {
    const r = await parse(['run', '--port', 'onion:80', 'node', '-e', '1']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^torcon: unknown option '-e'\ntorcon: the app's own options go after --, as in: torcon run --port onion:80 -- node app\.js\n/);
  });
});

describe('cli: help', () => {
  it('help COMMAND shows that command\'s help (subcommands too); an unknown one is a usage error saying so', async () => {
    const top = await parse(['help']);
    assert.equal(top.code, 0);
    assert.match(top.out, /^Usage: torcon \[options\] \[command\]/);
    const info = await parse(['help', 'info']);
    assert.equal(info.code, 0);
    assert.match(info.out, /^Usage: torcon info /);
    const start = await parse(['help', 'testnet', 'start']);
    assert.equal(start.code, 0);
    assert.match(start.out, /^Usage: torcon testnet start /);
    for (const [argv, named] of [[['help', 'nosuch'], 'nosuch'], [['help', 'testnet', 'nosuch'], 'testnet nosuch']] as const) {
      const r = await parse([...argv]);
      assert.equal(r.code, 2);
      assert.ok(r.error instanceof UsageError, String(r.error));
      assert.equal(r.error.message, `unknown command '${named}' (torcon --help lists them)`);
      assert.equal(r.out, '', 'no top-level help printed for an unknown command');
    }
  });
});

describe('cli: error lines and exit codes', () => {
  it('exit codes: usage 2, commander help 0, anything else 1', () => {
    assert.equal(exitCodeFor(new UsageError('x')), 2);
    assert.equal(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')), 0);
    assert.equal(exitCodeFor(new CommanderError(1, 'commander.unknownOption', 'x')), 2);
    assert.equal(exitCodeFor(new TorControlError(552, 'Unrecognized key "x"', 'GETINFO')), 1);
    assert.equal(exitCodeFor(new Error('boom')), 1);
    // A value refused before anything was sent is, on the command line, one the user typed.
    assert.equal(exitCodeFor(new TorInvalidValueError('GETINFO key', 'must not be empty')), 2);
  });

  it('one line: torcon code first, then the causes that add something', () => {
    assert.equal(describeError(new TorControlError(552, 'Unrecognized key "x"', 'GETINFO')), 'TOR_CONTROL_ERROR: GETINFO: tor replied 552 Unrecognized key "x"');
    const socks = new TorSocksError('TOR_SOCKS_CONNECTION_REFUSED', 'connect to 127.0.0.1:9 through tor failed: connection refused', 5);
    assert.equal(
      describeError(new TypeError('fetch failed', { cause: socks })),
      'fetch failed: TOR_SOCKS_CONNECTION_REFUSED: connect to 127.0.0.1:9 through tor failed: connection refused',
    );
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(describeError(new TypeError('fetch failed', { cause: reset })), 'fetch failed: ECONNRESET: socket hang up');
    assert.equal(describeError(new Error('first\nsecond')), 'first');
    // An outer error that quotes its cause's message says it once (torcon events when tor dies).
    const closed = new TorControlClosedError('the Tor control connection closed: connection closed by tor');
    assert.equal(
      describeError(new TorControlClosedError(`event stream ended: ${closed.message}`, { cause: closed })),
      'TOR_CONTROL_CLOSED: event stream ended: the Tor control connection closed: connection closed by tor',
    );
    assert.equal(describeError('plain string'), 'plain string');
    // A code the outer message already names is not said again (CLI QA saw both twice).
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(
      describeError(new TorNotAvailableError("cannot reach tor's control port at tcp:127.0.0.1:1", ['tcp:127.0.0.1:1 (ECONNREFUSED)'], { cause: refused })),
      "TOR_NOT_AVAILABLE: cannot reach tor's control port at tcp:127.0.0.1:1; tried: tcp:127.0.0.1:1 (ECONNREFUSED)",
    );
    const hung = new TorControlClosedError('PROTOCOLINFO failed: tor sent nothing for 1 ms');
    assert.equal(
      describeError(new TorNotAvailableError("cannot reach tor's control port at tcp:127.0.0.1:9051", ['tcp:127.0.0.1:9051 (TOR_CONTROL_CLOSED)'], { cause: hung })),
      "TOR_NOT_AVAILABLE: cannot reach tor's control port at tcp:127.0.0.1:9051; tried: tcp:127.0.0.1:9051 (TOR_CONTROL_CLOSED): PROTOCOLINFO failed: tor sent nothing for 1 ms",
    );
    const wrapped = new UsageError('--port: TOR_ENDPOINT_ARGUMENT: bad', { cause: Object.assign(new Error('bad'), { code: 'TOR_ENDPOINT_ARGUMENT' }) });
    assert.equal(describeError(wrapped), '--port: TOR_ENDPOINT_ARGUMENT: bad', 'a cause already in the message is not repeated');
  });
});

describe('cli: progress', () => {
  it('not a terminal: one plain line per distinct message, percentage never going back', () => {
    const output = captured(false);
    const p = new Progress(output, 'network');
    p.update(10, 'keys: generating');
    p.update(10, 'keys: generating');
    p.update(5, 'node: started auth0');
    p.update(undefined, 'waiting');
    p.done('ready in 12.0 s');
    assert.equal(output.err.text, 'network: 10% keys: generating\nnetwork: 10% node: started auth0\nnetwork: waiting\nnetwork: ready in 12.0 s\n');
    assert.ok(!output.err.text.includes('\r'));
    assert.equal(output.out.text, '');
  });

  it('a terminal: a bar redrawn in place, cleared before the final line', () => {
    const output = captured(true);
    const p = new Progress(output, 'network');
    p.update(50, 'consensus: 4/4 relays');
    p.update(100, 'ready');
    p.done('ready in 9.9 s');
    const text = output.err.text;
    assert.ok(text.startsWith('\r\x1b[2Knetwork: [############............]  50% consensus: 4/4 relays'), JSON.stringify(text));
    assert.ok(text.includes('\r\x1b[2Knetwork: [########################] 100% ready'), JSON.stringify(text));
    assert.ok(text.endsWith('\r\x1b[2Knetwork: ready in 9.9 s\n'), JSON.stringify(text));
    assert.equal(text.split('\n').length, 2, 'only the final line ends with a newline');
  });

  it('a terminal: the line fits its width; a pty that reports 0 columns gets the whole line', () => {
    const narrow = captured(true);
    Object.assign(narrow.err, { columns: 30 });
    new Progress(narrow, 'network').update(50, 'consensus: 4/4 relays');
    assert.equal(narrow.err.text, '\r\x1b[2K' + 'network: [############............]  50% consensus: 4/4 relays'.slice(0, 29));
    const sizeless = captured(true);
    Object.assign(sizeless.err, { columns: 0 });
    new Progress(sizeless, 'network').update(50, 'consensus: 4/4 relays');
    assert.ok(sizeless.err.text.endsWith('consensus: 4/4 relays'), JSON.stringify(sizeless.err.text));
  });

  it('network phases map onto one forward-moving bar', () => {
    const reports = [
      { phase: 'keys', percent: 0 },
      { phase: 'keys', percent: 100 },
      { phase: 'node' },
      { phase: 'consensus', percent: 0 },
      { phase: 'consensus', percent: 100 },
      { phase: 'bootstrap', percent: 5 },
      { phase: 'bootstrap', percent: 100 },
      { phase: 'exit-check' },
      { phase: 'ready', percent: 100 },
    ].map((r) => overallPercent({ message: '', ...r })!);
    for (let i = 1; i < reports.length; i++) assert.ok(reports[i]! >= reports[i - 1]!, `${reports.join(', ')}`);
    assert.equal(reports[0], 0);
    assert.equal(reports.at(-1), 100);
    assert.equal(overallPercent({ phase: 'something-new', message: '' }), undefined);
  });
});

describe('cli: connect piping (no half-close)', () => {
  let server: net.Server;
  let port: number;
  let halfClosedByClient = false;
  const sockets = new Set<net.Socket>();

  before(async () => {
    // An echo server that, like tor, would see a client FIN: we record whether one came.
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      sockets.add(s);
      s.on('data', (d) => s.write(d));
      s.on('end', () => {
        halfClosedByClient = true;
        s.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  function context(abort = new AbortController()): CliContext & { output: Output & { out: Capture } } {
    return { output: captured(), signal: abort.signal, globals: () => ({}) };
  }

  function open(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  }

  it('stdin ending does not end the stream; the reply still arrives; --quit-after closes after quiet', async () => {
    halfClosedByClient = false;
    const ctx = context();
    const stdin = new PassThrough();
    const socket = await open();
    const done = pipeStdio(ctx, socket, 0.2, stdin);
    stdin.end('ping\n');
    await done;
    assert.equal(ctx.output.out.text, 'ping\n');
  });

  it('without --quit-after, the stream stays open after stdin ends until the other side closes it', async () => {
    halfClosedByClient = false;
    const ctx = context();
    const stdin = new PassThrough();
    const socket = await open();
    let closed = false;
    const done = pipeStdio(ctx, socket, undefined, stdin).then(() => (closed = true));
    stdin.end('hello\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(closed, false, 'still open after stdin ended');
    assert.equal(halfClosedByClient, false, 'no FIN was sent when stdin ended');
    assert.equal(ctx.output.out.text, 'hello\n');
    for (const s of sockets) s.end(); // the server closes
    await done;
    assert.equal(closed, true);
  });

  it('a --quit-after longer than a timer can hold (over 24.8 days) still waits, not closes at once', async () => {
    const ctx = context();
    const stdin = new PassThrough();
    const socket = await open();
    let closed = false;
    const done = pipeStdio(ctx, socket, 3_000_000, stdin).then(() => (closed = true));
    stdin.end('long wait\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(closed, false, 'still open after stdin ended');
    assert.equal(ctx.output.out.text, 'long wait\n');
    for (const s of sockets) s.end(); // the server closes
    await done;
  });

  it('an abort (Ctrl-C) closes the stream', async () => {
    const abort = new AbortController();
    const ctx = context(abort);
    const socket = await open();
    const done = pipeStdio(ctx, socket, undefined, new PassThrough());
    abort.abort();
    await done;
    assert.ok(socket.destroyed);
  });
});
