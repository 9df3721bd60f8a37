import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TorInvalidValueError, TorLaunchError } from '../../src/errors.js';
import { findTorBinary, isOfflineOrPrivate, launchTorProcess, renderTorrc } from '../../src/process/launch-tor.js';

describe('torrc rendering and the offline check (launch-tor)', () => {
  it('writes one line per value, quoting what needs it', () => {
    assert.equal(
      renderTorrc({ SocksPort: ['auto', '127.0.0.1:9150 IsolateSOCKSAuth'], DisableNetwork: true, ContactInfo: 'a "b" #c', Log: 'notice stdout', BandwidthRate: 1024 }),
      'SocksPort auto\nSocksPort 127.0.0.1:9150 IsolateSOCKSAuth\nDisableNetwork 1\nContactInfo "a \\"b\\" #c"\nLog notice stdout\nBandwidthRate 1024\n',
    );
  });

  it('refuses one option given twice in different case: tor would read the last, the offline check the first', () => {
    const config = { DisableNetwork: 1, disablenetwork: 0 };
    assert.equal(isOfflineOrPrivate(config), true, 'the check reads the first spelling');
    assert.throws(() => renderTorrc(config), (e: unknown) => e instanceof TorInvalidValueError && /given twice/.test(e.message));
  });

  it('refuses names that are no option names (a %include directive, spaces) and values of other types', () => {
    const badNames: Array<Record<string, string>> = [{ '%include': '/etc/tor/torrc' }, { 'Socks Port': '1' }, { '': '1' }];
    for (const config of badNames) {
      assert.throws(() => renderTorrc(config), TorInvalidValueError, JSON.stringify(config));
    }
    const loose = renderTorrc as (c: unknown) => string;
    for (const value of [{}, NaN, Infinity, null, [['a']], Symbol('s')]) {
      assert.throws(() => loose({ ContactInfo: value }), TorInvalidValueError, String(value));
    }
    assert.throws(() => renderTorrc({ ContactInfo: 'x\nSocksPort 9050' }), TorInvalidValueError);
  });

  it('a doubled DisableNetwork in the caller\'s config launches nothing', async () => {
    // The offline check passes on the first spelling; the config is refused before anything is
    // looked for or created (so not the missing tor binary's TorLaunchError).
    const err = await launchTorProcess({ config: { DisableNetwork: 1, disablenetwork: 0 }, torPath: '/nonexistent/tor' }).catch((e: unknown) => e);
    assert.ok(err instanceof TorInvalidValueError, String(err));
  });
});

describe('launchTor refuses what it cannot honour (launch-tor)', () => {
  it('refuses DataDirectory, ControlPortWriteToFile and __OwningControllerProcess in config, in any case, before looking for tor', async () => {
    // tor would follow the caller's DataDirectory while torcon reported, swept and removed its own.
    const managed: Array<Record<string, string | number>> = [{ DataDirectory: '/tmp/elsewhere' }, { datadirectory: '/tmp/elsewhere' }, { ControlPortWriteToFile: '/tmp/port' }, { __OwningControllerProcess: 1 }];
    for (const config of managed) {
      const err = await launchTorProcess({ config: { DisableNetwork: 1, ...config }, torPath: '/nonexistent/tor' }).catch((e: unknown) => e);
      assert.ok(err instanceof TorInvalidValueError, `${JSON.stringify(config)}: ${String(err)}`);
      assert.match(err.message, /set by launchTor/);
    }
    const err = await launchTorProcess({ config: { DisableNetwork: 1, DataDirectory: '/tmp/elsewhere' }, torPath: '/nonexistent/tor' }).catch((e: unknown) => e);
    assert.match((err as Error).message, /dataDirectory option/);
  });

  it('refuses a waitForBootstrap that is no boolean (a "false" from an environment variable would wait), before looking for tor', async () => {
    for (const waitForBootstrap of ['false', 0, null]) {
      const err = await launchTorProcess({ config: { DisableNetwork: 1 }, torPath: '/nonexistent/tor', waitForBootstrap: waitForBootstrap as never }).catch((e: unknown) => e);
      assert.ok(err instanceof TorInvalidValueError, `${JSON.stringify(waitForBootstrap)}: ${String(err)}`);
      assert.match(err.message, /waitForBootstrap/);
    }
  });

  /**
   * Launches a shell script as if it were tor (it is not: it prints `body`'s output and exits 3),
   * and gives what the launch rejected with and each line `onLog` heard.
   */
  async function launchFakeTor(body: string): Promise<{ err: unknown; heard: string[] }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-fake-tor-'));
    try {
      const script = path.join(dir, 'tor');
      await writeFile(script, `#!/bin/sh\n${body}\nexit 3\n`, { mode: 0o755 });
      const heard: string[] = [];
      const err = await launchTorProcess({ config: { DisableNetwork: 1 }, torPath: script, timeoutMs: 10_000, onLog: (l) => heard.push(l) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { err, heard };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it("what a torPath program prints reaches TorLaunchError's message with its control characters escaped", async () => {
    // A terminal escape sequence and a carriage return.
    const { err } = await launchFakeTor("printf 'bad \\033[2Jclear\\rover\\n'");
    assert.ok(err instanceof TorLaunchError, String(err));
    assert.match(err.message, /exit code 3/);
    assert.ok(err.logLines.includes('bad \\x1b[2Jclear\\x0dover'), JSON.stringify(err.logLines));
    assert.doesNotMatch(err.message, /[\x1b\r]/);
  });

  it('a line tor writes in two pieces is one line, to onLog and in the log tail', async () => {
    // The line reaches the pipe in two writes, a moment apart.
    const { err, heard } = await launchFakeTor("printf 'first half'\nsleep 0.2\nprintf ' second half\\nlast words'");
    assert.ok(err instanceof TorLaunchError, String(err));
    assert.deepEqual(heard, ['first half second half', 'last words']);
    assert.deepEqual(err.logLines.slice(-2), ['first half second half', 'last words']);
  });

  it('output that never ends its line is passed on in bounded pieces, not held whole', async () => {
    // 200,000 characters without a line end.
    const { err, heard } = await launchFakeTor("head -c 200000 /dev/zero | tr '\\0' x");
    assert.ok(err instanceof TorLaunchError, String(err));
    assert.ok(heard.length > 1, `${heard.length} pieces`);
    assert.equal(heard.join('').length, 200_000);
    for (const piece of heard) assert.ok(piece.length <= 2 * 64 * 1024, `a piece of ${piece.length}`);
  });

  it("a torPath program's flood of output leaves TorLaunchError's message short; onLog hears it all", async () => {
    // 3,000,000 characters without a line end.
    const { err, heard } = await launchFakeTor("head -c 3000000 /dev/zero | tr '\\0' x");
    assert.ok(err instanceof TorLaunchError, String(err));
    assert.equal(heard.join('').length, 3_000_000);
    assert.ok(err.message.length <= 64 * 1024, `a message of ${err.message.length} characters`);
    assert.match(err.message, /exit code 3/);
    assert.match(err.logLines.at(-1)!, /^x+\.\.\. \(\d+ more characters\)$/);
  });

  it('a torPath script that exits but leaves a process of its own holding its output open fails the launch, not hangs it', async () => {
    // A wrapper script without `exec`: the shell exits, its background child keeps the pipes.
    const pidFile = path.join(os.tmpdir(), `torcon-fake-tor-bg-${process.pid}`);
    try {
      const { err } = await launchFakeTor(`echo started\nsleep 600 &\necho $! > ${pidFile}`);
      assert.ok(err instanceof TorLaunchError, String(err));
      assert.match(err.message, /exit code 3/);
      assert.ok(err.logLines.includes('started'), JSON.stringify(err.logLines));
    } finally {
      const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
      if (pid > 0) process.kill(pid, 'SIGKILL');
      await rm(pidFile, { force: true });
    }
  });

  it('a torPath that cannot be run (its #! interpreter is missing) says so, not that tor exited with code null', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-fake-tor-'));
    try {
      const script = path.join(dir, 'tor');
      await writeFile(script, '#!/nonexistent/interpreter\n', { mode: 0o755 });
      const err = await launchTorProcess({ config: { DisableNetwork: 1 }, torPath: script }).catch((e: unknown) => e);
      assert.ok(err instanceof TorLaunchError, String(err));
      assert.match(err.message, /^cannot run .*\/tor \(ENOENT\)/);
      assert.doesNotMatch(err.message, /exit code null/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a torPath that is a directory is no tor binary (it passes the executable check)', async () => {
    const err = await findTorBinary(os.tmpdir()).catch((e: unknown) => e);
    assert.ok(err instanceof TorLaunchError, String(err));
    assert.match(err.message, /not a file/);
  });

});
