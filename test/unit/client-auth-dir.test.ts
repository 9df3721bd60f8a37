import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readClientAuthDir, writeClientAuthFiles } from '../../src/onion/client-auth-dir.js';
import { clientAuthPublicKey, parseClientAuthPrivateKey } from '../../src/onion/client-auth.js';
import { validateOnionOptions } from '../../src/onion/onion-options.js';
import { EndpointArgumentError, TorInvalidValueError } from '../../src/errors.js';

describe('clientAuthDir: client authorization kept across restarts', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-client-auth-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a missing directory has no clients: every name gets a new key pair, to be written', async () => {
    const dir = path.join(tmp, 'clients');
    const { clients, created } = await readClientAuthDir(dir, ['alice', 'bob']);
    assert.deepEqual(clients.map((c) => c.name), ['alice', 'bob']);
    assert.deepEqual(created, clients);
    for (const c of clients) {
      assert.match(c.publicKey, /^[A-Z2-7]{52}$/);
      // the pair belongs together
      assert.equal(clientAuthPublicKey(parseClientAuthPrivateKey(c.privateKey!)), c.publicKey);
    }
    await assert.rejects(readdir(dir), { code: 'ENOENT' }, 'reading writes nothing');
  });

  it('writes tor\'s authorized_clients form, private to the owner, and reads it back as kept clients without private keys', async () => {
    const dir = path.join(tmp, 'a', 'clients');
    const first = await readClientAuthDir(dir, ['alice']);
    await writeClientAuthFiles(dir, first.created);
    const file = path.join(dir, 'alice.auth');
    assert.equal(await readFile(file, 'utf8'), `descriptor:x25519:${first.clients[0]!.publicKey}\n`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);

    const again = await readClientAuthDir(dir, ['alice', 'bob']);
    assert.deepEqual(again.clients.map((c) => [c.name, c.publicKey === first.clients[0]!.publicKey, c.privateKey === undefined]), [
      ['alice', true, true],
      ['bob', false, false],
    ]);
    assert.deepEqual(again.created.map((c) => c.name), ['bob']);
    assert.ok(!JSON.stringify(again.clients[0]).includes('privateKey":"'), 'a kept client carries no private key');
  });

  it('every client file in the directory is a client, after the names asked for; other files are not', async () => {
    const dir = path.join(tmp, 'clients');
    await mkdir(dir);
    const { created } = await readClientAuthDir(dir, ['zed', 'carol']);
    await writeClientAuthFiles(dir, created);
    await writeFile(path.join(dir, 'README.txt'), 'not a client');
    await writeFile(path.join(dir, 'much-too-long-a-client-name.auth'), 'descriptor:x25519:' + 'A'.repeat(52));
    const { clients } = await readClientAuthDir(dir, ['zed']);
    assert.deepEqual(clients.map((c) => c.name), ['zed', 'carol']);
  });

  it('a NAME.auth that is not a public key is an EndpointArgumentError naming the file, never showing its text', async () => {
    const dir = path.join(tmp, 'clients');
    await mkdir(dir);
    const secret = 'x25519:SOMETHINGSECRETLOOKINGQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
    await writeFile(path.join(dir, 'dave.auth'), secret);
    await assert.rejects(readClientAuthDir(dir, []), (err: unknown) => {
      assert.ok(err instanceof EndpointArgumentError);
      assert.equal(err.code, 'TOR_ENDPOINT_ARGUMENT');
      assert.match(err.message, /dave\.auth is not a client authorization file/);
      assert.ok(!err.message.includes('SOMETHINGSECRET'));
      return true;
    });
    // 52 base32 characters that do not make 32 bytes are refused too
    await writeFile(path.join(dir, 'dave.auth'), `descriptor:x25519:${'7'.repeat(52)}\n`);
    await assert.rejects(readClientAuthDir(dir, []), EndpointArgumentError);
  });

  it('a NAME.auth that is a FIFO or a directory is refused, not waited on', async () => {
    const dir = path.join(tmp, 'clients');
    await mkdir(dir, { mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', path.join(dir, 'erin.auth')]);
    await assert.rejects(readClientAuthDir(dir, []), (err: unknown) => err instanceof EndpointArgumentError && /erin\.auth is not a regular file/.test(err.message));
    await rm(path.join(dir, 'erin.auth'));
    await mkdir(path.join(dir, 'frank.auth'));
    await assert.rejects(readClientAuthDir(dir, []), (err: unknown) => err instanceof EndpointArgumentError && /frank\.auth is not a regular file/.test(err.message));
  });

  it('a directory or client file that group or others may write is refused: anyone could let a client of their own in', async () => {
    const dir = path.join(tmp, 'clients');
    const first = await readClientAuthDir(dir, ['alice']);
    await writeClientAuthFiles(dir, first.created);
    await chmod(dir, 0o777);
    await assert.rejects(readClientAuthDir(dir, ['alice']), (err: Error) => {
      assert.ok(err instanceof EndpointArgumentError);
      assert.match(err.message, /clientAuthDir .*clients is writable by group or others \(mode 777\).*chmod 700/);
      return true;
    });
    await chmod(dir, 0o700);
    await chmod(path.join(dir, 'alice.auth'), 0o620);
    await assert.rejects(readClientAuthDir(dir, []), /client file .*alice\.auth is writable by group or others \(mode 620\).*chmod 600/);
    await chmod(path.join(dir, 'alice.auth'), 0o644); // readable is fine: it holds a public key
    assert.deepEqual((await readClientAuthDir(dir, [])).clients.map((c) => c.name), ['alice']);
  });

  it('never writes over a client file that appeared meanwhile (that client would be locked out)', async () => {
    const dir = path.join(tmp, 'clients');
    const { created } = await readClientAuthDir(dir, ['erin']);
    await mkdir(dir);
    await writeFile(path.join(dir, 'erin.auth'), 'descriptor:x25519:THEIRS\n');
    await assert.rejects(writeClientAuthFiles(dir, created), (err: unknown) => err instanceof EndpointArgumentError && /cannot write client authorization files/.test(err.message));
    assert.equal(await readFile(path.join(dir, 'erin.auth'), 'utf8'), 'descriptor:x25519:THEIRS\n');
  });

  it('options: an absolute path is kept; with hiddenServiceDir it is refused (that has its own authorized_clients)', () => {
    const server = net.createServer();
    const o = validateOnionOptions({ ports: [{ virtualPort: 80 }], server, clientAuthDir: 'rel/clients', clientAuth: ['a'] });
    assert.equal(o.clientAuthDir, path.resolve('rel/clients'));
    assert.throws(
      () => validateOnionOptions({ ports: [{ virtualPort: 80 }], server, clientAuthDir: '/c', hiddenServiceDir: '/d' }),
      (err: unknown) => err instanceof TorInvalidValueError && /clientAuthDir and hiddenServiceDir cannot be used together/.test(err.message),
    );
    assert.throws(() => validateOnionOptions({ ports: [{ virtualPort: 80 }], server, clientAuthDir: 'a\nb' }), TorInvalidValueError);
  });
});
