/**
 * A small MaxMind DB (.mmdb, format 2.0) writer for tests: builds real database files that the
 * `maxmind` reader opens, so that the GeoLite2 City/ASN schemas can be tested without shipping a
 * 60 MB database. Writes an IPv6 tree (IPv4 networks under ::/96, as MaxMind's own files do), 24-bit
 * records, and no data deduplication. Spec: https://maxmind.github.io/MaxMind-DB/
 */

/** Marks a number that must be stored as an IEEE double even when it is integral (e.g. 52.0). */
export class MmdbDouble {
  constructor(readonly value: number) {}
}

/** A value the writer can store. Integers become uint32 (or uint64 when larger), fractions doubles. */
export type MmdbValue =
  | string
  | number
  | bigint
  | boolean
  | MmdbDouble
  | readonly MmdbValue[]
  | { readonly [key: string]: MmdbValue };

/** One network and the record stored for it. */
export interface MmdbNetwork {
  /** CIDR, e.g. `81.2.69.0/24` or `2a02:2770::/32`. */
  network: string;
  data: { readonly [key: string]: MmdbValue };
}

/** What to write. */
export interface MmdbSpec {
  databaseType: string;
  networks: readonly MmdbNetwork[];
  /** @default 1700000000 */
  buildEpoch?: number;
}

interface TrieNode {
  children: [TrieNode | number | undefined, TrieNode | number | undefined];
}

/** Builds a complete .mmdb file in memory. */
export function buildMmdb(spec: MmdbSpec): Buffer {
  const data: Buffer[] = [];
  let dataLength = 0;
  const root: TrieNode = { children: [undefined, undefined] };
  for (const { network, data: record } of spec.networks) {
    const encoded = encodeValue(record);
    const offset = dataLength;
    data.push(encoded);
    dataLength += encoded.length;
    const { bits, prefix } = parseCidr(network);
    let node = root;
    for (let i = 0; i < prefix - 1; i++) {
      const bit = bits[i]!;
      let next = node.children[bit];
      if (typeof next !== 'object') {
        next = { children: [undefined, undefined] };
        node.children[bit] = next;
      }
      node = next;
    }
    node.children[bits[prefix - 1]!] = offset; // a data leaf, resolved below
  }

  // Number the internal nodes breadth first; node 0 is the root, as readers expect.
  const order: TrieNode[] = [];
  const index = new Map<TrieNode, number>();
  const queue: TrieNode[] = [root];
  while (queue.length > 0) {
    const n = queue.shift()!;
    index.set(n, order.length);
    order.push(n);
    for (const c of n.children) if (typeof c === 'object') queue.push(c);
  }
  const nodeCount = order.length;
  const record = (c: TrieNode | number | undefined): number => {
    if (c === undefined) return nodeCount; // "no data"
    if (typeof c === 'number') return nodeCount + 16 + c;
    return index.get(c)!;
  };
  const tree = Buffer.alloc(nodeCount * 6);
  order.forEach((n, i) => {
    tree.writeUIntBE(record(n.children[0]), i * 6, 3);
    tree.writeUIntBE(record(n.children[1]), i * 6 + 3, 3);
  });
  if (nodeCount + 16 + dataLength >= 2 ** 24) throw new Error('too large for 24-bit records');

  const metadata = encodeValue({
    node_count: nodeCount,
    record_size: 24,
    ip_version: 6,
    database_type: spec.databaseType,
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: BigInt(spec.buildEpoch ?? 1_700_000_000),
    description: { en: `torcon test database ${spec.databaseType}` },
  });
  const marker = Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com', 'ascii')]);
  return Buffer.concat([tree, Buffer.alloc(16), ...data, marker, metadata]);
}

function parseCidr(cidr: string): { bits: number[]; prefix: number } {
  const [addr, len] = cidr.split('/') as [string, string | undefined];
  if (addr.includes(':')) {
    const bytes = ipv6Bytes(addr);
    return { bits: toBits(bytes), prefix: len === undefined ? 128 : Number(len) };
  }
  const octets = addr.split('.').map(Number);
  const bytes = [...new Array<number>(12).fill(0), ...octets];
  return { bits: toBits(bytes), prefix: 96 + (len === undefined ? 32 : Number(len)) };
}

function ipv6Bytes(addr: string): number[] {
  const [head, tail] = addr.includes('::') ? (addr.split('::') as [string, string]) : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    out.push(v >> 8, v & 0xff);
  }
  return out;
}

function toBits(bytes: number[]): number[] {
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return bits;
}

function control(type: number, size: number): Buffer {
  const head: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65821;
    extra.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  }
  if (type <= 7) head.push((type << 5) | sizeBits);
  else head.push(sizeBits, type - 7);
  return Buffer.from([...head, ...extra]);
}

function unsignedBytes(v: bigint): number[] {
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

function encodeValue(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const bytes = Buffer.from(v, 'utf8');
    return Buffer.concat([control(2, bytes.length), bytes]);
  }
  if (v instanceof MmdbDouble || (typeof v === 'number' && !Number.isInteger(v))) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v instanceof MmdbDouble ? v.value : v);
    return Buffer.concat([control(3, 8), b]);
  }
  if (typeof v === 'number' || typeof v === 'bigint') {
    const n = BigInt(v);
    if (n < 0n) throw new Error('negative integers are not supported');
    const bytes = unsignedBytes(n);
    const type = n < 2n ** 32n ? 6 : 9;
    return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
  }
  if (typeof v === 'boolean') return control(14, v ? 1 : 0);
  if (Array.isArray(v)) {
    return Buffer.concat([control(11, v.length), ...v.map((x: MmdbValue) => encodeValue(x))]);
  }
  const entries = Object.entries(v as { [key: string]: MmdbValue });
  return Buffer.concat([
    control(7, entries.length),
    ...entries.flatMap(([k, x]) => [encodeValue(k), encodeValue(x)]),
  ]);
}
