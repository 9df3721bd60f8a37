import assert from 'node:assert/strict';
import { retryOnionLookup } from '../support/retry.js';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { OnionProgress } from '../../src/onion/onion-types.js';
import type { TorOnionService } from '../../src/onion/onion-service.js';
import { TorSocksError } from '../../src/errors.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import type { TestNetwork } from '../../src/testnet.js';

/**
 * Publishing onion services on the private test network and reaching them through its client, with
 * torcon and with curl. Onion connections get 20 s and more (testnet.md: one may take 12.7 s).
 */

const run = promisify(execFile);
const ONION_TIMEOUT_MS = 30_000;

/** GET / over a socket tor opened; resolves with the body. */
function httpGet(socket: net.Socket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, path: '/', createConnection: () => socket, timeout: ONION_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('HTTP timeout')));
    req.end();
  });
}

function helloServer(tag: string): http.Server {
  return http.createServer((req, res) => res.end(`${tag} ${req.url}\n`));
}

describe('onion services on the private test network', function () {
  this.timeout(180_000);
  let network: TestNetwork;
  let tor: Tor;
  let tmp: string;

  before(async function () {
    this.timeout(240_000);
    network = await sharedTestNetwork();
    tor = await connectTor({ control: network.controlEndpoint });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'torcon-onion-net-'));
  });
  after(async () => {
    await tor?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('publishes an http server and serves it through tor.connect and curl --socks5-hostname', async () => {
    const server = helloServer('hello');
    const phases: OnionProgress[] = [];
    const service = (await tor.createOnionService({
      ports: [{ virtualPort: 80 }],
      server,
      uploadTimeoutMs: 60_000,
      onProgress: (p) => phases.push(p),
    })) as TorOnionService;
    try {
      assert.ok(phases.some((p) => p.phase === 'uploaded'), 'resolved after an UPLOADED event');
      assert.deepEqual(
        [...new Set(phases.map((p) => p.phase))].filter((p) => p !== 'uploading'),
        ['listening', 'adding', 'added', 'uploaded'],
      );
      const socket = await retryOnionLookup(() => tor.connect(`${service.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS }));
      assert.equal(await httpGet(socket, service.hostname), 'hello /\n');

      const { stdout } = await run(
        'curl',
        ['--silent', '--show-error', '--max-time', '40', '--socks5-hostname', `127.0.0.1:${network.socksPort}`, `http://${service.hostname}/curl`],
        { timeout: 45_000 },
      );
      assert.equal(stdout, 'hello /curl\n');
    } finally {
      await service.close();
    }
    assert.equal(server.listening, false);
  });

  it('requires client authorization: F4 without the key, reachable after addOnionClientAuth', async () => {
    const server = helloServer('secret');
    const service = (await tor.createOnionService({
      ports: [{ virtualPort: 80 }],
      server,
      clientAuth: ['alice'],
      uploadTimeoutMs: 60_000,
    })) as TorOnionService;
    try {
      // The first lookup may miss the descriptor (see retryOnionLookup); any other answer is the one tested.
      const err = await retryOnionLookup(() =>
        tor.connect(`${service.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS }).then(
          (socket) => {
            socket.destroy();
            return new Error('connected without client authorization');
          },
          (e: unknown) => {
            if (e instanceof TorSocksError && e.code === 'TOR_SOCKS_ONION_NOT_FOUND') throw e;
            return e;
          },
        ),
      );
      assert.ok(err instanceof TorSocksError, `expected TorSocksError, got ${String(err)}`);
      assert.equal(err.code, 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING');
      assert.equal(err.reply, 0xf4);

      await tor.addOnionClientAuth(service.hostname, service.clientAuth![0]!.privateKey!, { clientName: 'alice' });
      const socket = await tor.connect(`${service.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS });
      assert.equal(await httpGet(socket, service.hostname), 'secret /\n');
    } finally {
      await tor.removeOnionClientAuth(service.hostname).catch(() => undefined);
      await service.close();
    }
  });

  it('keeps client authorization across restarts with clientAuthDir: a client keeps its key', async () => {
    const server = helloServer('kept');
    const options = {
      ports: [{ virtualPort: 80 }],
      server,
      privateKeyFile: path.join(tmp, 'kept.key'),
      clientAuthDir: path.join(tmp, 'kept-clients'),
      clientAuth: ['alice'],
      uploadTimeoutMs: 60_000,
    };
    const first = (await tor.createOnionService(options)) as TorOnionService;
    const alice = first.clientAuth![0]!;
    let second: TorOnionService | undefined;
    try {
      assert.equal(alice.name, 'alice');
      assert.ok(alice.privateKey, 'a new client gets its private key once');
      const file = path.join(tmp, 'kept-clients', 'alice.auth');
      assert.equal(await readFile(file, 'utf8'), `descriptor:x25519:${alice.publicKey}\n`);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      await tor.addOnionClientAuth(first.hostname, alice.privateKey!, { clientName: 'alice' });
      const socket = await retryOnionLookup(() => tor.connect(`${first.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS }));
      assert.equal(await httpGet(socket, first.hostname), 'kept /\n');
      await first.close(); // closes the server torcon made listen, too

      // A restart: the same address, and alice's key from before still opens it.
      const server2 = helloServer('kept again');
      second = (await tor.createOnionService({ ...options, server: server2 })) as TorOnionService;
      assert.equal(second.hostname, first.hostname);
      assert.deepEqual(
        second.clientAuth!.map((c) => ({ name: c.name, publicKey: c.publicKey, privateKey: c.privateKey })),
        [{ name: 'alice', publicKey: alice.publicKey, privateKey: undefined }],
      );
      const again = await retryOnionLookup(() => tor.connect(`${second!.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS }));
      assert.equal(await httpGet(again, second.hostname), 'kept again /\n');
    } finally {
      await tor.removeOnionClientAuth(first.hostname).catch(() => undefined);
      await first.close();
      await second?.close();
    }
  });

  it('keeps the clients of a hiddenServiceDir across restarts instead of writing new keys over theirs', async () => {
    const dir = path.join(tmp, 'hs-clients');
    const options = { ports: [{ virtualPort: 80 }], server: helloServer('fs-auth'), hiddenServiceDir: dir, clientAuth: ['bob'], awaitUpload: false };
    const first = (await tor.createOnionService(options)) as TorOnionService;
    const bob = first.clientAuth![0]!;
    await first.close();
    const second = (await tor.createOnionService({ ...options, server: helloServer('fs-auth 2'), clientAuth: ['bob', 'carol'] })) as TorOnionService;
    try {
      assert.ok(bob.privateKey, 'bob was new the first time');
      const [keptBob, carol] = second.clientAuth!;
      assert.equal(keptBob!.publicKey, bob.publicKey);
      assert.equal(keptBob!.privateKey, undefined);
      assert.equal(carol!.name, 'carol');
      assert.ok(carol!.privateKey);
      assert.equal(await readFile(path.join(dir, 'authorized_clients', 'bob.auth'), 'utf8'), `descriptor:x25519:${bob.publicKey}\n`);
    } finally {
      await second.close();
    }
  });

  it('publishes a filesystem service (hiddenServiceDir) with PoW enabled and serves it', async () => {
    const server = helloServer('fs');
    const service = await tor.createOnionService({
      ports: [{ virtualPort: 8080 }],
      server,
      hiddenServiceDir: path.join(tmp, 'hs'),
      pow: true,
      uploadTimeoutMs: 60_000,
    });
    try {
      assert.equal(service.address, `${service.hostname}:8080`);
      // The first lookup of a brand-new service can still miss (see retryOnionLookup), as above.
      const socket = await retryOnionLookup(() => tor.connect(`${service.hostname}:8080`, { timeoutMs: ONION_TIMEOUT_MS }));
      assert.equal(await httpGet(socket, service.hostname), 'fs /\n');
    } finally {
      await service.close();
    }
  });
});
