import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { TorAbortError } from '../../src/errors.js';
import { outcome, within } from '../support/settle.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

/**
 * The cancellation promise against real tor (the unit file abort-audit.test.ts has every call
 * against the fake): a command aborted after it was written rejects at once, and tor's reply,
 * which still comes, is consumed rather than handed to the next command. Each test uses its own
 * control connection and changes nothing in tor (the network may be shared).
 */
describe('abort audit against real tor', function () {
  this.timeout(60_000);
  let tor: Tor;

  before(async () => {
    // The network the run was given ($TOR_CONTROL), else the suite's shared one.
    if (process.env['TOR_CONTROL'] === undefined) await sharedTestNetwork();
    tor = await connectTor();
  });
  after(async () => {
    await tor?.close();
  });

  it('a command aborted after it was written: TorAbortError at once, and the next command still gets its own reply', async () => {
    const { control } = tor;
    const version = await control.getInfo('version');
    const socks = await control.getInfo('net/listeners/socks');
    // Big and small answers, read by different paths (data blocks, key=value lines, PROTOCOLINFO).
    const calls: Array<[string, (signal: AbortSignal) => Promise<unknown>]> = [
      ['GETINFO ns/all', (signal) => control.getInfo('ns/all', { signal })],
      ['GETINFO config/names', (signal) => control.getInfo('config/names', { signal })],
      ['GETCONF', (signal) => control.getConf(['SocksPort', 'ContactInfo'], { signal })],
      ['PROTOCOLINFO', (signal) => control.protocolInfo({ signal })],
      ['a raw command', (signal) => control.command('GETINFO version', { signal })],
    ];
    for (let round = 0; round < 20; round++) {
      for (const [name, run] of calls) {
        const ac = new AbortController();
        const reason = new Error(`round ${round}`);
        // Written synchronously: tor has the command, and cannot have answered before the abort.
        const aborted = outcome(run(ac.signal));
        ac.abort(reason);
        const r = await within(aborted, 2_000, name);
        assert.ok(!r.ok && r.error instanceof TorAbortError && r.error.cause === reason, `${name}: ${String(r.ok || r.error)}`);
        assert.equal(getEventListeners(ac.signal, 'abort').length, 0, `${name}: a listener was left`);
        // Asked while tor's reply to the abandoned command is still on its way.
        const [v, s] = await Promise.all([control.getInfo('version'), control.getInfo('net/listeners/socks')]);
        assert.equal(v, version, `${name}, round ${round}: the next command got another reply`);
        assert.equal(s, socks, `${name}, round ${round}`);
      }
    }
  });

  it('events(): an abort while a next() waits ends it (done), unsubscribes, and leaves the connection in step', async () => {
    const { control } = tor;
    const ac = new AbortController();
    const iterator = control.events('BW', { signal: ac.signal });
    // tor sends BW once a second: the first one shows the subscription is made.
    const first = await iterator.next();
    assert.equal(first.done, false);
    const waiting = outcome(iterator.next());
    ac.abort(new Error('done reading'));
    // Events buffered before the abort are still read (one may have come just now); then done.
    let r = await within(waiting, 2_000, 'next()');
    for (let i = 0; i < 3 && r.ok && r.value.done === false; i++) r = await within(outcome(iterator.next()), 2_000, 'next()');
    assert.deepEqual(r, { ok: true, value: { value: undefined, done: true } });
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.match(await control.getInfo('version'), /^\d+\.\d+/);
  });
});
