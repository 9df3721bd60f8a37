import assert from 'node:assert/strict';
import { TorAbortError, TorInvalidValueError, TorSocksError, TorTimeoutError } from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { Tor } from '../../src/tor/tor.js';
import {
  encodeGreeting,
  encodeResolveRequest,
  encodeUserPass,
  SOCKS_CMD_RESOLVE,
  SOCKS_CMD_RESOLVE_PTR,
} from '../../src/socks/tor-resolve.js';
import { startFakeSocksServer, type FakeAnswer, type FakeSocksServer } from './socks-fake-server.js';
import { waitUntil } from '../support/settle.js';

/** Reply address bytes: ATYP + address + port 0. */
function bound(atyp: number, body: number[] | Buffer): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from([atyp]), atyp === 3 ? Buffer.concat([Buffer.from([b.length]), b]) : b, Buffer.from([0, 0])]);
}

describe('socks RESOLVE / RESOLVE_PTR (tor SOCKS5 extensions) against a fake SOCKS server', () => {
  let server: FakeSocksServer | undefined;
  let client: TorSocksClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.close();
    server = undefined;
    client = undefined;
  });

  async function withServer(answer: (req: import('./socks-fake-server.js').FakeRequest) => FakeAnswer, opts: Parameters<typeof startFakeSocksServer>[0] = {}) {
    server = await startFakeSocksServer({ ...opts, answer });
    client = new TorSocksClient(null, { socksPort: server.port });
    return { server, client };
  }

  describe('encoding', () => {
    it('greeting offers exactly one method', () => {
      assert.deepEqual([...encodeGreeting(undefined)], [5, 1, 0]);
      assert.deepEqual([...encodeGreeting({ username: 'u', password: 'p' })], [5, 1, 2]);
    });
    it('RFC 1929 username/password', () => {
      assert.deepEqual([...encodeUserPass({ username: 'ab', password: 'xyz' })], [1, 2, 0x61, 0x62, 3, 0x78, 0x79, 0x7a]);
      assert.deepEqual([...encodeUserPass({ username: '', password: '' })], [1, 0, 0]);
    });
    it('requests: name as type 3, addresses as type 1/4, port 0', () => {
      assert.deepEqual([...encodeResolveRequest(SOCKS_CMD_RESOLVE, 'ab.c', 3)], [5, 0xf0, 0, 3, 4, 0x61, 0x62, 0x2e, 0x63, 0, 0]);
      assert.deepEqual([...encodeResolveRequest(SOCKS_CMD_RESOLVE_PTR, '10.1.2.3', 1)], [5, 0xf1, 0, 1, 10, 1, 2, 3, 0, 0]);
      assert.deepEqual(
        [...encodeResolveRequest(SOCKS_CMD_RESOLVE_PTR, '::1', 4)],
        [5, 0xf1, 0, 4, ...new Array(15).fill(0), 1, 0, 0],
      );
    });
  });

  it('RESOLVE: the exact bytes on the wire, and an IPv4 answer', async () => {
    const { server, client } = await withServer(() => ({ bound: bound(1, [93, 184, 216, 34]) }));
    assert.equal(await client.resolve('example.com'), '93.184.216.34');
    const conn = server.connections[0]!;
    assert.deepEqual([...conn.received], [5, 1, 0, 5, 0xf0, 0, 3, 11, ...Buffer.from('example.com'), 0, 0]);
    assert.equal(conn.closed || (await waitClosed(server)), true);
  });

  it('RESOLVE: an IPv6 answer in RFC 5952 form', async () => {
    const { client } = await withServer(() => ({ bound: bound(4, Buffer.from('20010db8000000000000000000000001', 'hex')) }));
    assert.equal(await client.resolve('v6.example'), '2001:db8::1');
  });

  it('RESOLVE with isolate: user/pass greeting and credentials on the wire', async () => {
    const { server, client } = await withServer(() => ({ bound: bound(1, [1, 2, 3, 4]) }));
    assert.equal(await client.resolve('example.com', { isolate: 'tok' }), '1.2.3.4');
    const conn = server.connections[0]!;
    assert.deepEqual(conn.methods, [2]);
    assert.equal(conn.request?.username, 'torcon-isolate');
    assert.equal(conn.request?.password, 'tok');
  });

  it('Tor.resolve takes the isolation options too (they were typed away: CancelOptions only)', async () => {
    const { server, client } = await withServer(() => ({ bound: bound(1, [1, 2, 3, 4]) }));
    const tor = new Tor({} as TorControl, { version: '0.4.9.1', controlEndpoint: 'tcp:127.0.0.1:9' });
    Object.defineProperty(tor, 'socks', { value: client });
    // Compiles only if Tor.resolve's options are the SOCKS client's (isolate, username, password...).
    const opts: Parameters<Tor['resolve']>[1] = { isolate: 'tok', timeoutMs: 5_000 };
    assert.equal(await tor.resolve('example.com', opts), '1.2.3.4');
    assert.equal(server.connections[0]!.request?.password, 'tok');
  });

  it('RESOLVE_PTR: IPv4 and IPv6 requests, hostname answer', async () => {
    const { server, client } = await withServer((req) => ({ bound: bound(3, Buffer.from(req.addressType === 1 ? 'v4.example' : 'v6.example')) }));
    assert.equal(await client.resolvePtr('10.0.0.1'), 'v4.example');
    assert.equal(await client.resolvePtr('2001:db8::1'), 'v6.example');
    assert.deepEqual(server.connections.map((c) => [c.request?.command, c.request?.addressType, c.request?.host]), [
      [0xf1, 1, '10.0.0.1'],
      [0xf1, 4, '2001:db8:0:0:0:0:0:1'],
    ]);
  });

  it('a RESOLVE_PTR answered "host unreachable" says the address has no name; a RESOLVE says check the hostname', async () => {
    const { client } = await withServer(() => ({ reply: 0x04 }));
    const ptr = await client.resolvePtr('127.0.0.1').catch((e: unknown) => e);
    assert.ok(ptr instanceof TorSocksError && ptr.code === 'TOR_SOCKS_HOST_UNREACHABLE' && /found no name for the address/.test(ptr.message), String(ptr));
    const forward = await client.resolve('no-such-name.example').catch((e: unknown) => e);
    assert.ok(forward instanceof TorSocksError && /check the hostname/.test(forward.message), String(forward));
  });

  it('RESOLVE refuses an onion address before any I/O (tor would answer "host unreachable")', async () => {
    const { server, client } = await withServer(() => ({ reply: 0x04 }));
    const onion = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';
    for (const name of [onion, `www.${onion}`, onion.toUpperCase()]) {
      const err = await client.resolve(name).catch((e: unknown) => e);
      assert.ok(err instanceof TorInvalidValueError && /onion address/.test(err.message), `${name}: ${String(err)}`);
    }
    assert.equal(server.connections.length, 0);
  });

  it('RESOLVE_PTR refuses a name before any I/O', async () => {
    const { server, client } = await withServer(() => ({}));
    await assert.rejects(client.resolvePtr('example.com'), TorInvalidValueError);
    assert.equal(server.connections.length, 0);
  });

  for (const [reply, code] of [
    [0x04, 'TOR_SOCKS_HOST_UNREACHABLE'],
    [0x01, 'TOR_SOCKS_GENERAL_FAILURE'],
    [0xf6, 'TOR_SOCKS_ONION_BAD_ADDRESS'],
  ] as const) {
    it(`error reply 0x${reply.toString(16)} -> ${code}`, async () => {
      const { client } = await withServer(() => ({ reply, bound: bound(1, [0, 0, 0, 0]) }));
      await assert.rejects(client.resolve('nowhere.example'), (e: unknown) => e instanceof TorSocksError && e.code === code && e.reply === reply);
    });
  }

  const malformed: Array<[string, FakeAnswer, string, 'resolve' | 'ptr']> = [
    ['a reply with SOCKS version 4', { raw: Buffer.from([4, 0, 0, 1, 1, 2, 3, 4, 0, 0]) }, 'TOR_SOCKS_PROTOCOL', 'resolve'],
    ['an unknown address type', { raw: Buffer.from([5, 0, 0, 9, 1, 2, 3, 4, 0, 0]) }, 'TOR_SOCKS_PROTOCOL', 'resolve'],
    ['a hostname answer to RESOLVE', { bound: bound(3, Buffer.from('x.example')) }, 'TOR_SOCKS_PROTOCOL', 'resolve'],
    ['an address answer to RESOLVE_PTR', { bound: bound(1, [1, 2, 3, 4]) }, 'TOR_SOCKS_PROTOCOL', 'ptr'],
    ['an empty hostname', { bound: bound(3, Buffer.alloc(0)) }, 'TOR_SOCKS_PROTOCOL', 'ptr'],
    ['a hostname with a control character', { bound: bound(3, Buffer.from('evil\nname')) }, 'TOR_SOCKS_PROTOCOL', 'ptr'],
    ['a truncated reply, then close', { raw: Buffer.from([5, 0, 0, 4, 0x20, 0x01]), close: true }, 'TOR_SOCKS_CLOSED', 'resolve'],
    ['a hostname length past the end, then close', { raw: Buffer.from([5, 0, 0, 3, 200, 0x61, 0x62]), close: true }, 'TOR_SOCKS_CLOSED', 'ptr'],
    ['a close without reply', { silent: true, close: true }, 'TOR_SOCKS_CLOSED', 'resolve'],
  ];
  for (const [label, answer, code, which] of malformed) {
    it(`${label} -> ${code}`, async () => {
      const { client } = await withServer(() => answer);
      const p = which === 'resolve' ? client.resolve('example.com') : client.resolvePtr('127.0.0.1');
      await assert.rejects(p, (e: unknown) => e instanceof TorSocksError && e.code === code && e.reply === undefined);
    });
  }

  it('a greeting that is not SOCKS5 -> TOR_SOCKS_PROTOCOL', async () => {
    const { client } = await withServer(() => ({}), { rawGreeting: Buffer.from('HTTP/1.0 501 Tor is not an HTTP Proxy\r\n') });
    await assert.rejects(client.resolve('example.com'), (e: unknown) => e instanceof TorSocksError && e.code === 'TOR_SOCKS_PROTOCOL');
  });

  it('no acceptable method (0xFF) and refused credentials -> TOR_SOCKS_AUTH_FAILED', async () => {
    await withServer(() => ({}), { method: 'none' });
    await assert.rejects(client!.resolve('example.com'), (e: unknown) => e instanceof TorSocksError && e.code === 'TOR_SOCKS_AUTH_FAILED');
    client!.close();
    await server!.close();
    await withServer(() => ({}), { authOk: false });
    await assert.rejects(
      client!.resolve('example.com', { isolate: 'secret-token' }),
      (e: unknown) => e instanceof TorSocksError && e.code === 'TOR_SOCKS_AUTH_FAILED' && !e.message.includes('secret-token'),
    );
  });

  it('a method that was not offered -> TOR_SOCKS_PROTOCOL', async () => {
    await withServer(() => ({}), { method: 0x02 });
    await assert.rejects(client!.resolve('example.com'), (e: unknown) => e instanceof TorSocksError && e.code === 'TOR_SOCKS_PROTOCOL');
  });

  it('a tor that never answers: timeoutMs -> TorTimeoutError, and the socket is closed', async () => {
    const { server, client } = await withServer(() => ({ silent: true }));
    await assert.rejects(client.resolve('example.com', { timeoutMs: 200 }), TorTimeoutError);
    assert.equal(await waitClosed(server), true);
  });

  it('a tor that never answers: the handshake limit -> TOR_SOCKS_TIMEOUT', async () => {
    server = await startFakeSocksServer({ answer: () => ({ silent: true }) });
    client = new TorSocksClient(null, { socksPort: server.port, handshakeTimeoutMs: 150 });
    await assert.rejects(client.resolve('example.com'), (e: unknown) => e instanceof TorSocksError && e.code === 'TOR_SOCKS_TIMEOUT');
    assert.equal(await waitClosed(server), true);
  });

  it('abort while waiting -> TorAbortError, and the socket is closed', async () => {
    const { server, client } = await withServer(() => ({ silent: true }));
    const ac = new AbortController();
    const p = client.resolve('example.com', { signal: ac.signal });
    await waitUntil(() => server.connections[0]?.request !== undefined, 'the SOCKS request');
    ac.abort();
    await assert.rejects(p, TorAbortError);
    assert.equal(await waitClosed(server), true);
  });

  it('an already aborted signal fails without connecting', async () => {
    const { server, client } = await withServer(() => ({}));
    await assert.rejects(client.resolve('example.com', { signal: AbortSignal.abort() }), TorAbortError);
    assert.equal(server.connections.length, 0);
  });
});


/** Resolves true once every connection the fake server saw is closed. */
async function waitClosed(server: FakeSocksServer): Promise<boolean> {
  await waitUntil(() => server.connections.every((c) => c.closed), 'every SOCKS connection closed');
  return true;
}
