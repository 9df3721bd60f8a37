import assert from 'node:assert/strict';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import sinon from 'sinon';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { fakeControl, makeTestCertificate, startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * The privacy rule of the SOCKS layer: hostnames go to tor as names; torcon itself never asks the
 * local resolver. Every path (connect, TLS, resolve, resolvePtr, http/https agents, fetch, port
 * discovery) runs with dns.lookup and dns.promises.lookup spied, and none may call them.
 */
describe('socks: no local DNS lookup on any path', () => {
  let fake: FakeSocksServer;
  let web: http.Server;
  let secureWeb: https.Server;
  let cert: { key: string; cert: string };
  let lookup: sinon.SinonSpy;
  let promisesLookup: sinon.SinonSpy;
  let targetPort = 0;

  before(async () => {
    cert = makeTestCertificate({ dns: ['secure.example'] });
    web = http.createServer((req, res) => res.end(`ok ${req.headers.host}`));
    secureWeb = https.createServer(cert, (_req, res) => res.end('secure ok'));
    for (const s of [web, secureWeb]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    fake = await startFakeSocksServer({
      answer: (req) => {
        if (req.command === 0xf0) return { bound: Buffer.from([1, 10, 0, 0, 1, 0, 0]) };
        if (req.command === 0xf1) return { bound: Buffer.concat([Buffer.from([3, 9]), Buffer.from('a.example'), Buffer.from([0, 0])]) };
        return { forwardTo: targetPort };
      },
    });
  });
  after(async () => {
    await fake.close();
    for (const s of [web, secureWeb]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
  beforeEach(() => {
    lookup = sinon.spy(dns, 'lookup');
    promisesLookup = sinon.spy(dns.promises, 'lookup');
  });
  afterEach(() => sinon.restore());

  const port = (s: net.Server) => (s.address() as net.AddressInfo).port;

  it('the spies do see a lookup when one happens (control)', async () => {
    const s = net.connect({ host: 'localhost', port: port(web) });
    await new Promise((r) => s.once('connect', r).once('error', r));
    s.destroy();
    assert.ok(lookup.callCount + promisesLookup.callCount > 0);
  });

  it('connect, TLS, resolve, resolvePtr, agents and fetch: zero lookups', async () => {
    const client = new TorSocksClient(fakeControl(`"127.0.0.1:${fake.port}"`));
    try {
      targetPort = port(web);
      (await client.connect({ host: 'name.example', port: 80 })).destroy();
      (await client.connect({ host: 'localhost', port: 80 }, { isolate: 'x' })).destroy();
      assert.equal(await client.resolve('name.example'), '10.0.0.1');
      assert.equal(await client.resolvePtr('10.0.0.1'), 'a.example');

      const body = await new Promise<string>((resolve, reject) => {
        http.get('http://agent.example/', { agent: client.httpAgent() }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(body, 'ok agent.example');
      assert.equal(await (await client.fetch('http://fetch.example/')).text(), 'ok fetch.example');

      targetPort = port(secureWeb);
      const tlsSocket = await client.connect({ host: 'secure.example', port: 443 }, { tls: { ca: cert.cert } });
      tlsSocket.destroy();
      const secureBody = await new Promise<string>((resolve, reject) => {
        https.get('https://secure.example/', { agent: client.httpAgent({ tls: { ca: cert.cert } }) }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(secureBody, 'secure ok');
      // Untrusted by fetch's default CAs: it fails, but after the TLS handshake, never via DNS.
      await assert.rejects(client.fetch('https://secure.example/'), { code: 'TOR_SOCKS_TLS_FAILED' });
    } finally {
      client.close();
    }
    assert.equal(lookup.callCount, 0);
    assert.equal(promisesLookup.callCount, 0);
  });
});
