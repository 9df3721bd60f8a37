import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, typeCheckAsConsumer } from '../support/consumer-tsc.js';

// listen(server, 'onion:80') resolves with a TorOnionService: its hostname, keys and 'lost' event
// should be there for a TypeScript user without a cast or an instanceof. Other strings keep the
// plain ListeningEndpoint. Checked by compiling a consumer against the published declarations.

const INDEX = JSON.stringify(path.join(ROOT, 'dist/src/index.js'));

const CONSUMER = `
import http from 'node:http';
import { listen, connectTor, type ListeningEndpoint, type TorOnionService } from ${INDEX};

export async function onion(): Promise<string> {
  const service = await listen(http.createServer(), 'onion:80');
  service.on('lost', (err: Error) => console.error(err.message));
  service.on('republishFailed', (err, nextTryMs) => console.error(err.message, nextTryMs === undefined ? 'given up' : nextTryMs.toFixed(0)));
  const typed: TorOnionService = service;
  return typed.hostname + (service.privateKey ?? '');
}

export async function onionInAnyCase(): Promise<string> {
  const service = await listen(http.createServer(), 'ONION:80');
  const other = await listen(http.createServer(), 'Onion:81');
  return service.hostname + other.hostname;
}

export async function onionOnAHandle(): Promise<string> {
  const tor = await connectTor();
  const service = await listen(http.createServer(), 'onion:80:awaitUpload=false', { tor });
  return service.hostname;
}

export async function others(description: string): Promise<string> {
  const a: ListeningEndpoint = await listen(http.createServer(), 'tcp:8080');
  const b: ListeningEndpoint = await listen(http.createServer(), description);
  return a.address + b.address;
}

// A plugin's endpoint is DESIGN.md's ListeningEndpoint, address and close only; what listen()
// resolves with is disposable as well (await using).
export const plain: ListeningEndpoint = { address: 'x:1', close: async () => undefined };
export async function scoped(): Promise<string> {
  await using endpoint = await listen(http.createServer(), 'tcp:8080');
  const kept: ListeningEndpoint = endpoint;
  return kept.address;
}
`;

/** Each must fail to compile: what a plain ListeningEndpoint does not have. */
const WRONG = `
import http from 'node:http';
import { listen } from ${INDEX};

export async function tcpHasNoHostname(): Promise<string> {
  const endpoint = await listen(http.createServer(), 'tcp:8080');
  return endpoint.hostname;
}
`;

describe('listen() types', function () {
  this.timeout(60_000);

  it("types listen(server, 'onion:...') as a TorOnionService ('lost', hostname), with or without a Tor handle", async () => {
    const result = await typeCheckAsConsumer([], { 'consumer.ts': CONSUMER }, { skipLibCheck: true });
    assert.equal(result.out.trim(), '', 'tsc reported problems in the consumer');
    assert.equal(result.code, 0);
  });

  it('keeps ListeningEndpoint for other strings (no hostname on a tcp: endpoint)', async () => {
    const result = await typeCheckAsConsumer([], { 'wrong.ts': WRONG }, { skipLibCheck: true });
    assert.notEqual(result.code, 0);
    assert.match(result.out, /Property 'hostname' does not exist on type 'DisposableEndpoint'/);
  });
});
