import assert from 'node:assert/strict';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';

// Two connections to one tor, each with a state that has an attacher (found by QA): the first to
// set __LeaveStreamsUnattached owns it and puts it back when done, which turned it off under the
// other, whose attacher tor then never asked again. DisableNetwork 1: the setting and its
// CONF_CHANGED events are the same without a network.
describe('__LeaveStreamsUnattached shared by two connections (a real tor, DisableNetwork 1)', function () {
  this.timeout(60_000);
  let a: Tor;
  let b: Tor | undefined;

  before(async () => {
    a = await launchTor({ config: { DisableNetwork: 1 } });
    b = await connectTor({ control: a.controlEndpoint });
  });
  after(async () => {
    await b?.close();
    await a?.close();
  });

  const setting = async (tor: Tor) => (await tor.control.getConf('__LeaveStreamsUnattached'))['__LeaveStreamsUnattached']?.[0];

  it('the other connection sets it again when the first puts it back, and the last one done leaves 0', async () => {
    const stateA = await a.getState();
    const stateB = await b!.getState();
    await stateA.setAttacher(() => undefined);
    await stateB.setAttacher(() => undefined);
    assert.equal(await setting(a), '1');
    await stateA.setAttacher(null);
    // A put back the 0 it found; B, which still attaches, sets it again.
    const deadline = Date.now() + 10_000;
    while ((await setting(a)) !== '1') {
      assert.ok(Date.now() < deadline, 'the setting made 1 again by the other connection within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await stateB.setAttacher(null);
    assert.equal(await setting(a), '0', 'the last one done puts back the 0 it found');
    await stateA.close();
    await stateB.close();
  });
});
