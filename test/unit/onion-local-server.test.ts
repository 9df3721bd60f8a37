import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closeListener, ensureListening, serverTarget } from '../../src/onion/local-server.js';
import { validateOnionOptions } from '../../src/onion/onion-options.js';

describe('onion services: the local server (local-server)', () => {
  const where = { localAddress: '127.0.0.1', localPort: 0 };

  it('two services made at once for one server that is not listening: one listen, one owner', async () => {
    const server = net.createServer();
    try {
      const [a, b] = await Promise.all([ensureListening(server, where), ensureListening(server, where)]);
      assert.equal(a.target, b.target);
      assert.equal(a.target, serverTarget(server));
      assert.deepEqual([a.opened, b.opened].sort(), [false, true], 'exactly one of them made it listen (and will close it)');
    } finally {
      closeListener(server);
    }
  });

  it('a server already listening is not owned: opened is false', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const got = await ensureListening(server, where);
      assert.equal(got.opened, false);
      assert.equal(got.target, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    } finally {
      closeListener(server);
    }
  });

  it('a server already listening elsewhere than localPort/localAddress/localSocket say is refused; where they say, or unnamed, it is used (found by QA)', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const elsewhere = port === 65535 ? 65534 : port + 1;
      await assert.rejects(
        ensureListening(server, { ...where, localPort: elsewhere, localGiven: ['localPort'] }),
        (e: unknown) => (e as { code?: string }).code === 'TOR_ENDPOINT_LISTEN' && new RegExp(`already listens on 127\\.0\\.0\\.1:${port}, not where localPort`).test((e as Error).message),
      );
      await assert.rejects(ensureListening(server, { localAddress: '::1', localPort: 0, localGiven: ['localAddress'] }), /not where localPort, localAddress or localSocket say/);
      await assert.rejects(ensureListening(server, { ...where, localSocket: '/tmp/x.sock', localGiven: ['localSocket'] }), /not where/);
      assert.equal((await ensureListening(server, { ...where, localPort: port, localGiven: ['localPort'] })).opened, false);
      assert.equal((await ensureListening(server, { ...where, localGiven: ['localAddress'] })).opened, false);
      assert.equal((await ensureListening(server, { ...where, localPort: 0, localGiven: ['localPort'] })).opened, false, 'port 0 is any');
    } finally {
      closeListener(server);
      server.close();
    }
  });

  it('localPort, localAddress or localSocket without a server are refused: there is nothing to listen (found by QA)', () => {
    for (const local of [{ localPort: 8080 }, { localAddress: '127.0.0.1' }, { localSocket: '/tmp/x.sock' }]) {
      assert.throws(
        () => validateOnionOptions({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], ...local }),
        (e: unknown) => (e as { code?: string }).code === 'TOR_INVALID_VALUE' && /without a server there is none/.test((e as Error).message),
      );
    }
  });

  it("a unix socket given by a relative path reaches tor as an absolute one: tor would look in its own working directory", async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-rel-sock-'));
    const server = net.createServer();
    try {
      const absolute = path.join(tmp, 'app.sock');
      const relative = path.relative(process.cwd(), absolute);
      assert.ok(!path.isAbsolute(relative));
      await new Promise<void>((resolve) => server.listen(relative, resolve));
      assert.equal(serverTarget(server), `unix:${absolute}`);
      const o = validateOnionOptions({ ports: [{ virtualPort: 80 }], server: net.createServer(), localSocket: relative });
      assert.equal(o.localSocket, absolute);
    } finally {
      server.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('when the first listen fails, the second tries on its own', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    const server = net.createServer();
    try {
      const [first, second] = await Promise.allSettled([
        ensureListening(server, { localAddress: '127.0.0.1', localPort: taken }),
        ensureListening(server, where),
      ]);
      assert.equal(first.status, 'rejected', 'the port is taken');
      assert.equal(second.status, 'fulfilled');
      assert.equal((second as PromiseFulfilledResult<{ opened: boolean }>).value.opened, true);
    } finally {
      closeListener(server);
      closeListener(blocker);
    }
  });
});
