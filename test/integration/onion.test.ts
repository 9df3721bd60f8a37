import assert from 'node:assert/strict';
import { retryOnionLookup } from '../support/retry.js';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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

      await tor.addOnionClientAuth(service.hostname, service.clientAuth![0]!.privateKey, { clientName: 'alice' });
      const socket = await tor.connect(`${service.hostname}:80`, { timeoutMs: ONION_TIMEOUT_MS });
      assert.equal(await httpGet(socket, service.hostname), 'secret /\n');
    } finally {
      await tor.removeOnionClientAuth(service.hostname).catch(() => undefined);
      await service.close();
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
