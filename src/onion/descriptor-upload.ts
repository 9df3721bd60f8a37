import { OnionPublishError, TorControlClosedError, TorTimeoutError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import type { TorEvent } from '../control/events/event-types.js';
import { raceCancel } from '../util/abort.js';
import type { OnionProgress } from './onion-types.js';

/**
 * Waiting for a service's descriptor to reach the directories, from HS_DESC events (control-spec
 * 4.1.25): `UPLOAD` when tor sends it to one HSDir, then `UPLOADED` or `FAILED` per HSDir. The
 * subscription starts before ADD_ONION/SETCONF, because tor may report the first upload before the
 * command's reply reaches us; events that arrive before we know the service id are kept and replayed.
 */

/** The HS_DESC fields the tracker needs. */
export interface HsDescUpdate {
  action: string;
  /** Service id without `.onion`. */
  address: string;
  /** The directory: LongName, `$FINGERPRINT` or fingerprint. */
  hsDir: string;
  reason?: string | undefined;
}

/** What the uploads add up to so far. */
export type UploadOutcome =
  | { state: 'waiting'; started: number; done: number }
  | { state: 'uploaded'; hsDir: string }
  | { state: 'failed'; reasons: string[] };

/**
 * Pure bookkeeping of one service's uploads. It has failed when every HSDir we saw an UPLOAD for
 * answered FAILED and none UPLOADED: tor retries later, but a caller waiting for a published service
 * deserves an answer instead of a silent wait.
 */
export class UploadTracker {
  /** Uploads in flight per directory fingerprint (one HSDir may hold both time periods' descriptors). */
  private readonly pending = new Map<string, number>();
  private started = 0;
  private done = 0;
  private readonly reasons: string[] = [];
  private outcome: UploadOutcome = { state: 'waiting', started: 0, done: 0 };
  /** The first directory that accepted the descriptor, once one has. */
  firstUploaded: string | undefined;

  constructor(readonly serviceId: string) {}

  /** Applies one event (events for other services are ignored) and returns the outcome so far. */
  apply(e: HsDescUpdate): UploadOutcome {
    if (this.outcome.state !== 'waiting' || e.address.toLowerCase() !== this.serviceId) return this.outcome;
    const dir = directoryKey(e.hsDir);
    switch (e.action) {
      case 'UPLOAD':
        this.pending.set(dir, (this.pending.get(dir) ?? 0) + 1);
        this.started++;
        break;
      case 'UPLOADED': {
        // Counted like a failure for the bookkeeping of what is still in flight; the service is
        // published once every directory asked has answered (or, see the watcher, shortly after
        // the first success), so that a client's first lookup finds the descriptor.
        const n = this.pending.get(dir) ?? 0;
        if (n <= 1) this.pending.delete(dir);
        else this.pending.set(dir, n - 1);
        this.done++;
        this.firstUploaded ??= dir;
        if (this.pending.size === 0) {
          this.outcome = { state: 'uploaded', hsDir: this.firstUploaded };
          return this.outcome;
        }
        break;
      }
      case 'FAILED': {
        const n = this.pending.get(dir) ?? 0;
        if (n <= 1) this.pending.delete(dir);
        else this.pending.set(dir, n - 1);
        this.done++;
        this.reasons.push(e.reason ?? 'UNEXPECTED');
        if (this.pending.size === 0) {
          this.outcome =
            this.firstUploaded !== undefined
              ? { state: 'uploaded', hsDir: this.firstUploaded }
              : { state: 'failed', reasons: [...this.reasons] };
          return this.outcome;
        }
        break;
      }
      default:
        return this.outcome;
    }
    this.outcome = { state: 'waiting', started: this.started, done: this.done };
    return this.outcome;
  }
}

/** `$AAAA...~nick`, `AAAA...`, `$AAAA...=nick` all name the same directory. */
function directoryKey(hsDir: string): string {
  const bare = hsDir.startsWith('$') ? hsDir.slice(1) : hsDir;
  return bare.split(/[~=]/, 1)[0]!.toUpperCase();
}

/** Reads an HS_DESC event, typed or (if tor's text did not parse) generic; `undefined` if neither. */
export function hsDescUpdate(e: TorEvent): HsDescUpdate | undefined {
  if (e.type !== 'HS_DESC') return undefined;
  if (!e.generic) {
    const typed = e as Extract<TorEvent, { type: 'HS_DESC'; generic?: undefined }>;
    return { action: typed.action, address: typed.address, hsDir: typed.hsDir, reason: typed.reason };
  }
  return undefined;
}

/** Options of {@link DescriptorUploadWatcher.wait}. */
export interface UploadWaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  onProgress: (p: OnionProgress) => void;
}

/** How long publication waits, after the first successful upload, for the other directories. */
const UPLOAD_GRACE_MS = 3_000;

/** An HS_DESC subscription that buffers events until a service id is known. */
export class DescriptorUploadWatcher {
  private buffered: HsDescUpdate[] = [];
  private sink: ((u: HsDescUpdate) => void) | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  private constructor(private readonly control: TorControl) {}

  /**
   * Subscribes to HS_DESC; resolves once tor has acknowledged (so no upload can be missed).
   * @throws TorControlError, TorControlClosedError
   */
  static async start(control: TorControl): Promise<DescriptorUploadWatcher> {
    const watcher = new DescriptorUploadWatcher(control);
    watcher.unsubscribe = await control.subscribe('HS_DESC', (e: TorEvent) => {
      const u = hsDescUpdate(e);
      if (!u) return;
      if (watcher.sink) watcher.sink(u);
      else if (watcher.buffered.length < 10_000) watcher.buffered.push(u);
    });
    return watcher;
  }

  /**
   * Resolves once every directory tor sent `serviceId`'s descriptor to has answered and one took
   * it, or {@link UPLOAD_GRACE_MS} after the first took it, whichever comes first.
   * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when every upload failed or on timeout;
   *   TorAbortError (`TOR_ABORTED`); TorControlClosedError (`TOR_CONTROL_CLOSED`) as soon as the
   *   control connection closes (no HS_DESC event can come any more)
   */
  async wait(serviceId: string, opts: UploadWaitOptions): Promise<void> {
    const tracker = new UploadTracker(serviceId);
    let grace: NodeJS.Timeout | undefined;
    let onClose: (() => void) | undefined;
    const result = new Promise<void>((resolve, reject) => {
      onClose = () =>
        reject(new TorControlClosedError(`publishing ${serviceId}.onion stopped: the Tor control connection closed`));
      if (this.control.closed) onClose();
      else this.control.once('close', onClose);
      const published = (hsDir: string) => {
        if (grace) clearTimeout(grace);
        opts.onProgress({ phase: 'uploaded', message: `descriptor uploaded to HSDir ${hsDir}`, percent: 100 });
        resolve();
      };
      this.sink = (u) => {
        const outcome = tracker.apply(u);
        // After the first success, a directory that is slow to answer must not hold the caller
        // for long: published anyway after a short grace.
        if (outcome.state === 'waiting' && tracker.firstUploaded !== undefined && !grace) {
          const first = tracker.firstUploaded;
          grace = setTimeout(() => published(first), UPLOAD_GRACE_MS);
        }
        if (outcome.state === 'uploaded') {
          published(outcome.hsDir);
        } else if (outcome.state === 'failed') {
          reject(
            new OnionPublishError(
              `every descriptor upload of ${serviceId}.onion failed (${summarize(outcome.reasons)})`,
            ),
          );
        } else if (u.address.toLowerCase() === serviceId && (u.action === 'UPLOAD' || u.action === 'UPLOADED' || u.action === 'FAILED')) {
          const { started, done } = outcome;
          opts.onProgress({
            phase: 'uploading',
            message: `uploading descriptor (${done}/${started} directories answered)`,
            percent: 40 + Math.round((50 * done) / Math.max(started, 1)),
          });
        }
      };
    });
    const replay = this.buffered;
    this.buffered = [];
    for (const u of replay) this.sink!(u);
    try {
      await raceCancel(result, `publishing ${serviceId}.onion`, { signal: opts.signal, timeoutMs: opts.timeoutMs });
    } catch (err) {
      if (err instanceof TorTimeoutError) {
        throw new OnionPublishError(
          `no descriptor upload of ${serviceId}.onion succeeded within ${+(opts.timeoutMs / 1000).toFixed(3)} s (is tor bootstrapped?)`,
          { cause: err },
        );
      }
      throw err;
    } finally {
      if (grace) clearTimeout(grace);
      if (onClose) this.control.off('close', onClose);
      this.sink = undefined;
    }
  }

  /** Unsubscribes (idempotent; never throws: the connection may be gone). */
  async stop(): Promise<void> {
    const off = this.unsubscribe;
    this.unsubscribe = undefined;
    this.sink = undefined;
    this.buffered = [];
    await off?.().catch(() => undefined);
  }
}

function summarize(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n}x ${r}`).join(', ');
}
