/**
 * The pieces of one router status entry (dir-spec 3.4.1): the `r` line, read eagerly because it
 * holds the keys (fingerprint, nickname) and the address; and the rest of the entry (`a`, `s`,
 * `v`, `pr`, `w`, `p` lines), read only when a Router is first asked for one of those fields.
 * Scanning is by indexOf and charCodeAt: no regular expression and no split per line.
 */

const B64 = new Int8Array(128).fill(-1);
{
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) B64[alphabet.charCodeAt(i)] = i;
}
const HEX = '0123456789ABCDEF';
// Scratch space for one fingerprint: 40 character codes, turned into a string in one allocation.
const FP_CODES: number[] = new Array<number>(40).fill(48);

/**
 * The 40-hex fingerprint of a base64 identity digest (`text[start, end)`, trailing `=` optional).
 *
 * @returns upper-case hex, or null when the text is not the base64 of exactly 20 bytes
 * @example
 * identityToFingerprint('AAoQ1DAR6kkoo19hBAX5K0QztNw') // '000A10D43011EA4928A35F610405F92B4433B4DC'
 */
export function identityToFingerprint(text: string, start = 0, end = text.length): string | null {
  let n = 0;
  let acc = 0;
  let bits = 0;
  let i = start;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64[c]! : -1;
    if (v < 0) break;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= 40) return null;
      const byte = (acc >> bits) & 255;
      FP_CODES[n++] = HEX.charCodeAt(byte >> 4);
      FP_CODES[n++] = HEX.charCodeAt(byte & 15);
      acc &= (1 << bits) - 1;
    }
  }
  // Only padding may follow the digits.
  for (; i < end; i++) if (text.charCodeAt(i) !== 61 /* = */) return null;
  if (n !== 40) return null;
  return String.fromCharCode.apply(null, FP_CODES);
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}
const ID_CODES: number[] = new Array<number>(27).fill(65);

/**
 * The base64 identity (27 characters, as `r` lines write it) of a 40-hex fingerprint; the inverse
 * of {@link identityToFingerprint}. Either case of hex is accepted.
 *
 * @returns the identity, or null when `fingerprint` is not 40 hex digits
 * @example
 * fingerprintToIdentity('000A10D43011EA4928A35F610405F92B4433B4DC') // 'AAoQ1DAR6kkoo19hBAX5K0QztNw'
 */
export function fingerprintToIdentity(fingerprint: string): string | null {
  if (fingerprint.length !== 40) return null;
  // Three hex digits (12 bits) are two base64 digits; the 40th hex digit fills the 27th.
  let n = 0;
  for (let i = 0; i < 39; i += 3) {
    const a = fingerprint.charCodeAt(i);
    const b = fingerprint.charCodeAt(i + 1);
    const c = fingerprint.charCodeAt(i + 2);
    const va = a < 128 ? HEX_VALUE[a]! : -1;
    const vb = b < 128 ? HEX_VALUE[b]! : -1;
    const vc = c < 128 ? HEX_VALUE[c]! : -1;
    if ((va | vb | vc) < 0) return null;
    const v = (va << 8) | (vb << 4) | vc;
    ID_CODES[n++] = B64_ALPHABET.charCodeAt(v >> 6);
    ID_CODES[n++] = B64_ALPHABET.charCodeAt(v & 63);
  }
  const last = fingerprint.charCodeAt(39);
  const vl = last < 128 ? HEX_VALUE[last]! : -1;
  if (vl < 0) return null;
  ID_CODES[n] = B64_ALPHABET.charCodeAt(vl << 2);
  return String.fromCharCode.apply(null, ID_CODES);
}

/** The fields of an `r` line that are read at once. */
export interface RouterHead {
  /**
   * The identity digest as the `r` line writes it: 27 base64 characters. The fingerprint (hex)
   * is derived from it only when asked for: most routers are never asked.
   */
  identity: string;
  nickname: string;
  address: string;
  orPort: number;
  dirPort: number;
}

/** The fields read on demand (the rest of the `r` line and the entry's other lines). */
export interface RouterDetails {
  descriptorDigest: string | undefined;
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  publishedText: string;
  /** `a` lines, verbatim. */
  orAddresses: readonly string[];
  /** The `s` line after `s `. */
  flagsText: string;
  bandwidth: number | undefined;
  measured: number | undefined;
  unmeasured: boolean;
  /** The `v` line after `v `. */
  versionLine: string | undefined;
  /** The `pr` line after `pr `. */
  protocols: string | undefined;
  /** The `p` line after `p `. */
  policyText: string | undefined;
  /** The `m` line's digest: a microdesc-flavor consensus document's (sha256, base64, unpadded). */
  microdescDigest: string | undefined;
}

const NO_ADDRESSES: readonly string[] = Object.freeze([]);

/** Index of the next space at or after `pos` before `end`, or `end`. */
function nextSpace(text: string, pos: number, end: number): number {
  const sp = text.indexOf(' ', pos);
  return sp === -1 || sp > end ? end : sp;
}

function parsePort(text: string, start: number, end: number): number {
  if (end <= start || end - start > 5) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n > 65535 ? -1 : n;
}

function parseUnsigned(text: string, start: number, end: number): number | undefined {
  if (end <= start || end - start > 15) return undefined;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

// Token boundaries of the `r` line being read; reused (parsing is synchronous) to allocate nothing.
const TOKEN_STARTS = new Int32Array(9);
const TOKEN_ENDS = new Int32Array(9);

/** Splits the `r` line body `text[start, end)` into TOKEN_STARTS/ENDS; returns the token count (max 9). */
function tokenizeRLine(text: string, start: number, end: number): number {
  let n = 0;
  let pos = start;
  while (pos < end && n < 9) {
    if (text.charCodeAt(pos) === 32) {
      pos++;
      continue;
    }
    const e = nextSpace(text, pos, end);
    TOKEN_STARTS[n] = pos;
    TOKEN_ENDS[n++] = e;
    pos = e;
  }
  return n;
}

/**
 * Reads an `r` line body (`text[start, end)`, after `r `): nickname, identity, [digest,]
 * publication date and time, IP, ORPort, DirPort. Eight tokens is the ns flavor, seven the
 * microdescriptor flavor (no digest).
 *
 * @returns null on success, else why the line is malformed
 */
export function readRLine(text: string, start: number, end: number, head: RouterHead): string | null {
  const n = tokenizeRLine(text, start, end);
  if (n !== 8 && n !== 7) return `"r" line has ${n} fields, expected 8 (ns) or 7 (microdesc)`;
  // A 20-byte digest is 27 base64 digits (28 with the padding tor leaves out). Its characters are
  // checked when the fingerprint is first derived.
  let idEnd = TOKEN_ENDS[1]!;
  if (idEnd - TOKEN_STARTS[1]! === 28 && text.charCodeAt(idEnd - 1) === 61 /* = */) idEnd--;
  if (idEnd - TOKEN_STARTS[1]! !== 27) return 'identity is not the base64 of a 20-byte digest';
  const d = n === 8 ? 3 : 2;
  const orPort = parsePort(text, TOKEN_STARTS[d + 3]!, TOKEN_ENDS[d + 3]!);
  const dirPort = parsePort(text, TOKEN_STARTS[d + 4]!, TOKEN_ENDS[d + 4]!);
  if (orPort < 0 || dirPort < 0) return 'bad ORPort or DirPort';
  head.identity = text.slice(TOKEN_STARTS[1]!, idEnd);
  head.nickname = text.slice(TOKEN_STARTS[0]!, TOKEN_ENDS[0]!);
  head.address = text.slice(TOKEN_STARTS[d + 2]!, TOKEN_ENDS[d + 2]!);
  head.orPort = orPort;
  head.dirPort = dirPort;
  return null;
}

/** Reads the `w` line's keywords (`Bandwidth=`, `Measured=`, `Unmeasured=1`); others are ignored. */
function readWLine(text: string, start: number, end: number, out: RouterDetails): void {
  let pos = start;
  while (pos < end) {
    const e = nextSpace(text, pos, end);
    const eq = text.indexOf('=', pos);
    if (eq !== -1 && eq < e) {
      const keyLen = eq - pos;
      if (keyLen === 9 && text.startsWith('Bandwidth', pos)) out.bandwidth = parseUnsigned(text, eq + 1, e);
      else if (keyLen === 8 && text.startsWith('Measured', pos)) out.measured = parseUnsigned(text, eq + 1, e);
      else if (keyLen === 10 && text.startsWith('Unmeasured', pos)) out.unmeasured = text.startsWith('1', eq + 1);
    }
    pos = e + 1;
  }
}

/**
 * Reads a whole entry `text[start, end)` (its `r` line first) for the fields not read eagerly.
 * Unknown items (`id`, future ones) are ignored, as dir-spec asks.
 */
export function parseRouterDetails(text: string, start: number, end: number): RouterDetails {
  const out: RouterDetails = {
    descriptorDigest: undefined,
    publishedText: '',
    orAddresses: NO_ADDRESSES,
    flagsText: '',
    bandwidth: undefined,
    measured: undefined,
    unmeasured: false,
    versionLine: undefined,
    protocols: undefined,
    policyText: undefined,
    microdescDigest: undefined,
  };
  let addresses: string[] | undefined;
  let pos = start;
  while (pos < end) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1 || nl > end) nl = end;
    let lineEnd = nl;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13 /* \r */) lineEnd--;
    const c0 = text.charCodeAt(pos);
    const c1 = pos + 1 < lineEnd ? text.charCodeAt(pos + 1) : -1;
    if (c1 === 32 /* ' ' */) {
      const body = pos + 2;
      switch (c0) {
        case 114 /* r */: {
          const n = tokenizeRLine(text, body, lineEnd);
          if (n === 8 || n === 7) {
            const d = n === 8 ? 3 : 2;
            if (n === 8) out.descriptorDigest = text.slice(TOKEN_STARTS[2]!, TOKEN_ENDS[2]!);
            out.publishedText = text.slice(TOKEN_STARTS[d]!, TOKEN_ENDS[d + 1]!);
          }
          break;
        }
        case 97 /* a */:
          (addresses ??= []).push(text.slice(body, lineEnd));
          break;
        case 115 /* s */:
          out.flagsText = text.slice(body, lineEnd);
          break;
        case 118 /* v */:
          out.versionLine = text.slice(body, lineEnd);
          break;
        case 119 /* w */:
          readWLine(text, body, lineEnd, out);
          break;
        case 112 /* p */:
          out.policyText = text.slice(body, lineEnd);
          break;
        case 109 /* m */:
          // A microdesc-flavor consensus names one digest; votes list methods first (not read here).
          out.microdescDigest = text.slice(body, nextSpace(text, body, lineEnd));
          break;
        default:
        // Unknown one-letter items: tolerated, ignored.
      }
    } else if (c0 === 112 /* p */ && c1 === 114 /* r */ && text.charCodeAt(pos + 2) === 32) {
      out.protocols = text.slice(pos + 3, lineEnd);
    }
    pos = nl + 1;
  }
  if (addresses !== undefined) out.orAddresses = addresses;
  return out;
}
