import { TorNotAvailableError } from '../errors.js';
import { connectTor, launchTor } from '../tor/connect-tor.js';
import type { Tor } from '../tor/tor.js';

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

/**
 * The Tor handles that endpoint strings use when the caller passes none: one per control endpoint,
 * shared, connected lazily. Their control sockets are unref'd, so a script that used
 * `connect("tor:...")` can end without closing anything.
 */
export class TorProvider {
  private readonly handles = new Map<string, Promise<Tor>>();

  /**
   * The shared handle for a control endpoint.
   * @throws TorNotAvailableError (`TOR_NOT_AVAILABLE`) when no tor can be reached (and none may be launched)
   */
  get(opts: GetTorOptions = {}): Promise<Tor> {
    const control = opts.control ?? process.env['TOR_CONTROL'] ?? '';
    const key = control || '(default)';
    let handle = this.handles.get(key);
    if (!handle) {
      handle = this.open(control, opts.launchIfMissing ?? false);
      this.handles.set(key, handle);
      handle.then(
        (tor) => tor.control.once('close', () => this.forget(key, handle!)),
        () => this.forget(key, handle!),
      );
    }
    return handle;
  }

  private forget(key: string, handle: Promise<Tor>): void {
    if (this.handles.get(key) === handle) this.handles.delete(key);
  }

  private async open(control: string, launchIfMissing: boolean): Promise<Tor> {
    try {
      // Bounded: a shared attempt that never ends would hang every later endpoint on this tor.
      const tor = await connectTor({ ...(control ? { control } : {}), timeoutMs: CONNECT_TIMEOUT_MS });
      tor.control.unref();
      return tor;
    } catch (err) {
      if (!(err instanceof TorNotAvailableError) || control || !launchIfMissing) throw err;
      const tor = await launchTor();
      tor.control.unref();
      return tor;
    }
  }

  /** Closes every handle this provider opened (and stops tors it launched). */
  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map((h) => h.then((tor) => tor.close()).catch(() => undefined)));
  }
}
