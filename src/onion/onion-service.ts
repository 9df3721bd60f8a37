import { TypedEmitter } from '../util/typed-emitter.js';
import type { TorError } from '../errors.js';
import { inspect } from 'node:util';
import type { OnionClientAuthKey, OnionPortMapping, OnionService } from './onion-types.js';

/** Events of a {@link TorOnionService}. */
export interface OnionServiceEvents {
  /**
   * The control connection that owned this ephemeral service closed, so tor removed the service
   * (not emitted for `detach` or `hiddenServiceDir` services, which outlive the connection). A local
   * listener torcon opened stays open: call `close()` to release it. `error` is typed: a
   * TorControlClosedError (the socket's own error, such as ECONNRESET, as its `cause`), or the
   * TorError that ended the connection.
   */
  lost: [error: TorError];
  /**
   * Published again, under the same address, after `lost` (an `onion:` endpoint with
   * `republish=true`, once a tor was back). `closed` is false again; `lost` may follow again.
   */
  republished: [];
  /**
   * After `lost`, with `republish=true`: an attempt to publish the service again failed (`error`:
   * typically TorNotAvailableError while no tor answers). `nextTryMs` is how long until the next
   * attempt, or undefined when torcon gave up (the tor that came back gave the service another
   * address: an OnionPublishError). Nothing else reports these, so listen to log or alert.
   */
  republishFailed: [error: Error, nextTryMs: number | undefined];
  /** The service was closed by `close()` (after `lost` too, once `close()` is called). */
  close: [];
}

/** How a service is torn down; supplied by the code that created it. */
export interface OnionServiceTeardown {
  /** Removes the service from tor (DEL_ONION, or its HiddenService* group). */
  remove(): Promise<void>;
  /** Stops the local listener when torcon made it listen; otherwise a no-op. */
  closeListener(): void;
}

/** What the creator knows about a new service. */
export interface OnionServiceInit {
  serviceId: string;
  ports: readonly OnionPortMapping[];
  privateKey?: string | undefined;
  clientAuth?: OnionClientAuthKey[] | undefined;
  /** `ephemeral` (ADD_ONION) or `filesystem` (HiddenServiceDir). */
  kind: 'ephemeral' | 'filesystem';
  detached: boolean;
  hiddenServiceDir?: string | undefined;
}

/**
 * A running v3 onion service, as `Tor.createOnionService` returns it.
 *
 * It is an EventEmitter: `lost` when the control connection that owns it dies (tor then drops an
 * ephemeral service), `close` once `close()` has finished. `closed` tells whether either happened.
 * `privateKey` (and each client's private key) is readable but never shown by `util.inspect`,
 * `console.log` or `JSON.stringify`.
 *
 * @example
 * const service = await tor.createOnionService({ ports: [{ virtualPort: 80 }], server });
 * service.on('lost', (err) => console.error('onion service gone:', err.message));
 * console.log(service.address); // xxxx.onion:80
 */
export class TorOnionService extends TypedEmitter<OnionServiceEvents> implements OnionService {
  readonly hostname: string;
  readonly serviceId: string;
  readonly address: string;
  /** The virtual ports and where tor sends them. */
  readonly ports: readonly OnionPortMapping[];
  /** `ephemeral` (ADD_ONION) or `filesystem` (HiddenServiceDir). */
  readonly kind: 'ephemeral' | 'filesystem';
  /** Created with `detach`: it outlives the control connection and `Tor.close()` leaves it running. */
  readonly detached: boolean;
  /** The directory of a filesystem service. */
  readonly hiddenServiceDir?: string;
  readonly clientAuth?: OnionClientAuthKey[];
  readonly #privateKey: string | undefined;
  #teardown: OnionServiceTeardown;
  #closing: Promise<void> | undefined;
  #lost = false;

  constructor(init: OnionServiceInit, teardown: OnionServiceTeardown) {
    super();
    this.serviceId = init.serviceId;
    this.hostname = `${init.serviceId}.onion`;
    this.ports = Object.freeze(init.ports.map((p) => Object.freeze({ ...p })));
    this.address = `${this.hostname}:${init.ports[0]!.virtualPort}`;
    this.kind = init.kind;
    this.detached = init.detached;
    if (init.hiddenServiceDir !== undefined) this.hiddenServiceDir = init.hiddenServiceDir;
    if (init.clientAuth !== undefined && init.clientAuth.length > 0) this.clientAuth = init.clientAuth;
    this.#privateKey = init.privateKey;
    this.#teardown = teardown;
  }

  /** `ED25519-V3:<base64>`; keep it secret: it is the service's identity. Never printed. */
  get privateKey(): string | undefined {
    return this.#privateKey;
  }

  /** True after `close()` or after the service was lost with its control connection (until `republished`). */
  get closed(): boolean {
    return this.#closing !== undefined || this.#lost;
  }

  /**
   * Removes the service from tor and stops the local listener if torcon started it. Idempotent.
   * After `lost` only the listener is left to close.
   * @throws TorControlClosedError (`TOR_CONTROL_CLOSED`) for a detached or filesystem service whose
   *   control connection is gone: it still runs in tor (remove it from another connection)
   * @throws TorControlError when tor refuses the removal
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        if (!this.#lost) await this.#teardown.remove();
      } finally {
        this.#teardown.closeListener();
        this.emit('close');
      }
    })();
    return this.#closing;
  }

  /** `close()`, for `await using service = await tor.createOnionService(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Called by the manager when the control connection closes. */
  connectionLost(error: TorError): void {
    // A detached or filesystem service keeps running in tor: nothing was lost but our handle on it.
    if (this.#closing || this.#lost || this.detached || this.kind === 'filesystem') return;
    this.#lost = true;
    this.emit('lost', error);
  }

  /**
   * After `lost`: the same service (same key, ports and server) published again as `again`, on the
   * tor that came back (see republish.ts). From now on `close()` removes `again` (and still stops
   * the local listener if torcon started it for this one), and `again` losing its connection is
   * this one's `lost`.
   * @internal
   */
  republishedAs(again: TorOnionService): void {
    if (!this.#lost || this.#closing !== undefined || again.serviceId !== this.serviceId) {
      throw new Error('republishedAs: only a lost, unclosed service, as the same address');
    }
    const { closeListener } = this.#teardown;
    this.#teardown = { remove: () => again.close(), closeListener };
    this.#lost = false;
    again.once('lost', (error) => {
      // `again` is done with: this service stands for it, and is published again as another one.
      // Closed (after `lost` it only gives back its share of a listener torcon opened), or it
      // would keep that share, and so the listener after this service's close(), and through the
      // server its dead connection, one more after each tor restart.
      again.close().catch(() => undefined);
      this.connectionLost(error);
    });
    this.emit('republished');
  }

  /** Safe to log: no keys. */
  toJSON(): Record<string, unknown> {
    return {
      hostname: this.hostname,
      address: this.address,
      serviceId: this.serviceId,
      kind: this.kind,
      detached: this.detached,
      ports: this.ports,
      ...(this.#privateKey !== undefined ? { privateKey: '[redacted]' } : {}),
      ...(this.clientAuth ? { clientAuth: this.clientAuth.map((c) => ({ name: c.name, publicKey: c.publicKey })) } : {}),
    };
  }

  [inspect.custom](): string {
    const parts = [`address: '${this.address}'`, `kind: '${this.kind}'`];
    if (this.detached) parts.push('detached: true');
    if (this.#privateKey !== undefined) parts.push('privateKey: [redacted]');
    if (this.clientAuth) parts.push(`clientAuth: [${this.clientAuth.map((c) => `'${c.name}'`).join(', ')}]`);
    if (this.closed) parts.push('closed: true');
    return `OnionService { ${parts.join(', ')} }`;
  }
}
