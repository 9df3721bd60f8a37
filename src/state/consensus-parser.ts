/**
 * Router status entries (dir-spec 3.4.1) to {@link Router}s, as found in `GETINFO ns/all`,
 * `ns/id/...`, NS and NEWCONSENSUS events, and whole consensus documents (the header before the
 * first entry, and the footer and signatures after `directory-footer`, are skipped).
 *
 * Both `r` line layouts are accepted:
 * - full (ns) flavor: `r nickname identity digest YYYY-MM-DD HH:MM:SS IP ORPort DirPort`;
 * - microdescriptor flavor: `r nickname identity YYYY-MM-DD HH:MM:SS IP ORPort DirPort` (no digest).
 *
 * Speed matters: a consensus has ~8,000 entries and arrives at startup and hourly. Only the `r`
 * lines are read here (found with one indexOf per entry, not per line); each Router keeps the
 * range of its entry in the text and reads its other lines the first time one of those fields is
 * asked for. Even the fingerprint is derived from the base64 identity only on demand (RouterMap
 * stores routers by identity). Most routers are only ever looked up, so most entries are never read.
 */

import { Router, type DocumentLines, type RouterContext } from './router.js';
import { readRLine, type RouterHead } from './router-status.js';
import { detach } from '../control/events/field-parsers.js';

export { fingerprintToIdentity, identityToFingerprint } from './router-status.js';

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

function lineNumberAt(text: string, pos: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Calls `onRouter` for every well-formed router status entry in `text`, in order.
 *
 * @param text - entries (or a whole consensus document), lines separated by LF or CRLF. The
 *   Routers keep a reference to it (they read their entries from it on demand).
 * @param onRouter - receives each Router
 * @returns how many routers were produced
 * @example
 * forEachRouterStatus(await control.getInfo('ns/all'), (r) => byNickname.set(r.nickname, r));
 */
export function forEachRouterStatus(
  text: string,
  onRouter: (router: Router) => void,
  opts: ParseRouterStatusOptions = {},
): number {
  const { context, onProblem } = opts;
  const footer = text.indexOf('\ndirectory-footer');
  const limit = footer === -1 ? text.length : footer;
  const head: RouterHead = { identity: '', nickname: '', address: '', orPort: 0, dirPort: 0 };
  let count = 0;
  let pos: number;
  if (text.startsWith('r ')) pos = 0;
  else {
    const first = text.indexOf('\nr ');
    pos = first === -1 ? -1 : first + 1;
  }
  while (pos !== -1 && pos < limit) {
    let lineEnd = text.indexOf('\n', pos);
    if (lineEnd === -1 || lineEnd > limit) lineEnd = limit;
    // The entry runs to the next `r` line (its LF excluded), or to the footer or the end.
    const next = text.indexOf('\nr ', lineEnd);
    const entryEnd = next === -1 || next > limit ? limit : next;
    let rEnd = lineEnd;
    if (rEnd > pos && text.charCodeAt(rEnd - 1) === 13 /* \r */) rEnd--;
    const problem = readRLine(text, pos + 2, rEnd, head);
    if (problem === null) {
      onRouter(new Router(head, text, pos, entryEnd, context));
      count++;
    } else if (onProblem !== undefined) {
      onProblem({ line: lineNumberAt(text, pos), reason: problem });
    }
    pos = entryEnd >= limit ? -1 : entryEnd + 1;
  }
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

/**
 * The `v`, `pr` and `m` lines of each entry of a consensus document (either flavor; `m` only in
 * the microdesc one), by the entry's base64 identity. tor's `ns/all` leaves these lines out; its cached consensus document
 * (`GETINFO dir/status-vote/current/consensus[-microdesc]`) has them.
 */
export function readDocumentLines(text: string): Map<string, DocumentLines> {
  const lines = new Map<string, DocumentLines>();
  const copy = (v: string | undefined) => (v === undefined ? undefined : detach(v));
  forEachRouterStatus(text, (r) => {
    // Copies: a slice of the document would keep all of it alive.
    lines.set(detach(r.identity), { version: copy(r.version), protocols: copy(r.protocols), microdescDigest: copy(r.microdescDigest) });
  });
  return lines;
}
