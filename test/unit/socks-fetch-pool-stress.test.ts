import assert from 'node:assert/strict';
import http from 'node:http';
import { getEventListeners } from 'node:events';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TorAbortError, TorError, TorSocksError, TorTimeoutError } from '../../src/errors.js';
import { TorSocksClient } from '../../src/socks/tor-socks-client.js';
import { outcome, waitUntil, within, type Settled } from '../support/settle.js';
import { startFakeSocksServer, type FakeSocksServer } from './socks-fake-server.js';

/**
 * The shared fetch pools under load: many fetches at once, to several origins, with and without
 * signals and timeouts, aborted at any moment, redirected, with bodies, beside close() and
 * closeKeptConnections(). What must hold whatever the timing: every fetch settles, with a Response
 * or a torcon error; one that was not aborted never fails (least of all with another's abort);
 * no SOCKS connection is left open once the kept ones are closed; no warning, no unhandled rejection.
 *
 * A fake SOCKS server on 127.0.0.1 pipes each CONNECT to a local web server, after a short random
 * delay (tor building the stream), or only once the test opens a gate for `slow.example`.
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A small deterministic generator, so that a failing mix can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

describe('socks client: fetch pools under load', () => {
  let web: http.Server;
  let webPort: number;
  let fake: FakeSocksServer;
  let client: TorSocksClient;
  let openGate: () => void;
  let gate: Promise<void>;
  /** Delay of each SOCKS answer, chosen by the test. */
  let socksDelay: () => number;
  /** Requests for /hold that wait for the test. */
  const held: Array<() => void> = [];
  const warnings: Error[] = [];
  const unhandled: unknown[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    web = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://web');
      let length = 0;
      req.on('data', (chunk: Buffer) => (length += chunk.length));
      req.on('end', () => {
        const wait = Number(url.searchParams.get('wait') ?? 0);
        const reply = () => {
          if (url.pathname === '/redirect') res.writeHead(302, { location: url.searchParams.get('to')! }).end();
          else if (url.pathname === '/hold') held.push(() => res.writeHead(302, { location: url.searchParams.get('to')! }).end());
          else if (url.pathname === '/long') {
            // A body in pieces, for aborts while it is read.
            res.writeHead(200);
            let sent = 0;
            const more = () => {
              if (res.destroyed) return;
              if (sent++ === 5) res.end('end');
              else res.write('x'.repeat(1000), () => setTimeout(more, 2));
            };
            more();
          } else res.end(`ok ${req.method} ${url.pathname} ${length}`);
        };
        if (wait > 0) setTimeout(reply, wait);
        else reply();
      });
    });
    webPort = await listen(web);
  });
  after(async () => {
    web.closeAllConnections();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });
  beforeEach(async () => {
    warnings.length = 0;
    unhandled.length = 0;
    process.on('warning', onWarning);
    process.on('unhandledRejection', onUnhandled);
    socksDelay = () => 0;
    gate = new Promise<void>((resolve) => (openGate = resolve));
    fake = await startFakeSocksServer({
      answer: async (req) => {
        if (req.host === 'slow.example') await gate;
        const delay = socksDelay();
        if (delay > 0) await sleep(delay);
        return { forwardTo: webPort };
      },
    });
    client = new TorSocksClient(null, { socksPort: fake.port });
  });
  afterEach(async () => {
    openGate();
    for (const release of held.splice(0)) release();
    client.close();
    await fake.close();
    process.off('warning', onWarning);
    process.off('unhandledRejection', onUnhandled);
  });

  /** After the kept connections are closed, no SOCKS connection is left open. */
  async function assertNoConnectionLeft(): Promise<void> {
    client.closeKeptConnections();
    await waitUntil(() => fake.connections.every((c) => c.closed), `every SOCKS connection closed (open: ${fake.connections.filter((c) => !c.closed).length} of ${fake.connections.length})`);
  }

  for (const seed of [1, 2, 3]) {
    it(`150 fetches at once, mixed (seed ${seed}): each settles as it must, none fails for another's abort, nothing is left open`, async () => {
      const random = prng(seed);
      socksDelay = () => Math.floor(random() * 15);
      const hosts = ['a.example', 'b.example', 'c.example'];
      interface Job {
        url: string;
        /** none: no signal; quiet: a signal never aborted; later: aborted at a random moment; before: aborted before the call; timeout: a small timeoutMs */
        abort: 'none' | 'quiet' | 'later' | 'before' | 'timeout';
        aborted: boolean;
        result?: Promise<Settled<string>>;
        /** The fetch's own promise. */
        fetched?: Promise<Settled<Response>>;
      }
      const jobs: Job[] = [];
      for (let i = 0; i < 150; i++) {
        const host = hosts[i % hosts.length]!;
        const kind = Math.floor(random() * 6);
        const init: RequestInit & { isolate?: string; timeoutMs?: number } = {};
        let url = `http://${host}/p${i}?wait=${Math.floor(random() * 10)}`;
        if (kind === 1) url = `http://${host}/redirect?to=${encodeURIComponent(`http://${hosts[(i + 1) % hosts.length]}/r${i}`)}`;
        if (kind === 2) url = `http://${host}/redirect?to=${encodeURIComponent(`/same${i}`)}`;
        if (kind === 3) url = `http://${host}/long`;
        if (kind === 4) Object.assign(init, { method: 'POST', body: 'hello'.repeat(20) });
        if (kind === 5) {
          const body = new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('streamed'));
              controller.close();
            },
          });
          Object.assign(init, { method: 'POST', body, duplex: 'half' });
        }
        if (random() < 0.3) init.isolate = `token${i % 3}`;
        const abort = (['none', 'quiet', 'later', 'before', 'timeout'] as const)[Math.floor(random() * 5)]!;
        const job: Job = { url, abort, aborted: false };
        const ac = new AbortController();
        if (abort === 'quiet' || abort === 'later' || abort === 'before') init.signal = ac.signal;
        if (abort === 'before') {
          ac.abort();
          job.aborted = true;
        }
        if (abort === 'timeout') init.timeoutMs = Math.floor(random() * 25);
        else if (random() < 0.3) init.timeoutMs = 60_000;
        if (abort === 'later') {
          setTimeout(() => {
            job.aborted = true;
            ac.abort();
          }, Math.floor(random() * 40));
        }
        job.fetched = outcome(client.fetch(url, init));
        // The body is read too: an abort may come while it arrives.
        job.result = job.fetched.then((r) => (r.ok ? outcome(r.value.text()) : r));
        jobs.push(job);
      }
      const settled = await within(outcome(Promise.all(jobs.map((j) => j.result!))), 8_000, 'the 150 fetches');
      assert.ok(settled.ok);
      for (const [i, job] of jobs.entries()) {
        const fetched = (await job.fetched)!;
        const read = settled.value[i]!;
        const label = `#${i} ${job.abort} ${job.url}`;
        if (!fetched.ok) {
          assert.ok(fetched.error instanceof TorError, `${label}: not a torcon error: ${String(fetched.error)}`);
          if (job.abort === 'timeout') assert.ok(fetched.error instanceof TorTimeoutError, `${label}: ${String(fetched.error)}`);
          else {
            assert.ok(job.aborted, `${label}: failed without being aborted: ${String(fetched.error)}`);
            assert.ok(fetched.error instanceof TorAbortError, `${label}: ${String(fetched.error)}`);
          }
        } else if (!read.ok) {
          // Only an abort ends a body that was being read (a timeout does not reach the body).
          assert.ok(job.aborted, `${label}: body failed without an abort: ${String(read.error)}`);
        } else if (!job.url.includes('/long')) {
          assert.match(read.value, /^ok (GET|POST) \/(p|r|same)\d+ \d+$/, label);
        }
      }
      // A fetch that nothing aborted always succeeds here.
      assert.ok(jobs.filter((j) => j.abort === 'none' || j.abort === 'quiet').length > 0);
      await assertNoConnectionLeft();
      assert.deepEqual(warnings.map(String), []);
      assert.deepEqual(unhandled.map(String), []);
    });
  }

  it('fetches in a row, each with a fresh signal or timeoutMs, go over the kept connections (one, or two when a request came right after another)', async () => {
    for (let i = 0; i < 30; i++) {
      const init = i % 3 === 0 ? { signal: new AbortController().signal } : i % 3 === 1 ? { timeoutMs: 60_000 } : { signal: new AbortController().signal, timeoutMs: 60_000 };
      const res = await client.fetch(`http://web.example/n${i}`, init);
      assert.match(await res.text(), new RegExp(`^ok GET /n${i} 0$`));
      // undici counts a connection free a moment after it hands the body over.
      await sleep(1);
    }
    // One, but for a request that came before that moment (two at most: then both are free).
    assert.ok(fake.connections.length <= 2, `${fake.connections.length} connections`);
  });

  it('a kept connection the server closed while idle is reopened under the next fetch\'s signal: an abort then hangs it up, and the fetches beside it go on', async () => {
    openGate();
    await (await client.fetch('http://slow.example/first')).text();
    await waitUntil(() => fake.connections.length === 1, 'the first connection');
    // The server side (the web server, through the SOCKS pipe) closes the idle connection.
    web.closeIdleConnections();
    await fake.connections[0]!.whenClosed;
    gate = new Promise<void>((resolve) => (openGate = resolve));
    const ac = new AbortController();
    const aborted = outcome(client.fetch('http://slow.example/again', { signal: ac.signal }));
    await waitUntil(() => fake.connections.filter((c) => c.request !== undefined).length === 2, 'the reconnect');
    const beside = outcome(client.fetch('http://slow.example/beside', { timeoutMs: 60_000 }));
    const plain = outcome(client.fetch('http://slow.example/plain'));
    await waitUntil(() => fake.connections.filter((c) => c.request !== undefined).length === 4, 'the connects beside it');
    ac.abort();
    const gaveUp = await within(aborted, 2_000, 'the aborted fetch');
    assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
    await within(outcome(fake.connections[1]!.whenClosed), 2_000, 'the reconnect closing');
    openGate();
    for (const [path, fetching] of [['/beside', beside], ['/plain', plain]] as const) {
      const res = await within(fetching, 5_000, path);
      assert.ok(res.ok, `${path}: ${String(!res.ok && res.error)}`);
      assert.match(await res.value.text(), new RegExp(`^ok GET ${path} `));
    }
    await assertNoConnectionLeft();
  });

  it('closeKeptConnections() while fetches wait for a redirect: their next hops open new connections, and the fetches succeed', async () => {
    const inits = [{}, { timeoutMs: 60_000 }, { signal: new AbortController().signal }];
    const targets = ['http://other.example/landed', '/landed'];
    const fetches = inits.flatMap((init) => targets.map((to) => outcome(client.fetch(`http://web.example/hold?to=${encodeURIComponent(to)}`, init))));
    await waitUntil(() => held.length === fetches.length, 'every first hop at the web server');
    client.closeKeptConnections();
    for (const release of held.splice(0)) release();
    for (const [i, fetching] of fetches.entries()) {
      const r = await within(fetching, 5_000, `fetch #${i}`);
      assert.ok(r.ok, `#${i}: ${String(!r.ok && r.error)}`);
      assert.match(await r.value.text(), /^ok GET \/landed 0$/);
    }
    await assertNoConnectionLeft();
  });

  it('a fetch whose pool is closed for being the oldest of too many (isolation tokens) still follows its redirect', async () => {
    const waiting = outcome(client.fetch(`http://web.example/hold?to=${encodeURIComponent('/landed')}`, { isolate: 'first', timeoutMs: 60_000 }));
    await waitUntil(() => held.length === 1, 'the first hop at the web server');
    // 32 more tokens: the first one's pool is the oldest, and is closed.
    for (let i = 0; i < 32; i++) await (await client.fetch(`http://web.example/t${i}`, { isolate: `other${i}` })).text();
    held.splice(0)[0]!();
    const r = await within(waiting, 5_000, 'the first fetch');
    assert.ok(r.ok, String(!r.ok && r.error));
    assert.match(await r.value.text(), /^ok GET \/landed 0$/);
  });

  it('close() in the middle ends every fetch at once with TOR_SOCKS_CLOSED, whatever it was doing, and closes every connection', async () => {
    const fetches: Array<Promise<Settled<Response>>> = [];
    for (let i = 0; i < 20; i++) {
      const init = [{}, { timeoutMs: 60_000 }, { signal: new AbortController().signal }, { isolate: `t${i % 2}` }][i % 4]!;
      // Waiting for tor, for the answer, or for the answer of a redirect's second hop.
      const url = [`http://slow.example/${i}`, `http://web.example/hold?to=/x${i}`, `http://web.example/redirect?to=${encodeURIComponent(`http://slow.example/r${i}`)}`][i % 3]!;
      fetches.push(outcome(client.fetch(url, init)));
    }
    await waitUntil(() => held.length === 7 && fake.connections.filter((c) => c.request?.host === 'slow.example').length === 13, 'every fetch under way');
    client.close();
    for (const [i, fetching] of fetches.entries()) {
      const r = await within(fetching, 2_000, `fetch #${i}`);
      assert.ok(!r.ok && r.error instanceof TorSocksError && r.error.code === 'TOR_SOCKS_CLOSED', `#${i}: ${r.ok ? 'resolved' : String(r.error)}`);
    }
    await waitUntil(() => fake.connections.every((c) => c.closed), 'every SOCKS connection closed');
    assert.deepEqual(unhandled.map(String), []);
  });

  it('an https fetch aborted during the TLS handshake hangs up its stream; one beside it is unharmed', async () => {
    // A target that takes the connection and never answers the TLS hello.
    const silent = net.createServer(() => undefined);
    const silentPort = await listen(silent);
    await fake.close();
    fake = await startFakeSocksServer({ answer: (req) => ({ forwardTo: req.host === 'tls.example' ? silentPort : webPort }) });
    client.close();
    client = new TorSocksClient(null, { socksPort: fake.port });
    try {
      const ac = new AbortController();
      const aborted = outcome(client.fetch('https://tls.example/', { signal: ac.signal }));
      const beside = outcome(client.fetch('http://web.example/beside', { signal: new AbortController().signal }));
      await waitUntil(() => fake.connections.some((c) => c.request?.host === 'tls.example' && c.received.length > 0), 'the TLS stream');
      ac.abort();
      const gaveUp = await within(aborted, 2_000, 'the aborted https fetch');
      assert.ok(!gaveUp.ok && gaveUp.error instanceof TorAbortError, String(!gaveUp.ok && gaveUp.error));
      await within(outcome(fake.connections.find((c) => c.request?.host === 'tls.example')!.whenClosed), 2_000, 'the TLS stream closing');
      const ok = await within(beside, 2_000, 'the fetch beside it');
      assert.ok(ok.ok, String(!ok.ok && ok.error));
      assert.match(await ok.value.text(), /^ok GET \/beside /);
    } finally {
      silent.close();
    }
  });

  it('2,000 fetches with fresh AbortControllers leave nothing behind: their signals are collected, no listener stays on them', async function () {
    this.timeout(20_000);
    // The test runs without --expose-gc: this is the documented way to reach V8's gc anyway.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let collected = 0;
    const registry = new FinalizationRegistry(() => collected++);
    const kept: AbortSignal[] = [];
    let made = 0;
    for (let batch = 0; batch < 100; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const ac = new AbortController();
          registry.register(ac.signal, undefined);
          made++;
          // Every tenth one is kept by the test, to look at its listeners afterwards.
          if (i === 0) kept.push(ac.signal);
          const init = i % 2 === 0 ? { signal: ac.signal } : { signal: ac.signal, timeoutMs: 60_000 };
          const res = await client.fetch(`http://host${i % 4}.example/m${batch}-${i}`, init);
          await res.text();
        }),
      );
    }
    const collect = async () => {
      for (let i = 0; i < 10 && collected < made - fake.connections.length; i++) {
        gc();
        await sleep(10);
      }
    };
    await collect();
    // undici's fetch removes its own listener once its request is collected; nothing else stays.
    for (const signal of kept) assert.equal(getEventListeners(signal, 'abort').length, 0);
    kept.length = 0;
    await collect();
    // Each kept connection may still know the signal of the last request it was opened for: no more.
    assert.ok(collected >= made - fake.connections.length, `${made - collected} of ${made} signals are still alive, with ${fake.connections.length} connections`);
    assert.ok(fake.connections.length <= 80, `${fake.connections.length} connections for 2,000 fetches, 20 at a time`);
  });
});
