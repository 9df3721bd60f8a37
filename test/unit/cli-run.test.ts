import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { buildProgram } from '../../src/cli/program.js';
import { Interrupted } from '../../src/cli/errors.js';
import { TorAbortError } from '../../src/errors.js';

/**
 * `torcon run` with apps that misuse listen(), on a `tcp:` endpoint (the same hook and announcement
 * as `onion:`, without tor): the app and torcon run as child processes, as a user runs them.
 */

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/unit
const MAIN = path.resolve(here, '../../src/cli/main.js');

function run(app: string, port = 'tcp:0'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'run', '--port', port, '--', process.execPath, app], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cli: torcon run with an app that calls listen() twice', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-run-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('the first listen comes up, the second is an error, and the address is announced once', async () => {
    const app = path.join(dir, 'twice.mjs');
    await writeFile(
      app,
      [
        "import http from 'node:http';",
        "const server = http.createServer((req, res) => res.end('x'));",
        "server.on('error', (e) => console.log('error', e.code, e.message));",
        "server.listen(process.env.PORT, () => { console.log('listening'); setTimeout(() => server.close(), 200); });",
        'server.listen(process.env.PORT);',
        // Without its 'listening' the app would never end: a bound server keeps it alive.
        "setTimeout(() => { console.log('never listened'); process.exit(7); }, 8000).unref();",
      ].join('\n'),
    );
    const r = await run(app);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^listening$/m);
    assert.deepEqual(r.stdout.match(/^error .*$/gm), ['error TOR_ENDPOINT_LISTEN listening on tcp:0 failed: the server is already listening']);
    assert.equal(r.stderr.match(/^torcon run: tcp:0 is 127\.0\.0\.1:\d+/gm)?.length, 1, r.stderr);
  });
});

describe('cli: torcon run announces what each endpoint kind does, and an app not listening on $PORT', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-run-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('tcp: and unix: listen, they are not published: "listening on", and the address once', async () => {
    const app = path.join(dir, 'once.mjs');
    await writeFile(
      app,
      [
        "import net from 'node:net';",
        'const server = net.createServer((s) => s.end());',
        "server.listen(process.env.PORT, () => { console.log('listening'); server.close(); });",
      ].join('\n'),
    );
    const tcp = await run(app);
    assert.equal(tcp.code, 0, `${tcp.stdout}\n${tcp.stderr}`);
    assert.match(tcp.stderr, /^torcon run: listening on tcp:0 for pid \d+…$/m);
    assert.match(tcp.stderr, /^torcon run: tcp:0 is 127\.0\.0\.1:\d+$/m);
    assert.doesNotMatch(tcp.stderr, /publish/);
    assert.doesNotMatch(tcp.stderr, /not on \$PORT/);

    const socket = path.join(dir, 'app.sock');
    const unix = await run(app, `unix:${socket}`);
    assert.equal(unix.code, 0, `${unix.stdout}\n${unix.stderr}`);
    assert.ok(unix.stderr.includes(`torcon run: listening on unix:${socket} for pid `), unix.stderr);
    assert.doesNotMatch(unix.stderr, /publish/);
  });

  it('says once where the app listens instead, and how to give it $PORT (PORT read as a number: NaN)', async () => {
    const app = path.join(dir, 'number.mjs');
    await writeFile(
      app,
      [
        "import net from 'node:net';",
        // What many apps do: fine for PORT=3000, a port of their own choosing for PORT=onion:80.
        'const port = Number(process.env.PORT) || 0;',
        'const a = net.createServer((s) => s.end());',
        'const b = net.createServer((s) => s.end());',
        "a.listen(port, '127.0.0.1', () => b.listen(0, '127.0.0.1', () => { console.log('listening'); a.close(); b.close(); }));",
      ].join('\n'),
    );
    const r = await run(app, 'onion:80');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const lines = r.stderr.match(/^torcon run: pid \d+ listens on 127\.0\.0\.1:\d+, not on \$PORT \(onion:80\): to serve there, pass process\.env\.PORT to listen\(\) as it is \(Number\(\) of it is NaN\)$/gm);
    assert.equal(lines?.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /publishing/);
  });
});

describe('cli: torcon run interrupted before the app started', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-run-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('does not start the app and exits as interrupted (TOR_ABORTED, so 128+signal)', async () => {
    // A SIGTERM (docker stop, a supervisor) or Ctrl-C that came while torcon itself was starting
    // (checking --port loads the library): the abort had already happened when run began to
    // listen for it, the app was started all the same, never got the signal, and ran on.
    const marker = path.join(dir, 'started');
    const app = path.join(dir, 'marks.mjs');
    await writeFile(app, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\n`);
    const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
    const abort = new AbortController();
    abort.abort(new Interrupted('SIGTERM'));
    const program = buildProgram({ out: sink(), err: sink(), interactive: false }, abort.signal);
    const savedExitCode = process.exitCode;
    try {
      const error = await program.parseAsync(['run', '--port', 'tcp:0', '--', process.execPath, app], { from: 'user' }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof TorAbortError, String(error));
      await assert.rejects(access(marker), { code: 'ENOENT' }, 'the app was started');
    } finally {
      process.exitCode = savedExitCode;
    }
  });
});

describe('cli: torcon run announces an https:// URL for a server that speaks TLS', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-run-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('https and http2 secure servers: https://, without 443; plain http keeps http:// (no tor: a stand-in onion plugin)', async () => {
    const host = `${'a'.repeat(56)}.onion`;
    const app = path.join(dir, 'tls-app.mjs');
    const dist = path.resolve(here, '../../src');
    await writeFile(
      app,
      [
        "import http from 'node:http';",
        "import https from 'node:https';",
        "import http2 from 'node:http2';",
        `import { pluginRegistry } from ${JSON.stringify(pathToFileURL(path.join(dist, 'di/container.js')).href)};`,
        // What the onion plugin resolves with, as far as the announcement reads it (no tor here).
        'pluginRegistry().register({ prefix: "stand-in", listen: async (server, parsed) => {',
        "  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));",
        `  return { address: ${JSON.stringify(host)} + ':' + parsed.args[0], hostname: ${JSON.stringify(host)}, close: async () => undefined };`,
        '} });',
        // No key or certificate: nothing here makes a TLS handshake.
        'const servers = [[https.createServer(), 443], [http2.createSecureServer(), 443], [https.createServer(), 8443], [http.createServer(), 443], [http.createServer(), 80]];',
        'for (const [server, port] of servers) {',
        '  await new Promise((resolve) => server.listen(`stand-in:${port}`, resolve));',
        '  server.close();',
        '}',
      ].join('\n'),
    );
    const announce = pathToFileURL(path.join(dist, 'cli/run-announce.js')).href;
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', announce, app], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stderr.match(/^torcon run: stand-in:\d+ is .*$/gm), [
      `torcon run: stand-in:443 is https://${host}/`,
      `torcon run: stand-in:443 is https://${host}/`,
      `torcon run: stand-in:8443 is https://${host}:8443/`,
      `torcon run: stand-in:443 is http://${host}:443/`,
      `torcon run: stand-in:80 is http://${host}/`,
    ]);
  });
});
