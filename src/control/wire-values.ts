import { TorInvalidValueError } from '../errors.js';
import { quoteString } from './keyword-args.js';

/**
 * Checks and encodings for every caller-supplied value that goes onto the control connection.
 * A CR or LF in a value would let a caller (or whoever controls the caller's input) end our
 * command and start another one, so they are refused before anything is written; NUL is refused
 * because tor treats it as the end of the line. A lone UTF-16 surrogate is refused too: UTF-8
 * cannot carry it, so tor would silently get U+FFFD instead of what the caller gave.
 */

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\r\n\0]/;
/** In `u` mode a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /\p{Surrogate}/u;
// eslint-disable-next-line no-control-regex
const NOT_A_TOKEN = /[\s\0"\\]/;

/**
 * Refuses CR, LF and NUL anywhere in `value`, and lone surrogates.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertNoLineBreak(value: string, field: string): string {
  return assertText(value, field, FORBIDDEN, 'CR, LF or NUL');
}

/** A string without `forbidden` characters (named by `what`) and without lone surrogates. */
function assertText(value: string, field: string, forbidden: RegExp, what: string): string {
  if (typeof value !== 'string') throw new TorInvalidValueError(field, 'not a string');
  if (forbidden.test(value)) throw new TorInvalidValueError(field, `contains ${what}`);
  if (LONE_SURROGATE.test(value)) throw new TorInvalidValueError(field, 'contains a lone UTF-16 surrogate, which UTF-8 cannot carry');
  return value;
}

/**
 * Checks a bare token (a GETINFO key, a config option name, an event or signal name): non-empty,
 * no whitespace, quotes, backslashes or control characters.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertToken(value: string, field: string): string {
  if (typeof value !== 'string') throw new TorInvalidValueError(field, 'not a string');
  if (value.length === 0) throw new TorInvalidValueError(field, 'is empty');
  assertNoLineBreak(value, field);
  if (NOT_A_TOKEN.test(value)) {
    throw new TorInvalidValueError(field, 'contains whitespace, a quote or a backslash');
  }
  return value;
}

/**
 * One token or a list of them (GETINFO keys, GETCONF options), each checked as {@link assertToken}.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything else (null, a number, an object...)
 */
export function assertTokenList(value: string | readonly string[], field: string): readonly string[] {
  if (typeof value === 'string') return [assertToken(value, field)];
  if (!Array.isArray(value)) throw new TorInvalidValueError(field, 'must be a string or an array of strings');
  for (const item of value as readonly string[]) assertToken(item, field);
  return value as readonly string[];
}

/**
 * Encodes `value` as a control-spec QuotedString (section 2.1): backslash and double quote are
 * escaped, tab is written `\t` so that whitespace survives any reader. CR, LF and NUL are refused
 * rather than escaped: tor's SETCONF parser would accept `\n`, but a multi-line config value is
 * almost always an injection attempt, and refusing is the safe default.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function quoteValue(value: string, field: string): string {
  return quoteString(assertNoLineBreak(value, field));
}

/**
 * Refuses what a data block (`+LOADCONF`, control-spec 2.2) cannot carry: CR and NUL (its lines
 * end at LF), and lone surrogates (as {@link assertNoLineBreak}).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`)
 */
export function assertDataBlock(value: string, field: string): string {
  return assertText(value, field, /[\r\0]/, 'CR or NUL');
}

/**
 * The keyword of a command line, upper case: what comes before the first space or tab. tor ends
 * the keyword at any whitespace (`GETINFO\tversion` is GETINFO), so must every check that looks
 * at it.
 */
export function commandKeyword(line: string): string {
  const m = /[ \t\v\f]/.exec(line);
  return (m === null ? line : line.slice(0, m.index)).toUpperCase();
}

/** Keywords whose arguments are secrets in every form (passwords, cookies, HMACs). */
const SECRET_COMMANDS = new Set(['AUTHENTICATE', 'AUTHCHALLENGE']);
/** Keywords some of whose arguments may be secrets. */
const COMMANDS_WITH_SECRETS = new Set(['ADD_ONION', 'ONION_CLIENT_AUTH_ADD', 'SETCONF', 'RESETCONF', 'LOADCONF']);
/**
 * Config options whose values must never be logged: passwords, keys, authenticators, cookies,
 * proxy user names, and bridge lines (a bridge's address and `cert=` are what keeps it unblocked).
 */
const SECRET_OPTION = /password|secret|key|auth|cookie|username|bridge/i;

/**
 * Where a command line holds secrets, as [start, end) ranges in order: the arguments of
 * AUTHENTICATE/AUTHCHALLENGE, an ADD_ONION private key's blob and its ClientAuth(V3) keys, the key
 * of ONION_CLIENT_AUTH_ADD, secret-looking SETCONF/RESETCONF/LOADCONF values. What
 * {@link redactCommand} hides and {@link secretArguments} lists, found in one place.
 */
function secretSpans(line: string): Array<[start: number, end: number]> {
  const keyword = commandKeyword(line);
  if (keyword.length === line.length || !(SECRET_COMMANDS.has(keyword) || COMMANDS_WITH_SECRETS.has(keyword))) return [];
  const spans: Array<[number, number]> = [];
  // The value of each match's last group.
  const spanOfLast = (m: RegExpExecArray | RegExpMatchArray) => {
    const end = m.index! + m[0].length;
    spans.push([end - m[m.length - 1]!.length, end]);
  };
  if (SECRET_COMMANDS.has(keyword)) {
    const m = /^\S+\s+(.+)$/s.exec(line);
    if (m) spanOfLast(m);
  } else if (keyword === 'ADD_ONION') {
    const key = /^ADD_ONION\s+(\S+?):(\S+)/i.exec(line);
    if (key && key[1]!.toUpperCase() !== 'NEW') spanOfLast(key);
    for (const m of line.matchAll(/ClientAuth(?:V3)?=(\S+)/gi)) spanOfLast(m);
  } else if (keyword === 'ONION_CLIENT_AUTH_ADD') {
    const m = /^ONION_CLIENT_AUTH_ADD\s+\S+\s+(\S+)/i.exec(line);
    if (m) spanOfLast(m);
  } else {
    for (const m of line.matchAll(/(\b[\w]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) if (SECRET_OPTION.test(m[1]!)) spanOfLast(m);
  }
  return spans;
}

/**
 * A copy of a command line that is safe to log: arguments of AUTHENTICATE/AUTHCHALLENGE, onion
 * private keys, client-authorization keys and secret-looking SETCONF values are replaced.
 */
export function redactCommand(line: string): string {
  let out = line;
  for (const [start, end] of secretSpans(line).reverse()) out = out.slice(0, start) + '[redacted]' + out.slice(end);
  return out;
}

/**
 * The secret arguments of a command line (see {@link secretSpans}), each as sent and also, for a
 * `TYPE:blob` key its blob alone and for a quoted value its inside: tor quotes some of them back in
 * an error (`553 Invalid private key "<base64>"` for ONION_CLIENT_AUTH_ADD), so that a reply to
 * such a command is scrubbed of them before it reaches an error message or the log.
 */
export function secretArguments(line: string): string[] {
  const found: string[] = [];
  for (const [start, end] of secretSpans(line)) {
    const token = line.slice(start, end);
    const quoted = token.length > 2 && token.startsWith('"') && token.endsWith('"');
    for (const text of quoted ? [token, token.slice(1, -1)] : [token]) {
      if (text.length === 0) continue;
      found.push(text);
      const colon = text.indexOf(':');
      if (colon > 0 && colon < text.length - 1) found.push(text.slice(colon + 1));
    }
  }
  return found;
}

/** A letter or digit: a secret found next to one is part of a longer word, not the value itself. */
const SECRET_CHAR = /[A-Za-z0-9]/;

/**
 * `text` with each of `secrets` (longest first) replaced by `[redacted]` wherever it stands as a
 * value of its own: not inside a longer word. Replacing every substring made a short secret (`e`)
 * cut tor's message to pieces, and where the marks fell told what the secret was.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0) return text;
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    let at = out.indexOf(secret);
    while (at !== -1) {
      const end = at + secret.length;
      const alone = (at === 0 || !SECRET_CHAR.test(out[at - 1]!)) && (end === out.length || !SECRET_CHAR.test(out[end]!));
      if (alone) {
        out = out.slice(0, at) + '[redacted]' + out.slice(end);
        at = out.indexOf(secret, at + '[redacted]'.length);
      } else {
        at = out.indexOf(secret, at + 1);
      }
    }
  }
  return out;
}

/**
 * A reply line that is safe to log: the value of a secret-looking `Key=value` line (GETCONF
 * Socks5ProxyPassword, HashedControlPassword...) is replaced.
 */
export function redactReplyLine(text: string): string {
  const eq = text.indexOf('=');
  return eq > 0 && SECRET_OPTION.test(text.slice(0, eq)) ? `${text.slice(0, eq)}=[redacted]` : text;
}

/** Commands whose replies carry secrets (generated onion keys, client-auth keys). */
export function replyIsSecret(line: string): boolean {
  const keyword = commandKeyword(line);
  return keyword === 'ADD_ONION' || keyword === 'ONION_CLIENT_AUTH_VIEW' || keyword === 'AUTHCHALLENGE';
}

/**
 * A config value as text (SETCONF, a torrc): a string as it is, a finite number, a boolean as
 * `1`/`0`. Anything else would reach tor as its `String()` form (`[object Object]`, `NaN`).
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a value of another type
 */
export function confValueText(v: unknown, key: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TorInvalidValueError(`value of ${key}`, 'is not a finite number');
    return String(v);
  }
  const what = v === null ? 'null' : Array.isArray(v) ? 'a nested list' : typeof v === 'object' ? 'an object' : typeof v;
  throw new TorInvalidValueError(`value of ${key}`, `must be a string, number or boolean, not ${what}`);
}

/**
 * The error for a configuration option given as `undefined`: sent bare, it would set the option
 * to 0 or empty (a bare `ExitPolicy` drops a relay's exit policy), which
 * `{ ContactInfo: process.env.CONTACT }` with the variable unset never meant. `null` says it on
 * purpose.
 */
export function undefinedValue(name: string): TorInvalidValueError {
  return new TorInvalidValueError(`value of ${name}`, 'is undefined: leave the option out, or give null to send it bare (0 or empty)');
}
