import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser } from '../../src/control/reply-parser.js';
import type { ControlReply, ReplyLine } from '../../src/control/reply.js';
import { TorProtocolError } from '../../src/errors.js';

/**
 * A model of control-port byte streams for property tests of the reply parser, shared by the CI
 * fuzz test (test/unit/fuzz-reply-parser.test.ts) and the long run (bench/fuzz-long.ts): valid
 * streams built from random replies and events with the messages they must parse to, hostile
 * streams (those mutated and spliced), and a feeder that checks the parser's contract as it goes.
 */

// ------------------------------------------------------------------ the model

/** One message as the parser should deliver it. */
export type Message = ControlReply;

/** A piece of wire that must stay whole: a line, or a `+` line with its data block and ".". */
export type Unit = Buffer;

/** Characters of reply text: anything but CR and LF (tor never sends them inside a line). */
export const TEXT_CHARS = ['a', 'Z', '0', '9', ' ', '=', '"', '\\', '.', '-', '+', '_', '/', ':', '$', '~', 'ë', '✓', '\t', '\0', '😀'];
export const text = (maxLength: number) => fc.string({ unit: fc.constantFrom(...TEXT_CHARS), maxLength });

/** What a string becomes after a UTF-8 round trip (the parser decodes UTF-8). */
export const decoded = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

export const midLine = fc.oneof(
  fc.record({ separator: fc.constant('-' as const), text: text(30) }),
  fc.record({
    separator: fc.constant('+' as const),
    text: text(20),
    dataLines: fc.array(fc.oneof(text(30), fc.constantFrom('.', '..', '.x', '', '250 OK', '650 BW 1 2', '.\t')), { maxLength: 5 }),
  }),
);

export interface MessageSpec {
  status: number;
  mids: Array<{ separator: '-'; text: string } | { separator: '+'; text: string; dataLines: string[] }>;
  last: string;
}

export const replySpec: fc.Arbitrary<MessageSpec> = fc.record({
  status: fc.constantFrom(250, 251, 150, 451, 510, 512, 515, 552, 553, 599),
  mids: fc.array(midLine, { maxLength: 4 }),
  last: text(30),
});
export const eventSpec: fc.Arbitrary<MessageSpec> = fc.record({
  status: fc.constantFrom(650, 650, 650, 600, 699),
  mids: fc.array(midLine, { maxLength: 3 }),
  last: text(40),
});

/** Wire units and the expected message for one spec; `eols` picks CRLF or a bare LF per line. */
export function encode(spec: MessageSpec, eols: () => string): { units: Unit[]; message: Message } {
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

export interface ValidStream {
  bytes: Buffer;
  replies: Message[];
  events: Message[];
}

/**
 * A valid stream: replies in order, events in order, the lines of the two interleaved at random
 * (an event may arrive between the lines of a multi-line reply, and the other way round).
 */
export const validStream: fc.Arbitrary<ValidStream> = fc
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
export interface Run {
  log: Array<{ kind: 'reply' | 'event'; message: Message } | { kind: 'error'; message: string }>;
  replies: Message[];
  events: Message[];
  error: TorProtocolError | null;
}

/** Splits `bytes` at the given cut points (any numbers: taken modulo the length, deduplicated). */
export function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
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
export function feed(chunks: readonly Buffer[], maxLineLength?: number): Run {
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

export function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : typeof err;
}

/** The shape every delivered message has, whatever the input was. */
export function assertWellFormed(m: Message, kind: 'reply' | 'event'): void {
  assert.ok(Number.isInteger(m.status) && m.status >= 100 && m.status <= 699, `status ${m.status}`);
  assert.equal(m.status >= 600, kind === 'event', `${kind} with status ${m.status}`);
  assert.ok(m.lines.length >= 1);
  m.lines.forEach((line, i) => {
    // A command's reply may mix statuses (MAPADDRESS, control-spec 3.8): its message status is its
    // last line's, and none of its lines is an event's. An event's lines all share its status.
    if (kind === 'event' || i === m.lines.length - 1) assert.equal(line.status, m.status, 'the line has the message status');
    else assert.ok(line.status < 600, `reply line with status ${line.status}`);
    assert.equal(typeof line.text, 'string');
    assert.ok(!line.text.includes('\n'), 'no LF inside a line');
    const last = i === m.lines.length - 1;
    assert.equal(line.separator === ' ', last, `separator ${JSON.stringify(line.separator)} at line ${i}`);
    if (line.separator === '+') assert.equal(typeof line.data, 'string', 'a + line carries its data block');
    else assert.equal(line.data, undefined, 'only + lines carry data');
  });
}

// ------------------------------------------------------------------ mutations

export const INTERESTING = [0x0d, 0x0a, 0x00, 0x2e, 0x2b, 0x2d, 0x20, 0x32, 0x35, 0x30, 0x36, 0xff, 0xc3, 0xe2, 0x22, 0x5c];

export type Mutation = (b: Buffer) => Buffer;

export const byte = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
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

export function lineStarts(b: Buffer): number[] {
  const starts = [0];
  for (let i = b.indexOf(0x0a); i !== -1 && i + 1 < b.length; i = b.indexOf(0x0a, i + 1)) starts.push(i + 1);
  return starts;
}

/** Valid streams made invalid: mutated, or two streams spliced at random points. */
export const hostileStream: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(validStream, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([s, ms]) => ms.reduce((b, m) => m(b), s.bytes)) },
  {
    weight: 1,
    arbitrary: fc.tuple(validStream, validStream, fc.nat(), fc.nat()).map(([a, b, i, j]) =>
      Buffer.concat([a.bytes.subarray(0, i % (a.bytes.length + 1)), b.bytes.subarray(j % (b.bytes.length + 1))]),
    ),
  },
);

export const cuts = fc.array(fc.nat(), { maxLength: 24 });
export const maxLine = fc.option(fc.integer({ min: 8, max: 300 }), { nil: undefined });
