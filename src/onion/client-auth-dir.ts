import { chown, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EndpointArgumentError } from '../errors.js';
import { NotASmallFileError, readSmallFile } from '../util/small-file.js';
import { base32Decode } from './base32.js';
import { CLIENT_NAME, generateClientAuthKey } from './client-auth.js';
import type { OnionClientAuthKey } from './onion-types.js';

/** Far more than a client authorization file holds (one line of about 70 bytes). */
const MAX_CLIENT_FILE_BYTES = 64 * 1024;

/**
 * Client authorization that lasts across restarts: a directory in the form of tor's own
 * `authorized_clients` (rend-spec-v3 appendix G; tor's `HiddenServiceDir/authorized_clients`), one
 * file `NAME.auth` per client holding `descriptor:x25519:<base32 public key>`.
 *
 * Only public keys are stored: a client's private key is handed out once, when its file is made,
 * and after that only the client has it. A service made again from the same directory (with
 * `privateKeyFile=`, the same address) then accepts the same clients, where keys generated anew
 * at every start would lock every client out after each restart.
 */

/** The clients of a directory: those already there, and the new ones still to be written. */
export interface ClientAuthDirClients {
  /** Every client, in the order: the names asked for, then the other files of the directory by name. */
  clients: OnionClientAuthKey[];
  /** The clients that had no file: their keys were generated now; {@link writeClientAuthFiles} stores them. */
  created: OnionClientAuthKey[];
}

/** What a `NAME.auth` file holds for `publicKey`, as tor writes and reads it. */
function fileText(publicKey: string): string {
  return `descriptor:x25519:${publicKey}\n`;
}

/** The base32 public key of a `NAME.auth` file's text, or undefined when it is not one. */
function publicKeyOf(text: string): string | undefined {
  const m = /^descriptor:x25519:([A-Za-z2-7]{52})\s*$/.exec(text);
  if (m === null) return undefined;
  const key = m[1]!.toUpperCase();
  return base32Decode(key)?.length === 32 ? key : undefined;
}

/**
 * Refuses a directory or client file that group or others may write (POSIX): whoever can add or
 * change a `NAME.auth` file there can let a client of their own in.
 */
async function refuseWritableByOthers(where: string, what: string, fix: string): Promise<void> {
  if (process.platform === 'win32') return;
  const { mode } = await stat(where);
  if ((mode & 0o022) !== 0) {
    throw new EndpointArgumentError(
      `onion: ${what} ${where} is writable by group or others (mode ${(mode & 0o777).toString(8)}): anyone who can write there can authorize a client of their own; run ${fix} on it`,
    );
  }
}

/**
 * Reads the clients of `dir` and generates keys for the names in `names` that have no file yet
 * (nothing is written: see {@link writeClientAuthFiles}). A missing directory has no clients.
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) for a directory that cannot be read, a
 *   directory or `NAME.auth` file that group or others may write (POSIX), or a `NAME.auth` file
 *   that is not a client's public key (the file is named, its content never shown)
 */
export async function readClientAuthDir(dir: string, names: readonly string[]): Promise<ClientAuthDirClients> {
  let files: string[];
  try {
    files = await readdir(dir);
    await refuseWritableByOthers(dir, 'clientAuthDir', 'chmod 700');
  } catch (err) {
    if (err instanceof EndpointArgumentError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new EndpointArgumentError(`onion: cannot read clientAuthDir ${dir}: ${(err as Error).message}`, { cause: err });
    }
    files = [];
  }
  const kept = new Map<string, OnionClientAuthKey>();
  for (const file of files.sort()) {
    // tor reads only `*.auth` files whose name is a client name; so does this.
    if (!file.endsWith('.auth')) continue;
    const name = file.slice(0, -'.auth'.length);
    if (!CLIENT_NAME.test(name)) continue;
    const where = path.join(dir, file);
    let text: string;
    try {
      // A FIFO named like a client file would hold the service's creation for ever.
      text = (await readSmallFile(where, MAX_CLIENT_FILE_BYTES)).bytes.toString('utf8');
    } catch (err) {
      if (err instanceof NotASmallFileError) throw new EndpointArgumentError(`onion: ${where} ${err.message}`);
      throw new EndpointArgumentError(`onion: cannot read ${where}: ${(err as Error).message}`, { cause: err });
    }
    await refuseWritableByOthers(where, 'client file', 'chmod 600');
    const publicKey = publicKeyOf(text);
    if (publicKey === undefined) {
      throw new EndpointArgumentError(`onion: ${where} is not a client authorization file (one line: descriptor:x25519:<52 base32 characters>)`);
    }
    // No private key: that one is the client's own, unknown here.
    kept.set(name, { name, publicKey });
  }
  const clients: OnionClientAuthKey[] = [];
  const created: OnionClientAuthKey[] = [];
  for (const name of names) {
    const known = kept.get(name);
    if (known !== undefined) {
      clients.push(known);
      kept.delete(name);
    } else {
      const pair = generateClientAuthKey(name);
      clients.push(pair);
      created.push(pair);
    }
  }
  clients.push(...kept.values());
  return { clients, created };
}

/**
 * Writes a `NAME.auth` file (0600) for each client in `created`, making `dir` (0700) if needed; a
 * file that appeared meanwhile is not overwritten (its client keeps access).
 * @param owner - a uid to give the files and the directory (tor's, for a hiddenServiceDir)
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) when the directory or a file cannot be made
 */
export async function writeClientAuthFiles(dir: string, created: readonly OnionClientAuthKey[], owner?: number): Promise<void> {
  if (created.length === 0) return;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (owner !== undefined) await chown(dir, owner, -1);
    for (const c of created) {
      const file = path.join(dir, `${c.name}.auth`);
      // 'wx': never replace a client's file, which would lock that client out.
      await writeFile(file, fileText(c.publicKey), { mode: 0o600, flag: 'wx' });
      if (owner !== undefined) await chown(file, owner, -1);
    }
  } catch (err) {
    throw new EndpointArgumentError(`onion: cannot write client authorization files in ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Undoes {@link writeClientAuthFiles} for a service that was not created: each private key in
 * `created` went nowhere, and a file left behind would make the next start take that client as
 * kept, with no private key to hand out (locked out for good). A file that holds another key now
 * is someone else's and stays. Never throws: it runs on the way out of an error.
 */
export async function removeClientAuthFiles(dir: string, created: readonly OnionClientAuthKey[]): Promise<void> {
  for (const c of created) {
    const file = path.join(dir, `${c.name}.auth`);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === fileText(c.publicKey)) await unlink(file).catch(() => undefined);
  }
}
