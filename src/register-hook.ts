import net from 'node:net';
import { pluginRegistry } from './di/container.js';
import { listen } from './di/endpoint-api.js';
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

type ListenFn = (this: net.Server, ...args: unknown[]) => net.Server;
type PatchedProto = typeof net.Server.prototype & { [INSTALLED]?: ListenFn };

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
  Object.defineProperty(proto, INSTALLED, { value: original, configurable: true });
  proto.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    if (!isEndpointListenArgument(args[0])) return original.apply(this, args);
    const callback = [...args].reverse().find((a): a is () => void => typeof a === 'function');
    listenOnEndpoint(this, args[0], callback);
    return this;
  } as typeof proto.listen;
}

/** Restores Node's own `listen`. */
export function removeListenHook(): void {
  const proto = net.Server.prototype as PatchedProto;
  const original = proto[INSTALLED];
  if (!original) return;
  proto.listen = original as unknown as typeof proto.listen;
  delete proto[INSTALLED];
}

function listenOnEndpoint(server: net.Server, description: string, callback: (() => void) | undefined): void {
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
        // Like Node's own listen errors: on the next tick, so that no listener means an uncaught error.
        process.nextTick(() => server.emit('error', err));
      },
    );
  });
}

