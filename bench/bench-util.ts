/** Small helpers shared by the benchmark scripts. */

import os from 'node:os';

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Collects garbage between measured runs when node was started with --expose-gc. */
export function maybeGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/** `1234567` -> `"1.23 M"`. */
export function si(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
  return n.toFixed(0);
}

/** One line describing where a benchmark ran. */
export function machine(): { node: string; cpus: number; cpuModel: string; platform: string; date: string } {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

/**
 * What one page fault (a fresh page of memory touched for the first time) costs on this machine,
 * in microseconds: a fresh 32 MiB buffer is written once per page. On a virtual machine this can
 * be tens of times what it is on bare metal, and a client that touches more fresh memory than the
 * floor pays for it in its replay time.
 */
export function pageFaultCostUs(): number {
  const before = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  const buf = Buffer.allocUnsafeSlow(32 * 1024 * 1024);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = 1;
  const ms = performance.now() - t0;
  const faults = process.resourceUsage().minorPageFault - before;
  return faults > 0 ? +((ms * 1000) / faults).toFixed(2) : 0;
}

/** Pulls `--name value` pairs and bare `--flag`s out of argv; unknown names are an error. */
export function parseFlags(argv: readonly string[], valued: readonly string[], bare: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const name = a.slice(2);
    if (bare.includes(name)) out.set(name, 'true');
    else if (valued.includes(name)) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      out.set(name, v);
    } else {
      const all = [...valued.map((v) => `--${v} X`), ...bare.map((b) => `--${b}`)].join(' ');
      throw new Error(`unknown option ${a} (known: ${all})`);
    }
  }
  return out;
}
