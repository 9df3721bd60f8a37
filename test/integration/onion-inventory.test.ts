import assert from 'node:assert/strict';
import net from 'node:net';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { OnionPublishError, TorInvalidValueError } from '../../src/errors.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';

/**
 * tor.listOnionServices() and tor.removeOnionService() on the private network's client tor: the
 * detached service a process leaves behind, found and removed by the next one.
 */
describe('tor.listOnionServices() and tor.removeOnionService() against real tor', function () {
  this.timeout(60_000);
  let control: string;
  const tors: Tor[] = [];
  const servers: net.Server[] = [];
  const open = async () => {
    const tor = await connectTor({ control });
    tors.push(tor);
    return tor;
  };

  before(async function () {
    this.timeout(240_000);
    control = (await sharedTestNetwork()).controlEndpoint;
  });
  after(async () => {
    for (const s of servers) s.close();
    for (const t of tors) await t.close();
  });

  it('a detached service outlives its process; the next one lists it, cannot recreate it, and removes it', async () => {
    const first = await open();
    const detached = await first.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], detach: true, awaitUpload: false });
    const key = detached.privateKey!;
    await first.close();

    const next = await open();
    const listed = await next.listOnionServices();
    assert.deepEqual(
      listed.filter((s) => s.serviceId === detached.serviceId),
      [{ serviceId: detached.serviceId, hostname: detached.hostname, detached: true }],
    );
    // What a restarted process meets when it recreates its service from the same key.
    await assert.rejects(
      next.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: key, detach: true, awaitUpload: false }),
      (e: unknown) => e instanceof OnionPublishError && /already runs/.test(e.message),
    );
    assert.equal(await next.removeOnionService(detached.hostname), true);
    assert.ok(!(await next.listOnionServices()).some((s) => s.serviceId === detached.serviceId));
    assert.equal(await next.removeOnionService(detached.serviceId), false, 'already gone');
    // Now the key can be used again.
    const again = await next.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: key, awaitUpload: false });
    assert.equal(again.serviceId, detached.serviceId);
    await again.close();
  });

  it("lists a connection's own services to it alone; only it removes them, listener included", async () => {
    const owner = await open();
    const other = await open();
    const server = net.createServer((c) => c.end('hi\n'));
    servers.push(server);
    const service = await owner.createOnionService({ ports: [{ virtualPort: 80 }], server, awaitUpload: false });
    assert.ok(server.listening);

    assert.deepEqual(
      (await owner.listOnionServices()).filter((s) => s.serviceId === service.serviceId),
      [{ serviceId: service.serviceId, hostname: service.hostname, detached: false }],
    );
    assert.ok(!(await other.listOnionServices()).some((s) => s.serviceId === service.serviceId), 'tor shows it to its connection only');
    assert.equal(await other.removeOnionService(service.hostname), false, "tor lets no other connection remove it");

    assert.equal(await owner.removeOnionService(service.hostname.toUpperCase()), true);
    assert.ok(!(await owner.listOnionServices()).some((s) => s.serviceId === service.serviceId));
    assert.equal(server.listening, false, 'the listener torcon opened for it closed with it');
  });

  it('refuses what is no v3 onion address, sending nothing', async () => {
    const tor = await open();
    await assert.rejects(tor.removeOnionService('example.com'), (e: unknown) => e instanceof TorInvalidValueError && e.code === 'TOR_INVALID_VALUE');
    assert.match(await tor.control.getInfo('version'), /^0\.4\./, 'the connection is fine');
  });
});
