/**
 * The long fuzz run: 1,000,000 control-reply parser cases and 100,000 endpoint-grammar cases (the
 * CI runs 20,000 parser cases, test/unit/fuzz-reply-parser.test.ts, and a few thousand grammar
 * cases). Same strategies as the CI properties: streams built from a model of replies and events,
 * fed in random chunks and compared with the model; random bytes; valid streams mutated (stray
 * CR/LF/NUL, deletions, duplications, broken status codes, dropped data-block terminators, long
 * lines) and spliced, where the parser must stop with a TorProtocolError or deliver well-formed
 * messages, the same for any chunking.
 *
 *   node dist/bench/fuzz-long.js [--parser N] [--grammar N] [--seed S]
 *
 * Prints the counts and the time of each property; on a failure prints fast-check's
 * counterexample (with the seed to replay it) and exits 1. No tor, no network.
 */

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser } from '../src/control/reply-parser.js';
import type { ControlReply, ReplyLine } from '../src/control/reply.js';
import { TorError, TorProtocolError } from '../src/errors.js';
import { createDefaultRegistry } from '../src/plugins/index.js';
import type { EndpointRole } from '../src/plugins/plugin-types.js';
import { parseEndpoint, quoteEndpointArgument } from '../src/util/endpoint-grammar.js';
import { parseFlags, si } from './bench-util.js';

// ------------------------------------------------------------------ parser: the model

const TEXT_CHARS = ['a', 'Z', '0', '9', ' ', '=', '"', '\\', '.', '-', '+', '_', '/', ':', '$', '~', 'ë', '✓', '\t', '\0', '😀'];
const text = (maxLength: number) => fc.string({ unit: fc.constantFrom(...TEXT_CHARS), maxLength });
const decoded = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

type Mid = { separator: '-'; text: string } | { separator: '+'; text: string; dataLines: string[] };
interface Spec {
  status: number;
  mids: Mid[];
  last: string;
}

const mid: fc.Arbitrary<Mid> = fc.oneof(
  fc.record({ separator: fc.constant('-' as const), text: text(30) }),
  fc.record({
    separator: fc.constant('+' as const),
    text: text(20),
    dataLines: fc.array(fc.oneof(text(30), fc.constantFrom('.', '..', '.x', '', '250 OK', '650 BW 1 2')), { maxLength: 5 }),
  }),
);
const replySpec = fc.record({ status: fc.constantFrom(250, 251, 150, 451, 510, 552, 553), mids: fc.array(mid, { maxLength: 4 }), last: text(30) });
const eventSpec = fc.record({ status: fc.constantFrom(650, 650, 600, 699), mids: fc.array(mid, { maxLength: 3 }), last: text(40) });

function encode(spec: Spec, eol: () => string): { units: Buffer[]; message: ControlReply } {
  const units: Buffer[] = [];
  const lines: ReplyLine[] = [];
  for (const m of spec.mids) {
    let wire = `${spec.status}${m.separator}${m.text}${eol()}`;
    if (m.separator === '+') {
      for (const d of m.dataLines) wire += (d.startsWith('.') ? '.' + d : d) + eol();
      wire += '.' + eol();
      lines.push({ status: spec.status, separator: '+', text: decoded(m.text), data: decoded(m.dataLines.join('\n')) });
    } else {
      lines.push({ status: spec.status, separator: '-', text: decoded(m.text) });
    }
    units.push(Buffer.from(wire, 'utf8'));
  }
  units.push(Buffer.from(`${spec.status} ${spec.last}${eol()}`, 'utf8'));
  lines.push({ status: spec.status, separator: ' ', text: decoded(spec.last) });
  return { units, message: { status: spec.status, lines } };
}

interface Stream {
  bytes: Buffer;
  replies: ControlReply[];
  events: ControlReply[];
}

const validStream: fc.Arbitrary<Stream> = fc
  .record({
    replies: fc.array(replySpec, { maxLength: 5 }),
    events: fc.array(eventSpec, { maxLength: 5 }),
    merge: fc.array(fc.boolean(), { maxLength: 40 }),
    eolMask: fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
  })
  .map(({ replies, events, merge, eolMask }) => {
    let e = 0;
    const eol = () => (eolMask[e++ % eolMask.length] ? '\r\n' : '\n');
    const r = replies.map((s) => encode(s, eol));
    const v = events.map((s) => encode(s, eol));
    const ru = r.flatMap((x) => x.units);
    const eu = v.flatMap((x) => x.units);
    const out: Buffer[] = [];
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < ru.length || j < eu.length) {
      const takeEvent = j < eu.length && (i >= ru.length || (merge[k++ % Math.max(1, merge.length)] ?? false));
      out.push(takeEvent ? eu[j++]! : ru[i++]!);
    }
    return { bytes: Buffer.concat(out), replies: r.map((x) => x.message), events: v.map((x) => x.message) };
  });

// ------------------------------------------------------------------ parser: mutations and feeding

type Mutation = (b: Buffer) => Buffer;
const INTERESTING = [0x0d, 0x0a, 0x00, 0x2e, 0x2b, 0x2d, 0x20, 0x32, 0x35, 0x30, 0x36, 0xff, 0xc3, 0xe2, 0x22, 0x5c];
const byte = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));
const pos = (at: number, b: Buffer) => at % (b.length + 1);

function lineStarts(b: Buffer): number[] {
  const starts = [0];
  for (let i = b.indexOf(0x0a); i !== -1 && i + 1 < b.length; i = b.indexOf(0x0a, i + 1)) starts.push(i + 1);
  return starts;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.array(byte, { minLength: 1, maxLength: 6 })).map(([at, bytes]): Mutation => (b) => Buffer.concat([b.subarray(0, pos(at, b)), Buffer.from(bytes), b.subarray(pos(at, b))])),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 12 })).map(([at, n]): Mutation => (b) => Buffer.concat([b.subarray(0, pos(at, b)), b.subarray(pos(at, b) + n)])),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, n]): Mutation => (b) => Buffer.concat([b.subarray(0, pos(at, b) + n), b.subarray(pos(at, b))])),
  fc.tuple(fc.nat(), fc.constantFrom('abc', '000', '750', '999', '2', '25', '2x0', '-50', '   ', '\0\0\0')).map(([which, code]): Mutation => (b) => {
    const starts = lineStarts(b);
    const s = starts[which % starts.length]!;
    return Buffer.concat([b.subarray(0, s), Buffer.from(code), b.subarray(Math.min(b.length, s + 3))]);
  }),
  fc.nat().map((which): Mutation => (b) => {
    const dots = [...b.toString('latin1').matchAll(/(^|\n)\.\r?\n/g)].map((m) => m.index! + m[1]!.length);
    if (dots.length === 0) return b;
    const at = dots[which % dots.length]!;
    return Buffer.concat([b.subarray(0, at), b.subarray(b.indexOf(0x0a, at) + 1)]);
  }),
  fc.nat().map((at): Mutation => (b) => b.subarray(0, pos(at, b))),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 700 }), fc.constantFrom(0x78, 0x2e, 0x0d)).map(([at, n, fill]): Mutation => (b) =>
    Buffer.concat([b.subarray(0, pos(at, b)), Buffer.alloc(n, fill), b.subarray(pos(at, b))]),
  ),
);

const hostileStream: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(validStream, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([s, ms]) => ms.reduce((b, m) => m(b), s.bytes)) },
  {
    weight: 1,
    arbitrary: fc.tuple(validStream, validStream, fc.nat(), fc.nat()).map(([a, b, i, j]) => Buffer.concat([a.bytes.subarray(0, pos(i, a.bytes)), b.bytes.subarray(pos(j, b.bytes))])),
  },
);
const cuts = fc.array(fc.nat(), { maxLength: 24 });
const maxLine = fc.option(fc.integer({ min: 8, max: 300 }), { nil: undefined });

function split(bytes: Buffer, at: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

interface Run {
  log: unknown[];
  replies: ControlReply[];
  events: ControlReply[];
  error: TorProtocolError | null;
}

function feed(chunks: readonly Buffer[], maxLineLength?: number): Run {
  const run: Run = { log: [], replies: [], events: [], error: null };
  const parser = new ReplyParser(
    {
      onReply: (r) => {
        assert.equal(run.error, null);
        run.replies.push(r);
        run.log.push(['reply', r]);
      },
      onEvent: (e) => {
        assert.equal(run.error, null);
        run.events.push(e);
        run.log.push(['event', e]);
      },
    },
    maxLineLength === undefined ? {} : { maxLineLength },
  );
  for (const chunk of chunks) {
    try {
      parser.push(chunk);
    } catch (err) {
      if (!(err instanceof TorProtocolError)) throw new Error(`push threw ${String(err)}, not a TorProtocolError`);
      assert.equal(run.error, null, 'threw twice');
      run.error = err;
      run.log.push(['error', err.message]);
    }
  }
  return run;
}

function wellFormed(m: ControlReply, event: boolean): void {
  assert.ok(m.status >= 100 && m.status <= 699);
  assert.equal(m.status >= 600, event);
  assert.ok(m.lines.length >= 1);
  m.lines.forEach((l, i) => {
    assert.equal(l.status, m.status);
    assert.equal(l.separator === ' ', i === m.lines.length - 1);
    assert.equal(l.separator === '+', typeof l.data === 'string');
  });
}

// ------------------------------------------------------------------ grammar

const PREFIXES = ['tcp', 'unix', 'tls', 'tor', 'onion', 'TOR', 'bogus', ''];
const KEYWORDS = ['host', 'port', 'path', 'timeout', 'interface', 'socksPort', 'tls', 'isolate', 'username', 'password', 'control', 'controlPort', 'localPort', 'privateKey', 'clientAuth', 'hiddenServiceDir', 'maxStreams', 'foo'];
const VALUES = ['80', '0', '65536', '-1', '127.0.0.1', '\\:\\:1', '[\\:\\:1]', 'example.com', 'a\r\nb', '\0', '"', '\\\\', 'x=y', '', 'true', 'a,b', 'é', '😀', 'x'.repeat(300)];
const segment = fc.oneof(fc.constantFrom(...VALUES), fc.tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom(...VALUES)).map(([k, v]) => `${k}=${v}`), fc.string({ unit: 'grapheme', maxLength: 10 }));
const nearValid = fc
  .tuple(
    fc.constantFrom('tcp:127.0.0.1:80', 'tcp:8080', 'tcp:[::1]:443', 'tor:example.com:443', 'tor:127.0.0.1:80', 'unix:/tmp/x.sock', 'onion:80', 'tls:127.0.0.1:443'),
    fc.array(fc.tuple(fc.constantFrom('timeout', 'isolate', 'tls', 'socksPort', 'localPort', 'maxStreams'), fc.constantFrom('1', '30', 'true', 'a', '9050')).map(([k, v]) => `${k}=${v}`), { maxLength: 2 }),
  )
  .map(([base, kws]) => [base, ...kws].join(':'));
const endpointString = fc.oneof(
  { weight: 3, arbitrary: nearValid },
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), fc.array(segment, { maxLength: 5 })).map(([p, s]) => [p, ...s].join(':')) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(':', '=', '\\', ...PREFIXES, ...KEYWORDS, ...VALUES), { maxLength: 12 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

// ------------------------------------------------------------------ runner

interface Result {
  name: string;
  runs: number;
  ms: number;
  note: string;
}

function check<Ts extends unknown[]>(name: string, runs: number, seed: number, property: fc.IProperty<Ts>, note: () => string): Result {
  const started = performance.now();
  const details = fc.check(property, { numRuns: runs, seed, endOnFailure: true });
  const ms = performance.now() - started;
  if (details.failed) {
    console.error(`\nFAILED: ${name} after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath})`);
    console.error('counterexample:', fc.stringify(details.counterexample));
    console.error(details.errorInstance);
    process.exit(1);
  }
  const r = { name, runs, ms, note: note() };
  console.log(`${name.padEnd(44)} ${si(runs).padStart(8)} cases ${(ms / 1000).toFixed(1).padStart(7)} s ${si((runs * 1000) / ms).padStart(8)}/s  ${r.note}`);
  return r;
}

function main(): void {
  const flags = parseFlags(process.argv.slice(2), ['parser', 'grammar', 'seed'], []);
  const parserRuns = Number(flags.get('parser') ?? 1_000_000);
  const grammarRuns = Number(flags.get('grammar') ?? 100_000);
  const seed = Number(flags.get('seed') ?? Date.now() % 2 ** 31);
  console.log(`fuzz-long: ${si(parserRuns)} parser cases, ${si(grammarRuns)} grammar cases, seed ${seed}`);
  const share = (f: number) => Math.round(parserRuns * f);
  const results: Result[] = [];

  results.push(
    check('parser: valid streams = the model', share(0.25), seed, fc.property(validStream, cuts, (s, at) => {
      const run = feed(split(s.bytes, at));
      assert.equal(run.error, null);
      assert.deepEqual(run.replies, s.replies);
      assert.deepEqual(run.events, s.events);
    }), () => ''),
  );
  results.push(
    check('parser: any split = whole', share(0.25), seed + 1, fc.property(validStream, cuts, (s, at) => {
      assert.deepEqual(feed(split(s.bytes, at)).log, feed([s.bytes]).log);
    }), () => ''),
  );
  results.push(
    check('parser: random bytes', share(0.2), seed + 2, fc.property(fc.uint8Array({ maxLength: 300 }), cuts, maxLine, (b, at, max) => {
      const run = feed(split(Buffer.from(b), at), max);
      for (const r of run.replies) wellFormed(r, false);
      for (const e of run.events) wellFormed(e, true);
    }), () => ''),
  );
  let refused = 0;
  results.push(
    check('parser: mutated and spliced streams', parserRuns - share(0.25) * 2 - share(0.2), seed + 3, fc.property(hostileStream, cuts, maxLine, (b, at, max) => {
      const whole = feed([b], max);
      for (const r of whole.replies) wellFormed(r, false);
      for (const e of whole.events) wellFormed(e, true);
      assert.deepEqual(feed(split(b, at), max).log, whole.log);
      if (whole.error) refused++;
    }), () => `${si(refused)} refused with TorProtocolError`),
  );

  const registry = createDefaultRegistry();
  let valid = 0;
  results.push(
    check('grammar: parse + validate, typed errors only', grammarRuns, seed + 4, fc.property(endpointString, fc.constantFrom<EndpointRole>('client', 'server'), (s, role) => {
      try {
        const endpoint = parseEndpoint(s);
        registry.get(endpoint.prefix, role).validate?.(endpoint, role);
        valid++;
        assert.ok(!/[\r\n\0]/.test(s), 'CR/LF/NUL accepted');
      } catch (err) {
        if (!(err instanceof TorError)) throw err;
      }
    }), () => `${si(valid)} valid`),
  );
  results.push(
    check('grammar: quoteEndpointArgument round trip', grammarRuns, seed + 5, fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (v) => {
      const parsed = parseEndpoint(`tcp:host=${quoteEndpointArgument(v)}:port=80`);
      assert.equal(parsed.options['host'], v);
    }), () => ''),
  );

  const total = results.reduce((n, r) => n + r.runs, 0);
  const ms = results.reduce((n, r) => n + r.ms, 0);
  console.log(`total ${si(total)} cases in ${(ms / 1000).toFixed(1)} s: no failure`);
}

main();
