import { TorInvalidValueError } from '../errors.js';
import { invalidCancelOptions, type CancelOptions } from './abort.js';

/**
 * The keys of an options type, from a record of every one of them: the compiler refuses a record
 * that misses a key of `T` or has one `T` lacks, so the list cannot drift from the interface.
 * @example const KEYS = optionKeys<CancelOptions>({ signal: true, timeoutMs: true });
 */
export function optionKeys<T extends object>(every: Record<keyof T, true>): readonly string[] {
  return Object.freeze(Object.keys(every));
}

/** The keys of {@link CancelOptions}: all that most calls take. */
export const CANCEL_OPTION_KEYS = optionKeys<CancelOptions>({ signal: true, timeoutMs: true });

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
  const err = unknownOption(opts, known, what);
  if (err) throw err;
}

/** What {@link assertKnownOptions} throws, or undefined when every key is known. */
export function unknownOption(opts: object, known: readonly string[], what: string): TorInvalidValueError | undefined {
  const found = findUnknownOption(opts, known);
  if (found === undefined) return undefined;
  return new TorInvalidValueError(`${what} option ${JSON.stringify(found.key)}`, `${unknownOptionProblem(found)}; known: ${known.join(', ')}`);
}

/** The first key of `opts` (with a value) that `known` does not list, and the known one it nearly is. */
export function findUnknownOption(opts: object, known: readonly string[]): { key: string; near: string | undefined } | undefined {
  for (const key of Object.keys(opts)) {
    if (known.includes(key) || (opts as Record<string, unknown>)[key] === undefined) continue;
    return { key, near: nearest(key, known) };
  }
  return undefined;
}

/** "is none of its options (did you mean timeoutMs?)" */
export function unknownOptionProblem(found: { near: string | undefined }): string {
  return `is none of its options${found.near !== undefined ? ` (did you mean ${found.near}?)` : ''}`;
}

/**
 * The known name `key` is most likely a misspelling of: the same but for case, else the closest
 * within two edits, or a third of the longer name (`isolation` for isolate, `timout` for timeoutMs).
 * Shared by option keys, endpoint keywords and tor's option names.
 */
export function nearest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameButCase = known.find((k) => k.toLowerCase() === lower);
  if (sameButCase !== undefined) return sameButCase;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= Math.max(2, Math.floor(Math.max(key.length, k.length) / 3)) && d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The endpoint prefix a misspelt one most likely meant (`tro` for tor, `onoin` for onion): within
 * one edit of a prefix of up to three letters, two of a longer one (a swap counts as one). Prefixes
 * are short, and two edits reach unrelated ones (`i2p` is two from `tcp`).
 */
export function nearestPrefix(prefix: string, known: readonly string[]): string | undefined {
  const lower = prefix.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= (k.length > 3 ? 2 : 1) && d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The options of a public call checked before it does anything: an object (or nothing), a valid
 * `timeoutMs` and `signal`, and no key the call does not take.
 * @param what - the call, for the message (`tor.connect`)
 * @returns the TorInvalidValueError (`TOR_INVALID_VALUE`) to reject with, or undefined
 */
export function invalidCallOptions(opts: unknown, known: readonly string[], what: string): TorInvalidValueError | undefined {
  if (opts === undefined || opts === null) return undefined;
  return invalidCancelOptions(opts as CancelOptions) ?? unknownOption(opts as object, known, what);
}

/**
 * Throws what {@link invalidCallOptions} finds.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertCallOptions(opts: unknown, known: readonly string[], what: string): void {
  const err = invalidCallOptions(opts, known, what);
  if (err) throw err;
}

/**
 * For an open options bag (fetch's RequestInit, whose keys are the platform's): refuses only a key
 * that is not one of `own` but nearly is (`isolaton`, `timeout`), since any other may be fetch's.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) naming the key and the one it nearly is
 */
export function assertNoNearMiss(opts: object, own: readonly string[], what: string): void {
  const err = nearMiss(opts, own, what);
  if (err) throw err;
}

/** What {@link assertNoNearMiss} throws, or undefined. */
export function nearMiss(opts: object, own: readonly string[], what: string): TorInvalidValueError | undefined {
  for (const key of Object.keys(opts)) {
    if (own.includes(key) || (opts as Record<string, unknown>)[key] === undefined) continue;
    const near = nearest(key, own);
    if (near !== undefined) return new TorInvalidValueError(`${what} option ${JSON.stringify(key)}`, unknownOptionProblem({ near }));
  }
  return undefined;
}
