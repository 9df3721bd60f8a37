import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/consumer-tsc.js';

/**
 * The package as a user gets it: `npm pack` (scripts off: the build is the one under test, and a
 * `prepare` that rebuilt dist/ would change it under every other test running), unpacked into an
 * application's node_modules beside only the packages its `dependencies` name (linked from ours,
 * so nothing is fetched). Every other test imports dist/ by path; this is the one that sees what a
 * missing file, a dependency declared only for development, or an `exports` entry would break.
 */

const run = promisify(execFile);

/** The names DESIGN.md §1 makes public, which users and the acceptance checks import by name. */
const PUBLIC_NAMES = [
  'connectTor', 'launchTor', 'Tor', 'TorControl', 'TorState', 'TorConfig',
  'parseEndpoint', 'quoteEndpointArgument', 'connect', 'listen', 'registerPlugin',
  'TorError', 'TorControlError', 'TorControlClosedError', 'TorAuthError', 'TorSocksError', 'EndpointSyntaxError',
  'UnknownEndpointError', 'OnionPublishError', 'TorLaunchError', 'TorCircuitError', 'TorAbortError',
];

interface PackedFile {
  path: string;
}

describe('the packed package, installed in an application', function () {
  this.timeout(60_000);
  let dir: string;
  let app: string;
  let files: string[];
  let manifest: {
    version: string;
    bin: Record<string, string>;
    dependencies: Record<string, string>;
    types?: string;
    typesVersions?: Record<string, Record<string, string[]>>;
    exports: Record<string, string | { types?: string; default?: string }>;
  };

  /** Runs node in the application's directory; resolves with what it printed on stdout. */
  async function nodeInApp(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    const { stdout } = await run(process.execPath, args, { cwd: app, env: { ...process.env, ...env }, timeout: 30_000 });
    return stdout;
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-packed-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: 60_000 });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: PackedFile[] }>;
    files = packed!.files.map((f) => f.path);
    app = path.join(dir, 'app');
    const installed = path.join(app, 'node_modules', 'torcon');
    await mkdir(installed, { recursive: true });
    await run('tar', ['xzf', path.join(dir, packed!.filename), '-C', installed, '--strip-components=1']);
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as typeof manifest;
    // Only what the package says it needs: a runtime import of anything else fails here.
    for (const name of Object.keys(manifest.dependencies)) {
      await symlink(path.join(ROOT, 'node_modules', name), path.join(app, 'node_modules', name), 'dir');
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('holds the built library with its declarations, the README and the LICENSE, and no tests, benches or sources', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/register.js', 'dist/src/testnet.js', 'dist/src/cli/main.js']) {
      assert.ok(files.includes(f), `${f} is not in the package`);
    }
    const stray = files.filter((f) => !['package.json', 'README.md', 'LICENSE'].includes(f) && !f.startsWith('dist/src/'));
    assert.deepEqual(stray, []);
  });

  it('has source maps that carry their sources: no map points at a file the package does not hold', async () => {
    // The sources (src/*.ts) are not published; a map naming them without their text sends
    // `node --enable-source-maps` traces, debuggers and bundlers' source-map loaders to files
    // that are not there.
    const installed = path.join(app, 'node_modules', 'torcon');
    const maps = files.filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 50, `only ${maps.length} source maps`);
    for (const f of files.filter((g) => g.endsWith('.js'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(await readFile(path.join(installed, f), 'utf8'))?.[1];
      if (url !== undefined) assert.ok(files.includes(path.posix.join(path.posix.dirname(f), url)), `${f} names a source map that is not in the package`);
    }
    for (const f of maps) {
      const map = JSON.parse(await readFile(path.join(installed, f), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      map.sources.forEach((source, i) => {
        const packed = files.includes(path.posix.normalize(path.posix.join(path.posix.dirname(f), source)));
        assert.ok(packed || typeof map.sourcesContent?.[i] === 'string', `${f} points at ${source}, which is not in the package, without its text`);
      });
    }
  });

  it('imports by name as an ES module: the root, torcon/register and torcon/testnet; no other path inside it', async () => {
    const script = [
      "const root = await import('torcon');",
      "const testnet = await import('torcon/testnet');",
      "await import('torcon/register');",
      "const deep = await import('torcon/dist/src/index.js').then(() => 'imported', (e) => e.code);",
      'console.log(JSON.stringify({ root: Object.keys(root), testnet: Object.keys(testnet), deep }));',
    ].join('\n');
    const out = JSON.parse(await nodeInApp(['--input-type=module', '-e', script])) as { root: string[]; testnet: string[]; deep: string };
    for (const name of PUBLIC_NAMES) assert.ok(out.root.includes(name), `torcon does not export ${name}`);
    assert.ok(out.testnet.includes('startTestNetwork'), 'torcon/testnet does not export startTestNetwork');
    assert.equal(out.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('loads with require() from CommonJS, with the same exports', async () => {
    const script = "console.log(JSON.stringify(Object.keys(require('torcon')).sort()))";
    const required = JSON.parse(await nodeInApp(['--input-type=commonjs', '-e', script])) as string[];
    const imported = JSON.parse(await nodeInApp(['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('torcon')).sort()))"])) as string[];
    assert.deepEqual(required, imported);
    for (const name of PUBLIC_NAMES) assert.ok(required.includes(name), `require('torcon') lacks ${name}`);
  });

  it("runs its bin: torcon --version prints the package's version", async () => {
    const bin = manifest.bin['torcon'];
    assert.ok(bin !== undefined, 'package.json names no torcon bin');
    const out = await nodeInApp([path.join('node_modules', 'torcon', bin), '--version']);
    assert.equal(out.trim(), manifest.version);
  });

  it('node --import torcon/register: an unchanged server listens where $PORT says (a tcp: endpoint, no tor)', async () => {
    await writeFile(
      path.join(app, 'server.mjs'),
      [
        "import http from 'node:http';",
        'const server = http.createServer((req, res) => res.end());',
        'server.listen(process.env.PORT, () => { console.log(JSON.stringify(server.address())); server.close(); });',
      ].join('\n'),
    );
    const out = JSON.parse(await nodeInApp(['--import', 'torcon/register', 'server.mjs'], { PORT: 'tcp:0:interface=127.0.0.1' })) as net.AddressInfo;
    assert.equal(out.address, '127.0.0.1');
    assert.ok(out.port > 0);
  });

  it('declares nothing marked @internal: what the state keeps for itself is not in its types', async () => {
    const installed = path.join(app, 'node_modules', 'torcon');
    const declarations = files.filter((f) => f.endsWith('.d.ts'));
    assert.ok(declarations.length > 50, `only ${declarations.length} declaration files`);
    for (const f of declarations) assert.ok(!(await readFile(path.join(installed, f), 'utf8')).includes('@internal'), `${f} still declares an @internal member`);
    const circuit = await readFile(path.join(installed, 'dist/src/state/circuit.d.ts'), 'utf8');
    const stream = await readFile(path.join(installed, 'dist/src/state/stream.d.ts'), 'utf8');
    for (const member of ['deferText', 'detail()', 'attachStream', 'abandon(']) assert.ok(!circuit.includes(member), `Circuit declares ${member}`);
    for (const member of ['deferText', 'attachedTo', 'attachAttempts', 'justAttached']) assert.ok(!stream.includes(member), `Stream declares ${member}`);
    // The public members are still there.
    assert.match(circuit, /whenBuilt\(opts\?: CancelOptions\): Promise<Circuit>;/);
    assert.match(stream, /get circuit\(\): Circuit \| undefined;/);
  });

  it('gives TypeScript\'s node10 resolution (which reads no exports) the same declarations for every entry point', () => {
    // `"module": "commonjs"` implies moduleResolution node10 before TypeScript 7, the most common
    // configuration of an older CommonJS project: it finds the root by `types` and a subpath only
    // by `typesVersions`, and without one `import 'torcon/register'` is TS2307 though Node loads it.
    const bare = (p: string): string => path.posix.normalize(p).replace(/^\.\//, '');
    const node10 = (subpath: string): string | undefined => {
      const paths = manifest.typesVersions?.['*'] ?? {};
      for (const [pattern, targets] of Object.entries(paths)) {
        const star = pattern.indexOf('*');
        const matched = star < 0 ? (pattern === subpath ? '' : undefined)
          : subpath.startsWith(pattern.slice(0, star)) && subpath.endsWith(pattern.slice(star + 1)) ? subpath.slice(star, subpath.length - (pattern.length - star - 1)) : undefined;
        if (matched !== undefined && targets[0] !== undefined) return bare(targets[0].replace('*', matched));
      }
      return subpath === '' && manifest.types !== undefined ? bare(manifest.types) : undefined;
    };
    const typed = Object.entries(manifest.exports).filter((e): e is [string, { types: string }] => typeof e[1] === 'object' && typeof e[1].types === 'string');
    assert.ok(typed.length >= 3, `only ${typed.length} entry points declare types`);
    for (const [entry, { types }] of typed) {
      const resolved = node10(entry === '.' ? '' : entry.slice(2));
      assert.equal(resolved, bare(types), `node10 resolution of ${entry === '.' ? 'torcon' : `torcon/${entry.slice(2)}`}`);
      assert.ok(files.includes(resolved), `${resolved} is not in the package`);
    }
  });

  it('lets a library of the user\'s declare what it infers from torcon\'s public values (declaration emit names every type by an entry point)', async () => {
    // A type reached from a public value but exported by no entry point cannot be written into the
    // user's .d.ts (TS2883 "cannot be named without a reference to ... not portable").
    const lib = path.join(app, 'lib');
    await mkdir(lib, { recursive: true });
    await writeFile(
      path.join(lib, 'lib.ts'),
      [
        "import type { Tor } from 'torcon';",
        "import { readTestNetworkState, buildNodeTorrc } from 'torcon/testnet';",
        'export async function owner(dir: string) { return (await readTestNetworkState(dir)).owner; }',
        'export const context = (ctx: Parameters<typeof buildNodeTorrc>[1]) => ctx;',
        'export async function circuits(tor: Tor) { return [...(await tor.getState()).circuits.values()].map((c) => ({ path: c.pathRefs, status: c.status })); }',
      ].join('\n'),
    );
    await writeFile(
      path.join(lib, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false,
          declaration: true, emitDeclarationOnly: true, rootDir: lib, outDir: path.join(lib, 'out'),
          types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        files: ['lib.ts'],
      }),
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', lib], { cwd: app, timeout: 60_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    assert.equal(result.out.trim(), '');
    assert.equal(result.code, 0);
    assert.match(await readFile(path.join(lib, 'out', 'lib.d.ts'), 'utf8'), /import\("torcon\/testnet"\)\.ProcessIdentity/);
  });

  it('type-checks by name in an ES module and in a CommonJS TypeScript file (strict, without skipLibCheck)', async () => {
    await writeFile(
      path.join(app, 'esm.mts'),
      [
        "import { connectTor, listen, TorError, type Tor, type OnionService } from 'torcon';",
        "import { startTestNetwork } from 'torcon/testnet';",
        'const open: (opts?: { control?: string }) => Promise<Tor> = connectTor;',
        'export const hostname = (s: OnionService): string => s.hostname;',
        'export { open, listen, startTestNetwork, TorError };',
        // What the state keeps for itself does not compile in a user's code (an expect-error
        // directive with no error under it is an error itself).
        "import type { Circuit, Stream } from 'torcon';",
        'export function meddle(c: Circuit, s: Stream): void {',
        '  // @ts-expect-error readonly: only the reducers change it',
        "  c.status = 'BUILT';",
        '  // @ts-expect-error readonly: only the reducers change it',
        "  s.circuitId = '1';",
        '  // @ts-expect-error @internal: not declared',
        "  c.deferText('CIRC 1 BUILT');",
        '}',
        // Handles are disposable: `await using` (and `using` for the SOCKS client) type-checks.
        "import { TorSocksClient } from 'torcon';",
        "import type { Server } from 'node:net';",
        'export async function scoped(server: Server): Promise<string> {',
        "  await using tor = await connectTor({ control: 'tcp:127.0.0.1:9051' });",
        '  await using state = await tor.getState();',
        '  await using config = await tor.getConfig();',
        "  await using service = await listen(server, 'onion:80', { tor });",
        "  await using network = await startTestNetwork();",
        '  using socks = new TorSocksClient(null);',
        "  return `${state.routers.size} ${await config.get('SocksPort')} ${service.hostname} ${network.socksPort} ${typeof socks.connect}`;",
        '}',
      ].join('\n'),
    );
    await writeFile(
      path.join(app, 'cjs.cts'),
      ["import torcon = require('torcon');", 'const open: typeof torcon.connectTor = torcon.connectTor;', 'export = open;'].join('\n'),
    );
    await writeFile(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false,
          types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', app], { cwd: app, timeout: 60_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    assert.equal(result.out.trim(), '');
    assert.equal(result.code, 0);
  });
});
