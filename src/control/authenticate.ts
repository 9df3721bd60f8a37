import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TorAuthError, TorControlError } from '../errors.js';
import { logger } from '../util/log.js';
import { NotASmallFileError, readSmallFile } from '../util/small-file.js';
import { parseKeywordArgs } from './keyword-args.js';
import type { ProtocolInfo } from './protocol-info.js';
import type { CommandOptions, TorControl } from './tor-control.js';
import { quoteValue } from './wire-values.js';

const log = logger('auth');

// Keys of the two HMACs of SAFECOOKIE (control-spec 3.24): fixed strings, not secrets.
const SERVER_TO_CONTROLLER = 'Tor safe cookie authentication server-to-controller hash';
const CONTROLLER_TO_SERVER = 'Tor safe cookie authentication controller-to-server hash';

/** How to authenticate; everything optional: the best method tor offers is chosen. */
export interface AuthOptions extends CommandOptions {
  /** Password for HASHEDPASSWORD. Never logged, never in an error message. */
  password?: string;
  /** Overrides the cookie path tor announces (e.g. when tor runs in a container). */
  cookieFile?: string;
  /** Protocol info already fetched, to save a round trip. */
  protocolInfo?: ProtocolInfo;
}

/** The order torcon considers methods in: the ones that prove most and leak least come first (COOKIE only to say why it is refused). */
export const AUTH_PREFERENCE = ['SAFECOOKIE', 'COOKIE', 'HASHEDPASSWORD', 'NULL'] as const;

/**
 * Authenticates a fresh control connection: PROTOCOLINFO, then SAFECOOKIE (checking that the
 * server knows the cookie before we prove that we do), HASHEDPASSWORD or NULL, in that order of
 * preference among the methods tor offers and we can use. Plain COOKIE is never used (see below),
 * and the cookie file a server names is read only if it is a regular file of 32 bytes.
 * @returns the method used and the protocol info
 * @throws TorAuthError (`TOR_AUTH_FAILED`) when no method works; the message names the methods
 *   tried and why, never a secret
 */
export async function authenticate(
  control: TorControl,
  opts: AuthOptions = {},
): Promise<{ method: string; protocolInfo: ProtocolInfo }> {
  const info = opts.protocolInfo ?? (await control.protocolInfo(opts));
  const offered = new Set(info.authMethods);
  const failures: string[] = [];
  for (const method of AUTH_PREFERENCE) {
    if (!offered.has(method)) continue;
    if (method === 'COOKIE') {
      // Plain COOKIE is never sent. Every tor since 0.2.3.13 offers SAFECOOKIE beside it, which is
      // tried first and proves more; a server offering COOKIE alone would get the cookie itself
      // (or any 32-byte file it names): an impostor on tor's port collecting it for the real tor.
      if (!offered.has('SAFECOOKIE')) {
        failures.push('COOKIE: refused without SAFECOOKIE beside it (every tor since 0.2.3.13 offers both; a server offering COOKIE alone may be collecting cookies)');
      }
      continue;
    }
    try {
      if (method === 'SAFECOOKIE') {
        const path = opts.cookieFile ?? info.cookieFile;
        if (!path) {
          failures.push(`${method}: tor announced no cookie file`);
          continue;
        }
        const cookie = await readCookie(path);
        if (typeof cookie === 'string') {
          failures.push(`${method}: ${cookie}`);
          continue;
        }
        await safeCookie(control, cookie, opts);
      } else if (method === 'HASHEDPASSWORD') {
        if (opts.password === undefined) {
          failures.push('HASHEDPASSWORD: no password given (the `password` option; connectTor and the CLI also read $TOR_CONTROL_PASSWORD)');
          continue;
        }
        await control.command(`AUTHENTICATE ${quoteValue(opts.password, 'password')}`, opts);
      } else {
        await control.command('AUTHENTICATE', opts);
      }
      log('authenticated with %s', method);
      return { method, protocolInfo: info };
    } catch (err) {
      if (err instanceof TorAuthError) throw err;
      if (!(err instanceof TorControlError)) throw err;
      // tor closes the connection after a failed AUTHENTICATE, so there is no second try.
      throw new TorAuthError(`${method} authentication refused by tor (${err.status})`, { cause: err });
    }
  }
  const what = info.authMethods.length ? info.authMethods.join(', ') : 'none';
  throw new TorAuthError(
    `no usable authentication method (tor offers ${what})${failures.length ? ': ' + failures.join('; ') : ''}`,
  );
}

/**
 * Why a system tor's control socket or cookie file refuses a user (EACCES), and what to do: the
 * end of a sentence about it, for the cookie file here and the control socket in connectTor.
 */
export const FOR_TOR_GROUP_ONLY =
  "for tor's user and group only (on Debian and Ubuntu, add your user to the debian-tor group with `sudo adduser $USER debian-tor` and log in again)";

/**
 * The 32 bytes of a cookie file, or why it cannot be one. The path comes from the server, so it is
 * checked before anything is read: a regular file of exactly 32 bytes (the server could name
 * /dev/zero, a FIFO that never ends, or a huge file).
 */
async function readCookie(path: string): Promise<Buffer | string> {
  try {
    const { bytes } = await readSmallFile(path, 32);
    return bytes.length === 32 ? bytes : `cookie file ${path} is ${bytes.length} bytes, not 32`;
  } catch (err) {
    if (err instanceof NotASmallFileError) {
      return err.size === undefined ? `cookie file ${path} ${err.message}` : `cookie file ${path} is ${err.size} bytes, not 32`;
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const hint = code === 'EACCES' || code === 'EPERM' ? `: it is ${FOR_TOR_GROUP_ONLY}` : '';
    return `cannot read the cookie file ${path} (${code})${hint}`;
  }
}

async function safeCookie(control: TorControl, cookie: Buffer, opts: CommandOptions): Promise<void> {
  const clientNonce = randomBytes(32);
  const reply = await control.command(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`, opts);
  const text = reply.lines[0]!.text;
  const { keywords } = parseKeywordArgs(text.replace(/^AUTHCHALLENGE\s*/, ''));
  const serverHashHex = keywords['SERVERHASH'];
  const serverNonceHex = keywords['SERVERNONCE'];
  if (!serverHashHex || !serverNonceHex || !/^[0-9a-fA-F]{64}$/.test(serverHashHex) || !/^[0-9a-fA-F]+$/.test(serverNonceHex)) {
    throw new TorAuthError('SAFECOOKIE: malformed AUTHCHALLENGE reply');
  }
  const serverNonce = Buffer.from(serverNonceHex, 'hex');
  const message = Buffer.concat([cookie, clientNonce, serverNonce]);
  const expected = createHmac('sha256', SERVER_TO_CONTROLLER).update(message).digest();
  const got = Buffer.from(serverHashHex, 'hex');
  // The server proves it knows the cookie before we reveal anything derived from it: a process
  // that merely listens on tor's port cannot harvest a usable hash from us.
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new TorAuthError('SAFECOOKIE: the server hash is wrong; this is not the tor that wrote the cookie');
  }
  const clientHash = createHmac('sha256', CONTROLLER_TO_SERVER).update(message).digest('hex');
  await control.command(`AUTHENTICATE ${clientHash}`, opts);
}
