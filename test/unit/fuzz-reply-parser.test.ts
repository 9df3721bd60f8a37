import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser } from '../../src/control/reply-parser.js';
import type { ControlReply, ReplyLine } from '../../src/control/reply.js';
import { TorProtocolError } from '../../src/errors.js';

/**
 * Property tests of the control-port reply parser against hostile byte streams.
 *
 * Valid streams come from a model: random replies and events (multi-line, data blocks with
 * dot-stuffing, events interleaved with the lines of a reply, CRLF or bare LF), so the parser's
 * output can be compared with what was encoded. Invalid streams are those valid streams mutated
 * (bytes inserted, deleted, duplicated, status codes broken, data-block terminators dropped, two
 * streams spliced, over-long lines), fed in random chunks.
 *
 * CI budget: 20,000 cases in all (see RUNS); bench/fuzz-long.ts runs the long version.
 */

const RUNS = {
  model: 5_000,
  chunking: 5_000,
  randomBytes: 4_000,
  mutated: 5_800,
  huge: 200,
} as const;

// ------------------------------------------------------------------ the model

/** One message as the parser should deliver it. */
type Message = ControlReply;

/** A piece of wire that must stay whole: a line, or a `+` line with its data block and ".". */
type Unit = Buffer;

/** Characters of reply text: anything but CR and LF (tor never sends them inside a line). */
const TEXT_CHARS = ['a', 'Z', '0', '9', ' ', '=', '"', '\\', '.', '-', '+', '_', '/', ':', '$', '~', 'ë', '✓', '\t', '\0', '😀'];
const text = (maxLength: number) => fc.string({ unit: fc.constantFrom(...TEXT_CHARS), maxLength });

/** What a string becomes after a UTF-8 round trip (the parser decodes UTF-8). */
const decoded = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

const midLine = fc.oneof(
  fc.record({ separator: fc.constant('-' as const), text: text(30) }),
  fc.record({
    separator: fc.constant('+' as const),
    text: text(20),
    dataLines: fc.array(fc.oneof(text(30), fc.constantFrom('.', '..', '.x', '', '250 OK', '650 BW 1 2', '.\t')), { maxLength: 5 }),
  }),
);

interface MessageSpec {
  status: number;
  mids: Array<{ separator: '-'; text: string } | { separator: '+'; text: string; dataLines: string[] }>;
  last: string;
}

const replySpec: fc.Arbitrary<MessageSpec> = fc.record({
  status: fc.constantFrom(250, 251, 150, 451, 510, 512, 515, 552, 553, 599),
  mids: fc.array(midLine, { maxLength: 4 }),
  last: text(30),
});
const eventSpec: fc.Arbitrary<MessageSpec> = fc.record({
  status: fc.constantFrom(650, 650, 650, 600, 699),
  mids: fc.array(midLine, { maxLength: 3 }),
  last: text(40),
});

/** Wire units and the expected message for one spec; `eols` picks CRLF or a bare LF per line. */
function encode(spec: MessageSpec, eols: () => string): { units: Unit[]; message: Message } {
  const units: Unit[] = [];
  const lines: ReplyLine[] = [];
  for (const mid of spec.mids) {
    let wire = `${spec.status}${mid.separator}${mid.text}${eols()}`;
    if (mid.separator === '+') {
      for (const d of mid.dataLines) wire += (d.startsWith('.') ? '.' + d : d) + eols();
      wire += '.' + eols();
      lines.push({ status: spec.status, separator: '+', text: decoded(mid.text), data: decoded(mid.dataLines.join('\n')) });
    } else {
      lines.push({ status: spec.status, separator: '-', text: decoded(mid.text) });
    }
    units.push(Buffer.from(wire, 'utf8'));
  }
  units.push(Buffer.from(`${spec.status} ${spec.last}${eols()}`, 'utf8'));
  lines.push({ status: spec.status, separator: ' ', text: decoded(spec.last) });
  return { units, message: { status: spec.status, lines } };
}

interface ValidStream {
  bytes: Buffer;
  replies: Message[];
  events: Message[];
}

/**
 * A valid stream: replies in order, events in order, the lines of the two interleaved at random
 * (an event may arrive between the lines of a multi-line reply, and the other way round).
 */
const validStream: fc.Arbitrary<ValidStream> = fc
  .record({
    replies: fc.array(replySpec, { maxLength: 5 }),
    events: fc.array(eventSpec, { maxLength: 5 }),
    merge: fc.array(fc.boolean(), { maxLength: 40 }),
    eolMask: fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
  })
  .map(({ replies, events, merge, eolMask }) => {
    let e = 0;
    const eols = () => (eolMask[e++ % eolMask.length] ? '\r\n' : '\n');
    const r = replies.map((s) => encode(s, eols));
    const v = events.map((s) => encode(s, eols));
    const replyUnits = r.flatMap((x) => x.units);
    const eventUnits = v.flatMap((x) => x.units);
    const out: Buffer[] = [];
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < replyUnits.length || j < eventUnits.length) {
      const takeEvent = j < eventUnits.length && (i >= replyUnits.length || (merge[k++ % Math.max(1, merge.length)] ?? false));
      out.push(takeEvent ? eventUnits[j++]! : replyUnits[i++]!);
    }
    return { bytes: Buffer.concat(out), replies: r.map((x) => x.message), events: v.map((x) => x.message) };
  });

// ------------------------------------------------------------------ feeding

/** Everything the parser did, in order: messages delivered and the error it stopped with. */
interface Run {
  log: Array<{ kind: 'reply' | 'event'; message: Message } | { kind: 'error'; message: string }>;
  replies: Message[];
  events: Message[];
  error: TorProtocolError | null;
}

/** Splits `bytes` at the given cut points (any numbers: taken modulo the length, deduplicated). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p)); // empty chunks included: the parser must accept them
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/**
 * Feeds chunks, asserting the parser's contract on the way: `push` throws nothing but
 * TorProtocolError, throws at most once, and after that ignores everything.
 */
function feed(chunks: readonly Buffer[], maxLineLength?: number): Run {
  const run: Run = { log: [], replies: [], events: [], error: null };
  const parser = new ReplyParser(
    {
      onReply: (r) => {
        assert.equal(run.error, null, 'a reply after the parser failed');
        run.replies.push(r);
        run.log.push({ kind: 'reply', message: r });
      },
      onEvent: (e) => {
        assert.equal(run.error, null, 'an event after the parser failed');
        run.events.push(e);
        run.log.push({ kind: 'event', message: e });
      },
    },
    maxLineLength === undefined ? {} : { maxLineLength },
  );
  for (const chunk of chunks) {
    try {
      parser.push(chunk);
    } catch (err) {
      if (!(err instanceof TorProtocolError)) throw new Error(`push threw a ${describeThrown(err)}, not a TorProtocolError`);
      assert.equal(run.error, null, 'push threw a second time');
      assert.equal(err.code, 'TOR_PROTOCOL_ERROR');
      assert.equal(parser.error, err, 'parser.error is the error it threw');
      run.error = err;
      run.log.push({ kind: 'error', message: err.message });
    }
  }
  if (run.error === null) assert.equal(parser.error, null);
  return run;
}

function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : typeof err;
}

/** The shape every delivered message has, whatever the input was. */
function assertWellFormed(m: Message, kind: 'reply' | 'event'): void {
  assert.ok(Number.isInteger(m.status) && m.status >= 100 && m.status <= 699, `status ${m.status}`);
  assert.equal(m.status >= 600, kind === 'event', `${kind} with status ${m.status}`);
  assert.ok(m.lines.length >= 1);
  m.lines.forEach((line, i) => {
    assert.equal(line.status, m.status, 'every line has the message status');
    assert.equal(typeof line.text, 'string');
    assert.ok(!line.text.includes('\n'), 'no LF inside a line');
    const last = i === m.lines.length - 1;
    assert.equal(line.separator === ' ', last, `separator ${JSON.stringify(line.separator)} at line ${i}`);
    if (line.separator === '+') assert.equal(typeof line.data, 'string', 'a + line carries its data block');
    else assert.equal(line.data, undefined, 'only + lines carry data');
  });
}

// ------------------------------------------------------------------ mutations

const INTERESTING = [0x0d, 0x0a, 0x00, 0x2e, 0x2b, 0x2d, 0x20, 0x32, 0x35, 0x30, 0x36, 0xff, 0xc3, 0xe2, 0x22, 0x5c];

type Mutation = (b: Buffer) => Buffer;

const byte = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // stray bytes: CR, LF, NUL, dots, separators, digits, broken UTF-8
  fc.tuple(fc.nat(), fc.array(byte, { minLength: 1, maxLength: 6 })).map(
    ([at, bytes]): Mutation => (b) => {
      const p = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, p), Buffer.from(bytes), b.subarray(p)]);
    },
  ),
  // a range deleted (lines glued, a terminator or line end lost)
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 12 })).map(
    ([at, n]): Mutation => (b) => {
      const p = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, p), b.subarray(p + n)]);
    },
  ),
  // a range duplicated (a reply nobody asked for, a line twice)
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(
    ([at, n]): Mutation => (b) => {
      const p = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, p + n), b.subarray(p)]);
    },
  ),
  // a status code made bad: letters, 0xx, 7xx, 9xx, a short line
  fc.tuple(fc.nat(), fc.constantFrom('abc', '000', '750', '999', '2', '25', '2x0', '-50', '   ', '\0\0\0')).map(
    ([which, code]): Mutation => (b) => {
      const starts = lineStarts(b);
      const s = starts[which % starts.length]!;
      return Buffer.concat([b.subarray(0, s), Buffer.from(code), b.subarray(Math.min(b.length, s + 3))]);
    },
  ),
  // a data block left unterminated: its "." line removed
  fc.nat().map(
    (which): Mutation => (b) => {
      const dots = [...b.toString('latin1').matchAll(/(^|\n)\.\r?\n/g)].map((m) => m.index! + m[1]!.length);
      if (dots.length === 0) return b;
      const at = dots[which % dots.length]!;
      const end = b.indexOf(0x0a, at) + 1;
      return Buffer.concat([b.subarray(0, at), b.subarray(end)]);
    },
  ),
  // cut short
  fc.nat().map((at): Mutation => (b) => b.subarray(0, at % (b.length + 1))),
  // a long run without a line end
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 700 }), fc.constantFrom(0x78, 0x2e, 0x0d)).map(
    ([at, n, fill]): Mutation => (b) => {
      const p = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, p), Buffer.alloc(n, fill), b.subarray(p)]);
    },
  ),
);

function lineStarts(b: Buffer): number[] {
  const starts = [0];
  for (let i = b.indexOf(0x0a); i !== -1 && i + 1 < b.length; i = b.indexOf(0x0a, i + 1)) starts.push(i + 1);
  return starts;
}

/** Valid streams made invalid: mutated, or two streams spliced at random points. */
const hostileStream: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(validStream, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([s, ms]) => ms.reduce((b, m) => m(b), s.bytes)) },
  {
    weight: 1,
    arbitrary: fc.tuple(validStream, validStream, fc.nat(), fc.nat()).map(([a, b, i, j]) =>
      Buffer.concat([a.bytes.subarray(0, i % (a.bytes.length + 1)), b.bytes.subarray(j % (b.bytes.length + 1))]),
    ),
  },
);

const cuts = fc.array(fc.nat(), { maxLength: 24 });
const maxLine = fc.option(fc.integer({ min: 8, max: 300 }), { nil: undefined });

// ------------------------------------------------------------------ properties

describe('ReplyParser fuzz', function () {
  // Bounded runs take a few seconds; the margin is for loaded CI machines, not for slowness.
  this.timeout(60_000);
  it(`delivers exactly the encoded replies and events of a valid stream (${RUNS.model} streams, random chunks)`, () => {
    fc.assert(
      fc.property(validStream, cuts, (stream, at) => {
        const run = feed(split(stream.bytes, at));
        assert.equal(run.error, null, `valid stream refused: ${run.error?.message}`);
        assert.deepEqual(run.replies, stream.replies);
        assert.deepEqual(run.events, stream.events);
      }),
      { numRuns: RUNS.model },
    );
  });

  it(`gives the same result for any split of a valid stream as for the whole (${RUNS.chunking} streams)`, () => {
    fc.assert(
      fc.property(validStream, cuts, fc.boolean(), (stream, at, byteByByte) => {
        const whole = feed([stream.bytes]);
        const chunks = byteByByte ? [...stream.bytes].map((b) => Buffer.from([b])) : split(stream.bytes, at);
        assert.deepEqual(feed(chunks).log, whole.log);
      }),
      { numRuns: RUNS.chunking },
    );
  });

  it(`never throws anything but TorProtocolError on random bytes, and delivers only well-formed messages (${RUNS.randomBytes} streams)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, maxLine, (bytes, at, max) => {
        const run = feed(split(Buffer.from(bytes), at), max);
        for (const r of run.replies) assertWellFormed(r, 'reply');
        for (const e of run.events) assertWellFormed(e, 'event');
      }),
      { numRuns: RUNS.randomBytes },
    );
  });

  it(`survives mutated and spliced streams: typed error or well-formed messages, the same for any split (${RUNS.mutated} streams)`, () => {
    let failed = 0;
    fc.assert(
      fc.property(hostileStream, cuts, maxLine, (bytes, at, max) => {
        const whole = feed([bytes], max);
        const chunked = feed(split(bytes, at), max);
        for (const r of whole.replies) assertWellFormed(r, 'reply');
        for (const e of whole.events) assertWellFormed(e, 'event');
        assert.deepEqual(chunked.log, whole.log, 'chunking changed the outcome');
        if (whole.error) failed++;
      }),
      { numRuns: RUNS.mutated },
    );
    // Both outcomes must be exercised for the property to mean something.
    assert.ok(failed > RUNS.mutated / 10, `only ${failed} mutated streams were refused`);
    assert.ok(failed < RUNS.mutated * 0.95, `${failed} of ${RUNS.mutated} mutated streams were refused`);
  });

  // Found by the chunking property: a line of exactly maxLineLength bytes was refused when a chunk
  // ended between its CR and LF (the CR was counted as part of the line), and accepted otherwise.
  it('accepts a line of exactly maxLineLength bytes whose CR and LF arrive in different chunks', () => {
    const max = 14;
    const line = '250-' + 'x'.repeat(max - 4);
    const reply = Buffer.from(`${line}\r\n250 OK\r\n`);
    const inData = Buffer.from(`250+k=\r\n${'d'.repeat(max)}\r\n.\r\n250 OK\r\n`);
    for (const bytes of [reply, inData]) {
      const cr = bytes.indexOf('\r\n', bytes.indexOf('\r\n') + (bytes === inData ? 1 : 0));
      const whole = feed([bytes], max);
      assert.equal(whole.error, null);
      assert.deepEqual(feed([bytes.subarray(0, cr + 1), bytes.subarray(cr + 1)], max).log, whole.log);
    }
    // One byte more is still refused, however it is split.
    const long = Buffer.from(`250-${'x'.repeat(max - 3)}\r\n250 OK\r\n`);
    assert.ok(feed([long], max).error);
    assert.ok(feed([long.subarray(0, max + 2), long.subarray(max + 2)], max).error);
  });

  it(`refuses a line over the default limit (256 KiB) however it is chunked, and keeps nothing of it (${RUNS.huge} cases)`, () => {
    const limit = 256 * 1024;
    fc.assert(
      fc.property(
        validStream,
        fc.integer({ min: 1, max: 4096 }),
        fc.constantFrom('250 ', '250-', '650 ', '250+k=\r\n', ''),
        fc.integer({ min: 16 * 1024, max: 128 * 1024 }),
        (stream, excess, head, chunkSize) => {
          const huge = Buffer.concat([stream.bytes, Buffer.from(head), Buffer.alloc(limit + excess, 0x41), Buffer.from('\r\n250 OK\r\n')]);
          const chunks: Buffer[] = [];
          for (let i = 0; i < huge.length; i += chunkSize) chunks.push(huge.subarray(i, i + chunkSize));
          const run = feed(chunks);
          assert.ok(run.error, 'the huge line was accepted');
          assert.match(run.error.message, /longer than 262144 bytes/);
          assert.deepEqual(run.replies.slice(0, stream.replies.length), stream.replies);
        },
      ),
      { numRuns: RUNS.huge },
    );
  });
});
