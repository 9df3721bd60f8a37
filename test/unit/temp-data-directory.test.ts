import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { identifyProcess, isProcessAlive, type ProcessIdentity } from '../../src/process/process-identity.js';
import {
  isDataDirectoryLocked,
  makeTempDataDirectory,
  OWNER_FILE,
  recordTor,
  sweepLeftoverDataDirectories,
  type OwnerRecord,
} from '../../src/process/temp-data-directory.js';

/**
 * The temporary DataDirectories of launchTor(): their owner record, and the sweep that removes
 * those whose owner died (SIGKILL) without removing them, in a directory of the test's own in
 * place of os.tmpdir(). Processes are told apart as on Linux (/proc start time and boot id).
 */
describe('temporary DataDirectories: owner record and the sweep of leftovers', () => {
  let parent: string;
  let me: ProcessIdentity;
  /** A process that has exited (and been reaped), as its record would name it. */
  let gone: ProcessIdentity;

  before(async () => {
    me = await identifyProcess(process.pid);
    const exited = spawnSync(process.execPath, ['-e', '']);
    gone = { ...me, pid: exited.pid! };
  });
  beforeEach(async () => {
    parent = await mkdtemp(path.join(os.tmpdir(), 'torcon-sweep-test-'));
  });
  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  /** A directory as launchTor leaves it: tor's files, and the given owner record (if any). */
  async function plant(name: string, record?: unknown): Promise<string> {
    const dir = path.join(parent, name);
    await mkdir(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
    await writeFile(path.join(dir, 'keys', 'secret_id_key'), 'not a real key\n', { mode: 0o600 });
    await writeFile(path.join(dir, 'lock'), '');
    if (record !== undefined) await writeFile(path.join(dir, OWNER_FILE), typeof record === 'string' ? record : JSON.stringify(record));
    return dir;
  }

  const record = (owner: ProcessIdentity, tor?: ProcessIdentity): OwnerRecord => ({ torcon: 1, owner, ...(tor ? { tor } : {}) });

  it('identifies a process by pid, start time, boot and pid namespace, and a reaped or reused pid as gone', async () => {
    assert.equal(me.pid, process.pid);
    assert.match(me.start!, /^\d+$/);
    assert.match(me.boot!, /^[0-9a-f-]{36}$/);
    assert.match(me.ns!, /^pid:\[\d+\]$/);
    assert.equal(await isProcessAlive(me), true);
    assert.equal(await isProcessAlive(gone), false, 'an exited process');
    assert.equal(await isProcessAlive({ ...me, start: String(Number(me.start) + 1) }), false, 'our pid, another process');
    assert.equal(await isProcessAlive({ ...me, boot: '00000000-0000-0000-0000-000000000000' }), false, 'an earlier boot');
    assert.equal(await isProcessAlive({ ...gone, ns: 'pid:[1]' }), true, 'another pid namespace: cannot tell, so alive');
    assert.equal(await isProcessAlive({ pid: process.pid }), true, 'a bare pid: alive while something has it');
    assert.equal(await isProcessAlive({ pid: gone.pid }), false);
  });

  it('makes torcon-XXXXXX, 0700, with a record naming this process, and adds the tor when it runs', async () => {
    const dir = await makeTempDataDirectory(parent);
    assert.match(path.basename(dir), /^torcon-[A-Za-z0-9]{6}$/);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const read = async () => JSON.parse(await readFile(path.join(dir, OWNER_FILE), 'utf8')) as OwnerRecord;
    assert.deepEqual(await read(), record(me));
    assert.equal((await stat(path.join(dir, OWNER_FILE))).mode & 0o777, 0o600);
    await recordTor(dir, process.pid); // any live process stands in for tor
    assert.deepEqual(await read(), record(me, me));
    assert.deepEqual(await readdir(dir), [OWNER_FILE], 'no temporary file left');
  });

  it('removes a directory whose owner and tor are gone, with everything in it', async () => {
    const dir = await plant('torcon-Gone01', record(gone, gone));
    const reused = await plant('torcon-Reus02', record({ ...me, start: '1' }, gone));
    assert.deepEqual((await sweepLeftoverDataDirectories(parent)).sort(), [dir, reused].sort());
    assert.deepEqual(await readdir(parent), []);
  });

  it('keeps a directory while its owner lives, or its tor does', async () => {
    await plant('torcon-Owner1', record(me, gone));
    await plant('torcon-TorUp2', record(gone, me));
    await plant('torcon-NoTor3', record(me)); // launching: tor not recorded yet
    assert.deepEqual(await sweepLeftoverDataDirectories(parent), []);
    assert.deepEqual((await readdir(parent)).sort(), ['torcon-NoTor3', 'torcon-Owner1', 'torcon-TorUp2']);
  });

  it('removes a directory whose owner died while launching, before its tor was recorded (no tor holds its lock)', async () => {
    const dir = await plant('torcon-NoTor2', record(gone));
    assert.deepEqual(await sweepLeftoverDataDirectories(parent), [dir]);
    assert.deepEqual(await readdir(parent), []);
  });

  it('keeps such a directory while a process holds its lock (the tor its owner started before dying)', async () => {
    const dir = await plant('torcon-Locked', record(gone));
    // flock(1) stands in for tor, which locks `lock` the same way while it runs.
    // Its own process group, so that the sleep that inherits the lock dies with it.
    const holder = spawn('flock', [path.join(dir, 'lock'), 'sleep', '600'], { stdio: 'ignore', detached: true });
    try {
      while (!(await isDataDirectoryLocked(dir))) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await sweepLeftoverDataDirectories(parent), []);
      assert.ok((await stat(path.join(dir, 'keys'))).isDirectory());
    } finally {
      process.kill(-holder.pid!, 'SIGKILL');
    }
  });

  it('keeps what it cannot prove is a leftover of ours: no record, a bad record, a name not ours', async () => {
    await plant('torcon-NoRec1');
    await plant('torcon-BadJs3', '{"torcon":1,"owner":');
    await plant('torcon-Shape4', { torcon: 1, owner: { pid: 'x' }, tor: gone });
    await plant('torcon-Versn5', { torcon: 2, owner: gone, tor: gone });
    await plant('torcon-keep-Abc123', record(gone, gone));
    await plant('torcon-Long123', record(gone, gone));
    await plant('other-Abc123', record(gone, gone));
    const before = (await readdir(parent)).sort();
    assert.deepEqual(await sweepLeftoverDataDirectories(parent), []);
    assert.deepEqual((await readdir(parent)).sort(), before);
  });

  it('never follows a symlink: neither one named like a directory of ours, nor a record that is one', async () => {
    const target = await plant('elsewhere', record(gone, gone));
    await symlink(target, path.join(parent, 'torcon-Link01'));
    const linkedRecord = await plant('torcon-LnkRec');
    await symlink(path.join(target, OWNER_FILE), path.join(linkedRecord, OWNER_FILE));
    assert.deepEqual(await sweepLeftoverDataDirectories(parent), []);
    assert.ok((await lstat(path.join(parent, 'torcon-Link01'))).isSymbolicLink());
    assert.deepEqual((await readdir(target)).sort(), ['keys', 'lock', OWNER_FILE].sort(), 'the target is untouched');
    assert.ok((await stat(path.join(linkedRecord, 'keys'))).isDirectory());
  });

  it('never fails: a parent that does not exist sweeps nothing', async () => {
    assert.deepEqual(await sweepLeftoverDataDirectories(path.join(parent, 'missing')), []);
  });
});
