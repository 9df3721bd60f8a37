import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { openTorControl } from '../../src/control/transport.js';
import { launchTor, connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import {
  TorAbortError,
  TorAuthError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorLaunchError,
  TorNotAvailableError,
} from '../../src/errors.js';
import { parseBootstrapStatus } from '../../src/process/bootstrap.js';
import { findTorBinary } from '../../src/process/launch-tor.js';
import { compareTorVersions } from '../../src/util/tor-version.js';
import { OWNER_FILE, sweepLeftoverDataDirectories, type OwnerRecord } from '../../src/process/temp-data-directory.js';
import { identifyProcess, type ProcessIdentity } from '../../src/process/process-identity.js';
import { isAlive } from '../support/settle.js';

// Every tor in this file runs with DisableNetwork 1: the control port works fully and nothing
// leaves the machine.
const OFFLINE = { DisableNetwork: 1 } as const;

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

describe('control protocol against a real tor (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let tor: Tor;

  before(async () => {
    tor = await launchTor({ config: OFFLINE });
  });
  after(async () => {
    await tor?.close();
  });

  it('launches, owns and authenticates to tor', async () => {
    assert.match(tor.version, /^0\.4\.\d+/);
    assert.ok(tor.pid && isAlive(tor.pid));
    assert.equal(await tor.control.getInfo('process/pid'), String(tor.pid));
    assert.match(tor.controlEndpoint, /^tcp:127\.0\.0\.1:\d+$/);
    assert.equal(await tor.control.getInfo('network-liveness'), 'down');
  });

  it("reads tor's status: this process's tor, offline, not bootstrapped", async () => {
    const s = await tor.getStatus();
    assert.equal(s.pid, tor.pid);
    assert.equal(s.version.split(' ')[0], tor.version);
    assert.equal(s.user, os.userInfo().username);
    assert.equal(s.uid, os.userInfo().uid);
    assert.ok(s.descriptorLimit !== undefined && s.descriptorLimit > 0, String(s.descriptorLimit));
    assert.ok(s.uptimeSeconds !== undefined && s.uptimeSeconds >= 0 && s.uptimeSeconds < 600, String(s.uptimeSeconds));
    // DisableNetwork 1: no circuit, no network, and bootstrapping stopped before its end.
    assert.deepEqual([s.circuitEstablished, s.networkLive], [false, false]);
    assert.ok(s.bootstrap.percent < 100, JSON.stringify(s.bootstrap));
    assert.equal(s.hibernating, 'awake');
    assert.equal(s.streamsLeftUnattached, false);
    assert.ok(Number.isSafeInteger(s.bytesRead) && Number.isSafeInteger(s.bytesWritten));
  });

  it('gets several GETINFO keys in one round trip', async () => {
    const write = sinon.spy((tor.control as unknown as { socket: { write: () => boolean } }).socket, 'write');
    try {
      const got = await tor.control.getInfo(['version', 'config-file', 'net/listeners/control', 'status/bootstrap-phase']);
      assert.equal(write.callCount, 1);
      assert.equal(got['version']!.split(' ')[0], tor.version);
      // tor's full version text (with its git revision) reads as the same version as the handle's
      assert.equal(compareTorVersions(got['version']!, tor.version), 0);
      assert.ok(tor.versionAtLeast('0.4.8') && !tor.versionAtLeast('99.0.0'));
      assert.match(got['net/listeners/control']!, /127\.0\.0\.1:\d+/);
      assert.ok(parseBootstrapStatus(got['status/bootstrap-phase']!));
    } finally {
      write.restore();
    }
  });

  it('reads a multi-line data block (config-text)', async () => {
    const text = await tor.control.getInfo('config-text');
    assert.match(text, /DisableNetwork 1/);
    assert.ok(text.includes('\n'));
  });

  it('round-trips hostile SETCONF values', async () => {
    const hostile = ['plain', 'with space', 'with "quotes"', 'back\\slash', 'tab\there', 'end\\', '"', 'Zoë ✓ #not a comment', ' lead and trail '];
    for (const value of hostile) {
      await tor.control.setConf({ ContactInfo: value });
      const got = await tor.control.getConf(['ContactInfo']);
      assert.deepEqual(got['ContactInfo'], [value], `value ${JSON.stringify(value)}`);
    }
  });

  it('sets and reads list options in one command, and resets them', async () => {
    await tor.control.setConf({ SocksPort: ['127.0.0.1:auto', '127.0.0.1:auto IsolateSOCKSAuth'] });
    const got = await tor.control.getConf(['SocksPort', 'ContactInfo']);
    assert.equal(got['SocksPort']!.length, 2);
    assert.match(got['SocksPort']![1]!, /IsolateSOCKSAuth/);
    await tor.control.resetConf(['ContactInfo']);
    assert.deepEqual((await tor.control.getConf('ContactInfo'))['ContactInfo'], []);
  });

  it('refuses injection attempts without touching tor', async () => {
    await assert.rejects(tor.control.setConf({ ContactInfo: 'x\r\nSIGNAL HALT' }), TorInvalidValueError);
    await assert.rejects(tor.control.getInfo('version\nSIGNAL HALT'), TorInvalidValueError);
    assert.equal(await tor.control.getInfo('process/pid'), String(tor.pid));
  });

  it('maps tor errors to TorControlError with status', async () => {
    const err = await tor.control.getInfo('no/such/key').catch((e: unknown) => e);
    assert.ok(err instanceof TorControlError);
    assert.equal(err.status, 552);
    await assert.rejects(tor.control.signal('NOT_A_SIGNAL'), TorControlError);
  });

  it('delivers CONF_CHANGED and SIGNAL events to subscribers and iterators', async () => {
    const changes: string[] = [];
    const off = await tor.control.subscribe('CONF_CHANGED', (e) => changes.push(e.raw));
    const ac = new AbortController();
    const iterator = tor.control.events(['SIGNAL'], { signal: ac.signal });
    const next = iterator.next();
    await new Promise((r) => setTimeout(r, 50));
    await tor.control.setConf({ ContactInfo: 'event test' });
    await tor.control.signal('NEWNYM');
    const { value } = await next;
    assert.equal(value!.type, 'SIGNAL');
    assert.match(value!.raw, /NEWNYM/);
    ac.abort();
    await off();
    assert.ok(changes.some((c) => c.includes('ContactInfo=event test')), changes.join('|'));
  });

  it('event iterators as a program uses them: several next() waiting at once, return() ending a waiting one', async () => {
    const iterator = tor.control.events(['conf_changed', 'CONF_CHANGED']);
    const waiting = [iterator.next(), iterator.next(), iterator.next()];
    // Once tor has answered a later command, it has acknowledged the subscription, and all three wait.
    await tor.control.getInfo('version');
    await new Promise((resolve) => setImmediate(resolve));
    for (const n of [1, 2, 3]) await tor.control.setConf({ ContactInfo: `iterator ${n}` });
    const raws = (await Promise.all(waiting)).map((r) => r.value!.raw);
    for (const n of [1, 2, 3]) assert.equal(raws.filter((raw) => raw.includes(`ContactInfo=iterator ${n}`)).length, 1, raws.join('|'));
    const last = iterator.next();
    await tor.control.getInfo('version');
    await iterator.return!();
    assert.deepEqual(await last, { value: undefined, done: true });
    await tor.control.resetConf(['ContactInfo']);
  });

  it('after tor.close(): subscribe and a new iterator fail with TorControlClosedError, saying the caller closed it', async () => {
    const own = await launchTor({ config: OFFLINE });
    await own.control.subscribe('CONF_CHANGED', () => undefined);
    await own.close();
    const closedByUs = (err: unknown) => err instanceof TorControlClosedError && /closed by the caller/.test(err.message);
    await assert.rejects(own.control.subscribe('CONF_CHANGED', () => undefined), closedByUs);
    await assert.rejects(own.control.events('CONF_CHANGED').next(), closedByUs);
    await assert.rejects(own.getConfig(), closedByUs);
  });

  it('reports protocol info', async () => {
    const info = await tor.control.protocolInfo();
    assert.equal(info.protocolInfoVersion, 1);
    assert.ok(info.authMethods.includes('SAFECOOKIE'));
    assert.ok(info.cookieFile);
    assert.equal(info.torVersion, tor.version);
  });
});

describe('authentication methods against a real tor (DisableNetwork 1)', function () {
  this.timeout(60_000);

  it('authenticates with SAFECOOKIE by preference, and refuses COOKIE offered without SAFECOOKIE', async () => {
    const tor = await launchTor({ config: OFFLINE });
    try {
      const safe = await openTorControl(tor.controlEndpoint);
      assert.equal(safe.method, 'SAFECOOKIE');
      safe.control.destroy();
      const info = await tor.control.protocolInfo();
      assert.deepEqual([...info.authMethods].sort(), ['COOKIE', 'SAFECOOKIE'], 'a real tor offers both');
      // What an impostor offering COOKIE alone would see: no cookie goes out.
      const err = await openTorControl(tor.controlEndpoint, { protocolInfo: { ...info, authMethods: ['COOKIE'] } }).catch((e: unknown) => e);
      assert.ok(err instanceof TorAuthError, String(err));
      assert.match(err.message, /COOKIE: refused without SAFECOOKIE/);
    } finally {
      await tor.close();
    }
  });

  it('authenticates with HASHEDPASSWORD and refuses a wrong password', async () => {
    const password = 'correct horse "battery" staple';
    const hashed = execFileSync('tor', ['--quiet', '--hash-password', password], { encoding: 'utf8' }).trim();
    const tor = await launchTor({ config: { ...OFFLINE, CookieAuthentication: 0, HashedControlPassword: hashed }, password });
    try {
      const tried = await connectTor({ control: tor.controlEndpoint, password });
      assert.equal(await tried.control.getInfo('process/pid'), String(tor.pid));
      await tried.close();
      const err = await connectTor({ control: tor.controlEndpoint, password: 'wrong-password' }).catch((e: unknown) => e);
      assert.ok(err instanceof TorAuthError);
      assert.doesNotMatch(String(err), /wrong-password|battery/);
      // $TOR_CONTROL_PASSWORD, as `torcon run --password` hands it to an unchanged app.
      process.env['TOR_CONTROL_PASSWORD'] = password;
      try {
        const fromEnv = await connectTor({ control: tor.controlEndpoint });
        assert.equal(await fromEnv.control.getInfo('process/pid'), String(tor.pid));
        await fromEnv.close();
      } finally {
        delete process.env['TOR_CONTROL_PASSWORD'];
      }
    } finally {
      await tor.close();
    }
  });

  it('authenticates with NULL when tor requires nothing', async () => {
    // launchTor itself needs a cookie; the NULL tor is reached over a second control port.
    const tor = await launchTor({ config: { ...OFFLINE, CookieAuthentication: 0 } }).catch((e: unknown) => e);
    // Without any auth method configured, tor offers NULL and launchTor still works.
    assert.ok(!(tor instanceof Error), String(tor));
    const t = tor as Tor;
    try {
      const info = await t.control.protocolInfo();
      assert.deepEqual(info.authMethods, ['NULL']);
      const other = await openTorControl(t.controlEndpoint);
      assert.equal(other.method, 'NULL');
      other.control.destroy();
    } finally {
      await t.close();
    }
  });
});

describe('launching and losing tor', function () {
  this.timeout(60_000);

  it('reports bootstrap progress while waiting and removes its temp DataDirectory on close', async () => {
    const progress: number[] = [];
    // DisableNetwork 1 never reaches 100%; waitForBootstrap false resolves after authentication.
    const tor = await launchTor({ config: OFFLINE, onProgress: (p) => progress.push(p.percent), waitForBootstrap: false });
    const dir = (await tor.control.getConf('DataDirectory'))['DataDirectory']![0]!;
    const pid = tor.pid!;
    await tor.close();
    assert.equal(isAlive(pid), false);
    await assert.rejects(import('node:fs/promises').then((fs) => fs.stat(dir)), /ENOENT/);
  });

  it("hands each of tor's log lines to onLog, whole, until tor stops; a throwing onLog changes nothing", async () => {
    const lines: string[] = [];
    const tor = await launchTor({
      config: OFFLINE,
      onLog: (line) => {
        lines.push(line);
        throw new Error('a careless log sink');
      },
    });
    assert.ok(lines.some((l) => /\[notice\] Opened Control listener/.test(l)), lines.join('\n'));
    // Every line is one of tor's, whole: a timestamp first, never a piece of a line.
    for (const l of lines) assert.match(l, /^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}\.\d{3} \[\w+\] /, l);
    const before = lines.length;
    // Logged later, while tor runs: a SIGNAL HUP makes tor log that it reloads its torrc.
    await tor.control.signal('RELOAD');
    for (let i = 0; i < 50 && !lines.slice(before).some((l) => /Received reload signal|Reloading config/i.test(l)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(lines.slice(before).some((l) => /Received reload signal|Reloading config/i.test(l)), lines.slice(before).join('\n'));
    assert.equal((await tor.control.getInfo('version')).split(' ')[0], tor.version, 'tor still works');
    await tor.close();
    await assert.rejects(launchTor({ config: OFFLINE, onLog: 'console' as never }), (e: unknown) => e instanceof TorInvalidValueError && /onLog/.test(e.message));
  });

  it('keeps a caller-given DataDirectory', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-keep-'));
    try {
      const tor = await launchTor({ config: OFFLINE, dataDirectory: dir });
      await tor.close();
      const fs = await import('node:fs/promises');
      assert.ok((await fs.stat(dir)).isDirectory());
      assert.equal(((await fs.stat(dir)).mode & 0o777).toString(8), '700');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects every pending and later command promptly when tor is SIGKILLed', async () => {
    const tor = await launchTor({ config: OFFLINE });
    const closed = new Promise((resolve) => tor.control.once('close', resolve));
    // A command tor will not answer before it dies: SIGKILL lands first.
    const pending = tor.control.getInfo('config-text');
    process.kill(tor.pid!, 'SIGKILL');
    const err = await pending.catch((e: unknown) => e);
    // (config-text may have been answered before the kill; then the next command shows it.)
    if (!(err instanceof Error)) {
      await closed;
    } else {
      assert.ok(err instanceof TorControlClosedError, String(err));
    }
    await closed;
    await assert.rejects(tor.control.getInfo('version'), TorControlClosedError);
    await tor.close();
  });

  it('a launched tor exits when the process that launched it is SIGKILLed (no chance to clean up), and the next launch removes its DataDirectory', async () => {
    const connectTorJs = new URL('../../src/tor/connect-tor.js', import.meta.url).href;
    const script = `
      const { launchTor } = await import(${JSON.stringify(connectTorJs)});
      const tor = await launchTor({ config: { DisableNetwork: 1 } });
      const dir = (await tor.control.getConf('DataDirectory'))['DataDirectory'][0];
      console.log(JSON.stringify({ pid: tor.pid, dir }));
      setInterval(() => undefined, 60_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let launched: { pid: number; dir: string } | undefined;
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
        });
        child.once('exit', (code) => reject(new Error(`the launching process exited (${code}) first`)));
      });
      launched = JSON.parse(line) as { pid: number; dir: string };
      assert.equal(isAlive(launched.pid), true);
      child.kill('SIGKILL');
      assert.equal(await waitFor(() => !isAlive(launched!.pid), 20_000), true, 'tor outlived its owner');
      assert.ok((await stat(launched.dir)).isDirectory(), 'nobody removed it yet');
      const next = await launchTor({ config: OFFLINE });
      try {
        await assert.rejects(stat(launched.dir), { code: 'ENOENT' }, 'the next launch removed the leftover');
      } finally {
        await next.close();
      }
    } finally {
      child.kill('SIGKILL');
      if (launched) {
        if (isAlive(launched.pid)) process.kill(launched.pid, 'SIGKILL');
        await rm(launched.dir, { recursive: true, force: true });
      }
    }
  });

  it('a launch removes a temporary DataDirectory whose owner and tor are gone, and keeps one without an owner record', async () => {
    const exited = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => exited.once('exit', resolve));
    const gone: ProcessIdentity = { ...(await identifyProcess(process.pid)), pid: exited.pid! };
    const leftover = await mkdtemp(path.join(os.tmpdir(), 'torcon-'));
    const unmarked = await mkdtemp(path.join(os.tmpdir(), 'torcon-'));
    try {
      for (const dir of [leftover, unmarked]) await writeFile(path.join(dir, 'state'), 'tor was here\n');
      const record: OwnerRecord = { torcon: 1, owner: gone, tor: gone };
      await writeFile(path.join(leftover, OWNER_FILE), JSON.stringify(record));
      const tor = await launchTor({ config: OFFLINE });
      const own = (await tor.control.getConf('DataDirectory'))['DataDirectory']![0]!;
      const written = JSON.parse(await readFile(path.join(own, OWNER_FILE), 'utf8')) as OwnerRecord;
      await tor.close();
      assert.deepEqual([written.owner.pid, written.tor?.pid], [process.pid, tor.pid], 'its own directory names it and its tor');
      await assert.rejects(stat(leftover), { code: 'ENOENT' }, 'the leftover is removed');
      assert.deepEqual(await readdir(unmarked), ['state'], 'a directory without the record is untouched');
    } finally {
      await rm(leftover, { recursive: true, force: true });
      await rm(unmarked, { recursive: true, force: true });
    }
  });

  it('the sweep keeps the DataDirectory of a running tor, whatever its owner record says (tor\'s lock)', async () => {
    const tor = await launchTor({ config: OFFLINE });
    const dir = (await tor.control.getConf('DataDirectory'))['DataDirectory']![0]!;
    try {
      // As if owner and tor were gone: only tor's lock on DataDirectory/lock says otherwise.
      const exited = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => exited.once('exit', resolve));
      const gone: ProcessIdentity = { ...(await identifyProcess(process.pid)), pid: exited.pid! };
      await writeFile(path.join(dir, OWNER_FILE), JSON.stringify({ torcon: 1, owner: gone, tor: gone } satisfies OwnerRecord));
      assert.deepEqual(await sweepLeftoverDataDirectories(), []);
      assert.ok((await stat(path.join(dir, 'lock'))).isFile());
      assert.equal((await tor.control.getInfo('version')).split(' ')[0], tor.version, 'tor still works');
    } finally {
      await tor.close();
    }
    await assert.rejects(stat(dir), { code: 'ENOENT' }, 'close removes it');
  });

  it('fails with the log tail when tor refuses its config', async () => {
    const err = await launchTor({ config: { ...OFFLINE, NoSuchOption: 1 } }).catch((e: unknown) => e);
    assert.ok(err instanceof TorLaunchError);
    assert.equal(err.code, 'TOR_LAUNCH_FAILED');
    assert.ok(err.logLines.some((l) => /NoSuchOption/.test(l)), err.logLines.join('\n'));
  });

  it('a torrc that is gone before tor reads it fails the launch: tor never runs on its built-in defaults (network on)', async () => {
    // A wrapper removes the torrc launchTor wrote (as a tmp cleaner or a sweep might) and has tor
    // only check the config it would run with: --verify-config starts nothing.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-vanish-'));
    try {
      const wrapper = path.join(dir, 'tor');
      await writeFile(wrapper, `#!/bin/sh\nrm -f "$2"\nexec ${await findTorBinary()} --verify-config "$@"\n`, { mode: 0o755 });
      const err = await launchTor({ config: OFFLINE, torPath: wrapper }).catch((e: unknown) => e);
      assert.ok(err instanceof TorLaunchError, String(err));
      assert.doesNotMatch(err.message, /exit code 0/, 'tor found the config valid without the torrc');
      assert.ok(err.logLines.some((l) => /torrc/.test(l)), err.logLines.join('\n'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills tor and rejects with TorAbortError when aborted', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-abort-'));
    try {
      const ac = new AbortController();
      const launching = launchTor({ config: OFFLINE, dataDirectory: dir, signal: ac.signal });
      setTimeout(() => ac.abort(), 5);
      await assert.rejects(launching, TorAbortError);
      const running = () => {
        try {
          return execFileSync('pgrep', ['-f', dir], { encoding: 'utf8' }).trim();
        } catch {
          return ''; // pgrep exits 1 when nothing matches
        }
      };
      assert.equal(await waitFor(() => running() === '', 3000), true, 'tor still running after abort');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads DisableNetwork in any case: a lower-case disablenetwork does not wait for a bootstrap', async () => {
    // With DisableNetwork tor never bootstraps: had launchTor waited for it, this would time out.
    const tor = await launchTor({ config: { disablenetwork: 1 }, timeoutMs: 30_000 });
    try {
      assert.deepEqual((await tor.control.getConf(['DisableNetwork']))['DisableNetwork'], ['1']);
    } finally {
      await tor.close();
    }
  });

  it('refuses RunAsDaemon, and a data directory it cannot make, with typed errors before tor starts', async () => {
    await assert.rejects(launchTor({ config: { ...OFFLINE, RunAsDaemon: 1 } }), (e: unknown) => e instanceof TorInvalidValueError && /RunAsDaemon/.test(e.message));
    await assert.rejects(launchTor({ config: OFFLINE, dataDirectory: '/dev/null/tor-data' }), (e: unknown) => {
      assert.ok(e instanceof TorLaunchError, String(e));
      assert.match(e.message, /cannot prepare tor's data directory \/dev\/null\/tor-data \(ENOTDIR\)/);
      return true;
    });
  });

  it('launches with a unix-socket ControlPort of the caller, and refuses a second tor on the same DataDirectory before touching its files', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-unix-cp-'));
    try {
      const data = path.join(dir, 'data');
      const viaUnix = await launchTor({ config: { ...OFFLINE, ControlPort: `unix:${dir}/control.sock` }, dataDirectory: data, timeoutMs: 30_000 });
      try {
        assert.equal(viaUnix.controlEndpoint, `unix:${dir}/control.sock`);
        assert.match(await viaUnix.control.getInfo('version'), /^0\.4\./);
        const torrc = await readFile(path.join(data, 'torrc'), 'utf8');
        const second = await launchTor({ config: OFFLINE, dataDirectory: data, timeoutMs: 30_000 }).catch((e: unknown) => e);
        assert.ok(second instanceof TorLaunchError, String(second));
        assert.match(second.message, /another tor is running on the data directory/);
        // Refused before writing anything there: the running tor's torrc (which a RELOAD reads) is its own.
        assert.equal(await readFile(path.join(data, 'torrc'), 'utf8'), torrc);
        assert.match(await viaUnix.control.getInfo('version'), /^0\.4\./);
      } finally {
        await viaUnix.close();
      }
      await assert.rejects(launchTor({ config: { ...OFFLINE, ControlPort: 0 } }), TorInvalidValueError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to launch a tor that could reach the public network in tests', async () => {
    assert.equal(process.env['TORCON_REQUIRE_OFFLINE'], '1');
    await assert.rejects(launchTor({ config: {} }), /refusing to launch tor/);
  });

  it('names what it tried when no tor can be reached', async () => {
    const err = await connectTor({ control: 'tcp:127.0.0.1:1' }).catch((e: unknown) => e);
    assert.ok(err instanceof TorNotAvailableError);
    assert.equal(err.code, 'TOR_NOT_AVAILABLE');
    assert.match(err.message, /ECONNREFUSED/);
  });
});
