import { constants as fsConstants } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { logger } from '../util/log.js';
import { identifyProcess, isProcessAlive, isProcessIdentity, type ProcessIdentity } from './process-identity.js';

const log = logger('launch');

/**
 * The temporary DataDirectories of `launchTor()`, and the sweep of those whose owner died without
 * removing its own.
 *
 * `launchTor()` without a `dataDirectory` makes `<tmpdir>/torcon-XXXXXX` and removes it when it
 * stops tor. A process killed with SIGKILL never does (its tor exits by itself, through
 * `__OwningControllerProcess`), and the directories, with tor's keys and state, would pile up. So
 * each directory carries an owner record, `torcon-owner.json`: the launching process and, once it
 * runs, tor, each as a {@link ProcessIdentity} (a pid and what tells a reused pid apart). Every
 * launch then removes the directories of `<tmpdir>` that are all of:
 * - named as ours (`torcon-` and mkdtemp's six characters) and a real directory (never a symlink,
 *   never followed), owned by our user;
 * - holding an owner record that is a regular file of ours, and valid;
 * - left by an owner that is gone, with a tor that is gone (or none recorded: the owner died
 *   while launching it);
 * - not locked by a tor: tor holds a lock on `lock` in its DataDirectory while it runs, which
 *   Linux lists in /proc/locks (elsewhere the recorded tor's pid is all there is, and a directory
 *   without one is kept).
 * A directory without the record (made by an older torcon, or by anyone else) is never touched;
 * where a process cannot be recognised for sure (no /proc), a pid that is alive keeps the
 * directory, whoever has it now. The sweep never fails a launch: what goes wrong is logged
 * (`DEBUG=torcon:launch`).
 */

/** The owner record in each temporary DataDirectory. */
export const OWNER_FILE = 'torcon-owner.json';

/** What the owner record holds. */
export interface OwnerRecord {
  torcon: 1;
  owner: ProcessIdentity;
  tor?: ProcessIdentity;
}

const PREFIX = 'torcon-';
/** mkdtemp's names: the prefix and six letters or digits. */
const OURS = /^torcon-[A-Za-z0-9]{6}$/;
/** A record is a few hundred bytes; anything much larger is not ours. */
const MAX_RECORD_BYTES = 4096;

let ownIdentity: Promise<ProcessIdentity> | undefined;

/**
 * Makes a fresh 0700 `<parent>/torcon-XXXXXX` with an owner record naming this process.
 * @throws Node's error when it cannot (a half-made directory is removed again)
 */
export async function makeTempDataDirectory(parent: string = os.tmpdir()): Promise<string> {
  const dir = await mkdtemp(path.join(parent, PREFIX));
  try {
    await writeOwnerRecord(dir, { torcon: 1, owner: await (ownIdentity ??= identifyProcess(process.pid)) });
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Adds the tor started on `dir` to its owner record, so that the directory is kept while that tor
 * runs. Never throws: without it the directory is only kept longer (see above).
 */
export async function recordTor(dir: string, torPid: number): Promise<void> {
  try {
    const [owner, tor] = await Promise.all([(ownIdentity ??= identifyProcess(process.pid)), identifyProcess(torPid)]);
    await writeOwnerRecord(dir, { torcon: 1, owner, tor });
  } catch (err) {
    log('cannot record tor %d in %s: %s', torPid, dir, describe(err));
  }
}

/**
 * Removes the leftover temporary DataDirectories in `parent` (see above).
 * @returns the directories removed; never rejects
 */
export async function sweepLeftoverDataDirectories(parent: string = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  try {
    // Windows has no uid to tell our directories from another user's: nothing is swept there.
    if (process.getuid === undefined) return removed;
    const uid = process.getuid();
    const names = (await readdir(parent)).filter((name) => OURS.test(name));
    let locks: Promise<Set<string> | undefined> | undefined;
    for (const name of names) {
      const dir = path.join(parent, name);
      try {
        if (await isLeftover(dir, uid, () => (locks ??= heldLocks()))) {
          await rm(dir, { recursive: true, force: true });
          removed.push(dir);
          log('removed %s, left by a process that is gone', dir);
        }
      } catch (err) {
        log('cannot sweep %s: %s', dir, describe(err));
      }
    }
  } catch (err) {
    log('cannot sweep %s: %s', parent, describe(err));
  }
  return removed;
}

/**
 * Whether a process (a tor) holds the lock on `dir/lock` now; false where that cannot be known (no
 * /proc/locks) or there is no lock file.
 */
export async function isDataDirectoryLocked(dir: string): Promise<boolean> {
  const held = await heldLocks();
  return held !== undefined && (await lockIsHeld(dir, held));
}

/** Whether `dir/lock` exists and is among the `held` locks. */
async function lockIsHeld(dir: string, held: ReadonlySet<string>): Promise<boolean> {
  const lock = await lstat(path.join(dir, 'lock'), { bigint: true }).catch(() => undefined);
  return lock !== undefined && held.has(fileKey(lock.dev, lock.ino));
}

/** Whether `dir` is one of ours whose owner and tor are gone (see above). */
async function isLeftover(dir: string, uid: number, locks: () => Promise<Set<string> | undefined>): Promise<boolean> {
  const info = await lstat(dir);
  if (!info.isDirectory() || info.uid !== uid) return false;
  const record = await readOwnerRecord(dir, uid);
  if (record === undefined) return false;
  if ((await isProcessAlive(record.owner)) || (record.tor !== undefined && (await isProcessAlive(record.tor)))) return false;
  const held = await locks();
  // No tor recorded: the owner died while launching (a Ctrl-C), before or just after it started
  // tor. Only the lock can show a tor running there then; where it cannot be read, keep it. (A tor
  // of a dead owner exits by itself, and one that finds its torrc gone does not start.)
  if (held === undefined) return record.tor !== undefined;
  return !(await lockIsHeld(dir, held));
}

/** The owner record of `dir`, when it is a regular file of `uid` holding a valid one. */
async function readOwnerRecord(dir: string, uid: number): Promise<OwnerRecord | undefined> {
  let handle;
  try {
    // O_NOFOLLOW: a symlink in its place is not read (and not ours).
    handle = await open(path.join(dir, OWNER_FILE), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.uid !== uid || info.size > MAX_RECORD_BYTES) return undefined;
    const value = JSON.parse(await handle.readFile('utf8')) as unknown;
    return isOwnerRecord(value) ? value : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

function isOwnerRecord(value: unknown): value is OwnerRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v['torcon'] === 1 && isProcessIdentity(v['owner']) && (v['tor'] === undefined || isProcessIdentity(v['tor']));
}

/** Written whole or not at all: a record cut short by a SIGKILL would keep its directory for ever. */
async function writeOwnerRecord(dir: string, record: OwnerRecord): Promise<void> {
  const file = path.join(dir, OWNER_FILE);
  await writeFile(`${file}.new`, JSON.stringify(record) + '\n', { mode: 0o600 });
  await rename(`${file}.new`, file);
}

/**
 * The files locked now, as `major:minor:inode` (Linux /proc/locks: flock and POSIX locks alike,
 * which is what tor takes on `lock`); undefined where there is no /proc/locks.
 */
async function heldLocks(): Promise<Set<string> | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  const held = new Set<string>();
  for (const line of text.split('\n')) {
    // `1: FLOCK  ADVISORY  WRITE 1234 fe:00:2490873 0 EOF` (a waiter's line has `->` after `1:`)
    const m = /\s([0-9a-f]+):([0-9a-f]+):(\d+)\s/i.exec(line);
    if (m) held.add(`${parseInt(m[1]!, 16)}:${parseInt(m[2]!, 16)}:${m[3]}`);
  }
  return held;
}

/** `major:minor:inode` of a file, as /proc/locks names it (glibc's encoding of a 64-bit st_dev). */
function fileKey(dev: bigint, ino: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}:${ino}`;
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
