import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `control.events('BW')` yields only BW events (malformed ones are dropped, as for subscribe), so
// a TypeScript user should get BwEvent without a cast, as `subscribe('BW', ...)` gives it. Checked
// by compiling a consumer against the published declarations, as a user's project would.
const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

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
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'torcon-events-types-'));
    try {
      await fs.writeFile(path.join(dir, 'consumer.ts'), CONSUMER);
      const tsconfig = {
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          lib: ['es2022'],
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          strict: true,
          skipLibCheck: true,
          noEmit: true,
        },
        files: [path.join(dir, 'consumer.ts')],
      };
      await fs.writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      const out = await new Promise<string>((resolve) => {
        execFile(process.execPath, [TSC, '-p', dir], (_err, stdout, stderr) => resolve(stdout + stderr));
      });
      assert.equal(out.trim(), '', 'tsc reported problems in the consumer');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
