import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FakeControlServer } from '../support/fake-control-server.js';

// A process that ends with a stream attacher still set must put tor's __LeaveStreamsUnattached
// back: tor keeps the setting after the connection ends, and a tor left with it attaches no
// stream of any program. Checked in child processes that end by process.exit() and by an uncaught
// exception, against a fake control port that records what reaches it.

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const module = (rel: string) => JSON.stringify(pathToFileURL(path.join(DIST, rel)).href);

function runChild(endpoint: string, ending: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
import { openTorControl } from ${module('control/transport.js')};
import { streamHandoff } from ${module('state/stream-handoff.js')};
const { control } = await openTorControl(process.env.EP);
await streamHandoff(control).claim({});
process.stdout.write('claimed\\n');
${ending}
`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, EP: endpoint }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('state: __LeaveStreamsUnattached is put back when the process exits with it set', function () {
  this.timeout(30_000);
  let fake: FakeControlServer;
  beforeEach(async () => {
    fake = await FakeControlServer.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  for (const [how, ending, exitCode] of [
    ['process.exit()', 'process.exit(0);', 0],
    ['an uncaught exception', "throw new Error('the app crashed');", 1],
  ] as const) {
    it(`by ${how}`, async () => {
      const r = await runChild(fake.endpoint, ending);
      assert.equal(r.stdout, 'claimed\n', r.stderr);
      assert.equal(r.code, exitCode, r.stderr);
      await fake.waitForCommand(/^SETCONF __LeaveStreamsUnattached="0"/);
      const sets = fake.commands.filter((c) => c.startsWith('SETCONF __LeaveStreamsUnattached'));
      assert.deepEqual(sets, ['SETCONF __LeaveStreamsUnattached="1"', 'SETCONF __LeaveStreamsUnattached="0"']);
      assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '0');
    });
  }

  it('leaves a value it did not set (another controller set it first) as it was', async () => {
    fake.conf.set('__LeaveStreamsUnattached', '1');
    const r = await runChild(fake.endpoint, 'process.exit(0);');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.commands.filter((c) => c.startsWith('SETCONF')), []);
    assert.equal(fake.conf.get('__LeaveStreamsUnattached'), '1');
  });
});

// A connection that ends (tor stopped or restarted) while its state held the setting must not be
// kept for the process's exit: a server that reconnects after each tor restart would otherwise
// keep every dead connection with its states (buffers, routers) for as long as it runs.
describe('state: a connection that ends while __LeaveStreamsUnattached is ours is let go', function () {
  this.timeout(30_000);

  it('the TorControl and the TorState are garbage once the connection ended and the state closed', async () => {
    const fake = await FakeControlServer.start();
    fake.info({ 'ns/all': '', 'circuit-status': '', 'stream-status': '', 'address-mappings/all': '', 'entry-guards': '' });
    const script = `
import { openTorControl } from ${module('control/transport.js')};
import { TorState } from ${module('state/tor-state.js')};
async function run() {
  const { control } = await openTorControl(process.env.EP);
  const state = await TorState.create(control);
  await state.setAttacher(() => undefined);
  process.stdout.write('attached\\n');
  await new Promise((resolve) => state.once('close', resolve));
  await state.close();
  return [new WeakRef(control), new WeakRef(state)];
}
const refs = await run();
for (let i = 0; i < 5; i++) {
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
}
process.stdout.write(refs.map((r) => (r.deref() === undefined ? 'freed' : 'kept')).join(' ') + '\\n');
`;
    try {
      const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { env: { ...process.env, EP: fake.endpoint }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        // tor goes away with the setting still ours.
        if (stdout === 'attached\n') for (const c of fake.connections) c.socket.destroy();
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.deepEqual(fake.commands.filter((c) => c.startsWith('SETCONF')), ['SETCONF __LeaveStreamsUnattached="1"']);
      assert.equal(stdout, 'attached\nfreed freed\n', stderr);
    } finally {
      await fake.close();
    }
  });
});
