/**
 * Two builds of torcon side by side on the state-replay workload: interleaved pairs of fresh
 * processes (fake control port + torcon worker from each build), the order within a pair
 * alternating, so that the machine's drift falls on both builds alike. On a shared machine a
 * change of a few percent only shows this way: two separate `state-replay.js` runs minutes apart
 * can differ by 15%.
 *
 * Usage (each DIR is a build's `dist` directory, e.g. from a `git worktree` of the other commit):
 *   node dist/bench/ab-replay.js --a DIR --b DIR [--pairs 12] [--corpus DIR] [--json]
 *
 * Prints, per figure, the median of each build, the median of the per-pair ratios B/A and how many
 * pairs B won.
 */

import path from 'node:path';
import { DEFAULT_CORPUS_DIR } from './corpus-generator.js';
import { ensureCorpus, loadCorpus } from './corpus-files.js';
import { machine, median, parseFlags } from './bench-util.js';
import { runReplayWorker, startFakeServer } from './replay-children.js';

/** The worker's report, as much of it as is compared here. */
interface WorkerReport {
  ready_s: number;
  replay_s: number;
  replay_cpu_s: number;
  replay_cpu_main_s: number | null;
  replay_page_faults: number;
  max_rss_mb: number;
  replay_tenths_ms?: number[];
  final?: { circuits_open: number; streams_open: number; routers: number };
}

const FIGURES = ['replay_s', 'replay_cpu_s', 'replay_cpu_main_s', 'ready_s', 'max_rss_mb', 'replay_page_faults'] as const;

/** One measured torcon replay with `dist`'s code, against a fresh fake port of the same build. */
async function runOnce(dist: string, corpusDir: string, events: number): Promise<WorkerReport> {
  const benchDir = path.join(dist, 'bench');
  const server = await startFakeServer(benchDir, corpusDir);
  try {
    return await runReplayWorker<WorkerReport>(benchDir, 'torcon', server.port, events);
  } finally {
    server.child.kill();
  }
}

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, ['a', 'b', 'pairs', 'corpus'], ['json']);
  const a = flags.get('a');
  const b = flags.get('b');
  if (a === undefined || b === undefined) throw new Error('usage: ab-replay --a DIST_DIR --b DIST_DIR [--pairs 12] [--corpus DIR] [--json]');
  const pairs = Number(flags.get('pairs') ?? 12);
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus(DEFAULT_CORPUS_DIR);
  const events = corpus.meta.events + 1; // + the end marker
  const runs: { a: WorkerReport; b: WorkerReport }[] = [];
  for (let i = 0; i < pairs; i++) {
    const first = i % 2 === 0 ? 'a' : 'b';
    const r1 = await runOnce(path.resolve(first === 'a' ? a : b), corpus.dir, events);
    const r2 = await runOnce(path.resolve(first === 'a' ? b : a), corpus.dir, events);
    const pair = first === 'a' ? { a: r1, b: r2 } : { a: r2, b: r1 };
    for (const r of [pair.a, pair.b]) {
      const f = r.final;
      const m = corpus.meta.final;
      if (!f || f.circuits_open !== m.circuits_open || f.streams_open !== m.streams_open || f.routers !== m.routers) {
        throw new Error(`final state ${JSON.stringify(f)} is not the corpus's ${JSON.stringify(m)}`);
      }
    }
    runs.push(pair);
    process.stderr.write(`pair ${i + 1}/${pairs}: A ${pair.a.replay_s.toFixed(3)} s, B ${pair.b.replay_s.toFixed(3)} s\n`);
  }
  const rows = FIGURES.map((k) => {
    const av = runs.map((r) => r.a[k] ?? NaN);
    const bv = runs.map((r) => r.b[k] ?? NaN);
    const ratios = runs.map((_, i) => bv[i]! / av[i]!);
    return { figure: k, a: median(av), b: median(bv), ratio: median(ratios), b_wins: ratios.filter((x) => x < 1).length };
  });
  const tenths = (side: 'a' | 'b') =>
    runs[0]![side].replay_tenths_ms?.map((_, k) => +median(runs.map((r) => r[side].replay_tenths_ms![k]!)).toFixed(1));
  if (flags.has('json')) {
    console.log(JSON.stringify({ bench: 'ab-replay', machine: machine(), a, b, pairs, rows, tenths: { a: tenths('a'), b: tenths('b') }, runs }, null, 1));
    return;
  }
  console.log(`ab-replay: A = ${a}, B = ${b}, ${pairs} interleaved pairs, node ${process.version}`);
  console.log('figure                 median A    median B   median B/A   B lower');
  for (const r of rows) {
    console.log(`${r.figure.padEnd(20)} ${r.a.toFixed(3).padStart(10)}  ${r.b.toFixed(3).padStart(10)}  ${r.ratio.toFixed(3).padStart(11)}   ${r.b_wins}/${pairs}`);
  }
  console.log(`A replay by tenths (ms, median): ${tenths('a')?.join(' ')}`);
  console.log(`B replay by tenths (ms, median): ${tenths('b')?.join(' ')}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`ab-replay: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
