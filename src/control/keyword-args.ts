/**
 * Tokenizer for control-protocol argument text (control-spec 2.1, 4.1): space-separated positional
 * arguments followed by `KEY=VALUE` or `KEY="QuotedString"` pairs.
 *
 * Tor writes most of its quoted strings as C strings (control-spec 2.1.1: `\n`, `\t`, `\r` and octal
 * escapes), so unquoting follows the compatible rule the spec recommends: those escapes are C escapes,
 * and a backslash before any other character stands for that character.
 *
 * Everything here is pure and allocation-light because the event parsers call it for every event
 * (see bench/event-parse.ts). The only error any function throws is {@link TorProtocolError}
 * (code `TOR_PROTOCOL_ERROR`) for malformed quoting:
 * - a quoted string without its closing quote (this includes one ending in a lone backslash);
 * - a closing quote followed by anything but a space or the end of the text.
 */

import { TorProtocolError } from '../errors.js';

const SP = 32;
const DQUOTE = 34;
const BACKSLASH = 92;
const EQUALS = 61;

/** Positional arguments and keyword arguments of one argument text. */
export interface KeywordArgs {
  /** Positional arguments in order, quoted ones unquoted. */
  positional: string[];
  /** `KEY=VALUE` pairs, values unquoted. A repeated key keeps its last value. */
  keywords: Record<string, string>;
}

/** True for the characters a keyword may consist of: ALNUM, `_` and `-`. */
function isKeyChar(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    (c >= 48 && c <= 57) || // 0-9
    c === 95 || // _
    c === 45 // -
  );
}

/**
 * Whether `text` has `part` at index `pos`. Used instead of `text.startsWith(part, pos)` because V8
 * handles `startsWith` on sliced strings (which is what cutting fields out of a line produces)
 * in a slow runtime path, while `indexOf` works on them directly; on a mismatch `indexOf`
 * scans on, which only costs on the rare misses of the event parsers.
 *
 * @param text - the text to look in
 * @param pos - where `part` must start
 * @param part - the expected characters
 */
export function startsAt(text: string, pos: number, part: string): boolean {
  return text.indexOf(part, pos) === pos;
}

/**
 * Index of the first character at or after `pos` that is not a space.
 *
 * @param text - the argument text
 * @param pos - where to start
 * @returns an index in `[pos, text.length]`
 */
export function skipSpaces(text: string, pos: number): number {
  const len = text.length;
  while (pos < len && text.charCodeAt(pos) === SP) pos++;
  return pos;
}

/**
 * Index of the closing quote of the QuotedString whose opening quote is at `open`.
 *
 * @param text - the argument text
 * @param open - index of the opening `"`
 * @returns the index of the matching unescaped `"`
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the string is not terminated
 */
export function findClosingQuote(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q === -1) throw new TorProtocolError(`unterminated quoted string at position ${open}`);
    // A quote is escaped when an odd run of backslashes precedes it.
    let b = q - 1;
    while (b > open && text.charCodeAt(b) === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q;
    from = q + 1;
  }
}

/**
 * Index just past the token starting at `pos` (a space or the end of the text). A token is a bare
 * word, a QuotedString, or `KEY=` followed by a QuotedString (spaces inside quotes do not end it).
 *
 * @param text - the argument text
 * @param pos - the token's first character (not a space)
 * @returns the index of the space that ends the token, or `text.length`
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function findTokenEnd(text: string, pos: number): number {
  let sp = text.indexOf(' ', pos);
  if (sp === -1) sp = text.length;
  let open = -1;
  const c = text.charCodeAt(pos);
  if (c === DQUOTE) {
    open = pos;
  } else {
    const eq = text.indexOf('=', pos);
    // Only the first `=` of a token separates key and value; a quote right after it opens a
    // QuotedString value. Anything else is a bare value and may itself contain `=` or `"`.
    if (eq !== -1 && eq < sp && text.charCodeAt(eq + 1) === DQUOTE) open = eq + 1;
  }
  if (open === -1) return sp;
  const close = findClosingQuote(text, open);
  const after = close + 1;
  if (after < text.length && text.charCodeAt(after) !== SP) {
    throw new TorProtocolError(`unexpected character after quoted string at position ${after}`);
  }
  return after;
}

/**
 * The value of the text between `start` and `end`: when it is a QuotedString (starts with `"`), the
 * unquoted content, otherwise the text itself.
 *
 * @param text - the argument text
 * @param start - first character of the value
 * @param end - index just past the value
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a quoted value without its closing quote
 */
export function valueAt(text: string, start: number, end: number): string {
  if (start < end && text.charCodeAt(start) === DQUOTE) {
    const close = end - 1;
    if (close <= start || text.charCodeAt(close) !== DQUOTE) {
      throw new TorProtocolError(`unterminated quoted string at position ${start}`);
    }
    const bs = text.indexOf('\\', start + 1);
    if (bs === -1 || bs >= close) return text.slice(start + 1, close);
    return unescapeRange(text, start + 1, close);
  }
  return text.slice(start, end);
}

/**
 * Unescapes the content of a quoted string (without its quotes) in `text[start, end)`.
 * `\n`, `\t`, `\r` are C escapes; `\0`..`\377` are octal byte escapes (a run of them is decoded as
 * UTF-8 when it is valid UTF-8, else byte by byte as Latin-1, since tor escapes each byte of non-ASCII
 * text separately); a backslash before any other character stands for that character.
 *
 * @param text - the text holding the quoted content
 * @param start - first content character (after the opening quote)
 * @param end - index of the closing quote
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when the content ends with a lone backslash
 */
export function unescapeRange(text: string, start: number, end: number): string {
  let out = '';
  let chunk = start;
  let i = start;
  while (i < end) {
    if (text.charCodeAt(i) !== BACKSLASH) {
      i++;
      continue;
    }
    if (i + 1 >= end) throw new TorProtocolError(`dangling backslash in quoted string at position ${i}`);
    out += text.slice(chunk, i);
    const e = text.charCodeAt(i + 1);
    if (e >= 48 && e <= 55) {
      // A run of octal escapes: collect the bytes, then decode them together.
      const bytes: number[] = [];
      while (i + 1 < end && text.charCodeAt(i) === BACKSLASH) {
        const d0 = text.charCodeAt(i + 1);
        if (d0 < 48 || d0 > 55) break;
        let value = d0 - 48;
        let j = i + 2;
        for (let n = 1; n < 3 && j < end; n++, j++) {
          const d = text.charCodeAt(j);
          if (d < 48 || d > 55 || value * 8 + (d - 48) > 255) break;
          value = value * 8 + (d - 48);
        }
        bytes.push(value);
        i = j;
      }
      out += decodeBytes(bytes);
      chunk = i;
      continue;
    }
    out += e === 110 ? '\n' : e === 116 ? '\t' : e === 114 ? '\r' : text[i + 1];
    i += 2;
    chunk = i;
  }
  return out + text.slice(chunk, end);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBytes(bytes: number[]): string {
  let ascii = true;
  for (const b of bytes) if (b > 127) ascii = false;
  if (!ascii) {
    try {
      return utf8.decode(Uint8Array.from(bytes));
    } catch {
      // not UTF-8: fall through to one character per byte
    }
  }
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/**
 * Unquotes one QuotedString, quotes included (control-spec 2.1 / 2.1.1 escapes).
 *
 * @param quoted - e.g. `"say \"hi\"\n"`
 * @returns the content, unescaped
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when `quoted` is not exactly one well-formed
 *   QuotedString (missing quotes, escaped final quote, text after the closing quote)
 * @example
 * unquoteString('"a \\"b\\""') // 'a "b"'
 */
export function unquoteString(quoted: string): string {
  if (quoted.length < 2 || quoted.charCodeAt(0) !== DQUOTE) {
    throw new TorProtocolError('quoted string expected');
  }
  const close = findClosingQuote(quoted, 0);
  if (close !== quoted.length - 1) {
    throw new TorProtocolError(`unexpected character after quoted string at position ${close + 1}`);
  }
  return valueAt(quoted, 0, quoted.length);
}

/**
 * Quotes a string as a control-spec QuotedString: backslash, double quote, CR, LF and TAB are
 * escaped (`\\`, `\"`, `\r`, `\n`, `\t`); every other character is kept. `unquoteString` gives back
 * the original string. NUL is kept as is: the command layer rejects values containing it.
 *
 * @param value - any string
 * @returns the QuotedString, quotes included
 * @example
 * quoteString('my "pass"') // '"my \\"pass\\""'
 */
export function quoteString(value: string): string {
  let out = '"';
  let chunk = 0;
  const len = value.length;
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i);
    let rep: string;
    if (c === BACKSLASH) rep = '\\\\';
    else if (c === DQUOTE) rep = '\\"';
    else if (c === 10) rep = '\\n';
    else if (c === 13) rep = '\\r';
    else if (c === 9) rep = '\\t';
    else continue;
    out += value.slice(chunk, i) + rep;
    chunk = i + 1;
  }
  return out + value.slice(chunk) + '"';
}

/**
 * Splits argument text into raw tokens on runs of spaces, keeping quoted strings (and `KEY="..."`
 * pairs) whole with their quotes, so that `KEY="a b"` is one token.
 *
 * @param text - argument text, e.g. `a "b c" K="d e" L=f`
 * @returns the raw tokens, e.g. `['a', '"b c"', 'K="d e"', 'L=f']`
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function splitArgs(text: string): string[] {
  const tokens: string[] = [];
  let pos = skipSpaces(text, 0);
  while (pos < text.length) {
    const end = findTokenEnd(text, pos);
    tokens.push(text.slice(pos, end));
    pos = skipSpaces(text, end);
  }
  return tokens;
}

/**
 * Index of the `=` that makes the token `text[start, end)` a keyword pair, or -1 when the token is
 * positional (no `=`, an empty key, a key with characters other than ALNUM, `_`, `-`, or a quoted
 * token).
 *
 * @param text - the argument text
 * @param start - the token's first character
 * @param end - index just past the token
 */
export function keywordSplit(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === EQUALS) return i > start ? i : -1;
    if (!isKeyChar(c)) return -1;
  }
  return -1;
}

/**
 * Calls `sink` for every `KEY=VALUE` pair in `text` from `pos` on, values unquoted; tokens that are
 * not pairs go to `positional` when given and are skipped otherwise (control-spec 4.1: clients must
 * tolerate extra arguments). Built for the event parsers: no allocation beyond the keys and values.
 *
 * @param text - the argument text
 * @param pos - where to start scanning
 * @param target - passed through to the callbacks (lets them be static functions, not closures)
 * @param sink - receives each pair
 * @param positional - receives each non-pair token, unquoted
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function scanKeywords<T>(
  text: string,
  pos: number,
  target: T,
  sink: (target: T, key: string, value: string) => void,
  positional?: (target: T, token: string) => void,
): void {
  const len = text.length;
  pos = skipSpaces(text, pos);
  while (pos < len) {
    const end = findTokenEnd(text, pos);
    const eq = keywordSplit(text, pos, end);
    if (eq !== -1) sink(target, text.slice(pos, eq), valueAt(text, eq + 1, end));
    else if (positional !== undefined) positional(target, valueAt(text, pos, end));
    pos = skipSpaces(text, end);
  }
}

/**
 * Receives one known keyword's value as a range: `text[start, end)`, quotes already removed. For a
 * quoted value with escapes, `text` is the unescaped value and the range covers all of it.
 */
export type KnownKeywordSink<T> = (target: T, index: number, text: string, start: number, end: number) => void;

/**
 * The event parsers' keyword scanner: like {@link scanKeywords}, but keys are matched in place
 * against `keys` (each written with its `=`, e.g. `PURPOSE=`) and values are handed over as ranges,
 * so a known keyword costs no key string and, unless the sink wants one, no value string. List the
 * keys in the order tor emits them: the search starts after the previous match, so it normally
 * succeeds at the first candidate. Other keywords go to `unknown` with key and value as strings;
 * tokens that are not keyword pairs are skipped.
 *
 * @param text - the argument text
 * @param pos - where to start scanning
 * @param keys - known keys, each ending in `=`
 * @param target - passed through to the callbacks
 * @param sink - receives known keywords by their index in `keys`
 * @param unknown - receives all other keyword pairs
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 */
export function scanKnownKeywords<T>(
  text: string,
  pos: number,
  keys: readonly string[],
  target: T,
  sink: KnownKeywordSink<T>,
  unknown: (target: T, key: string, value: string) => void,
): void {
  const len = text.length;
  const n = keys.length;
  let hint = 0;
  while (pos < len) {
    const c = text.charCodeAt(pos);
    if (c === SP) {
      pos++;
      continue;
    }
    let index = -1;
    for (let k = 0; k < n; k++) {
      let i = hint + k;
      if (i >= n) i -= n;
      const key = keys[i]!;
      // First character and the `=` position rule out nearly every wrong candidate cheaply, so
      // the exact check (which scans on after a mismatch) almost only runs when it will succeed.
      if (key.charCodeAt(0) === c && text.charCodeAt(pos + key.length - 1) === EQUALS && startsAt(text, pos, key)) {
        index = i;
        break;
      }
    }
    if (index === -1) {
      // Not a known key: an unknown keyword, or a positional token to skip.
      const end = findTokenEnd(text, pos);
      const eq = keywordSplit(text, pos, end);
      if (eq !== -1) unknown(target, text.slice(pos, eq), valueAt(text, eq + 1, end));
      pos = end;
      continue;
    }
    hint = index + 1;
    const start = pos + keys[index]!.length;
    // The value as text[from, to), or an unescaped copy; one sink call below, so that V8 compiles
    // (inlines) the sink once, not once per form.
    let value = text;
    let from = start;
    let to: number;
    if (text.charCodeAt(start) === DQUOTE) {
      const close = findClosingQuote(text, start);
      pos = close + 1;
      if (pos < len && text.charCodeAt(pos) !== SP) {
        throw new TorProtocolError(`unexpected character after quoted string at position ${pos}`);
      }
      from = start + 1;
      to = close;
      const bs = text.indexOf('\\', from);
      if (bs !== -1 && bs < close) {
        value = unescapeRange(text, from, close);
        from = 0;
        to = value.length;
      }
    } else {
      to = text.indexOf(' ', start);
      if (to === -1) to = len;
      pos = to;
    }
    sink(target, index, value, from, to);
  }
}

function pushPositional(args: KeywordArgs, token: string): void {
  args.positional.push(token);
}

function setKeyword(args: KeywordArgs, key: string, value: string): void {
  args.keywords[key] = value;
}

/**
 * Parses argument text into positional arguments and keyword pairs. The first `positionalCount`
 * tokens are positional whatever they look like (an argument may itself contain `=`); after them a
 * token is a keyword pair when it is `KEY=...` with a key of ALNUM, `_` or `-`, and positional
 * otherwise. Quoted values and quoted positional arguments are unquoted.
 *
 * @param text - e.g. `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`
 * @param positionalCount - how many leading tokens are always positional
 * @default positionalCount 0
 * @returns `{ positional, keywords }`; `keywords` has a null prototype, so any key is safe
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for malformed quoting
 * @example
 * parseKeywordArgs('NOTICE BOOTSTRAP PROGRESS=100 SUMMARY="Done"', 2)
 * // { positional: ['NOTICE', 'BOOTSTRAP'], keywords: { PROGRESS: '100', SUMMARY: 'Done' } }
 */
export function parseKeywordArgs(text: string, positionalCount = 0): KeywordArgs {
  const args: KeywordArgs = {
    positional: [],
    keywords: Object.create(null) as Record<string, string>,
  };
  let pos = skipSpaces(text, 0);
  for (let n = 0; n < positionalCount && pos < text.length; n++) {
    const end = findTokenEnd(text, pos);
    args.positional.push(valueAt(text, pos, end));
    pos = skipSpaces(text, end);
  }
  scanKeywords(text, pos, args, setKeyword, pushPositional);
  return args;
}
