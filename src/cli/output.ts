import type { Writable } from 'node:stream';

/**
 * Where the CLI writes. Commands get an `Output` instead of touching process.stdout, so that tests
 * can capture it and so that progress is drawn only on a terminal.
 */
export interface Output {
  readonly out: Writable;
  readonly err: Writable;
  /** True when stderr is a terminal: progress is then redrawn in place. */
  readonly interactive: boolean;
}

/** The process's stdout and stderr; progress bars only when stderr is a terminal and $CI is unset. */
export function processOutput(): Output {
  return { out: process.stdout, err: process.stderr, interactive: Boolean(process.stderr.isTTY) && !process.env['CI'] };
}

/** Writes `text` and a newline. */
export function println(stream: Writable, text = ''): void {
  stream.write(text + '\n');
}

/**
 * A progress line: on a terminal a bar redrawn in place (`[#####.....] 50% message`), otherwise
 * one plain line per distinct message (`label: 50% message`), so that logs stay readable. The
 * percentage never goes backwards.
 */
export class Progress {
  private lastPlain = '';
  private drawn = false;
  private highest = 0;

  constructor(
    private readonly output: Output,
    private readonly label: string,
  ) {}

  update(percent: number | undefined, message: string): void {
    const pct = percent === undefined ? undefined : Math.max(this.highest, Math.min(100, Math.round(percent)));
    if (pct !== undefined) this.highest = pct;
    if (this.output.interactive) {
      const width = 24;
      const filled = pct === undefined ? 0 : Math.round((pct / 100) * width);
      const bar = pct === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% `;
      // a pty without a size reports 0 columns
      const columns = (this.output.err as NodeJS.WriteStream).columns || 100;
      const line = `${this.label}: ${bar}${message}`.slice(0, columns - 1);
      this.output.err.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const plain = `${this.label}: ${pct === undefined ? '' : `${pct}% `}${message}`;
    if (plain !== this.lastPlain) println(this.output.err, plain);
    this.lastPlain = plain;
  }

  done(message: string): void {
    if (this.output.interactive && this.drawn) this.output.err.write('\r\x1b[2K');
    println(this.output.err, `${this.label}: ${message}`);
  }
}

/**
 * `text` made safe for a terminal: control characters (C0 but line feed and tab, DEL, C1) become
 * `\xHH`. Tor passes on text from others unescaped (a SOCKS client's hostname is a STREAM target,
 * in events and GETINFO stream-status), and an escape sequence in it would recolour the terminal,
 * retitle its window or rewrite what is on screen.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * `value` as one line of JSON for the terminal: JSON.stringify escapes C0 controls but leaves DEL
 * and the C1 controls (U+0080-U+009F, CSI among them) as they are, which a terminal may act on;
 * they are written as \u escapes here, so the line parses to the same value.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
