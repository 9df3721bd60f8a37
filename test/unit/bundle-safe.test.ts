import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../support/consumer-tsc.js';

/**
 * An application bundled for Node (`esbuild app.js --bundle --platform=node`, whose default output
 * is CommonJS) gets torcon's modules rewritten into one CommonJS file, where `import.meta` is an
 * empty object: a module of the library that reads `import.meta.url` when it loads (for
 * `createRequire`, say) made every such bundle throw at start. The library (what `torcon`,
 * `torcon/register` and `torcon/testnet` load) must do without it; the CLI, never bundled, may not.
 */

const ENTRY_POINTS = ['index.js', 'register.js', 'testnet.js'].map((f) => path.join(ROOT, 'dist/src', f));
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g;

/** Every module of dist/src the entry points load, statically or by import(). */
async function libraryModules(): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const queue = [...ENTRY_POINTS];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    const text = await readFile(file, 'utf8');
    seen.set(file, text);
    for (const m of text.matchAll(RELATIVE_IMPORT)) queue.push(path.resolve(path.dirname(file), m[1]!));
  }
  return seen;
}

describe('torcon in an application bundled to CommonJS', () => {
  it('no module of the library reads import.meta (empty in a CommonJS bundle)', async () => {
    const modules = await libraryModules();
    assert.ok(modules.size > 100, `only ${modules.size} modules found from the entry points`);
    const readers = [...modules].filter(([, text]) => /\bimport\.meta\b/.test(text.replace(/^\s*(?:\/\/|\*).*$/gm, ''))).map(([file]) => path.relative(ROOT, file));
    assert.deepEqual(readers, []);
  });
});
