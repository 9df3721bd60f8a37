import assert from 'node:assert/strict';
import { fakeControlPerTest } from '../support/fake-control-per-test.js';
import type { TorControl } from '../../src/control/tor-control.js';
import type { BootstrapProgress } from '../../src/process/bootstrap.js';
import { TorAbortError, TorControlClosedError, TorNetworkDisabledError, TorProtocolError, TorTimeoutError } from '../../src/errors.js';
import { readBootstrapProgress, waitForBootstrap } from '../../src/process/bootstrap.js';
import { FakeControlServer } from '../support/fake-control-server.js';

const AT_0 = 'NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"';
const AT_100 = 'NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"';
const step = (percent: number, tag: string, summary: string) => `STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=${percent} TAG=${tag} SUMMARY="${summary}"`;
const PROBLEM =
  'STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore HOSTID=AAAA HOSTADDR=127.0.0.1:9';

/** The events this connection still has subscribed (the last SETEVENTS sent). */
function subscribed(fake: FakeControlServer): string {
  return fake.commands.filter((c) => c.startsWith('SETEVENTS')).at(-1) ?? '';
}

/** Waits until the fake has seen the subscriptions and the reads of the wait. */
async function waitingStarted(fake: FakeControlServer): Promise<void> {
  await fake.waitForCommand(/^GETCONF DisableNetwork$/);
}

/** Lets in-flight replies and events reach the client. */
const settle = () => new Promise((r) => setTimeout(r, 30));

/** Resolves when the last SETEVENTS no longer names STATUS_CLIENT or CONF_CHANGED. */
async function unsubscribed(fake: FakeControlServer): Promise<void> {
  for (let n = 1; ; n++) {
    await fake.waitForCommand(/^SETEVENTS/, n);
    const last = subscribed(fake);
    if (!/STATUS_CLIENT|CONF_CHANGED/.test(last)) return;
  }
}

describe('tor: bootstrapProgress and waitForBootstrap against a fake control port', () => {
  let fake: FakeControlServer;
  let control: TorControl;

  fakeControlPerTest((f, c) => ((fake = f), (control = c)));

  describe('readBootstrapProgress', () => {
    it('reads a plain step and a problem report, with its warning and reason', async () => {
      fake.info({ 'status/bootstrap-phase': 'NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY="Loading relay descriptors"' });
      assert.deepEqual(await readBootstrapProgress(control), { percent: 50, tag: 'loading_descriptors', summary: 'Loading relay descriptors' });
      fake.info({ 'status/bootstrap-phase': PROBLEM.slice('STATUS_CLIENT '.length) });
      assert.deepEqual(await readBootstrapProgress(control), {
        percent: 5,
        tag: 'conn',
        summary: 'Connecting to a relay',
        warning: 'Connection refused',
        reason: 'CONNECTREFUSED',
      });
    });

    it('rejects an answer that is no bootstrap status with TOR_PROTOCOL_ERROR', async () => {
      fake.info({ 'status/bootstrap-phase': 'NOTICE SOMETHING ELSE' });
      await assert.rejects(readBootstrapProgress(control), (e: unknown) => e instanceof TorProtocolError && e.code === 'TOR_PROTOCOL_ERROR');
    });

    it("takes a JavaScript caller's null options as none", async () => {
      fake.info({ 'status/bootstrap-phase': AT_100 });
      assert.equal((await readBootstrapProgress(control, null as never)).percent, 100);
    });

    it('refuses a bad timeoutMs before sending anything', async () => {
      await assert.rejects(readBootstrapProgress(control, { timeoutMs: -1 }), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(readBootstrapProgress(control, 5000 as never), { code: 'TOR_INVALID_VALUE' });
      assert.deepEqual(fake.commands.filter((c) => c.startsWith('GETINFO')), []);
    });
  });

  describe('waitForBootstrap', () => {
    it('resolves at once for a tor that has bootstrapped, reporting 100%, and unsubscribes', async () => {
      fake.info({ 'status/bootstrap-phase': AT_100 });
      const seen: BootstrapProgress[] = [];
      await waitForBootstrap(control, { onProgress: (p) => seen.push(p) });
      assert.deepEqual(seen, [{ percent: 100, tag: 'done', summary: 'Done' }]);
      await unsubscribed(fake);
      // STATUS_CLIENT and CONF_CHANGED were asked for in one SETEVENTS.
      assert.ok(fake.commands.includes('SETEVENTS CONF_CHANGED STATUS_CLIENT'), fake.commands.join(' | '));
      assert.equal(fake.commands.filter((c) => /^SETEVENTS ./.test(c)).length, 1, fake.commands.join(' | '));
      // A JavaScript caller's null options are none, as undefined.
      await waitForBootstrap(control, null as never);
    });

    it('rejects with TOR_NETWORK_DISABLED for a tor at 100% whose network was disabled since: it carries no traffic', async () => {
      fake.info({ 'status/bootstrap-phase': AT_100 });
      fake.conf.set('DisableNetwork', '1');
      await assert.rejects(waitForBootstrap(control), (e: unknown) => e instanceof TorNetworkDisabledError && e.code === 'TOR_NETWORK_DISABLED');
      await unsubscribed(fake);
    });

    it('reports each step once and each problem, in order, and resolves at 100%', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const seen: string[] = [];
      let resolved = false;
      const wait = waitForBootstrap(control, { onProgress: (p) => seen.push(`${p.percent} ${p.tag}${p.warning ? ` ${p.warning}` : ''}`) }).then(() => {
        resolved = true;
      });
      await waitingStarted(fake);
      fake.event(step(5, 'conn', 'Connecting to a relay'));
      fake.event(PROBLEM);
      fake.event(step(5, 'conn', 'Connecting to a relay')); // the same step again: not news
      fake.event(step(50, 'loading_descriptors', 'Loading relay descriptors'));
      fake.event('STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED'); // not a bootstrap status
      await settle();
      assert.equal(resolved, false);
      fake.event(step(100, 'done', 'Done'));
      await wait;
      assert.deepEqual(seen, ['0 starting', '5 conn', '5 conn Connection refused', '50 loading_descriptors', '100 done']);
      await unsubscribed(fake);
    });

    it('ignores a late answer older than an event already heard', async () => {
      // tor moved on between the SETEVENTS and the GETINFO: the event arrives before the answer.
      fake.handle(/^GETINFO status\/bootstrap-phase$/, () => {
        fake.event(step(75, 'enough_dirinfo', 'Loaded enough directory info'));
        return ['250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay"', '250 OK'];
      });
      const seen: number[] = [];
      const wait = waitForBootstrap(control, { onProgress: (p) => seen.push(p.percent) });
      await waitingStarted(fake);
      fake.event(step(100, 'done', 'Done'));
      await wait;
      assert.deepEqual(seen, [75, 100]);
    });

    it('keeps waiting when onProgress throws', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const wait = waitForBootstrap(control, {
        onProgress: () => {
          throw new Error('a broken callback');
        },
      });
      await waitingStarted(fake);
      fake.event(step(100, 'done', 'Done'));
      await wait;
    });

    it('rejects with TOR_NETWORK_DISABLED when DisableNetwork is 1, and unsubscribes', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      fake.conf.set('DisableNetwork', '1');
      await assert.rejects(waitForBootstrap(control), (e: unknown) => {
        assert.ok(e instanceof TorNetworkDisabledError);
        assert.equal(e.code, 'TOR_NETWORK_DISABLED');
        assert.match(e.message, /DisableNetwork 1/);
        return true;
      });
      await unsubscribed(fake);
    });

    it('rejects with TOR_NETWORK_DISABLED when DisableNetwork is set to 1 while it waits', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const wait = waitForBootstrap(control);
      await waitingStarted(fake);
      fake.rawEvent('650-CONF_CHANGED\r\n650-MaxCircuitDirtiness=600\r\n650 OK\r\n');
      await settle();
      fake.rawEvent('650-CONF_CHANGED\r\n650-DisableNetwork=1\r\n650 OK\r\n');
      await assert.rejects(wait, (e: unknown) => e instanceof TorNetworkDisabledError && /while waiting/.test(e.message));
      await unsubscribed(fake);
    });

    it('gives up after timeoutMs saying where tor stopped and its last problem, and unsubscribes', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const wait = waitForBootstrap(control, { timeoutMs: 300 });
      await waitingStarted(fake);
      fake.event(PROBLEM);
      await assert.rejects(wait, (e: unknown) => {
        assert.ok(e instanceof TorTimeoutError);
        assert.equal(e.code, 'TOR_TIMEOUT');
        assert.equal(e.timeoutMs, 300);
        assert.match(e.message, /at 5% \("Connecting to a relay"\), last problem: "Connection refused" \(CONNECTREFUSED\)/);
        return true;
      });
      await unsubscribed(fake);
    });

    it('rejects with TOR_ABORTED on abort, and unsubscribes', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const ac = new AbortController();
      const wait = waitForBootstrap(control, { signal: ac.signal });
      await waitingStarted(fake);
      ac.abort();
      await assert.rejects(wait, (e: unknown) => e instanceof TorAbortError && e.code === 'TOR_ABORTED');
      await unsubscribed(fake);
    });

    it('sends nothing for an already aborted signal or bad options', async () => {
      await assert.rejects(waitForBootstrap(control, { signal: AbortSignal.abort() }), { code: 'TOR_ABORTED' });
      await assert.rejects(waitForBootstrap(control, { timeoutMs: Number.NaN }), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(waitForBootstrap(control, { onProgress: 'log' as never }), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(waitForBootstrap(control, 5000 as never), { code: 'TOR_INVALID_VALUE' });
      assert.deepEqual(fake.commands.filter((c) => !/^(PROTOCOLINFO|AUTHENTICATE)/.test(c)), []);
    });

    it('rejects with TOR_CONTROL_CLOSED when the connection closes while it waits', async () => {
      fake.info({ 'status/bootstrap-phase': AT_0 });
      const wait = waitForBootstrap(control, { timeoutMs: 60_000 });
      await waitingStarted(fake);
      for (const c of fake.connections) c.socket.destroy();
      await assert.rejects(wait, (e: unknown) => e instanceof TorControlClosedError);
    });

    it('rejects with TOR_CONTROL_CLOSED on a connection already closed', async () => {
      await control.close();
      await assert.rejects(waitForBootstrap(control), (e: unknown) => e instanceof TorControlClosedError);
    });
  });
});
