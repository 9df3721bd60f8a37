/**
 * Event texts a circuit or stream keeps unread. The live state applies an event's id and status at
 * once and keeps the rest of its text; the text is parsed only when someone asks for a field it
 * holds. A busy tor sends hundreds of thousands of CIRC and STREAM events, most of them about
 * streams that close before anyone looks, so parsing on demand is most of what following tor
 * costs. (stem reads its descriptors lazily for the same reason.)
 */

import { bareEnd, detach, detachFrom } from '../control/events/field-parsers.js';
import { findTokenEnd, keywordSplit, skipSpaces, startsAt } from '../control/keyword-args.js';

/**
 * What a circuit or stream keeps of an event's text until it is read: a copy (sharing no memory
 * with the socket read) whose SOCKS_PASSWORD values are emptied. tor echoes the SOCKS password
 * (for torcon, the isolation token) in CIRC and STREAM events, and the state keeps no secret; the
 * state never reads that field, so the text reads the same.
 */
export function keptText(text: string, start: number): string {
  const at = text.indexOf(' SOCKS_PASSWORD=', start);
  if (at === -1) return detachFrom(text, start);
  // How tor writes it: once, after an even number of quotes and no backslash (so not inside
  // another quoted value), its value a bare word or a quoted string without escapes.
  const value = at + 16;
  if (text.indexOf('\\', start) === -1 && evenQuotes(text, start, at)) {
    const end =
      text.charCodeAt(value) === 34 /* " */ ? text.indexOf('"', value + 1) + 1 : bareEnd(text, value);
    if (end > value && (end === text.length || text.charCodeAt(end) === 32) && text.indexOf(' SOCKS_PASSWORD=', end) === -1) {
      return detach(text.slice(start, value) + '""' + text.slice(end));
    }
  }
  return keptTextSlowly(text, start);
}

/** Whether `text[start, end)` holds an even number of `"`. */
function evenQuotes(text: string, start: number, end: number): boolean {
  let even = true;
  for (let q = text.indexOf('"', start); q !== -1 && q < end; q = text.indexOf('"', q + 1)) even = !even;
  return even;
}

/** {@link keptText} for any text: token by token, as the parser reads it. */
function keptTextSlowly(text: string, start: number): string {
  let kept = '';
  let from = start;
  let pos = skipSpaces(text, start);
  try {
    while (pos < text.length) {
      const end = findTokenEnd(text, pos);
      if (startsAt(text, pos, 'SOCKS_PASSWORD=')) {
        kept += text.slice(from, pos + 15) + '""';
        from = end;
      }
      pos = skipSpaces(text, end);
    }
  } catch {
    // Malformed quoting from the token at `pos` on: the parser refuses the text there, and so it
    // must refuse the copy. Keep what comes before, the token's key (for the report) and an
    // opening quote that nothing closes.
    const eq = keywordSplit(text, pos, bareEnd(text, pos));
    return detach(kept + text.slice(from, eq === -1 ? pos : eq + 1) + '"');
  }
  return detach(kept + text.slice(from));
}

/** Told about a kept text that could not be parsed when it was read (its fields are skipped). */
export type UnreadableReporter = (error: unknown, event: string, text: string) => void;

/**
 * How many texts one circuit or stream keeps before reading them anyway: this bounds the memory of
 * one that lives long, changes often and that nobody looks at.
 */
export const MAX_UNREAD = 16;

/**
 * Folds each text, in order, into `detail`. A text that does not parse is reported and skipped:
 * the fields it would have set keep what the earlier texts said.
 */
export function readUnread<D, E>(
  texts: readonly string[],
  detail: D,
  parse: (text: string) => E,
  apply: (detail: D, event: E) => void,
  event: string,
  report: UnreadableReporter | undefined,
): void {
  for (const text of texts) {
    let e: E;
    try {
      e = parse(text);
    } catch (err) {
      report?.(err, event, text);
      continue;
    }
    apply(detail, e);
  }
}
