import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, typeCheckAsConsumer } from '../support/consumer-tsc.js';

// `control.events('BW')` yields only BW events (malformed ones are dropped, as for subscribe), so
// a TypeScript user should get BwEvent without a cast, as `subscribe('BW', ...)` gives it. Checked
// by compiling a consumer against the published declarations, as a user's project would.

const CONSUMER = `
import type { TorControl } from ${JSON.stringify(path.join(ROOT, 'dist/src/index.js'))};
declare const control: TorControl;

export async function bandwidth(): Promise<number> {
  let total = 0;
  for await (const bw of control.events('BW')) total += bw.read + bw.written;
  return total;
}

export async function circuitsAndStreams(): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of control.events(['CIRC', 'STREAM'])) ids.push(e.type === 'CIRC' ? e.circuitId : e.streamId);
  return ids;
}

// Names that are no known event (or in another case) still work, as the untyped union.
export async function anyName(names: string[]): Promise<string[]> {
  const types: string[] = [];
  for await (const e of control.events(names)) types.push(e.type);
  for await (const e of control.events('bw')) types.push(e.generic ? e.args.join(' ') : e.type);
  return types;
}
`;

describe('control.events() types', function () {
  this.timeout(60_000);

  it('yields the typed event of the names asked for (BwEvent for BW), and TorEvent for other strings', async () => {
    const result = await typeCheckAsConsumer([], { 'consumer.ts': CONSUMER }, { skipLibCheck: true });
    assert.equal(result.out.trim(), '', 'tsc reported problems in the consumer');
    assert.equal(result.code, 0);
  });
});
