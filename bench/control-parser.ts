/**
 * Issue-2 benchmark: how fast torcon turns control-port bytes into replies and events.
 *
 * The recorded stream is what a controller reads while bootstrapping its state on a busy tor: the
 * `GETINFO ns/all` reply (8,000 router entries in one `250+ns/all=` data block, then `250 OK`)
 * followed by the corpus' 200,000 `650` events. It is fed in 64 KiB chunks (cut at fixed offsets,
 * so lines straddle chunks as they do on a socket) to:
 *
 *   floor         split on LF, toString() each line, count: the least any line parser must do
 *   parser        ReplyParser with a sink that only counts (one-line events arrive as text through
 *                 the sink's onEventLine, as TorControl receives them)
 *   parser+event  ReplyParser, and parseEventLine() / parseEvent() on every event
 *
 * Rounds interleave the variants (rotating their order) after one warm-up round; the figures are
 * medians. The run checks what it measured: one reply whose data block holds every ns line, and
 * exactly the corpus' event count, none of them left generic by parseEvent.
 *
 * The whole stream is measured, then its two parts apart (the ns/all reply alone, the events alone),
 * because they stress different paths of the parser (data block vs one-line replies).
 *
 * Usage: node --expose-gc dist/bench/control-parser.js [--rounds 9] [--chunk 65536] [--corpus DIR]
 *        [--only floor|parser|parser+event] [--whole-only] [--json]
 *        [--candidate PATH/reply-parser.js]   (adds that ReplyParser build as a variant, to try a change)
 */

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReplyParser } from '../src/control/reply-parser.js';
import type { ControlReply } from '../src/control/reply.js';
import { parseEvent, parseEventLine } from '../src/control/events/parse-event.js';
import { ensureCorpus, loadCorpus, type LoadedCorpus } from './corpus-files.js';
import { machine, maybeGc, median, parseFlags, si } from './bench-util.js';

const LF = 0x0a;
const CR = 0x0d;

/** The bytes a controller reads: the ns/all reply, then the events. */
export function recordedStream(corpus: LoadedCorpus): { stream: Buffer; nsLines: number; events: number } {
  const ns = corpus.nsAll.toString('latin1').replace(/\n+$/, '').split('\n');
  const body = ns.map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n').join('');
  const head = Buffer.from(`250+ns/all=\r\n${body}.\r\n250 OK\r\n`, 'latin1');
  let events = 0;
  for (let i = corpus.events.indexOf(LF); i !== -1; i = corpus.events.indexOf(LF, i + 1)) events++;
  return { stream: Buffer.concat([head, corpus.events]), nsLines: ns.length, events };
}

function chunked(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  // copies, not views: a socket hands over fresh buffers, and views would keep one big allocation hot
  for (let i = 0; i < stream.length; i += size) out.push(Buffer.from(stream.subarray(i, i + size)));
  return out;
}

interface RunResult {
  seconds: number;
  lines: number;
  events: number;
  check: string;
}

/** The floor: LF split with carry-over between chunks, one string per line. */
function runFloor(chunks: readonly Buffer[]): RunResult {
  const t0 = performance.now();
  let carry: Buffer | null = null;
  let lines = 0;
  let chars = 0;
  for (const chunk of chunks) {
    const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = null;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf(LF, start);
      if (lf === -1) break;
      const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      chars += buf.toString('utf8', start, end).length;
      lines++;
      start = lf + 1;
    }
    if (start < buf.length) carry = buf.subarray(start);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, lines, events: 0, check: `chars=${chars}` };
}

type ParserClass = typeof ReplyParser;

function runParser(chunks: readonly Buffer[], withEvents: boolean, Parser: ParserClass = ReplyParser): RunResult {
  let replies = 0;
  let events = 0;
  let generic = 0;
  let firstGeneric = '';
  const got: ControlReply[] = [];
  const t0 = performance.now();
  const parser = new Parser({
    onReply(reply: ControlReply) {
      replies++;
      got.push(reply);
    },
    onEvent: withEvents
      ? (e: ControlReply) => {
          events++;
          const ev = parseEvent(e);
          if (ev.generic) {
            generic++;
            if (!firstGeneric) firstGeneric = `${ev.raw.slice(0, 120)} (${ev.parseError ?? 'unknown event'})`;
          }
        }
      : () => {
          events++;
        },
    onEventLine: withEvents
      ? (text: string) => {
          events++;
          const ev = parseEventLine(text);
          if (ev.generic) {
            generic++;
            if (!firstGeneric) firstGeneric = `${ev.raw.slice(0, 120)} (${ev.parseError ?? 'unknown event'})`;
          }
        }
      : () => {
          events++;
        },
  });
  for (const chunk of chunks) parser.push(chunk);
  const seconds = (performance.now() - t0) / 1000;
  if (parser.midReply) throw new Error('parser still mid-reply at the end of the stream');
  let dataLines = 0;
  for (const reply of got) for (const l of reply.lines) if (l.data !== undefined) dataLines += l.data.split('\n').length;
  const check = `replies=${replies} dataLines=${dataLines} generic=${generic}${firstGeneric ? ` first: ${firstGeneric}` : ''}`;
  return { seconds, lines: 0, events, check };
}

type Variant = 'floor' | 'parser' | 'parser+event' | 'candidate';
const VARIANTS: readonly Variant[] = ['floor', 'parser', 'parser+event'];
/** A ReplyParser build to compare with the project's (`--candidate PATH`), e.g. a proposed change. */
let candidate: ParserClass | null = null;

interface PartResult {
  part: string;
  bytes: number;
  lines: number;
  events: number;
  results: Array<{
    variant: Variant;
    median_s: number;
    min_s: number;
    max_s: number;
    lines_per_s: number;
    events_per_s: number;
    mb_per_s: number;
    vs_floor: number;
  }>;
}

/**
 * Times `variants` on one byte stream: a checked warm-up, then `rounds` interleaved rounds.
 * @param expect what the parser variants must report (replies, ns data lines, events)
 */
function measure(
  part: string,
  stream: Buffer,
  chunkSize: number,
  variants: readonly Variant[],
  rounds: number,
  expect: { replies: number; dataLines: number; events: number },
): PartResult {
  let lines = 0;
  for (let i = stream.indexOf(LF); i !== -1; i = stream.indexOf(LF, i + 1)) lines++;
  const chunks = chunked(stream, chunkSize);
  const run = (v: Variant): RunResult =>
    v === 'floor' ? runFloor(chunks) : v === 'candidate' ? runParser(chunks, false, candidate!) : runParser(chunks, v === 'parser+event');
  for (const v of variants) {
    const r = run(v);
    if (v === 'floor' && r.lines !== lines) throw new Error(`${part}: floor saw ${r.lines} lines, expected ${lines}`);
    if (v !== 'floor') {
      const want = `replies=${expect.replies} dataLines=${expect.dataLines} generic=0`;
      if (r.events !== expect.events || r.check !== want) {
        throw new Error(`${part} ${v}: events=${r.events} ${r.check}; expected events=${expect.events} ${want}`);
      }
    }
  }
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length]!;
      maybeGc();
      times.get(v)!.push(run(v).seconds);
    }
  }
  const floorMedian = times.has('floor') ? median(times.get('floor')!) : NaN;
  return {
    part,
    bytes: stream.length,
    lines,
    events: expect.events,
    results: variants.map((v) => {
      const t = median(times.get(v)!);
      return {
        variant: v,
        median_s: +t.toFixed(4),
        min_s: +Math.min(...times.get(v)!).toFixed(4),
        max_s: +Math.max(...times.get(v)!).toFixed(4),
        lines_per_s: Math.round(lines / t),
        events_per_s: Math.round(expect.events / t),
        mb_per_s: +(stream.length / 1e6 / t).toFixed(1),
        vs_floor: +(t / floorMedian).toFixed(2),
      };
    }),
  };
}

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, ['rounds', 'chunk', 'corpus', 'only', 'candidate'], ['json', 'whole-only']);
  const rounds = Number(flags.get('rounds') ?? 9);
  const chunkSize = Number(flags.get('chunk') ?? 65536);
  const only = flags.get('only') as Variant | undefined;
  if (only && !VARIANTS.includes(only)) throw new Error(`--only wants one of ${VARIANTS.join(', ')}`);
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus();
  const { stream, nsLines, events } = recordedStream(corpus);
  let variants: Variant[] = only ? [only] : [...VARIANTS];
  if (flags.has('candidate')) {
    const mod = (await import(pathToFileURL(path.resolve(flags.get('candidate')!)).href)) as { ReplyParser?: ParserClass };
    if (typeof mod.ReplyParser !== 'function') throw new Error('--candidate module exports no ReplyParser');
    candidate = mod.ReplyParser;
    variants = variants.filter((v) => v !== 'parser+event').concat('candidate');
  }
  const parts: PartResult[] = [measure('whole stream', stream, chunkSize, variants, rounds, { replies: 1, dataLines: nsLines, events })];
  if (!flags.has('whole-only')) {
    // the two halves apart: the ns/all data block and the event stream stress different paths
    const cut = corpus.events.length;
    const nsPart = stream.subarray(0, stream.length - cut);
    const evPart = stream.subarray(stream.length - cut);
    parts.push(measure('ns/all reply', nsPart, chunkSize, variants.filter((v) => v !== 'parser+event'), rounds, { replies: 1, dataLines: nsLines, events: 0 }));
    parts.push(measure('events', evPart, chunkSize, variants, rounds, { replies: 0, dataLines: 0, events }));
  }
  const report = {
    bench: 'control-parser',
    machine: machine(),
    corpus: { dir: corpus.dir, sha256_events: corpus.meta.sha256_events ?? null, ns_lines: nsLines, events },
    chunk: chunkSize,
    rounds,
    gc_between_runs: typeof (globalThis as { gc?: unknown }).gc === 'function',
    parts,
  };
  if (flags.has('json')) {
    console.log(JSON.stringify(report, null, 1));
    return;
  }
  console.log(`control-parser: ${nsLines} ns/all lines + ${events} events, ${chunkSize} B chunks, ${rounds} rounds, node ${process.version}`);
  for (const p of parts) {
    console.log(`\n${p.part}: ${(p.bytes / 1e6).toFixed(1)} MB, ${si(p.lines)} lines`);
    console.log('variant        median s   lines/s     events/s    MB/s     x floor');
    for (const r of p.results) {
      console.log(
        `${r.variant.padEnd(14)} ${r.median_s.toFixed(4).padStart(8)}   ${si(r.lines_per_s).padStart(8)}   ${p.events ? si(r.events_per_s).padStart(8) : '       -'}   ${r.mb_per_s.toFixed(1).padStart(6)}   ${Number.isNaN(r.vs_floor) ? '-' : r.vs_floor.toFixed(2)}`,
      );
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`control-parser: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
