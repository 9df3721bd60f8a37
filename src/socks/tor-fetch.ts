import { Agent, Client, Dispatcher, FormData as UndiciFormData, Pool, fetch as undiciFetch, type buildConnector } from 'undici';
import { TorAbortError, TorError, TorFetchError, TorInvalidValueError } from '../errors.js';
import type { Circuit } from '../state/circuit.js';
import type { TorSocksConnectOptions, TorStreamOpener } from './socks-options.js';

/**
 * The `init` of `TorSocksClient.fetch`: WHATWG `RequestInit` plus isolation (a token, or SOCKS
 * credentials), the SOCKS port, a chosen circuit and a timeout.
 */
export type TorFetchInit = RequestInit & {
  /** Isolation token for this request's connection (requests with different tokens never share a circuit). Exclusive with `username`/`password`. */
  isolate?: string;
  /** SOCKS5 username for isolation, as for `tor.connect`. */
  username?: string;
  /** SOCKS5 password for isolation, as for `tor.connect`. Never logged. */
  password?: string;
  /** tor's SOCKS port for this request. @default the client's */
  socksPort?: number | string;
  /** Host of a TCP SOCKS port. @default the client's */
  socksHostname?: string;
  /**
   * Send this request over this circuit (a Circuit of the live state, or its id), redirects
   * included, as `tor.connect(target, { circuit })` does, with the same errors: TorCircuitError
   * when the circuit does not exist, closed, serves onion-service protocols or tor's own ends, or its exit refuses
   * the stream; TorInvalidValueError for an `.onion` URL (before any I/O). A kept connection is
   * reused only by later fetches with the same circuit (and `isolate`), and is closed when the
   * circuit closes. Needs a `Tor` handle (`tor.fetch`), which owns the live state. @default tor chooses
   */
  circuit?: Circuit | string;
  /**
   * Gives up when the response headers have not arrived within this many milliseconds (the
   * stream through tor, the TLS handshake, the request, any redirects: all of it), with
   * `TorTimeoutError` (code `TOR_TIMEOUT`). A number from 0 to `Infinity`, else
   * `TorInvalidValueError` before anything is sent. Reading the body afterwards is not limited:
   * use `signal` for that.
   */
  timeoutMs?: number;
};

/**
 * What a fetch of `input` is called in messages: scheme, host and port only, because a path or
 * query may carry tokens and messages end up in logs.
 */
export function describeFetch(input: string | URL): string {
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(String(input));
  } catch {
    return 'fetching an invalid URL';
  }
  return `fetching ${url.protocol}//${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** A fetch with a signal (the caller's, merged with `timeoutMs`), while it waits for its response headers. */
interface FetchScope {
  readonly signal: AbortSignal;
  /** Turns false once the fetch has its headers (or failed): its signal then bounds no connect. */
  live: boolean;
}

/**
 * The scope of the fetch whose request undici is dispatching, set only during that synchronous
 * call (see {@link FetchDispatcher}).
 *
 * Why: undici does not tell a connector which request it connects for, and does not cancel a
 * connect when the request is aborted, while a stream through tor can take long to open. But a
 * connection (a `Client` of the origin's pool) connects inside the dispatch of the request that
 * needs it, or in a microtask right after. So each connection remembers the scope of the request
 * last dispatched to it (see {@link TorClient}), and a connect is opened under that fetch's signal:
 * an abort hangs up the SOCKS connection at once. Once open, the connection is the pool's, for
 * later fetches like any other.
 */
let dispatching: FetchScope | undefined;

/**
 * What one fetch sends its requests through: each request (redirects included) goes to the pool
 * `current()` gives at that moment, marked as this fetch's (see {@link dispatching}).
 *
 * The pool is asked for each request because the one a fetch started on can be closed while the
 * fetch waits for an answer that redirects (closeKeptConnections, a NEWNYM, its circuit closing,
 * too many isolation keys): a closed undici pool lets the requests in flight finish but refuses the
 * next hop ("The client is closed"), which belongs to the same fetch. The pool that replaced it
 * takes that hop, on a new connection, as it takes new fetches.
 */
class FetchDispatcher extends Dispatcher {
  constructor(
    private readonly current: () => Dispatcher,
    private readonly scope: FetchScope | undefined,
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const outer = dispatching;
    dispatching = this.scope;
    try {
      // A throw here (a closed client) rejects the fetch (undici dispatches inside a promise).
      return this.current().dispatch(options, handler);
    } finally {
      dispatching = outer;
    }
  }
}

/** Opens a stream through tor for undici, under `signal` when one is given. */
type TorConnect = (options: buildConnector.Options, callback: buildConnector.Callback, signal: AbortSignal | undefined) => void;

/**
 * One connection of an origin's pool, whose connects are opened under the signal of the request
 * last dispatched to it (see {@link dispatching}). Not the scope it was created in: a pool makes
 * a spare connection ahead, inside the dispatch of an earlier request.
 */
class TorClient extends Client {
  readonly #last: { scope?: FetchScope | undefined };

  constructor(origin: URL, options: Client.Options, connect: TorConnect) {
    const last: { scope?: FetchScope | undefined } = {};
    super(origin, { ...options, connect: (o, callback) => connect(o, callback, last.scope?.live ? last.scope.signal : undefined) });
    this.#last = last;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.#last.scope = dispatching;
    return super.dispatch(options, handler);
  }
}

/**
 * An undici `Agent` whose connections are streams through tor: its `connect` opens the stream with
 * our SOCKS client (hostnames resolved by tor) and starts TLS for `https:` (SNI = the URL's host,
 * ALPN http/1.1). One dispatcher per isolation token, because a pooled connection keeps the
 * circuit it was opened on. A connection opened for a fetch with a signal is opened under that
 * signal (see {@link dispatching}).
 * @param stream options for every stream (isolate, socksPort...)
 */
export function createTorDispatcher(open: TorStreamOpener, stream: TorSocksConnectOptions = {}): Agent {
  const connect: TorConnect = (options, callback, signal) => {
    const https = options.protocol === 'https:';
    if (!https && options.protocol !== 'http:') {
      callback(new TorInvalidValueError('URL scheme', `${options.protocol} cannot be fetched through tor (http: and https: can)`), null);
      return;
    }
    const port = options.port ? Number(options.port) : https ? 443 : 80;
    const connectOptions: TorSocksConnectOptions = { ...stream };
    if (signal) connectOptions.signal = signal;
    if (https) {
      connectOptions.tls = {
        ALPNProtocols: ['http/1.1'],
        ...(options.servername ? { servername: options.servername } : {}),
      };
    }
    open({ host: options.hostname, port }, connectOptions).then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err, null),
    );
  };
  // undici's own pool of an origin, made of our connections.
  const connection = (origin: URL, options: object): Dispatcher => new TorClient(origin, options as Client.Options, connect);
  return new Agent({ factory: (origin, options) => new Pool(origin, { ...options, factory: connection }) });
}

/**
 * `fetch` (undici 7) through the pools `pool()` gives, asked again for each request of the fetch
 * (see {@link FetchDispatcher}). Every way the returned promise can fail is a torcon
 * error, with the error of fetch (undici) as `cause` where there is one:
 * - the stream through tor failed: torcon's error from the stream, as is (e.g. `TorSocksError`
 *   `TOR_SOCKS_CONNECTION_REFUSED`), rather than fetch's generic `TypeError: fetch failed`;
 * - `init.signal` aborted: `TorAbortError` (or the signal's reason itself when that is a torcon error);
 * - fetch refused the request before sending it (a bad header, a body on a GET...): `TorInvalidValueError`,
 *   without a cause (undici's error quotes the offending value, which may be a secret);
 * - anything else (the connection closed before the response was complete, an answer that is not
 *   HTTP, a port fetch refuses, too many redirects): `TorFetchError` (`TOR_FETCH_FAILED`).
 *
 * With `init.signal`, a connection the request has to open (in a pool made by
 * {@link createTorDispatcher}) is opened under that signal: an abort while tor opens the stream hangs
 * it up at once. A kept connection is reused whatever the signal.
 *
 * Only the promise is covered. Once it has resolved, the body is a WHATWG stream that belongs to the
 * caller, and its errors (`res.text()` rejecting with `TypeError: terminated` when the stream
 * through tor closes mid-body, or with the signal's reason after an abort) stay fetch's own: typing
 * them would mean handing out a rebuilt Response in place of undici's (losing `url`, `redirected`
 * and `type`, and copying every chunk), and code that reads bodies already expects the standard's
 * errors there.
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) when `init.dispatcher` is set (the dispatcher
 *   is what sends the request through tor, so it cannot be replaced), for a URL that is not an
 *   absolute http: or https: URL or that holds credentials, or for a request fetch refuses to build
 * @throws TorSocksError, TorAbortError, TorFetchError as above
 */
export async function fetchThrough(pool: () => Dispatcher, input: string | URL, init: RequestInit = {}): Promise<Response> {
  if ((init as { dispatcher?: unknown }).dispatcher !== undefined) {
    throw new TorInvalidValueError('fetch init.dispatcher', 'cannot be set: tor.fetch sends every request through its own tor dispatcher');
  }
  // Checked here: fetch refuses a bad URL or another scheme itself, with a bare TypeError.
  // Anything but a string or URL object would be made a string first: a Request (which the Fetch
  // standard takes as input) turned into "[object Request]" and was called "not an absolute URL".
  if (typeof input !== 'string' && !(input instanceof URL)) {
    const got = input === null ? 'null' : typeof input === 'object' ? (input as object).constructor?.name ?? 'an object' : `a ${typeof input}`;
    throw new TorInvalidValueError('URL', `must be a string or a URL object, got ${got} (for a Request, pass request.url and the init)`);
  }
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(input);
  } catch {
    throw new TorInvalidValueError('URL', 'is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TorInvalidValueError('URL scheme', `${url.protocol} cannot be fetched through tor (http: and https: can)`);
  }
  // fetch refuses these too, but its message repeats the whole URL, password included.
  if (url.username !== '' || url.password !== '') {
    throw new TorInvalidValueError('URL', 'must not hold credentials (user:password@): send them in an Authorization header');
  }
  const what = describeFetch(url);
  const signal = init.signal ?? undefined;
  // Without a signal there is nothing to end a connect with: no scope.
  const scope: FetchScope | undefined = signal ? { signal, live: true } : undefined;
  const body = formDataOfUndici(init.body);
  try {
    const dispatcher = new FetchDispatcher(pool, scope);
    const request = { ...(init as object), ...(body === undefined ? {} : { body }), dispatcher } as Parameters<typeof undiciFetch>[1];
    return (await undiciFetch(input, request)) as unknown as Response;
  } catch (err) {
    throw fetchFailure(err, what, signal);
  } finally {
    if (scope) scope.live = false;
  }
}

/**
 * Node's global FormData as the undici package's own, which its fetch encodes as multipart/form-data;
 * undefined for any other body. undici recognises only its own class: Node's (a copy of an older
 * undici, bundled) it would send as the text "[object FormData]".
 */
function formDataOfUndici(body: unknown): UndiciFormData | undefined {
  if (typeof FormData !== 'function' || !(body instanceof FormData) || (body as unknown) instanceof UndiciFormData) return undefined;
  const copy = new UndiciFormData();
  for (const [name, value] of body) {
    if (typeof value === 'string') copy.append(name, value);
    else copy.append(name, value, value.name);
  }
  return copy;
}

/**
 * The torcon error for a rejection of undici's fetch (see {@link fetchThrough}).
 * @param what e.g. `fetching http://example.com:80`, for messages
 */
function fetchFailure(err: unknown, what: string, signal?: AbortSignal): TorError {
  // An abort rejects with the signal's reason (a DOMException AbortError when abort() was given none).
  if (signal?.aborted && (err === signal.reason || (err as { name?: unknown } | null)?.name === 'AbortError')) {
    // A reason that is already typed (a torcon error the caller aborted with) is kept as it is.
    return signal.reason instanceof TorError ? signal.reason : new TorAbortError(what, { cause: signal.reason });
  }
  // A failure of the stream through tor: undici wraps the error our connect gave it.
  const ours = torErrorInChain(err);
  if (ours) return ours;
  // A TypeError without a cause is fetch refusing the request as given (bad method, header, body,
  // init option), before anything was sent; network failures are `TypeError: fetch failed` with
  // the reason as `cause`.
  if (err instanceof TypeError && err.cause === undefined && err.message !== 'fetch failed') {
    // undici quotes the offending value in its message, and that value may be a secret (an
    // Authorization header with a line break, say). undici's error is therefore not kept as the
    // cause: its message and its stack both hold the value, and util.inspect and loggers print
    // causes. See refusalMessage for what is kept.
    return new TorInvalidValueError('fetch request', refusalMessage(err.message));
  }
  const reason = err instanceof TypeError && err.cause !== undefined ? err.cause : err;
  return new TorFetchError(`${what} failed: ${describeFetchReason(reason)}`, { cause: err });
}

/**
 * undici's reason for refusing a request, without the value it quotes. The value sits between
 * quotes (`Headers.append: "Bearer x\ny" is an invalid header value.`, `'GE T' is not a valid HTTP
 * method.`), and may itself hold quotes: everything from the first quote to the last one goes, not
 * just the first quoted run, which would leave the rest of such a value in place. One line at most,
 * in case a message quotes nothing and still goes on.
 */
function refusalMessage(message: string): string {
  const redacted = message.replace(/["'`][\s\S]*["'`]/, '(value not shown)');
  const firstLine = redacted.split(/[\r\n]/, 1)[0]!;
  return firstLine.length > 200 ? `${firstLine.slice(0, 200)}...` : firstLine;
}

/** The first torcon error in the `cause` chain of `err` (itself included), if any. */
function torErrorInChain(err: unknown): TorError | undefined {
  let current: unknown = err;
  // Bounded: a cause chain can loop.
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    if (current instanceof TorError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A sentence for what undici reports, in terms of tor.fetch. */
function describeFetchReason(reason: unknown): string {
  const r = reason as { message?: unknown; code?: unknown; name?: unknown } | null | undefined;
  const message = typeof r?.message === 'string' && r.message !== '' ? r.message.split('\n', 1)[0]! : String(reason);
  if (message === 'bad port') {
    return 'fetch refuses to connect to this port (one of the ports the Fetch standard blocks, such as 6667 or 10080; maybe after a redirect): use tor.connect() or tor.httpAgent() for it';
  }
  if (r?.code === 'UND_ERR_SOCKET') return `the connection through tor closed before a complete response arrived (${message})`;
  if (r?.name === 'HTTPParserError') return `the answer is not valid HTTP/1.1 (${message})`;
  if (message === 'redirect count exceeded') return 'too many redirects (fetch follows at most 20)';
  // The URL asked for was checked before: only a redirect can lead elsewhere.
  if (message === 'URL scheme must be a HTTP(S) scheme') return 'a redirect leads to a URL that is not http: or https:';
  // What fetch says when a redirect's Location holds credentials (user:password@): the words are
  // about CORS, which a caller of tor.fetch never chose.
  if (message === 'cross origin not allowed for request mode "cors"') {
    return 'a redirect leads to a URL with credentials (user:password@), which fetch does not follow';
  }
  return message;
}
