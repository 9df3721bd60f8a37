import { readFile, readlink } from 'node:fs/promises';

/**
 * A process as it can be recognised later, once its pid may belong to another process: on Linux
 * the pid with the process's start time (clock ticks after boot, field 22 of /proc/PID/stat), the
 * boot's id (a start time means nothing after a reboot) and the pid namespace the pid was read in
 * (a container sharing /tmp numbers its processes otherwise); elsewhere the pid alone.
 */
export interface ProcessIdentity {
  pid: number;
  /** /proc/PID/stat's starttime, as written there; absent where there is no /proc */
  start?: string;
  /** /proc/sys/kernel/random/boot_id; absent where there is no /proc */
  boot?: string;
  /** the pid namespace, as /proc/self/ns/pid names it (`pid:[4026531836]`); absent where there is no /proc */
  ns?: string;
}

const BOOT_ID = '/proc/sys/kernel/random/boot_id';
const PID_NAMESPACE = '/proc/self/ns/pid';

/** The identity of the live process `pid`, ours or our child's (the pid alone where /proc cannot tell more). */
export async function identifyProcess(pid: number): Promise<ProcessIdentity> {
  const [stat, boot, ns] = await Promise.all([readStat(pid), readBootId(), readPidNamespace()]);
  return stat && boot && ns ? { pid, start: stat.start, boot, ns } : { pid };
}

/**
 * Whether the process `id` names still runs. Sure only with a start time and /proc to compare it
 * with: then a pid now used by another process, a zombie, or a process of an earlier boot is gone.
 * A pid of another pid namespace cannot be looked up here: alive. Otherwise a process that answers
 * signal 0 counts as alive, whoever it is: a reused pid keeps what it guards, never the other way
 * round.
 */
export async function isProcessAlive(id: ProcessIdentity): Promise<boolean> {
  if (id.start !== undefined && id.boot !== undefined && id.ns !== undefined) {
    const [boot, ns] = await Promise.all([readBootId(), readPidNamespace()]);
    if (boot !== undefined && boot !== id.boot) return false;
    if (ns !== id.ns) return true;
    if (boot !== undefined) {
      const stat = await readStat(id.pid);
      return stat !== undefined && stat.state !== 'Z' && stat.start === id.start;
    }
  }
  try {
    process.kill(id.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, another user's
  }
}

/** Whether a value read back from a file is a ProcessIdentity. */
export function isProcessIdentity(value: unknown): value is ProcessIdentity {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(v['pid']) &&
    (v['pid'] as number) > 0 &&
    (v['start'] === undefined || (typeof v['start'] === 'string' && /^\d+$/.test(v['start']))) &&
    (v['boot'] === undefined || typeof v['boot'] === 'string') &&
    (v['ns'] === undefined || typeof v['ns'] === 'string')
  );
}

/** State letter and start time from /proc/PID/stat; undefined when there is no such file. */
async function readStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // After the command name, which may hold spaces and parentheses: field 3 (state) on.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const start = fields[22 - 3];
    return start !== undefined && /^\d+$/.test(start) ? { state: fields[0]!, start } : undefined;
  } catch {
    return undefined;
  }
}

async function readBootId(): Promise<string | undefined> {
  try {
    return (await readFile(BOOT_ID, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function readPidNamespace(): Promise<string | undefined> {
  try {
    return await readlink(PID_NAMESPACE);
  } catch {
    return undefined;
  }
}
