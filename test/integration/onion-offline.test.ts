import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import createDebug from 'debug';
import sinon from 'sinon';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import { listen } from '../../src/di/endpoint-api.js';
import { quoteEndpointArgument } from '../../src/util/endpoint-grammar.js';
import type { Tor } from '../../src/tor/tor.js';
import type { TorOnionService } from '../../src/onion/onion-service.js';
import { isValidServiceId } from '../../src/onion/service-id.js';
import { generateClientAuthKey } from '../../src/onion/client-auth.js';
import { parseGetConfReply } from '../../src/config/conf-lines.js';
import { parseHiddenServiceOptions } from '../../src/config/hidden-service-groups.js';
import { EndpointArgumentError, OnionPublishError, TorControlError } from '../../src/errors.js';
import { closedPort } from '../support/closed-port.js';

/**
 * Onion services on a real tor with DisableNetwork 1: everything that needs no descriptor upload.
 * ADD_ONION, DEL_ONION, keys, key files, HiddenServiceDir groups and client-auth commands all
 * work offline; publishing and reaching services is tested on the private network (onion.test.ts).
 */

const KEY = /^ED25519-V3:[A-Za-z0-9+/]{86}==$/;

describe('onion services on an offline tor', function () {
  this.timeout(60_000);
  let tor: Tor;
  let tmp: string;
  const servers: net.Server[] = [];
  const newServer = () => {
    const s = net.createServer((c) => c.end('hi\n'));
    servers.push(s);
    return s;
  };

  before(async () => {
    tor = await launchTor({ config: { DisableNetwork: 1 } });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-onion-'));
  });
  after(async () => {
    for (const s of servers) s.close();
    await tor?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const current = async () => (await tor.control.getInfo('onions/current')).split('\n').filter(Boolean);
  const detached = async () => (await tor.control.getInfo('onions/detached')).split('\n').filter(Boolean);

  it('creates an ephemeral service (id and key from tor), and DEL_ONION removes it', async () => {
    const server = newServer();
    const service = (await tor.createOnionService({ ports: [{ virtualPort: 80 }], server, awaitUpload: false })) as TorOnionService;
    assert.ok(isValidServiceId(service.serviceId), 'tor gave a valid v3 id');
    assert.equal(service.hostname, `${service.serviceId}.onion`);
    assert.equal(service.address, `${service.hostname}:80`);
    assert.match(service.privateKey!, KEY);
    assert.ok(server.listening);
    assert.equal((server.address() as net.AddressInfo).address, '127.0.0.1');
    assert.ok((await current()).includes(service.serviceId));
    await service.close();
    assert.ok(!(await current()).includes(service.serviceId));
    assert.equal(server.listening, false);
    await service.close(); // idempotent
  });

  it('recreates the same address from the returned private key', async () => {
    const first = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false });
    await first.close();
    const again = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: first.privateKey!, awaitUpload: false });
    assert.equal(again.hostname, first.hostname);
    assert.equal(again.privateKey, first.privateKey);
    await again.close();
  });

  it('keeps the address in a privateKeyFile (created 0600) across restarts', async () => {
    const file = path.join(tmp, 'service.key');
    const a = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKeyFile: file, awaitUpload: false });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await readFile(file, 'utf8')).trim(), a.privateKey);
    await a.close();
    const b = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKeyFile: file, awaitUpload: false });
    assert.equal(b.hostname, a.hostname);
    await b.close();
  });

  it('listens on a unix socket with localSocket and uses it as the target', async () => {
    const server = newServer();
    const sock = path.join(tmp, 'app.sock');
    const service = await tor.createOnionService({ ports: [{ virtualPort: 80 }], server, localSocket: sock, awaitUpload: false });
    assert.equal(server.address(), sock);
    await service.close();
    assert.equal(server.listening, false);
  });

  it('uses the address of a server that already listens, and leaves it open on close', async () => {
    const server = newServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const service = await tor.createOnionService({ ports: [{ virtualPort: 8080 }], server, awaitUpload: false });
    assert.equal(service.address.endsWith(':8080'), true);
    await service.close();
    assert.ok(server.listening, 'not ours to close');
    server.close();
  });

  it('accepts every flag tor 0.4.9 has: client auth, MaxStreams, PoW, Detach', async () => {
    const service = (await tor.createOnionService({
      ports: [{ virtualPort: 80, target: '127.0.0.1:9' }],
      clientAuth: ['alice', 'bob'],
      maxStreams: 5,
      maxStreamsCloseCircuit: true,
      pow: true,
      detach: true,
      awaitUpload: false,
    })) as TorOnionService;
    assert.deepEqual(service.clientAuth!.map((c) => c.name), ['alice', 'bob']);
    assert.ok((await detached()).includes(service.serviceId), 'a detached service');
    assert.ok(!(await current()).includes(service.serviceId));
    await service.close();
    assert.ok(!(await detached()).includes(service.serviceId), 'DEL_ONION removes detached services too');
  });

  it('refuses singleHop on an anonymous tor with a clear OnionPublishError', async () => {
    await assert.rejects(
      tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], singleHop: true, awaitUpload: false }),
      (e: unknown) => e instanceof OnionPublishError && /HiddenServiceNonAnonymousMode/.test(e.message),
    );
  });

  it('fails at once when asked to wait for an upload that DisableNetwork forbids', async () => {
    const server = newServer();
    await assert.rejects(tor.createOnionService({ ports: [{ virtualPort: 80 }], server }), /DisableNetwork 1/);
    assert.equal(server.listening, false);
  });

  it("emits 'lost' when its control connection dies, and tor has dropped the service", async () => {
    const other = await connectTor({ control: tor.controlEndpoint });
    try {
      const service = (await other.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], awaitUpload: false })) as TorOnionService;
      const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
      other.control.destroy();
      await lost;
      await assert.rejects(tor.control.command(`DEL_ONION ${service.serviceId}`), (e: unknown) => e instanceof TorControlError && e.status === 552);
      await service.close();
    } finally {
      await other.close();
    }
  });

  it("listen() again with a lost service's key, on the tor that came after, gives the same address through the same server (by hand, what republish=true does)", async () => {
    const first = await launchTor({ config: { DisableNetwork: 1 } });
    let second: Tor | undefined;
    const server = newServer();
    try {
      const service = await listen(server, 'onion:80:awaitUpload=false', { tor: first });
      const port = (server.address() as net.AddressInfo).port;
      const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
      process.kill(first.pid!, 'SIGKILL');
      await lost;
      // torcon made the server listen for the service; the loss leaves that listener as it was.
      assert.ok(server.listening);
      second = await launchTor({ config: { DisableNetwork: 1 } });
      const again = await listen(server, `onion:80:awaitUpload=false:privateKey=${quoteEndpointArgument(service.privateKey!)}`, { tor: second });
      assert.equal(again.hostname, service.hostname);
      assert.equal((server.address() as net.AddressInfo).port, port, 'the same local listener');
      assert.ok((await second.control.getInfo('onions/current')).split('\n').includes(again.serviceId));
      await again.close();
      assert.ok(!(await second.control.getInfo('onions/current')).split('\n').includes(again.serviceId));
    } finally {
      await second?.close();
      await first.close();
    }
  });

  it('republish=true: when its tor is killed and another starts on the same control port, the service is published again under the same address', async () => {
    const port = await closedPort();
    const config = { DisableNetwork: 1, ControlPort: `127.0.0.1:${port}` };
    const first = await launchTor({ config });
    let second: Tor | undefined;
    const server = newServer();
    try {
      // A Tor handle, as `torcon --control ... serve` passes: after the restart, torcon finds the
      // tor that came back where that handle was connected.
      const service = await listen(server, 'onion:80:awaitUpload=false:republish=true', { tor: first });
      const lost = new Promise<Error>((resolve) => service.once('lost', resolve));
      const republished = new Promise<void>((resolve) => service.once('republished', resolve));
      process.kill(first.pid!, 'SIGKILL');
      await lost;
      assert.equal(service.closed, true);
      // (The dead handle is closed only at the end: closing a Tor handle closes the services made
      // through it, this one too, wherever it is published by then.)
      second = await launchTor({ config });
      await republished;
      assert.equal(service.closed, false);
      assert.equal(service.address.split(':')[0], service.hostname);
      // The new tor has it: the same key again is an address collision there.
      const addAgain = `ADD_ONION ${service.privateKey!} Port=80,127.0.0.1:9`;
      await assert.rejects(second.control.command(addAgain), (e: unknown) => e instanceof TorControlError && /collision/i.test(e.message));
      // close() removes the new publication and the local listener torcon opened the first time.
      await service.close();
      assert.equal(server.listening, false);
      const reply = await second.control.command(addAgain);
      assert.match(reply.lines[0]!.text, new RegExp(`^ServiceID=${service.serviceId}$`));
      await second.control.command(`DEL_ONION ${service.serviceId}`);
    } finally {
      await second?.close();
      await first.close();
    }
  });

  it('republish=true is refused with a Tor-like handle that says not where it is connected', async () => {
    const handle = { connect: tor.connect.bind(tor), createOnionService: tor.createOnionService.bind(tor) };
    await assert.rejects(listen(newServer(), 'onion:80:awaitUpload=false:republish=true', { tor: handle as unknown as Tor }), (e: unknown) => e instanceof EndpointArgumentError && /republish=true needs a tor torcon can find again/.test(e.message));
  });

  describe('hiddenServiceDir', () => {
    const foreignDir = () => path.join(tmp, 'foreign');

    it("adds a filesystem service while keeping another service's options, in order, and removes only its own", async () => {
      await mkdir(foreignDir(), { mode: 0o700 });
      // Someone else's service, with an option we do not model.
      await tor.control.command(
        `SETCONF HiddenServiceDir="${foreignDir()}" HiddenServicePort="81 127.0.0.1:9" HiddenServiceMaxStreams=3 HiddenServiceDirGroupReadable=1`,
      );
      const before = parseHiddenServiceOptions(parseGetConfReply(await tor.control.command('GETCONF HiddenServiceOptions')));
      const dir = path.join(tmp, 'ours');
      const server = newServer();
      const service = (await tor.createOnionService({
        ports: [{ virtualPort: 80 }],
        server,
        hiddenServiceDir: dir,
        pow: true,
        maxStreams: 4,
        clientAuth: ['carol'],
        awaitUpload: false,
      })) as TorOnionService;
      assert.equal(service.kind, 'filesystem');
      assert.equal(service.privateKey, undefined, 'the key stays in the directory');
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.equal((await readFile(path.join(dir, 'hostname'), 'utf8')).trim(), service.hostname);
      assert.equal(
        await readFile(path.join(dir, 'authorized_clients', 'carol.auth'), 'utf8'),
        `descriptor:x25519:${service.clientAuth![0]!.publicKey}\n`,
      );
      const during = parseHiddenServiceOptions(parseGetConfReply(await tor.control.command('GETCONF HiddenServiceOptions')));
      const port = (server.address() as net.AddressInfo).port;
      assert.deepEqual(before, [
        { dir: foreignDir(), ports: ['81 127.0.0.1:9'], options: [['HiddenServiceMaxStreams', '3'], ['HiddenServiceDirGroupReadable', '1']] },
      ]);
      assert.deepEqual(during, [
        ...before,
        {
          dir,
          ports: [`80 127.0.0.1:${port}`],
          options: [
            ['HiddenServiceMaxStreams', '4'],
            ['HiddenServicePoWDefensesEnabled', '1'],
          ],
        },
      ]);
      await service.close();
      assert.deepEqual(parseHiddenServiceOptions(parseGetConfReply(await tor.control.command('GETCONF HiddenServiceOptions'))), before);
      assert.equal(server.listening, false);

      // The directory keeps the key: the same address comes back.
      const again = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: dir, awaitUpload: false });
      assert.equal(again.hostname, service.hostname);
      await assert.rejects(
        tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: dir, awaitUpload: false }),
        /already has an onion service/,
      );
      await again.close();
      await tor.control.command('RESETCONF HiddenServiceOptions');
    });

    it('keeps a non-ASCII directory as it is while other services come and go, and removes it on close', async () => {
      const accented = path.join(tmp, 'hs-é');
      const plain = path.join(tmp, 'hs-plain');
      const first = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: accented, awaitUpload: false });
      const second = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: plain, awaitUpload: false });
      const dirs = async () => parseHiddenServiceOptions(parseGetConfReply(await tor.control.command('GETCONF HiddenServiceOptions'))).map((g) => g.dir);
      // Adding the second service re-sent the first group: its directory must be unchanged.
      assert.deepEqual(await dirs(), [accented, plain]);
      assert.equal((await readFile(path.join(accented, 'hostname'), 'utf8')).trim(), first.hostname);
      await first.close();
      assert.deepEqual(await dirs(), [plain]);
      await second.close();
      assert.deepEqual(await dirs(), []);
      assert.deepEqual((await readdir(tmp)).filter((n) => n.startsWith('hs-')).sort(), ['hs-plain', 'hs-é']);
    });

    it('refuses directories tor could not use, without hurting tor', async () => {
      const open = path.join(tmp, 'too-open');
      await mkdir(open);
      await chmod(open, 0o755);
      await assert.rejects(
        tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: open, awaitUpload: false }),
        (e: unknown) => e instanceof EndpointArgumentError && /0700/.test(e.message),
      );
      await assert.rejects(
        tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: path.join(tmp, 'no', 'such'), awaitUpload: false }),
        (e: unknown) => e instanceof EndpointArgumentError && /parent directory/.test(e.message),
      );
      // A SETCONF with such a directory would have made tor exit; it still answers.
      assert.match(await tor.control.getInfo('version'), /^0\.4\./);
    });

    it("refuses a directory holding one of tor's entries as the wrong kind, which would make tor exit", async () => {
      const cases: Array<[string, (dir: string) => Promise<unknown>]> = [
        ['hs_ed25519_secret_key', (dir) => mkdir(path.join(dir, 'hs_ed25519_secret_key'))],
        ['hostname', (dir) => mkdir(path.join(dir, 'hostname'))],
        ['authorized_clients', (dir) => writeFile(path.join(dir, 'authorized_clients'), 'not a directory\n')],
      ];
      for (const [entry, make] of cases) {
        const dir = path.join(tmp, `bad-${entry}`);
        await mkdir(dir, { mode: 0o700 });
        await make(dir);
        await assert.rejects(
          tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], hiddenServiceDir: dir, awaitUpload: false }),
          (e: unknown) => e instanceof EndpointArgumentError && e.message.includes(path.join(dir, entry)) && /tor would exit/.test(e.message),
          entry,
        );
        assert.match(await tor.control.getInfo('version'), /^0\.4\./, `tor still answers after ${entry}`);
      }
    });
  });

  describe('client-side authorization keys', () => {
    const onion = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';

    it('adds, lists and removes a key (base32 in, base32 out)', async () => {
      const key = generateClientAuthKey('dave');
      await tor.addOnionClientAuth(`${onion}.onion`, key.privateKey, { clientName: 'dave' });
      const list = await tor.listOnionClientAuth();
      const mine = list.find((c) => c.onion === onion);
      assert.ok(mine, 'tor lists it');
      assert.equal(mine.keyType, 'x25519');
      assert.equal(mine.clientName, 'dave');
      assert.equal(mine.privateKey, key.privateKey);
      assert.ok(!inspect(list).includes(key.privateKey));
      await tor.removeOnionClientAuth(onion);
      assert.equal((await tor.listOnionClientAuth()).find((c) => c.onion === onion), undefined);
      await tor.removeOnionClientAuth(onion); // removing again is not an error
    });

    it('replaces an earlier key, and reports tor refusing a permanent key without ClientOnionAuthDir', async () => {
      const a = generateClientAuthKey('a');
      const b = generateClientAuthKey('b');
      await tor.addOnionClientAuth(onion, a.privateKey);
      await tor.addOnionClientAuth(onion, b.privateKey);
      assert.equal((await tor.listOnionClientAuth()).find((c) => c.onion === onion)!.privateKey, b.privateKey);
      await tor.removeOnionClientAuth(onion);
      await assert.rejects(tor.addOnionClientAuth(onion, a.privateKey, { permanent: true }), (e: unknown) => {
        return e instanceof TorControlError && e.status === 553 && !e.message.includes(a.privateKey);
      });
    });
  });

  describe('secrets', () => {
    afterEach(() => {
      createDebug.disable();
      sinon.restore();
    });

    it('keeps every key out of the debug log of a real session', async () => {
      const spy = sinon.spy();
      sinon.stub(createDebug, 'log').value(spy);
      createDebug.enable('torcon:*');
      const service = (await tor.createOnionService({
        ports: [{ virtualPort: 80, target: '127.0.0.1:9' }],
        clientAuth: ['erin'],
        awaitUpload: false,
      })) as TorOnionService;
      await assert.rejects(
        tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: service.privateKey!, awaitUpload: false }),
        (e: unknown) => e instanceof OnionPublishError && /already runs/.test(e.message) && !e.message.includes(service.privateKey!.slice(11)),
      );
      await service.close();
      const again = await tor.createOnionService({ ports: [{ virtualPort: 80, target: '127.0.0.1:9' }], privateKey: service.privateKey!, awaitUpload: false });
      const client = generateClientAuthKey('frank');
      await tor.addOnionClientAuth(service.serviceId, client.privateKey);
      await tor.listOnionClientAuth();
      await tor.removeOnionClientAuth(service.serviceId);
      createDebug.disable();
      await again.close();
      const logged = spy.getCalls().map((c) => c.args.map(String).join(' ')).join('\n');
      assert.ok(logged.includes('ADD_ONION') && logged.includes('ONION_CLIENT_AUTH_ADD'), 'the commands were logged');
      const blob = service.privateKey!.slice('ED25519-V3:'.length);
      const clientBase64 = Buffer.from(base32ToBytes(client.privateKey)).toString('base64');
      for (const secret of [blob, service.clientAuth![0]!.privateKey!, client.privateKey, clientBase64]) {
        assert.ok(!logged.includes(secret), 'a secret reached the debug log');
      }
    });
  });
});

function base32ToBytes(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text) {
    acc = (acc << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}
