import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { TorAbortError } from '../../src/errors.js';
import { connectTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import type { Circuit, TorState } from '../../src/state/tor-state.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import { outcome, waitUntil, within, type Settled } from '../support/settle.js';

/**
 * tor.fetch's shared pools against real tor on the private test network: many fetches at once,
 * some aborted while tor opens their streams, over a chosen circuit or not; and fetches that wait
 * for a redirect while the kept connections are closed (as by tor.newIdentity()). tor's own count of
 * open streams (the live state) says whether a connection was left behind.
 */

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

describe('tor.fetch pools (integration, private test network)', function () {
  this.timeout(120_000);
  let tor: Tor;
  let state: TorState;
  let circuit: Circuit;
  let web: http.Server;
  let webPort: number;
  /** Requests for /hold that wait for the test. */
  const held: Array<() => void> = [];

  /** tor's streams to the web server that are still open. */
  const openStreams = () => [...state.streams.values()].filter((s) => s.target.port === webPort).length;

  before(async () => {
    tor = await connectTor({ control: (await sharedTestNetwork()).controlEndpoint });
    state = await tor.getState();
    const relays = [...state.routers.values()].map((r) => r.nickname).sort();
    assert.ok(relays.length >= 3, `the test network has ${relays.length} relays`);
    circuit = await state.buildCircuit(relays.slice(0, 3), { timeoutMs: 60_000 });
    web = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://web');
      if (url.pathname === '/hold') held.push(() => res.writeHead(302, { location: url.searchParams.get('to')! }).end());
      else res.end(`ok ${url.pathname}`);
    });
    web.keepAliveTimeout = 60_000;
    webPort = await listen(web);
  });
  after(async () => {
    for (const release of held.splice(0)) release();
    web?.closeAllConnections();
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
    if (circuit && !circuit.closed) await state.closeCircuit(circuit.id).catch(() => undefined);
    await tor?.close();
  });

  it('60 fetches at once, a third aborted at once or while tor opens their streams: the others succeed, and no stream stays open once the kept connections are closed', async () => {
    const jobs: Array<{ aborted: boolean; done: Promise<Settled<string>> }> = [];
    for (let i = 0; i < 60; i++) {
      const init: RequestInit & { circuit?: Circuit; isolate?: string; timeoutMs?: number } = {};
      if (i % 4 === 1) init.circuit = circuit;
      if (i % 5 === 2) init.isolate = `token${i % 3}`;
      if (i % 3 === 1) init.timeoutMs = 60_000;
      const job = { aborted: false, done: undefined as unknown as Promise<Settled<string>> };
      if (i % 3 === 0) {
        const ac = new AbortController();
        init.signal = ac.signal;
        // Some at once, some a little later (tor is opening the stream, or it is open already).
        if (i % 2 === 0) queueMicrotask(() => ac.abort());
        else setTimeout(() => ac.abort(), i % 7);
        job.aborted = true;
      }
      job.done = outcome(tor.fetch(`http://127.0.0.1:${webPort}/f${i}`, init).then((res) => res.text()));
      jobs.push(job);
    }
    for (const [i, job] of jobs.entries()) {
      const r = await within(job.done, 60_000, `fetch #${i}`);
      if (r.ok) assert.equal(r.value, `ok /f${i}`);
      else {
        assert.ok(job.aborted, `#${i} failed without an abort: ${String(r.error)}`);
        assert.ok(r.error instanceof TorAbortError, `#${i}: ${String(r.error)}`);
      }
    }
    assert.equal(jobs.filter((j) => !j.aborted).length, 40);
    tor.socks.closeKeptConnections();
    await waitUntil(() => openStreams() === 0, `tor's streams to the web server closed (${openStreams()} open)`, 30_000);
  });

  it('the kept connections closed (as tor.newIdentity() closes them) while fetches wait for an answer that redirects: the redirects open new streams, and the fetches succeed', async () => {
    const inits = [{}, { timeoutMs: 60_000 }, { signal: new AbortController().signal }, { circuit }];
    const fetches = inits.map((init, i) => outcome(tor.fetch(`http://127.0.0.1:${webPort}/hold?to=/landed${i}`, init).then((res) => res.text())));
    await waitUntil(() => held.length === inits.length, 'every first hop at the web server', 30_000);
    // What tor.newIdentity() does once tor has applied the NEWNYM (which tor may defer up to 10 s).
    tor.socks.closeKeptConnections();
    for (const release of held.splice(0)) release();
    for (const [i, fetching] of fetches.entries()) {
      const r = await within(fetching, 60_000, `fetch #${i}`);
      assert.ok(r.ok, `#${i}: ${String(!r.ok && r.error)}`);
      assert.equal(r.value, `ok /landed${i}`);
    }
  });
});
