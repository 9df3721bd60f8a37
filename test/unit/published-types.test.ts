import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The .d.ts files we publish are type-checked by every consumer that does not set skipLibCheck,
// under that consumer's options. Our own build does not use the strictest of them, so a declaration
// that only they reject (an optional property implemented by a `T | undefined` getter, under
// exactOptionalPropertyTypes) would reach users unseen: check the entry points as such a consumer.
const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../../..');
const ENTRY_POINTS = ['index.d.ts', 'register.d.ts', 'testnet.d.ts'].map((f) => path.join(ROOT, 'dist/src', f));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

describe('the published declaration files', function () {
  this.timeout(60_000);

  it('type-check in a consumer with strict, exactOptionalPropertyTypes and without skipLibCheck', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'torcon-types-'));
    try {
      const tsconfig = {
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          lib: ['es2022'],
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ENTRY_POINTS,
      };
      await fs.writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      const result = await new Promise<{ code: number; out: string }>((resolve) => {
        execFile(process.execPath, [TSC, '-p', dir], (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: stdout + stderr });
        });
      });
      assert.equal(result.out.trim(), '', 'tsc reported problems in the published types');
      assert.equal(result.code, 0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
