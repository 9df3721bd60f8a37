import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { buildProgram } from '../../src/cli/program.js';
import type { Output } from '../../src/cli/output.js';
import { FakeControlServer } from '../support/fake-control-server.js';

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
