import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { endpointOptionError, ONION_DEFAULTS, validateOnionOptions } from '../../src/onion/onion-options.js';
import { UploadTracker } from '../../src/onion/descriptor-upload.js';
import { EndpointArgumentError, TorInvalidValueError } from '../../src/errors.js';
import type { OnionServiceOptions } from '../../src/onion/onion-types.js';

const ID = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';
const OTHER = 'sp3k262uwy4r2k3ycr5awluarykdpag6a7y33jxop4cs2lu5uz5sseqd';

describe('onion service options', () => {
  const server = net.createServer();
  const base: OnionServiceOptions = { ports: [{ virtualPort: 80 }], server };

  it('applies the defaults', () => {
    const o = validateOnionOptions(base);
    assert.equal(o.localAddress, ONION_DEFAULTS.localAddress);
    assert.equal(o.localPort, 0);
    assert.equal(o.awaitUpload, true);
    assert.equal(o.detach, false);
    assert.equal(o.uploadTimeoutMs, ONION_DEFAULTS.uploadTimeoutMs);
    assert.deepEqual(o.clientAuth, []);
  });

  it('calls onProgress but ignores a listener that throws', () => {
    const seen: string[] = [];
    const o = validateOnionOptions({ ...base, onProgress: (p) => {
      seen.push(p.phase);
      throw new Error('listener bug');
    } });
    o.onProgress({ phase: 'adding', message: 'x' });
    assert.deepEqual(seen, ['adding']);
  });

  const bad: Array<[string, Partial<OnionServiceOptions> & Record<string, unknown>, RegExp]> = [
    ['version 2', { version: 2 as 3 }, /version 2 onion services were removed/],
    ['version 4', { version: 4 as 3 }, /version must be the number 3, got 4/],
    ["version '3' (a string)", { version: '3' as unknown as 3 }, /version must be the number 3, got the string "3"/],
    ['no ports', { ports: [] }, /at least one port/],
    ['port 0', { ports: [{ virtualPort: 0 }] }, /virtualPort/],
    ['port 70000', { ports: [{ virtualPort: 70000 }] }, /virtualPort/],
    ['a duplicate port', { ports: [{ virtualPort: 80 }, { virtualPort: 80 }] }, /twice/],
    ['a target with a space', { ports: [{ virtualPort: 80, target: '127.0.0.1:1 Flags=Detach' }] }, /target/],
    ['a target with a comma', { ports: [{ virtualPort: 80, target: '127.0.0.1:1,2' }] }, /target/],
    ['privateKey with privateKeyFile', { privateKey: `ED25519-V3:${randomBytes(64).toString('base64')}`, privateKeyFile: '/k' }, /cannot be used together/],
    ['privateKeyFile with hiddenServiceDir', { privateKeyFile: '/k', hiddenServiceDir: '/d' }, /holds its own key/],
    ['localSocket with localPort', { localSocket: '/s', localPort: 1 }, /cannot be used together/],
    ['a relative hiddenServiceDir', { hiddenServiceDir: 'hs' }, /absolute/],
    ['a hiddenServiceDir with LF', { hiddenServiceDir: '/a\nb' }, /CR, LF or NUL/],
    ['a bad localAddress', { localAddress: 'localhost' }, /localAddress/],
    ['a bad localPort', { localPort: -1 }, /localPort/],
    ['a bad client name', { clientAuth: ['has space'] }, /clientAuth/],
    ['a repeated client name', { clientAuth: ['a', 'a'] }, /twice/],
    ['maxStreams 65536', { maxStreams: 65536 }, /maxStreams/],
    ['a non-boolean detach', { detach: 'yes' as unknown as boolean }, /detach/],
    ['uploadTimeoutMs 0', { uploadTimeoutMs: 0 }, /uploadTimeoutMs/],
    ['a bad privateKey', { privateKey: 'ED25519-V3:tooshort' }, /privateKey/],
    ['an RSA key', { privateKey: `RSA1024:${randomBytes(64).toString('base64')}` }, /version 2/],
  ];
  for (const [name, patch, pattern] of bad) {
    it(`refuses ${name} with TorInvalidValueError, or EndpointArgumentError for an endpoint string's options`, () => {
      assert.throws(() => validateOnionOptions({ ...base, ...patch } as OnionServiceOptions), (e: unknown) => {
        return e instanceof TorInvalidValueError && e.code === 'TOR_INVALID_VALUE' && e.field === 'onion service options' && pattern.test(e.message) && !/onion:/.test(e.message);
      });
      assert.throws(() => validateOnionOptions({ ...base, ...patch } as OnionServiceOptions, endpointOptionError), (e: unknown) => {
        return e instanceof EndpointArgumentError && e.code === 'TOR_ENDPOINT_ARGUMENT' && e.message.startsWith('onion: ') && pattern.test(e.message);
      });
    });
  }

  it('needs a target for every port when no server is given', () => {
    assert.throws(() => validateOnionOptions({ ports: [{ virtualPort: 80 }] }), /every port needs a target/);
    assert.equal(validateOnionOptions({ ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }] }).ports[0]!.target, '127.0.0.1:8080');
  });

  it('a unix: target given by a relative path becomes absolute: tor would look in its own working directory', () => {
    const o = validateOnionOptions({
      ports: [
        { virtualPort: 80, target: 'unix:app.sock' },
        { virtualPort: 81, target: 'unix:/run/app.sock' },
        { virtualPort: 82, target: '127.0.0.1:8080' },
      ],
    });
    assert.deepEqual(
      o.ports.map((p) => p.target),
      [`unix:${path.resolve('app.sock')}`, 'unix:/run/app.sock', '127.0.0.1:8080'],
    );
  });

  it('never puts the private key into a message', () => {
    const blob = randomBytes(63).toString('base64');
    assert.throws(() => validateOnionOptions({ ...base, privateKey: `ED25519-V3:${blob}` }), (e: unknown) => {
      return e instanceof TorInvalidValueError && /privateKey/.test(e.message) && !e.message.includes(blob);
    });
  });
});

describe('descriptor upload bookkeeping', () => {
  const ev = (action: string, hsDir: string, address = ID, reason?: string) => ({ action, address, hsDir, reason });
  const A = '$' + 'A'.repeat(40) + '~a';
  const B = '$' + 'B'.repeat(40) + '~b';

  it('is uploaded at the first UPLOADED, whatever failed before', () => {
    const t = new UploadTracker(ID);
    assert.equal(t.apply(ev('UPLOAD', A)).state, 'waiting');
    assert.equal(t.apply(ev('UPLOAD', B)).state, 'waiting');
    assert.equal(t.apply(ev('FAILED', A, ID, 'UPLOAD_REJECTED')).state, 'waiting');
    assert.deepEqual(t.apply(ev('UPLOADED', 'B'.repeat(40))), { state: 'uploaded', hsDir: 'B'.repeat(40) });
    assert.equal(t.apply(ev('FAILED', B)).state, 'uploaded', 'the outcome is final');
  });

  it('fails when every directory it uploaded to failed, counting two descriptors on one directory', () => {
    const t = new UploadTracker(ID);
    t.apply(ev('UPLOAD', A));
    t.apply(ev('UPLOAD', A));
    t.apply(ev('UPLOAD', B));
    assert.equal(t.apply(ev('FAILED', A, ID, 'UPLOAD_REJECTED')).state, 'waiting');
    assert.equal(t.apply(ev('FAILED', B, ID, 'UNEXPECTED')).state, 'waiting');
    assert.deepEqual(t.apply(ev('FAILED', 'A'.repeat(40))), { state: 'failed', reasons: ['UPLOAD_REJECTED', 'UNEXPECTED', 'UNEXPECTED'] });
  });

  it('ignores other services and other actions, and counts progress', () => {
    const t = new UploadTracker(ID);
    assert.equal(t.apply(ev('UPLOADED', A, OTHER)).state, 'waiting');
    assert.equal(t.apply(ev('CREATED', A)).state, 'waiting');
    assert.deepEqual(t.apply(ev('UPLOAD', A)), { state: 'waiting', started: 1, done: 0 });
    assert.deepEqual(t.apply(ev('UPLOAD', B)), { state: 'waiting', started: 2, done: 0 });
    assert.deepEqual(t.apply(ev('FAILED', B)), { state: 'waiting', started: 2, done: 1 });
  });
});
