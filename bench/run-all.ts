/**
 * Runs torcon's benchmarks one after the other, each in its own node process (so that one does not
 * warm up or bloat the other): the corpus is generated first if bench/corpus is missing.
 *
 * Usage: node dist/bench/run-all.js [--json]
 */

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCorpus } from './corpus-files.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const json = process.argv.includes('--json');
const extra = json ? ['--json'] : [];

ensureCorpus();
const steps: Array<[string, string[]]> = [
  ['control-parser', ['--expose-gc', path.join(HERE, 'control-parser.js'), ...extra]],
  ['state-replay', [path.join(HERE, 'state-replay.js'), ...extra]],
  ['state-apply', [path.join(HERE, 'state-apply.js'), ...extra]],
];
let failed = false;
for (const [name, args] of steps) {
  process.stderr.write(`== ${name}\n`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`${name} failed (exit ${r.status ?? r.signal})\n`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
