import { EndpointSyntaxError } from '../errors.js';

/**
 * The grammar of endpoint strings, the same one Twisted's `clientFromString`/`serverFromString` use,
 * so that strings written for txtorcon keep working:
 *
 * - segments are separated by `:`; the first segment is the prefix (the endpoint type);
 * - a later segment holding an unescaped `=` is `key=value`, split at that first `=`; inside the
 *   value only `:` separates, so a value may hold further `=` characters;
 * - `\` takes the next character literally (in the prefix, keys, values and positional arguments);
 * - the prefix is compared case-insensitively, so it is returned lower-cased.
 *
 * Where Twisted is lenient we are strict, because a silently ignored mistake in an endpoint string
 * can route traffic somewhere the user did not intend:
 * - a repeated keyword is an error (Twisted keeps the last one);
 * - an empty description, an empty prefix, a prefix holding `=`, and an empty keyword are errors.
 *
 * The grammar accepts every other character, CR/LF/NUL included: which values are acceptable is the
 * business of each plugin. This module is pure and does no I/O.
 */

/**
 * The result of {@link parseEndpoint}: DESIGN.md's `{ prefix: string; args: string[]; options:
 * Record<string, string> }`. The array and record are plain and mutable (each parse makes new ones),
 * so a caller may hand them on to code typed with that shape.
 */
export interface ParsedEndpoint {
  /** The endpoint type, lower-cased, e.g. `tcp`, `tor`, `onion`. */
  readonly prefix: string;
  /** Positional arguments after the prefix, in order, unescaped. */
  readonly args: string[];
  /** Keyword arguments (`key=value`), unescaped. Keys keep their case (keywords are camelCase). */
  readonly options: Record<string, string>;
}

/**
 * Parses an endpoint description.
 *
 * @param description - e.g. `tor:example.com:443:socksPort=9050`.
 * @returns the lower-cased prefix, the positional arguments and the keyword arguments.
 * @throws EndpointSyntaxError (code `TOR_ENDPOINT_SYNTAX`) for an empty description or prefix, a
 *   prefix holding `=`, an empty keyword, a repeated keyword, or a trailing lone backslash; `index`
 *   is the position of the offending character in `description`.
 * @example
 * parseEndpoint('onion:80:privateKeyFile=/k:clientAuth=a,b')
 * // { prefix: 'onion', args: ['80'], options: { privateKeyFile: '/k', clientAuth: 'a,b' } }
 * parseEndpoint('tor:\\:\\:1:80') // { prefix: 'tor', args: ['::1', '80'], options: {} }
 */
export function parseEndpoint(description: string): ParsedEndpoint {
  if (typeof description !== 'string') {
    throw new EndpointSyntaxError('an endpoint description must be a string', 0);
  }
  if (description.length === 0) throw new EndpointSyntaxError('empty endpoint description', 0);

  let prefix: string | undefined;
  const args: string[] = [];
  const options: Record<string, string> = {};

  let current = '';
  // Set once the current segment has met its first unescaped `=`.
  let key: string | undefined;
  let keyIndex = 0; // where the current key starts, for duplicate-keyword errors
  let eqIndex = 0; // where that `=` is, for empty-keyword errors
  let segmentStart = 0;
  // Start of the run of plain characters not yet copied into `current` (copying slices is much
  // faster than appending one character at a time).
  let runStart = 0;

  const endSegment = (end: number): void => {
    current += description.slice(runStart, end);
    if (prefix === undefined) {
      if (key !== undefined) {
        throw new EndpointSyntaxError('the endpoint type may not contain "=" (escape it as \\=)', eqIndex);
      }
      if (current.length === 0) throw new EndpointSyntaxError('empty endpoint type', segmentStart);
      prefix = current.toLowerCase();
    } else if (key === undefined) {
      args.push(current);
    } else {
      if (key.length === 0) throw new EndpointSyntaxError('empty keyword before "="', eqIndex);
      if (Object.prototype.hasOwnProperty.call(options, key)) {
        throw new EndpointSyntaxError(`keyword "${key}" given more than once`, keyIndex);
      }
      // Assigning `__proto__` would change the prototype instead of adding a keyword.
      if (key === '__proto__') {
        Object.defineProperty(options, key, { value: current, enumerable: true, writable: true, configurable: true });
      } else {
        options[key] = current;
      }
    }
    current = '';
    key = undefined;
  };

  const n = description.length;
  for (let i = 0; i < n; i++) {
    const c = description.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      if (i + 1 >= n) throw new EndpointSyntaxError('trailing backslash escapes nothing', i);
      current += description.slice(runStart, i);
      // Keep a surrogate pair whole so that escaping never splits a code point.
      const next = description.codePointAt(i + 1)!;
      const width = next > 0xffff ? 2 : 1;
      current += description.slice(i + 1, i + 1 + width);
      i += width;
      runStart = i + 1;
    } else if (c === 0x3a /* : */) {
      endSegment(i);
      segmentStart = i + 1;
      keyIndex = i + 1;
      runStart = i + 1;
    } else if (c === 0x3d /* = */ && key === undefined) {
      key = current + description.slice(runStart, i);
      eqIndex = i;
      current = '';
      runStart = i + 1;
    }
  }
  endSegment(n);

  return { prefix: prefix!, args, options };
}

/**
 * Escapes a value so that it can be embedded as one positional argument, keyword or keyword value
 * of an endpoint string: `\`, `:` and `=` get a backslash. The inverse of {@link parseEndpoint}:
 * `parseEndpoint('x:' + quoteEndpointArgument(v)).args[0] === v` for every string `v`.
 *
 * @param value - any string, e.g. a unix socket path or an inner endpoint description.
 * @returns the escaped string.
 * @example
 * `tls:example.com:443:endpoint=${quoteEndpointArgument('tor:example.com:443')}`
 * // 'tls:example.com:443:endpoint=tor\\:example.com\\:443'
 */
export function quoteEndpointArgument(value: string): string {
  return value.replace(/[\\:=]/g, '\\$&');
}

/** Keywords whose values are secrets (compared in lower case): onion `privateKey`, and the tor: endpoint's SOCKS credentials and isolation token. */
const SECRET_KEYWORDS: ReadonlySet<string> = new Set(['privatekey', 'password', 'username', 'isolate']);

/**
 * A copy of an endpoint string that is safe to print or log: the values of `privateKey`,
 * `password`, `username` and `isolate` are replaced (`onion:80:privateKey=[redacted]`), however
 * the keyword is escaped (`priv\ateKey=` is `privateKey=` to the parser) or cased, and inside an
 * endpoint given as a value (`tls:...:endpoint=tor\:...\:isolate\=T`). A string the grammar
 * refuses is redacted the same way, segment by segment.
 * @example redactEndpoint('onion:80:privateKey=ED25519-V3\\:abc') // 'onion:80:privateKey=[redacted]'
 */
export function redactEndpoint(description: string): string {
  return splitUnescaped(description, ':').map(redactSegment).join(':');
}

/** One `:`-separated segment of an endpoint string, its value redacted if its keyword is a secret's. */
function redactSegment(segment: string): string {
  const eq = splitUnescaped(segment, '=')[0]!.length;
  if (eq === segment.length) return segment;
  const rawKey = segment.slice(0, eq);
  if (SECRET_KEYWORDS.has(unescapeEndpointText(rawKey).toLowerCase())) return `${rawKey}=[redacted]`;
  // A value that is itself an endpoint (endpoint=, control=) is redacted inside.
  const value = unescapeEndpointText(segment.slice(eq + 1));
  if (!value.includes(':')) return segment;
  const inner = redactEndpoint(value);
  return inner === value ? segment : `${rawKey}=${quoteEndpointArgument(inner)}`;
}

/** `text` split at each `sep` that no backslash escapes (the escapes are kept in the pieces). */
function splitUnescaped(text: string, sep: ':' | '='): string[] {
  const pieces: string[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === sep) {
      pieces.push(text.slice(from, i));
      from = i + 1;
    }
  }
  pieces.push(text.slice(from));
  return pieces;
}

/** `text` with its backslash escapes resolved, as the parser reads it. */
function unescapeEndpointText(text: string): string {
  return text.replace(/\\(.?)/gs, '$1');
}
