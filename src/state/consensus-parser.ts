/**
 * Router status entries (dir-spec 3.4.1) to {@link Router}s, as found in `GETINFO ns/all`,
 * `ns/id/...`, NS and NEWCONSENSUS events, and whole consensus documents (the header, footer and
 * signatures of a document are skipped).
 *
 * Both `r` line layouts are accepted:
 * - full (ns) flavor: `r nickname identity digest YYYY-MM-DD HH:MM:SS IP ORPort DirPort`;
 * - microdescriptor flavor: `r nickname identity YYYY-MM-DD HH:MM:SS IP ORPort DirPort` (no digest).
 *
 * Speed matters (a consensus has ~8,000 entries and arrives at startup and hourly): the text is
 * scanned line by line with indexOf and charCodeAt, no regular expression and no split per line,
 * and fields that are rarely read (flags, exit policy, publication time) stay raw until asked for.
 */

import { Router, type RouterContext, type RouterInit } from './router.js';

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

/** What went wrong with one entry; the entry is skipped and parsing goes on. */
export interface ConsensusParseProblem {
  /** 1-based line number in the text. */
  line: number;
  reason: string;
}

/** Options of {@link forEachRouterStatus}. */
export interface ParseRouterStatusOptions {
  /** Given to every Router, for `location()`. */
  context?: RouterContext;
  /** Called for each malformed `r` line (its entry is skipped). */
  onProblem?: (problem: ConsensusParseProblem) => void;
}

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

function resetInit(init: RouterInit): void {
  init.descriptorDigest = undefined;
  init.orAddresses = undefined;
  init.flagsText = '';
  init.bandwidth = undefined;
  init.measured = undefined;
  init.unmeasured = false;
  init.versionLine = undefined;
  init.protocols = undefined;
  init.policyText = undefined;
}

// Token boundaries of the `r` line being read; reused (parsing is synchronous) to allocate nothing.
const TOKEN_STARTS = new Int32Array(9);
const TOKEN_ENDS = new Int32Array(9);

/**
 * Reads an `r` line (`text[start, end)`, starting after `r `) into `init`.
 *
 * @returns null on success, else why the line is malformed
 */
function readRLine(text: string, start: number, end: number, init: RouterInit): string | null {
  // Tokens: nickname identity [digest] date time IP ORPort DirPort
  const starts = TOKEN_STARTS;
  const ends = TOKEN_ENDS;
  let n = 0;
  let pos = start;
  while (pos < end && n < 9) {
    if (text.charCodeAt(pos) === 32) {
      pos++;
      continue;
    }
    const e = nextSpace(text, pos, end);
    starts[n] = pos;
    ends[n++] = e;
    pos = e;
  }
  if (n !== 8 && n !== 7) return `"r" line has ${n} fields, expected 8 (ns) or 7 (microdesc)`;
  const full = n === 8;
  const fp = identityToFingerprint(text, starts[1]!, ends[1]!);
  if (fp === null) return 'identity is not the base64 of a 20-byte digest';
  const d = full ? 3 : 2;
  const orPort = parsePort(text, starts[d + 3]!, ends[d + 3]!);
  const dirPort = parsePort(text, starts[d + 4]!, ends[d + 4]!);
  if (orPort < 0 || dirPort < 0) return 'bad ORPort or DirPort';
  init.fingerprint = fp;
  init.nickname = text.slice(starts[0]!, ends[0]!);
  init.descriptorDigest = full ? text.slice(starts[2]!, ends[2]!) : undefined;
  init.publishedText = text.slice(starts[d]!, ends[d + 1]!);
  init.address = text.slice(starts[d + 2]!, ends[d + 2]!);
  init.orPort = orPort;
  init.dirPort = dirPort;
  return null;
}

/** Reads the `w` line's keywords (`Bandwidth=`, `Measured=`, `Unmeasured=1`); others are ignored. */
function readWLine(text: string, start: number, end: number, init: RouterInit): void {
  let pos = start;
  while (pos < end) {
    const e = nextSpace(text, pos, end);
    const eq = text.indexOf('=', pos);
    if (eq !== -1 && eq < e) {
      const keyLen = eq - pos;
      if (keyLen === 9 && text.startsWith('Bandwidth', pos)) init.bandwidth = parseUnsigned(text, eq + 1, e);
      else if (keyLen === 8 && text.startsWith('Measured', pos)) init.measured = parseUnsigned(text, eq + 1, e);
      else if (keyLen === 10 && text.startsWith('Unmeasured', pos)) init.unmeasured = text.startsWith('1', eq + 1);
    }
    pos = e + 1;
  }
}

/**
 * Calls `onRouter` for every well-formed router status entry in `text`, in order.
 *
 * @param text - entries (or a whole consensus document), lines separated by LF or CRLF
 * @param onRouter - receives each Router as soon as its entry is complete
 * @returns how many routers were produced
 * @example
 * forEachRouterStatus(await control.getInfo('ns/all'), (r) => routers.set(r.fingerprint, r));
 */
export function forEachRouterStatus(
  text: string,
  onRouter: (router: Router) => void,
  opts: ParseRouterStatusOptions = {},
): number {
  const { context, onProblem } = opts;
  const len = text.length;
  // One scratch record for the entry being read (Router copies it): nothing allocated per entry
  // but the Router and its strings.
  const init: RouterInit = {
    fingerprint: '',
    nickname: '',
    address: '',
    orPort: 0,
    dirPort: 0,
    publishedText: '',
    descriptorDigest: undefined,
    orAddresses: undefined,
    flagsText: '',
    bandwidth: undefined,
    measured: undefined,
    unmeasured: false,
    versionLine: undefined,
    protocols: undefined,
    policyText: undefined,
  };
  let open = false;
  let count = 0;
  let lineNo = 0;
  let pos = 0;
  const flush = () => {
    if (open) {
      onRouter(new Router(init, context));
      count++;
      open = false;
    }
  };
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = len;
    let end = nl;
    if (end > pos && text.charCodeAt(end - 1) === 13 /* \r */) end--;
    lineNo++;
    const c0 = text.charCodeAt(pos);
    const c1 = pos + 1 < end ? text.charCodeAt(pos + 1) : -1;
    if (c1 === 32 /* ' ' */) {
      const body = pos + 2;
      switch (c0) {
        case 114 /* r */: {
          flush();
          resetInit(init);
          const problem = readRLine(text, body, end, init);
          if (problem === null) open = true;
          else onProblem?.({ line: lineNo, reason: problem });
          break;
        }
        case 97 /* a */:
          if (open) (init.orAddresses ??= []).push(text.slice(body, end));
          break;
        case 115 /* s */:
          if (open) init.flagsText = text.slice(body, end);
          break;
        case 118 /* v */:
          if (open) init.versionLine = text.slice(body, end);
          break;
        case 119 /* w */:
          if (open) readWLine(text, body, end, init);
          break;
        case 112 /* p */:
          if (open) init.policyText = text.slice(body, end);
          break;
        default:
        // `m` (microdescriptor digest) and unknown one-letter items: tolerated, ignored.
      }
    } else if (c0 === 112 /* p */ && c1 === 114 /* r */ && text.charCodeAt(pos + 2) === 32) {
      if (open) init.protocols = text.slice(pos + 3, end);
    } else if (c0 === 100 /* d */ && text.startsWith('directory-footer', pos)) {
      // Everything after the footer (weights, signatures) belongs to no entry.
      flush();
    }
    pos = nl + 1;
  }
  flush();
  return count;
}

/**
 * Parses router status entries into an array (see {@link forEachRouterStatus}).
 *
 * @example
 * parseRouterStatuses(nsText).map((r) => r.nickname)
 */
export function parseRouterStatuses(text: string, opts: ParseRouterStatusOptions = {}): Router[] {
  const out: Router[] = [];
  forEachRouterStatus(text, (r) => out.push(r), opts);
  return out;
}
