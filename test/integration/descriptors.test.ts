import assert from 'node:assert/strict';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TestNetwork } from '../../src/testnet.js';
import type { TorState } from '../../src/state/tor-state.js';
import type { Router } from '../../src/state/router.js';
import type { ServerDescriptor } from '../../src/state/server-descriptor.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

/**
 * The relay's descriptor as the client has it. A client is bootstrapped with descriptors for most
 * of the network, not necessarily all: one it has not fetched yet is asked for again, a few times.
 */
async function descriptorOf(router: Router): Promise<ServerDescriptor | undefined> {
  for (let attempt = 1; ; attempt++) {
    const d = await router.descriptor();
    if (d !== undefined || attempt === 10) return d;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe("relays' descriptors on the private test network", function () {
  this.timeout(120_000);
  let network: TestNetwork;
  let tor: Tor;
  let state: TorState;
  let relayTor: Tor | undefined;

  before(async () => {
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
    state = await tor.getState();
  });

  after(async () => {
    await relayTor?.close();
    await tor?.close();
  });

  it("router.descriptor() on the client (UseMicrodescriptors 0) is each relay's own, matching its Router", async () => {
    for (const relay of network.relays) {
      const router = state.routers.get(relay.fingerprint)!;
      const d = await descriptorOf(router);
      assert.ok(d, `${relay.nickname} has a descriptor`);
      assert.equal(d.nickname, router.nickname);
      assert.equal(d.address, router.address);
      assert.equal(d.orPort, router.orPort);
      assert.equal(d.dirPort, router.dirPort);
      assert.equal(d.fingerprint, router.fingerprint);
      assert.equal(d.orPort, relay.orPort);
      assert.match(d.platform ?? '', /^Tor \d+\.\d+\.\d+/);
      // The network's relays exit to loopback only (torrc-builder's exit policy).
      assert.deepEqual(d.exitPolicy, ['accept 127.0.0.0/8:*', 'reject *:*']);
      assert.ok(d.ntorOnionKey, 'an ntor key');
      assert.ok(d.bandwidth.average > 0);
    }
  });

  it('router.microdescriptor() is undefined on the client, which fetches full descriptors instead (tor answers 552)', async () => {
    const router = state.routers.get(network.relays[0]!.fingerprint)!;
    assert.equal(await router.microdescriptor(), undefined);
  });

  it("a relay's own tor has its microdescriptor, with the descriptor's keys", async () => {
    const relay = network.relays[0]!;
    relayTor = await connectTor({ control: `tcp:127.0.0.1:${relay.controlPort}` });
    const relayState = await relayTor.getState();
    const md = await relayState.routers.get(relay.fingerprint)!.microdescriptor();
    const d = await descriptorOf(state.routers.get(relay.fingerprint)!);
    assert.ok(md && d);
    assert.equal(md.ntorOnionKey, d.ntorOnionKey);
    assert.ok(md.identities['ed25519'], 'an ed25519 id line');
  });
});
