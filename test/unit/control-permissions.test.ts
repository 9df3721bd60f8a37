import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ROOT } from '../support/consumer-tsc.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

/**
 * A tor whose control socket or cookie file this user may not open (Debian's tor, for a user
 * outside the debian-tor group) is named as such, with what to do, not reported as "no running
 * tor". Root may open anything, so the client runs in a child process that, when it is root,
 * becomes nobody once torcon is loaded; the socket and the cookie file have mode 000.
 */

const run = promisify(execFile);
const CONNECT_TOR = pathToFileURL(path.join(ROOT, 'dist/src/tor/connect-tor.js')).href;
const NOBODY = 65534;

/** Runs connectTor({ control }) in a child process as another user; resolves with its error's code and message. */
async function connectAsAnotherUser(control: string): Promise<{ code: string; message: string }> {
  const script = [
    `import { connectTor } from ${JSON.stringify(CONNECT_TOR)};`,
    `if (process.getuid() === 0) { process.setgroups([]); process.setgid(${NOBODY}); process.setuid(${NOBODY}); }`,
    'try {',
    '  const tor = await connectTor({ control: process.env.CONTROL, timeoutMs: 10000 });',
    "  await tor.close(); console.log(JSON.stringify({ code: 'connected', message: '' }));",
    '} catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CONTROL: control }, timeout: 30_000 });
  return JSON.parse(stdout) as { code: string; message: string };
}

describe('connectTor: a control socket or cookie file this user may not open', function () {
  this.timeout(30_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-perm-'));
    // Searchable by the other user, as /run/tor is; what is in it keeps its own mode.
    await chmod(dir, 0o711);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("a unix control socket that refuses this user (EACCES) is named, with Debian's group, not 'no running tor'", async () => {
    const socketPath = path.join(dir, 'control');
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      await chmod(socketPath, 0o000);
      const { code, message } = await connectAsAnotherUser(`unix:${socketPath}`);
      assert.equal(code, 'TOR_NOT_AVAILABLE');
      assert.match(message, new RegExp(`^cannot reach tor's control port at unix:${socketPath}: unix:${socketPath} exists but is not open to this user`));
      assert.match(message, /add your user to the debian-tor group with `sudo adduser \$USER debian-tor`/);
      assert.match(message, /; tried: unix:\S+ \(EACCES\)$/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a socket that is simply missing (ENOENT) gets no such hint', async () => {
    const { code, message } = await connectAsAnotherUser(`unix:${path.join(dir, 'missing')}`);
    assert.equal(code, 'TOR_NOT_AVAILABLE');
    assert.doesNotMatch(message, /debian-tor/);
  });

  it("a cookie file this user may not read: TorAuthError says so, with Debian's group", async () => {
    const cookieFile = path.join(dir, 'control.authcookie');
    await writeFile(cookieFile, Buffer.alloc(32, 7), { mode: 0o000 });
    const peer = await ScriptedPeer.start();
    try {
      peer.auto.set('PROTOCOLINFO', `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="${cookieFile}"\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`);
      const { code, message } = await connectAsAnotherUser(peer.endpoint);
      assert.equal(code, 'TOR_AUTH_FAILED');
      assert.match(message, new RegExp(`cannot read the cookie file ${cookieFile} \\(EACCES\\): it is for tor's user and group only`));
      assert.match(message, /sudo adduser \$USER debian-tor/);
      assert.equal(peer.received.some((l) => l.startsWith('AUTHENTICATE')), false, 'nothing to authenticate with');
    } finally {
      await peer.close();
    }
  });
});
