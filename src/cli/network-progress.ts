import type { Progress } from './output.js';

/**
 * Where each phase of `startTestNetwork` sits on one 0–100 bar, so that the bar only moves
 * forward (each phase reports its own 0–100). The spans follow the measured durations: key
 * generation ~2 s, starting nodes ~1 s, waiting for a complete consensus 5–20 s, the client's
 * bootstrap ~3 s, the exit check well under a second.
 */
const SPANS: Record<string, readonly [number, number]> = {
  keys: [0, 10],
  node: [10, 15],
  consensus: [15, 65],
  bootstrap: [65, 95],
  'exit-check': [95, 99],
  ready: [100, 100],
};

/** One report of the network's start, as `startTestNetwork` (or the testnet daemon) sends it. */
export interface NetworkProgressReport {
  phase: string;
  percent?: number;
  message: string;
}

/**
 * The overall percentage for a phase report: the start of the phase's span plus its own progress.
 * Unknown phases give `undefined` (no bar movement, the message still shows).
 */
export function overallPercent(report: NetworkProgressReport): number | undefined {
  const span = SPANS[report.phase];
  if (!span) return undefined;
  const [from, to] = span;
  const within = report.percent === undefined ? 0 : Math.max(0, Math.min(100, report.percent));
  return from + ((to - from) * within) / 100;
}

/** Shows a network start report on `progress`, never moving the bar backwards. */
export function reportNetworkProgress(progress: Progress, report: NetworkProgressReport): void {
  progress.update(overallPercent(report), `${report.phase}: ${report.message}`);
}
