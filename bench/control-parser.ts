/**
 * Issue-2 benchmark: how fast torcon turns control-port bytes into replies and events.
 *
 * The recorded stream is what a controller reads while bootstrapping its state on a busy tor: the
 * `GETINFO ns/all` reply (8,000 router entries in one `250+ns/all=` data block, then `250 OK`)
 * followed by the corpus' 200,000 `650` events. It is fed in 64 KiB chunks (cut at fixed offsets,
 * so lines straddle chunks as they do on a socket) to:
 *
 *   floor         split on LF, toString() each line, count: the least any line parser must do
 *   parser        ReplyParser with a sink that only counts
 *   parser+event  ReplyParser, and parseEvent() on every event
 *
 * Rounds interleave the variants (rotating their order) after one warm-up round; the figures are
 * medians. The run checks what it measured: one reply whose data block holds every ns line, and
 * exactly the corpus' event count, none of them left generic by parseEvent.
 *
 * Usage: node --expose-gc dist/bench/control-parser.js [--rounds 9] [--chunk 65536] [--corpus DIR]
 *        [--only floor|parser|parser+event] [--json]
 */

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReplyParser } from '../src/control/reply-parser.js';
import type { ControlReply } from '../src/control/reply.js';
import { parseEvent } from '../src/control/events/parse-event.js';
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

function runParser(chunks: readonly Buffer[], withEvents: boolean): RunResult {
  let replies = 0;
  let events = 0;
  let generic = 0;
  let firstGeneric = '';
  const got: ControlReply[] = [];
  const t0 = performance.now();
  const parser = new ReplyParser({
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
  });
  for (const chunk of chunks) parser.push(chunk);
  const seconds = (performance.now() - t0) / 1000;
  if (parser.midReply) throw new Error('parser still mid-reply at the end of the stream');
  let dataLines = 0;
  for (const reply of got) for (const l of reply.lines) if (l.data !== undefined) dataLines += l.data.split('\n').length;
  const check = `replies=${replies} dataLines=${dataLines} generic=${generic}${firstGeneric ? ` first: ${firstGeneric}` : ''}`;
  return { seconds, lines: 0, events, check };
}

type Variant = 'floor' | 'parser' | 'parser+event';
const VARIANTS: readonly Variant[] = ['floor', 'parser', 'parser+event'];

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, ['rounds', 'chunk', 'corpus', 'only'], ['json']);
  const rounds = Number(flags.get('rounds') ?? 9);
  const chunkSize = Number(flags.get('chunk') ?? 65536);
  const only = flags.get('only') as Variant | undefined;
  if (only && !VARIANTS.includes(only)) throw new Error(`--only wants one of ${VARIANTS.join(', ')}`);
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus();
  const { stream, nsLines, events } = recordedStream(corpus);
  let totalLines = 0;
  for (let i = stream.indexOf(LF); i !== -1; i = stream.indexOf(LF, i + 1)) totalLines++;
  const chunks = chunked(stream, chunkSize);
  const variants = only ? [only] : VARIANTS;
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const run = (v: Variant): RunResult => (v === 'floor' ? runFloor(chunks) : runParser(chunks, v === 'parser+event'));

  // warm-up round, also the correctness check
  for (const v of variants) {
    const r = run(v);
    if (v === 'floor' && r.lines !== totalLines) throw new Error(`floor saw ${r.lines} lines, expected ${totalLines}`);
    if (v !== 'floor') {
      const want = `replies=1 dataLines=${nsLines} generic=0`;
      if (r.events !== events || r.check !== want) throw new Error(`${v}: events=${r.events} ${r.check}; expected events=${events} ${want}`);
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length]!;
      maybeGc();
      times.get(v)!.push(run(v).seconds);
    }
  }

  const mb = stream.length / 1e6;
  const floorMedian = times.has('floor') ? median(times.get('floor')!) : NaN;
  const results = variants.map((v) => {
    const t = median(times.get(v)!);
    return {
      variant: v,
      median_s: +t.toFixed(4),
      min_s: +Math.min(...times.get(v)!).toFixed(4),
      max_s: +Math.max(...times.get(v)!).toFixed(4),
      lines_per_s: Math.round(totalLines / t),
      events_per_s: Math.round(events / t),
      mb_per_s: +(mb / t).toFixed(1),
      vs_floor: +(t / floorMedian).toFixed(2),
    };
  });
  const report = {
    bench: 'control-parser',
    machine: machine(),
    corpus: { dir: corpus.dir, sha256_events: corpus.meta.sha256_events ?? null, ns_lines: nsLines, events },
    stream: { bytes: stream.length, lines: totalLines, chunk: chunkSize, chunks: chunks.length },
    rounds,
    gc_between_runs: typeof (globalThis as { gc?: unknown }).gc === 'function',
    results,
  };
  if (flags.has('json')) {
    console.log(JSON.stringify(report, null, 1));
    return;
  }
  console.log(`control-parser: ${(stream.length / 1e6).toFixed(1)} MB, ${si(totalLines)} lines (${nsLines} ns/all lines + ${events} events), ${chunks.length} chunks of ${chunkSize} B, ${rounds} rounds, node ${process.version}`);
  console.log('variant        median s   lines/s     events/s    MB/s     x floor');
  for (const r of results) {
    console.log(
      `${r.variant.padEnd(14)} ${r.median_s.toFixed(3).padStart(8)}   ${si(r.lines_per_s).padStart(8)}   ${si(r.events_per_s).padStart(8)}   ${r.mb_per_s.toFixed(1).padStart(6)}   ${Number.isNaN(r.vs_floor) ? '-' : r.vs_floor.toFixed(2)}`,
    );
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`control-parser: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
