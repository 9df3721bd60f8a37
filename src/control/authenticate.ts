import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TorAuthError, TorControlError } from '../errors.js';
import { logger } from '../util/log.js';
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

/** The order torcon tries methods in: the ones that prove most and leak least come first. */
export const AUTH_PREFERENCE = ['SAFECOOKIE', 'COOKIE', 'HASHEDPASSWORD', 'NULL'] as const;

/**
 * Authenticates a fresh control connection: PROTOCOLINFO, then SAFECOOKIE (checking that the
 * server knows the cookie before we prove that we do), COOKIE, HASHEDPASSWORD or NULL, in that
 * order of preference among the methods tor offers and we can use.
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
    try {
      if (method === 'SAFECOOKIE' || method === 'COOKIE') {
        const path = opts.cookieFile ?? info.cookieFile;
        if (!path) {
          failures.push(`${method}: tor announced no cookie file`);
          continue;
        }
        let cookie: Buffer;
        try {
          cookie = await readFile(path);
        } catch (err) {
          failures.push(`${method}: cannot read the cookie file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
          continue;
        }
        if (cookie.length !== 32) {
          failures.push(`${method}: cookie file ${path} is ${cookie.length} bytes, not 32`);
          continue;
        }
        if (method === 'SAFECOOKIE') await safeCookie(control, cookie, opts);
        else await control.command(`AUTHENTICATE ${cookie.toString('hex')}`, opts);
      } else if (method === 'HASHEDPASSWORD') {
        if (opts.password === undefined) {
          failures.push('HASHEDPASSWORD: no password given');
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
