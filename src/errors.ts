import { describeThrown } from './util/describe-thrown.js';

/**
 * One error hierarchy for all of torcon. Every error has a stable `code` string that callers can
 * switch on (messages may be reworded; codes never change), data fields where they help, and `cause`
 * when it wraps another error. Messages never contain secrets: callers pass redacted values only.
 */

/**
 * The code of every `TorSocksError`: tor's SOCKS reply (`TOR_SOCKS_CONNECTION_REFUSED`, tor's onion
 * replies `TOR_SOCKS_ONION_*`), or what went wrong around it (`TOR_SOCKS_UNREACHABLE`: no SOCKS port
 * answered; `TOR_SOCKS_TLS_FAILED`, `TOR_SOCKS_TIMEOUT`...). The README's error table says what each means.
 */
export type TorSocksErrorCode =
  | 'TOR_SOCKS_ADDRESS_NOT_SUPPORTED'
  | 'TOR_SOCKS_AUTH_FAILED'
  | 'TOR_SOCKS_CLOSED'
  | 'TOR_SOCKS_COMMAND_NOT_SUPPORTED'
  | 'TOR_SOCKS_CONNECTION_REFUSED'
  | 'TOR_SOCKS_FAILED'
  | 'TOR_SOCKS_GENERAL_FAILURE'
  | 'TOR_SOCKS_HOST_UNREACHABLE'
  | 'TOR_SOCKS_NETWORK_UNREACHABLE'
  | 'TOR_SOCKS_NOT_ALLOWED'
  | 'TOR_SOCKS_NO_LISTENER'
  | 'TOR_SOCKS_ONION_BAD_ADDRESS'
  | 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING'
  | 'TOR_SOCKS_ONION_CLIENT_AUTH_WRONG'
  | 'TOR_SOCKS_ONION_DESCRIPTOR_INVALID'
  | 'TOR_SOCKS_ONION_INTRO_FAILED'
  | 'TOR_SOCKS_ONION_INTRO_TIMEOUT'
  | 'TOR_SOCKS_ONION_NOT_FOUND'
  | 'TOR_SOCKS_ONION_REND_FAILED'
  | 'TOR_SOCKS_PROTOCOL'
  | 'TOR_SOCKS_TIMEOUT'
  | 'TOR_SOCKS_TLS_FAILED'
  | 'TOR_SOCKS_TTL_EXPIRED'
  | 'TOR_SOCKS_UNKNOWN_REPLY'
  | 'TOR_SOCKS_UNREACHABLE';

/** Every `code` a torcon error carries: a `switch (err.code)` that TypeScript checks. */
export type TorErrorCode =
  | 'TOR_ABORTED'
  | 'TOR_AUTH_FAILED'
  | 'TOR_CIRCUIT_FAILED'
  | 'TOR_CONTROL_CLOSED'
  | 'TOR_CONTROL_ERROR'
  | 'TOR_ENDPOINT_ARGUMENT'
  | 'TOR_ENDPOINT_CONNECT'
  | 'TOR_ENDPOINT_DUPLICATE'
  | 'TOR_ENDPOINT_LISTEN'
  | 'TOR_ENDPOINT_SYNTAX'
  | 'TOR_ENDPOINT_UNKNOWN'
  | 'TOR_EVENTS_OVERFLOW'
  | 'TOR_FETCH_FAILED'
  | 'TOR_GEOIP_DATABASE'
  | 'TOR_INVALID_VALUE'
  | 'TOR_LAUNCH_FAILED'
  | 'TOR_NETWORK_DISABLED'
  | 'TOR_NOT_AVAILABLE'
  | 'TOR_ONION_NOT_FOUND'
  | 'TOR_ONION_PUBLISH'
  | 'TOR_PROTOCOL_ERROR'
  | 'TOR_TIMEOUT'
  | TorSocksErrorCode;

/** Base class of every error torcon throws. */
export class TorError extends Error {
  /** Stable machine-readable code, e.g. `TOR_CONTROL_CLOSED` (each subclass narrows it to its own). */
  readonly code: TorErrorCode;

  constructor(code: TorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Tor answered a command with a 4xx/5xx status. */
export class TorControlError extends TorError {
  declare readonly code: 'TOR_CONTROL_ERROR';
  /** Tor's three-digit status, e.g. 552. */
  readonly status: number;
  /** The command keyword that failed (never its arguments: they may hold secrets). */
  readonly command: string;

  constructor(status: number, text: string, command: string, options?: { cause?: unknown }) {
    super('TOR_CONTROL_ERROR', `${command}: tor replied ${status} ${text}`, options);
    this.status = status;
    this.command = command;
  }
}

/** The control connection is closed (tor died, the socket dropped, or close() was called). */
export class TorControlClosedError extends TorError {
  declare readonly code: 'TOR_CONTROL_CLOSED';
  constructor(message = 'the Tor control connection is closed', options?: { cause?: unknown }) {
    super('TOR_CONTROL_CLOSED', message, options);
  }
}

/** Tor (or something pretending to be tor) sent bytes that break the control protocol. */
export class TorProtocolError extends TorError {
  declare readonly code: 'TOR_PROTOCOL_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOR_PROTOCOL_ERROR', message, options);
  }
}

/** A caller's value cannot be sent safely (CR, LF or NUL, or an otherwise invalid token). */
export class TorInvalidValueError extends TorError {
  declare readonly code: 'TOR_INVALID_VALUE';
  /** What the value was for, e.g. `GETINFO key` (never the value itself: it may be a secret). */
  readonly field: string;

  /** @param options.cause the error that found the value invalid, when another library did */
  constructor(field: string, reason: string, options?: { cause?: unknown }) {
    super('TOR_INVALID_VALUE', `invalid ${field}: ${reason}`, options);
    this.field = field;
  }
}

/** Authentication with tor's control port failed or was refused. */
export class TorAuthError extends TorError {
  declare readonly code: 'TOR_AUTH_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOR_AUTH_FAILED', message, options);
  }
}

/** A SOCKS request through tor failed. `reply` is the SOCKS5 reply byte when tor sent one. */
export class TorSocksError extends TorError {
  declare readonly code: TorSocksErrorCode;
  readonly reply?: number;

  constructor(code: TorSocksErrorCode, message: string, reply?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    if (reply !== undefined) this.reply = reply;
  }
}

/**
 * `fetch` through tor failed for a reason that is not a SOCKS failure (those are `TorSocksError`):
 * the stream closed before the response was complete, the answer was not HTTP, a port fetch refuses,
 * too many redirects... `cause` is the error of fetch (undici) itself.
 */
export class TorFetchError extends TorError {
  declare readonly code: 'TOR_FETCH_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOR_FETCH_FAILED', message, options);
  }
}

/** An endpoint string does not follow the grammar. `index` is the offending character position. */
export class EndpointSyntaxError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_SYNTAX';
  readonly index: number;

  constructor(message: string, index: number) {
    super('TOR_ENDPOINT_SYNTAX', `${message} (at position ${index})`);
    this.index = index;
  }
}

/** No plugin is registered for an endpoint string's prefix. */
export class UnknownEndpointError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_UNKNOWN';
  readonly prefix: string;
  readonly known: readonly string[];
  /** A registered prefix close to `prefix` (a likely typo: `tro` for `tor`), if any. */
  readonly suggestion: string | undefined;

  /**
   * @param otherRole - a plugin for `prefix` exists, for the other role only (`onion:` given to
   *   connect(), say): the message says where it belongs.
   * @param suggestion - a registered prefix close to `prefix`, and whether it is of the other role
   */
  constructor(prefix: string, known: readonly string[], role?: 'client' | 'server', otherRole = false, suggestion?: { prefix: string; otherRole: boolean }) {
    const what = role ? `${role} endpoint type` : 'endpoint type';
    const where = role === 'client' ? 'a server endpoint, for listen()' : 'a client endpoint, for connect()';
    const why = otherRole && role ? `"${prefix}" is ${where}, not a ${what}` : `unknown ${what} "${prefix}"`;
    const guess = suggestion === undefined ? '' : ` (did you mean "${suggestion.prefix}"${suggestion.otherRole && role ? `, ${where}` : ''}?)`;
    super('TOR_ENDPOINT_UNKNOWN', `${why}${guess}; known: ${known.length ? known.join(', ') : '(none)'}`);
    this.prefix = prefix;
    this.known = known;
    this.suggestion = suggestion?.prefix;
  }
}

/** An endpoint's positional or keyword arguments are invalid (unknown keyword, bad port...). */
export class EndpointArgumentError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_ARGUMENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOR_ENDPOINT_ARGUMENT', message, options);
  }
}

/** An onion service could not be published (every descriptor upload failed, or it timed out). */
export class OnionPublishError extends TorError {
  declare readonly code: 'TOR_ONION_PUBLISH';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOR_ONION_PUBLISH', message, options);
  }
}

/** tor could not be started. `logLines` holds tor's last log lines (never secrets: tor logs none). */
export class TorLaunchError extends TorError {
  declare readonly code: 'TOR_LAUNCH_FAILED';
  readonly logLines: readonly string[];

  constructor(message: string, logLines: readonly string[] = [], options?: { cause?: unknown }) {
    const tail = logLines.length ? `\n  tor said:\n    ${logLines.join('\n    ')}` : '';
    super('TOR_LAUNCH_FAILED', message + tail, options);
    this.logLines = logLines;
  }
}

/**
 * A circuit failed to build or closed, or a stream could not use the circuit it was pinned to.
 * `reason`/`remoteReason` are tor's REASON/REMOTE_REASON: the circuit's, or for a pinned stream
 * that tor ended, the stream's.
 */
export class TorCircuitError extends TorError {
  declare readonly code: 'TOR_CIRCUIT_FAILED';
  readonly circuitId?: string;
  readonly reason?: string;
  readonly remoteReason?: string;

  constructor(
    message: string,
    fields: { circuitId?: string; reason?: string; remoteReason?: string } = {},
    options?: { cause?: unknown },
  ) {
    super('TOR_CIRCUIT_FAILED', message, options);
    if (fields.circuitId !== undefined) this.circuitId = fields.circuitId;
    if (fields.reason !== undefined) this.reason = fields.reason;
    if (fields.remoteReason !== undefined) this.remoteReason = fields.remoteReason;
  }
}

/** An operation was aborted through its AbortSignal. */
export class TorAbortError extends TorError {
  declare readonly code: 'TOR_ABORTED';
  constructor(what = 'operation', options?: { cause?: unknown }) {
    super('TOR_ABORTED', `${what} was aborted`, options);
  }
}

/**
 * An operation did not finish within its `timeoutMs`. The message names the step that was under
 * way (`GETINFO`, `connecting to host:port through tor`...) and the caller's timeout.
 */
export class TorTimeoutError extends TorError {
  declare readonly code: 'TOR_TIMEOUT';
  /** The caller's `timeoutMs`, also when the call had several steps and the last one ran out. */
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super('TOR_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** An events() iterator's reader fell so far behind that its buffer filled: later events were dropped. */
export class TorEventsOverflowError extends TorError {
  declare readonly code: 'TOR_EVENTS_OVERFLOW';
  /** The buffer's size (the iterator's `maxBuffered`). */
  readonly maxBuffered: number;

  constructor(maxBuffered: number) {
    super(
      'TOR_EVENTS_OVERFLOW',
      `the event iterator stopped: ${maxBuffered === 1 ? '1 event was' : `${maxBuffered} events were`} waiting unread, and later ones were dropped (read faster, or raise maxBuffered)`,
    );
    this.maxBuffered = maxBuffered;
  }
}

/** Two endpoint plugins were registered for the same prefix. */
export class DuplicateEndpointError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_DUPLICATE';
  readonly prefix: string;

  constructor(prefix: string) {
    super('TOR_ENDPOINT_DUPLICATE', `an endpoint plugin for "${prefix}" is already registered`);
    this.prefix = prefix;
  }
}

/** No tor could be reached (and none may be launched for this operation). */
export class TorNotAvailableError extends TorError {
  declare readonly code: 'TOR_NOT_AVAILABLE';
  /** The control endpoints that were tried, with why each failed. */
  readonly tried: readonly string[];

  constructor(message: string, tried: readonly string[] = [], options?: { cause?: unknown }) {
    super('TOR_NOT_AVAILABLE', tried.length ? `${message}; tried: ${tried.join('; ')}` : message, options);
    this.tried = tried;
  }
}

/** A plain (tcp:, unix:, tls:) endpoint could not connect. `systemCode` is Node's, e.g. `ECONNREFUSED`. */
export class EndpointConnectError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_CONNECT';
  readonly systemCode?: string;

  constructor(what: string, cause: unknown) {
    const systemCode = (cause as { code?: unknown } | undefined)?.code;
    const detail = describeThrown(cause);
    super('TOR_ENDPOINT_CONNECT', `${what} failed: ${detail}`, { cause });
    if (typeof systemCode === 'string') this.systemCode = systemCode;
  }
}

/** A server endpoint could not listen. `systemCode` is Node's, e.g. `EADDRINUSE`. */
export class EndpointListenError extends TorError {
  declare readonly code: 'TOR_ENDPOINT_LISTEN';
  readonly systemCode?: string;

  constructor(what: string, cause: unknown) {
    const systemCode = (cause as { code?: unknown } | undefined)?.code;
    const detail = describeThrown(cause);
    super('TOR_ENDPOINT_LISTEN', `${what} failed: ${detail}`, { cause });
    if (typeof systemCode === 'string') this.systemCode = systemCode;
  }
}

/** A GeoIP database could not be opened or read. `path` is the file that failed. */
export class GeoIpDatabaseError extends TorError {
  declare readonly code: 'TOR_GEOIP_DATABASE';
  readonly path: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('TOR_GEOIP_DATABASE', `GeoIP database ${path}: ${reason}`, options);
    this.path = path;
  }
}

/**
 * tor's network is disabled (`DisableNetwork 1`), so what was asked cannot happen until it is
 * enabled: `tor.waitForBootstrap()` would otherwise wait forever.
 */
export class TorNetworkDisabledError extends TorError {
  declare readonly code: 'TOR_NETWORK_DISABLED';
  constructor(message = "tor's network is disabled (DisableNetwork 1)", options?: { cause?: unknown }) {
    super('TOR_NETWORK_DISABLED', message, options);
  }
}

/** One directory's answer to an onion-service descriptor fetch that found nothing. */
export interface OnionDescriptorAttempt {
  /**
   * The HSDir asked: 40 hex digits, upper case; `UNKNOWN` when tor asked none (then `reason` is
   * `QUERY_NO_HSDIR`).
   */
  readonly hsDir: string;
  /** tor's REASON (control-spec 4.1.25): `NOT_FOUND`, `QUERY_REJECTED`, `BAD_DESC`, `UNEXPECTED`, ... */
  readonly reason: string;
}

/**
 * No descriptor of an onion service could be fetched: every HSDir tor asked answered without one
 * (the service is not published, or not for the current time period), or tor had no HSDir left to
 * ask. `attempts` lists each directory asked with tor's reason.
 */
export class TorOnionDescriptorNotFoundError extends TorError {
  declare readonly code: 'TOR_ONION_NOT_FOUND';
  /** The service id (56 characters, lower case, without `.onion`). */
  readonly serviceId: string;
  /** Each HSDir asked, with the reason it gave. */
  readonly attempts: readonly OnionDescriptorAttempt[];

  constructor(serviceId: string, attempts: readonly OnionDescriptorAttempt[], message: string, options?: { cause?: unknown }) {
    super('TOR_ONION_NOT_FOUND', message, options);
    this.serviceId = serviceId;
    this.attempts = attempts;
  }
}
