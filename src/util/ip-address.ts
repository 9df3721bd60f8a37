/**
 * IP addresses in one comparable text form, for code that matches addresses written in different
 * spellings (tor's listener lists, /proc/net/tcp, GeoIP lookups), and `host:port` for messages.
 */

import net from 'node:net';

/** Describes a target for messages: `example.com:80`, `[::1]:80`. */
export function describeTarget(target: { host: string; port: number }): string {
  return net.isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/**
 * A canonical text form for comparing addresses: dotted IPv4 (also for IPv4-mapped IPv6), or the
 * eight IPv6 groups in lower-case hex without compression. Null when `host` is not an address.
 */
export function normalizeAddress(host: string): string | null {
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) {
    return h.split('.').every((p) => Number(p) <= 255) ? h.split('.').map(Number).join('.') : null;
  }
  if (!h.includes(':')) return null;
  const bytes = ipv6Bytes(h);
  return bytes === null ? null : bytesToNormal(bytes);
}

/** 16 address bytes in the form {@link normalizeAddress} gives. */
export function bytesToNormal(bytes: number[]): string {
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  if (mapped) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

function ipv6Bytes(text: string): number[] | null {
  const zone = text.indexOf('%');
  const h = zone === -1 ? text : text.slice(0, zone);
  const halves = h.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = p.split('.').map(Number);
        if (v4.length !== 4 || v4.some((x) => !(x >= 0 && x <= 255))) return null;
        out.push(...v4);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        const v = Number.parseInt(p, 16);
        out.push(v >> 8, v & 255);
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 16 ? head : null;
  const fill = 16 - head.length - tail.length;
  if (fill < 2) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}
