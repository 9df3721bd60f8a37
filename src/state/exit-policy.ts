/**
 * The exit-policy summary of a router status entry (dir-spec 3.4.1, the `p` line):
 * `p accept 80,443,6660-6669` or `p reject 1-65535`. It says which ports a relay allows exits to
 * for "most addresses"; it is a summary, not the full policy (which may still refuse some hosts).
 */

/** An inclusive port range. */
export type PortRange = readonly [low: number, high: number];

/** A parsed `p` line. */
export interface ExitPolicySummary {
  /** `accept`: only the listed ports are allowed; `reject`: every port but the listed ones. */
  readonly policy: 'accept' | 'reject';
  /** The listed ports, in the order tor gave them (ascending in practice). */
  readonly ranges: readonly PortRange[];
}

/**
 * `reject 1-65535`: what a microdescriptor without a `p` (or `p6`) line, or a server descriptor
 * without an `ipv6-policy` line, stands for (dir-spec 3.3, 2.1.1).
 */
export const REJECT_ALL_SUMMARY: ExitPolicySummary = Object.freeze({ policy: 'reject', ranges: Object.freeze([Object.freeze([1, 65535] as const)]) });

/**
 * Parses the text after `p ` (e.g. `accept 80,443,1000-2000`).
 *
 * @param text - the line text; `start` may point past a `p ` prefix
 * @returns the summary, or `null` when the text is not a well-formed summary (tor tells us nothing
 *   then, so callers treat the relay like one without a summary)
 * @example
 * parseExitPolicySummary('accept 80,443')?.ranges // [[80, 80], [443, 443]]
 */
export function parseExitPolicySummary(text: string, start = 0): ExitPolicySummary | null {
  let policy: 'accept' | 'reject';
  if (text.startsWith('accept ', start)) policy = 'accept';
  else if (text.startsWith('reject ', start)) policy = 'reject';
  else return null;
  const ranges: PortRange[] = [];
  let pos = start + 7;
  const end = text.length;
  while (pos < end) {
    let low = 0;
    let digits = 0;
    while (pos < end) {
      const d = text.charCodeAt(pos) - 48;
      if (d < 0 || d > 9) break;
      low = low * 10 + d;
      digits++;
      pos++;
    }
    if (digits === 0 || digits > 5) return null;
    let high = low;
    if (pos < end && text.charCodeAt(pos) === 45 /* - */) {
      pos++;
      high = 0;
      digits = 0;
      while (pos < end) {
        const d = text.charCodeAt(pos) - 48;
        if (d < 0 || d > 9) break;
        high = high * 10 + d;
        digits++;
        pos++;
      }
      if (digits === 0 || digits > 5) return null;
    }
    if (low > high || high > 65535) return null;
    ranges.push([low, high]);
    if (pos === end) break;
    if (text.charCodeAt(pos) !== 44 /* , */) return null;
    pos++;
    if (pos === end) return null; // a trailing comma
  }
  if (ranges.length === 0) return null;
  return { policy, ranges };
}

/**
 * Whether a summary allows exits to `port`.
 *
 * @param summary - a parsed `p` line
 * @param port - 1..65535
 */
export function summaryAcceptsPort(summary: ExitPolicySummary, port: number): boolean {
  let listed = false;
  for (const [low, high] of summary.ranges) {
    if (port >= low && port <= high) {
      listed = true;
      break;
    }
  }
  return summary.policy === 'accept' ? listed : !listed;
}
