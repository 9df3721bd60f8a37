/**
 * Exit-policy summaries from microdescriptors (dir-spec 3.3). A client that uses microdescriptors
 * (tor's default) reads a microdesc-flavor consensus, which has no `p` lines, so `GETINFO ns/all`
 * gives no summary for any relay; each relay's microdescriptor has them (`p`, and `p6` for IPv6),
 * found by the sha256 digest that the consensus document's `m` line names.
 */
import { createHash } from 'node:crypto';
import { detach } from '../control/events/field-parsers.js';
import { REJECT_ALL_SUMMARY, parseExitPolicySummary, type ExitPolicySummary } from './exit-policy.js';

/** What one microdescriptor says of its relay's exits. */
export interface MicrodescriptorPolicies {
  /** The `p` line; `reject 1-65535` when there is none (dir-spec 3.3); null when it is malformed. */
  readonly ipv4: ExitPolicySummary | null;
  /** The `p6` line, the same way. */
  readonly ipv6: ExitPolicySummary | null;
}

/**
 * Reads `GETINFO md/all` (microdescriptors one after another, each starting with its `onion-key`
 * line) into each one's exit-policy summaries, keyed by its digest as a consensus `m` line writes it:
 * sha256 of the microdescriptor's exact text, base64 without padding.
 *
 * @example
 * const policies = readMicrodescriptorPolicies(await control.getInfo('md/all'));
 * policies.get(digestFromTheMLine)?.ipv4 // { policy: 'accept', ranges: [[80, 80], [443, 443]] }
 */
export function readMicrodescriptorPolicies(text: string): Map<string, MicrodescriptorPolicies> {
  const out = new Map<string, MicrodescriptorPolicies>();
  // Most relays write the same few summaries: one parsed object per distinct line.
  const parsed = new Map<string, ExitPolicySummary | null>();
  // A microdescriptor without a `p` (or `p6`) line rejects every port (dir-spec 3.3).
  const summary = (line: string | undefined): ExitPolicySummary | null => {
    if (line === undefined) return REJECT_ALL_SUMMARY;
    let s = parsed.get(line);
    if (s === undefined && !parsed.has(line)) {
      s = parseExitPolicySummary(line);
      if (s !== null) s = Object.freeze({ policy: s.policy, ranges: Object.freeze(s.ranges) });
      parsed.set(detach(line), s);
    }
    return s ?? null;
  };
  let start = startOfNext(text, 0);
  while (start !== -1) {
    const next = startOfNext(text, start + 1);
    const end = next === -1 ? text.length : next;
    // tor hashes each one with its final newline; a GETINFO value loses the last one's.
    const body = text.endsWith('\n', end) ? text.slice(start, end) : `${text.slice(start, end)}\n`;
    const digest = createHash('sha256').update(body, 'utf8').digest('base64').replace(/=+$/, '');
    out.set(digest, { ipv4: summary(lineValue(body, 'p ')), ipv6: summary(lineValue(body, 'p6 ')) });
    start = next;
  }
  return out;
}

/** Where the microdescriptor starting at or after `from` begins (its `onion-key` line), or -1. */
function startOfNext(text: string, from: number): number {
  for (let at = text.indexOf('onion-key', from); at !== -1; at = text.indexOf('onion-key', at + 1)) {
    const after = text.charCodeAt(at + 9);
    const lineStart = at === 0 || text.charCodeAt(at - 1) === 10;
    // `onion-key` alone on its line, or followed by arguments; not `ntor-onion-key`.
    if (lineStart && (Number.isNaN(after) || after === 10 || after === 32)) return at;
  }
  return -1;
}

/** The rest of the first line of `body` that starts with `prefix`, or undefined. */
function lineValue(body: string, prefix: string): string | undefined {
  const at = body.startsWith(prefix) ? 0 : body.indexOf(`\n${prefix}`);
  if (at === -1) return undefined;
  const from = at === 0 ? prefix.length : at + 1 + prefix.length;
  const nl = body.indexOf('\n', from);
  return body.slice(from, nl === -1 ? body.length : nl).trimEnd();
}
