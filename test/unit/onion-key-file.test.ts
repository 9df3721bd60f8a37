import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createKeyFile, parseOnionPrivateKey, readKeyFile } from '../../src/onion/key-file.js';
import { EndpointArgumentError } from '../../src/errors.js';

const blob = () => randomBytes(64).toString('base64');

describe('onion private keys and key files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'torcon-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('parseOnionPrivateKey', () => {
    it('accepts ED25519-V3:<base64 of 64 bytes>, any prefix case, with or without padding or prefix', () => {
      const b = blob();
      assert.equal(parseOnionPrivateKey(`ED25519-V3:${b}`), `ED25519-V3:${b}`);
      assert.equal(parseOnionPrivateKey(`ed25519-v3:${b}\n`), `ED25519-V3:${b}`);
      assert.equal(parseOnionPrivateKey(b), `ED25519-V3:${b}`);
      assert.equal(parseOnionPrivateKey(b.replace(/==$/, '')), `ED25519-V3:${b}`);
    });

    it('refuses v2 keys, other types and wrong lengths, never quoting the key', () => {
      const b = blob();
      const cases = [`RSA1024:${b}`, `X25519:${b}`, `ED25519-V3:${b.slice(0, 80)}`, `ED25519-V3:${b}AAAA`, `ED25519-V3:${b.replace(/^./, '!')}`];
      for (const bad of cases) {
        assert.throws(
          () => parseOnionPrivateKey(bad),
          (e: unknown) => e instanceof EndpointArgumentError && !e.message.includes(b.slice(0, 40)),
          bad.slice(0, 12),
        );
      }
      assert.throws(() => parseOnionPrivateKey(`RSA1024:${b}`), /version 2/);
    });
  });

  describe('key files', () => {
    it('creates the file with mode 0600 holding the key, and reads it back', async () => {
      const file = path.join(dir, 'onion.key');
      const key = `ED25519-V3:${blob()}`;
      assert.equal(await readKeyFile(file), undefined, 'a missing file means "make a new key"');
      await createKeyFile(file, key);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal(await readFile(file, 'utf8'), `${key}\n`);
      assert.equal(await readKeyFile(file), key);
    });

    it('keeps mode 0600 even under a permissive umask', async () => {
      const old = process.umask(0);
      try {
        const file = path.join(dir, 'k');
        await createKeyFile(file, `ED25519-V3:${blob()}`);
        assert.equal((await stat(file)).mode & 0o777, 0o600);
      } finally {
        process.umask(old);
      }
    });

    it('never overwrites an existing file (O_EXCL)', async () => {
      const file = path.join(dir, 'k');
      const first = `ED25519-V3:${blob()}`;
      await createKeyFile(file, first);
      await assert.rejects(createKeyFile(file, `ED25519-V3:${blob()}`), { code: 'EEXIST' });
      assert.equal(await readKeyFile(file), first);
    });

    it('refuses a key file others may read, and a file that holds no key', async () => {
      const file = path.join(dir, 'k');
      const b = blob();
      await writeFile(file, `ED25519-V3:${b}\n`, { mode: 0o644 });
      await chmod(file, 0o644);
      await assert.rejects(readKeyFile(file), (e: unknown) => e instanceof EndpointArgumentError && /chmod 600/.test(e.message) && !e.message.includes(b));
      await chmod(file, 0o600);
      await writeFile(file, 'not a key\n');
      await assert.rejects(readKeyFile(file), EndpointArgumentError);
    });

    it('a directory, a FIFO or a device is refused as no regular file, without blocking on the FIFO', async () => {
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      await chmod(fifo, 0o600);
      for (const p of [dir, fifo, '/dev/zero']) {
        await assert.rejects(readKeyFile(p), (e: unknown) => {
          assert.ok(e instanceof EndpointArgumentError, String(e));
          assert.match(e.message, /is not a regular file/);
          return true;
        });
      }
    });

    it('a file larger than a key file can be is refused unread', async () => {
      const big = path.join(dir, 'big');
      await writeFile(big, 'x'.repeat(100_000), { mode: 0o600 });
      await assert.rejects(readKeyFile(big), (e: unknown) => e instanceof EndpointArgumentError && /100000 bytes, more than such a file holds/.test(e.message));
    });
  });
});
