import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `torcon serve DIR` as its visitors see it: what it publishes is reachable by anyone with the
 * address, so no request may read outside DIR, and no request may stop the server. The CLI runs as
 * a child process on a `tcp:` endpoint (no tor needed); requests are written byte for byte, so that
 * the path reaches the server exactly as an attacker would send it.
 */

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/unit
const MAIN = path.resolve(here, '../../src/cli/main.js');

interface Answer {
  status: number;
  headers: string;
  body: string;
}

/** One raw HTTP/1.1 request (Connection: close) and its answer. */
function request(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (m === null) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(m[1]), headers: m[2]!.toLowerCase(), body: m[3]! });
    });
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    // write, not end: a half-closed request is dropped by Node before an async handler answers.
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('cli: torcon serve keeps to its directory and keeps serving', function () {
  this.timeout(20_000);
  let base: string;
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let stderr = '';

  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'torcon-serve-unit-'));
    dir = path.join(base, 'site');
    const outside = path.join(base, 'outside');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await mkdir(outside);
    await writeFile(path.join(dir, 'index.html'), '<p>home</p>\n');
    await writeFile(path.join(dir, 'sub', 'a.txt'), 'abcdefghij');
    await writeFile(path.join(dir, '.env'), 'TOKEN=hidden-dotfile\n');
    await writeFile(path.join(outside, 'secret.txt'), 'outside-the-served-directory\n');
    // Symlinks: to a directory and a file outside, one that leads nowhere, one that stays inside.
    await symlink(outside, path.join(dir, 'out'));
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'secret.txt'));
    await symlink(path.join(base, 'nothing-here'), path.join(dir, 'dangling'));
    await symlink('sub/a.txt', path.join(dir, 'inside.txt'));
    // A FIFO: reading it would block until a writer comes, and with it one of libuv's few threads.
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    child = spawn(process.execPath, [MAIN, 'serve', dir, '--port', 'tcp:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`serve exited (${code}) before printing its URL: ${stderr}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    await rm(base, { recursive: true, force: true });
  });

  afterEach(function () {
    // Whatever the request did, the server answers the next one.
    if (this.currentTest?.state === 'passed') assert.equal(child.exitCode, null, `serve exited: ${stderr}`);
  });

  it('serves files and index.html', async () => {
    assert.deepEqual([(await request(port, '/')).body, (await request(port, '/sub/a.txt')).body], ['<p>home</p>\n', 'abcdefghij']);
    assert.equal((await request(port, '/inside.txt')).body, 'abcdefghij', 'a symlink within the directory is followed');
  });

  it('no path leads out of the directory, however it is spelled', async () => {
    const targets = [
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/%2E%2E/%2E%2E/%2E%2E/etc/passwd',
      '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/sub/..%2f..%2f..%2f..%2fetc/passwd',
      '/..%5c..%5c..%5cetc%5cpasswd',
      '/sub/%2e%2e/%2e%2e/outside/secret.txt',
      '//etc/passwd',
      '/%00/etc/passwd',
      'http://localhost/../../../etc/passwd',
    ];
    for (const target of targets) {
      const a = await request(port, target);
      assert.ok(a.status === 404 || a.status === 400, `${target}: ${a.status}`);
      assert.doesNotMatch(a.body, /root:|outside-the-served/, target);
    }
  });

  it('a symlink to a file or directory outside is not followed out', async () => {
    for (const target of ['/secret.txt', '/out/secret.txt']) {
      const a = await request(port, target);
      assert.equal(a.status, 404, target);
      assert.doesNotMatch(a.body, /outside-the-served/, target);
    }
  });

  it('hidden files, a dangling symlink and a FIFO are not found', async () => {
    for (const target of ['/.env', '/%2eenv', '/dangling', '/fifo']) {
      const a = await request(port, target);
      assert.equal(a.status, 404, target);
      assert.doesNotMatch(a.body, /hidden-dotfile/, target);
    }
  });

  it('Range: a backwards range (bytes=5-2) is ignored, not a crash; valid and unsatisfiable ones are answered', async () => {
    const backwards = await request(port, '/sub/a.txt', { Range: 'bytes=5-2' });
    assert.deepEqual([backwards.status, backwards.body], [200, 'abcdefghij']);
    const middle = await request(port, '/sub/a.txt', { Range: 'bytes=2-4' });
    assert.deepEqual([middle.status, middle.body], [206, 'cde']);
    assert.match(middle.headers, /^content-range: bytes 2-4\/10$/m);
    const suffix = await request(port, '/sub/a.txt', { Range: 'bytes=-3' });
    assert.deepEqual([suffix.status, suffix.body], [206, 'hij']);
    const beyond = await request(port, '/sub/a.txt', { Range: 'bytes=50-' });
    assert.equal(beyond.status, 416);
    assert.match(beyond.headers, /^content-range: bytes \*\/10$/m);
    assert.equal((await request(port, '/sub/a.txt')).status, 200);
  });

  it('serves the directory as it is now: a file added or changed after the start', async () => {
    await writeFile(path.join(dir, 'later.txt'), 'added later');
    await writeFile(path.join(dir, 'sub', 'a.txt'), 'changed, and longer than before');
    assert.equal((await request(port, '/later.txt')).body, 'added later');
    const changed = await request(port, '/sub/a.txt');
    assert.equal(changed.body, 'changed, and longer than before');
    assert.match(changed.headers, /^content-length: 31$/m);
  });

  it('HEAD has the headers only; other methods are 405', async () => {
    const head = await request(port, '/index.html', {}, 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
    assert.match(head.headers, /^content-type: text\/html; charset=utf-8$/m);
    const post = await request(port, '/index.html', { 'Content-Length': '0' }, 'POST');
    assert.equal(post.status, 405);
  });
});

describe('cli: torcon serve on a tls: endpoint', function () {
  this.timeout(20_000);
  let base: string;
  let child: ChildProcess | undefined;

  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'torcon-serve-tls-'));
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    await rm(base, { recursive: true, force: true });
  });

  it('prints an https:// URL, which answers over TLS', async () => {
    const dir = path.join(base, 'site');
    await mkdir(dir);
    await writeFile(path.join(dir, 'index.html'), '<p>tls</p>\n');
    const key = path.join(base, 'key.pem');
    const cert = path.join(base, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    child = spawn(process.execPath, [MAIN, 'serve', dir, '--port', `tls:0:privateKey=${key}:certKey=${cert}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^(\S+:\/\/\S+)$/m.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`serve exited (${code}) before printing its URL: ${stderr}`)));
    });
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const body = await new Promise<string>((resolve, reject) => {
      https.get(url, { ca: readFileSync(cert), servername: 'localhost', checkServerIdentity: () => undefined }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.equal(body, '<p>tls</p>\n');
  });
});
