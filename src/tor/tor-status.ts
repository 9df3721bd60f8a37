import { TorControlError, TorProtocolError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import { parseBootstrapStatus, type BootstrapProgress } from '../process/bootstrap.js';
import { assertCancelOptions, cancelBudget, type CancelOptions } from '../util/abort.js';

/**
 * What a tor says of itself now: one `GETINFO` of the keys below (control-spec 3.9), typed. For
 * dashboards and health checks; the live state (`tor.getState()`) is for circuits and streams.
 */
export interface TorStatus {
  /** tor's version with what it adds (`0.4.9.11 (git-…)`), from `version`. */
  version: string;
  /** `process/pid`. */
  pid: number;
  /** `process/uid`; undefined where tor cannot say (Windows: -1). */
  uid?: number;
  /** `process/user`; undefined where tor cannot say (Windows, or no user name: ''). */
  user?: string;
  /** `process/descriptor-limit`, the most file descriptors tor may open; undefined where unknown (-1). */
  descriptorLimit?: number;
  /** `uptime`, seconds since tor started; undefined for tors older than 0.3.5, which lack it. */
  uptimeSeconds?: number;
  /** `traffic/read`: bytes tor has read since it started, on all its connections. */
  bytesRead: number;
  /** `traffic/written`: bytes tor has written since it started. */
  bytesWritten: number;
  /** `status/bootstrap-phase`: where tor is in bootstrapping (100: done). */
  bootstrap: BootstrapProgress;
  /** `status/circuit-established`: tor has built a circuit and can carry traffic. */
  circuitEstablished: boolean;
  /** `status/enough-dir-info`: tor knows enough relays to build circuits. */
  enoughDirInfo: boolean;
  /** `network-liveness`: tor believes the network is reachable. */
  networkLive: boolean;
  /** `dormant`: tor went idle for lack of use (it wakes at the next stream, or `SIGNAL ACTIVE`). */
  dormant: boolean;
  /** `accounting/hibernating`: `awake`, or `soft`/`hard` when AccountingMax has it stop accepting. */
  hibernating: 'awake' | 'soft' | 'hard';
  /**
   * `__LeaveStreamsUnattached` (GETCONF): tor attaches no stream itself, a controller must, or the
   * stream goes nowhere. A stream attacher sets it (`state.setAttacher`); tor keeps it after that
   * controller's connection ends, so a process that died with an attacher leaves it set.
   */
  streamsLeftUnattached: boolean;
  /**
   * `DisableNetwork` (GETCONF): tor makes no connection at all. tor's own `network-liveness` may
   * still say `up` then (it judges by what it last saw), and its bootstrap phase stays where it was.
   */
  networkDisabled: boolean;
}

/** The keys {@link readTorStatus} asks for, in one GETINFO. */
export const TOR_STATUS_KEYS = [
  'version',
  'process/pid',
  'process/uid',
  'process/user',
  'process/descriptor-limit',
  'uptime',
  'traffic/read',
  'traffic/written',
  'status/bootstrap-phase',
  'status/circuit-established',
  'status/enough-dir-info',
  'network-liveness',
  'dormant',
  'accounting/hibernating',
] as const;

/** Keys an older tor may not know: asked for alone, and left out of the status when refused. */
const OPTIONAL_KEYS: ReadonlySet<string> = new Set(['uptime']);

/** The option behind {@link TorStatus.streamsLeftUnattached}, asked with GETCONF beside the GETINFO. */
const LEAVE_UNATTACHED = '__LeaveStreamsUnattached';
/** The option behind {@link TorStatus.networkDisabled}, in the same GETCONF. */
const DISABLE_NETWORK = 'DisableNetwork';

/** What {@link parseTorStatus} reads of tor's GETCONF answer: one value per option. */
export type TorStatusConf = Readonly<Record<typeof LEAVE_UNATTACHED | typeof DISABLE_NETWORK, string | undefined>>;

/**
 * Reads {@link TorStatus} from tor: one GETINFO and one GETCONF, sent together (one round trip's
 * wait), and a second GETINFO when tor refuses a key (an older tor without `uptime`: then the
 * others are asked again without it).
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) when tor's answer to a key is not what the spec says
 * @throws TorControlError when tor refuses a key every tor since 0.3.5 knows; TorTimeoutError,
 *   TorAbortError for `opts`; TorControlClosedError
 */
export async function readTorStatus(control: TorControl, opts: CancelOptions = {}): Promise<TorStatus> {
  assertCancelOptions(opts);
  const remaining = cancelBudget(opts ?? {});
  let info: Record<string, string | undefined>;
  const first = control.getInfo([...TOR_STATUS_KEYS], remaining());
  const conf = control.getConf([LEAVE_UNATTACHED, DISABLE_NETWORK], remaining());
  // Settled below in any case; until then a rejection must not count as unhandled.
  conf.catch(() => undefined);
  try {
    info = await first;
  } catch (err) {
    if (!(err instanceof TorControlError)) throw err;
    // tor refuses the whole GETINFO for one key it does not know. Without the optional ones it
    // answers, or refuses a key every supported tor has, and that refusal is the caller's error.
    info = await control.getInfo(
      TOR_STATUS_KEYS.filter((k) => !OPTIONAL_KEYS.has(k)),
      remaining(),
    );
  }
  const values = await conf;
  return parseTorStatus(info, { [LEAVE_UNATTACHED]: values[LEAVE_UNATTACHED]?.[0], [DISABLE_NETWORK]: values[DISABLE_NETWORK]?.[0] });
}

/**
 * Types the answers to {@link TOR_STATUS_KEYS} (a missing `uptime` is left out) and tor's
 * `__LeaveStreamsUnattached` and `DisableNetwork`.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for a missing or malformed answer, naming the key
 */
export function parseTorStatus(info: Readonly<Record<string, string | undefined>>, conf: TorStatusConf): TorStatus {
  const text = (key: string): string => required('GETINFO', key, info[key]);
  const status: TorStatus = {
    version: text('version'),
    pid: count('process/pid', text('process/pid')),
    bytesRead: count('traffic/read', text('traffic/read')),
    bytesWritten: count('traffic/written', text('traffic/written')),
    bootstrap: bootstrapOf(text('status/bootstrap-phase')),
    circuitEstablished: flag('status/circuit-established', text('status/circuit-established')),
    enoughDirInfo: flag('status/enough-dir-info', text('status/enough-dir-info')),
    networkLive: oneOf('network-liveness', text('network-liveness'), ['up', 'down']) === 'up',
    // "A nonnegative integer: zero if Tor is currently active"
    dormant: count('dormant', text('dormant')) !== 0,
    hibernating: oneOf('accounting/hibernating', text('accounting/hibernating'), ['awake', 'soft', 'hard']),
    streamsLeftUnattached: flag(LEAVE_UNATTACHED, required('GETCONF', LEAVE_UNATTACHED, conf[LEAVE_UNATTACHED]), 'GETCONF'),
    networkDisabled: flag(DISABLE_NETWORK, required('GETCONF', DISABLE_NETWORK, conf[DISABLE_NETWORK]), 'GETCONF'),
  };
  const uid = signedOrUnknown('process/uid', text('process/uid'));
  if (uid !== undefined) status.uid = uid;
  const user = text('process/user');
  if (user !== '') status.user = user;
  const limit = signedOrUnknown('process/descriptor-limit', text('process/descriptor-limit'));
  if (limit !== undefined) status.descriptorLimit = limit;
  if (info['uptime'] !== undefined) status.uptimeSeconds = count('uptime', info['uptime']);
  return status;
}

/** An answer tor must have given. */
function required(command: string, key: string, value: string | undefined): string {
  if (value === undefined) throw new TorProtocolError(`${command} ${key}: tor gave no answer`);
  return value;
}

function bad(key: string, value: string, want: string, command = 'GETINFO'): TorProtocolError {
  // Status values are never secret; a long one is cut for the message.
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new TorProtocolError(`${command} ${key}: expected ${want}, got ${JSON.stringify(shown)}`);
}

/** A non-negative integer within JavaScript's exact range. */
function count(key: string, value: string): number {
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw bad(key, value, 'a non-negative integer');
  return Number(value);
}

/** A non-negative integer, or -1 for "unknown" (undefined). */
function signedOrUnknown(key: string, value: string): number | undefined {
  if (value === '-1') return undefined;
  return count(key, value);
}

/** 1 or 0, as tor writes a flag (a GETINFO answer, or a Boolean option's GETCONF value). */
function flag(key: string, value: string, command = 'GETINFO'): boolean {
  if (value === '1') return true;
  if (value === '0') return false;
  throw bad(key, value, '0 or 1', command);
}

function oneOf<T extends string>(key: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw bad(key, value, allowed.join(' or '));
  return value as T;
}

function bootstrapOf(value: string): BootstrapProgress {
  const progress = parseBootstrapStatus(value);
  if (progress === undefined) throw bad('status/bootstrap-phase', value, 'a BOOTSTRAP status line');
  return progress;
}
