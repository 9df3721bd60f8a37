import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** What {@link readSmallFile} found wrong with a path that opened: why it holds no small file. */
export class NotASmallFileError extends Error {
  /**
   * @param message - the reason, to follow the path in the caller's message (`is not a regular file`)
   * @param size - the file's size when it was too large
   */
  constructor(
    message: string,
    readonly size?: number,
  ) {
    super(message);
    this.name = 'NotASmallFileError';
  }
}

/**
 * Reads a small regular file (a key, a client authorization line, tor's auth cookie), with its mode.
 *
 * It opens without blocking and checks the open handle before reading: a FIFO at the path would
 * otherwise hold the caller until someone writes to it, and a device (`/dev/zero`) or a huge file
 * would be read whole. Checking the handle, not the path, leaves no gap for the file to be swapped
 * between the check and the read.
 * @param maxBytes - larger files are refused unread
 * @throws NotASmallFileError for a directory, FIFO, socket or device, or a file over `maxBytes`
 * @throws Node's error when the path cannot be opened or read (ENOENT, EACCES...)
 */
export async function readSmallFile(path: string, maxBytes: number): Promise<{ bytes: Buffer; mode: number }> {
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new NotASmallFileError('is not a regular file (a directory, FIFO or device)');
    if (info.size > maxBytes) throw new NotASmallFileError(`is ${info.size} bytes, more than such a file holds`, info.size);
    return { bytes: await handle.readFile(), mode: info.mode };
  } finally {
    await handle.close().catch(() => undefined);
  }
}
