import { TorSocksError, type TorSocksErrorCode } from '../errors.js';

/**
 * SOCKS5 reply bytes (RFC 1928 6, plus tor's `ExtendedErrors` 0xF0-0xF7 from tor.1) mapped to
 * stable error codes and to a sentence telling the user what happened and what to check.
 * Tor chooses the byte from the stream's END reason: e.g. a refused connection at the exit is 0x05,
 * an exit policy reject is 0x02, a stream that timed out is 0x06.
 */

/** One row of {@link SOCKS_REPLY_ERRORS}. */
export interface SocksReplyInfo {
  /** Stable code of the `TorSocksError`, e.g. `TOR_SOCKS_CONNECTION_REFUSED`. */
  readonly code: TorSocksErrorCode;
  /** Short name of the reply as the specs call it. */
  readonly name: string;
  /** What it means for the user. */
  readonly meaning: string;
}

/** Every SOCKS5 error reply tor can send (0x01-0x08, and 0xF0-0xF7 with `ExtendedErrors`). */
export const SOCKS_REPLY_ERRORS: Readonly<Record<number, SocksReplyInfo>> = Object.freeze({
  0x01: {
    code: 'TOR_SOCKS_GENERAL_FAILURE',
    name: 'general SOCKS server failure',
    meaning: 'tor could not complete the stream (the circuit or the exit failed for a reason SOCKS cannot express)',
  },
  0x02: {
    code: 'TOR_SOCKS_NOT_ALLOWED',
    name: 'connection not allowed by ruleset',
    meaning: "the exit's exit policy (or a local tor setting) does not allow this address and port",
  },
  0x03: {
    code: 'TOR_SOCKS_NETWORK_UNREACHABLE',
    name: 'network unreachable',
    meaning: 'the exit has no route to the target network',
  },
  0x04: {
    code: 'TOR_SOCKS_HOST_UNREACHABLE',
    name: 'host unreachable',
    meaning: 'the exit could not resolve or reach the host (check the hostname)',
  },
  0x05: {
    code: 'TOR_SOCKS_CONNECTION_REFUSED',
    name: 'connection refused',
    meaning: 'the target refused the connection: nothing listens on that port',
  },
  0x06: {
    code: 'TOR_SOCKS_TTL_EXPIRED',
    name: 'TTL expired',
    meaning: 'the stream timed out inside tor (the exit or the target did not answer in time); retrying may work',
  },
  0x07: {
    code: 'TOR_SOCKS_COMMAND_NOT_SUPPORTED',
    name: 'command not supported',
    meaning: 'tor does not support this SOCKS command on this port',
  },
  0x08: {
    code: 'TOR_SOCKS_ADDRESS_NOT_SUPPORTED',
    name: 'address type not supported',
    meaning: 'tor refused the address type (e.g. IPv6 or hostnames disabled by the SocksPort flags)',
  },
  0xf0: {
    code: 'TOR_SOCKS_ONION_NOT_FOUND',
    name: 'onion service descriptor not found',
    meaning: 'no descriptor for this onion address is on the hash ring: the service is offline, unpublished or does not exist',
  },
  0xf1: {
    code: 'TOR_SOCKS_ONION_DESCRIPTOR_INVALID',
    name: 'onion service descriptor invalid',
    meaning: "the onion service's descriptor could not be parsed or its signature did not verify",
  },
  0xf2: {
    code: 'TOR_SOCKS_ONION_INTRO_FAILED',
    name: 'onion service introduction failed',
    meaning: "every introduction attempt failed (refused by the introduction points or timed out); the service may be down",
  },
  0xf3: {
    code: 'TOR_SOCKS_ONION_REND_FAILED',
    name: 'onion service rendezvous failed',
    meaning: 'every rendezvous circuit timed out: the service did not meet us at the rendezvous point',
  },
  0xf4: {
    code: 'TOR_SOCKS_ONION_CLIENT_AUTH_MISSING',
    name: 'onion service client authorization missing',
    meaning: 'the service requires client authorization and tor has no key for it (add one with addOnionClientAuth)',
  },
  0xf5: {
    code: 'TOR_SOCKS_ONION_CLIENT_AUTH_WRONG',
    name: 'onion service client authorization wrong',
    meaning: "tor's client-authorization key for this service does not decrypt its descriptor (revoked or wrong key)",
  },
  0xf6: {
    code: 'TOR_SOCKS_ONION_BAD_ADDRESS',
    name: 'invalid onion address',
    meaning: 'the .onion address is invalid (bad checksum, bad key or bad encoding): check for a typo',
  },
  0xf7: {
    code: 'TOR_SOCKS_ONION_INTRO_TIMEOUT',
    name: 'onion service introduction timed out',
    meaning: 'every introduction attempt timed out; the service may be overloaded or down, retrying may work',
  },
});

/** Code for a reply byte that neither RFC 1928 nor tor defines. */
export const UNKNOWN_REPLY_CODE = 'TOR_SOCKS_UNKNOWN_REPLY';

/** Stable codes of the failures that are not a SOCKS reply byte. */
export const SOCKS_FAILURE_CODES = Object.freeze({
  /** tor's SOCKS port cannot be reached (refused, no such unix socket, ...). */
  unreachable: 'TOR_SOCKS_UNREACHABLE',
  /** tor has no SOCKS listener (`SocksPort 0`). */
  noListener: 'TOR_SOCKS_NO_LISTENER',
  /** The handshake took longer than the handshake limit. */
  timeout: 'TOR_SOCKS_TIMEOUT',
  /** The peer does not speak SOCKS5 as tor does (bad version, bad address type, bad length...). */
  protocol: 'TOR_SOCKS_PROTOCOL',
  /** No acceptable authentication method, or username/password refused. */
  auth: 'TOR_SOCKS_AUTH_FAILED',
  /** The connection to the SOCKS port closed or failed during the handshake. */
  closed: 'TOR_SOCKS_CLOSED',
  /** TLS over the tor stream failed (certificate, protocol...). */
  tls: 'TOR_SOCKS_TLS_FAILED',
});

/**
 * The error for a SOCKS5 reply byte other than 0x00 (succeeded).
 * @param reply the REP byte
 * @param what what was asked, for the message, e.g. `connect to example.com:80 through tor`
 *   (never credentials)
 * @param opts.onion the target is a `.onion` address: tor's generic replies then say so, not blame an exit
 * @param opts.reverse the request was a RESOLVE_PTR (an address to a name): "host unreachable" then
 *   means the exit found no name for the address, not a hostname to check
 * @example socksReplyError(0x05, 'connect to 127.0.0.1:1 through tor').code // 'TOR_SOCKS_CONNECTION_REFUSED'
 */
export function socksReplyError(reply: number, what: string, opts: { onion?: boolean; reverse?: boolean } = {}): TorSocksError {
  const info = SOCKS_REPLY_ERRORS[reply];
  const hex = `0x${reply.toString(16).padStart(2, '0').toUpperCase()}`;
  if (!info) {
    return new TorSocksError(UNKNOWN_REPLY_CODE, `${what} failed: tor sent SOCKS reply ${hex}, which no spec defines`, reply);
  }
  const meaning =
    (opts.onion === true ? ONION_MEANINGS[reply] : undefined) ??
    (opts.reverse === true && reply === 0x04 ? 'the exit found no name for the address (it may have no PTR record), or could not ask' : undefined) ??
    info.meaning;
  return new TorSocksError(info.code, `${what} failed: ${info.name} (SOCKS reply ${hex}): ${meaning}`, reply);
}

/**
 * What tor's generic replies mean for a `.onion` target: no exit is involved, and tor sends these
 * for a service it could not reach when the SocksPort lacks the ExtendedErrors flag (seen with tor
 * 0.4.9: 0x04 for an address with no descriptor), where with the flag it says why.
 */
const ONION_MEANINGS: Readonly<Record<number, string>> = Object.freeze({
  0x01: onionGeneric('tor could not complete the stream to the onion service'),
  0x04: onionGeneric('tor could not reach the onion service'),
  0x06: onionGeneric('the stream to the onion service timed out inside tor (retrying may work)'),
});

function onionGeneric(what: string): string {
  return `${what}; a SocksPort with the ExtendedErrors flag says why (no descriptor found, introduction or rendezvous failed, client authorization needed, ...)`;
}

/** A failure of the SOCKS exchange that is not a reply byte (see {@link SOCKS_FAILURE_CODES}). */
export function socksFailure(
  kind: keyof typeof SOCKS_FAILURE_CODES,
  message: string,
  cause?: unknown,
): TorSocksError {
  return new TorSocksError(SOCKS_FAILURE_CODES[kind], message, undefined, cause === undefined ? undefined : { cause });
}
