import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { buildProgram } from '../../src/cli/program.js';
import type { Output } from '../../src/cli/output.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { describeError } from '../../src/cli/errors.js';
import { TorControlError } from '../../src/errors.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * Text tor passes on from others (a SOCKS client's hostname in STREAM events, a GETINFO value) can
 * hold terminal control sequences; the CLI's text output must not hand them to the terminal raw.
 */

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

async function runAgainst(fake: FakeControlServer, argv: string[]): Promise<{ out: string; err: string }> {
  const output: Output & { out: Capture; err: Capture } = { out: new Capture(), err: new Capture(), interactive: false };
  const program = buildProgram(output, new AbortController().signal);
  await program.parseAsync(['--control', fake.endpoint, ...argv], { from: 'user' });
  return { out: output.out.text, err: output.err.text };
}

// ESC [31m (colour), OSC 0 ; title BEL (window title), CSI as the 8-bit C1 character, a carriage return
const HOSTILE = 'a\x1b[31mX\x1b]0;pwn\x07b\u009b2Jc\rd.example';

describe('cli: control characters from tor never reach the terminal raw', () => {
  let fake: FakeControlServer;
  beforeEach(async () => {
    fake = await FakeControlServer.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('events (text): a STREAM target with escape sequences is printed escaped', async () => {
    const run = runAgainst(fake, ['events', 'STREAM', '-n', '1']);
    await fake.waitForCommand(/^SETEVENTS .*STREAM/);
    fake.event(`STREAM 24 CLOSED 0 ${HOSTILE}:80 REASON=SOCKS_PROTOCOL`);
    const { out } = await run;
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    assert.equal(out, '650 STREAM 24 CLOSED 0 a\\x1b[31mX\\x1b]0;pwn\\x07b\\x9b2Jc\\x0dd.example:80 REASON=SOCKS_PROTOCOL\n');
  });

  it('events --json: JSON escapes C0 itself; DEL and C1 (CSI U+009B) are written as \\u escapes too, the line parsing to the same value', async () => {
    const run = runAgainst(fake, ['events', 'STREAM', '-n', '1', '--json']);
    await fake.waitForCommand(/^SETEVENTS .*STREAM/);
    fake.event(`STREAM 24 CLOSED 0 ${HOSTILE}:80 REASON=SOCKS_PROTOCOL`);
    const { out } = await run;
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    assert.match(out, /\\u009b2J/);
    const event = JSON.parse(out) as { target: { host: string } };
    assert.equal(event.target.host, HOSTILE);
  });

  it('events (text and --json) never show a SOCKS password: for torcon\'s streams it is the isolation token', async () => {
    for (const json of [false, true]) {
      // A fake of its own each time: the first run's SETEVENTS must not stand for the second's.
      const own = await FakeControlServer.start();
      try {
        const run = runAgainst(own, ['events', 'STREAM', '-n', '1', ...(json ? ['--json'] : [])]);
        await own.waitForCommand(/^SETEVENTS .*STREAM/);
        own.event('STREAM 25 NEW 0 127.0.0.1:80 SOURCE_ADDR=127.0.0.1:5000 PURPOSE=USER SOCKS_USERNAME="torcon-isolate" SOCKS_PASSWORD="PLANTEDTOKEN"');
        const { out } = await run;
        assert.doesNotMatch(out, /PLANTEDTOKEN/, out);
        assert.match(out, /SOCKS_PASSWORD=\[redacted\]/);
        if (json) assert.equal((JSON.parse(out) as { socksPassword?: string }).socksPassword, '[redacted]');
      } finally {
        await own.close();
      }
    }
  });

  it('status (text): tor\'s bootstrap summary and user name are printed escaped', async () => {
    fake.info({
      'process/pid': '1', 'process/uid': '0', 'process/user': `r\x1b[2Jx`, 'process/descriptor-limit': '-1', uptime: '5',
      'traffic/read': '0', 'traffic/written': '0',
      'status/bootstrap-phase': `NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Conn\x1b]0;pwn\x07ecting"`,
      'status/circuit-established': '0', 'status/enough-dir-info': '0', 'network-liveness': 'down', dormant: '0',
      'accounting/hibernating': 'awake',
    });
    const { out } = await runAgainst(fake, ['status']);
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    assert.match(out, /^process +pid 1, user r\\x1b\[2Jx$/m);
    assert.match(out, /^bootstrap +5% Conn\\x1b\]0;pwn\\x07ecting$/m);
  });

  it('info: a value with escape sequences is printed escaped, its line breaks kept', async () => {
    fake.info({ 'stream-status': `1 SUCCEEDED 3 ${HOSTILE}:80\n2 NEW 0 plain.example:443` });
    const { out } = await runAgainst(fake, ['info', 'stream-status']);
    assert.equal(out, '1 SUCCEEDED 3 a\\x1b[31mX\\x1b]0;pwn\\x07b\\x9b2Jc\\x0dd.example:80\n2 NEW 0 plain.example:443\n');
  });
});

describe('cli: fetch prints a server\'s status line and headers escaped (any exit or onion site could send escapes)', () => {
  let evil: net.Server;
  let evilPort: number;
  let socks: FakeSocksServer;
  beforeEach(async () => {
    // A raw HTTP server: Node's own would refuse to send these bytes.
    evil = net.createServer((s) => {
      s.once('data', (request) => {
        const notFound = request.toString('latin1').startsWith('GET /missing');
        const status = notFound ? '404 Nope\x1b[31mRED' : '200 OK\x1b]0;pwned\x07\x1b[31mRED';
        s.end(`HTTP/1.1 ${status}\r\nX-Evil: a\u009b31mred\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody`, 'latin1');
      });
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    evilPort = (evil.address() as net.AddressInfo).port;
    socks = await startFakeSocksServer({ answer: () => ({ forwardTo: evilPort }) });
  });
  afterEach(async () => {
    await socks.close();
    await new Promise<void>((r) => evil.close(() => r()));
  });

  it('-i: the status line and header values with escape sequences are printed escaped; the body as it came', async () => {
    const output: Output & { out: Capture; err: Capture } = { out: new Capture(), err: new Capture(), interactive: false };
    const program = buildProgram(output, new AbortController().signal);
    await program.parseAsync(['fetch', '-i', '--socks-port', String(socks.port), `http://127.0.0.1:${evilPort}/`], { from: 'user' });
    const out = output.out.text;
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    assert.match(out, /^HTTP 200 OK\\x1b\]0;pwned\\x07\\x1b\[31mRED$/m);
    assert.match(out, /^x-evil: a\\x9b31mred$/m);
    assert.ok(out.endsWith('\nbody'), JSON.stringify(out));
  });

  it('an HTTP error: the stderr line names the status escaped, and the exit code is 1', async () => {
    const output: Output & { out: Capture; err: Capture } = { out: new Capture(), err: new Capture(), interactive: false };
    const program = buildProgram(output, new AbortController().signal);
    const exitCode = process.exitCode;
    try {
      await program.parseAsync(['fetch', '--socks-port', String(socks.port), `http://127.0.0.1:${evilPort}/missing`], { from: 'user' });
      assert.equal(process.exitCode, 1);
    } finally {
      process.exitCode = exitCode;
    }
    assert.doesNotMatch(output.err.text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(output.err.text));
    // Scheme, host and port: a path or query may carry a token.
    assert.match(output.err.text, /^torcon: HTTP 404 Nope\\x1b\[31mRED fetching http:\/\/127\.0\.0\.1:\d+$/m);
  });

  it('error lines escape what they quote (tor\'s words and the user\'s own input alike)', () => {
    const err = new TorControlError(552, 'Unrecognized key "version\x1b]0;pwned\x07"', 'GETINFO');
    assert.equal(describeError(err), 'TOR_CONTROL_ERROR: GETINFO: tor replied 552 Unrecognized key "version\\x1b]0;pwned\\x07"');
  });
});
