import net from 'node:net';
import { domainToASCII } from 'node:url';
import { EndpointArgumentError } from '../errors.js';
import { MAX_TIMER_MS } from '../util/abort.js';
import type { ParsedEndpoint } from '../util/endpoint-grammar.js';
import { nearest } from '../util/known-options.js';
import { checkOnionHostname } from './onion-address.js';

/**
 * Shared, pure argument checks for the built-in plugins. Every function throws
 * `EndpointArgumentError` (code `TOR_ENDPOINT_ARGUMENT`) with a message that names the endpoint type
 * and the argument, and shows a value only when the caller says it is not secret.
 */

/**
 * A run of base64/base32 characters as long as the shortest key torcon takes (a 32-byte key in
 * base64 is 43 of them): a value holding one may be a key that ended up in the wrong place, as
 * when an unescaped `:` splits `privateKey=ED25519-V3:...` and the rest reads as a keyword.
 */
const KEY_LIKE = /[A-Za-z0-9+/=]{43,}/;

/**
 * Shows a user value in a message: quoted, control characters escaped, long values cut, and a
 * value that looks like key material not at all (only its length).
 */
export function showValue(value: string): string {
  if (KEY_LIKE.test(value)) return `(${value.length} characters, not shown: they look like a key)`;
  const cut = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(cut);
}

/**
 * The arguments of one endpoint after positional and keyword forms are merged. Positional names
 * follow Python's calling convention, as in Twisted and txtorcon: `tcp:example.com:80` and
 * `tcp:host=example.com:port=80` are the same.
 */
export interface EndpointArgs {
  /** Positional-or-keyword values by name (absent when not given). */
  readonly named: Readonly<Record<string, string | undefined>>;
  /** Keyword-only values by name (absent when not given). */
  readonly keywords: Readonly<Record<string, string | undefined>>;
}

/** The shape of one plugin role's arguments. */
export interface ArgSpec {
  /** Endpoint type and role for messages, e.g. `tor: client`. */
  readonly what: string;
  /** Positional-or-keyword argument names, in positional order, e.g. `['host', 'port']`. */
  readonly positional: readonly string[];
  /** Keyword-only argument names (camelCase). */
  readonly keywords: readonly string[];
  /** Usage line shown with positional errors, e.g. `tor:HOST:PORT[:keyword=value...]`. */
  readonly usage: string;
  /** Rejoin `[`…`]` across unescaped colons in the first positional argument (IPv6 hosts). */
  readonly bracketedHost?: boolean;
}

/**
 * Checks an endpoint's argument names and characters and merges positional and keyword forms.
 *
 * - an unknown keyword is an error naming it and the known ones;
 * - more positional arguments than names is an error (values are not echoed: one may be a secret);
 * - a name given both positionally and as a keyword is an error;
 * - CR, LF or NUL anywhere is an error naming where, never the value: such characters have no
 *   business in host names, paths or keys, and would corrupt tor's line-based control protocol.
 *
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function collectArgs(endpoint: ParsedEndpoint, spec: ArgSpec): EndpointArgs {
  const known = [...spec.positional, ...spec.keywords];
  for (const [key, value] of Object.entries(endpoint.options)) {
    if (!known.includes(key)) {
      const sameButCase = known.find((k) => k.toLowerCase() === key.toLowerCase());
      // A "keyword" that is no name at all is most often the tail of a value cut at a `:`.
      const cutValue = !/^[A-Za-z][A-Za-z0-9_]*$/.test(key) || KEY_LIKE.test(key);
      // A misspelt name (`isloate`, `clientAuht`) gets the nearest, as call options do.
      const near = sameButCase ?? (cutValue ? undefined : nearest(key, known));
      throw new EndpointArgumentError(
        `unknown keyword ${showValue(key)} for ${spec.what} endpoints` +
          (sameButCase ? ` (did you mean "${sameButCase}"? keywords are case-sensitive)` : near ? ` (did you mean "${near}"?)` : '') +
          (cutValue ? ' (a ":" inside a value must be written "\\:")' : '') +
          `; known: ${known.join(', ')}`,
      );
    }
    rejectControlChars(value, `${spec.what} keyword "${key}"`);
  }
  const args = spec.bracketedHost ? joinBracketedHost(endpoint.args) : [...endpoint.args];
  args.forEach((arg, i) => rejectControlChars(arg, `${spec.what} argument ${i + 1}`));
  if (args.length > spec.positional.length) {
    const hints: string[] = [];
    if (spec.bracketedHost) hints.push('write an IPv6 host as [::1] or escape its colons: \\:\\:1');
    // With keywords present, the extra arguments are most often the rest of a keyword value cut
    // at an unescaped ":" (control=tcp:127.0.0.1:9051, interface=::1, privateKey=ED25519-V3:...).
    // `interface=[::1]`: the grammar (Twisted's) has no brackets, so the colons cut the value at "[".
    const bracketed = Object.keys(endpoint.options).find((k) => /^\[[^\]]*$/.test(endpoint.options[k]!));
    if (bracketed !== undefined) {
      hints.push(`an IPv6 address in a keyword value needs its colons escaped, as in ${bracketed}=\\:\\:1; brackets do not keep them together`);
    } else if (Object.keys(endpoint.options).length > 0) hints.push('a ":" inside a keyword value must be written "\\:"');
    throw new EndpointArgumentError(
      `${spec.what} endpoints take at most ${spec.positional.length} positional argument(s), got ${args.length}` +
        (hints.length > 0 ? ` (${hints.join('; ')})` : '') +
        `; usage: ${spec.usage}`,
    );
  }
  const named: Record<string, string | undefined> = {};
  spec.positional.forEach((name, i) => {
    const fromArgs = args[i];
    const fromKeyword = own(endpoint.options, name);
    if (fromArgs !== undefined && fromKeyword !== undefined) {
      throw new EndpointArgumentError(`${prefixed(spec.what)} "${name}" given both positionally and as a keyword`);
    }
    named[name] = fromArgs ?? fromKeyword;
  });
  const keywords: Record<string, string | undefined> = {};
  for (const name of spec.keywords) keywords[name] = own(endpoint.options, name);
  return { named, keywords };
}

function own(record: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** `what` as a message's opening: `tcp: client:`, and `onion:` (not `onion::`). */
export function prefixed(what: string): string {
  return what.endsWith(':') ? what : `${what}:`;
}

/**
 * Rejects CR, LF and NUL. The message names `where`, never the value.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function rejectControlChars(value: string, where: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw new EndpointArgumentError(`${where} contains a CR, LF or NUL character`);
  }
}

/**
 * Undoes the grammar's split of a bracketed IPv6 host: `tcp:[::1]:80` parses as
 * `['[', '', '1]', '80']`; the colons the grammar consumed are put back.
 */
export function joinBracketedHost(args: readonly string[]): string[] {
  const first = args[0];
  if (first === undefined || !first.startsWith('[') || first.includes(']')) return [...args];
  const close = args.findIndex((a, i) => i > 0 && a.includes(']'));
  if (close < 0) return [...args];
  return [args.slice(0, close + 1).join(':'), ...args.slice(close + 1)];
}

/**
 * Requires a value.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`) when it is missing or empty.
 */
export function required(value: string | undefined, name: string, spec: Pick<ArgSpec, 'what' | 'usage'>): string {
  if (value === undefined || value === '') {
    throw new EndpointArgumentError(`${prefixed(spec.what)} missing ${name}; usage: ${spec.usage}`);
  }
  return value;
}

/**
 * Parses a decimal integer in `[min, max]`.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseInteger(value: string, name: string, min: number, max: number): number {
  if (!/^[0-9]{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new EndpointArgumentError(`${name} must be an integer from ${min} to ${max}, got ${showValue(value)}`);
  }
  return Number(value);
}

/**
 * Parses a TCP port.
 * @param allowZero - servers may ask for an ephemeral port with 0.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parsePort(value: string, name: string, allowZero = false): number {
  return parseInteger(value, name, allowZero ? 0 : 1, 65535);
}

const TRUE_WORDS = new Set(['true', '1', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'no']);

/**
 * Parses a boolean flag: `true`/`false`, `1`/`0`, `yes`/`no` (any case).
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseBoolean(value: string, name: string): boolean {
  const v = value.toLowerCase();
  if (TRUE_WORDS.has(v)) return true;
  if (FALSE_WORDS.has(v)) return false;
  throw new EndpointArgumentError(`${name} must be true/false, 1/0 or yes/no, got ${showValue(value)}`);
}

/** The longest timer Node accepts (about 24.8 days). */

/**
 * Parses a positive duration in seconds (decimals allowed) into milliseconds.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseSeconds(value: string, name: string): number {
  const ms = /^[0-9]{1,10}(\.[0-9]{1,6})?$/.test(value) ? Math.round(Number(value) * 1000) : NaN;
  if (!(ms >= 1 && ms <= MAX_TIMER_MS)) {
    throw new EndpointArgumentError(
      `${name} must be a number of seconds greater than 0 and at most ${Math.floor(MAX_TIMER_MS / 1000)}, got ${showValue(value)}`,
    );
  }
  return ms;
}

/**
 * Parses an IP address (IPv4, IPv6 plain or in brackets) and returns it without brackets.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseIpAddress(value: string, name: string): string {
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (net.isIP(bare) === 0 || (bare !== value && net.isIPv6(bare) === false)) {
    throw new EndpointArgumentError(`${name} must be an IPv4 or IPv6 address, got ${showValue(value)}`);
  }
  return bare;
}

/** Where a host may be reached: `onion` allows `.onion` names (only tor can reach them). */
export interface HostRules {
  /** Accept `.onion` names. When false they are refused so that no DNS query leaks them. */
  onion: boolean;
}

/**
 * Parses a host: IPv4, IPv6 (plain, e.g. from escaped colons, or in brackets), a DNS name (IDN
 * converted to its ASCII form) or, when allowed, a v3 onion address (checksum verified).
 * @returns the host without brackets, DNS names in ASCII.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseHost(value: string, name: string, rules: HostRules): string {
  if (value.startsWith('[') || value.includes(':')) {
    const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
    if (!net.isIPv6(bare)) {
      throw new EndpointArgumentError(`${name} is not a valid IPv6 address: ${showValue(value)}`);
    }
    return bare;
  }
  if (net.isIPv4(value)) return value;
  if (/^[0-9.]+$/.test(value)) {
    throw new EndpointArgumentError(`${name} is not a valid IPv4 address: ${showValue(value)}`);
  }
  const ascii = /^[\x00-\x7f]*$/.test(value) ? value : domainToASCII(value);
  const labels = (ascii.endsWith('.') ? ascii.slice(0, -1) : ascii).split('.');
  const wellFormed =
    ascii.length > 0 &&
    ascii.length <= 253 &&
    labels.every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
  if (!wellFormed) {
    throw new EndpointArgumentError(`${name} is not a valid host name or address: ${showValue(value)}`);
  }
  if (labels[labels.length - 1]!.toLowerCase() === 'onion') {
    if (!rules.onion) {
      throw new EndpointArgumentError(
        `${name} ${showValue(value)} is an onion address, which only tor can reach: use tor:HOST:PORT`,
      );
    }
    checkOnionHostname(labels, name);
  }
  return ascii;
}

/** The longest unix socket path Linux accepts (`sun_path` is 108 bytes including the NUL). */
export const MAX_UNIX_PATH_BYTES = 107;

/**
 * Checks a unix socket path: non-empty and short enough for `sun_path`.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseUnixPath(value: string, name: string): string {
  if (value === '') throw new EndpointArgumentError(`${name}: the socket path is empty`);
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new EndpointArgumentError(
      `${name}: the socket path is ${bytes} bytes long; unix sockets allow at most ${MAX_UNIX_PATH_BYTES}`,
    );
  }
  return value;
}

/**
 * Checks a file path argument: non-empty.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function parseFilePath(value: string, name: string): string {
  if (value === '') throw new EndpointArgumentError(`${name}: the path is empty`);
  return value;
}

/**
 * Throws when two mutually exclusive arguments are both present.
 * @throws EndpointArgumentError (code `TOR_ENDPOINT_ARGUMENT`)
 */
export function exclusive(
  what: string,
  values: Readonly<Record<string, string | undefined>>,
  a: string,
  b: string,
  why = '',
): void {
  if (values[a] !== undefined && values[b] !== undefined) {
    throw new EndpointArgumentError(`${prefixed(what)} "${a}" and "${b}" cannot be used together${why ? `: ${why}` : ''}`);
  }
}
