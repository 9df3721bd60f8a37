import { chmod, chown, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EndpointArgumentError, OnionPublishError, TorControlError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import { throwIfAborted } from '../util/abort.js';
import { logger } from '../util/log.js';
import { assertTarget } from './add-onion-command.js';
import { readClientAuthDir, removeClientAuthFiles, writeClientAuthFiles } from './client-auth-dir.js';
import { DescriptorUploadWatcher } from './descriptor-upload.js';
import { encodeConfLines, parseGetConfReply } from '../config/conf-lines.js';
import { encodeHiddenServiceGroups, parseHiddenServiceOptions } from '../config/hidden-service-groups.js';
import type { HiddenServiceConfig } from '../config/config-types.js';
import { closeListener, listenForService } from './local-server.js';
import type { OnionPortMapping } from './onion-types.js';
import type { ValidOnionOptions } from './onion-options.js';
import { TorOnionService } from './onion-service.js';
import { isValidServiceId } from './service-id.js';
import { checkAnonymityMode, refuseDisabledNetwork, torProcessUid } from './tor-checks.js';

const log = logger('onion');

/**
 * Filesystem services (`HiddenServiceDir`, set with SETCONF): tor keeps the key in the directory,
 * so the address survives restarts of tor and of our process, and the service survives the
 * control connection. tor must run on this machine: we prepare the directory and read its
 * `hostname` file.
 *
 * A SETCONF that tor cannot act on (a directory it cannot create or read) makes tor 0.4.9 exit
 * ("Acting on config options left us in a broken state"), so the directory is checked first:
 * it must exist or have an existing parent, be owned by tor's user, and be private (0700).
 */

/** Serializes read-modify-write of tor's HiddenService* options within one control connection. */
export class ConfigLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * Creates (or re-opens) a filesystem service from validated options.
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for a directory tor could not use;
 *   OnionPublishError (`TOR_ONION_PUBLISH`) when tor refuses the configuration or no upload succeeds;
 *   EndpointListenError, TorAbortError, TorControlClosedError
 */
export async function createFilesystemService(
  control: TorControl,
  o: ValidOnionOptions,
  lock: ConfigLock,
): Promise<TorOnionService> {
  const dir = o.hiddenServiceDir!;
  const { signal } = o;
  throwIfAborted(signal, 'creating an onion service');
  if (o.awaitUpload) await refuseDisabledNetwork(control, signal);
  await checkAnonymityMode(control, o.singleHop, signal);
  const owner = await prepareDirectory(dir, await torProcessUid(control, signal));
  // tor's own authorized_clients: a client whose file is there keeps its key (a new one would lock
  // it out at every restart); the names without one get a key, written before tor loads the service.
  // Without clientAuth names the directory is tor's business alone, as before: not read at all.
  const authDir = path.join(dir, 'authorized_clients');
  const { clients, created } = o.clientAuth.length > 0 ? await readClientAuthDir(authDir, o.clientAuth) : { clients: [], created: [] };

  let opened = false;
  let configured = false;
  let watcher: DescriptorUploadWatcher | undefined;
  try {
    await writeClientAuthFiles(authDir, created, owner);
    const local = await listenForService(o);
    opened = local.opened;
    const ports = local.ports;
    for (const p of ports) assertTarget(p.target!);
    if (o.awaitUpload) watcher = await DescriptorUploadWatcher.start(control);
    throwIfAborted(signal, 'creating an onion service');

    o.onProgress({ phase: 'adding', message: `SETCONF HiddenServiceDir ${dir}`, percent: 20 });
    await lock.run(async () => {
      const groups = await hiddenServiceGroups(control);
      if (groups.some((g) => sameDir(g.dir, dir))) {
        throw new OnionPublishError(`tor already has an onion service in ${dir}`);
      }
      try {
        await control.command(setHiddenServicesCommand([...groups, serviceGroup(dir, ports, o)]));
      } catch (err) {
        if (err instanceof TorControlError) {
          throw new OnionPublishError(`tor refused the onion service in ${dir} (${err.message})`, { cause: err });
        }
        throw err;
      }
      configured = true;
    });
    const serviceId = await readHostname(dir);
    log('HiddenServiceDir %s serves %s.onion', dir, serviceId);
    o.onProgress({ phase: 'added', message: `tor serves ${serviceId}.onion from ${dir}`, percent: 40 });
    if (watcher) await watcher.wait(serviceId, { timeoutMs: o.uploadTimeoutMs, signal, onProgress: o.onProgress });

    const server = o.server;
    return new TorOnionService(
      { serviceId, ports, clientAuth: clients, kind: 'filesystem', detached: o.detach, hiddenServiceDir: dir },
      {
        remove: () => removeFilesystemService(control, dir, lock),
        closeListener: () => {
          if (opened && server) closeListener(server);
        },
      },
    );
  } catch (err) {
    if (configured) await removeFilesystemService(control, dir, lock).catch(() => undefined);
    // Once tor no longer has the service: the new clients' keys went to no one.
    await removeClientAuthFiles(authDir, created);
    if (opened && o.server) closeListener(o.server);
    throw err;
  } finally {
    await watcher?.stop();
  }
}

/**
 * Removes the group of `dir` from tor's configuration, re-sending every other group unchanged.
 * The directory and its keys stay on disk (so the address can be used again).
 */
export function removeFilesystemService(control: TorControl, dir: string, lock: ConfigLock): Promise<void> {
  return lock.run(async () => {
    const groups = await hiddenServiceGroups(control);
    const rest = groups.filter((g) => !sameDir(g.dir, dir));
    if (rest.length === groups.length) return;
    await control.command(setHiddenServicesCommand(rest));
    log('HiddenServiceDir %s removed', dir);
  });
}

/**
 * tor's filesystem services as it reports them (`GETCONF HiddenServiceOptions`), every option of
 * each kept, known to us or not: SETCONF replaces the whole set, so adding or removing one service
 * re-sends all the others.
 */
async function hiddenServiceGroups(control: TorControl): Promise<HiddenServiceConfig[]> {
  return parseHiddenServiceOptions(parseGetConfReply(await control.command('GETCONF HiddenServiceOptions')));
}

/** The SETCONF that makes `groups` tor's whole set of filesystem services (none: a bare HiddenServiceDir). */
function setHiddenServicesCommand(groups: readonly HiddenServiceConfig[]): string {
  return `SETCONF ${encodeConfLines(encodeHiddenServiceGroups(groups))}`;
}

/** Our service's group. */
function serviceGroup(dir: string, ports: readonly OnionPortMapping[], o: ValidOnionOptions): HiddenServiceConfig {
  const options: Array<[string, string]> = [];
  if (o.maxStreams !== undefined) options.push(['HiddenServiceMaxStreams', String(o.maxStreams)]);
  if (o.maxStreamsCloseCircuit) options.push(['HiddenServiceMaxStreamsCloseCircuit', '1']);
  if (o.pow) options.push(['HiddenServicePoWDefensesEnabled', '1']);
  return { dir, ports: ports.map((p) => `${p.virtualPort} ${p.target}`), options };
}

function sameDir(a: string | undefined, b: string): boolean {
  return a !== undefined && path.resolve(a).replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** Who should own what we create in the directory: tor's user, when that is not us. */
type Owner = number | undefined;

/**
 * Checks (or creates) the service directory so that tor can use it.
 * @returns the uid to give our files to, when tor runs as another user and we are root
 */
async function prepareDirectory(dir: string, torUid: number | undefined): Promise<Owner> {
  const ourUid = process.getuid?.();
  const chownTo = torUid !== undefined && ourUid !== undefined && torUid !== ourUid ? torUid : undefined;
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new EndpointArgumentError(`onion: cannot use hiddenServiceDir ${dir}: ${err.message}`);
  });
  if (st) {
    if (!st.isDirectory()) throw new EndpointArgumentError(`onion: hiddenServiceDir ${dir} is not a directory`);
    if (process.platform === 'win32') return undefined;
    if (torUid !== undefined && st.uid !== torUid) {
      throw new EndpointArgumentError(
        `onion: hiddenServiceDir ${dir} is owned by uid ${st.uid} but tor runs as uid ${torUid}; tor refuses such a directory`,
      );
    }
    if ((st.mode & 0o077) !== 0) {
      throw new EndpointArgumentError(
        `onion: hiddenServiceDir ${dir} has mode ${(st.mode & 0o777).toString(8)}; tor requires 0700 (chmod 700 it)`,
      );
    }
    await checkServiceEntries(dir);
    return chownTo;
  }
  const parent = path.dirname(dir);
  const parentStat = await stat(parent).catch(() => undefined);
  if (!parentStat?.isDirectory()) {
    throw new EndpointArgumentError(`onion: the parent directory of hiddenServiceDir ${dir} does not exist`);
  }
  if (chownTo !== undefined && ourUid !== 0) {
    throw new EndpointArgumentError(
      `onion: tor runs as uid ${torUid}, we as uid ${ourUid}: create hiddenServiceDir ${dir} owned by tor's user (mode 0700) first`,
    );
  }
  await mkdir(dir, { mode: 0o700 });
  await chmod(dir, 0o700);
  if (chownTo !== undefined) await chown(dir, chownTo, -1);
  return chownTo;
}

/** What tor reads and writes in a service directory, and the kind each must be. */
const SERVICE_ENTRIES: ReadonlyArray<[name: string, kind: 'file' | 'directory']> = [
  ['hostname', 'file'],
  ['hs_ed25519_secret_key', 'file'],
  ['hs_ed25519_public_key', 'file'],
  ['authorized_clients', 'directory'],
];

/**
 * Refuses a directory holding one of tor's entries as the wrong kind (a directory named
 * `hostname`, a file named `authorized_clients`, a FIFO...): tor 0.4.9 exits on the SETCONF that
 * loads such a service, taking every other service and circuit of that tor with it. A missing
 * entry (or a symlink to nothing) is tor's to create.
 */
async function checkServiceEntries(dir: string): Promise<void> {
  for (const [name, kind] of SERVICE_ENTRIES) {
    const where = path.join(dir, name);
    let st;
    try {
      st = await stat(where);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new EndpointArgumentError(`onion: cannot use hiddenServiceDir ${dir}: ${(err as Error).message}`, { cause: err });
    }
    if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
      throw new EndpointArgumentError(
        `onion: ${where} in hiddenServiceDir is not a ${kind === 'file' ? 'regular file' : 'directory'}; tor would exit on it (move it away or use another directory)`,
      );
    }
  }
}

/** tor writes `hostname` while it loads the service; allow it a moment. */
async function readHostname(dir: string): Promise<string> {
  const file = path.join(dir, 'hostname');
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const id = (await readFile(file, 'utf8')).trim().toLowerCase().replace(/\.onion$/, '');
      if (isValidServiceId(id)) return id;
      lastError = new Error('not a v3 onion address');
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new OnionPublishError(
    `cannot read the onion address from ${file}: ${(lastError as Error)?.message ?? String(lastError)}`,
    { cause: lastError },
  );
}
