/**
 * tor's bootstrap: reading its status, and waiting for it to finish, for a tor torcon launched
 * (launchTor) and for any other (`Tor.waitForBootstrap`): a system tor that has just started (a
 * container, a service manager) answers on its control port long before it can carry traffic.
 */
import { TorControlClosedError, TorInvalidValueError, TorNetworkDisabledError, TorProtocolError, TorTimeoutError } from '../errors.js';
import { parseKeywordArgs } from '../control/keyword-args.js';
import type { TorControl } from '../control/tor-control.js';
import type { ConfChangedEvent, StatusEvent } from '../control/events/event-types.js';
import { assertCancelOptions, raceCancel, throwIfAborted, type CancelOptions } from '../util/abort.js';
import { logger } from '../util/log.js';

const log = logger('tor');

/** One step of tor's bootstrap, from `STATUS_CLIENT ... BOOTSTRAP` (control-spec 4.1.10). */
export interface BootstrapProgress {
  percent: number;
  tag: string;
  summary: string;
  /** tor's WARNING, when this is a report of a problem at this step (tor keeps trying). */
  warning?: string;
  /** tor's REASON for the problem (an ORCONN reason such as `CONNECTREFUSED`, or `NOROUTE`). */
  reason?: string;
}

/**
 * Reads `NOTICE BOOTSTRAP PROGRESS=N TAG=T SUMMARY="..."` (the body of a STATUS_CLIENT event or of
 * `GETINFO status/bootstrap-phase`); undefined for any other status line.
 */
export function parseBootstrapStatus(text: string): BootstrapProgress | undefined {
  const at = text.indexOf('BOOTSTRAP ');
  if (at === -1) return undefined;
  const { keywords } = parseKeywordArgs(text.slice(at + 'BOOTSTRAP '.length));
  const percent = Number(keywords['PROGRESS']);
  if (!Number.isFinite(percent)) return undefined;
  const progress: BootstrapProgress = { percent, tag: keywords['TAG'] ?? '', summary: keywords['SUMMARY'] ?? '' };
  if (keywords['WARNING'] !== undefined) progress.warning = keywords['WARNING'];
  if (keywords['REASON'] !== undefined) progress.reason = keywords['REASON'];
  return progress;
}

/** Options of {@link waitForBootstrap} (`Tor.waitForBootstrap`, and launchTor's wait). */
export interface WaitForBootstrapOptions extends CancelOptions {
  /**
   * Hears each step once (the step tor is at when the wait starts, then each later one), and each
   * problem tor reports on the way (`warning` set; tor keeps trying). The same callback as
   * `launchTor({ onProgress })`. A callback that throws is ignored: it does not end the wait.
   */
  onProgress?: (progress: BootstrapProgress) => void;
}

/**
 * Where tor is in its bootstrap (`GETINFO status/bootstrap-phase`).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when tor's answer is no bootstrap status
 */
export async function readBootstrapProgress(control: TorControl, opts: CancelOptions = {}): Promise<BootstrapProgress> {
  assertCancelOptions(opts);
  const text = await control.getInfo('status/bootstrap-phase', opts);
  const progress = parseBootstrapStatus(text);
  if (!progress) throw new TorProtocolError('GETINFO status/bootstrap-phase: tor answered no bootstrap status');
  return progress;
}

/**
 * Resolves once tor has bootstrapped (100%) and its network is enabled; at once when it already
 * is. Subscribes to tor's STATUS_CLIENT and CONF_CHANGED events before reading where tor is, so
 * that no step falls between the two; unsubscribes however the wait ends.
 *
 * @throws TorNetworkDisabledError (`TOR_NETWORK_DISABLED`) when tor's `DisableNetwork` is 1 (at the
 *   start, even at 100% since the network was disabled after, or set while waiting): tor would
 *   never finish, or carries no traffic
 * @throws TorTimeoutError (`TOR_TIMEOUT`) after `timeoutMs`, its message saying where tor stopped
 *   and the last problem it reported
 * @throws TorAbortError (`TOR_ABORTED`) on abort
 * @throws TorControlClosedError (`TOR_CONTROL_CLOSED`) when the connection closes first
 * @throws TorInvalidValueError (`TOR_INVALID_VALUE`) for bad options (nothing sent)
 */
export async function waitForBootstrap(control: TorControl, opts: WaitForBootstrapOptions = {}): Promise<void> {
  // A JavaScript caller's null means no options, as elsewhere; a value that is no object is refused here.
  opts ??= {};
  assertCancelOptions(opts);
  const { onProgress } = opts;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TorInvalidValueError('onProgress', 'must be a function');
  }
  // Nothing is sent for a wait given up before it starts.
  throwIfAborted(opts.signal, 'waiting for tor to bootstrap');

  let last: BootstrapProgress | undefined;
  let over = false;
  let done!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = () => {
      over = true;
      resolve();
    };
    fail = (err) => {
      over = true;
      reject(err);
    };
  });
  // It may be settled (the connection closing while subscribing) before anything awaits it.
  finished.catch(() => undefined);

  const report = (p: BootstrapProgress | undefined) => {
    if (!p || over) return;
    // A problem report repeats the step it happened at; a plain status older than the last is a
    // late GETINFO answer, already superseded by an event.
    const advanced = last === undefined || p.percent > last.percent;
    if (!advanced && p.warning === undefined) return;
    if (advanced || p.percent === last?.percent) last = p;
    try {
      onProgress?.(p);
    } catch (err) {
      log('bootstrap onProgress threw (ignored): %s', (err as Error).message);
    }
    if (p.percent >= 100) done();
  };
  const onStatus = (e: StatusEvent<'STATUS_CLIENT'>) => {
    if (e.action === 'BOOTSTRAP') report(parseBootstrapStatus(e.raw));
  };
  const onConfChanged = (e: ConfChangedEvent) => {
    for (const c of e.changes) {
      if (c.key.toLowerCase() === 'disablenetwork' && c.value === '1') fail(networkDisabled('was disabled while waiting'));
    }
  };
  const onClose = () => fail(new TorControlClosedError('the Tor control connection closed before tor bootstrapped'));

  const work = (async () => {
    const offs: Array<() => Promise<void>> = [];
    control.once('close', onClose);
    try {
      // Asked together: TorControl sends one SETEVENTS for both.
      const subscribed = await Promise.allSettled([control.subscribe('STATUS_CLIENT', onStatus), control.subscribe('CONF_CHANGED', onConfChanged)]);
      for (const r of subscribed) if (r.status === 'fulfilled') offs.push(r.value);
      const refused = subscribed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) throw refused.reason;
      if (over) return await finished;
      const status = await control.getInfo('status/bootstrap-phase');
      if (over) return await finished;
      // Asked even at 100%: a tor whose network was disabled after it bootstrapped still says
      // 100%, and carries no traffic.
      const { DisableNetwork: disabled } = await control.getConf(['DisableNetwork']);
      if (disabled?.[0] === '1') fail(networkDisabled('is disabled'));
      else report(parseBootstrapStatus(status));
      return await finished;
    } finally {
      control.off('close', onClose);
      await Promise.all(offs.map((off) => off().catch(() => undefined)));
    }
  })();
  try {
    // Cancelling settles `finished`, so that `work` stops and unsubscribes.
    await raceCancel(work, 'waiting for tor to bootstrap', { ...opts, onCancel: (err) => fail(err) });
  } catch (err) {
    if (err instanceof TorTimeoutError) throw new TorTimeoutError(`waiting for tor to bootstrap (${describe(last)})`, err.timeoutMs);
    throw err;
  }
}

function networkDisabled(how: string): TorNetworkDisabledError {
  return new TorNetworkDisabledError(
    `tor's network ${how} (DisableNetwork 1): tor does not bootstrap until it is enabled, e.g. with (await tor.getConfig()).set({ DisableNetwork: 0 })`,
  );
}

/** Where tor got to, for a timeout's message: `at 45% ("Loading relay descriptors"), last problem: ...`. */
function describe(p: BootstrapProgress | undefined): string {
  if (!p) return 'no bootstrap status heard';
  let text = `at ${p.percent}% (${JSON.stringify(p.summary)})`;
  if (p.warning !== undefined) text += `, last problem: ${JSON.stringify(p.warning)}${p.reason ? ` (${p.reason})` : ''}`;
  return text;
}
