/**
 * The generic layout of tor's directory documents (dir-spec 1.2): one item a line, `Keyword args`,
 * some followed by an object between `-----BEGIN X-----` and `-----END X-----` lines. The server
 * descriptor and microdescriptor parsers read their items from here, and judge each keyword.
 */
import { isIPv4 } from 'node:net';
import { TorProtocolError } from '../errors.js';

/** One item of a directory document. */
export interface DescriptorItem {
  readonly keyword: string;
  /** The text after the keyword and its whitespace; `''` when the line has nothing else. */
  readonly args: string;
  /** The whole line, verbatim. */
  readonly line: string;
  /** The object after the line, BEGIN and END lines included, joined by `\n`; undefined if none. */
  readonly object: string | undefined;
  /** 1-based, for error messages. */
  readonly lineNumber: number;
}

// dir-spec 1.2: KeywordChar ::= 'A' ... 'Z' | 'a' ... 'z' | '0' ... '9' | '-'; args after SP or TAB.
// With `s`, the args' `.*` takes the whole rest of the line (a CR too): without it, a line of many
// spaces ending in a CR made the match backtrack for every split of the spaces (quadratic).
const KEYWORD_LINE = /^([A-Za-z0-9-]+)(?:[ \t]+(.*))?$/s;
const BEGIN_LINE = /^-----BEGIN ([A-Za-z0-9 ]+)-----$/;

/**
 * Splits a document into its items. Blank lines at the end are allowed (dir-spec 2.1.1: many
 * tors write one), as is a missing final newline (a GETINFO value loses it); an old `opt ` prefix
 * is dropped.
 * @param what - names the document in error messages, e.g. `server descriptor`
 * @throws TorProtocolError for anything that is not a keyword line or a complete object (a blank
 *   line inside, an object with no keyword before it or without its END line), and for a non-string
 */
export function readDescriptorItems(text: unknown, what: string): DescriptorItem[] {
  if (typeof text !== 'string') throw new TorProtocolError(`${what}: expected text, got ${typeof text}`);
  // A loop, not /\n+$/: that regex retries at every newline of a run that is not at the end.
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  const body = text.slice(0, end);
  if (body === '') throw new TorProtocolError(`${what}: empty`);
  const lines = body.split('\n');
  const items: DescriptorItem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNumber = i + 1;
    if (BEGIN_LINE.test(line)) throw new TorProtocolError(`${what} line ${lineNumber}: an object with no keyword line before it`);
    let m = KEYWORD_LINE.exec(line);
    // `opt` marked items that old tors might not know (dir-spec 1.2); the item is the rest.
    if (m !== null && m[1] === 'opt' && m[2] !== undefined) m = KEYWORD_LINE.exec(m[2]);
    if (m === null) {
      const why = line === '' ? 'a blank line' : 'not a keyword line';
      throw new TorProtocolError(`${what} line ${lineNumber}: ${why}`);
    }
    let object: string | undefined;
    const begin = lines[i + 1] === undefined ? null : BEGIN_LINE.exec(lines[i + 1]!);
    if (begin !== null) {
      const end = `-----END ${begin[1]}-----`;
      const endAt = lines.indexOf(end, i + 2);
      if (endAt === -1) throw new TorProtocolError(`${what} line ${lineNumber + 1}: the ${begin[1]} object has no END line`);
      object = lines.slice(i + 1, endAt + 1).join('\n');
      i = endAt;
    }
    items.push({ keyword: m[1]!, args: m[2] ?? '', line, object, lineNumber });
  }
  return items;
}

/** A document's rule for its keywords: which may appear once only, which take no object. */
export interface ItemRules {
  readonly once: ReadonlySet<string>;
  readonly noObject: ReadonlySet<string>;
}

/**
 * Checks `item` against the document's rules, `seen` holding the once-only keywords met so far.
 * @throws TorProtocolError for a second once-only item, or an object after a keyword that takes none
 */
export function checkItem(item: DescriptorItem, rules: ItemRules, seen: Set<string>, what: string): void {
  const { keyword } = item;
  if (rules.once.has(keyword)) {
    if (seen.has(keyword)) throw malformedItem(item, 'appears more than once', what);
    seen.add(keyword);
  }
  if (item.object !== undefined && rules.noObject.has(keyword)) throw malformedItem(item, 'has an object it takes none of', what);
}

/** The error for a malformed item of a `what` (`server descriptor`...), naming its line and keyword. */
export function malformedItem(item: DescriptorItem, why: string, what: string): TorProtocolError {
  return new TorProtocolError(`${what} line ${item.lineNumber}: ${item.keyword} ${why}`);
}

/** Base64 as tor writes keys in directory documents, padding optional. */
export const BASE64_KEY = /^[A-Za-z0-9+/]+=*$/;

/** An `onion-key` item's key: its object (the PEM block), which it must have. */
export function onionKeyOf(item: DescriptorItem, what: string): string {
  if (item.object === undefined) throw malformedItem(item, 'has no key', what);
  return item.object;
}

/** An `ntor-onion-key` item's key, base64. */
export function ntorKeyOf(item: DescriptorItem, what: string): string {
  const key = itemArgs(item)[0];
  if (key === undefined || !BASE64_KEY.test(key)) throw malformedItem(item, 'is not a base64 key', what);
  return key;
}

/** The whitespace-separated arguments of an item (none for `''`). */
export function itemArgs(item: DescriptorItem): string[] {
  return item.args === '' ? [] : item.args.split(/[ \t]+/).filter((a) => a !== '');
}

/** A decimal whole number up to 2^53 - 1 (bandwidths, uptimes), or undefined for anything else. */
export function wholeNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A TCP port 0-65535 (0: none), or undefined. */
export function portNumber(text: string | undefined): number | undefined {
  const n = wholeNumber(text);
  return n !== undefined && n <= 65535 ? n : undefined;
}

/**
 * An `or-address` / microdescriptor `a` value (dir-spec 2.1.1): `IPv4:port` or `[IPv6]:port`,
 * port 1-65535. The IPv6 part is only checked for its characters: tor wrote it, we only pass it on.
 */
export function isOrAddress(text: string): boolean {
  const colon = text.lastIndexOf(':');
  if (colon === -1) return false;
  const port = portNumber(text.slice(colon + 1));
  if (port === undefined || port === 0) return false;
  const host = text.slice(0, colon);
  return isIPv4(host) || /^\[[0-9A-Fa-f:.]+\]$/.test(host);
}
