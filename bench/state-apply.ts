/**
 * Issue-3 benchmark, one layer: the live state's own work, alone. The corpus's CIRC, STREAM and
 * ADDRMAP texts are applied to a snapshot with the text reducers TorState uses (`applyCircText`,
 * `applyStreamText`, `applyAddrMapText`), in-process: no socket, no reply parser, no TorControl.
 *
 * The first pass runs in a fresh process, before V8 has compiled any of it (cold), and is shown
 * by tenths; each later pass starts again on a new snapshot with the code compiled (warm). So it
 * splits the state replay (state-replay.ts, the whole path over TCP) into the state's share and
 * V8's warm-up of it. Every pass starts from the corpus's initial state (not timed) and must end
 * in its final counts of open circuits and streams.
 *
 * Usage: node dist/bench/state-apply.js [--passes 5] [--corpus DIR] [--json]
 *   (compare two builds by running each one's copy in turn: the figures move by 10% from one
 *    process to the next on a shared machine, so alternate and compare medians)
 */

import path from 'node:path';
import { DEFAULT_CORPUS_DIR } from './corpus-generator.js';
import { ensureCorpus, loadCorpus, type LoadedCorpus } from './corpus-files.js';
import { machine, median, parseFlags } from './bench-util.js';
import { applyAddrMapText, applyCircText, applyStreamText, loadInitialState, type ReplacedMapping } from '../src/state/reducers.js';
import { createSnapshot, type StateSnapshot } from '../src/state/snapshot.js';

interface PassReport {
  pass: number;
  ms: number;
  texts_per_s: number;
  /** Milliseconds for each tenth of the texts (first pass only). */
  tenths_ms?: number[];
  circuits_open: number;
  streams_open: number;
  /** Texts a reducer refused (TorProtocolError): none in a consistent corpus. */
  refused: number;
}

/** The corpus's CIRC, STREAM and ADDRMAP events, one string per line (as TorControl hands them), `650 ` cut. */
function stateTexts(events: Buffer): string[] {
  const texts: string[] = [];
  for (let start = 0; start < events.length; ) {
    let lf = events.indexOf(0x0a, start);
    if (lf === -1) lf = events.length;
    const end = lf > start && events[lf - 1] === 0x0d ? lf - 1 : lf;
    const c = events[start + 4];
    // C(IRC), S(TREAM), A(DDRMAP); the corpus's other events are BW and ORCONN.
    if (c === 0x43 || c === 0x53 || c === 0x41) texts.push(events.toString('latin1', start + 4, end));
    start = lf + 1;
  }
  return texts;
}

function initialSnapshot(corpus: LoadedCorpus): StateSnapshot {
  return loadInitialState(createSnapshot(), {
    'circuit-status': corpus.circuitStatus.toString('latin1'),
    'stream-status': corpus.streamStatus.toString('latin1'),
    'address-mappings/all': corpus.addressMappings.toString('latin1'),
    'entry-guards': corpus.entryGuards.toString('latin1'),
  });
}

/** Applies every text as TorState.dispatchText does, timing tenths when asked. */
function applyAll(s: StateSnapshot, texts: readonly string[], marks: number[] | null): number {
  const replaced: ReplacedMapping = { previous: undefined };
  const tenth = Math.ceil(texts.length / 10);
  let refused = 0;
  for (let i = 0; i < texts.length; i++) {
    if (marks !== null && i % tenth === 0) marks.push(performance.now());
    const text = texts[i]!;
    const c0 = text.charCodeAt(0);
    try {
      if (c0 === 67 /* C */) applyCircText(s, text, 5);
      else if (c0 === 83 /* S */) applyStreamText(s, text, 7);
      else applyAddrMapText(s, text, 8, replaced);
    } catch {
      refused++;
    }
  }
  return refused;
}

function main(argv: string[]): void {
  const flags = parseFlags(argv, ['passes', 'corpus'], ['json']);
  const passes = Math.max(2, Number(flags.get('passes') ?? 5));
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus(DEFAULT_CORPUS_DIR);
  const texts = stateTexts(corpus.events);
  const expected = corpus.meta.final;
  const reports: PassReport[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const s = initialSnapshot(corpus);
    const marks: number[] | null = pass === 0 ? [] : null;
    const t0 = performance.now();
    const refused = applyAll(s, texts, marks);
    const t1 = performance.now();
    const report: PassReport = {
      pass,
      ms: +(t1 - t0).toFixed(1),
      texts_per_s: Math.round(texts.length / ((t1 - t0) / 1000)),
      circuits_open: s.circuits.size,
      streams_open: s.streams.size,
      refused,
    };
    if (marks !== null) {
      marks.push(t1);
      report.tenths_ms = marks.slice(1).map((m, k) => +(m - marks[k]!).toFixed(1));
    }
    if (report.circuits_open !== expected.circuits_open || report.streams_open !== expected.streams_open) {
      throw new Error(
        `pass ${pass} ended with ${report.circuits_open} circuits and ${report.streams_open} streams open, not the corpus's ${expected.circuits_open} and ${expected.streams_open}`,
      );
    }
    reports.push(report);
  }
  const warm = reports.slice(1);
  const summary = {
    texts: texts.length,
    cold_ms: reports[0]!.ms,
    cold_tenths_ms: reports[0]!.tenths_ms,
    warm_ms_median: +median(warm.map((r) => r.ms)).toFixed(1),
    warm_texts_per_s: Math.round(median(warm.map((r) => r.texts_per_s))),
    final: { circuits_open: reports[0]!.circuits_open, streams_open: reports[0]!.streams_open },
    machine: machine(),
  };
  if (flags.has('json')) {
    console.log(JSON.stringify({ summary, passes: reports }, null, 1));
    return;
  }
  console.log(`state-apply: ${texts.length} CIRC/STREAM/ADDRMAP texts of ${corpus.dir}, node ${process.version}`);
  console.log(`cold (first pass, fresh process): ${summary.cold_ms} ms; by tenths: ${summary.cold_tenths_ms!.join(' ')}`);
  console.log(`warm (passes 2-${passes}): ${warm.map((r) => r.ms).join(' ')} ms; median ${summary.warm_ms_median} ms, ${summary.warm_texts_per_s} texts/s`);
  console.log(`final: ${summary.final.circuits_open} circuits and ${summary.final.streams_open} streams open in every pass (expected ${expected.circuits_open} and ${expected.streams_open})`);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`state-apply: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
