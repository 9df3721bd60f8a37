import assert from 'node:assert/strict';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { OnionService } from '../../src/onion/onion-types.js';
import type { OnionDescriptor } from '../../src/onion/descriptor-fetch.js';
import { serviceIdFromPublicKey } from '../../src/onion/service-id.js';
import { TorControlError, TorInvalidValueError, TorOnionDescriptorNotFoundError } from '../../src/errors.js';
import { ONION_RETRY_PAUSE_MS } from '../support/retry.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import type { TestNetwork } from '../../src/testnet.js';
import { unpublishedServiceId as unpublishedId } from '../support/unpublished-onion.js';

/**
 * tor.fetchOnionDescriptor against the private test network: the descriptor of a service published
 * there, and the typed "not found" of an address nobody published.
 */

/** A v3 address nobody published: tor refuses one whose key is no ed25519 point, so a real key's. */
/**
 * The first fetch of a freshly published service. As for a first connection (see retryOnionLookup),
 * a fetch right at a time-period rotation of the test network can find no descriptor for a few
 * seconds: each retry waits out tor's HSDir requery period.
 */
async function fetchPublished(tor: Tor, onion: string): Promise<OnionDescriptor> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tor.fetchOnionDescriptor(onion, { timeoutMs: 60_000 });
    } catch (err) {
      if (!(err instanceof TorOnionDescriptorNotFoundError) || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, ONION_RETRY_PAUSE_MS));
    }
  }
}

describe('fetching onion service descriptors on the private test network', function () {
  this.timeout(180_000);
  let network: TestNetwork;
  let tor: Tor;
  let service: OnionService;
  let relays: Set<string>;
  let first: OnionDescriptor | undefined;

  before(async function () {
    this.timeout(240_000);
    network = await sharedTestNetwork();
    relays = new Set(network.relays.map((r) => r.fingerprint.toUpperCase()));
    tor = await connectTor({ control: network.controlEndpoint });
    service = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], uploadTimeoutMs: 60_000 });
  });
  after(async () => {
    await service?.close();
    await tor?.close();
  });

  it("fetches a published service's descriptor from one of the network's HSDirs", async () => {
    const d = await fetchPublished(tor, service.hostname);
    first = d;
    assert.equal(d.source, 'hsdir');
    assert.equal(d.serviceId, service.hostname.slice(0, -'.onion'.length));
    assert.ok(relays.has(d.hsDir!), `${d.hsDir} is none of ${[...relays].join(', ')}`);
    assert.match(d.descriptor, /^hs-descriptor 3\ndescriptor-lifetime \d+\n/);
    assert.match(d.descriptor, /\nsuperencrypted\n-----BEGIN MESSAGE-----\n/);
    assert.equal(d.version, 3);
    assert.ok(d.lifetimeMinutes !== undefined && d.lifetimeMinutes >= 30 && d.lifetimeMinutes <= 720, String(d.lifetimeMinutes));
    assert.equal(typeof d.revisionCounter, 'bigint');
    assert.match(d.descriptorId!, /^[A-Za-z0-9+/]{43}$/);
  });

  it('asks the HSDirs given in servers, and no other', async () => {
    assert.ok(first?.hsDir, 'the first test fetched a descriptor');
    const again = await tor.fetchOnionDescriptor(service.hostname, { servers: [`$${first.hsDir.toLowerCase()}`], timeoutMs: 60_000 });
    assert.equal(again.source, 'hsdir');
    assert.equal(again.hsDir, first.hsDir);
    assert.match(again.descriptor, /^hs-descriptor 3\n/);
  });

  it("answers from tor's client cache once tor asks no HSDir (each was asked within the requery period)", async () => {
    // Each fetch asks an HSDir not asked about this service lately; the network has a handful.
    let d: OnionDescriptor | undefined;
    for (let i = 0; i <= relays.size && d?.source !== 'cache'; i++) d = await fetchPublished(tor, service.hostname);
    assert.equal(d?.source, 'cache');
    assert.equal(d.hsDir, undefined);
    assert.match(d.descriptor, /^hs-descriptor 3\n/);
    assert.equal(d.version, 3);
  });

  it('rejects an address nobody published with TOR_ONION_NOT_FOUND, naming the HSDirs asked', async () => {
    const nobody = unpublishedId();
    const err = await tor.fetchOnionDescriptor(`${nobody}.onion`, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    assert.ok(err instanceof TorOnionDescriptorNotFoundError, String(err));
    assert.equal(err.code, 'TOR_ONION_NOT_FOUND');
    assert.equal(err.serviceId, nobody);
    assert.ok(err.attempts.length > 0);
    for (const a of err.attempts) {
      assert.ok(relays.has(a.hsDir), `${a.hsDir} is none of the relays`);
      assert.equal(a.reason, 'NOT_FOUND');
    }
    // tor went on to the next responsible HSDir after each "not found": each asked once.
    assert.equal(new Set(err.attempts.map((a) => a.hsDir)).size, err.attempts.length);
  });

  it('answers concurrent fetches each with its own result', async () => {
    const nobody = unpublishedId();
    const [a, b, c] = await Promise.allSettled([
      fetchPublished(tor, service.hostname),
      fetchPublished(tor, service.hostname),
      tor.fetchOnionDescriptor(nobody, { timeoutMs: 60_000 }),
    ]);
    for (const r of [a, b]) {
      assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      if (r.status === 'fulfilled') assert.match(r.value.descriptor, /^hs-descriptor 3\n/);
    }
    assert.ok(c.status === 'rejected' && c.reason instanceof TorOnionDescriptorNotFoundError && c.reason.serviceId === nobody);
  });

  it("passes tor's refusal of an unknown server on as TorControlError, and refuses bad input before sending", async () => {
    const unknown = 'F'.repeat(40);
    assert.ok(!relays.has(unknown));
    await assert.rejects(tor.fetchOnionDescriptor(service.hostname, { servers: [unknown] }), (e: unknown) => e instanceof TorControlError && e.status === 552);
    await assert.rejects(tor.fetchOnionDescriptor('expyuzz4wqqyqhjn.onion'), TorInvalidValueError);
    // 32 bytes that are no ed25519 point pass the address checksum; tor refuses them (513).
    const offCurve = serviceIdFromPublicKey(Buffer.alloc(32, 0xff));
    await assert.rejects(tor.fetchOnionDescriptor(offCurve), (e: unknown) => e instanceof TorInvalidValueError && e.cause instanceof TorControlError);
    await assert.rejects(tor.fetchOnionDescriptor(service.hostname, { servers: [`${unknown}\r\nSIGNAL HALT`] }), TorInvalidValueError);
    // tor is still answering on this connection.
    assert.match(await tor.control.getInfo('version'), /^0\.4\./);
  });
});
