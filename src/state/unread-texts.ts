/**
 * Event texts a circuit or stream keeps unread. The live state applies an event's id and status at
 * once and keeps the rest of its text; the text is parsed only when someone asks for a field it
 * holds. A busy tor sends hundreds of thousands of CIRC and STREAM events, most of them about
 * streams that close before anyone looks, so parsing on demand is most of what following tor
 * costs. (stem reads its descriptors lazily for the same reason.)
 */

import { bareEnd, detach } from '../control/events/field-parsers.js';
import { findTokenEnd, keywordSplit, skipSpaces, startsAt } from '../control/keyword-args.js';

/** The form circuits keep their texts in: CIRC events' (`CIRC 5 BUILT ...`). */
export const CIRC_PREFIX = 'CIRC ';
/** The form streams keep their texts in: STREAM events' (`STREAM 9 NEW 0 example.com:443 ...`). */
export const STREAM_PREFIX = 'STREAM ';

/**
 * What a circuit or stream keeps of an event's text until it is read: the event text itself
 * (`CIRC 5 BUILT ...`), with its SOCKS_PASSWORD values emptied. tor echoes the SOCKS password
 * (for torcon, the isolation token) in CIRC and STREAM events, and the state keeps no secret; the
 * state never reads that field, so the text reads the same.
 *
 * The text is kept as it is, not copied: it must be a string of its own, as TorControl's event
 * texts are (see ReplySink.onEventLine), since keeping a slice of a larger string would keep all
 * of that string. A body given in another form (a status line, `5 BUILT ...`) is kept as a copy
 * in the event form, so that every kept text is read the same way.
 *
 * @param text - the text holding the body
 * @param start - where the body (the id) starts in `text`
 * @param prefix - the event form's prefix, CIRC_PREFIX or STREAM_PREFIX: kept texts are read from its length on
 */
export function keptText(text: string, start: number, prefix: string): string {
  if (start !== prefix.length) return keptText(detach(prefix + text.slice(start)), prefix.length, prefix);
  const at = text.indexOf(' SOCKS_PASSWORD=', start);
  if (at === -1) return text;
  // How tor writes it: once, after an even number of quotes and no backslash (so not inside
  // another quoted value), its value a bare word or a quoted string without escapes.
  const value = at + 16;
  if (text.indexOf('\\', start) === -1 && evenQuotes(text, start, at)) {
    const end =
      text.charCodeAt(value) === 34 /* " */ ? text.indexOf('"', value + 1) + 1 : bareEnd(text, value);
    if (end > value && (end === text.length || text.charCodeAt(end) === 32) && text.indexOf(' SOCKS_PASSWORD=', end) === -1) {
      return detach(text.slice(0, value) + '""' + text.slice(end));
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
  let from = 0;
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
