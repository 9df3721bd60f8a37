import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { inspect } from 'node:util';
import createDebug from 'debug';
import sinon from 'sinon';
import { TorControl } from '../../src/control/tor-control.js';
import { OnionServiceManager } from '../../src/onion/onion-service-manager.js';
import type { TorOnionService } from '../../src/onion/onion-service.js';
import type { OnionProgress } from '../../src/onion/onion-types.js';
import { EndpointArgumentError, EndpointListenError, OnionPublishError, TorAbortError, TorControlClosedError, TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import { readClientAuthDir, writeClientAuthFiles } from '../../src/onion/client-auth-dir.js';
import { connectRaw, ScriptedPeer } from '../support/scripted-peer.js';
import { outcome, waitUntil } from '../support/settle.js';

/**
 * The fault paths of onion service creation that a real tor does not produce on demand (every
 * descriptor upload rejected, events racing the ADD_ONION reply, an old tor refusing PoW), against
 * a scripted control port. The happy paths run against real tor in test/integration/onion*.
 */

const ID = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const DIR_A = '$' + 'A'.repeat(40) + '~relayA';
const DIR_B = '$' + 'B'.repeat(40) + '~relayB';
const hsDesc = (action: string, dir: string, extra = '') => `650 HS_DESC ${action} ${ID} NO_AUTH ${dir}${extra}\r\n`;

/** Polls `done` on real I/O turns (setImmediate is not faked), for use while timers are faked. */
async function waitUntilFaked(done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(done(), 'condition not reached');
}

describe('OnionServiceManager against a scripted control port', () => {
  let peer: ScriptedPeer;
  let control: TorControl;
  let manager: OnionServiceManager;
  let key: string;
  let server: net.Server;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    control = new TorControl(await connectRaw(peer.port));
    manager = new OnionServiceManager(control);
    key = `ED25519-V3:${randomBytes(64).toString('base64')}`;
    server = net.createServer();
    peer.auto.set('SETEVENTS', '250 OK\r\n');
    peer.auto.set('GETCONF', '250 DisableNetwork=0\r\n');
    peer.auto.set('DEL_ONION', '250 OK\r\n');
    peer.auto.set('ADD_ONION', `250-ServiceID=${ID}\r\n250-PrivateKey=${key}\r\n250 OK\r\n`);
  });
  afterEach(async () => {
    server.close();
    control.destroy();
    await peer.close();
  });

  const addLine = () => peer.received.find((l) => l.startsWith('ADD_ONION'));

  it('waits for UPLOADED, even when the events come before the ADD_ONION reply', async () => {
    // tor may send the first HS_DESC events before our reply is parsed: they must not be lost.
    peer.auto.set(
      'ADD_ONION',
      hsDesc('UPLOAD', DIR_A, ' ' + 'x'.repeat(43)) + hsDesc('UPLOADED', DIR_A) + `250-ServiceID=${ID}\r\n250-PrivateKey=${key}\r\n250 OK\r\n`,
    );
    const phases: OnionProgress[] = [];
    const service = (await manager.create({
      ports: [{ virtualPort: 80 }, { virtualPort: 443, target: '127.0.0.1:9' }],
      server,
      onProgress: (p) => phases.push(p),
    })) as TorOnionService;
    assert.equal(service.hostname, `${ID}.onion`);
    assert.equal(service.address, `${ID}.onion:80`);
    assert.equal(service.privateKey, key);
    assert.ok(server.listening, 'the server listens');
    const port = (server.address() as net.AddressInfo).port;
    assert.equal(addLine(), `ADD_ONION NEW:ED25519-V3 Port=80,127.0.0.1:${port} Port=443,127.0.0.1:9`);
    assert.ok(peer.received.indexOf('SETEVENTS HS_DESC') < peer.received.indexOf(addLine()!), 'subscribed first');
    assert.deepEqual(phases.map((p) => p.phase), ['listening', 'adding', 'added', 'uploading', 'uploaded']);
    await service.close();
    assert.ok(peer.received.includes(`DEL_ONION ${ID}`));
    assert.equal(server.listening, false, 'the listener torcon opened is closed');
  });

  it('leaving an `await using` block removes the service from tor and closes the listener torcon opened', async () => {
    peer.auto.set('ADD_ONION', hsDesc('UPLOAD', DIR_A) + hsDesc('UPLOADED', DIR_A) + `250-ServiceID=${ID}\r\n250-PrivateKey=${key}\r\n250 OK\r\n`);
    {
      await using service = (await manager.create({ ports: [{ virtualPort: 80 }], server })) as TorOnionService;
      assert.equal(service.hostname, `${ID}.onion`);
      assert.ok(server.listening);
      assert.ok(!peer.received.includes(`DEL_ONION ${ID}`));
    }
    assert.ok(peer.received.includes(`DEL_ONION ${ID}`));
    assert.equal(server.listening, false);
  });

  it('fails with OnionPublishError when every upload failed, then removes the service and its listener', async () => {
    const creating = manager.create({ ports: [{ virtualPort: 80 }], server });
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    await waitUntil(() => peer.received.length >= 3, 'SETEVENTS, GETCONF and ADD_ONION sent'); // SETEVENTS, GETCONF, ADD_ONION
    peer.write(hsDesc('UPLOAD', DIR_A) + hsDesc('UPLOAD', DIR_B));
    peer.write(hsDesc('FAILED', DIR_A, ' REASON=UPLOAD_REJECTED') + hsDesc('FAILED', DIR_B, ' REASON=UPLOAD_REJECTED'));
    const err = await creating.catch((e: unknown) => e);
    assert.ok(err instanceof OnionPublishError, String(err));
    assert.equal(err.code, 'TOR_ONION_PUBLISH');
    assert.match(err.message, /every descriptor upload .* failed \(2x UPLOAD_REJECTED\)/);
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
    assert.equal(server.listening, false);
  });

  it('a clientAuthDir with no client and no clientAuth names is refused before anything is sent (the service would be open to everyone), saying whether it exists', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-onion-clients-'));
    try {
      for (const [dir, where] of [
        [tmp, 'holds no client'],
        [path.join(tmp, 'missing'), 'does not exist'],
      ] as const) {
        const err = await manager.create({ ports: [{ virtualPort: 80 }], server, clientAuthDir: dir, awaitUpload: false }).catch((e: unknown) => e);
        assert.ok(err instanceof EndpointArgumentError, String(err));
        assert.ok(err.message.includes(`clientAuthDir ${dir} ${where} and clientAuth names none`), err.message);
        assert.match(err.message, /open to everyone/);
      }
      assert.deepEqual(peer.received, []);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('a privateKeyFile that holds no key fails before anything is sent to tor, and its content is not in the message', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-onion-key-'));
    try {
      const file = path.join(tmp, 'key');
      await writeFile(file, 'ED25519-V3:not-a-key-SECRET\n', { mode: 0o600 });
      const err = await manager.create({ ports: [{ virtualPort: 80 }], server, privateKeyFile: file }).catch((e: unknown) => e);
      assert.ok(err instanceof EndpointArgumentError, String(err));
      assert.ok(!err.message.includes('SECRET'));
      assert.deepEqual(peer.received, []);
      assert.equal(server.listening, false);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  describe('a failed creation keeps no client file whose private key nobody received', () => {
    // Such a file would make the next start take that client as kept, with no private key to hand
    // out: the client could never connect, and nothing would say so.
    let tmp: string;
    beforeEach(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-onion-clients-'));
    });
    afterEach(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    it('clientAuthDir: every upload failed after tor had the service; a client already there keeps its file', async () => {
      const dir = path.join(tmp, 'clients');
      const kept = await readClientAuthDir(dir, ['alice']);
      await writeClientAuthFiles(dir, kept.created);
      const creating = manager.create({ ports: [{ virtualPort: 80 }], server, clientAuthDir: dir, clientAuth: ['alice', 'bob'] });
      await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
      await waitUntil(() => existsSync(path.join(dir, 'bob.auth')), "bob's file written once tor has the service");
      peer.write(hsDesc('UPLOAD', DIR_A) + hsDesc('FAILED', DIR_A, ' REASON=UPLOAD_REJECTED'));
      assert.ok((await creating.catch((e: unknown) => e)) instanceof OnionPublishError);
      assert.deepEqual(await readdir(dir), ['alice.auth']);
      assert.equal((await readClientAuthDir(dir, ['alice'])).clients[0]!.publicKey, kept.clients[0]!.publicKey);
    });

    it('hiddenServiceDir: the local listen failed after authorized_clients was written', async () => {
      peer.auto.set('GETINFO', `250-process/uid=${process.getuid!()}\r\n250 OK\r\n`);
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      try {
        const dir = path.join(tmp, 'hs');
        const err = await manager
          .create({
            ports: [{ virtualPort: 80 }],
            server,
            localPort: (busy.address() as net.AddressInfo).port,
            hiddenServiceDir: dir,
            clientAuth: ['carol'],
            awaitUpload: false,
          })
          .catch((e: unknown) => e);
        assert.ok(err instanceof EndpointListenError, String(err));
        assert.deepEqual(await readdir(path.join(dir, 'authorized_clients')).catch(() => []), []);
        assert.ok(!peer.received.some((l) => l.startsWith('SETCONF')), 'tor was never given the service');
      } finally {
        busy.close();
      }
    });
  });

  it('turns an upload timeout into OnionPublishError and removes the service', async () => {
    const err = await manager
      .create({ ports: [{ virtualPort: 80 }], server, uploadTimeoutMs: 300 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OnionPublishError, String(err));
    assert.match(err.message, /no descriptor upload .* succeeded within 0\.3 s /, 'the time given, not rounded to "0 s"');
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
    assert.equal(server.listening, false);
  });

  it("an abort while tor is asked about its network is the creation's abort, not a GETCONF's", async () => {
    peer.auto.delete('GETCONF'); // tor is slow to answer
    const ac = new AbortController();
    const creating = manager.create({ ports: [{ virtualPort: 80 }], server, signal: ac.signal });
    await waitUntil(() => peer.received.some((l) => l.startsWith('GETCONF')), 'GETCONF sent');
    ac.abort();
    await assert.rejects(creating, (err: Error) => {
      assert.ok(err instanceof TorAbortError);
      assert.equal(err.message, 'creating an onion service was aborted');
      return true;
    });
    assert.equal(addLine(), undefined, 'no ADD_ONION');
  });

  it('removes the service when aborted while waiting for the upload', async () => {
    const ac = new AbortController();
    const creating = manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], signal: ac.signal });
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await assert.rejects(creating, TorAbortError);
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
  });

  it('timeoutMs bounds the whole creation: TorTimeoutError while it waits for the upload, and the service is removed again; a bad one is refused before ADD_ONION', async () => {
    const creating = manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], timeoutMs: 300, uploadTimeoutMs: 60_000 }).catch((e: unknown) => e);
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    const err = await creating;
    assert.ok(err instanceof TorTimeoutError, String(err));
    assert.equal(err.timeoutMs, 300);
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
    const sent = peer.received.length;
    for (const bad of [-1, Number.NaN, '300']) {
      await assert.rejects(manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], timeoutMs: bad as never }), TorInvalidValueError, String(bad));
    }
    assert.equal(peer.received.length, sent, 'nothing sent for a bad timeoutMs');
  });

  for (const how of ['timeoutMs', 'signal'] as const) {
    it(`${how} ends the wait even when tor is slow to undo it: DEL_ONION still unanswered, the caller has its error; closeAll() waits for the undo (found in review)`, async () => {
      peer.auto.delete('DEL_ONION'); // tor does not answer the undo (yet)
      const ac = new AbortController();
      const opts = how === 'timeoutMs' ? { timeoutMs: 200 } : { signal: ac.signal };
      const creating = manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], uploadTimeoutMs: 60_000, ...opts }).catch((e: unknown) => e);
      await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
      if (how === 'signal') ac.abort('enough');
      const err = await creating;
      if (how === 'timeoutMs') assert.ok(err instanceof TorTimeoutError, String(err));
      else assert.ok(err instanceof TorAbortError && err.cause === 'enough', String(err));
      await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
      // The undo waits for tor; closeAll() waits for it, and both end once tor answers.
      let closed = false;
      const closing = manager.closeAll().then(() => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(closed, false, 'closeAll waits for the undo');
      peer.write('250 OK\r\n');
      await closing;
    });
  }

  it('fails at once with TorControlClosedError when the connection closes while it waits for the upload', async () => {
    const creating = manager.create({ ports: [{ virtualPort: 80 }], server, uploadTimeoutMs: 60_000 }).catch((e: unknown) => e);
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    await waitUntil(() => server.listening, 'the local server listens');
    control.destroy();
    const err = await creating;
    assert.ok(err instanceof TorControlClosedError, String(err));
    // (Had it waited for the upload timeout, 60 s, the test's own 10 s limit would fail it.)
    await waitUntil(() => !server.listening, 'the listener torcon opened is closed again');
  });

  it('a timeout longer than a Node timer holds (2 ** 40 ms): the creation is not failed after 1 ms', async () => {
    const creating = manager.create({ ports: [{ virtualPort: 80 }], server, uploadTimeoutMs: 2 ** 40 });
    let settled = false;
    creating.then(
      () => (settled = true),
      () => (settled = true),
    );
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled, false, 'still waiting for the upload');
    peer.write(hsDesc('UPLOAD', DIR_A, ' ' + 'x'.repeat(43)) + hsDesc('UPLOADED', DIR_A));
    const service = await creating;
    assert.equal(service.hostname, `${ID}.onion`);
    await service.close();
  });

  it('refuses to wait for an upload when tor has DisableNetwork 1, before any ADD_ONION', async () => {
    peer.auto.set('GETCONF', '250 DisableNetwork=1\r\n');
    await assert.rejects(manager.create({ ports: [{ virtualPort: 80 }], server }), /DisableNetwork 1.*awaitUpload: false/);
    assert.equal(addLine(), undefined);
    assert.equal(server.listening, false);
  });

  it('explains a tor that refuses PoW for ADD_ONION', async () => {
    peer.auto.set('ADD_ONION', '512 Bad arguments to ADD_ONION: Unrecognized keyword argument "PoWDefensesEnabled"\r\n');
    const err = await manager
      .create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], pow: true, awaitUpload: false })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OnionPublishError);
    assert.match(err.message, /does not accept PoW for ADD_ONION.*hiddenServiceDir/);
    assert.ok(!peer.received.some((l) => l.startsWith('DEL_ONION')), 'nothing to remove');
  });

  it("emits 'lost' when the control connection dies; close() then only closes the listener", async () => {
    const service = (await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false })) as TorOnionService;
    const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
    peer.cut();
    assert.ok((await lost) instanceof Error);
    assert.equal(service.closed, true);
    assert.ok(server.listening, 'the local server is left to the caller until close()');
    await service.close();
    assert.equal(server.listening, false);
  });

  it("the 'lost' error is a TorControlClosedError however the connection ended (a reset, our own close), the cause kept", async () => {
    // A reset surfaces as Node's bare ECONNRESET and our own close() as no error at all: 'lost'
    // must still carry torcon's typed error, as every other report of a closed connection does.
    const service = (await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false })) as TorOnionService;
    const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
    peer.reset();
    const err = await lost;
    assert.ok(err instanceof TorControlClosedError, `got ${String(err)}`);
    assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    await service.close();

    const peer2 = await ScriptedPeer.start();
    peer2.auto.set('SETEVENTS', '250 OK\r\n');
    peer2.auto.set('ADD_ONION', `250-ServiceID=${ID}\r\n250 OK\r\n`);
    peer2.auto.set('QUIT', '250 closing connection\r\n');
    const control2 = new TorControl(await connectRaw(peer2.port));
    try {
      const manager2 = new OnionServiceManager(control2);
      const service2 = await manager2.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false, detach: false });
      const lost2 = new Promise<Error>((resolve) => (service2 as TorOnionService).once('lost', resolve));
      await control2.close();
      assert.ok((await lost2) instanceof TorControlClosedError);
    } finally {
      control2.destroy();
      await peer2.close();
    }
  });

  it('removes the service when its server closes, and when the server closed while it was being published', async () => {
    peer.auto.set('ADD_ONION', `250-ServiceID=${ID}\r\n250-PrivateKey=${key}\r\n250 OK\r\n` + hsDesc('UPLOAD', DIR_A, ' ' + 'x'.repeat(43)) + hsDesc('UPLOADED', DIR_A));
    const service = (await manager.create({ ports: [{ virtualPort: 80 }], server })) as TorOnionService;
    assert.equal(service.closed, false);
    server.close();
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent when the server closed');
    await waitUntil(() => service.closed, 'the service is closed');
    await service.close(); // and closing it again is a no-op

    peer.received.length = 0;
    const other = net.createServer();
    const creating = manager.create({ ports: [{ virtualPort: 80 }], server: other });
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    other.close();
    const late = (await creating) as TorOnionService;
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent for a server closed during publication');
    assert.equal(late.closed, true);
  });

  it('two services of one server torcon made listen: the server keeps listening until the last of them closes', async () => {
    const first = (await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false })) as TorOnionService;
    const second = (await manager.create({ ports: [{ virtualPort: 81 }], server, awaitUpload: false })) as TorOnionService;
    assert.equal(first.ports[0]!.target, second.ports[0]!.target, 'one listener for both');
    await first.close();
    // Give a server 'close' (which would remove the second service with it) the time to come.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(server.listening, true, 'the second service still forwards to the server');
    assert.equal(second.closed, false);
    await second.close();
    assert.equal(server.listening, false, 'closed with the last service, as torcon opened it');
  });

  it('a server the caller made listen is left listening when its services close', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const a = await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false });
    const b = await manager.create({ ports: [{ virtualPort: 81 }], server, awaitUpload: false });
    await a.close();
    await b.close();
    assert.equal(server.listening, true);
  });

  it('a dozen services published at once on one connection: no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      peer.auto.set('ADD_ONION', `250-ServiceID=${ID}\r\n250-PrivateKey=${key}\r\n250 OK\r\n`);
      const creating = Array.from({ length: 12 }, (_, i) =>
        manager.create({ ports: [{ virtualPort: 80 + i, target: '127.0.0.1:9' }], uploadTimeoutMs: 60_000 }),
      );
      await waitUntil(() => peer.received.filter((l) => l.startsWith('ADD_ONION')).length === 12, 'twelve ADD_ONION sent');
      await new Promise((r) => setTimeout(r, 20)); // every one now waits for its upload
      peer.write(hsDesc('UPLOAD', DIR_A, ' ' + 'x'.repeat(43)) + hsDesc('UPLOADED', DIR_A));
      await Promise.all(creating);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a dozen services of one server: no MaxListenersExceededWarning on it; its close removes them all, and none is left listening', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const before = server.listenerCount('close');
      const services: TorOnionService[] = [];
      for (let i = 0; i < 12; i++) {
        services.push((await manager.create({ ports: [{ virtualPort: 80 + i }], server, awaitUpload: false })) as TorOnionService);
      }
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
      await services[0]!.close();
      server.close();
      await waitUntil(() => services.every((s) => s.closed), 'every service closed with the server');
      assert.equal(peer.received.filter((l) => l.startsWith('DEL_ONION')).length, 12);
      await new Promise((r) => setImmediate(r));
      assert.equal(server.listenerCount('close'), before, 'no listener of ours is left on the server');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('closeAll() (Tor.close()) stops a detached service being published and removes it while the connection is open', async () => {
    // A detached (or hiddenServiceDir) service outlives the connection: were the creation left to
    // fail once the connection is gone, it would stay in tor, with no handle for anyone to remove it.
    const phases: string[] = [];
    const creating = outcome(
      manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], detach: true, onProgress: (p) => phases.push(p.phase) }),
    );
    await waitUntil(() => phases.includes('added'), 'tor created the service');
    await manager.closeAll();
    assert.ok(peer.received.includes(`DEL_ONION ${ID}`), 'removed before closeAll() resolved');
    const result = await creating;
    assert.ok(!result.ok && result.error instanceof TorControlClosedError, String(!result.ok && result.error));
  });

  it('closeAll() while tor has not yet answered ADD_ONION of a detached service: removes it once tor answers, before it resolves', async () => {
    // Tor.close() sends QUIT once closeAll() resolves: a DEL_ONION sent after that never reaches
    // tor, and the detached service would outlive everything.
    peer.auto.delete('ADD_ONION');
    const creating = outcome(manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], detach: true, awaitUpload: false }));
    await waitUntil(() => addLine() !== undefined, 'ADD_ONION sent');
    const closing = manager.closeAll();
    peer.write(`250-ServiceID=${ID}\r\n250 OK\r\n`);
    await closing;
    assert.ok(peer.received.includes(`DEL_ONION ${ID}`), 'removed before closeAll() resolved');
    const result = await creating;
    assert.ok(!result.ok && result.error instanceof TorControlClosedError, String(!result.ok && result.error));
  });

  it('closeAll removes every service but detached ones', async () => {
    const a = await manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], awaitUpload: false });
    await manager.create({ ports: [{ virtualPort: 81, target: '127.0.0.1:1' }], awaitUpload: false, detach: true });
    assert.match(peer.received.filter((l) => l.startsWith('ADD_ONION'))[1]!, /Flags=Detach/);
    await manager.closeAll();
    assert.deepEqual(peer.received.filter((l) => l.startsWith('DEL_ONION')), [`DEL_ONION ${ID}`]);
    assert.equal((a as TorOnionService).closed, true);
  });

  it('remove() of a service whose close() is under way waits for that close: one DEL_ONION, and true', async () => {
    const service = await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false });
    peer.auto.delete('DEL_ONION'); // tor has not answered yet when remove() is called
    const closing = service.close();
    await waitUntil(() => peer.received.includes(`DEL_ONION ${ID}`), 'DEL_ONION sent');
    const removing = manager.remove(service.hostname);
    await new Promise((resolve) => setImmediate(resolve));
    // A command sent after remove(): once it arrives, whatever remove() sent has arrived too.
    const marker = control.command('GETINFO version');
    await waitUntil(() => peer.received.includes('GETINFO version'), 'the marker command arrived');
    const dels = peer.received.filter((l) => l.startsWith('DEL_ONION')).length;
    // tor's answers, in order: the first DEL_ONION removes the service, a second one finds it gone.
    peer.write('250 OK\r\n' + (dels > 1 ? '552 Unknown Onion Service id\r\n' : '') + '250-version=0.4.9.1\r\n250 OK\r\n');
    await marker;
    assert.equal(await removing, true);
    await closing;
    assert.deepEqual(peer.received.filter((l) => l.startsWith('DEL_ONION')), [`DEL_ONION ${ID}`]);
  });

  it('closeAll() (so Tor.close()) gives up on a tor that never answers DEL_ONION; the listener closes with the connection', async () => {
    const service = await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false });
    peer.auto.delete('DEL_ONION'); // a hung tor (SIGSTOP, a wedged event loop): no answer, ever
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let done = false;
    let closing: Promise<void>;
    try {
      closing = manager.closeAll().then(() => {
        done = true;
      });
      await waitUntilFaked(() => peer.received.includes(`DEL_ONION ${ID}`));
      await clock.tickAsync(60_000);
    } finally {
      clock.restore();
    }
    assert.equal(done, true, 'closeAll() still waits for tor');
    await closing;
    // Tor.close() then closes the connection: the pending DEL_ONION fails, the service is gone with it.
    control.destroy();
    await service.close();
    assert.equal(server.listening, false, 'the listener torcon opened is closed');
  });

  it('sends client auth commands with base64 keys and validates before sending', async () => {
    peer.auto.set('ONION_CLIENT_AUTH_ADD', '250 OK\r\n');
    peer.auto.set('ONION_CLIENT_AUTH_REMOVE', '251 No credentials\r\n');
    const raw = randomBytes(32);
    await manager.addClientAuth(`${ID}.onion`, `x25519:${raw.toString('base64')}`, { clientName: 'bob', permanent: true });
    assert.equal(peer.received.at(-1), `ONION_CLIENT_AUTH_ADD ${ID} x25519:${raw.toString('base64')} ClientName=bob Flags=Permanent`);
    await manager.removeClientAuth(ID);
    assert.equal(peer.received.at(-1), `ONION_CLIENT_AUTH_REMOVE ${ID}`);
    const before = peer.received.length;
    await assert.rejects(manager.addClientAuth('nope.onion', raw.toString('base64')), TorInvalidValueError);
    await assert.rejects(manager.addClientAuth(ID, raw.toString('base64'), { clientName: 'a b' }), TorInvalidValueError);
    await assert.rejects(manager.addClientAuth(ID, 'x25519:short'), TorInvalidValueError);
    assert.equal(peer.received.length, before, 'nothing was sent');
  });

  describe('secrets in logs, errors and output', () => {
    let logSpy: sinon.SinonSpy;
    let previous: string;
    beforeEach(() => {
      previous = createDebug.disable();
      logSpy = sinon.spy();
      sinon.stub(createDebug, 'log').value(logSpy);
      createDebug.enable('torcon:*');
    });
    afterEach(() => {
      createDebug.disable();
      if (previous) createDebug.enable(previous);
      sinon.restore();
    });
    const logged = () => logSpy.getCalls().map((c) => c.args.map(String).join(' ')).join('\n');

    it('never logs or prints the service key or client keys', async () => {
      const given = `ED25519-V3:${randomBytes(64).toString('base64')}`;
      peer.auto.set('ADD_ONION', (line) => {
        const clients = [...line.matchAll(/ClientAuthV3=(\S+)/g)].map((m) => `250-ClientAuthV3=${m[1]}\r\n`).join('');
        return `250-ServiceID=${ID}\r\n${clients}250 OK\r\n`;
      });
      const service = (await manager.create({
        ports: [{ virtualPort: 80 }],
        server,
        privateKey: given,
        clientAuth: ['alice', 'bob'],
        awaitUpload: false,
      })) as TorOnionService;
      assert.equal(service.privateKey, given);
      assert.equal(service.clientAuth!.length, 2);
      const secrets = [given.slice(11), ...service.clientAuth!.map((c) => c.privateKey!)];
      assert.ok(logSpy.callCount > 0, 'debug output was captured');
      assert.ok(logged().includes('ADD_ONION'), 'the command itself was logged');
      const shown = [logged(), inspect(service, { depth: 5 }), JSON.stringify(service), inspect(service.clientAuth)].join('\n');
      for (const s of secrets) assert.ok(!shown.includes(s), 'a private key leaked into logs or output');
      // Client public keys are not secret, but the wire log redacts them too (they identify clients).
      for (const c of service.clientAuth!) assert.ok(!logged().includes(c.publicKey), 'a client key was logged');
      assert.ok(shown.includes('[redacted]'));
      await service.close();
    });

    it('keeps a generated key out of the logged reply, and a given key out of errors', async () => {
      const generated = key.slice(11);
      const made = await manager.create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], awaitUpload: false });
      assert.equal(made.privateKey, key);
      peer.auto.set('ADD_ONION', '512 Failed to decode ED25519-V3 key\r\n');
      const given = randomBytes(64).toString('base64');
      const err = await manager
        .create({ ports: [{ virtualPort: 80, target: '127.0.0.1:1' }], privateKey: `ED25519-V3:${given}`, awaitUpload: false })
        .catch((e: unknown) => e);
      assert.ok(err instanceof OnionPublishError);
      const text = `${String(err)} ${inspect(err)} ${logged()}`;
      assert.ok(!text.includes(given));
      assert.ok(!text.includes(generated));
    });
  });
});

