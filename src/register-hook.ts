import { AsyncLocalStorage } from 'node:async_hooks';
import { nearestPrefix } from './util/known-options.js';
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { pluginRegistry } from './di/container.js';
import { listen } from './di/endpoint-api.js';
import { EndpointListenError } from './errors.js';
import { TorOnionService } from './onion/onion-service.js';
import { isRepublished } from './plugins/republish.js';
import type { ListeningEndpoint } from './util/listening-endpoint.js';
import { logger } from './util/log.js';

/**
 * The listen hook behind `torcon/register` (src/register.ts), free of side effects so that it can be
 * tested and installed on purpose. It makes `server.listen("onion:80")` work in an application that
 * knows nothing of torcon:
 *
 *     PORT=onion:80 node --import torcon/register app.js
 *
 * It patches `net.Server.prototype.listen` (so http, https and tls servers too). When the call
 * names a string of the form `prefix:...` whose prefix names a registered server endpoint plugin
 * (`onion:80`, `onion:80:privateKeyFile=/var/lib/app/onion.key`, `tcp:8080`...), as the first
 * argument or as the `port` or `path` of an options object (`listen({ port: process.env.PORT })`),
 * the server listens through torcon's `listen()`; every other call (ports, other options objects,
 * paths, pipe names, handles) goes to Node's own `listen` unchanged. The tor used is
 * `$TOR_CONTROL`, else a local tor (see `listen`). Nothing is printed, except one process warning
 * for a string that looks like a mistyped endpoint (see {@link warnOfLikelyTypo}).
 *
 * The endpoint string says where the server listens: the other arguments (host, backlog) and the
 * other options (`host`, `backlog`, `exclusive`, `ipv6Only`, `readableAll`, `writableAll`,
 * `reusePort`) are ignored; the endpoint's own keywords take their place (`localAddress=` for
 * `onion:`, `interface=` and `backlog=` for `tcp:`...). The listen callback is used, and an
 * options object's `signal` closes the server when aborted, as in Node.
 *
 * What the application sees: one `'listening'` (and the `listen` callback) once the endpoint is
 * up, for an onion service after its descriptor was published, whenever its listeners were added;
 * `server.address()` is the local address tor forwards to; `server.torconEndpoint` is the endpoint
 * (an `OnionService` for `onion:`) and `server.onionAddress` its `<56 chars>.onion:PORT`; a failure
 * is one `'error'` event with torcon's typed error. `server.close()` also removes the onion service.
 * A second listen() on a listening server throws (`TOR_ENDPOINT_LISTEN`, "already listening", its
 * `systemCode` Node's `ERR_SERVER_ALREADY_LISTEN`), as Node's throws; one made while the first is
 * still under way is an `'error'` once that one has settled.
 */

declare module 'node:net' {
  interface Server {
    /** Set by `torcon/register` once the server listens on an endpoint string. */
    torconEndpoint?: ListeningEndpoint;
    /** Set by `torcon/register` for `onion:` endpoints: `<56 chars>.onion:PORT`. */
    onionAddress?: string;
  }
}

const log = logger('register');
const ENDPOINT_PREFIX = /^([a-z][a-z0-9+.-]*):/i;
const INSTALLED = Symbol.for('torcon.register.originalListen');

const INSTALLED_CLOSE = Symbol.for('torcon.register.originalClose');

type ListenFn = (this: net.Server, ...args: unknown[]) => net.Server;
type CloseFn = (this: net.Server, callback?: (err?: Error) => void) => net.Server;
type PatchedProto = typeof net.Server.prototype & { [INSTALLED]?: ListenFn; [INSTALLED_CLOSE]?: CloseFn };
type Listener = (...args: unknown[]) => unknown;

/**
 * Marks the asynchronous work torcon does to make one server listen on an endpoint (the store is
 * that server). Listeners added from inside it are torcon's own (listen-server's wait for the
 * local bind, a plugin's listen callback); all others are the application's. It also tells a
 * plugin's own `server.listen(...)` for the local bind from the application's call.
 */
const torconWork = new AsyncLocalStorage<net.Server>();

/** A server whose endpoint listen is under way. */
interface Pending {
  /**
   * The close callbacks the application gave meanwhile, before the server listened locally:
   * Node's own close() would fail (`ERR_SERVER_NOT_RUNNING`) while the endpoint then went up
   * anyway; the close is carried out once the listen settles.
   */
  readonly closeCallbacks: Array<(err?: Error) => void>;
  /** The `'listening'` and `'error'` listeners torcon's own work added. */
  readonly own: WeakSet<Listener>;
  /**
   * Errors of listen() calls made meanwhile (the server already has its endpoint under way), for
   * the application once the listen settles: emitted now, torcon's own 'error' listener waiting for
   * the local bind would take one for a failed bind (and leave the server bound with no endpoint).
   */
  readonly laterErrors: Error[];
  /**
   * The application closed the server (listening locally) while the endpoint was still coming up.
   * Not read from `server.listening`: a plugin may serve without making the server itself listen
   * (with a server of its own beside it), and its endpoint must not be taken for closed.
   */
  closedByApp: boolean;
}

const pending = new WeakMap<net.Server, Pending>();

/**
 * Whether `listen(arg)` should go through torcon: `arg` is a string `prefix:...` with a registered
 * server plugin for `prefix`.
 */
export function isEndpointListenArgument(arg: unknown): arg is string {
  if (typeof arg !== 'string') return false;
  const m = ENDPOINT_PREFIX.exec(arg);
  return m !== null && pluginRegistry().has(m[1]!, 'server');
}

/**
 * The endpoint string a `server.listen(...args)` call goes to torcon with, or `undefined` when Node
 * handles the call. Taken: a first argument that {@link isEndpointListenArgument} accepts, or an
 * options object whose `port` (which Node reads first when the object has one) or else `path` is
 * one. Objects with a `handle`, `_handle` or `fd` stay Node's, as do the listen calls torcon itself
 * makes for the local side of an endpoint.
 */
export function endpointListenDescription(server: net.Server, args: readonly unknown[]): string | undefined {
  if (torconWork.getStore() === server) return undefined;
  const first = args[0];
  if (typeof first === 'string') return isEndpointListenArgument(first) ? first : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const options = first as { port?: unknown; path?: unknown; handle?: unknown; _handle?: unknown; fd?: unknown };
  if (options.handle || options._handle || (typeof options.fd === 'number' && options.fd >= 0)) return undefined;
  // Node's order: a port wins over a path, even an undefined or null one (any free port).
  if ('port' in options) return isEndpointListenArgument(options.port) ? options.port : undefined;
  return isEndpointListenArgument(options.path) ? options.path : undefined;
}

/** Patches `net.Server.prototype.listen` (idempotent). Importing this module calls it. */
export function installListenHook(): void {
  const proto = net.Server.prototype as PatchedProto;
  if (proto[INSTALLED]) return;
  const original = proto.listen as unknown as ListenFn;
  const originalClose = proto.close as unknown as CloseFn;
  Object.defineProperty(proto, INSTALLED, { value: original, configurable: true });
  Object.defineProperty(proto, INSTALLED_CLOSE, { value: originalClose, configurable: true });
  proto.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    const description = endpointListenDescription(this, args);
    if (description === undefined) {
      if (torconWork.getStore() !== this) warnOfLikelyTypo(args);
      return original.apply(this, args);
    }
    const callback = [...args].reverse().find((a): a is () => void => typeof a === 'function');
    const under = pending.get(this);
    if (under !== undefined || this.listening) {
      // The server keeps its one endpoint. On a listening server Node throws at once
      // (ERR_SERVER_ALREADY_LISTEN), and so does this; while the first listen is under way Node
      // throws nothing, and the error comes as an 'error' once that one has settled.
      const err = new EndpointListenError(`listening on ${description}`, Object.assign(new Error('the server is already listening'), { code: 'ERR_SERVER_ALREADY_LISTEN' }));
      if (under === undefined) throw err;
      under.laterErrors.push(err);
      return this;
    }
    const ignored = ignoredArguments(args);
    if (ignored.length > 0) log('listen on an endpoint string ignores %s: the endpoint string says where', ignored.join(', '));
    listenOnEndpoint(this, description, callback);
    const signal = typeof args[0] === 'object' && args[0] !== null ? (args[0] as { signal?: unknown }).signal : undefined;
    if (signal instanceof AbortSignal) closeOnAbort(this, signal);
    return this;
  } as typeof proto.listen;
  proto.close = function close(this: net.Server, callback?: (err?: Error) => void): net.Server {
    const held = pending.get(this);
    // Only a close Node would refuse (not listening yet) waits; torcon's own closes, which come
    // while the server listens, go through at once.
    if (held === undefined || this.listening) {
      if (held !== undefined && torconWork.getStore() !== this) held.closedByApp = true;
      return originalClose.call(this, callback);
    }
    held.closeCallbacks.push(callback ?? (() => undefined));
    return this;
  } as typeof proto.close;
}

/** Restores Node's own `listen`. */
export function removeListenHook(): void {
  const proto = net.Server.prototype as PatchedProto;
  const original = proto[INSTALLED];
  if (!original) return;
  proto.listen = original as unknown as typeof proto.listen;
  delete proto[INSTALLED];
  const originalClose = proto[INSTALLED_CLOSE];
  if (originalClose) proto.close = originalClose as unknown as typeof proto.close;
  delete proto[INSTALLED_CLOSE];
}

const TYPO_WARNING = 'TORCON_NOT_AN_ENDPOINT';
/** `word:digits`, alone or followed by `:keywords`: the shape of an endpoint string. */
const ENDPOINT_SHAPE = /^([a-z][a-z0-9+.-]*):\d+(?::|$)/i;
const warned = new Set<string>();

/**
 * `PORT=onoin:80`: Node takes a string that is no port number for a unix socket path, so a
 * mistyped prefix would make the app listen on a socket file called `onoin:80` without a word.
 * Such a string (`word:digits...`, an unknown prefix, nothing at that path yet) gets one process
 * warning, naming the nearest known prefix when there is one. It is only a warning: the same string
 * is a legitimate relative socket path, which Node still gets, and `./worker:1` (the same path)
 * says so without a warning. `--disable-warning=TORCON_NOT_AN_ENDPOINT` silences it.
 */
function warnOfLikelyTypo(args: readonly unknown[]): void {
  const first = args[0];
  const path = typeof first === 'string' ? first : typeof first === 'object' && first !== null ? (first as { path?: unknown }).path : undefined;
  // An options object with a port is Node's TCP listen (a bad port string is Node's own error).
  if (typeof first === 'object' && first !== null && 'port' in first) return;
  if (typeof path !== 'string') return;
  const m = ENDPOINT_SHAPE.exec(path);
  if (m === null || warned.has(path) || existsSync(path)) return;
  warned.add(path);
  const prefix = m[1]!.toLowerCase();
  const known = pluginRegistry().prefixes('server');
  const near = nearestPrefix(prefix, known);
  const guess = near !== undefined ? ` Did you mean ${near}${path.slice(prefix.length)}?` : '';
  process.emitWarning(
    `listen(${JSON.stringify(path)}) goes to Node as a unix socket path: "${m[1]}:" is no server endpoint ` +
      `(known: ${known.join(', ')}).${guess} Write ./${path} to mean the socket path without this warning.`,
    { type: 'TorconWarning', code: TYPO_WARNING },
  );
}

/** What of a hooked listen call has no effect, for the debug log. */
function ignoredArguments(args: readonly unknown[]): string[] {
  const first = args[0];
  if (typeof first === 'object' && first !== null) {
    return Object.keys(first).filter((k) => k !== 'port' && k !== 'path' && k !== 'signal' && (first as Record<string, unknown>)[k] !== undefined);
  }
  return args.slice(1).filter((a) => typeof a !== 'function' && a !== undefined).map((a) => JSON.stringify(a));
}

/** Node's `signal` listen option: aborting it closes the server (held until a pending listen settles). */
function closeOnAbort(server: net.Server, signal: AbortSignal): void {
  const close = (): void => {
    server.close();
  };
  if (signal.aborted) {
    process.nextTick(close);
    return;
  }
  signal.addEventListener('abort', close, { once: true });
  server.once('close', () => signal.removeEventListener('abort', close));
}

/**
 * While the endpoint listen is under way, `'listening'` and `'error'` go to torcon's own listeners
 * only: the endpoint binds the server locally (Node emits `'listening'`) long before an onion
 * service is published, and a failed local bind is reported once, as torcon's typed error. The
 * application's listeners, whenever it added them, hear the one event the hook emits at the end.
 * Returns what undoes it.
 */
function screenEvents(server: net.Server, own: WeakSet<Listener>): () => void {
  const track = (event: string | symbol, listener: Listener): void => {
    if ((event === 'listening' || event === 'error') && torconWork.getStore() === server) own.add(listener);
  };
  server.on('newListener', track);
  const hadOwnEmit = Object.prototype.hasOwnProperty.call(server, 'emit');
  const inherited = server.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
  const screened = function emit(this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'listening' && event !== 'error') return inherited.call(this, event, ...args);
    // rawListeners gives once() wrappers, whose `listener` is the function that was added.
    const ours = (this as EventEmitter).rawListeners(event).filter((l) => own.has(((l as { listener?: Listener }).listener ?? l) as Listener)) as Listener[];
    // None of torcon's own: one was added where the work's context did not reach (a plugin's
    // callback on some older emitter), or the app removed every listener. Everyone hears the
    // event then, as before: an app that hears the local bind too beats a listen that never ends,
    // and an error must not vanish.
    if (ours.length === 0) return inherited.call(this, event, ...args);
    for (const l of ours) Reflect.apply(l, this, args);
    return ours.length > 0;
  };
  server.emit = screened as typeof server.emit;
  return () => {
    server.off('newListener', track);
    if (server.emit !== (screened as typeof server.emit)) return; // someone replaced it meanwhile
    if (hadOwnEmit) server.emit = inherited as typeof server.emit;
    else delete (server as { emit?: unknown }).emit;
  };
}

function listenOnEndpoint(server: net.Server, description: string, callback: (() => void) | undefined): void {
  const state: Pending = { closeCallbacks: [], own: new WeakSet(), laterErrors: [], closedByApp: false };
  pending.set(server, state);
  const unscreen = screenEvents(server, state.own);
  /** Ends the pending state; a close() asked for meanwhile is carried out now. */
  const settle = (): boolean => {
    unscreen();
    pending.delete(server);
    for (const err of state.laterErrors) process.nextTick(() => server.emit('error', err));
    const callbacks = state.closeCallbacks;
    if (callbacks.length === 0) return false;
    if (server.listening) server.close((err) => callbacks.forEach((cb) => cb(err)));
    else process.nextTick(() => callbacks.forEach((cb) => cb()));
    return true;
  };
  // Started inside torconWork, continued outside it: the application's code below (its listeners,
  // its callback) must not run as torcon's work.
  torconWork.run(server, async () => listen(server, description)).then(
    (endpoint) => {
      server.torconEndpoint = endpoint;
      if ('hostname' in endpoint) server.onionAddress = endpoint.address;
      // Prepended: the application's own 'close' listeners, added before listen(), run after it.
      server.prependOnceListener('close', () => {
        // A closed server has no endpoint, as its address() is null: an app that shows
        // server.onionAddress must not show a service that is gone.
        if (server.torconEndpoint === endpoint) {
          delete server.torconEndpoint;
          delete server.onionAddress;
        }
        endpoint.close().catch((err: unknown) => log('closing %s failed: %O', endpoint.address, err));
      });
      // A close() the application asked for before the server listened: settle() closes the
      // server now, and its 'close' (above) closes the endpoint.
      if (settle()) return;
      if (state.closedByApp) {
        // The application closed the server while the service was being published.
        endpoint.close().catch(() => undefined);
        return;
      }
      if (endpoint instanceof TorOnionService) warnWhenLost(endpoint, server);
      log('listening on %s', endpoint.address);
      if (callback) server.once('listening', callback);
      server.emit('listening');
    },
    (err: unknown) => {
      settle();
      // Like Node's own listen errors: on the next tick, so that no listener means an uncaught error.
      process.nextTick(() => server.emit('error', err));
    },
  );
}

/**
 * An unchanged application has no 'lost' listener of its own: when its tor dies or restarts, the
 * service is gone while the server goes on listening locally, and nothing would tell anyone. A
 * process warning (on stderr, each time) says so; it is no 'error' on the server, which would end
 * an application that has no 'error' listener over something it cannot mend. With
 * `republish=true` torcon publishes the service again itself, and the warning says that; should
 * torcon give up (the tor that came back gave another address), a second warning says so.
 */
export function warnWhenLost(service: TorOnionService, server: net.Server): void {
  // With republish=true, a try that fails is retried (and the application may listen for each);
  // only torcon giving up leaves the address gone for good, as a lost service without it.
  service.on('republishFailed', (err: Error, nextTryMs: number | undefined) => {
    if (nextTryMs !== undefined || !server.listening) return;
    process.emitWarning(
      `torcon: gave up publishing the onion service ${service.address} again (${err.message}); the server still listens locally: restart the application to publish it again`,
      { code: 'TORCON_ONION_LOST' },
    );
  });
  service.on('lost', (err: Error) => {
    if (!server.listening) return;
    const next = isRepublished(service)
      ? 'torcon publishes it again once a tor is back (republish=true)'
      : 'restart the application, or add republish=true to the endpoint, to publish it again';
    process.emitWarning(
      `torcon: the onion service ${service.address} is gone (${err.message}); the server still listens locally: ${next}`,
      { code: 'TORCON_ONION_LOST' },
    );
  });
}
