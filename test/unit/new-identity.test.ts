import assert from 'node:assert/strict';
import sinon from 'sinon';
import { fakeControlPerTest } from '../support/fake-control-per-test.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { TorAbortError, TorControlClosedError } from '../../src/errors.js';
import { requestNewIdentity } from '../../src/tor/new-identity.js';
import { Tor } from '../../src/tor/tor.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { recordControlWrites } from '../support/control-writes.js';

/** What real tor cannot be made to do on demand: refuse SIGNAL events, or die while a NEWNYM waits. */
describe('tor: newIdentity (NEWNYM) against a fake control port', () => {
  let fake: FakeControlServer;
  let control: TorControl;

  fakeControlPerTest((f, c) => ((fake = f), (control = c)));

  it('waits for the announcement of a deferred NEWNYM (another signal does not count), then unsubscribes', async () => {
    fake.handle(/^SIGNAL NEWNYM$/, () => ['250 OK']); // deferred: no announcement yet
    let settled = false;
    const request = requestNewIdentity(control).then((ms) => {
      settled = true;
      return ms;
    });
    await fake.waitForCommand(/^SIGNAL NEWNYM$/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'resolved before tor applied the NEWNYM');
    fake.event('SIGNAL RELOAD');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'another signal is not a NEWNYM');
    fake.event('SIGNAL NEWNYM');
    assert.ok((await request) >= 100);
    await new Promise((r) => setTimeout(r, 50));
    const setevents = fake.commands.filter((c) => c.startsWith('SETEVENTS'));
    assert.match(setevents[0]!, /\bSIGNAL\b/);
    assert.doesNotMatch(setevents.at(-1)!, /\bSIGNAL\b/, 'unsubscribed');
  });

  it('sends the NEWNYM anyway when tor refuses SIGNAL events, and resolves on its OK', async () => {
    fake.handle(/^SETEVENTS .*\bSIGNAL\b/, () => ['552 Unrecognized event "SIGNAL"']);
    fake.handle(/^SIGNAL NEWNYM$/, () => ['250 OK']);
    assert.equal(await requestNewIdentity(control), 0);
    assert.ok(fake.commands.includes('SIGNAL NEWNYM'));
  });

  it('rejects with TorControlClosedError when the connection closes while it waits', async () => {
    fake.handle(/^SIGNAL NEWNYM$/, (_line, conn) => {
      setTimeout(() => conn.socket.destroy(), 30);
      return ['250 OK'];
    });
    await assert.rejects(requestNewIdentity(control), (err: unknown) => err instanceof TorControlClosedError);
  });

  it('a signal already aborted: TorAbortError at once, nothing sent (no SETEVENTS), kept SOCKS connections left alone (found by QA)', async () => {
    const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
    const retire = sinon.spy(tor.socks, 'closeKeptConnections');
    const { written } = recordControlWrites(control);
    try {
      const reason = new Error('shutting down');
      for (const run of [() => requestNewIdentity(control, { signal: AbortSignal.abort(reason) }), () => tor.newIdentity({ signal: AbortSignal.abort(reason) })]) {
        await assert.rejects(run(), (err: unknown) => err instanceof TorAbortError && err.code === 'TOR_ABORTED' && err.cause === reason);
      }
      // It used to subscribe to SIGNAL events first (and unsubscribe again): two SETEVENTS.
      assert.deepEqual(written, []);
      assert.equal(retire.callCount, 0, 'a call refused at once closed the kept connections');
    } finally {
      sinon.restore();
    }
  });
});
