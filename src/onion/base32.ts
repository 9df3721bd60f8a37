/**
 * RFC 4648 base32 without padding, the encoding tor uses for onion addresses (lower case) and
 * client-authorization keys (upper case in `.auth` files; tor reads either case).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Encodes bytes as base32 without `=` padding.
 * @param bytes - what to encode
 * @param lowerCase - lower-case output, as in onion addresses. @default false
 * @example base32Encode(Buffer.from('foobar')) // 'MZXW6YTBOI'
 */
export function base32Encode(bytes: Uint8Array, lowerCase = false): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return lowerCase ? out.toLowerCase() : out;
}

/**
 * Decodes unpadded base32 (either case). Returns `undefined` for a character outside the
 * alphabet, for a length no byte string encodes to, or when the unused trailing bits are not zero
 * (so that every byte string has exactly one encoding and a typo is never silently accepted).
 * @example base32Decode('mzxw6ytboi')?.toString() // 'foobar'
 */
export function base32Decode(text: string): Buffer | undefined {
  // Lengths mod 8 that encode whole bytes: 0, 2, 4, 5, 7.
  if (![0, 2, 4, 5, 7].includes(text.length % 8)) return undefined;
  const out = Buffer.alloc(Math.floor((text.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of text.toUpperCase()) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return undefined;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
