/**
 * Issue-3 benchmark: torcon's live state against a busy control port.
 *
 * The fake control port (fake-control-server.ts) runs as a child process, so it has its own event
 * loop, and so does each measured client (a fresh child per run, so peak RSS belongs to one run):
 *
 *   torcon  connectTor() -> tor.getState() (timed: "ready") -> subscribe BW and ORCONN raw (its counters), which
 *           completes the CIRC STREAM ADDRMAP BW ORCONN set and starts the replay -> wait for
 *           `650 BW 0 0 BENCH_END=1` (timed: events/s) -> compare the state's open circuits,
 *           open streams and routers with the corpus' expected final state.
 *   floor   a raw socket doing the same commands (the same GETINFO keys), whose reader only
 *           splits the stream into lines (one string per line) until the marker.
 *
 * Runs alternate floor/torcon; the figures are medians. For the torcon (and events) client the
 * replay is also shown by tenths, which separates the cold start (code not yet compiled by V8)
 * from the warm rate.
 *
 * Usage:
 *   node dist/bench/state-replay.js [--runs 5] [--corpus DIR] [--json] [--layers] [--warm] [--node-flags "..."]
 *       (`--layers` adds two clients: `events`, typed events without the state, so that the
 *        replay splits into reading lines (floor), parsing events, and the state; and `bare`,
 *        the least a live view could do per event (see BareState), a bound; `--warm` adds
 *        `warm`: torcon measured on its second replay in one process; `--node-flags` runs every
 *        measured client with those Node/V8 options, e.g. "--v8-pool-size=1")
 *   node dist/bench/state-replay.js --reference /tmp/refcorpus --port N
 *       (one torcon run against a fake already listening on N, e.g. shared/bench/fake_tor.py,
 *        checked against DIR/meta.json)
 *   node --expose-gc dist/bench/state-replay.js --in-process [--reps 3] [--corpus DIR]
 *       (no server and no socket: TorControl over a scripted stream that answers the state's
 *        commands, the events pushed in 64 KiB chunks, one per macrotask; `--reps` replays in the
 *        same process, the first one cold, the later ones with the code compiled and the heap grown)
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { DEFAULT_CORPUS_DIR } from './corpus-generator.js';
import { ensureCorpus, loadCorpus, type LoadedMeta } from './corpus-files.js';
import { machine, maybeGc, median, pageFaultCostUs, parseFlags } from './bench-util.js';
import { runReplayWorker, startFakeServer } from './replay-children.js';
import type { TorControl } from '../src/control/tor-control.js';
import type { TorState } from '../src/state/tor-state.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const END_TEXT = 'BW 0 0 BENCH_END=1';
/** What TorState.create asks for (src/state/reducers.ts INITIAL_INFO_KEYS); the floor asks the same. */
const FLOOR_INFO_KEYS = ['ns/all', 'circuit-status', 'stream-status', 'address-mappings/all', 'entry-guards'];
const REPLAY_TIMEOUT_MS = 300_000;

/** One client run, as a worker prints it. */
interface RunReport {
  variant: Variant;
  connect_s: number;
  ready_s: number;
  replay_s: number;
  events: number;
  events_per_s: number;
  max_rss_mb: number;
  heap_after_mb: number;
  baseline_rss_mb: number;
  /** CPU time (user + system) of the measuring process during "ready" and during the replay. */
  ready_cpu_s: number;
  replay_cpu_s: number;
  /** Events per CPU second of the replay: steadier than events/s on a loaded machine. */
  events_per_cpu_s: number;
  /** Garbage-collection pauses during the replay (PerformanceObserver 'gc' entries). */
  replay_gc_ms: number;
  replay_gc_count: number;
  /** Replay CPU of the main thread and of the other threads (background compilation, GC helpers); Linux only. */
  replay_cpu_main_s: number | null;
  replay_cpu_other_s: number | null;
  /**
   * Minor page faults (fresh memory pages touched) during ready and replay. Each one is kernel
   * time, about 16 µs on the project's VM: memory growth is CPU time here.
   */
  ready_page_faults: number;
  replay_page_faults: number;
  /** Of replay_page_faults, those of the main thread (the rest: the compiler and GC helper threads); Linux only. */
  replay_page_faults_main: number | null;
  /**
   * Seconds the first read of `state.routers` took after the replay. The state reads the consensus
   * text on first use of its routers, so that part of building the state is here, not in ready.
   */
  routers_first_read_s?: number;
  /**
   * Milliseconds each tenth of the replay took, the tenths found from the BW and ORCONN events the
   * client counts (the floor: from all event lines), which are spread through the corpus: the first
   * tenths run before V8 has compiled the hot code, the last ones show the warm rate.
   */
  replay_tenths_ms?: number[];
  final?: FinalState;
  /** The `bare` client's open ids after the replay (its counts should equal the corpus's). */
  bare_final?: { circuits_open: number; streams_open: number };
  lines?: number;
}

/** The state after the replay, as checkFinal compares it with the corpus. */
interface FinalState {
  circuits_open: number;
  streams_open: number;
  routers: number;
  circuits_by_state?: Record<string, number>;
  streams_by_status?: Record<string, number>;
  flag_counts?: Record<string, number>;
}

/** Counts and tallies of a live state (after the timed part: reading every router's flags takes a while). */
function finalState(state: TorState): FinalState {
  const tally = (into: Record<string, number>, key: string) => {
    into[key] = (into[key] ?? 0) + 1;
  };
  const circuits: Record<string, number> = {};
  for (const c of state.circuits.values()) tally(circuits, c.status);
  const streams: Record<string, number> = {};
  for (const st of state.streams.values()) tally(streams, st.status);
  const flags: Record<string, number> = {};
  for (const r of state.routers.values()) for (const f of r.flags) tally(flags, f);
  return {
    circuits_open: state.circuits.size,
    streams_open: state.streams.size,
    routers: state.routers.size,
    circuits_by_state: circuits,
    streams_by_status: streams,
    flag_counts: flags,
  };
}

/**
 * What a client run measures: `torcon` (the live state), `events` (with `--layers`: the same
 * connection and GETINFO, CIRC/STREAM/ADDRMAP parsed into typed events for listeners that do
 * nothing, no state: the parsers' share of the replay), `floor` (a raw socket splitting lines),
 * `warm` (with `--warm`: `torcon` in a process that has already replayed the corpus once, from a
 * second server, so V8 has compiled the hot code and grown its heap: the steady rate of a
 * long-running controller, where the fresh-process `torcon` row includes the JIT's warm-up).
 */
type Variant = 'torcon' | 'events' | 'bare' | 'floor' | 'warm';

/**
 * The `bare` client's "state" (with `--layers`): a bound, not a state. Per CIRC or STREAM event it
 * reads the id and status, keeps an entry per open id with its last text, and drops closed ids;
 * per ADDRMAP it keeps the text by address. No circuit/stream links, no fields read, no expiry, no
 * events for listeners, no recently-closed lists, no checks: the least work a live view could do
 * per event, on the same connection, parser and TorControl as torcon. What torcon does beyond it
 * is what its state costs.
 */
class BareState {
  readonly circuits = new Map<string, { status: string; text: string }>();
  readonly streams = new Map<string, { status: string; text: string }>();
  readonly addresses = new Map<string, string>();

  /** The open circuits and streams tor lists at the start (the consensus is not read). */
  load(info: Record<string, string | undefined>): void {
    for (const line of (info['circuit-status'] ?? '').split('\n')) if (line !== '') BareState.apply(this.circuits, line, 0);
    for (const line of (info['stream-status'] ?? '').split('\n')) if (line !== '') BareState.apply(this.streams, line, 0);
  }

  circ(text: string): void {
    BareState.apply(this.circuits, text, 5);
  }

  stream(text: string): void {
    BareState.apply(this.streams, text, 7);
  }

  addrmap(text: string): void {
    const end = text.indexOf(' ', 8);
    this.addresses.set(text.slice(8, end), text);
  }

  private static apply(into: Map<string, { status: string; text: string }>, text: string, start: number): void {
    const idEnd = text.indexOf(' ', start);
    const statusEnd = text.indexOf(' ', idEnd + 1);
    const id = text.slice(start, idEnd);
    const status = text.slice(idEnd + 1, statusEnd === -1 ? text.length : statusEnd);
    if (status === 'CLOSED' || status === 'FAILED') {
      into.delete(id);
      return;
    }
    const entry = into.get(id);
    if (entry === undefined) into.set(id, { status, text });
    else {
      entry.status = status;
      entry.text = text;
    }
  }
}

const mb = (bytes: number): number => +(bytes / 1048576).toFixed(1);

/** User + system CPU seconds of this process so far. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU seconds of the main thread (JavaScript, and GC pauses) and of all other threads (V8's
 * background compiler and GC helpers, libuv), in 10 ms ticks, and the main thread's minor page
 * faults, from /proc (Linux; null elsewhere).
 */
function threadCpuSeconds(): { main: number; other: number; mainFaults: number } | null {
  try {
    let main = 0;
    let other = 0;
    let mainFaults = 0;
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
      if (tid === String(process.pid)) {
        main += ticks;
        mainFaults = Number(fields[7]); // minflt
      } else other += ticks;
    }
    const hz = 100;
    return { main: main / hz, other: other / hz, mainFaults };
  } catch {
    return null;
  }
}

/**
 * Sums GC pauses while it is on. On a shared machine wall-clock time swings with other processes'
 * load; CPU time and GC time belong to the measured process alone.
 */
function gcMeter(): { start(): void; stop(): { ms: number; count: number } } {
  let ms = 0;
  let count = 0;
  let on = false;
  const obs = new PerformanceObserver((list) => {
    if (!on) return;
    for (const e of list.getEntries()) {
      ms += e.duration;
      count++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    start() {
      ms = 0;
      count = 0;
      on = true;
    },
    stop() {
      on = false;
      obs.disconnect();
      return { ms: +ms.toFixed(1), count };
    },
  };
}

// ------------------------------------------------------------------------------------- workers

async function torconWorker(port: number, expectedEvents: number, mode: 'state' | 'events' | 'bare' = 'state', warmPort?: number): Promise<RunReport> {
  const withState = mode === 'state';
  // imported here so that the floor worker does not load (or pay memory for) torcon
  const { connectTor } = await import('../src/tor/connect-tor.js');
  if (warmPort !== undefined) {
    // One whole unmeasured replay first, the same way as the measured one.
    const tor = await connectTor({ control: `tcp:127.0.0.1:${warmPort}`, timeoutMs: 30_000 });
    try {
      const state = await tor.getState({ timeoutMs: 60_000 });
      const { end } = await subscribeCounters(tor.control, () => undefined);
      await withTimeout(end, REPLAY_TIMEOUT_MS, 'no BENCH_END marker in the warm-up replay');
      if (state.routers.size === 0) throw new Error('the warm-up replay built no routers');
    } finally {
      await tor.close();
    }
  }
  maybeGc();
  const baseline = process.memoryUsage().rss;
  const t0 = performance.now();
  const tor = await connectTor({ control: `tcp:127.0.0.1:${port}`, timeoutMs: 30_000 });
  const t1 = performance.now();
  const c1 = cpuSeconds();
  const f1 = process.resourceUsage().minorPageFault;
  try {
    let state: TorState | undefined;
    let bare: BareState | undefined;
    if (withState) state = await tor.getState({ timeoutMs: 60_000 });
    else if (mode === 'bare') {
      bare = new BareState();
      const b = bare;
      await Promise.all([
        tor.control.subscribeRaw('CIRC', (t) => b.circ(t)),
        tor.control.subscribeRaw('STREAM', (t) => b.stream(t)),
        tor.control.subscribeRaw('ADDRMAP', (t) => b.addrmap(t)),
      ]);
      b.load(await tor.control.getInfo(FLOOR_INFO_KEYS, { timeoutMs: 60_000 }));
    } else {
      // Subscribed together, so that (like the state) it costs one SETEVENTS, not three.
      await Promise.all(['CIRC', 'STREAM', 'ADDRMAP'].map((name) => tor.control.subscribe(name, () => undefined)));
      await tor.control.getInfo(FLOOR_INFO_KEYS, { timeoutMs: 60_000 });
    }
    const t2 = performance.now();
    const c2 = cpuSeconds();
    const f2 = process.resourceUsage().minorPageFault;
    const gc = gcMeter();
    let events = 0;
    // performance.now() at every MARK_EVERY-th counted event, for replay_tenths_ms.
    const marks: number[] = [];
    const count = () => {
      if (++events % MARK_EVERY === 0) marks.push(performance.now());
    };
    // Counting only what we subscribe to ourselves; the state's own CIRC/STREAM/ADDRMAP listeners
    // see the rest. The marker is the last event, so when it arrives every event was applied.
    const { end } = await subscribeCounters(tor.control, count);
    const t3 = performance.now();
    const c3 = cpuSeconds();
    const th3 = threadCpuSeconds();
    const f3 = process.resourceUsage().minorPageFault;
    gc.start();
    const t4 = await withTimeout(end, REPLAY_TIMEOUT_MS, 'no BENCH_END marker');
    const c4 = cpuSeconds();
    const th4 = threadCpuSeconds();
    const f4 = process.resourceUsage().minorPageFault;
    const gcStats = gc.stop();
    const t5 = performance.now();
    // The first use of the routers reads the consensus text (timed here, not in ready).
    if (state !== undefined && state.routers.size === 0) throw new Error('the state built no routers');
    const t6 = performance.now();
    const final = state && finalState(state);
    maybeGc();
    const heapAfter = process.memoryUsage().heapUsed;
    return {
      variant: warmPort !== undefined ? 'warm' : withState ? 'torcon' : mode,
      connect_s: (t1 - t0) / 1000,
      ready_s: (t2 - t1) / 1000,
      replay_s: (t4 - t3) / 1000,
      events: expectedEvents,
      events_per_s: Math.round(expectedEvents / ((t4 - t3) / 1000)),
      max_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
      heap_after_mb: mb(heapAfter),
      baseline_rss_mb: mb(baseline),
      ready_cpu_s: +(c2 - c1).toFixed(4),
      replay_cpu_s: +(c4 - c3).toFixed(4),
      events_per_cpu_s: Math.round(expectedEvents / (c4 - c3)),
      replay_gc_ms: gcStats.ms,
      replay_gc_count: gcStats.count,
      replay_cpu_main_s: th3 && th4 ? +(th4.main - th3.main).toFixed(2) : null,
      replay_cpu_other_s: th3 && th4 ? +(th4.other - th3.other).toFixed(2) : null,
      replay_page_faults_main: th3 && th4 ? th4.mainFaults - th3.mainFaults : null,
      ready_page_faults: f2 - f1,
      replay_page_faults: f4 - f3,
      replay_tenths_ms: tenths(t3, marks, t4),
      ...(state && { routers_first_read_s: +((t6 - t5) / 1000).toFixed(4), final }),
      ...(bare && { bare_final: { circuits_open: bare.circuits.size, streams_open: bare.streams.size } }),
    };
  } finally {
    await tor.close();
  }
}

/**
 * Subscribes the bench's own counters, BW and ORCONN. They take the lines raw: the state never
 * listens to these events (the fake port only replays once they are subscribed), and an
 * application that wants only the state would not parse them either.
 * @returns `end`, the time the end marker (the corpus's last event) arrived
 */
async function subscribeCounters(control: TorControl, onCounted: () => void): Promise<{ end: Promise<number> }> {
  let ended!: (t: number) => void;
  const end = new Promise<number>((resolve) => (ended = resolve));
  await control.subscribeRaw('ORCONN', onCounted);
  await control.subscribeRaw('BW', (text) => {
    onCounted();
    if (text === END_TEXT) ended(performance.now());
  });
  return { end };
}

/**
 * A run's rate over the second half of its replay (tenths 6 to 10): the cold start is over by
 * then, so it is close to the rate of a controller that has been running for a while. The tenths
 * are cut at counted events (BW, ORCONN and the marker), so half the tenths is about half the events.
 */
function secondHalfRate(r: RunReport): number {
  const t = r.replay_tenths_ms;
  if (t === undefined || t.length !== 10) return NaN;
  const ms = t.slice(5).reduce((a, b) => a + b, 0);
  return r.events / 2 / (ms / 1000);
}

/** Counted events between two marks of replay_tenths_ms. */
const MARK_EVERY = 100;

/** The replay `[start, end]` cut into ten parts at the marks nearest each tenth of the count. */
function tenths(start: number, marks: number[], end: number): number[] {
  const out: number[] = [];
  let previous = start;
  for (let k = 1; k <= 10; k++) {
    const at = k === 10 || marks.length === 0 ? end : marks[Math.min(marks.length - 1, Math.round((k * marks.length) / 10) - 1)]!;
    const t = Math.max(at, previous);
    out.push(+(t - previous).toFixed(1));
    previous = t;
  }
  return out;
}

async function floorWorker(port: number, expectedEvents: number): Promise<RunReport> {
  maybeGc();
  const baseline = process.memoryUsage().rss;
  const t0 = performance.now();
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const t1 = performance.now();
  const c1 = cpuSeconds();
  const f1 = process.resourceUsage().minorPageFault;
  const gc = gcMeter();
  let lines = 0;
  let replies = 0;
  let inData = false;
  let carry: Buffer | null = null;
  let chars = 0;
  let phase: 'info' | 'events' = 'info';
  // performance.now() at every MARK_EVERY-th event line, for replay_tenths_ms.
  const marks: number[] = [];
  let eventLines = 0;
  let onReplies: (() => void) | null = null;
  let wantReplies = 0;
  let ended!: (t: number) => void;
  const end = new Promise<number>((resolve) => (ended = resolve));
  // The floor's reader: split on LF, one string per line; it tracks only as much framing as it
  // needs to know when a reply is complete (a top-level "250 " line) and when the marker came.
  socket.on('data', (chunk: Buffer) => {
    const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = null;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf(0x0a, start);
      if (lf === -1) break;
      const e = lf > start && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const line = buf.toString('utf8', start, e);
      start = lf + 1;
      lines++;
      chars += line.length;
      if (inData) {
        if (line === '.') inData = false;
        continue;
      }
      if (line.charCodeAt(3) === 0x2b /* + */) inData = true;
      else if (line.charCodeAt(3) === 0x20 /* space */ && line.charCodeAt(0) !== 0x36 /* 6 */) {
        replies++;
        if (replies === wantReplies && onReplies) onReplies();
      } else if (phase === 'events') {
        if (++eventLines % MARK_EVERY === 0) marks.push(performance.now());
        if (line.length === END_TEXT.length + 4 && line.endsWith(END_TEXT)) ended(performance.now());
      }
    }
    if (start < buf.length) carry = buf.subarray(start);
  });
  const until = (n: number): Promise<void> =>
    new Promise((resolve) => {
      wantReplies = n;
      onReplies = resolve;
      if (replies >= n) resolve();
    });
  socket.write('PROTOCOLINFO 1\r\nAUTHENTICATE\r\n');
  await until(2);
  socket.write(`GETINFO ${FLOOR_INFO_KEYS.join(' ')}\r\n`);
  await until(3);
  const t2 = performance.now();
  const c2 = cpuSeconds();
  const f2 = process.resourceUsage().minorPageFault;
  phase = 'events';
  socket.write('SETEVENTS CIRC STREAM ADDRMAP BW ORCONN\r\n');
  const t3 = performance.now();
  const c3 = cpuSeconds();
  const th3 = threadCpuSeconds();
  const f3 = process.resourceUsage().minorPageFault;
  gc.start();
  const t4 = await withTimeout(end, REPLAY_TIMEOUT_MS, 'no BENCH_END marker');
  const c4 = cpuSeconds();
  const th4 = threadCpuSeconds();
  const f4 = process.resourceUsage().minorPageFault;
  const gcStats = gc.stop();
  maybeGc();
  const heapAfter = process.memoryUsage().heapUsed;
  socket.end('QUIT\r\n');
  socket.destroy();
  if (chars < 0) throw new Error('unreachable'); // keeps `chars` (the decoded text) observable
  return {
    variant: 'floor',
    connect_s: (t1 - t0) / 1000,
    ready_s: (t2 - t1) / 1000,
    replay_s: (t4 - t3) / 1000,
    events: expectedEvents,
    events_per_s: Math.round(expectedEvents / ((t4 - t3) / 1000)),
    max_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    heap_after_mb: mb(heapAfter),
    baseline_rss_mb: mb(baseline),
    ready_cpu_s: +(c2 - c1).toFixed(4),
    replay_cpu_s: +(c4 - c3).toFixed(4),
    events_per_cpu_s: Math.round(expectedEvents / (c4 - c3)),
    replay_gc_ms: gcStats.ms,
    replay_gc_count: gcStats.count,
    replay_cpu_main_s: th3 && th4 ? +(th4.main - th3.main).toFixed(2) : null,
    replay_cpu_other_s: th3 && th4 ? +(th4.other - th3.other).toFixed(2) : null,
    replay_page_faults_main: th3 && th4 ? th4.mainFaults - th3.mainFaults : null,
    replay_tenths_ms: tenths(t3, marks, t4),
    ready_page_faults: f2 - f1,
    replay_page_faults: f4 - f3,
    lines,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------- in-process

const QUOTED_TIME_RE = /"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)"/g;

/** Moves quoted `"YYYY-MM-DD HH:MM:SS"` times by `shift` seconds, as the fake control port does. */
function shiftQuotedTimes(text: string, shift: number): string {
  return text.replace(QUOTED_TIME_RE, (_m, y: string, mo: string, d: string, h: string, mi: string, sec: string) => {
    const iso = new Date(Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec) + shift * 1000).toISOString();
    return `"${iso.slice(0, 10)} ${iso.slice(11, 19)}"`;
  });
}

/** One GETINFO entry: `250-key=value`, or `250+key=` with a dot-stuffed data block. */
function infoEntry(key: string, value: string): string {
  const v = value.replace(/\n+$/, '');
  if (!v.includes('\n')) return `250-${key}=${v}\r\n`;
  return `250+${key}=\r\n${v.split('\n').map((l) => (l.startsWith('.') ? '.' + l : l) + '\r\n').join('')}.\r\n`;
}

/**
 * The state's pipeline without sockets or a server process: a fresh TorControl over a scripted
 * duplex stream per replay, `TorState.create`, the bench's own BW/ORCONN subscriptions, then the
 * corpus in 64 KiB chunks cut at line ends. Prints one JSON line per replay.
 */
async function inProcess(flags: Map<string, string>): Promise<void> {
  const { Duplex } = await import('node:stream');
  const { TorControl } = await import('../src/control/tor-control.js');
  const { TorState, INITIAL_INFO_KEYS } = await import('../src/state/index.js');
  const reps = Number(flags.get('reps') ?? 3);
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus(DEFAULT_CORPUS_DIR);
  const shift = Math.floor(Date.now() / 1000 - (corpus.meta.base_ts + corpus.meta.warmup_s));
  const events = Buffer.from(shiftQuotedTimes(corpus.events.toString('latin1'), shift) + `650 ${END_TEXT}\r\n`, 'latin1');
  const chunks: Buffer[] = [];
  for (let i = 0; i < events.length; ) {
    let j = Math.min(i + 65536, events.length);
    if (j < events.length) j = events.lastIndexOf(0x0a, j - 1) + 1;
    chunks.push(events.subarray(i, j));
    i = j;
  }
  const info: Record<string, string> = {
    'ns/all': corpus.nsAll.toString('latin1'),
    'circuit-status': corpus.circuitStatus.toString('latin1'),
    'stream-status': corpus.streamStatus.toString('latin1'),
    'address-mappings/all': shiftQuotedTimes(corpus.addressMappings.toString('latin1'), shift),
    'entry-guards': corpus.entryGuards.toString('latin1'),
  };
  const initialReply = Buffer.from(INITIAL_INFO_KEYS.map((k) => infoEntry(k, info[k] ?? '')).join('') + '250 OK\r\n', 'latin1');
  const expected = corpus.meta.events + 1;
  for (let rep = 0; rep < reps; rep++) {
    let replayAsked = false;
    const peer = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('latin1').split('\r\n')) {
          if (line === '') continue;
          const words = line.split(' ');
          if (words[0] === 'SETEVENTS' && ['CIRC', 'STREAM', 'ADDRMAP', 'BW', 'ORCONN'].every((e) => words.includes(e))) replayAsked = true;
          const answer = words[0] === 'GETINFO' ? initialReply : Buffer.from('250 OK\r\n');
          setImmediate(() => this.push(answer));
        }
        callback();
      },
    });
    maybeGc();
    const control = new TorControl(peer);
    const f0 = process.resourceUsage().minorPageFault;
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const state = await TorState.create(control);
    const t1 = performance.now();
    const c1 = cpuSeconds();
    const { end } = await subscribeCounters(control, () => undefined);
    if (!replayAsked) throw new Error('the state did not subscribe to the replayed events');
    const f2 = process.resourceUsage().minorPageFault;
    const c2 = cpuSeconds();
    const t2 = performance.now();
    for (const chunk of chunks) {
      peer.push(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await end;
    const t3 = performance.now();
    const c3 = cpuSeconds();
    const f3 = process.resourceUsage().minorPageFault;
    const final = { circuits_open: state.circuits.size, streams_open: state.streams.size, routers: state.routers.size };
    console.log(
      JSON.stringify({
        rep,
        ready_s: +((t1 - t0) / 1000).toFixed(4),
        ready_cpu_s: +(c1 - c0).toFixed(4),
        replay_s: +((t3 - t2) / 1000).toFixed(4),
        replay_cpu_s: +(c3 - c2).toFixed(4),
        events_per_s: Math.round(expected / ((t3 - t2) / 1000)),
        events_per_cpu_s: Math.round(expected / (c3 - c2)),
        ready_page_faults: f2 - f0,
        replay_page_faults: f3 - f2,
        final,
      }),
    );
    await state.close();
    peer.destroy();
  }
}

// -------------------------------------------------------------------------------- orchestrator

/**
 * The three counts the corpus names as its final state, and where the run has them (the worker
 * processes do) and the corpus gives them (both generators do), the tallies behind them: which
 * circuits and streams are left in which status, and every router's flags, which reads every
 * entry of the consensus text. (The corpora's address-map count leaves out the initial mappings
 * and counts every announced answer, where the state keeps what tor keeps: the initial mappings,
 * and the answers tor caches, failed or not. It is not compared.)
 */
function checkFinal(meta: LoadedMeta, r: RunReport): { ok: boolean; expected: object; checked: string[] } {
  const expected = { circuits_open: meta.final.circuits_open, streams_open: meta.final.streams_open, routers: meta.final.routers };
  const f = r.final;
  const checked = ['open circuits', 'open streams', 'routers'];
  let ok = !!f && f.circuits_open === expected.circuits_open && f.streams_open === expected.streams_open && f.routers === expected.routers;
  const tallies: Array<[string, Record<string, number> | undefined, unknown]> = [
    ['circuits by status', f?.circuits_by_state, meta.final['circuits_by_state']],
    ['streams by status', f?.streams_by_status, meta.final['streams_by_status']],
    ['flags of every router', f?.flag_counts, meta['flag_counts']],
  ];
  for (const [what, got, want] of tallies) {
    if (got === undefined || want === undefined) continue;
    checked.push(what);
    if (!sameTally(got, want as Record<string, number>)) ok = false;
  }
  return { ok, expected, checked };
}

function sameTally(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

async function orchestrate(flags: Map<string, string>): Promise<void> {
  const runs = Number(flags.get('runs') ?? 5);
  const corpus = flags.has('corpus') ? loadCorpus(path.resolve(flags.get('corpus')!)) : ensureCorpus(DEFAULT_CORPUS_DIR);
  const meta = corpus.meta;
  const events = meta.events + 1; // + the end marker
  // The same runtime options for every measured client (none by default: what `node` gives).
  const nodeFlags = (flags.get('node-flags') ?? '').split(/\s+/).filter((f) => f.length > 0);
  const reports: Array<RunReport & { server?: Record<string, number> | null }> = [];
  for (let i = 0; i < runs; i++) {
    const order: Variant[] = i % 2 ? ['torcon', 'floor'] : ['floor', 'torcon'];
    if (flags.has('layers')) order.splice(1, 0, 'events', 'bare');
    if (flags.has('warm')) order.push('warm');
    for (const variant of order) {
      const server = await startFakeServer(HERE, corpus.dir);
      const warmServer = variant === 'warm' ? await startFakeServer(HERE, corpus.dir) : undefined;
      try {
        const r = await runReplayWorker<RunReport>(HERE, variant, server.port, events, { warmPort: warmServer?.port, nodeFlags });
        const replayed = await withTimeout(server.replayed, 10_000, 'no replay report from the server').catch(() => null);
        reports.push({ ...r, server: replayed });
        process.stderr.write(
          `run ${i + 1}/${runs} ${variant.padEnd(6)} ready ${r.ready_s.toFixed(3)} s, replay ${r.replay_s.toFixed(3)} s ` +
            `(${Math.round(r.events_per_s)} ev/s), cpu ready ${r.ready_cpu_s.toFixed(3)} s replay ${r.replay_cpu_s.toFixed(3)} s ` +
            `(${r.events_per_cpu_s} ev/cpu-s, GC ${r.replay_gc_ms} ms` +
            (r.replay_cpu_main_s !== null ? `, main thread ${r.replay_cpu_main_s} s + other threads ${r.replay_cpu_other_s} s` : '') +
            `), page faults ${r.ready_page_faults} + ${r.replay_page_faults}${r.replay_page_faults_main !== null ? ` (main thread ${r.replay_page_faults_main})` : ''}, max RSS ${r.max_rss_mb} MB` +
            (r.final ? `, final ${JSON.stringify(r.final)} ${checkFinal(meta, r).ok ? 'OK' : 'MISMATCH'}` : '') +
            '\n',
        );
      } finally {
        server.child.kill();
        warmServer?.child.kill();
      }
    }
  }
  const summarize = (variant: Variant) => {
    const rs = reports.filter((r) => r.variant === variant);
    return {
      runs: rs.length,
      connect_s: +median(rs.map((r) => r.connect_s)).toFixed(4),
      ready_s: +median(rs.map((r) => r.ready_s)).toFixed(3),
      replay_s: +median(rs.map((r) => r.replay_s)).toFixed(3),
      events_per_s: Math.round(median(rs.map((r) => r.events_per_s))),
      max_rss_mb: median(rs.map((r) => r.max_rss_mb)),
      heap_after_mb: median(rs.map((r) => r.heap_after_mb)),
      baseline_rss_mb: median(rs.map((r) => r.baseline_rss_mb)),
      ready_cpu_s: +median(rs.map((r) => r.ready_cpu_s)).toFixed(3),
      replay_cpu_s: +median(rs.map((r) => r.replay_cpu_s)).toFixed(3),
      events_per_cpu_s: Math.round(median(rs.map((r) => r.events_per_cpu_s))),
      replay_gc_ms: +median(rs.map((r) => r.replay_gc_ms)).toFixed(1),
      replay_tenths_ms: rs[0]?.replay_tenths_ms
        ? rs[0].replay_tenths_ms.map((_, k) => +median(rs.map((r) => r.replay_tenths_ms![k]!)).toFixed(1))
        : undefined,
      second_half_events_per_s: rs[0]?.replay_tenths_ms ? Math.round(median(rs.map((r) => secondHalfRate(r)))) : undefined,
      replay_page_faults: median(rs.map((r) => r.replay_page_faults)),
      replay_page_faults_main: rs.every((r) => r.replay_page_faults_main !== null) ? median(rs.map((r) => r.replay_page_faults_main!)) : undefined,
    };
  };
  const torcon = summarize('torcon');
  const floor = summarize('floor');
  const events_only = flags.has('layers') ? summarize('events') : undefined;
  const bare = flags.has('layers') ? summarize('bare') : undefined;
  const warm = flags.has('warm') ? summarize('warm') : undefined;
  const finals = reports.filter((r) => r.variant === 'torcon' || r.variant === 'warm').map((r) => ({ final: r.final, ...checkFinal(meta, r) }));
  const report = {
    bench: 'state-replay',
    machine: machine(),
    page_fault_us: pageFaultCostUs(),
    node_flags: nodeFlags,
    corpus: { dir: corpus.dir, sha256_events: meta.sha256_events ?? null, events: meta.events, routers: meta.routers },
    expected_final: finals[0]?.expected,
    all_final_states_match: finals.every((f) => f.ok),
    torcon,
    ...(events_only && { events_only }),
    ...(bare && { bare }),
    ...(warm && { warm }),
    floor,
    ratio: {
      ready: +(torcon.ready_s / floor.ready_s).toFixed(2),
      replay: +(torcon.replay_s / floor.replay_s).toFixed(2),
      ready_cpu: +(torcon.ready_cpu_s / floor.ready_cpu_s).toFixed(2),
      replay_cpu: +(torcon.replay_cpu_s / floor.replay_cpu_s).toFixed(2),
    },
    runs: reports,
  };
  if (flags.has('json')) {
    console.log(JSON.stringify(report, null, 1));
  } else {
    console.log(
      `state-replay: ${meta.events} events, ${meta.routers} routers, ${runs} runs each, node ${process.version}` +
        (nodeFlags.length > 0 ? `, clients run with ${nodeFlags.join(' ')}` : ''),
    );
    console.log('(wall: elapsed time; cpu: user+system CPU of the measuring process, steadier on a loaded machine)');
    console.log(`page faults cost ${report.page_fault_us} µs each on this machine (the clients' counts are in each run's line above)`);
    console.log('variant   ready s  ready cpu s   replay s  replay cpu s   events/s  events/cpu-s  replay GC ms  max RSS MB  heap after MB');
    const rows: Array<[string, ReturnType<typeof summarize>]> = [['torcon', torcon]];
    if (events_only) rows.push(['events', events_only]);
    if (bare) rows.push(['bare', bare]);
    if (warm) rows.push(['warm', warm]);
    rows.push(['floor', floor]);
    for (const [name, s] of rows) {
      console.log(
        `${name.padEnd(8)} ${s.ready_s.toFixed(3).padStart(7)}  ${s.ready_cpu_s.toFixed(3).padStart(11)}   ${s.replay_s.toFixed(3).padStart(8)}  ${s.replay_cpu_s.toFixed(3).padStart(12)}   ${String(s.events_per_s).padStart(8)}  ${String(s.events_per_cpu_s).padStart(12)}  ${String(s.replay_gc_ms).padStart(12)}  ${String(s.max_rss_mb).padStart(10)}  ${String(s.heap_after_mb).padStart(13)}`,
      );
    }
    for (const [name, s] of rows) {
      if (s.replay_tenths_ms) console.log(`${name} replay by tenths (ms, median): ${s.replay_tenths_ms.join(' ')}`);
    }
    for (const [name, s] of rows) {
      if (s.replay_page_faults_main !== undefined) {
        console.log(`${name} page faults in the replay (median): ${s.replay_page_faults}, of them the main thread's ${s.replay_page_faults_main}`);
      }
    }
    for (const [name, s] of rows) {
      if (s.second_half_events_per_s !== undefined) {
        console.log(`${name} second half of the replay: ${s.second_half_events_per_s} events/s (median; V8 has compiled the hot code by then)`);
      }
    }
    console.log(
      `torcon/floor: ready x${report.ratio.ready} (cpu x${report.ratio.ready_cpu}), replay x${report.ratio.replay} (cpu x${report.ratio.replay_cpu})`,
    );
    const counts = finals.map((f) => f.final && { circuits_open: f.final.circuits_open, streams_open: f.final.streams_open, routers: f.final.routers });
    console.log(`final state: ${JSON.stringify(counts)} expected ${JSON.stringify(report.expected_final)} -> ${report.all_final_states_match ? 'MATCH' : 'MISMATCH'}`);
    console.log(`  compared in every torcon run: ${finals[0]?.checked.join(', ')}`);
    const bareRuns = reports.filter((r) => r.variant === 'bare');
    if (bareRuns.length > 0) {
      const ok = bareRuns.every((r) => r.bare_final?.circuits_open === meta.final.circuits_open && r.bare_final?.streams_open === meta.final.streams_open);
      console.log(`  bare (a bound, not a state): open circuits and streams ${ok ? 'equal' : 'DIFFER FROM'} the expected counts in all ${bareRuns.length} runs`);
    }
    const firstRead = median(reports.filter((r) => r.variant === 'torcon').map((r) => r.routers_first_read_s ?? 0));
    console.log(
      `  torcon's consensus is read at the first use of its routers, after ready: that first read took ${firstRead.toFixed(3)} s (median), so ready + first read = ${(torcon.ready_s + firstRead).toFixed(3)} s`,
    );
  }
  if (!report.all_final_states_match) process.exitCode = 2;
}

async function reference(flags: Map<string, string>): Promise<void> {
  const dir = path.resolve(flags.get('reference')!);
  const port = Number(flags.get('port'));
  if (!Number.isInteger(port) || port <= 0) throw new Error('--reference needs --port N (the fake control port to connect to)');
  const meta = loadCorpus(dir).meta;
  const r = await runReplayWorker<RunReport>(HERE, 'torcon', port, meta.events + 1);
  const check = checkFinal(meta, r);
  const report = { bench: 'state-replay (reference)', machine: machine(), corpus: dir, port, ...r, expected_final: check.expected, compared: check.checked, match: check.ok };
  console.log(JSON.stringify(report, null, 1));
  if (!check.ok) process.exitCode = 2;
}

async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, ['runs', 'corpus', 'reference', 'port', 'worker', 'events', 'reps', 'warm-port', 'node-flags'], ['json', 'in-process', 'layers', 'warm']);
  if (flags.has('in-process')) return inProcess(flags);
  const worker = flags.get('worker');
  if (worker !== undefined) {
    const port = Number(flags.get('port'));
    const events = Number(flags.get('events'));
    const r =
      worker === 'torcon' ? await torconWorker(port, events)
      : worker === 'events' ? await torconWorker(port, events, 'events')
      : worker === 'bare' ? await torconWorker(port, events, 'bare')
      : worker === 'warm' ? await torconWorker(port, events, 'state', Number(flags.get('warm-port')))
      : await floorWorker(port, events);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (flags.has('reference')) return reference(flags);
  return orchestrate(flags);
}

main(process.argv.slice(2)).then(
  () => {
    // workers exit at once: a leftover timer or socket must not hold the measured process open
    if (process.argv.includes('--worker') || process.argv.includes('--in-process')) process.exit(0);
  },
  (err: unknown) => {
    console.error(`state-replay: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
