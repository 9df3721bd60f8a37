/**
 * The values of `GETINFO net/listeners/*` (control-spec 3.9): a list of quoted addresses, each
 * `IP:PORT` (IPv6 in brackets) or `unix:PATH`. Parsed once here for every reader: the SOCKS client
 * (where to connect) and the live state (which socket a stream's client holds).
 */

import net from 'node:net';
import { TorProtocolError } from '../errors.js';

/** A listener as tor reports it: wildcard addresses (`0.0.0.0`, `::`) are kept as they are. */
export type ListenerAddress = { host: string; port: number } | { path: string };

/**
 * Splits a control-spec list of quoted strings (`"a" "b"`), undoing backslash escapes. Bare
 * (unquoted) items are accepted too, because tolerating them costs nothing.
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for an unterminated quote
 */
export function splitQuotedList(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    if (value[i] === ' ') {
      i++;
      continue;
    }
    if (value[i] !== '"') {
      const end = value.indexOf(' ', i);
      out.push(value.slice(i, end === -1 ? value.length : end));
      i = end === -1 ? value.length : end;
      continue;
    }
    let item = '';
    let closed = false;
    for (i++; i < value.length; i++) {
      const c = value[i]!;
      if (c === '\\' && i + 1 < value.length) {
        const n = value[++i]!;
        if (n >= '0' && n <= '7') {
          // C-style octal escape, up to three digits.
          let oct = n;
          while (oct.length < 3 && i + 1 < value.length && value[i + 1]! >= '0' && value[i + 1]! <= '7') oct += value[++i];
          item += String.fromCharCode(parseInt(oct, 8));
        } else item += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n;
      } else if (c === '"') {
        closed = true;
        i++;
        break;
      } else item += c;
    }
    if (!closed) throw new TorProtocolError('unterminated quoted string in a GETINFO net/listeners value');
    out.push(item);
  }
  return out;
}

/**
 * The addresses of a `GETINFO net/listeners/...` value; items that are neither an IP and port nor
 * an absolute `unix:` path are skipped.
 * @example parseListenerAddresses('"127.0.0.1:9050" "[::]:9150" "unix:/run/tor/socks"')
 * // [{ host: '127.0.0.1', port: 9050 }, { host: '::', port: 9150 }, { path: '/run/tor/socks' }]
 * @throws TorProtocolError (`TOR_PROTOCOL_ERROR`) for an unterminated quote
 */
export function parseListenerAddresses(value: string): ListenerAddress[] {
  const out: ListenerAddress[] = [];
  for (const item of splitQuotedList(value.trim())) {
    if (item.startsWith('unix:')) {
      const path = item.slice(5);
      if (path.startsWith('/') && !path.includes('\0')) out.push({ path });
      continue;
    }
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(item);
    if (!m) continue;
    const host = (m[1] ?? m[2])!;
    const port = Number(m[3]);
    if (net.isIP(host) === 0 || port < 1 || port > 65535) continue;
    out.push({ host, port });
  }
  return out;
}

/** Whether `host` is a wildcard address (`0.0.0.0`, `::`): a listener on every local address. */
export function isWildcardAddress(host: string): boolean {
  return host === '0.0.0.0' || (net.isIPv6(host) && /^[0:]+$/.test(host));
}
