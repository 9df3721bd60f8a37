/**
 * What importing torcon costs in memory: the resident set of a fresh Node process after it has
 * imported each set of modules and collected its garbage, side by side in one run.
 *
 *   node          nothing imported (Node's own start)
 *   torcon        torcon's public entry (dist/src/index.js), as a program that uses it starts
 *   torcon+http   the same, and then node:http, node:https and node:tls as torcon imported them
 *                 before they were loaded on first use (util/node-builtins.ts)
 *
 * Each variant runs in its own process, `--runs` times, interleaved; medians are printed. The node
 * that runs this script runs every variant: start it with another node binary to measure another
 * version (`/path/to/node24/bin/node dist/bench/import-memory.js`).
 *
 * Usage: node dist/bench/import-memory.js [--runs 7] [--json]
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, median, parseFlags } from './bench-util.js';

const INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));

/** Module bodies run by `node --input-type=module`; each prints the RSS in MiB after a full GC. */
const VARIANTS: Record<string, string> = {
  node: '',
  torcon: `await import(${JSON.stringify(INDEX)});`,
  'torcon+http': `await import(${JSON.stringify(INDEX)}); await import('node:http'); await import('node:https'); await import('node:tls');`,
};

function rssMiB(body: string): number {
  const script = `${body}\nglobalThis.gc(); console.log(process.memoryUsage().rss / 1048576);`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out.trim().split('\n').pop());
}

const flags = parseFlags(process.argv.slice(2), ['runs'], ['json']);
const runs = Number(flags.get('runs') ?? 7);
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, body] of Object.entries(VARIANTS)) samples[name]!.push(rssMiB(body));
}
const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, +median(v).toFixed(1)]));
if (flags.has('json')) {
  console.log(JSON.stringify({ bench: 'import-memory', machine: machine(), runs, rss_mib: medians, samples }, null, 1));
} else {
  console.log(`import-memory: RSS after import and GC, median of ${runs} fresh processes, node ${process.version}`);
  for (const [name, mib] of Object.entries(medians)) {
    const over = name === 'node' ? '' : `  (+${(mib - medians['node']!).toFixed(1)} over plain node)`;
    console.log(`  ${name.padEnd(12)} ${mib.toFixed(1).padStart(6)} MiB${over}`);
  }
  console.log(`  loading http, https and tls on first use saves ${(medians['torcon+http']! - medians['torcon']!).toFixed(1)} MiB at import`);
}
