import { TorInvalidValueError } from '../errors.js';

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: onoin → onion is 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Refuses an options object holding a key that `known` does not list: in JavaScript a misspelt
 * option (`waitforBootstrap: false`) would otherwise be ignored without a word, and the call would
 * do what the caller meant to turn off. Keys whose value is undefined are let through (spreading
 * optional values leaves them).
 * @param what - whose options, for the message (`launchTor`)
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) naming the key and the nearest known one
 */
export function assertKnownOptions(opts: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key) || (opts as Record<string, unknown>)[key] === undefined) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? known.find((k) => editDistance(key, k) <= 2);
    throw new TorInvalidValueError(
      `${what} option ${JSON.stringify(key)}`,
      `is none of its options${near !== undefined ? ` (did you mean ${near}?)` : ''}; known: ${known.join(', ')}`,
    );
  }
}
