import assert from 'node:assert/strict';
import { TorControl } from '../../src/control/tor-control.js';
import { Tor } from '../../src/tor/tor.js';
import { TorAbortError, TorControlClosedError, TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import { TorState } from '../../src/state/tor-state.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { outcome, settleWithin, waitUntil, within } from '../support/settle.js';

const NAMES = '250+config/names=\r\nContactInfo String\r\n.\r\n250 OK\r\n';

/** tor.getConfig() hands out one live TorConfig, and a new one once that one is closed. */
describe('Tor.getConfig', () => {
  let peer: ScriptedPeer;
  let control: TorControl;
  let tor: Tor;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    peer.auto.set('GETINFO', NAMES);
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    peer.auto.set('GETCONF', '250 ContactInfo=me\r\n');
    control = new TorControl(await connectRaw(peer.port));
    tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: peer.endpoint });
  });
  afterEach(async () => {
    control.destroy();
    await peer.close();
  });

  it('shares one TorConfig between callers', async () => {
    const [a, b] = await Promise.all([tor.getConfig(), tor.getConfig()]);
    assert.equal(a, b);
    assert.equal(await tor.getConfig(), a);
    assert.equal(a.closed, false);
  });

  it("one caller's timeout or abort bounds its own wait, not the other callers' (nor the build)", async () => {
    peer.auto.delete('GETINFO');
    const impatient = assert.rejects(tor.getConfig({ timeoutMs: 1 }), TorTimeoutError);
    const ac = new AbortController();
    const aborted = assert.rejects(tor.getConfig({ signal: ac.signal }), TorAbortError);
    const patient = tor.getConfig();
    await peer.waitForLines(1);
    await impatient;
    ac.abort();
    await aborted;
    peer.write(NAMES);
    const config = await patient;
    assert.equal(await config.get('ContactInfo'), 'me');
    assert.equal(await tor.getConfig({ timeoutMs: 1000 }), config);
  });

  it('close() does not wait for a build tor never answers; a caller still waiting hears that the handle closed (found by QA)', async () => {
    peer.auto.delete('GETINFO');
    const waiting = outcome(tor.getConfig());
    await peer.waitForLines(1);
    // It waited for the build, which only the connection's reply timeout (60 s) would have ended.
    const closing = await settleWithin(tor.close(), 5_000, 'tor.close()');
    assert.ok(closing.ok, String(!closing.ok && closing.error));
    const r = await within(waiting, 5_000, 'tor.getConfig()');
    assert.ok(!r.ok && r.error instanceof TorControlClosedError, String(!r.ok ? r.error : 'resolved'));
  });

  it('after the user closed it, builds a new one instead of handing out the closed one', async () => {
    const first = await tor.getConfig();
    await first.close();
    assert.equal(first.closed, true);
    const second = await tor.getConfig();
    assert.notEqual(second, first);
    assert.equal(await second.get('ContactInfo'), 'me');
  });

  it('after the connection closed: a new build fails with TorControlClosedError, not "this TorConfig is closed"', async () => {
    const first = await tor.getConfig();
    peer.cut();
    await waitUntil(() => first.closed, 'the config to see the connection close');
    await assert.rejects(tor.getConfig(), (err: unknown) => err instanceof TorControlClosedError && /GETINFO/.test(err.message));
  });

  // What a JavaScript caller may pass where the options go.
  it('null options are none (getConfig, new TorState), as undefined is', async () => {
    assert.equal((await tor.getConfig(null as never)).closed, false);
    const state = new TorState(control, null as never);
    assert.equal(state.circuits.size, 0);
    await state.close();
  });

  it('a number where connect takes its options is TOR_INVALID_VALUE, not ignored (it meant no timeout at all); so for new TorState', async () => {
    const sent = peer.received.length;
    await assert.rejects(tor.connect('127.0.0.1:1', 30_000 as never), (e: unknown) => e instanceof TorInvalidValueError && /options: must be an object/.test(e.message));
    assert.throws(() => new TorState(control, 5 as never), (e: unknown) => e instanceof TorInvalidValueError && /options: must be an object/.test(e.message));
    assert.equal(peer.received.length, sent, 'nothing was sent');
  });

  it('a number where fetch takes its init is TOR_INVALID_VALUE, not ignored', async () => {
    await assert.rejects(tor.fetch('http://127.0.0.1:1/', 5000 as never), (e: unknown) => e instanceof TorInvalidValueError && /fetch init/.test(e.message));
  });
});
