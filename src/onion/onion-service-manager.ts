import type net from 'node:net';
import type { TorControl } from '../control/tor-control.js';
import { TorAbortError, TorControlClosedError, TorError, TorInvalidValueError, TorTimeoutError } from '../errors.js';
import { controlCloseReason } from '../control/close-reason.js';
import { assertCancelOptions, raceCancel, timerDelay, type CancelOptions } from '../util/abort.js';
import { logger } from '../util/log.js';
import { CLIENT_NAME, parseClientAuthPrivateKey, parseClientAuthView, type OnionClientAuth } from './client-auth.js';
import { createEphemeralService } from './ephemeral-service.js';
import { ConfigLock, createFilesystemService } from './filesystem-service.js';
import type { OnionServiceOptions } from './onion-types.js';
import { validateOnionOptions, type ValidOnionOptions } from './onion-options.js';
import type { TorOnionService } from './onion-service.js';
import { normalizeServiceId } from './service-id.js';
import { deleteOnionById, listOnionServices, type OnionServiceInfo } from './onion-inventory.js';

export type { OnionClientAuth } from './client-auth.js';

const log = logger('onion');

/** How long {@link OnionServiceManager.closeAll} waits for tor to remove the services. */
const CLOSE_ALL_TIMEOUT_MS = 5000;

/** Options of {@link OnionServiceManager.addClientAuth}. */
export interface OnionClientAuthAddOptions extends CancelOptions {
  /** A nickname for the credential (1-16 of `A-Za-z0-9+-_`). */
  clientName?: string;
  /** Store it on disk (`Flags=Permanent`); needs `ClientOnionAuthDir` in tor's config. @default false */
  permanent?: boolean;
}

/**
 * The onion services of one control connection, and this tor's client-side authorization keys.
 * One per `Tor` handle (the Tor class creates it lazily). It remembers the services it created so
 * that `closeAll()` can remove them and so that each one hears (`lost`) when the connection dies.
 */
export class OnionServiceManager {
  private readonly control: TorControl;
  private readonly services = new Set<TorOnionService>();
  private readonly configLock = new ConfigLock();
  /** Set by closeAll(): creations under way stop and undo what they did, later ones fail at once. */
  private closedBy: TorControlClosedError | undefined;
  /** The abort controllers of the creations under way. */
  private readonly stoppers = new Set<AbortController>();
  /** Creations under way, and removals they left to finish, for closeAll() to wait for. */
  private readonly creating = new Set<Promise<unknown>>();

  constructor(control: TorControl) {
    this.control = control;
    control.on('close', (error?: Error) => {
      const why = lostError(error);
      for (const service of [...this.services]) service.connectionLost(why);
    });
  }

  /**
   * Creates a v3 onion service: ephemeral (ADD_ONION) by default, filesystem with `hiddenServiceDir`.
   * Unless `awaitUpload: false`, resolves once a descriptor reached at least one HSDir. A service
   * with a `server` is removed again when that server closes.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for invalid options (before any I/O)
   * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) when a named file or directory is not what it must be
   * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when tor refuses the service, every upload
   *   fails, or `uploadTimeoutMs` passes; the service is removed again
   * @throws EndpointListenError (`TOR_ENDPOINT_LISTEN`), TorAbortError (`TOR_ABORTED`), TorTimeoutError (`TOR_TIMEOUT`) for `timeoutMs`, TorControlClosedError
   * @example
   * const service = await manager.create({ ports: [{ virtualPort: 80 }], server: http.createServer(app) });
   */
  async create(opts: OnionServiceOptions): Promise<TorOnionService> {
    const o = validateOnionOptions(opts);
    return this.track(this.createValid(o));
  }

  /** Holds `work` in {@link creating} until it settles. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.creating.add(work);
    const done = () => this.creating.delete(work);
    work.then(done, done);
    return work;
  }

  private async createValid(o: ValidOnionOptions): Promise<TorOnionService> {
    // The creation stops on the caller's signal, and on closeAll() (Tor.close()): then it undoes
    // what it did while the connection is still open. Were it left to fail once the connection is
    // gone, a hiddenServiceDir or detached service would stay in tor with no handle to remove it.
    const callerSignal = o.signal;
    const stop = new AbortController();
    // The caller's signal and timeoutMs end the wait at once: undoing what was done (DEL_ONION,
    // the configuration put back) goes on behind, tracked for closeAll(), and must not hold the
    // caller for as long as a slow tor takes to answer it.
    let givenUp: Error | undefined;
    let giveUp!: (err: Error) => void;
    const gaveUp = new Promise<never>((_, reject) => (giveUp = reject));
    gaveUp.catch(() => undefined);
    const end = (why: unknown, err: Error) => {
      givenUp ??= err;
      stop.abort(why);
      giveUp(givenUp);
    };
    const forward = () => end(callerSignal?.reason, new TorAbortError('creating an onion service', { cause: callerSignal?.reason }));
    if (callerSignal?.aborted) forward();
    else callerSignal?.addEventListener('abort', forward, { once: true });
    // One controller per creation in a set, not a listener each on one signal: a dozen creations
    // at once must not set off MaxListenersExceededWarning.
    if (this.closedBy !== undefined) stop.abort(this.closedBy);
    const timeoutMs = o.timeoutMs;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            const err = new TorTimeoutError('creating an onion service', timeoutMs);
            end(err, err);
          }, timerDelay(timeoutMs));
    this.stoppers.add(stop);
    o.signal = stop.signal;
    // Shared Tor handles unref their control socket so that idle scripts can exit; a creation in
    // progress (waiting for tor's replies or the descriptor upload) must still keep the process up.
    const keepAlive = setInterval(() => undefined, 60_000);
    let service: TorOnionService;
    let undoing = false;
    const creation = o.hiddenServiceDir
      ? createFilesystemService(this.control, o, this.configLock)
      : createEphemeralService(this.control, o, (work) => this.track(work));
    try {
      service = await Promise.race([creation, gaveUp]);
    } catch (err) {
      if (err === givenUp) {
        // The creation undoes itself on the aborted signal; one that finished all the same is
        // closed. The process stays up until that is done: a detached or hiddenServiceDir service
        // left in tor would have no handle to remove it.
        undoing = true;
        const undone = creation.then((done) => done.close().catch(() => undefined), () => undefined);
        this.track(undone.finally(() => clearInterval(keepAlive)));
        throw err;
      }
      if (err instanceof TorAbortError && this.closedBy !== undefined && !callerSignal?.aborted) throw closedWhileCreating(err);
      throw err;
    } finally {
      clearTimeout(timer);
      if (!undoing) clearInterval(keepAlive);
      callerSignal?.removeEventListener('abort', forward);
      this.stoppers.delete(stop);
    }
    if (this.closedBy !== undefined) {
      // Done after its last abort point: closeAll() did not see it, so it goes the same way here.
      await service.close().catch(() => undefined);
      throw closedWhileCreating(undefined);
    }
    this.services.add(service);
    service.once('close', () => this.services.delete(service));
    if (this.control.closed) service.connectionLost(lostError(undefined));
    if (o.server) closeWithServer(service, o.server);
    return service;
  }

  /**
   * The ADD_ONION services tor shows this connection (`GETINFO onions/current`, `onions/detached`):
   * those created on it, and the detached ones of every connection.
   */
  async list(opts: CancelOptions = {}): Promise<OnionServiceInfo[]> {
    assertCancelOptions(opts);
    return listOnionServices(this.control, opts);
  }

  /**
   * Removes a running service by address. One this manager created is closed through its handle
   * (which also stops the local listener torcon opened for it); any other goes by DEL_ONION.
   * @returns true when a service was removed, false when tor has none by that id that this
   *   connection may remove (unknown, gone, or another connection's service that is not detached)
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for anything but a v3 address (nothing sent)
   * @throws TorControlError, TorControlClosedError, TorAbortError, TorTimeoutError
   */
  async remove(onion: string, opts: CancelOptions = {}): Promise<boolean> {
    assertCancelOptions(opts);
    const id = normalizeServiceId(onion);
    // While the connection is open, every service still held is running or closing (a closed one
    // has left the set): one whose close() is under way is awaited, not sent a second DEL_ONION,
    // which tor would answer 552 (gone) and this call with false. Once the connection is closed,
    // an ephemeral service is lost and only the others can still be removed.
    const own = [...this.services].find((s) => s.serviceId === id && (!s.closed || !this.control.closed));
    if (own) {
      await raceCancel(own.close(), `removing ${id}.onion`, opts);
      return true;
    }
    return deleteOnionById(this.control, id, opts);
  }

  /**
   * Gives this tor, as a client, the key for a service that requires client authorization
   * (ONION_CLIENT_AUTH_ADD). Replaces an earlier key for the same service.
   * @param onion - `<56 chars>` or `<56 chars>.onion`
   * @param privateKey - the x25519 private key: base32 (as `clientAuth` returns it) or base64,
   *   optionally as `x25519:KEY`, or a whole `.auth_private` line
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad address, key, name or option (nothing is sent)
   * @throws TorControlError (`TOR_CONTROL_ERROR`) when tor refuses (e.g. 553 for `permanent` without
   *   `ClientOnionAuthDir`)
   */
  async addClientAuth(onion: string, privateKey: string, opts: OnionClientAuthAddOptions = {}): Promise<void> {
    if (opts === null || typeof opts !== 'object') throw new TorInvalidValueError('client auth options', 'must be an object');
    // Only a real boolean: `permanent: 'false'` (say, from an environment variable) must not write
    // the private key to disk.
    if (opts.permanent !== undefined && typeof opts.permanent !== 'boolean') {
      throw new TorInvalidValueError('permanent', 'must be true or false');
    }
    const id = normalizeServiceId(onion);
    const key = parseClientAuthPrivateKey(privateKey).toString('base64');
    let line = `ONION_CLIENT_AUTH_ADD ${id} x25519:${key}`;
    if (opts.clientName !== undefined) {
      if (typeof opts.clientName !== 'string' || !CLIENT_NAME.test(opts.clientName)) {
        throw new TorInvalidValueError('client name', 'must be 1 to 16 letters, digits, "+", "-" or "_"');
      }
      line += ` ClientName=${opts.clientName}`;
    }
    if (opts.permanent) line += ' Flags=Permanent';
    await this.control.command(line, opts);
    log('client auth added for %s.onion', id);
  }

  /**
   * Forgets this tor's client key for a service (ONION_CLIENT_AUTH_REMOVE). Removing a key tor does
   * not have is not an error.
   * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for a bad address
   */
  async removeClientAuth(onion: string, opts: CancelOptions = {}): Promise<void> {
    const id = normalizeServiceId(onion);
    await this.control.command(`ONION_CLIENT_AUTH_REMOVE ${id}`, opts);
  }

  /** The client-authorization keys tor holds (ONION_CLIENT_AUTH_VIEW); private keys are never printed. */
  async listClientAuth(opts: CancelOptions = {}): Promise<OnionClientAuth[]> {
    return parseClientAuthView(await this.control.command('ONION_CLIENT_AUTH_VIEW', opts));
  }

  /**
   * Closes every service this manager created except detached ones: DEL_ONION (or the
   * HiddenServiceDir group removed) and the local listeners torcon opened. Creations under way,
   * detached ones included, are stopped and undone (they reject with TorControlClosedError), and
   * so are later ones: this is the end of the manager. Never rejects; gives up waiting after 5 s
   * when tor does not answer.
   */
  async closeAll(): Promise<void> {
    this.closedBy ??= new TorControlClosedError('the Tor handle was closed (close())');
    for (const stop of this.stoppers) stop.abort(this.closedBy);
    const open = [...this.services].filter((s) => !s.detached);
    const closing = (async () => {
      await Promise.allSettled(open.map((s) => s.close()));
      // A stopped creation may leave a removal to finish (tor had not answered ADD_ONION yet):
      // it joins the set meanwhile, so the set is waited on until it is empty.
      while (this.creating.size > 0) await Promise.allSettled([...this.creating]);
    })();
    // Bounded, as every part of Tor.close() is: a tor that stops answering (stopped, wedged) must
    // not hold the caller for ever. Closing the connection next fails what is still pending; tor
    // drops the ephemeral services with it, and each listener torcon opened then closes.
    await raceCancel(closing, 'removing the onion services', { timeoutMs: CLOSE_ALL_TIMEOUT_MS }).catch((err: Error) =>
      log('%s', err.message),
    );
  }
}

/** The error of a creation that closeAll() stopped. */
function closedWhileCreating(cause: unknown): TorControlClosedError {
  return new TorControlClosedError(
    'the Tor handle was closed (close()) while the onion service was being created',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * What `lost` reports: torcon's typed error, also when the connection ended with a bare Node error
 * (ECONNRESET when tor dies with input unread) or with none (our own close()); that one is the cause.
 */
function lostError(error: Error | undefined): TorError {
  if (error instanceof TorError) return error;
  return new TorControlClosedError(controlCloseReason(error), error ? { cause: error } : undefined);
}

/**
 * The service ends with the server it forwards to: once `server` closes (or if it closed while the
 * service was being published), the service is removed from tor, as `torcon/register` does for an
 * unchanged app. Otherwise tor would keep publishing an address whose connections fail.
 */
function closeWithServer(service: TorOnionService, server: net.Server): void {
  const remove = (s: TorOnionService) =>
    s.close().catch((err: Error) => log('removing %s after its server closed failed: %s', s.hostname, err.message));
  let entry = servicesOfServer.get(server);
  if (entry === undefined) {
    const services = new Set<TorOnionService>();
    const onServerClose = () => {
      servicesOfServer.delete(server);
      for (const s of [...services]) void remove(s);
    };
    entry = { services, onServerClose };
    servicesOfServer.set(server, entry);
    server.once('close', onServerClose);
  }
  const mine = entry;
  mine.services.add(service);
  service.once('close', () => {
    mine.services.delete(service);
    // The last service gone: nothing of ours stays on a server that lives on.
    if (mine.services.size === 0 && servicesOfServer.get(server) === mine) {
      servicesOfServer.delete(server);
      server.off('close', mine.onServerClose);
    }
  });
  if (!server.listening) void remove(service);
}

/**
 * The services of each server and the one `close` listener that ends them: one per server however
 * many services it has, so that a dozen of them (`onion:80`, `onion:81`...) do not set off
 * MaxListenersExceededWarning on the application's server.
 */
const servicesOfServer = new WeakMap<net.Server, { services: Set<TorOnionService>; onServerClose: () => void }>();
