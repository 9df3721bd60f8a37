import net from 'node:net';
import { pluginRegistry } from './di/container.js';
import { listen } from './di/endpoint-api.js';
import { EndpointListenError } from './errors.js';
import type { ListeningEndpoint } from './util/listening-endpoint.js';
import { logger } from './util/log.js';

/**
 * The listen hook behind `torcon/register` (src/register.ts), free of side effects so that it can be
 * tested and installed on purpose. It makes `server.listen("onion:80")` work in an application that
 * knows nothing of torcon:
 *
 *     PORT=onion:80 node --import torcon/register app.js
 *
 * It patches `net.Server.prototype.listen` (so http, https and tls servers too). When the first
 * argument is a string of the form `prefix:...` whose prefix names a registered server endpoint
 * plugin (`onion:80`, `onion:80:privateKeyFile=/var/lib/app/onion.key`, `tcp:8080`...), the
 * server listens through torcon's `listen()`; every other call (ports, options objects, paths,
 * pipe names) goes to Node's own `listen` unchanged. The tor used is `$TOR_CONTROL`, else a local
 * tor (see `listen`). Nothing is printed.
 *
 * What the application sees: `'listening'` (and the `listen` callback) once the endpoint is up, for
 * an onion service after its descriptor was published; `server.address()` is the local address
 * tor forwards to; `server.torconEndpoint` is the endpoint (an `OnionService` for `onion:`) and
 * `server.onionAddress` its `<56 chars>.onion:PORT`; a failure is an `'error'` event with torcon's
 * typed error. `server.close()` also removes the onion service.
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

/**
 * Servers whose endpoint listen is under way, and the close callbacks the application gave
 * meanwhile, before the server listened locally: Node's own close() would fail
 * (`ERR_SERVER_NOT_RUNNING`) while the endpoint then went up anyway; the close is carried out
 * once the listen settles.
 */
const pending = new WeakMap<net.Server, Array<(err?: Error) => void>>();

/**
 * Whether `listen(arg)` should go through torcon: `arg` is a string `prefix:...` with a registered
 * server plugin for `prefix`.
 */
export function isEndpointListenArgument(arg: unknown): arg is string {
  if (typeof arg !== 'string') return false;
  const m = ENDPOINT_PREFIX.exec(arg);
  return m !== null && pluginRegistry().has(m[1]!, 'server');
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
    if (!isEndpointListenArgument(args[0])) return original.apply(this, args);
    const callback = [...args].reverse().find((a): a is () => void => typeof a === 'function');
    if (pending.has(this) || this.listening) {
      // As Node does for a second listen(): the server keeps its one endpoint.
      const err = new EndpointListenError(`listening on ${args[0]}`, Object.assign(new Error('the server is already listening'), { code: 'ERR_SERVER_ALREADY_LISTEN' }));
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    listenOnEndpoint(this, args[0], callback);
    return this;
  } as typeof proto.listen;
  proto.close = function close(this: net.Server, callback?: (err?: Error) => void): net.Server {
    const held = pending.get(this);
    // Only a close Node would refuse (not listening yet) waits; torcon's own closes, which come
    // while the server listens, go through at once.
    if (held === undefined || this.listening) return originalClose.call(this, callback);
    held.push(callback ?? (() => undefined));
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

function listenOnEndpoint(server: net.Server, description: string, callback: (() => void) | undefined): void {
  const callbacks: Array<(err?: Error) => void> = [];
  pending.set(server, callbacks);
  /** Ends the pending state; a close() asked for meanwhile is carried out now. */
  const settle = (): boolean => {
    pending.delete(server);
    if (callbacks.length === 0) return false;
    if (server.listening) server.close((err) => callbacks.forEach((cb) => cb(err)));
    else process.nextTick(() => callbacks.forEach((cb) => cb()));
    return true;
  };
  // The application usually adds its 'listening' listeners right after listen() returns. Wait for
  // that, then set them aside: the endpoint may bind the server locally (firing 'listening') long
  // before the onion service is published, and the application must hear only the latter.
  setImmediate(() => {
    const held = server.rawListeners('listening') as Array<(...a: unknown[]) => void>;
    server.removeAllListeners('listening');
    const restore = () => {
      for (const l of [...held].reverse()) server.prependListener('listening', l);
    };
    listen(server, description).then(
      (endpoint) => {
        restore();
        server.torconEndpoint = endpoint;
        if ('hostname' in endpoint) server.onionAddress = endpoint.address;
        server.once('close', () => {
          endpoint.close().catch((err: unknown) => log('closing %s failed: %O', endpoint.address, err));
        });
        // A close() the application asked for before the server listened: settle() closes the
        // server now, and its 'close' (above) closes the endpoint.
        if (settle()) return;
        if (!server.listening) {
          // The application closed the server while the service was being published.
          endpoint.close().catch(() => undefined);
          return;
        }
        log('listening on %s', endpoint.address);
        if (callback) server.once('listening', callback);
        server.emit('listening');
      },
      (err: unknown) => {
        restore();
        settle();
        // Like Node's own listen errors: on the next tick, so that no listener means an uncaught error.
        process.nextTick(() => server.emit('error', err));
      },
    );
  });
}

