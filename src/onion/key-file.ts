import { open, unlink } from 'node:fs/promises';
import { EndpointArgumentError } from '../errors.js';
import { NotASmallFileError, readSmallFile } from '../util/small-file.js';

/**
 * Onion service private keys as ADD_ONION takes and returns them, `ED25519-V3:<base64>` where the
 * blob is the 64-byte expanded ed25519 key (secret scalar | PRF secret, control-spec 3.27), and the
 * file that keeps one across restarts so that the service keeps its address. No function here ever
 * puts a key into an error message.
 */

const BLOB = /^[A-Za-z0-9+/]{86}(?:==)?$/;

/**
 * Validates and normalizes an ADD_ONION v3 key. The `ED25519-V3:` prefix may be left out.
 * @param field - what the value is (`privateKey`, `key file /x`), for the message
 * @returns `ED25519-V3:<base64 of 64 bytes>` with `==` padding
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`): an RSA1024 (v2) key, another key type, or
 *   a blob that is not canonical base64 of 64 bytes
 */
export function parseOnionPrivateKey(value: string, field = 'privateKey'): string {
  if (typeof value !== 'string') throw new EndpointArgumentError(`onion: ${field} must be a string`);
  const text = value.trim();
  const colon = text.indexOf(':');
  const type = colon >= 0 ? text.slice(0, colon).toUpperCase() : 'ED25519-V3';
  let blob = colon >= 0 ? text.slice(colon + 1) : text;
  if (type === 'RSA1024') {
    throw new EndpointArgumentError(`onion: ${field} is an RSA1024 (version 2) key; tor no longer supports v2 onion services`);
  }
  if (type !== 'ED25519-V3') throw new EndpointArgumentError(`onion: ${field} must be an ED25519-V3 key ("ED25519-V3:<base64>")`);
  if (blob.length === 86) blob += '==';
  if (!BLOB.test(blob) || Buffer.from(blob, 'base64').toString('base64') !== blob) {
    throw new EndpointArgumentError(
      `onion: ${field} must be "ED25519-V3:" followed by the base64 of a 64-byte expanded ed25519 key`,
    );
  }
  return `ED25519-V3:${blob}`;
}

/** Far more than a key file holds (one line of about 100 bytes). */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Reads the key kept in `path`, or `undefined` when the file does not exist. A FIFO, a device or a
 * huge file is refused without reading it (see readSmallFile).
 * @throws EndpointArgumentError (`TOR_ENDPOINT_ARGUMENT`) when the file is not a key, not a regular
 *   file (a directory, a FIFO, a device), larger than a key file can be, or (on POSIX) readable by
 *   group or others: a leaked key lets anyone impersonate the service; and when it cannot be read
 *   (EACCES...: Node's error is the `cause`)
 */
export async function readKeyFile(path: string): Promise<string | undefined> {
  let file: { bytes: Buffer; mode: number };
  try {
    file = await readSmallFile(path, MAX_KEY_FILE_BYTES);
  } catch (err) {
    if (err instanceof NotASmallFileError) throw new EndpointArgumentError(`onion: key file ${path} ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new EndpointArgumentError(`onion: cannot read key file ${path} (${code ?? String(err)})`, { cause: err });
  }
  if (process.platform !== 'win32' && (file.mode & 0o077) !== 0) {
    throw new EndpointArgumentError(
      `onion: key file ${path} is readable by group or others (mode ${(file.mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
  return parseOnionPrivateKey(file.bytes.toString('utf8'), `key file ${path}`);
}

/**
 * Creates `path` holding `key` (one line), mode 0600. Fails if the file exists (O_EXCL): two
 * processes starting at once must not overwrite each other's key.
 * @throws Node's error (EEXIST, ENOENT for a missing directory, EACCES)
 */
export async function createKeyFile(path: string, key: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    // The umask may have removed bits we want, never added any; make the mode exact.
    await handle.chmod(0o600);
    await handle.writeFile(`${key}\n`, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    // A half-written key file would make every later start fail: remove what we created.
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await handle.close();
}
