/**
 * Event texts a circuit or stream keeps unread. The live state applies an event's id and status at
 * once and keeps the rest of its text; the text is parsed only when someone asks for a field it
 * holds. A busy tor sends hundreds of thousands of CIRC and STREAM events, most of them about
 * streams that close before anyone looks, so parsing on demand is most of what following tor
 * costs. (stem reads its descriptors lazily for the same reason.)
 */

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
