import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { inspect } from 'node:util';
import {
  TorAbortError,
  TorError,
  TorFetchError,
  TorInvalidValueError,
  TorSocksError,
  TorTimeoutError,
} from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { settleWithin, waitUntil } from '../support/settle.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * Every way `fetch` through tor can fail gives a torcon error, never fetch's bare
 * `TypeError: fetch failed`: undici's own refusals (blocked ports, redirects), a connection that
 * closes mid-request, an answer that is not HTTP, aborts, requests fetch will not build, and the
 * client closing under a request. The original error stays reachable as `cause`, except for a
 * request fetch refuses to build (undici's error quotes the offending value); no message shows the
 * isolation token, a URL's credentials or path, or a header's value.
 *
 * A fake SOCKS server on 127.0.0.1 grants each CONNECT and pipes it to a local server chosen by
 * the requested host name, so that each fault is produced on demand.
 */

const ISOLATE = 'isolation-token-7f3a';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** What a promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('resolved, expected a rejection');
}

/** The errors of a `cause` chain, outermost first. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

/** No secret of the request in the message of `err` or of any of its torcon causes. */
function assertNoSecrets(err: unknown, secrets: string[]): void {
  for (const e of causes(err)) {
    if (!(e instanceof TorError)) continue;
    for (const s of secrets) assert.ok(!e.message.includes(s), `"${s}" in: ${e.message}`);
  }
}

describe('socks client: fetch failures are torcon errors, not TypeError', () => {
  let fake: FakeSocksServer;
  let client: TorSocksClient;
  const servers: net.Server[] = [];
  /** The local port each requested host name is piped to. */
  const routes = new Map<string, number>();
  /** Requests the `hang` server got and never answered. */
  const hanging: http.ServerResponse[] = [];

  before(async () => {
    const add = async (host: string, server: net.Server) => {
      servers.push(server);
      routes.set(host, await listen(server));
    };
    // Hangs up as soon as the request arrives: a stream through tor that ends mid-request.
    await add('closer.example', net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.destroy());
    }));
    // Answers with something that is no HTTP.
    await add('garbage.example', net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    }));
    // Sends the headers at once and the end of the body 300 ms later.
    await add('slow-body.example', http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      setTimeout(() => res.end('second'), 300);
    }));
    await add('web.example', http.createServer((req, res) => {
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' }).end();
      } else if (req.url === '/to-credentials') {
        res.writeHead(302, { location: 'http://alice:hunter2@web.example/x' }).end();
      } else if (req.url === '/to-ftp') {
        res.writeHead(302, { location: 'ftp://files.example/' }).end();
      } else if (req.url === '/to-bad-port') {
        res.writeHead(302, { location: 'http://web.example:6667/' }).end();
      } else if (req.url?.startsWith('/hang')) {
        hanging.push(res);
      } else {
        res.end(`ok ${req.url}`);
      }
    }));
  });
  after(async () => {
    for (const server of servers) await closeServer(server);
  });
  beforeEach(async () => {
    fake = await startFakeSocksServer({ answer: (req) => ({ forwardTo: routes.get(req.host) ?? routes.get('web.example')! }) });
    client = new TorSocksClient(null, { socksPort: fake.port });
  });
  afterEach(async () => {
    client.close();
    for (const res of hanging.splice(0)) res.destroy();
    await fake.close();
  });

  it('still works: a plain fetch through the fake', async () => {
    const res = await client.fetch('http://web.example/x', { isolate: ISOLATE });
    assert.equal(await res.text(), 'ok /x');
  });

  it('a port fetch blocks (6667, 10080): TorFetchError saying so, undici\'s error as cause, no connection made', async () => {
    for (const port of [6667, 10080]) {
      const err = await rejection(client.fetch(`http://web.example:${port}/irc?key=hunter2`, { isolate: ISOLATE }));
      assert.ok(err instanceof TorFetchError, String(err));
      assert.equal(err.code, 'TOR_FETCH_FAILED');
      assert.match(err.message, new RegExp(`^fetching http://web\\.example:${port} failed: fetch refuses to connect to this port`));
      // Nothing lost: fetch's TypeError, and the reason it wraps.
      const [, outer, inner] = causes(err) as Error[];
      assert.ok(outer instanceof TypeError && outer.message === 'fetch failed');
      assert.equal(inner?.message, 'bad port');
      assertNoSecrets(err, [ISOLATE, 'hunter2', '/irc']);
    }
    assert.equal(fake.connections.length, 0, 'a blocked port was connected to');
  });

  it('the connection closes mid-request: TorFetchError naming host:port, never the path or the isolation token', async () => {
    const err = await rejection(client.fetch('http://closer.example/private/path?token=hunter2', { isolate: ISOLATE }));
    assert.ok(err instanceof TorFetchError, String(err));
    assert.match(err.message, /^fetching http:\/\/closer\.example:80 failed: the connection through tor closed before a complete response arrived/);
    assert.equal((causes(err)[2] as { code?: string }).code, 'UND_ERR_SOCKET');
    assertNoSecrets(err, [ISOLATE, 'hunter2', '/private']);
  });

  it('an answer that is not HTTP, too many redirects, a redirect to ftp: or to a blocked port: TorFetchError', async () => {
    const garbage = await rejection(client.fetch('http://garbage.example/'));
    assert.ok(garbage instanceof TorFetchError, String(garbage));
    assert.match(garbage.message, /not valid HTTP\/1\.1/);
    const loop = await rejection(client.fetch('http://web.example/loop'));
    assert.ok(loop instanceof TorFetchError, String(loop));
    assert.match(loop.message, /too many redirects/);
    const ftp = await rejection(client.fetch('http://web.example/to-ftp'));
    assert.ok(ftp instanceof TorFetchError, String(ftp));
    assert.match(ftp.message, /redirect leads to a URL that is not http: or https:/);
    const credentials = await rejection(client.fetch('http://web.example/to-credentials'));
    assert.ok(credentials instanceof TorFetchError, String(credentials));
    assert.match(credentials.message, /redirect leads to a URL with credentials/);
    assertNoSecrets(credentials, ['hunter2']);
    const badPort = await rejection(client.fetch('http://web.example/to-bad-port'));
    assert.ok(badPort instanceof TorFetchError, String(badPort));
    const manual = await rejection(client.fetch('http://web.example/loop', { redirect: 'error' }));
    assert.ok(manual instanceof TorFetchError, String(manual));
  });

  it('a SOCKS failure inside the cause chain of fetch comes out as the TorSocksError itself', async () => {
    await fake.close();
    fake = await startFakeSocksServer({ answer: () => ({ reply: 0x05 }) });
    client.close();
    client = new TorSocksClient(null, { socksPort: fake.port });
    const err = await rejection(client.fetch('http://web.example/', { isolate: ISOLATE }));
    assert.ok(err instanceof TorSocksError && err.code === 'TOR_SOCKS_CONNECTION_REFUSED', String(err));
    assertNoSecrets(err, [ISOLATE]);
  });

  it('aborts are TorAbortError with the signal\'s reason as cause: before, during the SOCKS handshake, waiting for the answer', async () => {
    const pre = new AbortController();
    pre.abort();
    const before = await rejection(client.fetch('http://web.example/', { signal: pre.signal }));
    assert.ok(before instanceof TorAbortError, String(before));
    assert.equal(before.cause, pre.signal.reason);
    assert.equal(before.message, 'fetching http://web.example:80 was aborted');

    const waiting = new AbortController();
    const fetching = client.fetch('http://web.example/hang', { signal: waiting.signal, isolate: ISOLATE });
    await waitUntil(() => hanging.length > 0, 'the request at the server');
    waiting.abort(new Error('user gave up'));
    const during = await rejection(fetching);
    assert.ok(during instanceof TorAbortError, String(during));
    assert.equal((during.cause as Error).message, 'user gave up');
    assertNoSecrets(during, [ISOLATE]);

    const timedOut = await rejection(client.fetch('http://web.example/hang', { signal: AbortSignal.timeout(50) }));
    assert.ok(timedOut instanceof TorAbortError, String(timedOut));
    assert.equal((timedOut.cause as DOMException).name, 'TimeoutError');

    // A tor that never answers the SOCKS request: the abort still ends the fetch at once.
    await fake.close();
    fake = await startFakeSocksServer({ answer: () => ({ silent: true }) });
    client.close();
    client = new TorSocksClient(null, { socksPort: fake.port });
    const socks = new AbortController();
    const opening = client.fetch('http://web.example/', { signal: socks.signal });
    await waitUntil(() => fake.connections.length > 0, 'the SOCKS connection');
    socks.abort();
    const inHandshake = await rejection(opening);
    assert.ok(inHandshake instanceof TorAbortError, String(inHandshake));
  });

  it('an abort whose reason is already a torcon error rejects with that very error', async () => {
    const ac = new AbortController();
    const reason = new TorTimeoutError('my own deadline', 5);
    const fetching = client.fetch('http://web.example/hang', { signal: ac.signal });
    await waitUntil(() => hanging.length > 0, 'the request at the server');
    ac.abort(reason);
    assert.equal(await rejection(fetching), reason);
  });

  it('a request fetch will not build is a TorInvalidValueError, without the offending value, and nothing is opened', async () => {
    const cases: Array<[string, RequestInit & { isolate?: string }]> = [
      ['CONNECT', { method: 'CONNECT' }],
      ['a body on GET', { body: 'x' }],
      ['a header value with a line break', { headers: { authorization: 'Bearer hunter2\r\nX-Evil: 1' } }],
      ['a bad header name', { headers: { 'bad name': 'v' } }],
    ];
    for (const [label, init] of cases) {
      const err = await rejection(client.fetch('http://web.example/', { ...init, isolate: ISOLATE }));
      assert.ok(err instanceof TorInvalidValueError, `${label}: ${String(err)}`);
      assert.equal(err.field, 'fetch request', label);
      assertNoSecrets(err, [ISOLATE, 'hunter2']);
    }
    const signal = await rejection(client.fetch('http://web.example/', { signal: {} as AbortSignal, isolate: ISOLATE }));
    assert.ok(signal instanceof TorInvalidValueError && signal.field === 'fetch init.signal', String(signal));
    // A Request (the Fetch standard's other input) or any other object: said as such, not "not an absolute URL".
    for (const input of [new Request('http://web.example/'), { href: 'http://web.example/' }, 42]) {
      const err = await rejection(client.fetch(input as unknown as string));
      assert.ok(err instanceof TorInvalidValueError && /must be a string or a URL object/.test(err.message), String(err));
    }
    const withCredentials = await rejection(client.fetch('http://alice:hunter2@web.example/'));
    assert.ok(withCredentials instanceof TorInvalidValueError, String(withCredentials));
    assertNoSecrets(withCredentials, ['hunter2']);
    assert.equal(fake.connections.length, 0);
  });

  it('a refused header keeps no secret anywhere in the error: message, cause chain, stack, util.inspect', async () => {
    // undici quotes the value in its message (and so in its stack); a value may hold quotes, and
    // redacting only the first quoted run would leave the rest of it in place.
    const values = ['Bearer hunter2\r\nX-Evil: 1', 'Bearer hun"ter2\nX', "Bearer hun'ter2\nX", 'Bearer "hunter2"\n"', 'x\0hunter2'];
    for (const value of values) {
      const err = await rejection(client.fetch('http://web.example/', { headers: { authorization: value } }));
      assert.ok(err instanceof TorInvalidValueError, String(err));
      assert.match(err.message, /invalid header value/, 'the message no longer says what was wrong');
      const shown = inspect(err, { depth: 10 });
      for (const part of ['hunter2', 'ter2', 'X-Evil']) {
        assert.ok(!shown.includes(part), `${JSON.stringify(value)}: "${part}" in ${shown}`);
        for (const e of causes(err)) {
          const { message, stack } = e as Error;
          assert.ok(!String(message).includes(part) && !String(stack).includes(part), `${JSON.stringify(value)}: "${part}" in the cause chain`);
        }
      }
    }
    assert.equal(fake.connections.length, 0);
  });

  it('timeoutMs bounds the wait for the headers: TorTimeoutError, the stream hung up, no connect left behind', async () => {
    const started = Date.now();
    const outcome = await settleWithin(client.fetch('http://web.example/hang?token=hunter2', { timeoutMs: 150, isolate: ISOLATE }), 3_000, 'fetch with timeoutMs');
    assert.ok(!outcome.ok, 'resolved');
    const err = (outcome as { error: unknown }).error;
    assert.ok(err instanceof TorTimeoutError, String(err));
    assert.equal(err.code, 'TOR_TIMEOUT');
    assert.equal(err.message, 'fetching http://web.example:80 timed out after 150 ms');
    assert.ok(Date.now() - started >= 140, 'gave up too early');
    assertNoSecrets(err, [ISOLATE, 'hunter2']);
    // With a signal of the caller's that never fires: the timeout still ends it.
    const both = await settleWithin(client.fetch('http://web.example/hang', { timeoutMs: 50, signal: new AbortController().signal }), 3_000, 'fetch with both');
    assert.ok(!both.ok && both.error instanceof TorTimeoutError, String(!both.ok && both.error));
    // A caller's abort before the deadline stays an abort.
    const ac = new AbortController();
    // Counted from now: on a loaded machine the 50 ms fetch above may give up before its request
    // reached the server, so the total is no guide.
    const reached = hanging.length;
    const aborting = client.fetch('http://web.example/hang', { timeoutMs: 5_000, signal: ac.signal });
    await waitUntil(() => hanging.length > reached, 'this request at the server');
    ac.abort();
    assert.ok((await rejection(aborting)) instanceof TorAbortError);

    // A tor that never answers the SOCKS request: the timeout covers the stream too.
    await fake.close();
    fake = await startFakeSocksServer({ answer: () => ({ silent: true }) });
    client.close();
    client = new TorSocksClient(null, { socksPort: fake.port });
    const silent = await settleWithin(client.fetch('http://web.example/', { timeoutMs: 100 }), 3_000, 'fetch through a silent tor');
    assert.ok(!silent.ok && silent.error instanceof TorTimeoutError, String(!silent.ok && silent.error));
    await waitUntil(() => fake.connections.every((c) => c.closed), 'the SOCKS connection closed');
  });

  it('timeoutMs does not cut a body still streaming once the headers are in; 0 gives up at once; bad values are refused', async () => {
    const res = await client.fetch('http://slow-body.example/', { timeoutMs: 100 });
    assert.equal(await res.text(), 'first second');
    await assert.rejects(client.fetch('http://web.example/x', { timeoutMs: 0 }), TorTimeoutError);
    for (const bad of [-1, NaN, '100', null]) {
      const before = fake.connections.length;
      const err = await rejection(client.fetch('http://web.example/x', { timeoutMs: bad as number }));
      assert.ok(err instanceof TorInvalidValueError && err.field === 'timeoutMs', `${String(bad)}: ${String(err)}`);
      assert.equal(fake.connections.length, before, `${String(bad)}: a connection was opened`);
    }
    // Infinity: no limit.
    assert.equal(await (await client.fetch('http://web.example/y', { timeoutMs: Infinity })).text(), 'ok /y');
  });

  it('the client closed under a request in flight (with a signal, and without): TOR_SOCKS_CLOSED, no hang', async () => {
    for (const signal of [new AbortController().signal, undefined]) {
      const fetching = client.fetch('http://web.example/hang', signal ? { signal } : {});
      await waitUntil(() => hanging.length > 0, 'the request at the server');
      client.close();
      const outcome = await settleWithin(fetching, 2_000, 'the fetch after close()');
      assert.ok(!outcome.ok, 'the fetch resolved after close()');
      assert.ok(outcome.error instanceof TorSocksError && outcome.error.code === 'TOR_SOCKS_CLOSED', String(outcome.error));
      for (const res of hanging.splice(0)) res.destroy();
      client = new TorSocksClient(null, { socksPort: fake.port });
    }
  });
});
