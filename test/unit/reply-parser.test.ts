import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ReplyParser } from '../../src/control/reply-parser.js';
import type { ControlReply } from '../../src/control/reply.js';
import { TorProtocolError } from '../../src/errors.js';

interface Seen {
  replies: ControlReply[];
  events: ControlReply[];
}

/**
 * Pushes `buf` into `parser` in chunks of `chunkSize`. With `reuse`, every chunk is passed in one
 * read buffer that is overwritten with junk after each push, as the control socket does (it reads
 * into one buffer): anything the parser kept without copying would come out as junk.
 */
function feed(parser: ReplyParser, buf: Buffer, chunkSize: number, reuse: boolean): void {
  const readBuffer = Buffer.alloc(Math.min(chunkSize, buf.length));
  for (let i = 0; i < buf.length; i += Math.min(chunkSize, buf.length)) {
    const chunk = buf.subarray(i, Math.min(buf.length, i + chunkSize));
    if (!reuse) {
      parser.push(chunk);
      continue;
    }
    chunk.copy(readBuffer);
    parser.push(readBuffer.subarray(0, chunk.length));
    readBuffer.fill(0x23 /* # */);
  }
}

function parse(input: string | Buffer, chunkSize = Infinity, maxLineLength?: number, reuse = false): Seen & { parser: ReplyParser } {
  const seen: Seen = { replies: [], events: [] };
  const parser = new ReplyParser(
    { onReply: (r) => seen.replies.push(r), onEvent: (e) => seen.events.push(e) },
    maxLineLength ? { maxLineLength } : {},
  );
  feed(parser, typeof input === 'string' ? Buffer.from(input, 'utf8') : input, chunkSize, reuse);
  return { ...seen, parser };
}

describe('ReplyParser', () => {
  const cases: Array<{ name: string; input: string; replies: ControlReply[]; events?: ControlReply[] }> = [
    {
      name: 'a single-line reply',
      input: '250 OK\r\n',
      replies: [{ status: 250, lines: [{ status: 250, separator: ' ', text: 'OK' }] }],
    },
    {
      name: 'a multi-line reply',
      input: '250-version=0.4.9.11\r\n250-net/listeners/socks="127.0.0.1:9050"\r\n250 OK\r\n',
      replies: [
        {
          status: 250,
          lines: [
            { status: 250, separator: '-', text: 'version=0.4.9.11' },
            { status: 250, separator: '-', text: 'net/listeners/socks="127.0.0.1:9050"' },
            { status: 250, separator: ' ', text: 'OK' },
          ],
        },
      ],
    },
    {
      name: 'a data block with dot-unstuffing',
      input: '250+config-text=\r\nSocksPort 9050\r\n..hidden\r\n...\r\n\r\n.\r\n250 OK\r\n',
      replies: [
        {
          status: 250,
          lines: [
            { status: 250, separator: '+', text: 'config-text=', data: 'SocksPort 9050\n.hidden\n..\n' },
            { status: 250, separator: ' ', text: 'OK' },
          ],
        },
      ],
    },
    {
      name: 'an empty data block',
      input: '250+ns/all=\r\n.\r\n250 OK\r\n',
      replies: [
        {
          status: 250,
          lines: [
            { status: 250, separator: '+', text: 'ns/all=', data: '' },
            { status: 250, separator: ' ', text: 'OK' },
          ],
        },
      ],
    },
    {
      name: 'an error reply',
      input: '552 Unrecognized key "nope"\r\n',
      replies: [{ status: 552, lines: [{ status: 552, separator: ' ', text: 'Unrecognized key "nope"' }] }],
    },
    {
      name: 'an event between two replies',
      input: '250 OK\r\n650 BW 10 20\r\n250 OK\r\n',
      replies: [
        { status: 250, lines: [{ status: 250, separator: ' ', text: 'OK' }] },
        { status: 250, lines: [{ status: 250, separator: ' ', text: 'OK' }] },
      ],
      events: [{ status: 650, lines: [{ status: 650, separator: ' ', text: 'BW 10 20' }] }],
    },
    {
      name: 'an event inside a multi-line reply',
      input: '250-a=1\r\n650 BW 1 2\r\n250-b=2\r\n250 OK\r\n',
      replies: [
        {
          status: 250,
          lines: [
            { status: 250, separator: '-', text: 'a=1' },
            { status: 250, separator: '-', text: 'b=2' },
            { status: 250, separator: ' ', text: 'OK' },
          ],
        },
      ],
      events: [{ status: 650, lines: [{ status: 650, separator: ' ', text: 'BW 1 2' }] }],
    },
    {
      name: 'a multi-line event with a data block that looks like replies',
      input: '650+NS\r\nr a b c\r\n250 OK\r\n.\r\n650 OK\r\n',
      replies: [],
      events: [
        {
          status: 650,
          lines: [
            { status: 650, separator: '+', text: 'NS', data: 'r a b c\n250 OK' },
            { status: 650, separator: ' ', text: 'OK' },
          ],
        },
      ],
    },
    {
      // tor 0.4.9.11's answer to `MAPADDRESS ok.example=1.2.3.4 xxx=@@@`, then to the reverse order
      // (control-spec 3.8: a MAPADDRESS reply may mix statuses), with its ADDRMAP event between.
      name: 'replies whose lines mix statuses (MAPADDRESS)',
      input:
        "250-ok.example=1.2.3.4\r\n512 syntax error: invalid address '@@@'\r\n650 ADDRMAP ok.example 1.2.3.4 NEVER CACHED=\"YES\"\r\n" +
        "512-syntax error: invalid address '@@@'\r\n250 127.196.246.254=bogus1.google.com\r\n",
      replies: [
        {
          status: 512,
          lines: [
            { status: 250, separator: '-', text: 'ok.example=1.2.3.4' },
            { status: 512, separator: ' ', text: "syntax error: invalid address '@@@'" },
          ],
        },
        {
          status: 250,
          lines: [
            { status: 512, separator: '-', text: "syntax error: invalid address '@@@'" },
            { status: 250, separator: ' ', text: '127.196.246.254=bogus1.google.com' },
          ],
        },
      ],
      events: [{ status: 650, lines: [{ status: 650, separator: ' ', text: 'ADDRMAP ok.example 1.2.3.4 NEVER CACHED="YES"' }] }],
    },
    {
      name: 'bare LF line endings',
      input: '250-a=1\n250 OK\n',
      replies: [
        {
          status: 250,
          lines: [
            { status: 250, separator: '-', text: 'a=1' },
            { status: 250, separator: ' ', text: 'OK' },
          ],
        },
      ],
    },
    {
      name: 'UTF-8 text',
      input: '250 ContactInfo=Zoë ✓\r\n',
      replies: [{ status: 250, lines: [{ status: 250, separator: ' ', text: 'ContactInfo=Zoë ✓' }] }],
    },
  ];

  for (const c of cases) {
    it(`parses ${c.name}, whole and byte by byte, also from a reused read buffer`, () => {
      for (const reuse of [false, true]) {
        for (const chunk of [Infinity, 1, 3, 7]) {
          const got = parse(c.input, chunk, undefined, reuse);
          assert.deepEqual(got.replies, c.replies, `chunk size ${chunk}${reuse ? ', reused buffer' : ''}`);
          assert.deepEqual(got.events, c.events ?? [], `chunk size ${chunk}${reuse ? ', reused buffer' : ''}`);
          assert.equal(got.parser.midReply, false);
        }
      }
    });
  }

  const bad: Array<{ name: string; input: string }> = [
    { name: 'a short line', input: '25\r\n' },
    { name: 'a non-numeric status', input: 'abc OK\r\n' },
    { name: 'a status out of range', input: '750 OK\r\n' },
    { name: 'a bad separator', input: '250*OK\r\n' },
    { name: 'a status change inside one event', input: '650-a\r\n651 OK\r\n' },
    { name: 'garbage', input: 'HTTP/1.1 200 OK\r\n' },
  ];
  for (const c of bad) {
    it(`rejects ${c.name} with TorProtocolError and then ignores input`, () => {
      const seen: ControlReply[] = [];
      const parser = new ReplyParser({ onReply: (r) => seen.push(r), onEvent: (e) => seen.push(e) });
      assert.throws(() => parser.push(Buffer.from(c.input)), TorProtocolError);
      assert.ok(parser.error instanceof TorProtocolError);
      parser.push(Buffer.from('250 OK\r\n'));
      assert.equal(seen.length, 0);
    });
  }

  it('bounds the line length, also for a line that never ends', () => {
    assert.throws(() => parse('250 ' + 'x'.repeat(2000) + '\r\n', Infinity, 1024), TorProtocolError);
    assert.throws(() => parse('250 ' + 'x'.repeat(2000), 100, 1024), /longer than 1024 bytes/);
    const ok = parse('250 ' + 'x'.repeat(1000) + '\r\n', 100, 1024);
    assert.equal(ok.replies[0]!.lines[0]!.text.length, 1000);
  });

  it('hands one-line events to onEventLine with their exact text, however the bytes are cut', () => {
    // Replies, a data block and multi-line events between one-line events, and lines cut anywhere:
    // each one-line event's text is decoded from its own bytes, wherever the chunk boundaries fall.
    const input =
      '650 CIRC 1 LAUNCHED PURPOSE=GENERAL\r\n' +
      '250-version=0.4.9.11\r\n250 OK\r\n' +
      '650 STREAM 7 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:4444\r\n' +
      '650-CONF_CHANGED\r\n650-SocksPort=9050\r\n650 OK\r\n' +
      '250+ns/all=\r\nr a b c\r\n.\r\n250 OK\r\n' +
      '650 BW 10 20\r\n' +
      '650 NOTICE Zoë ✓\r\n' +
      '650 ADDRMAP x.example 1.2.3.4 NEVER\n';
    const expected = ['CIRC 1 LAUNCHED PURPOSE=GENERAL', 'STREAM 7 NEW 0 example.com:80 SOURCE_ADDR=127.0.0.1:4444', 'BW 10 20', 'NOTICE Zoë ✓', 'ADDRMAP x.example 1.2.3.4 NEVER'];
    const buf = Buffer.from(input, 'utf8');
    for (const chunk of [Infinity, 1, 2, 3, 7, 13, 64]) {
      const lines: string[] = [];
      const order: string[] = [];
      const parser = new ReplyParser({
        onReply: (r) => order.push(`reply ${r.lines[0]!.text}`),
        onEvent: (e) => order.push(`event ${e.lines[0]!.text}`),
        onEventLine: (text) => {
          lines.push(text);
          order.push(`line ${text.slice(0, 4)}`);
        },
      });
      feed(parser, buf, chunk, chunk % 2 === 1);
      assert.deepEqual(lines, expected, `chunk size ${chunk}`);
      assert.deepEqual(
        order,
        ['line CIRC', 'reply version=0.4.9.11', 'line STRE', 'event CONF_CHANGED', 'reply ns/all=', 'line BW 1', 'line NOTI', 'line ADDR'],
        `chunk size ${chunk}`,
      );
      assert.equal(parser.midReply, false);
    }
  });

  it('hands one-line event texts as strings of their own, so keeping one keeps no socket read', () => {
    // The live state keeps event texts as they come: a text sharing memory with its 64 KiB read
    // (a V8 substring of the read's text) would keep the whole read alive with it.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const kept: string[] = [];
    const parser = new ReplyParser({ onReply: () => undefined, onEvent: () => undefined, onEventLine: (text) => kept.push(text) });
    const reads = 200;
    const line = '650 CIRC 1 LAUNCHED PURPOSE=GENERAL\r\n';
    const read = Buffer.alloc(Math.floor(65536 / line.length) * line.length, line);
    gc();
    const before = process.memoryUsage().heapUsed;
    // One text kept per read, the rest dropped: a slice would keep each read's 64 KiB.
    for (let i = 0; i < reads; i++) {
      parser.push(read);
      kept.length = i + 1;
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(kept.length, reads);
    assert.equal(kept[reads - 1], 'CIRC 1 LAUNCHED PURPOSE=GENERAL');
    assert.ok(grown < (reads * 65536) / 8, `the heap grew by ${grown} bytes for ${reads} texts kept from 64 KiB reads`);
  });

  it('reports an incomplete reply as mid-reply', () => {
    assert.equal(parse('250-a=1\r\n').parser.midReply, true);
    assert.equal(parse('250+x=\r\nabc\r\n').parser.midReply, true);
    assert.equal(parse('250 O').parser.midReply, true);
  });
});
