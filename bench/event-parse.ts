/**
 * Micro-benchmark of the event parsers: ~200k synthetic events of each hot kind (CIRC, STREAM,
 * ADDRMAP, BW, ORCONN) and a mixed stream, parsed through `parseEvent` from ready-made replies (the
 * framer's output), in 5 timed rounds after a warm-up. Prints median events/s and ns/event, by wall
 * time and by process CPU time; asserts nothing. Figures depend heavily on the machine and its load.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/event-parse.js [eventsPerKind]
 */

import type { ControlReply } from '../src/control/reply.js';
import { parseEvent } from '../src/control/events/parse-event.js';

const perKind = Number(process.argv[2] ?? 200_000);

// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
let seed = 0x7e57;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const hex = (n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789ABCDEF'[Math.floor(rand() * 16)];
  return s;
};

const relays = Array.from({ length: 200 }, (_, i) => `$${hex(40)}~relay${i}`);
const hosts = ['example.com', 'www.example.org', 'cdn.example.net', '192.0.2.7', 'api.example.test'];

function circLine(): string {
  const id = 1 + Math.floor(rand() * 5000);
  const hops = 1 + Math.floor(rand() * 3);
  const path = Array.from({ length: hops }, () => pick(relays)).join(',');
  const status = hops < 3 ? 'EXTENDED' : pick(['BUILT', 'BUILT', 'CLOSED']);
  let line = `CIRC ${id} ${status} ${path} BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-11-25T15:00:00.123456`;
  if (status === 'CLOSED') line += ' REASON=FINISHED';
  if (rand() < 0.3) line += ` SOCKS_USERNAME="site${id}.example" SOCKS_PASSWORD="${hex(32)}"`;
  return line;
}

function streamLine(): string {
  const id = 1 + Math.floor(rand() * 50000);
  const host = pick(hosts);
  switch (pick(['NEW', 'SENTCONNECT', 'SUCCEEDED', 'CLOSED', 'REMAP'])) {
    case 'NEW':
      return (
        `STREAM ${id} NEW 0 ${host}:443 SOURCE_ADDR=127.0.0.1:${40000 + (id % 20000)} PURPOSE=USER ` +
        `SOCKS_USERNAME="${host}" SOCKS_PASSWORD="${hex(32)}" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 ` +
        'SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH'
      );
    case 'REMAP':
      return `STREAM ${id} REMAP ${id % 300} 203.0.113.9:443 SOURCE=EXIT`;
    case 'CLOSED':
      return `STREAM ${id} CLOSED ${id % 300} ${host}:443 REASON=DONE`;
    default:
      return `STREAM ${id} ${pick(['SENTCONNECT', 'SUCCEEDED'])} ${id % 300} ${host}:443`;
  }
}

function addrMapLine(): string {
  const host = pick(hosts);
  return (
    `ADDRMAP ${host} 203.0.113.${Math.floor(rand() * 250)} "2026-11-25 16:00:00" ` +
    `EXPIRES="2026-11-25 15:00:00" CACHED="${pick(['YES', 'NO'])}" STREAMID=${Math.floor(rand() * 50000)}`
  );
}

function bwLine(): string {
  return `BW ${Math.floor(rand() * 1e6)} ${Math.floor(rand() * 1e5)}`;
}

function orConnLine(): string {
  const r = pick(relays);
  return pick([
    `ORCONN ${r} LAUNCHED ID=${Math.floor(rand() * 9999)}`,
    `ORCONN ${r} CONNECTED ID=${Math.floor(rand() * 9999)}`,
    `ORCONN ${r} CLOSED REASON=DONE NCIRCS=0 ID=${Math.floor(rand() * 9999)}`,
  ]);
}

const reply = (text: string): ControlReply => ({ status: 650, lines: [{ status: 650, separator: ' ', text }] });

/**
 * Event texts as the reply parser hands them over: each line decoded on its own from the received
 * bytes (a flat string), not a template-literal concatenation (a cons string V8 would flatten on
 * first use, inside the timed loop).
 */
function asWireTexts(texts: string[]): string[] {
  return texts.map((t) => Buffer.from(t, 'latin1').toString('utf8'));
}

const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function run(name: string, replies: readonly ControlReply[]): void {
  let sink = 0;
  let generic = 0;
  // Warm-up so that the optimizing compiler has seen the code before timing.
  for (const r of replies) sink += parseEvent(r).raw.length;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (const r of replies) {
      const e = parseEvent(r);
      if (e.generic) generic++;
      sink += e.raw.length;
    }
    wall.push(Number(process.hrtime.bigint() - start) / replies.length);
    const used = process.cpuUsage(cpu0);
    cpu.push(((used.user + used.system) * 1000) / replies.length);
  }
  const w = median(wall);
  const c = median(cpu);
  // CPU time (all threads, GC included) is printed beside wall time because on a shared machine
  // wall time also counts the time other processes held the CPU.
  console.log(
    `${name.padEnd(8)} ${String(replies.length).padStart(8)} events  ` +
      `wall ${(1e3 / w).toFixed(2).padStart(5)} M events/s (${w.toFixed(0).padStart(4)} ns/event)  ` +
      `cpu ${(1e3 / c).toFixed(2).padStart(5)} M events/s (${c.toFixed(0).padStart(4)} ns/event)  medians of ${ROUNDS}` +
      (generic ? `  (${generic} generic!)` : '') +
      (sink < 0 ? '' : ''),
  );
}

const kinds: Array<[string, () => string]> = [
  ['CIRC', circLine],
  ['STREAM', streamLine],
  ['ADDRMAP', addrMapLine],
  ['BW', bwLine],
  ['ORCONN', orConnLine],
];
for (const [name, make] of kinds) {
  run(name, asWireTexts(Array.from({ length: perKind }, make)).map(reply));
}
// A mixed stream in the proportions of gen_corpus.py's busy client (STREAM-heavy). The events are
// generated in processing order, so memory is read in sequence as a live stream's would be.
const weights: Array<[number, () => string]> = [
  [0.54, streamLine],
  [0.21, circLine],
  [0.12, bwLine],
  [0.08, addrMapLine],
  [0.05, orConnLine],
];
const mixedTexts = Array.from({ length: perKind * 2 }, () => {
  let r = rand();
  for (const [w, make] of weights) {
    if (r < w) return make();
    r -= w;
  }
  return bwLine();
});
run('mixed', asWireTexts(mixedTexts).map(reply));
