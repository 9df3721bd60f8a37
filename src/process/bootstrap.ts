import { TorAbortError, TorControlClosedError } from '../errors.js';
import { parseKeywordArgs } from '../control/keyword-args.js';
import type { TorControl } from '../control/tor-control.js';

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

/**
 * Resolves when tor reports 100% bootstrap, reporting each new step to `onProgress`. Subscribes
 * before asking for the current phase, so that no step falls between the two.
 * @throws TorControlClosedError when the connection closes first; TorAbortError on abort
 */
export async function waitForBootstrap(
  control: TorControl,
  opts: { onProgress?: (p: BootstrapProgress) => void; signal?: AbortSignal } = {},
): Promise<void> {
  let last = -1;
  let done!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const report = (p: BootstrapProgress | undefined) => {
    if (!p || p.percent <= last) return;
    last = p.percent;
    try {
      opts.onProgress?.(p);
    } catch {
      /* a progress callback must not stop the launch */
    }
    if (p.percent >= 100) done();
  };
  const onClose = () => fail(new TorControlClosedError('tor closed the control connection during bootstrap'));
  const onAbort = () => fail(new TorAbortError('waiting for bootstrap', { cause: opts.signal?.reason }));
  control.once('close', onClose);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const off = await control.subscribe('STATUS_CLIENT', (e) => report(parseBootstrapStatus(e.raw)));
  try {
    report(parseBootstrapStatus(await control.getInfo('status/bootstrap-phase')));
    await finished;
  } finally {
    control.off('close', onClose);
    opts.signal?.removeEventListener('abort', onAbort);
    await off().catch(() => undefined);
  }
}
