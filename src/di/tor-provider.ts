import { TorNotAvailableError } from '../errors.js';
import { connectTor, launchTor, type ConnectTorOptions } from '../tor/connect-tor.js';
import { mayUseSocksOnly, SocksOnlyTor } from '../tor/socks-only-tor.js';
import type { Tor } from '../tor/tor.js';
import { logger } from '../util/log.js';

const log = logger('provider');

/** The key of the handle used when no control endpoint is named. */
const DEFAULT_KEY = '(default)';

/** How long a shared handle may take to connect and authenticate. */
const CONNECT_TIMEOUT_MS = 30_000;

/** Options of {@link TorProvider.get}. */
export interface GetTorOptions {
  /** A control endpoint string; @default `$TOR_CONTROL`, then the usual local control ports */
  control?: string;
  /**
   * When no running tor can be found, launch one for this process (shared by later calls).
   * Used by `onion:` only: a server needs a tor, and launching one is what the user asked for.
   * @default false
   */
  launchIfMissing?: boolean;
}

/** Options of {@link TorProvider}: what it reads from its surroundings, replaceable in tests. */
export interface TorProviderOptions {
  /** Connects to a running tor. @default connectTor */
  connect?: (opts: ConnectTorOptions) => Promise<Tor>;
  /** Launches a tor for the process when none is found and the caller may launch one. @default launchTor */
  launch?: () => Promise<Tor>;
  /** The environment `$TOR_CONTROL` is read from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The SOCKS ports {@link TorProvider.forStreams} tries when no control port is found. @default [9050, 9150] */
  fallbackSocksPorts?: readonly (number | string)[];
}

/**
 * The Tor handles that endpoint strings use when the caller passes none: one per control endpoint,
 * shared, connected lazily. Their control sockets are unref'd, so a script that used
 * `connect("tor:...")` can end without closing anything.
 */
export class TorProvider {
  private readonly handles = new Map<string, Promise<Tor>>();
  private readonly connect: (opts: ConnectTorOptions) => Promise<Tor>;
  private readonly env: NodeJS.ProcessEnv;
  private readonly fallbackSocksPorts: readonly (number | string)[] | undefined;
  private socksOnly: SocksOnlyTor | undefined;
  private readonly launch: () => Promise<Tor>;
  /** The tor launched for the process, while it is the default handle. */
  private launched: Promise<Tor> | undefined;

  constructor(opts: TorProviderOptions = {}) {
    this.connect = opts.connect ?? connectTor;
    this.launch = opts.launch ?? (() => launchTor());
    this.env = opts.env ?? process.env;
    this.fallbackSocksPorts = opts.fallbackSocksPorts;
  }

  /**
   * The shared handle for a control endpoint.
   * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`) when no tor can be reached (and none may be launched)
   */
  get(opts: GetTorOptions = {}): Promise<Tor> {
    const control = opts.control ?? this.env['TOR_CONTROL'] ?? '';
    const key = control || DEFAULT_KEY;
    const handle = this.handles.get(key) ?? this.share(key, this.open(control));
    if (control || !(opts.launchIfMissing ?? false)) return handle;
    // The search may have been started by a caller that may not launch (connect("tor:...")): its
    // "no tor" must not fail this one, which may (listen("onion:...")).
    return handle.catch((err: unknown) => {
      if (!(err instanceof TorNotAvailableError)) throw err;
      return this.launchShared();
    });
  }

  /** Keeps `handle` as the shared one for `key` until it fails or its connection closes. */
  private share(key: string, handle: Promise<Tor>): Promise<Tor> {
    this.handles.set(key, handle);
    handle.then(
      (tor) => tor.control.once('close', () => this.forget(key, handle)),
      () => this.forget(key, handle),
    );
    return handle;
  }

  private forget(key: string, handle: Promise<Tor>): void {
    if (this.handles.get(key) === handle) this.handles.delete(key);
  }

  private async open(control: string): Promise<Tor> {
    // Bounded: a shared attempt that never ends would hang every later endpoint on this tor.
    const tor = await this.connect({ ...(control ? { control } : {}), timeoutMs: CONNECT_TIMEOUT_MS });
    tor.control.unref();
    return tor;
  }

  /**
   * One tor launched for the process, however many callers found none at once; it is the default
   * handle from then on (later endpoints share it), until its connection closes.
   */
  private launchShared(): Promise<Tor> {
    const current = this.handles.get(DEFAULT_KEY);
    if (current !== undefined && current === this.launched) return current;
    const launched = this.launch().then((tor) => {
      tor.control.unref();
      return tor;
    });
    this.launched = launched;
    return this.share(DEFAULT_KEY, launched);
  }

  /**
   * What a client stream (`tor:`) goes through: the shared handle of {@link get}, or, when the
   * caller named no tor (no `control`, no `$TOR_CONTROL`) and none of the usual control ports
   * answers, tor's SOCKS port alone ({@link SocksOnlyTor}: the endpoint's `socksPort`, else 9050,
   * then 9150). A stream needs no control port, and most installed tors have none. A tor that was
   * named is never replaced by another: `$TOR_CONTROL` pointing at a test network that is down must
   * not send streams to a system tor on the public network.
   * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`) when a named tor cannot be reached
   * @throws whatever {@link get} throws besides (authentication refused, a timeout)
   */
  async forStreams(control?: string): Promise<Pick<Tor, 'connect' | 'createOnionService'> | SocksOnlyTor> {
    try {
      return await this.get(control !== undefined ? { control } : {});
    } catch (err) {
      if (!mayUseSocksOnly(err, control ?? this.env['TOR_CONTROL'])) throw err;
      log('%s: streams go to tor\'s SOCKS port directly', err.message);
      // One for the process, as the handles are shared (it holds no connection of its own); the
      // places searched are the same every time, so the first search's report stands for all.
      return (this.socksOnly ??= new SocksOnlyTor(err, this.fallbackSocksPorts));
    }
  }

  /** Closes every handle this provider opened (and stops tors it launched). */
  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    this.socksOnly?.close();
    this.socksOnly = undefined;
    await Promise.all(all.map((h) => h.then((tor) => tor.close()).catch(() => undefined)));
  }
}
