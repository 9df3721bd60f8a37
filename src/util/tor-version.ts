import { TorInvalidValueError } from '../errors.js';

/**
 * A tor version as tor's version-spec writes it: `MAJOR.MINOR.MICRO[.PATCHLEVEL][-STATUS_TAG]`,
 * optionally followed by ` (EXTRA_INFO)` groups (a git revision, say), and optionally preceded by
 * `Tor ` as in a descriptor's `v` line.
 */
export interface TorVersion {
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
  /** The fourth number; 0 when the text has none (`0.4.9` is `0.4.9.0`). */
  readonly patch: number;
  /** `alpha`, `rc`, `dev`, ...; '' for none. Informational (see {@link compareTorVersions}). */
  readonly status: string;
  /** What followed in parentheses, e.g. `git-3fd1a2b7ea3b2f5c`, without them; '' for none. */
  readonly extra: string;
}

// Numbers without leading signs or exponents; the status tag is whatever tor put after the dash,
// up to a space; each extra group is parenthesised.
const VERSION_RE = /^(?:Tor )?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?(?:-([^\s()]+))?((?: \([^()]*\))*)$/;

/**
 * Reads a tor version, as `tor.version`, `Router.version` and tor's `GETINFO version` give it.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything not in version-spec's form
 * @example parseTorVersion('0.4.9.11 (git-3fd1a2b7)') // { major: 0, minor: 4, micro: 9, patch: 11, status: '', extra: 'git-3fd1a2b7' }
 */
export function parseTorVersion(text: string): TorVersion {
  if (typeof text !== 'string') throw new TorInvalidValueError('tor version', `must be a string, got ${text === null ? 'null' : `a ${typeof text}`}`);
  const m = VERSION_RE.exec(text.trim());
  if (m === null) {
    // The text comes from tor or from the caller's code, never a secret, but it may be long.
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    throw new TorInvalidValueError('tor version', `${JSON.stringify(shown)} is not MAJOR.MINOR.MICRO[.PATCHLEVEL][-STATUS] (e.g. 0.4.8.12)`);
  }
  const extra = m[6]!.trim();
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    micro: Number(m[3]),
    patch: m[4] === undefined ? 0 : Number(m[4]),
    status: m[5] ?? '',
    extra: extra.length === 0 ? '' : extra.slice(1, -1).split(') (').join(' '),
  };
}

/**
 * Orders two tor versions the way tor itself does: by the four numbers, then, for versions that
 * differ only there, by the status tags compared as text (no tag first). The extra information is
 * not compared. So `0.4.8.9 < 0.4.8.9-dev < 0.4.8.10`, which is tor's numbering: a `-dev` version
 * is the development after the release of the same number.
 * @returns a negative number when `a` is older, 0 when the same, a positive number when newer
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when either is no tor version
 * @example [...versions].sort(compareTorVersions)
 */
export function compareTorVersions(a: string | TorVersion, b: string | TorVersion): number {
  const x = asTorVersion(a);
  const y = asTorVersion(b);
  return (
    x.major - y.major ||
    x.minor - y.minor ||
    x.micro - y.micro ||
    x.patch - y.patch ||
    (x.status === y.status ? 0 : x.status < y.status ? -1 : 1)
  );
}

/**
 * A parsed version as it is, anything else through {@link parseTorVersion}, which refuses what is
 * no version text: a number (`4`) compared as if it were newer than every tor.
 */
function asTorVersion(v: string | TorVersion): TorVersion {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const { major, minor, micro, patch, status } = v as Partial<TorVersion>;
    if ([major, minor, micro, patch].every((n) => Number.isSafeInteger(n) && n! >= 0) && typeof status === 'string') return v;
  }
  return parseTorVersion(v as string);
}
