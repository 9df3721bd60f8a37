import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, typeCheckAsConsumer } from '../support/consumer-tsc.js';

// The emitters' listener methods take only their own events, typed: with Node's EventEmitter<E>
// typing a misspelt name compiled, its listener got `any`, and it never fired. Checked by
// compiling consumers against the published declarations.

const INDEX = JSON.stringify(path.join(ROOT, 'dist/src/index.js'));

const CONSUMER = `
import http from 'node:http';
import { connectTor, listen, TorError, type Circuit, type Stream } from ${INDEX};

export async function watch(): Promise<void> {
  const tor = await connectTor();
  const state = await tor.getState();
  state.on('circuitBuilt', (c: Circuit) => console.log(c.id));
  state.once('streamAttached', (s: Stream, c: Circuit | undefined) => console.log(s.id, c?.id));
  const onClosed = (c: Circuit) => console.log(c.id);
  state.on('circuitClosed', onClosed);
  state.off('circuitClosed', onClosed);
  tor.control.on('close', (err?: Error) => console.log(err?.message));
  const config = await tor.getConfig();
  config.on('changed', (lines) => console.log(lines.length));
  const service = await listen(http.createServer(), 'onion:80');
  // 'lost' gives a torcon error: its code needs no instanceof.
  service.on('lost', (err) => console.log(err.code, err instanceof TorError));
}
`;

const WRONG = `
import { connectTor } from ${INDEX};

export async function typos(): Promise<void> {
  const tor = await connectTor();
  const state = await tor.getState();
  state.on('circuitbuilt', () => undefined);
  tor.control.on('clsoe', () => undefined);
  (await tor.getConfig()).on('change', () => undefined);
  state.on('circuitBuilt', (c) => c.definitely.not.there);
}
`;

describe('event name types', function () {
  this.timeout(60_000);

  it("listener methods take the emitter's events, their arguments typed", async () => {
    const result = await typeCheckAsConsumer([], { 'consumer.ts': CONSUMER }, { skipLibCheck: true });
    assert.equal(result.out.trim(), '', 'tsc reported problems in the consumer');
    assert.equal(result.code, 0);
  });

  it("a misspelt event name does not compile, nor a field its listener's argument lacks", async () => {
    const result = await typeCheckAsConsumer([], { 'wrong.ts': WRONG }, { skipLibCheck: true });
    assert.notEqual(result.code, 0);
    for (const line of [7, 8, 9, 10]) assert.match(result.out, new RegExp(`wrong\\.ts\\(${line},`), `line ${line}:\n${result.out}`);
  });
});
