import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assertWellFormed,
  cuts,
  feed,
  hostileStream,
  maxLine,
  split,
  validStream,
} from '../support/reply-stream-model.js';

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
