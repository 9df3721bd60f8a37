import { isAscii } from 'node:buffer';
import { TorProtocolError } from '../errors.js';
import type { ControlReply, ReplyLine } from './reply.js';

/** What the parser hands back, in wire order. */
export interface ReplySink {
  /** A complete reply to a command (status 1xx-5xx). */
  onReply(reply: ControlReply): void;
  /** A complete asynchronous event (status 6xx). */
  onEvent(event: ControlReply): void;
  /**
   * Optional fast path for the most common event form, one `650 ` line: receives the text after
   * `650 ` and no reply object is built. Sinks without it get such events through `onEvent`.
   * The text is a string of its own (decoded from that line alone), so it may be kept as it is.
   */
  onEventLine?(text: string): void;
}

/** Options of {@link ReplyParser}. */
export interface ReplyParserOptions {
  /**
   * Longest line accepted, in bytes, CRLF excluded. Tor's own lines are far shorter; the bound keeps
   * a broken or hostile peer from growing our buffer without limit.
   * @default 262144
   */
  maxLineLength?: number;
}

const DEFAULTS = { maxLineLength: 256 * 1024 } as const;

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const SP = 0x20;
/** Largest scratch buffer a parser keeps between data blocks. */
const SCRATCH_KEEP = 256 * 1024;
/** LF followed by ".": where a data-block line starting with "." begins. */
const LF_DOT = Buffer.from('\n.', 'latin1');

/** One reply being assembled; events and command replies are assembled apart (see below). */
interface Pending {
  lines: ReplyLine[];
  /**
   * The data block read so far, while reading the block of this reply's last `+` line: its lines
   * as text, line ends "\n" (one piece per run of lines, i.e. about one per chunk for a big block
   * like ns/all), joined once when the block ends. Each piece is one flat string: a rope of line
   * pieces (what `replaceAll` builds) would be tens of thousands of small objects for the garbage
   * collector to copy and promote, and slow to read.
   */
  pieces: string[] | null;
}

/**
 * The control protocol's byte stream to replies, as a push parser (control-spec 2.3 and 2.4).
 *
 * Bytes are split at LF (a bare LF is tolerated: tor itself sends CRLF) and each line is classified
 * by its status and separator. Lines whose status starts with 6 belong to an asynchronous event.
 * Events and replies are assembled in separate slots, so an event that arrives between the lines of
 * a multi-line reply, or a reply line between an event's lines, is still attributed correctly; inside
 * a data block every line up to the lone "." is data, whatever it looks like.
 *
 * The parser never throws out of `push` for any input other than through `TorProtocolError`, after
 * which it is dead: further input is ignored, because once framing is lost nothing after can be
 * trusted to belong to the right command.
 */
export class ReplyParser {
  private readonly sink: ReplySink;
  private readonly maxLineLength: number;
  /** Bytes of an incomplete line carried over to the next chunk (a copy: see `push`). */
  private carry: Buffer | null = null;
  private reply: Pending | null = null;
  private event: Pending | null = null;
  /** The slot whose data block is being read, if any. */
  private inData: Pending | null = null;
  private failed: TorProtocolError | null = null;
  /** Reused for turning data-block runs into text (see `latin1Lines`). */
  private scratch: Buffer | null = null;
  /** Whether the chunk being read is all ASCII (see `scan`). */
  private latin1 = false;
  /** The sink's one-line event handler, bound once; null when it has none. */
  private readonly onEventLine: ((text: string) => void) | null;

  constructor(sink: ReplySink, options: ReplyParserOptions = {}) {
    this.sink = sink;
    this.onEventLine = sink.onEventLine ? sink.onEventLine.bind(sink) : null;
    this.maxLineLength = options.maxLineLength ?? DEFAULTS.maxLineLength;
  }

  /** The error that stopped this parser, if any. */
  get error(): TorProtocolError | null {
    return this.failed;
  }

  /** True while a reply, event or data block is only partly received. */
  get midReply(): boolean {
    return this.reply !== null || this.event !== null || this.inData !== null || this.carry !== null;
  }

  /**
   * Feeds bytes from the socket. `chunk` is only read during the call (the caller may reuse its
   * memory for the next read): what the parser keeps, an incomplete last line say, it copies.
   * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) on malformed input; the parser is then dead.
   */
  push(chunk: Buffer): void {
    if (this.failed) return;
    try {
      let start = 0;
      const carry = this.carry;
      if (carry !== null) {
        this.carry = null;
        const lf = chunk.indexOf(LF);
        if (lf === -1) {
          this.scan(Buffer.concat([carry, chunk]), 0);
          return;
        }
        // Complete the carried line with the head of the chunk; the rest is read in place (no
        // copy of the whole chunk just to prepend a few bytes).
        this.scan(Buffer.concat([carry, chunk.subarray(0, lf + 1)]), 0);
        start = lf + 1;
      }
      this.scan(chunk, start);
    } catch (err) {
      if (err instanceof TorProtocolError) {
        this.failed = err;
        this.carry = null;
      }
      throw err;
    }
  }

  /** Reads the lines of `buf[start..]`; an incomplete last line is carried over. */
  private scan(buf: Buffer, start: number): void {
    const len = buf.length;
    // Tor's lines are ASCII; a chunk that is all ASCII is decoded as Latin-1 (the same text, and
    // cheaper than UTF-8 decoding), any other chunk as UTF-8.
    this.latin1 = isAscii(buf);
    while (start < len) {
      if (this.inData !== null) {
        start = this.dataLines(this.inData, buf, start, len);
        continue;
      }
      const lf = buf.indexOf(LF, start);
      if (lf === -1) {
        // A CR at the end of the chunk is the line end's, not the line's: the LF may be in the next chunk.
        if (len - start - (buf[len - 1] === CR ? 1 : 0) > this.maxLineLength) {
          throw new TorProtocolError(`line longer than ${this.maxLineLength} bytes`);
        }
        this.carry = Buffer.from(buf.subarray(start));
        return;
      }
      const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      if (end - start > this.maxLineLength) {
        throw new TorProtocolError(`line longer than ${this.maxLineLength} bytes`);
      }
      this.line(buf, start, end);
      start = lf + 1;
    }
  }

  /**
   * `buf[start, end)` as text, a flat string of its own, decoded from that line alone: whoever
   * keeps it (a reply, or the live state an event's text) keeps only the line, not the socket read
   * it came in, and needs no copy.
   */
  private decode(buf: Buffer, start: number, end: number): string {
    return buf.toString(this.latin1 ? 'latin1' : 'utf8', start, end);
  }

  /**
   * Reads data-block lines from `buf[start..]`. Runs of plain lines are decoded with one toString
   * per run (per chunk, for a big block like ns/all) instead of one per line; only lines starting
   * with "." (the terminator, or dot-stuffed text) are looked at one by one.
   * @returns where line parsing continues: after the terminating ".", or `len` (rest carried over)
   */
  private dataLines(slot: Pending, buf: Buffer, start: number, len: number): number {
    const max = this.maxLineLength;
    let run = start;
    let pos = start;
    // Lines starting before this index are known not to start with ".".
    let plainUntil = -1;
    for (;;) {
      if (pos >= plainUntil && pos < len && buf[pos] !== DOT) {
        // Everything up to the next line that starts with "." is plain data, found with one search
        // (not one per line: a consensus is tens of thousands of lines). A stretch no longer than
        // maxLineLength cannot hold a line over the limit; a longer one is checked line by line.
        const dot = buf.indexOf(LF_DOT, pos);
        plainUntil = dot === -1 ? buf.lastIndexOf(LF) + 1 : dot + 1;
        if (plainUntil > pos && plainUntil - pos <= max) {
          pos = plainUntil;
          continue;
        }
      }
      const lf = buf.indexOf(LF, pos);
      if (lf === -1) {
        if (len - pos - (buf[len - 1] === CR ? 1 : 0) > max) {
          throw new TorProtocolError(`line longer than ${max} bytes`);
        }
        if (pos > run) this.appendRun(slot, buf, run, pos);
        if (pos < len) this.carry = Buffer.from(buf.subarray(pos));
        return len;
      }
      const end = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
      if (end - pos > this.maxLineLength) {
        throw new TorProtocolError(`line longer than ${this.maxLineLength} bytes`);
      }
      if (buf[pos] === DOT) {
        if (pos > run) this.appendRun(slot, buf, run, pos);
        // Dot-unstuffing: "." alone ends the block; a leading ".." stands for ".".
        if (end === pos + 1) {
          this.endData(slot);
          return lf + 1;
        }
        this.appendRun(slot, buf, buf[pos + 1] === DOT ? pos + 1 : pos, lf + 1);
        run = lf + 1;
      }
      pos = lf + 1;
    }
  }

  /** Appends the complete lines `buf[a, b)` (b is just past an LF), line ends turned into "\n". */
  private appendRun(slot: Pending, buf: Buffer, a: number, b: number): void {
    const text = this.latin1 ? this.latin1Lines(buf, a, b) : buf.toString('utf8', a, b).split('\r\n').join('\n');
    if (slot.pieces === null) slot.pieces = [text];
    else slot.pieces.push(text);
  }

  /**
   * `buf[a, b)` (ASCII) as text with each CRLF turned into LF, in one pass through a scratch
   * buffer: no string per line, and the bytes are copied once.
   */
  private latin1Lines(buf: Buffer, a: number, b: number): string {
    let out = this.scratch;
    if (out === null || out.length < b - a) out = this.scratch = Buffer.allocUnsafeSlow(Math.max(b - a, 65536));
    const text = out.toString('latin1', 0, copyWithoutCrBeforeLf(buf, a, b, out));
    // A scratch grown by one unusually large chunk is not kept for the connection's lifetime.
    if (out.length > SCRATCH_KEEP) this.scratch = null;
    return text;
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (end - start < 4) {
      throw new TorProtocolError(`malformed reply line ${describe(buf, start, end)}`);
    }
    const status = lineStatus(buf[start]!, buf[start + 1]!, buf[start + 2]!);
    if (status < 0) {
      throw new TorProtocolError(`bad status code in reply line ${describe(buf, start, end)}`);
    }
    const sep = buf[start + 3]!;
    if (sep === SP && status === 650 && this.event === null && this.onEventLine !== null) {
      // The hot path: a one-line event goes straight to the sink, no reply object built.
      this.onEventLine(this.decode(buf, start + 4, end));
      return;
    }
    this.deliver(status, sep, this.decode(buf, start + 4, end), buf, start, end);
  }

  /**
   * Adds one line (`status`, separator code `sep`, `text` after the separator) to its reply or
   * event, and hands the message over when the line completes it. `buf[start, end)` is the whole
   * line, for error messages.
   */
  private deliver(status: number, sep: number, text: string, buf: Buffer, start: number, end: number): void {
    const isEvent = status >= 600;
    let slot = isEvent ? this.event : this.reply;
    if (slot === null && sep === SP) {
      // A one-line event or reply: nothing to assemble.
      const lines: ReplyLine[] = [{ status, separator: ' ', text }];
      if (isEvent) this.sink.onEvent({ status, lines });
      else this.sink.onReply({ status, lines });
      return;
    }
    if (slot === null) {
      slot = { lines: [], pieces: null };
      if (isEvent) this.event = slot;
      else this.reply = slot;
    } else if (isEvent && slot.lines[0]!.status !== status) {
      // A command's reply may mix statuses (MAPADDRESS, control-spec 3.8: one line per mapping,
      // `250-` for those made and `512-` for those refused); an event's lines never do.
      throw new TorProtocolError(
        `status changed from ${slot.lines[0]!.status} to ${status} inside one event`,
      );
    }
    if (sep === SP) {
      slot.lines.push({ status, separator: ' ', text });
      if (isEvent) {
        this.event = null;
        this.sink.onEvent({ status, lines: slot.lines });
      } else {
        this.reply = null;
        this.sink.onReply({ status, lines: slot.lines });
      }
    } else if (sep === 0x2d /* '-' */) {
      slot.lines.push({ status, separator: '-', text });
    } else if (sep === 0x2b /* '+' */) {
      slot.lines.push({ status, separator: '+', text });
      slot.pieces = null;
      this.inData = slot;
    } else {
      throw new TorProtocolError(`bad separator in reply line ${describe(buf, start, end)}`);
    }
  }

  private endData(slot: Pending): void {
    const last = slot.lines[slot.lines.length - 1]!;
    // Every piece ends with a line end; the block's last one is not part of the text.
    const pieces = slot.pieces;
    last.data = pieces === null ? '' : (pieces.length === 1 ? pieces[0]! : pieces.join('')).slice(0, -1);
    slot.pieces = null;
    this.inData = null;
  }
}

/**
 * Copies `buf[a, b)` to the start of `out` leaving out each CR that comes right before an LF.
 * (Its own function so that V8's optimized loop returns at once to the caller, rather than
 * deoptimizing in code after the loop that had not run yet when the loop was optimized.)
 * @returns how many bytes were written
 */
function copyWithoutCrBeforeLf(buf: Buffer, a: number, b: number, out: Buffer): number {
  let w = 0;
  for (let i = a; i < b; i++) {
    const c = buf[i]!;
    if (c !== CR || i + 1 === b || buf[i + 1] !== LF) out[w++] = c;
  }
  return w;
}

/**
 * The status of a line from its first three characters (or bytes), or -1 when they are not a
 * status 100-699.
 */
function lineStatus(c0: number, c1: number, c2: number): number {
  const d0 = c0 - 48;
  const d1 = c1 - 48;
  const d2 = c2 - 48;
  if (d0 < 1 || d0 > 6 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return -1;
  return d0 * 100 + d1 * 10 + d2;
}

/** A short, printable excerpt of a bad line for error messages (control text is never secret). */
function describe(buf: Buffer, start: number, end: number): string {
  const excerpt = buf.toString('utf8', start, Math.min(end, start + 40));
  return JSON.stringify(excerpt + (end - start > 40 ? '…' : ''));
}
