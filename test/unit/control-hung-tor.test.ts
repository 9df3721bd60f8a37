import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import sinon from 'sinon';
import { TorControl, REPLY_TIMEOUT_MS } from '../../src/control/tor-control.js';
import { TorControlClosedError, TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { outcome, type Settled } from '../support/settle.js';

/**
 * A tor that stops answering (SIGSTOP, a wedged process) keeps its socket open, so no error ever
 * comes: TorControl notices that nothing at all has come from tor for `replyTimeoutMs` while a
 * reply is awaited, and closes the connection as hung. The clock is sinon's (timers and Date
 * together); the bytes go over a real socket to a scripted peer.
 */
describe('TorControl: a tor that goes silent while a reply is awaited', () => {
  const LIMIT = 1_000;
  let peer: ScriptedPeer;
  let socket: net.Socket;
  let control: TorControl | undefined;
  let clock: sinon.SinonFakeTimers;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    socket = await connectRaw(peer.port);
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    clock.restore();
    control?.destroy();
    control = undefined;
    socket.destroy();
    await peer.close();
  });

  /**
   * Writes `wire` from the peer and resolves once `control` has read it (its data listener was
   * added before this one). Not through a subscription: that would be a command awaiting a reply.
   */
  async function heard(wire: string): Promise<void> {
    const got = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    peer.write(wire);
    await got;
  }

  /** How `p` stands once pending callbacks have run: 'pending', or its outcome. */
  async function peek<T>(p: Promise<T>): Promise<Settled<T> | 'pending'> {
    let seen: Settled<T> | 'pending' = 'pending';
    void outcome(p).then((o) => (seen = o));
    // setImmediate is not faked: one turn of the real event loop lets every callback run.
    await new Promise((resolve) => setImmediate(resolve));
    return seen;
  }

  it('closes the connection as hung: the command fails TOR_CONTROL_CLOSED, caused by a TorTimeoutError naming it', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    const closed = new Promise<Error | undefined>((resolve) => control!.once('close', resolve));
    const reply = control.command('GETINFO version');
    reply.catch(() => undefined);
    await peer.waitForLines(1);
    clock.tick(LIMIT - 1);
    assert.equal(await peek(reply), 'pending', 'gave up before the limit');
    clock.tick(1);
    const settled = await peek(reply);
    assert.ok(settled !== 'pending' && !settled.ok, 'still pending, or answered');
    const err = settled.error;
    assert.ok(err instanceof TorControlClosedError, String(err));
    assert.equal(err.code, 'TOR_CONTROL_CLOSED');
    assert.match(err.message, /^GETINFO failed: the Tor control connection closed \(waiting for tor's reply to GETINFO, with nothing at all coming from tor \(stopped or hung\?\), timed out after 1000 ms\)$/);
    assert.ok(err.cause instanceof TorTimeoutError);
    assert.equal(err.cause.timeoutMs, LIMIT);
    assert.equal(control.closed, true);
    // Whoever waits on the connection (a TorState, an onion service) hears why.
    const why = await closed;
    assert.ok(why instanceof TorTimeoutError, String(why));
    await assert.rejects(control.command('GETINFO version'), { code: 'TOR_CONTROL_CLOSED' });
    // The socket is gone: a tor that wakes up later finds the connection closed.
    assert.equal(socket.destroyed, true);
  });

  it('every command waiting fails, each named; the default limit is 60 s', async () => {
    assert.equal(REPLY_TIMEOUT_MS, 60_000);
    control = new TorControl(socket);
    const a = control.command('GETINFO version');
    const b = control.command('SIGNAL NEWNYM');
    for (const p of [a, b]) p.catch(() => undefined);
    await peer.waitForLines(2);
    clock.tick(REPLY_TIMEOUT_MS - 1);
    assert.equal(await peek(a), 'pending');
    clock.tick(1);
    await assert.rejects(a, (err: Error) => err instanceof TorControlClosedError && err.message.startsWith('GETINFO failed') && err.message.includes('after 60000 ms'));
    await assert.rejects(b, (err: Error) => err instanceof TorControlClosedError && err.message.startsWith('SIGNAL failed'));
  });

  it('anything from tor counts as life: events, and a long data block coming in pieces', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    const reply = control.command('GETINFO ns/all');
    await peer.waitForLines(1);
    // Ten limits' worth of time, tor sending something every 0.6 of one.
    for (let i = 0; i < 10; i++) {
      clock.tick(LIMIT * 0.6);
      await heard(`650 BW ${i} ${i}\r\n`);
    }
    peer.write('250+ns/all=\r\nr one\r\n');
    clock.tick(LIMIT * 0.6);
    await heard('r mid\r\n');
    clock.tick(LIMIT * 0.6);
    peer.write('r two\r\n.\r\n250 OK\r\n');
    const answered = await reply;
    assert.equal(answered.lines[0]!.data, 'r one\nr mid\nr two');
    assert.equal(control.closed, false);
  });

  it('silence while nothing is awaited is no hang: an idle connection, then a command answered in time', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    await heard('650 BW 0 0\r\n');
    clock.tick(LIMIT * 10);
    assert.equal(control.closed, false);
    const reply = control.command('GETINFO version');
    await peer.waitForLines(1);
    clock.tick(LIMIT - 1);
    peer.write('250-version=0.4.9.1\r\n250 OK\r\n');
    assert.equal((await reply).lines[0]!.text, 'version=0.4.9.1');
    // Nothing awaited again: silence from here on is fine too.
    clock.tick(LIMIT * 10);
    assert.equal(control.closed, false);
  });

  it('a command sent while the check armed for an earlier one runs still gets at least the whole limit', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    const first = control.command('GETINFO version');
    await peer.waitForLines(1);
    clock.tick(LIMIT * 0.5);
    peer.write('250-version=0.4.9.1\r\n250 OK\r\n');
    await first;
    clock.tick(LIMIT * 0.4);
    const second = control.command('GETINFO version');
    await peer.waitForLines(2);
    // The check armed for the first command runs now, 0.1 limit into the second one's wait.
    clock.tick(LIMIT * 0.1);
    clock.tick(LIMIT * 0.9);
    assert.equal(await peek(second), 'pending');
    assert.equal(control.closed, false);
    peer.write('250-version=0.4.9.1\r\n250 OK\r\n');
    assert.equal((await second).lines[0]!.text, 'version=0.4.9.1');
  });

  it('a command abandoned by its own timeoutMs still awaits tor\'s reply, so a tor that never sends it is hung', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    const closed = new Promise<Error | undefined>((resolve) => control!.once('close', resolve));
    const reply = control.command('GETINFO version', { timeoutMs: 100 });
    reply.catch(() => undefined);
    await peer.waitForLines(1);
    clock.tick(100);
    await assert.rejects(reply, TorTimeoutError);
    assert.equal(control.closed, false, 'the abandoned command alone closed nothing');
    clock.tick(LIMIT - 100);
    assert.ok((await closed) instanceof TorTimeoutError);
  });

  it('a check that runs far too late (the machine slept) judges nothing, and the next one does', async () => {
    control = new TorControl(socket, { replyTimeoutMs: LIMIT });
    const reply = control.command('GETINFO version');
    reply.catch(() => undefined);
    await peer.waitForLines(1);
    // A laptop's sleep: the wall clock jumps, timers due meanwhile run at once on waking.
    clock.setSystemTime(Date.now() + LIMIT * 100);
    clock.tick(LIMIT);
    assert.equal(await peek(reply), 'pending', 'closed on waking, before tor could be read');
    assert.equal(control.closed, false);
    // Still silent one whole limit later: now it is a hang.
    clock.tick(LIMIT);
    await assert.rejects(reply, TorControlClosedError);
  });

  it('0 and Infinity turn it off', async () => {
    for (const off of [0, Infinity]) {
      const c = new TorControl(await connectRaw(peer.port), { replyTimeoutMs: off });
      try {
        const reply = c.command('GETINFO version');
        await peer.waitForLines(1);
        clock.tick(REPLY_TIMEOUT_MS * 100);
        assert.equal(c.closed, false, `replyTimeoutMs ${off}`);
        peer.write('250-version=0.4.9.1\r\n250 OK\r\n');
        await reply;
        peer.reset();
      } finally {
        c.destroy();
      }
    }
  });

  it('a replyTimeoutMs that is no number of milliseconds is refused (nothing shown of a string)', () => {
    for (const bad of [-1, Number.NaN, 'hunter2', null, true] as unknown[]) {
      assert.throws(
        () => new TorControl(socket, { replyTimeoutMs: bad as number }),
        (err: Error) => err instanceof TorInvalidValueError && err.field === 'replyTimeoutMs' && !err.message.includes('hunter2'),
        String(bad),
      );
    }
  });

  /**
   * keepAliveMs: a connection that only listens has no reply awaited, so a stopped tor would go
   * unnoticed; with it, an idle connection asks tor something small, and the reply timeout does
   * the rest.
   */
  describe('keepAliveMs asks a silent tor something, so that a connection that only listens notices a hang', () => {
    const EVERY = 300;

    /** Lets the socket's writes and reads happen (setImmediate is not faked): a few loop turns, for a loopback round trip. */
    async function turn(): Promise<void> {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    }

    /**
     * A keep-alive connection, authenticated (nothing is asked before), and one interval on, in
     * which tor's answer to AUTHENTICATE counts as life: from here, a question comes after the
     * next whole interval of silence. The peer's record starts afresh.
     */
    async function authenticatedControl(): Promise<TorControl> {
      const c = new TorControl(socket, { replyTimeoutMs: LIMIT, keepAliveMs: EVERY });
      peer.auto.set('AUTHENTICATE', '250 OK\r\n');
      await c.command('AUTHENTICATE');
      clock.tick(EVERY);
      await turn();
      assert.deepEqual(peer.received, ['AUTHENTICATE']);
      peer.received.length = 0;
      return c;
    }

    it('asks nothing before the connection has authenticated (tor would close it), nor after a refused AUTHENTICATE', async () => {
      control = new TorControl(socket, { replyTimeoutMs: LIMIT, keepAliveMs: EVERY });
      clock.tick(EVERY * 10);
      await turn();
      assert.deepEqual(peer.received, []);
      const refused = control.command('AUTHENTICATE');
      await peer.waitForLines(1);
      peer.write('515 Authentication failed: Password did not match HashedControlPassword value from configuration\r\n');
      await assert.rejects(refused, { code: 'TOR_CONTROL_ERROR' });
      clock.tick(EVERY * 10);
      await turn();
      assert.deepEqual(peer.received, ['AUTHENTICATE']);
      peer.auto.set('AUTHENTICATE', '250 OK\r\n');
      await control.command('AUTHENTICATE');
      clock.tick(EVERY * 2);
      await peer.waitForLines(3);
      assert.deepEqual(peer.received, ['AUTHENTICATE', 'AUTHENTICATE', 'GETINFO version']);
    });

    it('an idle connection asks GETINFO version; a tor that never answers is closed as hung, and listeners hear why', async () => {
      control = await authenticatedControl();
      const closed = new Promise<Error | undefined>((resolve) => control!.once('close', resolve));
      clock.tick(EVERY - 1);
      await turn();
      assert.deepEqual(peer.received, [], 'asked before keepAliveMs');
      clock.tick(1);
      await peer.waitForLines(1);
      assert.deepEqual(peer.received, ['GETINFO version']);
      // No answer: one to two limits later the connection is closed as hung.
      clock.tick(2 * LIMIT);
      const why = await closed;
      assert.ok(why instanceof TorTimeoutError, String(why));
      assert.match(why.message, /waiting for tor's reply to GETINFO, with nothing at all coming from tor/);
      assert.equal(control.closed, true);
      assert.equal(clock.countTimers(), 0, 'a timer outlived the connection');
    });

    it('a tor that answers is left open, and asked again only after keepAliveMs of silence', async () => {
      control = await authenticatedControl();
      peer.auto.set('GETINFO', '250-version=0.4.9.1\r\n250 OK\r\n');
      let answers = 0;
      socket.on('data', () => answers++);
      for (let i = 0; i < 10; i++) {
        clock.tick(EVERY);
        await turn();
      }
      assert.equal(control.closed, false);
      // Ten intervals: a question every other one, since each answer is tor heard from.
      assert.deepEqual(peer.received, Array(5).fill('GETINFO version'));
      assert.equal(answers, 5);
    });

    it('asks nothing while tor is heard from (events), or while a command of the application waits', async () => {
      control = await authenticatedControl();
      for (let i = 0; i < 10; i++) {
        clock.tick(EVERY * 0.9);
        await heard(`650 BW ${i} ${i}\r\n`);
      }
      await turn();
      assert.deepEqual(peer.received, [], 'asked while events were coming');
      const reply = control.command('SIGNAL NEWNYM');
      await peer.waitForLines(1);
      clock.tick(EVERY * 3);
      await turn();
      assert.deepEqual(peer.received, ['SIGNAL NEWNYM'], 'asked beside a command already waiting');
      peer.write('250 OK\r\n');
      await reply;
    });

    it("on an unref'd connection the question alone does not hold the process; a command of the application still does", async () => {
      control = (await authenticatedControl()).unref();
      // Node's own handle knows whether it holds the event loop (what process exit depends on).
      const holds = (): boolean => (socket as unknown as { _handle: { hasRef(): boolean } })._handle.hasRef();
      assert.equal(holds(), false);
      clock.tick(EVERY);
      await peer.waitForLines(1);
      assert.equal(holds(), false, 'the keep-alive question holds the process');
      const reply = control.command('SIGNAL NEWNYM');
      assert.equal(holds(), true, "the application's command does not");
      await heard('250-version=0.4.9.1\r\n250 OK\r\n');
      assert.equal(holds(), true, 'released when the question was answered, the command still waiting');
      peer.write('250 OK\r\n');
      await reply;
      assert.equal(holds(), false);
      control.ref();
      assert.equal(holds(), true);
    });

    it("a process whose work is done exits while the question waits, on an unref'd connection (a child process, real clock)", async () => {
      clock.restore();
      peer.auto.set('AUTHENTICATE', '250 OK\r\n');
      const script = [
        "import net from 'node:net';",
        `import { TorControl } from ${JSON.stringify(new URL('../../src/control/tor-control.js', import.meta.url).href)};`,
        `const socket = net.connect(${peer.port}, '127.0.0.1');`,
        "await new Promise((resolve) => socket.once('connect', resolve));",
        'const control = new TorControl(socket, { replyTimeoutMs: 60000, keepAliveMs: 50 });',
        "await control.command('AUTHENTICATE');",
        'control.unref();',
        // The work: 400 ms, in which the question is asked and never answered.
        "setTimeout(() => console.log('done'), 400);",
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      try {
        const code = await exited;
        assert.equal(code, 0, 'held by the question until killed');
        assert.equal(out.trim(), 'done');
        assert.ok(peer.received.includes('GETINFO version'), `asked nothing: ${JSON.stringify(peer.received)}`);
      } finally {
        clearTimeout(timer);
      }
    });

    it('0 and Infinity leave it off (the default): no question, however long the silence', async () => {
      peer.auto.set('AUTHENTICATE', '250 OK\r\n');
      for (const off of [0, Infinity, undefined]) {
        const c = new TorControl(await connectRaw(peer.port), { replyTimeoutMs: LIMIT, ...(off !== undefined ? { keepAliveMs: off } : {}) });
        try {
          await c.command('AUTHENTICATE');
          peer.received.length = 0;
          clock.tick(LIMIT * 100);
          await turn();
          assert.deepEqual(peer.received, [], `keepAliveMs ${off}`);
          assert.equal(c.closed, false);
        } finally {
          c.destroy();
        }
      }
    });

    it('a keepAliveMs that is no number of milliseconds, or one without a reply timeout, is refused', () => {
      for (const bad of [-1, Number.NaN, 'hunter2', null] as unknown[]) {
        assert.throws(
          () => new TorControl(socket, { keepAliveMs: bad as number }),
          (err: Error) => err instanceof TorInvalidValueError && err.field === 'keepAliveMs' && !err.message.includes('hunter2'),
          String(bad),
        );
      }
      for (const replyTimeoutMs of [0, Infinity]) {
        assert.throws(
          () => new TorControl(socket, { replyTimeoutMs, keepAliveMs: EVERY }),
          (err: Error) => err instanceof TorInvalidValueError && err.field === 'keepAliveMs' && /needs a replyTimeoutMs/.test(err.message),
        );
      }
    });
  });
});
