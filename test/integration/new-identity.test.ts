import assert from 'node:assert/strict';
import { launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { TorTimeoutError } from '../../src/errors.js';

// DisableNetwork 1: NEWNYM and its rate limit work the same without a network.
describe('tor.newIdentity() against a real tor (DisableNetwork 1)', function () {
  this.timeout(60_000);
  let tor: Tor;
  const announced: string[] = [];

  before(async () => {
    tor = await launchTor({ config: { DisableNetwork: 1 } });
    // A second listener of our own, to see when tor applies each NEWNYM.
    await tor.control.subscribeRaw('SIGNAL', (text) => announced.push(text));
  });

  after(async () => {
    await tor?.close();
  });

  it("resolves only once tor has applied the NEWNYM, also when tor's 10 s rate limit defers it", async () => {
    await tor.newIdentity();
    const first = announced.filter((t) => t === 'SIGNAL NEWNYM').length;
    assert.equal(first, 1, 'the first NEWNYM was applied, and announced, before newIdentity() resolved');
    // Within 10 s of the first: tor answers OK at once but applies it only when the 10 s are over.
    await tor.newIdentity();
    assert.equal(announced.filter((t) => t === 'SIGNAL NEWNYM').length, 2, 'the deferred NEWNYM was applied before newIdentity() resolved');
  });

  it('gives up with TorTimeoutError when tor defers it past timeoutMs (the request stays with tor)', async () => {
    // The NEWNYM of the test above was applied just now: the next is deferred for about 10 s.
    await assert.rejects(tor.newIdentity({ timeoutMs: 200 }), (err: unknown) => err instanceof TorTimeoutError);
    assert.match(await tor.control.getInfo('version'), /^\d+\.\d+/);
  });
});
