/**
 * Deterministic synthetic Tor control-port workload for torcon's benchmarks.
 *
 * It writes the same file set as the reference workload in shared/bench (so either corpus can be
 * served by either fake control port), in the formats of control-spec 3.9 / 4.1 and dir-spec 3.4.1:
 *
 *   ns_all.txt            GETINFO ns/all body: N router status entries (r, a, s, v, w, p lines)
 *   circuit_status.txt    GETINFO circuit-status body (state when the event stream starts)
 *   stream_status.txt     GETINFO stream-status body
 *   orconn_status.txt     GETINFO orconn-status body
 *   address_mappings.txt  GETINFO address-mappings/all body
 *   entry_guards.txt      GETINFO entry-guards body
 *   events.txt            M asynchronous `650` events as wire bytes (CRLF)
 *   countries.json        a country code per relay address (for GETINFO ip-to-country/*)
 *   meta.json             parameters, counts, sha256 and the expected final state
 *
 * The events come from a small discrete-event simulation of a busy client (isolated page loads,
 * preemptive circuits, onion-service visits, directory tunnels, DNS resolves, connection churn,
 * failures, stream detach and retry, one BW event per simulated second). The simulation runs a
 * silent warm-up first; its state at the end of the warm-up becomes the initial GETINFO bodies, so
 * every event refers to things that exist. The expected final state is then computed by replaying
 * the emitted lines over those bodies with a checker that rejects any inconsistency (a stream sent
 * on a circuit that is not BUILT, a circuit closed while a stream still uses it, a reused id, ...).
 *
 * Usage: node dist/bench/corpus-generator.js [-o DIR] [-N routers] [-M events] [--seed S]
 */

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng, WeightedPicker } from './prng.js';

/** Options of {@link generateCorpus}. */
export interface CorpusOptions {
  /** @default 20240601 */
  seed?: number;
  /** Router status entries in ns/all. @default 8000 */
  routers?: number;
  /** `650` events in events.txt. @default 200000 */
  events?: number;
  /** Silent simulated seconds before the event stream starts. @default 900 */
  warmupSeconds?: number;
  /** UTC time of simulated second 0, "YYYY-MM-DD HH:MM:SS". @default "2024-06-01 00:00:00" */
  baseTime?: string;
}

const DEFAULTS = {
  seed: 20240601,
  routers: 8000,
  events: 200_000,
  warmupSeconds: 900,
  baseTime: '2024-06-01 00:00:00',
} as const;

/** The expected controller state after the last event. */
export interface FinalState {
  circuits_open: number;
  circuits_by_state: Record<string, number>;
  streams_open: number;
  streams_by_status: Record<string, number>;
  orconns_open: number;
  addrmap_hosts: number;
  routers: number;
}

/** meta.json (key names shared with the reference workload's meta.json where they overlap). */
export interface CorpusMeta {
  generator: string;
  seed: number;
  routers: number;
  events: number;
  warmup_s: number;
  base_time: string;
  base_ts: number;
  simulated_seconds: number;
  event_counts: Record<string, number>;
  bytes: Record<string, number>;
  sha256_events: string;
  sha256_corpus: string;
  flag_counts: Record<string, number>;
  initial: { circuits: number; streams: number; orconns: number; addrmap: number };
  final: FinalState;
  end_marker: string;
}

/** A generated corpus in memory: file name to bytes, plus its meta. */
export interface Corpus {
  files: Map<string, Buffer>;
  meta: CorpusMeta;
}

/** File names in the order they are hashed. */
export const CORPUS_FILES = [
  'ns_all.txt',
  'circuit_status.txt',
  'stream_status.txt',
  'orconn_status.txt',
  'address_mappings.txt',
  'entry_guards.txt',
  'events.txt',
  'countries.json',
] as const;

/** The line fake control ports send after the last corpus event. */
export const END_MARKER = '650 BW 0 0 BENCH_END=1';

/**
 * meta.json's `generator`: names this file and the corpus form it writes, so that a default corpus
 * written by an older form is made again (see ensureCorpus). Form 2: ns/all without `v` lines.
 */
export const GENERATOR = 'torcon bench/corpus-generator.ts, form 2';

// ---------------------------------------------------------------------------------------------
// time formatting

function isoTime(ts: number): string {
  // "YYYY-MM-DD HH:MM:SS" (UTC), the ISOTime of dir-spec and control-spec
  const s = new Date(Math.floor(ts) * 1000).toISOString();
  return s.slice(0, 10) + ' ' + s.slice(11, 19);
}

function isoTimeFrac(ts: number): string {
  // "YYYY-MM-DDTHH:MM:SS.ffffff", control-spec ISOTime2Frac (TIME_CREATED)
  const us = Math.round(ts * 1e6);
  const sec = Math.floor(us / 1e6);
  const s = new Date(sec * 1000).toISOString().slice(0, 19);
  return s + '.' + String(us - sec * 1e6).padStart(6, '0');
}

function parseBaseTime(text: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
  if (!m) throw new Error(`bad base time ${JSON.stringify(text)}: want "YYYY-MM-DD HH:MM:SS"`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
}

// ---------------------------------------------------------------------------------------------
// routers

interface Router {
  fp: string;
  longName: string;
  nick: string;
  idB64: string;
  digestB64: string;
  published: string;
  ip: string;
  orPort: number;
  dirPort: number;
  ipv6: string | null;
  flags: Set<string>;
  bw: number;
  unmeasured: boolean;
  policy: string;
  version: string;
}

const NICK_HEADS = [
  'quokka', 'ledger', 'harbor', 'ember', 'saffron', 'granite', 'willow', 'comet', 'lantern', 'thistle',
  'marble', 'aurora', 'pepper', 'juniper', 'basalt', 'cobalt', 'fjord', 'meadow', 'nimbus', 'osprey',
  'pylon', 'quill', 'rook', 'sable', 'tundra', 'umber', 'vesper', 'wren', 'yarrow', 'zephyr',
  'kestrel', 'heron', 'larch', 'cedar', 'onyx', 'opal', 'garnet', 'argon', 'helium', 'xenon',
  'relay', 'tor', 'onion', 'exit', 'privacy', 'hidden', 'freedom', 'anon', 'mix', 'bridge',
];
const NICK_TAILS = [
  '', '', '', 'relay', 'node', 'exit', 'box', 'srv', 'hub', 'net', 'vps', 'lab', 'home', 'pi', 'one',
  'de', 'nl', 'fr', 'se', 'ch', 'us', 'ca', 'fi', 'at', 'Relay', 'Node', 'Tor', 'IO', 'X',
];
const OPERATORS = [
  'zwiebelfreunde', 'digitalcourage', 'privacyfirst', 'relayworks', 'nothingtohide', 'onionhost',
  'torservers', 'freespeech', 'anonymizer', 'calyx', 'mullvad', 'emerald', 'quintex', 'applied',
];
const VERSIONS = new WeightedPicker(
  ['Tor 0.4.8.12', 'Tor 0.4.8.13', 'Tor 0.4.8.14', 'Tor 0.4.8.10', 'Tor 0.4.8.9', 'Tor 0.4.7.16',
    'Tor 0.4.9.1-alpha', 'Tor 0.4.9.2-alpha', 'Tor 0.4.6.10'],
  [30, 22, 8, 10, 6, 9, 5, 4, 2],
);
const REJECT_ALL = 'reject 1-65535';
const EXIT_POLICIES = new WeightedPicker(
  [
    'accept 20-23,43,53,79-81,88,110,143,194,220,389,443,464-465,531,543-544,554,563,587,636,706,749,' +
      '853,873,902-904,981,989-995,1194,1220,1293,1500,1533,1677,1723,1755,1863,2082-2083,2086-2087,' +
      '2095-2096,2102-2104,3128,3389,3690,4321,4643,5050,5190,5222-5223,5228,5900,6660-6669,6679,6697,' +
      '8000,8008,8074,8080,8082,8087-8088,8232-8233,8332-8333,8443,8888,9418,9999-10000,11371,19294,' +
      '19638,50002,64738',
    'accept 80,443',
    'accept 43,53,80,443,853,8080,8443',
    'reject 25,119,135-139,445,563,1214,4661-4666,6346-6429,6699,6881-6999',
    'accept 1-65535',
    'reject 22,25,465,587',
    'accept 22,53,80,110,143,443,993,995,5222-5223,8080,8443,9418',
  ],
  [46, 12, 8, 14, 6, 6, 8],
);

function makeNickname(rng: Prng): string {
  const x = rng.float();
  if (x < 0.03) return 'Unnamed';
  if (x < 0.14) return (rng.pick(OPERATORS) + rng.range(1, 80)).slice(0, 19);
  let head = rng.pick(NICK_HEADS);
  if (rng.chance(0.45)) head = head[0]!.toUpperCase() + head.slice(1);
  let nick = head + rng.pick(NICK_TAILS);
  if (rng.chance(0.5)) nick += rng.int(1000);
  return nick.slice(0, 19);
}

/** Unique IPv4 addresses: the RFC 5737 documentation ranges first, then RFC 2544's 198.18.0.0/15. */
function addressPool(rng: Prng, n: number): string[] {
  const doc: string[] = [];
  for (const base of ['192.0.2.', '198.51.100.', '203.0.113.']) {
    for (let i = 1; i < 255; i++) doc.push(base + i);
  }
  rng.shuffle(doc);
  const seen = new Set<string>();
  const extra: string[] = [];
  while (doc.length + extra.length < n) {
    const ip = `198.${rng.range(18, 20)}.${rng.int(256)}.${rng.range(1, 255)}`;
    if (!seen.has(ip)) {
      seen.add(ip);
      extra.push(ip);
    }
  }
  return doc.concat(extra);
}

function makeRouters(rng: Prng, n: number, baseTs: number): Router[] {
  const pool = addressPool(rng, n);
  let next = 0;
  const out: Router[] = [];
  for (let i = 0; i < n; i++) {
    const ident = rng.bytes(20);
    const fp = ident.toString('hex').toUpperCase();
    // about one relay in fifteen shares its address with another one (operators run two per IP)
    const ip = out.length > 0 && rng.chance(0.065) ? out[rng.int(out.length)]!.ip : pool[next++]!;
    const pp = rng.float();
    const orPort = pp < 0.47 ? 9001 : pp < 0.76 ? 443 : pp < 0.86 ? rng.range(9000, 9101) : rng.range(1024, 65536);
    const dp = rng.float();
    const dirPort = dp < 0.74 ? 0 : dp < 0.9 ? 9030 : dp < 0.95 ? 80 : rng.range(1024, 65536);
    const ipv6 = rng.chance(0.33)
      ? `[2001:db8:${rng.int(0x10000).toString(16)}:${rng.int(0x10000).toString(16)}::${rng.range(1, 0x10000).toString(16)}]:${orPort}`
      : null;
    const flags = new Set(['Running', 'Valid']);
    const fast = rng.chance(0.89);
    const stable = rng.chance(fast ? 0.82 : 0.3);
    if (fast) flags.add('Fast');
    if (stable) flags.add('Stable');
    if (rng.chance(0.8)) flags.add('V2Dir');
    if (fast && stable && flags.has('V2Dir') && rng.chance(0.62)) flags.add('Guard');
    if (rng.chance(0.21)) {
      flags.add('Exit');
      if (rng.chance(0.015)) flags.add('BadExit');
    }
    if (fast && stable && rng.chance(0.74)) flags.add('HSDir');
    if (rng.chance(0.01)) flags.add('StaleDesc');
    if (rng.chance(0.004)) {
      flags.add('MiddleOnly');
      for (const f of ['Guard', 'Exit', 'BadExit', 'HSDir', 'V2Dir']) flags.delete(f);
    }
    let bw = Math.floor(Math.exp(Math.log(2800) + 1.65 * rng.gauss()));
    if (flags.has('Guard')) bw = Math.floor(bw * 2.4);
    const unmeasured = rng.chance(0.045);
    if (unmeasured) bw = rng.range(1, 21);
    const published = isoTime(baseTs - rng.int(18 * 3600));
    out.push({
      fp,
      longName: '',
      nick: makeNickname(rng),
      idB64: ident.toString('base64').replace(/=+$/, ''),
      digestB64: rng.bytes(20).toString('base64').replace(/=+$/, ''),
      published,
      ip,
      orPort,
      dirPort,
      ipv6,
      flags,
      bw: Math.max(1, Math.min(bw, 480_000)),
      unmeasured,
      policy: '',
      // Not written to ns/all (tor leaves it out there), but still drawn, so that the random
      // sequence, and with it every event, stays what it was.
      version: VERSIONS.pick(rng),
    });
  }
  for (const r of out) r.policy = r.flags.has('Exit') ? EXIT_POLICIES.pick(rng) : REJECT_ALL;
  // nine directory authorities
  const authNames = ['authAlder', 'authBirch', 'authCedar', 'authDogwood', 'authElm', 'authFir', 'authGinkgo', 'authHazel', 'authIroko'];
  for (let k = 0; k < authNames.length && k < out.length; k++) {
    let r = out[rng.int(out.length)]!;
    while (r.flags.has('Authority')) r = out[rng.int(out.length)]!;
    r.nick = authNames[k]!;
    for (const f of ['Authority', 'Fast', 'Stable', 'V2Dir', 'Running', 'Valid']) r.flags.add(f);
    r.flags.delete('MiddleOnly');
    r.dirPort = k % 2 ? 80 : 9030;
  }
  out.sort((a, b) => (a.fp < b.fp ? -1 : a.fp > b.fp ? 1 : 0));
  for (const r of out) r.longName = `$${r.fp}~${r.nick}`;
  return out;
}

/**
 * One router status entry as GETINFO ns/all prints it: r, a, s, w, p (dir-spec 3.4.1 order). tor
 * writes no `v` line there (its control-port form of the entry leaves the version out), and a
 * controller that expects tor's form (txtorcon's parser, for one) refuses an entry with one.
 */
function nsEntry(r: Router): string {
  let s = `r ${r.nick} ${r.idB64} ${r.digestB64} ${r.published} ${r.ip} ${r.orPort} ${r.dirPort}\n`;
  if (r.ipv6) s += `a ${r.ipv6}\n`;
  // flags sorted as byte strings, as the consensus lists them
  s += `s ${[...r.flags].sort().join(' ')}\n`;
  s += r.unmeasured ? `w Bandwidth=${r.bw} Unmeasured=1\n` : `w Bandwidth=${r.bw}\n`;
  s += `p ${r.policy}\n`;
  return s;
}

const COUNTRIES = ['de', 'us', 'nl', 'fr', 'ch', 'se', 'fi', 'ca', 'gb', 'at', 'ro', 'pl', 'lu', 'no', 'is', 'cz', 'jp', 'sg'];

/** Documentation addresses have no country: derive a stable one from the address. */
function countryMap(routers: readonly Router[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ip of [...new Set(routers.map((r) => r.ip))].sort()) {
    out[ip] = COUNTRIES[createHash('sha1').update(ip).digest().readUInt16BE(0) % COUNTRIES.length]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the client simulation

type CircKind = 'general' | 'internal' | 'onehop' | 'intro' | 'rend';
type StreamKind = 'user' | 'resolve' | 'dir' | 'onion';

interface Circ {
  id: number;
  kind: CircKind;
  purpose: string;
  flags: string;
  path: Router[];
  hops: number;
  state: string;
  streams: Set<Strm>;
  iso: string | null;
  socks: string | null;
  hsState: string | null;
  rendQuery: string | null;
  created: string;
  closed: boolean;
  waiting: Strm[];
  dirtySince: number;
  /** Hop at which the build fails, -1 for none, -2 for "outlives the build timeout" (MEASURE_TIMEOUT). */
  failAt: number;
}

interface Strm {
  id: number;
  kind: StreamKind;
  host: string;
  /** What the events show as the target host (the address after a REMAP). */
  target: string;
  port: number;
  iso: string | null;
  socks: string | null;
  circ: Circ | null;
  status: string;
  closed: boolean;
  detached: boolean;
}

interface OrConn {
  id: number;
  router: Router;
  status: string;
}

interface Site {
  domain: string;
  hosts: string[];
}

interface Snapshot {
  circuitStatus: string[];
  streamStatus: string[];
  orconnStatus: string[];
  addressMappings: string[];
  entryGuards: string[];
}

/** Rates are per simulated second. */
const SIM = {
  sites: 2500,
  siteZipf: 0.75,
  onions: 30,
  pageRate: 0.085,
  streamsPerPage: 9,
  streamMedian: 7,
  dnsRate: 0.035,
  dnsCached: 0.3,
  onehopRate: 0.025,
  backgroundRate: 0.18,
  onionRate: 0.012,
  orconnRate: 0.15,
  guardLossRate: 1 / 6000,
  preemptive: 3,
  dirtiness: 600,
  circFail: 0.045,
  circMeasure: 0.025,
  guardWait: 0.015,
  streamFail: 0.035,
  streamDetach: 0.01,
} as const;

const CIRC_FAILS: ReadonlyArray<[string, string | null]> = [
  ['TIMEOUT', null], ['TIMEOUT', null], ['TIMEOUT', null], ['TIMEOUT', null],
  ['DESTROYED', 'OR_CONN_CLOSED'], ['DESTROYED', 'OR_CONN_CLOSED'], ['DESTROYED', 'RESOURCELIMIT'],
  ['OR_CONN_CLOSED', null], ['DESTROYED', 'CONNECTFAILED'], ['CHANNEL_CLOSED', null], ['DESTROYED', 'TORPROTOCOL'],
];
const STREAM_FAILS: ReadonlyArray<[string, string | null]> = [
  ['END', 'RESOLVEFAILED'], ['END', 'CONNECTREFUSED'], ['END', 'EXITPOLICY'], ['TIMEOUT', null],
  ['END', 'TIMEOUT'], ['END', 'NOROUTE'], ['END', 'MISC'], ['END', 'DESTROY'],
];
const SUBDOMAINS = ['www', 'www', 'cdn', 'static', 'img', 'api', 'assets', 'media', 'js', 'fonts', 'ads', 'metrics', 'auth', 'video', 'm', 'edge', 'shop'];
const SITE_WORDS = [
  'daily', 'herald', 'market', 'forum', 'atlas', 'pixel', 'ledger', 'voyage', 'garden', 'bistro', 'stadium', 'orbit',
  'palette', 'harbor', 'chronicle', 'signal', 'campus', 'clinic', 'studio', 'archive', 'beacon', 'courier', 'summit',
];
const TLDS = ['example', 'test', 'example.com', 'example.net', 'example.org'];
const PORTS = new WeightedPicker([443, 80, 8080, 8443, 5222, 993], [86, 10, 1, 1, 1, 1]);
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const ISO_FIELDS = 'CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH';

/** A binary min-heap of timed callbacks; ties break by insertion order so runs are reproducible. */
class Agenda {
  private t: number[] = [];
  private seq: number[] = [];
  private fn: Array<() => void> = [];
  private counter = 0;

  get size(): number {
    return this.t.length;
  }

  push(time: number, fn: () => void): void {
    const s = this.counter++;
    let i = this.t.length;
    this.t.push(time);
    this.seq.push(s);
    this.fn.push(fn);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.before(p, time, s)) break;
      this.move(p, i);
      i = p;
    }
    this.t[i] = time;
    this.seq[i] = s;
    this.fn[i] = fn;
  }

  /** Removes the earliest entry; returns its time (the callback is left in `popped`). */
  pop(): number {
    const time = this.t[0]!;
    this.popped = this.fn[0]!;
    const lt = this.t.pop()!;
    const ls = this.seq.pop()!;
    const lf = this.fn.pop()!;
    const n = this.t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.less(r, l) ? r : l;
        if (this.before(c, lt, ls) === false) break;
        this.move(c, i);
        i = c;
      }
      this.t[i] = lt;
      this.seq[i] = ls;
      this.fn[i] = lf;
    }
    return time;
  }

  popped: () => void = () => undefined;

  private before(i: number, time: number, s: number): boolean {
    return this.t[i]! < time || (this.t[i] === time && this.seq[i]! < s);
  }

  private less(i: number, j: number): boolean {
    return this.before(i, this.t[j]!, this.seq[j]!);
  }

  private move(from: number, to: number): void {
    this.t[to] = this.t[from]!;
    this.seq[to] = this.seq[from]!;
    this.fn[to] = this.fn[from]!;
  }
}

class ClientSim {
  private readonly rng: Prng;
  private readonly baseTs: number;
  private readonly maxEvents: number;
  private readonly agenda = new Agenda();
  now = 0;
  emitting = false;
  done = false;
  /** events.txt as it is being written: each line is encoded at once and checked, never kept. */
  private out = Buffer.allocUnsafe(1 << 25);
  private outLen = 0;
  emitted = 0;
  checker: ExpectedState | null = null;
  readonly counts: Record<string, number> = {};

  private readonly circs = new Map<number, Circ>();
  private readonly streams = new Map<number, Strm>();
  private readonly orconns = new Map<number, OrConn>();
  private readonly orconnByFp = new Map<string, number>();
  private readonly addrmap = new Map<string, { ip: string; expires: number }>();
  private readonly isoCirc = new Map<string, Circ>();
  private clean: Circ[] = [];
  private pending: Strm[] = [];
  private nextCirc = 1;
  private nextConn = 1;
  private nextSrcPort = 41000;

  private readonly middle: WeightedPicker<Router>;
  private readonly exits: WeightedPicker<Router>;
  private readonly dirs: WeightedPicker<Router>;
  private readonly sampledGuards: Router[];
  private readonly primary: Router[];
  private readonly vanguards: Router[];
  private readonly sites: Site[];
  private readonly sitePicker: WeightedPicker<number>;
  private readonly onions: string[];
  private readonly hostIp = new Map<string, string>();
  private readonly socksPw = new Map<string, string>();

  constructor(rng: Prng, routers: Router[], baseTs: number, maxEvents: number) {
    this.rng = rng;
    this.baseTs = baseTs;
    this.maxEvents = maxEvents;
    const fast = routers.filter((r) => r.flags.has('Fast') && !r.flags.has('Authority'));
    this.middle = new WeightedPicker(fast, fast.map((r) => r.bw));
    const exits = fast.filter((r) => r.flags.has('Exit') && !r.flags.has('BadExit'));
    this.exits = new WeightedPicker(exits, exits.map((r) => r.bw));
    const dirs = fast.filter((r) => r.flags.has('V2Dir'));
    this.dirs = new WeightedPicker(dirs, dirs.map((r) => r.bw));
    const guardList = routers.filter((r) => r.flags.has('Guard'));
    const guards = new WeightedPicker(guardList, guardList.map((r) => r.bw));
    const sampled: Router[] = [];
    while (sampled.length < Math.min(20, guardList.length)) {
      const g = guards.pick(rng);
      if (!sampled.includes(g)) sampled.push(g);
    }
    this.sampledGuards = sampled;
    this.primary = sampled.slice(0, 2);
    this.vanguards = [0, 1, 2, 3].map(() => this.middle.pick(rng));
    this.sites = [];
    for (let i = 0; i < SIM.sites; i++) {
      const word = rng.pick(SITE_WORDS);
      const suffix = rng.pick(['', '', 'hq', 'now', 'online', 'plus', String(rng.range(1, 1000))]);
      const domain = `${word}${suffix}.${rng.pick(TLDS)}`;
      const subs = new Set<string>();
      const k = rng.range(1, 6);
      for (let j = 0; j < k; j++) subs.add(rng.pick(SUBDOMAINS));
      this.sites.push({ domain, hosts: [...[...subs].map((s) => `${s}.${domain}`), domain] });
    }
    this.sitePicker = new WeightedPicker(
      this.sites.map((_, i) => i),
      this.sites.map((_, i) => 1 / Math.pow(i + 1, SIM.siteZipf)),
    );
    this.onions = [];
    for (let i = 0; i < SIM.onions; i++) {
      let s = '';
      for (let j = 0; j < 55; j++) s += B32[rng.int(32)];
      this.onions.push(s + 'd.onion'); // v3 addresses end in "d" (version byte 3)
    }
  }

  // ---- plumbing

  private at(dt: number, fn: () => void): void {
    this.agenda.push(this.now + dt, fn);
  }

  private emit(type: string, line: string): void {
    if (!this.emitting || this.done) return;
    this.checker!.apply(line);
    if (this.outLen + line.length + 2 > this.out.length) {
      const bigger = Buffer.allocUnsafe(this.out.length * 2);
      this.out.copy(bigger, 0, 0, this.outLen);
      this.out = bigger;
    }
    this.outLen += this.out.write(line, this.outLen, 'latin1');
    this.out[this.outLen++] = 0x0d;
    this.out[this.outLen++] = 0x0a;
    this.counts[type] = (this.counts[type] ?? 0) + 1;
    if (++this.emitted >= this.maxEvents) this.done = true;
  }

  private ts(): number {
    return this.baseTs + this.now;
  }

  private newConnId(): number {
    // tor numbers edge and OR connections from one global counter shared with listeners,
    // directory and SOCKS connections, so the ids the controller sees have gaps
    this.nextConn += 1 + (this.rng.chance(0.55) ? 1 : 0) + (this.rng.chance(0.2) ? 1 : 0);
    return this.nextConn;
  }

  private socksFor(key: string): string {
    let pw = this.socksPw.get(key);
    if (pw === undefined) {
      pw = this.rng.bytes(16).toString('hex');
      this.socksPw.set(key, pw);
    }
    return ` SOCKS_USERNAME="${key}" SOCKS_PASSWORD="${pw}"`;
  }

  private ipFor(host: string): string {
    let ip = this.hostIp.get(host);
    if (ip === undefined) {
      const h = createHash('sha1').update(host).digest();
      if (h[0]! < 24) {
        ip = `2001:db8:${(h[1]! * 256 + h[2]!).toString(16)}:${(h[3]! * 256 + h[4]!).toString(16)}::${(h[5]! * 256 + h[6]! || 1).toString(16)}`;
      } else {
        ip = ['192.0.2.', '198.51.100.', '203.0.113.'][h[1]! % 3]! + (1 + (h[2]! % 254));
      }
      this.hostIp.set(host, ip);
    }
    return ip;
  }

  // ---- formatting

  private circBody(c: Circ, status: string, reason?: string, remote?: string | null): string {
    let s = `${c.id} ${status}`;
    if (c.hops > 0) {
      s += ' ' + c.path[0]!.longName;
      for (let i = 1; i < c.hops; i++) s += ',' + c.path[i]!.longName;
    }
    s += ` BUILD_FLAGS=${c.flags} PURPOSE=${c.purpose}`;
    if (c.hsState) s += ` HS_STATE=${c.hsState}`;
    if (c.rendQuery) s += ` REND_QUERY=${c.rendQuery}`;
    s += ` TIME_CREATED=${c.created}`;
    if (reason) {
      s += ` REASON=${reason}`;
      if (remote) s += ` REMOTE_REASON=${remote}`;
    }
    if (c.socks) s += c.socks;
    return s;
  }

  private circEvent(c: Circ, status: string, reason?: string, remote?: string | null): void {
    c.state = status;
    this.emit('CIRC', '650 CIRC ' + this.circBody(c, status, reason, remote));
  }

  private streamEvent(s: Strm, status: string, extra = ''): void {
    s.status = status;
    const cid = s.circ !== null && status !== 'NEW' && status !== 'NEWRESOLVE' ? s.circ.id : 0;
    this.emit('STREAM', `650 STREAM ${s.id} ${status} ${cid} ${s.target}:${s.port}${extra}`);
  }

  private orconnEvent(o: OrConn, status: string, tail = ''): void {
    o.status = status;
    this.emit('ORCONN', `650 ORCONN ${o.router.longName} ${status}${tail} ID=${o.id}`);
  }

  private addrmapEvent(host: string, ip: string | null, expires: number, cached: boolean, streamId: number): void {
    const e = isoTime(expires);
    if (ip === null) {
      this.addrmap.delete(host);
      this.emit('ADDRMAP', `650 ADDRMAP ${host} <error> "${e}" error=yes EXPIRES="${e}" CACHED="NO" STREAMID=${streamId}`);
      return;
    }
    if (cached) this.addrmap.set(host, { ip, expires });
    else this.addrmap.delete(host);
    this.emit('ADDRMAP', `650 ADDRMAP ${host} ${ip} "${e}" EXPIRES="${e}" CACHED="${cached ? 'YES' : 'NO'}" STREAMID=${streamId}`);
  }

  // ---- OR connections

  private openOrConn(r: Router, failP: number, idleClose: boolean): void {
    if (this.orconnByFp.has(r.fp)) return;
    const o: OrConn = { id: this.newConnId(), router: r, status: 'NEW' };
    this.orconns.set(o.id, o);
    this.orconnByFp.set(r.fp, o.id);
    this.orconnEvent(o, 'LAUNCHED');
    if (this.rng.chance(failP)) {
      const reason = this.rng.pick(['TIMEOUT', 'CONNECTREFUSED', 'NOROUTE', 'IOERROR', 'CONNECTRESET']);
      this.at(this.rng.uniform(0.2, 8), () => this.dropOrConn(o, 'FAILED', reason));
      return;
    }
    this.at(this.rng.uniform(0.05, 0.7), () => {
      if (this.orconns.get(o.id) === o) this.orconnEvent(o, 'CONNECTED');
    });
    if (idleClose) this.at(this.rng.uniform(20, 300), () => this.idleClose(o));
  }

  private circsThrough(r: Router): number {
    let n = 0;
    for (const c of this.circs.values()) if (c.path[0] === r) n++;
    return n;
  }

  private dropOrConn(o: OrConn, status: 'FAILED' | 'CLOSED', reason: string): void {
    if (this.orconns.get(o.id) !== o) return;
    this.orconnEvent(o, status, ` REASON=${reason} NCIRCS=${status === 'FAILED' ? 0 : this.circsThrough(o.router)}`);
    this.orconns.delete(o.id);
    if (this.orconnByFp.get(o.router.fp) === o.id) this.orconnByFp.delete(o.router.fp);
  }

  private idleClose(o: OrConn): void {
    if (this.orconns.get(o.id) !== o) return;
    if (this.primary.includes(o.router) || this.circsThrough(o.router) > 0) {
      this.at(60, () => this.idleClose(o));
      return;
    }
    this.dropOrConn(o, 'CLOSED', 'DONE');
  }

  private churnOrConn(): void {
    this.openOrConn(this.dirs.pick(this.rng), 0.08, true);
    this.at(this.rng.expo(SIM.orconnRate), () => this.churnOrConn());
  }

  // ---- circuits

  private pickPath(n: number, last: 'exit' | 'middle', vanguard = false): Router[] {
    const rng = this.rng;
    const path = [rng.chance(0.93) ? this.primary[0]! : this.primary[1]!];
    if (vanguard) path.push(rng.pick(this.vanguards));
    while (path.length < n - 1) {
      const m = this.middle.pick(rng);
      // no two relays of one circuit on one address (tor's /16 rule, simplified)
      if (!path.includes(m) && !path.some((p) => p.ip === m.ip)) path.push(m);
    }
    for (;;) {
      const e = last === 'exit' ? this.exits.pick(rng) : this.middle.pick(rng);
      if (!path.includes(e) && !path.some((p) => p.ip === e.ip)) {
        path.push(e);
        break;
      }
    }
    return path;
  }

  private newCirc(kind: CircKind, purpose: string, flags: string, path: Router[]): Circ {
    const c: Circ = {
      id: this.nextCirc++,
      kind,
      purpose,
      flags,
      path,
      hops: 0,
      state: 'LAUNCHED',
      streams: new Set(),
      iso: null,
      socks: null,
      hsState: null,
      rendQuery: null,
      created: isoTimeFrac(this.ts()),
      closed: false,
      waiting: [],
      dirtySince: -1,
      failAt: -1,
    };
    return c;
  }

  private launch(c: Circ): void {
    const rng = this.rng;
    this.circs.set(c.id, c);
    if (!this.orconnByFp.has(c.path[0]!.fp)) this.openOrConn(c.path[0]!, 0, !this.primary.includes(c.path[0]!));
    this.circEvent(c, 'LAUNCHED');
    const x = rng.float();
    if (x < SIM.circFail) c.failAt = rng.int(c.path.length);
    else if (x < SIM.circFail + SIM.circMeasure && c.kind === 'general') c.failAt = -2;
    this.at(rng.uniform(0.05, 0.35), () => this.extend(c));
  }

  private extend(c: Circ): void {
    if (c.closed) return;
    const rng = this.rng;
    if (c.failAt >= 0 && c.hops === c.failAt) {
      const [reason, remote] = rng.pick(CIRC_FAILS);
      this.closeCirc(c, 'FAILED', reason, remote);
      return;
    }
    if (c.failAt === -2 && c.hops === c.path.length - 1) {
      // past the build timeout: tor keeps it only to measure, then lets it expire unbuilt
      c.purpose = 'MEASURE_TIMEOUT';
      this.unlist(c);
      this.requeue(c);
      this.at(0, () => this.keepPreemptive());
      this.at(rng.uniform(2, 40), () => this.closeCirc(c, 'FAILED', 'MEASUREMENT_EXPIRED'));
      return;
    }
    c.hops++;
    if (c.hops < c.path.length) {
      this.circEvent(c, 'EXTENDED');
      this.at(rng.uniform(0.05, 0.45), () => this.extend(c));
    } else if (c.kind === 'general' && rng.chance(SIM.guardWait)) {
      // complete, but waiting for a better guard to decide (guard-spec "GUARD_WAIT")
      this.circEvent(c, 'GUARD_WAIT');
      this.at(rng.uniform(0.3, 4), () => {
        if (!c.closed) this.built(c);
      });
    } else {
      this.built(c);
    }
  }

  private built(c: Circ): void {
    const rng = this.rng;
    this.circEvent(c, 'BUILT');
    switch (c.kind) {
      case 'general': {
        const waiting = c.waiting;
        c.waiting = [];
        for (const s of waiting) if (!s.closed) this.attach(s, c);
        break;
      }
      case 'onehop':
        this.dirFetch(c);
        break;
      case 'intro':
        c.hsState = 'HSCI_INTRO_SENT';
        this.at(rng.uniform(0.3, 1.5), () => {
          if (c.closed) return;
          c.hsState = 'HSCI_DONE';
          this.closeCirc(c, 'CLOSED', 'FINISHED');
        });
        break;
      case 'rend':
        if (c.hsState === 'HSCR_CONNECTING') c.hsState = 'HSCR_ESTABLISHED_IDLE';
        break;
      case 'internal':
        this.at(rng.uniform(30, 600), () => this.expire(c));
        break;
    }
  }

  /** Forget a circuit as a candidate for new streams. */
  private unlist(c: Circ): void {
    const i = this.clean.indexOf(c);
    if (i >= 0) this.clean.splice(i, 1);
    if (c.iso !== null && this.isoCirc.get(c.iso) === c) this.isoCirc.delete(c.iso);
  }

  /** Streams that waited on a circuit that will never be built look for another one. */
  private requeue(c: Circ): void {
    if (c.waiting.length === 0) return;
    this.pending.push(...c.waiting);
    c.waiting = [];
    this.at(0.01, () => this.servicePending());
  }

  private closeCirc(c: Circ, status: 'CLOSED' | 'FAILED', reason: string, remote?: string | null): void {
    if (c.closed) return;
    // streams go first, cut by the circuit (tor reports them closed with REASON=DESTROY)
    const live = [...c.streams].sort((a, b) => a.id - b.id);
    for (const s of live) this.closeStream(s, 'CLOSED', ' REASON=DESTROY');
    c.closed = true;
    this.circEvent(c, status, reason, remote);
    this.circs.delete(c.id);
    this.unlist(c);
    this.requeue(c);
    if (c.kind === 'general') this.at(0, () => this.keepPreemptive());
  }

  private expire(c: Circ): void {
    if (c.closed) return;
    if (c.streams.size > 0) {
      this.at(5, () => this.expire(c));
      return;
    }
    this.closeCirc(c, 'CLOSED', 'FINISHED');
  }

  private launchGeneral(waiter: Strm | null): Circ {
    const flags = this.rng.chance(0.1) ? 'NEED_CAPACITY,NEED_UPTIME' : 'NEED_CAPACITY';
    const c = this.newCirc('general', 'GENERAL', flags, this.pickPath(3, 'exit'));
    if (waiter) c.waiting.push(waiter);
    else this.clean.push(c);
    this.launch(c);
    return c;
  }

  private keepPreemptive(): void {
    this.clean = this.clean.filter((c) => !c.closed);
    while (this.clean.length < SIM.preemptive) this.launchGeneral(null);
  }

  private tick(): void {
    const rng = this.rng;
    let open = 0;
    for (const s of this.streams.values()) if (s.status === 'SUCCEEDED') open++;
    let read = 0;
    let written = 0;
    if (open > 0 || rng.chance(0.5)) {
      read = Math.floor(rng.expo(1 / (1500 + 55_000 * open)));
      written = Math.floor(read * rng.uniform(0.04, 0.2)) + rng.int(1500);
    }
    this.emit('BW', `650 BW ${read} ${written}`);
    // MaxCircuitDirtiness: a used circuit takes no new streams after a while and closes when idle
    const old: Circ[] = [];
    for (const c of this.circs.values()) {
      if (c.kind === 'general' && c.dirtySince >= 0 && this.now - c.dirtySince > SIM.dirtiness) old.push(c);
    }
    for (const c of old) {
      if (c.iso !== null && this.isoCirc.get(c.iso) === c) this.isoCirc.delete(c.iso);
      if (c.streams.size === 0) this.closeCirc(c, 'CLOSED', 'FINISHED');
    }
    this.at(1, () => this.tick());
  }

  // ---- streams

  private newStream(kind: StreamKind, host: string, port: number, iso: string | null, socks: string | null): Strm {
    const s: Strm = { id: this.newConnId(), kind, host, target: host, port, iso, socks, circ: null, status: 'NEW', closed: false, detached: false };
    this.streams.set(s.id, s);
    return s;
  }

  private newExtra(s: Strm, purpose: string): string {
    this.nextSrcPort += 1 + this.rng.int(3);
    if (this.nextSrcPort > 60999) this.nextSrcPort = 32768;
    return ` SOURCE_ADDR=127.0.0.1:${this.nextSrcPort} PURPOSE=${purpose}${s.socks ?? ''} ${ISO_FIELDS}`;
  }

  private pageLoad(): void {
    const rng = this.rng;
    const site = this.sites[this.sitePicker.pick(rng)]!;
    const socks = this.socksFor(site.domain);
    const n = 1 + Math.floor(rng.expo(1 / SIM.streamsPerPage));
    let t = 0;
    for (let k = 0; k < n; k++) {
      let host = k === 0 ? site.hosts[site.hosts.length - 1]! : rng.pick(site.hosts);
      if (rng.chance(0.1)) {
        // literal addresses (CDNs, trackers): no REMAP, no ADDRMAP
        const ip = this.ipFor(`n${rng.int(40)}.${site.domain}`);
        host = ip.includes(':') ? `[${ip}]` : ip;
      }
      const port = PORTS.pick(rng);
      this.at(t, () => {
        const s = this.newStream('user', host, port, site.domain, socks);
        this.streamEvent(s, 'NEW', this.newExtra(s, 'USER'));
        this.findCirc(s);
      });
      t += k === 0 ? rng.uniform(0.3, 1.2) : rng.expo(4);
    }
    this.at(rng.expo(SIM.pageRate), () => this.pageLoad());
  }

  private findCirc(s: Strm): void {
    const key = s.iso ?? '';
    const mine = this.isoCirc.get(key);
    if (mine && !mine.closed && mine.state === 'BUILT' && !(s.detached && mine === s.circ)) {
      this.attach(s, mine);
      return;
    }
    for (const c of this.clean) {
      if (c.state === 'BUILT' && !c.closed && c !== s.circ) {
        this.clean.splice(this.clean.indexOf(c), 1);
        this.isoCirc.set(key, c);
        this.attach(s, c);
        this.at(0, () => this.keepPreemptive());
        return;
      }
    }
    if (mine && !mine.closed && mine.state !== 'BUILT' && mine.purpose === 'GENERAL') {
      mine.waiting.push(s);
      return;
    }
    const c = this.launchGeneral(s);
    c.iso = key;
    this.isoCirc.set(key, c);
  }

  private servicePending(): void {
    const list = this.pending;
    this.pending = [];
    for (const s of list) if (!s.closed) this.findCirc(s);
  }

  private attach(s: Strm, c: Circ): void {
    if (s.closed || c.closed) return;
    const rng = this.rng;
    if (c.dirtySince < 0) c.dirtySince = this.now;
    if (c.iso === null) c.iso = s.iso ?? '';
    if (s.socks && !c.socks) c.socks = s.socks;
    s.circ = c;
    c.streams.add(s);
    if (s.kind === 'resolve') {
      this.streamEvent(s, 'SENTRESOLVE');
      this.at(rng.uniform(0.15, 1.2), () => this.resolved(s));
      return;
    }
    this.streamEvent(s, 'SENTCONNECT');
    const x = rng.float();
    if (x < SIM.streamDetach && !s.detached) this.at(rng.uniform(5, 15), () => this.detach(s));
    else if (x < SIM.streamDetach + SIM.streamFail) this.at(rng.uniform(0.2, 3), () => this.failStream(s));
    else this.at(rng.uniform(0.15, 1.5), () => this.connected(s));
  }

  private detach(s: Strm): void {
    if (s.closed) return;
    const c = s.circ!;
    c.streams.delete(s);
    s.detached = true;
    this.streamEvent(s, 'DETACHED', ' REASON=TIMEOUT');
    if (c.iso !== null && this.isoCirc.get(c.iso) === c) this.isoCirc.delete(c.iso);
    this.findCirc(s);
  }

  private remap(s: Strm, ttlChoices: readonly number[]): void {
    const rng = this.rng;
    const ip = this.ipFor(s.host);
    this.addrmapEvent(s.host, ip, this.ts() + rng.pick(ttlChoices), rng.chance(SIM.dnsCached), s.id);
    s.target = ip.includes(':') ? `[${ip}]` : ip;
    this.streamEvent(s, 'REMAP', ' SOURCE=EXIT');
  }

  private connected(s: Strm): void {
    if (s.closed) return;
    if (!isAddress(s.target)) this.remap(s, [60, 60, 300, 300, 600, 1800]);
    this.streamEvent(s, 'SUCCEEDED');
    const life = Math.min(3600, Math.exp(Math.log(SIM.streamMedian) + 1.4 * this.rng.gauss()));
    this.at(life, () => this.finish(s));
  }

  private finish(s: Strm): void {
    if (s.closed) return;
    this.closeStream(s, 'CLOSED', this.rng.chance(0.5) ? ' REASON=DONE' : ' REASON=END REMOTE_REASON=DONE');
  }

  private failStream(s: Strm): void {
    if (s.closed) return;
    const [reason, remote] = this.rng.pick(STREAM_FAILS);
    if (remote === 'RESOLVEFAILED' && !isAddress(s.target)) this.addrmapEvent(s.host, null, this.ts() + 60, false, s.id);
    const extra = ` REASON=${reason}${remote ? ` REMOTE_REASON=${remote}` : ''}`;
    this.closeStream(s, 'FAILED', extra);
    // tor reports FAILED, then CLOSED when the edge connection is freed
    this.emit('STREAM', `650 STREAM ${s.id} CLOSED ${s.circ ? s.circ.id : 0} ${s.target}:${s.port}${extra}`);
  }

  private closeStream(s: Strm, status: 'CLOSED' | 'FAILED', extra: string): void {
    if (s.closed) return;
    s.closed = true;
    this.streamEvent(s, status, extra);
    this.streams.delete(s.id);
    const c = s.circ;
    if (c === null) return;
    c.streams.delete(s);
    if (c.streams.size === 0 && !c.closed) {
      if (c.kind === 'rend') this.at(this.rng.uniform(10, 120), () => this.expire(c));
      else if (c.kind === 'onehop') this.at(this.rng.uniform(1, 60), () => this.expire(c));
    }
  }

  private dnsRequest(): void {
    const rng = this.rng;
    const site = this.sites[this.sitePicker.pick(rng)]!;
    const s = this.newStream('resolve', rng.pick(site.hosts), 0, 'dns', null);
    this.streamEvent(s, 'NEWRESOLVE', this.newExtra(s, 'DNS_REQUEST'));
    this.findCirc(s);
    this.at(rng.expo(SIM.dnsRate), () => this.dnsRequest());
  }

  private resolved(s: Strm): void {
    if (s.closed) return;
    const rng = this.rng;
    if (rng.chance(0.05)) {
      this.addrmapEvent(s.host, null, this.ts() + 60, false, s.id);
      this.closeStream(s, 'FAILED', ' REASON=END REMOTE_REASON=RESOLVEFAILED');
      this.emit('STREAM', `650 STREAM ${s.id} CLOSED ${s.circ!.id} ${s.target}:0 REASON=END REMOTE_REASON=RESOLVEFAILED`);
      return;
    }
    this.remap(s, [60, 300, 600, 1800]);
    this.streamEvent(s, 'SUCCEEDED');
    this.at(rng.uniform(0, 0.05), () => this.closeStream(s, 'CLOSED', ' REASON=DONE'));
  }

  private oneHop(): void {
    const r = this.dirs.pick(this.rng);
    this.launch(this.newCirc('onehop', 'GENERAL', 'ONEHOP_TUNNEL,IS_INTERNAL,NEED_CAPACITY', [r]));
    this.at(this.rng.expo(SIM.onehopRate), () => this.oneHop());
  }

  private dirFetch(c: Circ): void {
    const r = c.path[0]!;
    const s = this.newStream('dir', r.ip, r.orPort, null, null);
    this.streamEvent(s, 'NEW', ' SOURCE_ADDR=(Tor_internal):0 PURPOSE=DIR_FETCH');
    s.circ = c;
    c.streams.add(s);
    c.dirtySince = this.now;
    this.streamEvent(s, 'SENTCONNECT');
    this.streamEvent(s, 'SUCCEEDED');
    this.at(this.rng.uniform(0.2, 4), () => this.closeStream(s, 'CLOSED', ' REASON=DONE'));
  }

  private background(): void {
    const rng = this.rng;
    const x = rng.float();
    const c =
      x < 0.5
        ? this.newCirc('internal', 'HS_VANGUARDS', 'IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME', this.pickPath(4, 'middle', true))
        : x < 0.8
          ? this.newCirc('internal', 'GENERAL', 'IS_INTERNAL,NEED_CAPACITY', this.pickPath(3, 'middle'))
          : this.newCirc('internal', 'PATH_BIAS_TESTING', 'IS_INTERNAL,NEED_CAPACITY', this.pickPath(3, 'middle'));
    this.launch(c);
    this.at(rng.expo(SIM.backgroundRate), () => this.background());
  }

  private onionVisit(): void {
    const rng = this.rng;
    const onion = this.onions[Math.floor(rng.expo(0.2)) % this.onions.length]!;
    const query = onion.slice(0, -6);
    const socks = this.socksFor(onion);
    const rend = this.newCirc('rend', 'HS_CLIENT_REND', 'IS_INTERNAL,NEED_CAPACITY', this.pickPath(4, 'middle', true));
    rend.hsState = 'HSCR_CONNECTING';
    rend.rendQuery = query;
    this.launch(rend);
    this.at(rng.uniform(0, 0.2), () => {
      const intro = this.newCirc('intro', 'HS_CLIENT_INTRO', 'IS_INTERNAL,NEED_CAPACITY', this.pickPath(4, 'middle', true));
      intro.hsState = 'HSCI_CONNECTING';
      intro.rendQuery = query;
      this.launch(intro);
    });
    const n = 1 + Math.floor(rng.expo(1 / 6));
    this.at(rng.uniform(2, 5), () => this.onionStreams(rend, onion, n, socks));
    this.at(rng.expo(SIM.onionRate), () => this.onionVisit());
  }

  private onionStreams(rend: Circ, onion: string, n: number, socks: string): void {
    const rng = this.rng;
    if (rend.closed || rend.state !== 'BUILT') {
      // the rendezvous did not come up in time: the application's streams time out unattached
      for (let k = 0; k < Math.min(n, 2); k++) {
        const s = this.newStream('onion', onion, 443, onion, socks);
        this.streamEvent(s, 'NEW', this.newExtra(s, 'USER'));
        this.at(rng.uniform(5, 30), () => this.onionTimeout(s));
      }
      if (!rend.closed) this.at(rng.uniform(10, 60), () => this.expire(rend));
      return;
    }
    rend.hsState = 'HSCR_JOINED';
    rend.dirtySince = this.now;
    rend.socks = socks;
    let t = 0;
    for (let k = 0; k < n; k++) {
      this.at(t, () => {
        const s = this.newStream('onion', onion, rng.pick([443, 80, 80]), onion, socks);
        this.streamEvent(s, 'NEW', this.newExtra(s, 'USER'));
        if (rend.closed) {
          this.at(rng.uniform(1, 10), () => this.onionTimeout(s));
          return;
        }
        s.circ = rend;
        rend.streams.add(s);
        this.streamEvent(s, 'SENTCONNECT');
        this.at(rng.uniform(0.3, 2), () => {
          if (s.closed) return;
          this.streamEvent(s, 'SUCCEEDED');
          this.at(Math.min(3600, Math.exp(Math.log(SIM.streamMedian) + 1.3 * rng.gauss())), () => this.finish(s));
        });
      });
      t += rng.expo(2);
    }
  }

  private onionTimeout(s: Strm): void {
    if (s.closed) return;
    this.closeStream(s, 'FAILED', ' REASON=TIMEOUT');
    this.emit('STREAM', `650 STREAM ${s.id} CLOSED 0 ${s.target}:${s.port} REASON=TIMEOUT`);
  }

  private guardLoss(): void {
    const rng = this.rng;
    const g = rng.chance(0.8) ? this.primary[0]! : this.primary[1]!;
    const oid = this.orconnByFp.get(g.fp);
    if (oid !== undefined) {
      const victims = [...this.circs.values()].filter((c) => c.path[0] === g).sort((a, b) => a.id - b.id);
      for (const c of victims) this.closeCirc(c, c.state === 'BUILT' ? 'CLOSED' : 'FAILED', 'OR_CONN_CLOSED');
      this.orconnEvent(this.orconns.get(oid)!, 'CLOSED', ` REASON=${rng.pick(['IOERROR', 'CONNECTRESET', 'TIMEOUT'])} NCIRCS=${victims.length}`);
      this.orconns.delete(oid);
      this.orconnByFp.delete(g.fp);
      this.at(rng.uniform(0.5, 3), () => this.openOrConn(g, 0, false));
    }
    this.at(rng.expo(SIM.guardLossRate), () => this.guardLoss());
  }

  // ---- driver

  /** Runs the warm-up silently, snapshots, then runs until `maxEvents` lines were emitted. */
  run(warmup: number): Snapshot {
    const rng = this.rng;
    for (const g of this.primary) this.openOrConn(g, 0, false);
    this.at(0.5, () => this.keepPreemptive());
    this.at(0, () => this.tick());
    this.at(rng.uniform(1, 5), () => this.pageLoad());
    this.at(rng.uniform(1, 5), () => this.dnsRequest());
    this.at(rng.uniform(1, 5), () => this.oneHop());
    this.at(rng.uniform(1, 5), () => this.background());
    this.at(rng.uniform(1, 20), () => this.onionVisit());
    this.at(rng.uniform(1, 5), () => this.churnOrConn());
    this.at(rng.expo(SIM.guardLossRate), () => this.guardLoss());
    let snap: Snapshot | null = null;
    while (this.agenda.size > 0 && !this.done) {
      const t = this.agenda.pop();
      if (!this.emitting && t >= warmup) {
        this.now = warmup;
        snap = this.snapshot();
        this.checker = new ExpectedState(snap);
        this.emitting = true;
      }
      this.now = t;
      this.agenda.popped();
    }
    if (snap === null) throw new Error('simulation ended during the warm-up');
    return snap;
  }

  /** The bytes of events.txt. */
  eventBytes(): Buffer {
    return this.out.subarray(0, this.outLen);
  }

  private snapshot(): Snapshot {
    const circuitStatus = [...this.circs.values()].sort((a, b) => a.id - b.id).map((c) => this.circBody(c, c.state));
    const streamStatus = [...this.streams.values()]
      .sort((a, b) => a.id - b.id)
      .map((s) => {
        // GETINFO stream-status reports the connection's state: a stream waiting for a circuit
        // (new or detached) is NEW/NEWRESOLVE on circuit 0
        let st = s.status;
        if (st === 'DETACHED') st = s.kind === 'resolve' ? 'NEWRESOLVE' : 'NEW';
        else if (st === 'REMAP') st = 'SENTCONNECT';
        const cid = s.circ !== null && st !== 'NEW' && st !== 'NEWRESOLVE' ? s.circ.id : 0;
        return `${s.id} ${st} ${cid} ${s.target}:${s.port}`;
      });
    const orconnStatus = [...this.orconns.values()].sort((a, b) => a.id - b.id).map((o) => `${o.router.longName} ${o.status}`);
    const addressMappings: string[] = [];
    for (const host of [...this.addrmap.keys()].sort()) {
      const m = this.addrmap.get(host)!;
      if (m.expires > this.ts()) addressMappings.push(`${host} ${m.ip} "${isoTime(m.expires)}"`);
    }
    const entryGuards = this.sampledGuards.map((g, i) => {
      const status = i < 2 ? 'up' : i === 4 ? 'down' : i === 5 ? 'unlisted' : 'never-connected';
      return `${g.longName} ${status}`;
    });
    return { circuitStatus, streamStatus, orconnStatus, addressMappings, entryGuards };
  }
}

function isAddress(target: string): boolean {
  return target.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(target);
}

// ---------------------------------------------------------------------------------------------
// expected final state, with a consistency check of every event

/**
 * Applies events, one at a time, to the initial GETINFO bodies the way a controller should, and
 * tells what a correct controller holds at the end. Throws on any event that contradicts the state
 * so far, so a corpus that passes is internally consistent. Incremental, so that the generator
 * need not keep 200,000 lines around.
 */
export class ExpectedState {
  private readonly circs = new Map<string, string>();
  private readonly streams = new Map<string, { status: string; circ: string }>();
  private readonly seenCirc = new Set<string>();
  private readonly seenStream = new Set<string>();
  private readonly orconns = new Map<string, string>();
  private readonly addr = new Set<string>();
  private count = 0;

  /** @param initial the initial `circuit-status` and `stream-status` lines */
  constructor(initial: { circuitStatus: readonly string[]; streamStatus: readonly string[] }) {
    for (const l of initial.circuitStatus) {
      const [id, st] = l.split(' ', 2);
      this.circs.set(id!, st!);
      this.seenCirc.add(id!);
    }
    for (const l of initial.streamStatus) {
      const [id, st, circ] = l.split(' ', 3);
      this.streams.set(id!, { status: st!, circ: circ! });
      this.seenStream.add(id!);
    }
  }

  /**
   * Applies one `650` line (without CRLF).
   * @throws Error naming the event when it contradicts the state
   */
  apply(line: string): void {
    const n = ++this.count;
    const fail = (why: string): never => {
      throw new Error(`inconsistent corpus at event ${n} (${why}): ${line}`);
    };
    const p = firstWords(line, 5);
    switch (p[1]) {
      case 'CIRC': {
        const id = p[2]!;
        const st = p[3]!;
        if (st === 'LAUNCHED') {
          if (this.seenCirc.has(id)) fail('circuit id reused');
          this.seenCirc.add(id);
        } else if (!this.circs.has(id)) fail('unknown circuit');
        if (st === 'CLOSED' || st === 'FAILED') {
          for (const s of this.streams.values()) {
            if (s.circ === id && s.status !== 'NEW' && s.status !== 'NEWRESOLVE' && s.status !== 'DETACHED') fail('circuit closed under a stream');
          }
          this.circs.delete(id);
        } else this.circs.set(id, st);
        break;
      }
      case 'STREAM': {
        const id = p[2]!;
        const st = p[3]!;
        const circ = p[4]!;
        if (st === 'CLOSED' || st === 'FAILED') {
          this.streams.delete(id);
          break;
        }
        if (st === 'NEW' || st === 'NEWRESOLVE') {
          if (this.seenStream.has(id)) fail('stream id reused');
          this.seenStream.add(id);
          if (circ !== '0') fail('new stream on a circuit');
        } else if (!this.streams.has(id)) fail('unknown stream');
        if (st === 'SENTCONNECT' || st === 'SENTRESOLVE' || st === 'SUCCEEDED' || st === 'REMAP') {
          if (this.circs.get(circ) !== 'BUILT') fail(`stream on circuit ${circ} that is not BUILT`);
        }
        this.streams.set(id, { status: st, circ });
        break;
      }
      case 'ORCONN': {
        const at = line.lastIndexOf(' ID=');
        if (at < 0) fail('ORCONN without ID');
        const id = line.slice(at + 4);
        if (p[3] === 'CLOSED' || p[3] === 'FAILED') this.orconns.delete(id);
        else this.orconns.set(id, p[3]!);
        break;
      }
      case 'ADDRMAP':
        if (p[3] === '<error>') this.addr.delete(p[2]!);
        else this.addr.add(p[2]!);
        break;
      case 'BW':
        break;
      default:
        fail('unexpected event type');
    }
  }

  /** The state after the events applied so far. @param routers the number of routers in ns/all */
  final(routers: number): FinalState {
    return {
      circuits_open: this.circs.size,
      circuits_by_state: tally(this.circs.values()),
      streams_open: this.streams.size,
      streams_by_status: tally([...this.streams.values()].map((s) => s.status)),
      orconns_open: this.orconns.size,
      addrmap_hosts: this.addr.size,
      routers,
    };
  }
}

/**
 * The expected final state for a whole event list (see {@link ExpectedState}).
 * @param initial the initial `circuit-status` and `stream-status` lines
 * @param events the `650` lines (without CRLF)
 * @param routers the number of routers in ns/all
 * @throws Error on the first inconsistent event
 */
export function replayExpected(
  initial: { circuitStatus: readonly string[]; streamStatus: readonly string[] },
  events: readonly string[],
  routers: number,
): FinalState {
  const st = new ExpectedState(initial);
  for (const l of events) st.apply(l);
  return st.final(routers);
}

/** The first `n` space-separated words of `line` (fewer if the line is shorter). */
function firstWords(line: string, n: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (out.length < n) {
    const sp = line.indexOf(' ', start);
    if (sp === -1) {
      out.push(line.slice(start));
      break;
    }
    out.push(line.slice(start, sp));
    start = sp + 1;
  }
  return out;
}

function tally(items: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of [...items].sort()) out[x] = (out[x] ?? 0) + 1;
  return out;
}

// ---------------------------------------------------------------------------------------------
// entry points

/**
 * Builds the whole corpus in memory. Same options, same bytes.
 * @example const { files, meta } = generateCorpus({ seed: 1, routers: 100, events: 1000 });
 */
export function generateCorpus(opts: CorpusOptions = {}): Corpus {
  const o = { ...DEFAULTS, ...opts };
  if (!Number.isInteger(o.routers) || o.routers < 50) throw new RangeError('routers must be an integer >= 50');
  if (!Number.isInteger(o.events) || o.events < 1) throw new RangeError('events must be a positive integer');
  const baseTs = parseBaseTime(o.baseTime);
  const root = new Prng(o.seed);
  const routers = makeRouters(new Prng(root.u32()), o.routers, baseTs);
  const sim = new ClientSim(new Prng(root.u32()), routers, baseTs, o.events);
  const snap = sim.run(o.warmupSeconds);
  if (sim.emitted < o.events) throw new Error(`simulation ended early: ${sim.emitted} events`);

  const body = (lines: readonly string[]): Buffer => Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1');
  const files = new Map<string, Buffer>();
  files.set('ns_all.txt', Buffer.from(routers.map(nsEntry).join(''), 'latin1'));
  files.set('circuit_status.txt', body(snap.circuitStatus));
  files.set('stream_status.txt', body(snap.streamStatus));
  files.set('orconn_status.txt', body(snap.orconnStatus));
  files.set('address_mappings.txt', body(snap.addressMappings));
  files.set('entry_guards.txt', body(snap.entryGuards));
  files.set('events.txt', sim.eventBytes());
  files.set('countries.json', Buffer.from(JSON.stringify(countryMap(routers))));

  const all = createHash('sha256');
  const bytes: Record<string, number> = {};
  for (const name of CORPUS_FILES) {
    const b = files.get(name)!;
    bytes[name] = b.length;
    all.update(`${name}\0${b.length}\0`).update(b);
  }
  const flagCounts: Record<string, number> = {};
  for (const r of routers) for (const f of r.flags) flagCounts[f] = (flagCounts[f] ?? 0) + 1;
  const meta: CorpusMeta = {
    generator: GENERATOR,
    seed: o.seed,
    routers: o.routers,
    events: sim.emitted,
    warmup_s: o.warmupSeconds,
    base_time: o.baseTime,
    base_ts: baseTs,
    simulated_seconds: Math.round((sim.now - o.warmupSeconds) * 1000) / 1000,
    event_counts: Object.fromEntries(Object.entries(sim.counts).sort()),
    bytes,
    sha256_events: createHash('sha256').update(files.get('events.txt')!).digest('hex'),
    sha256_corpus: all.digest('hex'),
    flag_counts: Object.fromEntries(Object.entries(flagCounts).sort()),
    initial: {
      circuits: snap.circuitStatus.length,
      streams: snap.streamStatus.length,
      orconns: snap.orconnStatus.length,
      addrmap: snap.addressMappings.length,
    },
    final: sim.checker!.final(routers.length),
    end_marker: END_MARKER,
  };
  return { files, meta };
}

/** Writes a corpus into `dir` (created if needed), meta.json last. */
export function writeCorpus(dir: string, corpus: Corpus): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of corpus.files) writeFileSync(path.join(dir, name), data);
  writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(corpus.meta, null, 2) + '\n');
}

/** bench/corpus in the source tree (this file runs from dist/bench/). */
export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../bench/corpus/', import.meta.url));

function parseArgs(argv: string[]): { out: string; opts: CorpusOptions } {
  const opts: CorpusOptions = {};
  let out = DEFAULT_CORPUS_DIR;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '-o' || a === '--out') out = path.resolve(val());
    else if (a === '-N' || a === '--routers') opts.routers = Number(val());
    else if (a === '-M' || a === '--events') opts.events = Number(val());
    else if (a === '--seed') opts.seed = Number(val());
    else if (a === '--warmup') opts.warmupSeconds = Number(val());
    else if (a === '--base-time') opts.baseTime = val();
    else throw new Error(`unknown argument ${a} (try -o DIR -N ROUTERS -M EVENTS --seed S)`);
  }
  return { out, opts };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { out, opts } = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const corpus = generateCorpus(opts);
  const c1 = process.cpuUsage(c0);
  const t1 = performance.now();
  writeCorpus(out, corpus);
  const t2 = performance.now();
  const m = corpus.meta;
  console.log(
    JSON.stringify(
      {
        dir: out,
        generate_s: +((t1 - t0) / 1000).toFixed(3),
        generate_cpu_s: +((c1.user + c1.system) / 1e6).toFixed(3),
        write_s: +((t2 - t1) / 1000).toFixed(3),
        events: m.events,
        simulated_seconds: m.simulated_seconds,
        event_counts: m.event_counts,
        bytes: m.bytes,
        initial: m.initial,
        final: m.final,
        sha256_events: m.sha256_events,
        sha256_corpus: m.sha256_corpus,
      },
      null,
      1,
    ),
  );
}
