import assert from 'node:assert/strict';
import { createHash, diffieHellman, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { base32Decode, base32Encode } from '../../src/onion/base32.js';
import {
  clientAuthPublicKey,
  generateClientAuthKey,
  makeOnionClientAuth,
  parseClientAuthPrivateKey,
  parseClientAuthPublicKey,
  parseClientAuthView,
} from '../../src/onion/client-auth.js';
import { isValidServiceId, normalizeServiceId, serviceIdFromPublicKey } from '../../src/onion/service-id.js';
import { TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import type { ControlReply } from '../../src/control/reply.js';

// rend-spec-v3 section 6 examples.
const SPEC_ADDRESSES = [
  'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd',
  'sp3k262uwy4r2k3ycr5awluarykdpag6a7y33jxop4cs2lu5uz5sseqd',
  'xa4r2iadxm55fbnqgwwi5mymqdcofiu3w6rpbtqn7b2dyn7mgwj64jyd',
];

function reply(...texts: string[]): ControlReply {
  return {
    status: 250,
    lines: texts.map((text, i) => ({ status: 250, separator: i === texts.length - 1 ? ' ' : '-', text })),
  };
}

describe('onion encodings', () => {
  describe('base32 (RFC 4648, no padding)', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      it(`encodes ${JSON.stringify(plain)} as ${JSON.stringify(encoded)} and back`, () => {
        assert.equal(base32Encode(Buffer.from(plain)), encoded);
        assert.equal(base32Encode(Buffer.from(plain), true), encoded.toLowerCase());
        assert.equal(base32Decode(encoded)!.toString(), plain);
        assert.equal(base32Decode(encoded.toLowerCase())!.toString(), plain);
      });
    }

    it('round-trips any bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
          const text = base32Encode(bytes);
          assert.match(text, /^[A-Z2-7]*$/);
          assert.deepEqual(new Uint8Array(base32Decode(text)!), bytes);
        }),
      );
    });

    it('refuses characters outside the alphabet, impossible lengths and non-zero trailing bits', () => {
      assert.equal(base32Decode('MZXW1'), undefined); // '1' is not base32
      assert.equal(base32Decode('MZX'), undefined); // 3 chars encode no whole byte count
      assert.equal(base32Decode('MZ'), undefined); // 'MZ' leaves 2 non-zero trailing bits
      assert.equal(base32Decode('MY=='), undefined); // padding is not accepted
    });
  });

  describe('v3 service ids', () => {
    it('accepts the rend-spec-v3 example addresses, in any case', () => {
      for (const id of SPEC_ADDRESSES) {
        assert.equal(isValidServiceId(id), true);
        assert.equal(isValidServiceId(id.toUpperCase()), true);
      }
    });

    it('rejects a changed character (checksum), a wrong version and wrong lengths', () => {
      const id = SPEC_ADDRESSES[0]!;
      assert.equal(isValidServiceId(id.slice(0, 10) + (id[10] === 'a' ? 'b' : 'a') + id.slice(11)), false);
      assert.equal(isValidServiceId(id.slice(0, 55)), false);
      assert.equal(isValidServiceId(id + 'a'), false);
      // Same key and checksum bytes but version 4.
      const raw = base32Decode(id)!;
      raw[34] = 4;
      assert.equal(isValidServiceId(base32Encode(raw, true)), false);
    });

    it('derives the id from a public key exactly as the spec formula says', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pubkey) => {
          const id = serviceIdFromPublicKey(pubkey);
          const sum = createHash('sha3-256')
            .update(Buffer.concat([Buffer.from('.onion checksum'), pubkey, Buffer.from([3])]))
            .digest()
            .subarray(0, 2);
          assert.equal(id, base32Encode(Buffer.concat([pubkey, sum, Buffer.from([3])]), true));
          assert.equal(isValidServiceId(id), true);
        }),
      );
      const fromSpec = base32Decode(SPEC_ADDRESSES[1]!)!.subarray(0, 32);
      assert.equal(serviceIdFromPublicKey(fromSpec), SPEC_ADDRESSES[1]);
    });

    it('normalizes case, the .onion suffix and a trailing dot; names v2 addresses', () => {
      const id = SPEC_ADDRESSES[2]!;
      assert.equal(normalizeServiceId(`${id.toUpperCase()}.ONION.`), id);
      assert.equal(normalizeServiceId(` ${id}.onion `), id);
      assert.throws(() => normalizeServiceId('expyuzz4wqqyqhjn.onion'), (e: unknown) => {
        return e instanceof TorInvalidValueError && /version 2/.test(e.message);
      });
      assert.throws(() => normalizeServiceId('nope'), TorInvalidValueError);
    });

    it("refuses an address with a port (a service's address, server.onionAddress) saying so", () => {
      const id = SPEC_ADDRESSES[2]!;
      for (const withPort of [`${id}.onion:80`, `${id.toUpperCase()}.ONION.:443`]) {
        assert.throws(
          () => normalizeServiceId(withPort),
          (e: unknown) => e instanceof TorInvalidValueError && /ends in a port/.test(e.message) && /hostname/.test(e.message),
          withPort,
        );
      }
    });
  });

  describe('x25519 client authorization keys', () => {
    it('generates base32 keys whose private half derives the public half', () => {
      const pair = generateClientAuthKey('alice');
      assert.equal(pair.name, 'alice');
      assert.match(pair.publicKey, /^[A-Z2-7]{52}$/);
      assert.match(pair.privateKey, /^[A-Z2-7]{52}$/);
      assert.notEqual(pair.publicKey, pair.privateKey);
      assert.equal(clientAuthPublicKey(base32Decode(pair.privateKey)!), pair.publicKey);
    });

    it('makes keys that agree on an x25519 shared secret (so tor can use them)', () => {
      const a = generateClientAuthKey('a');
      const b = generateClientAuthKey('b');
      const prefix = Buffer.from('302e020100300506032b656e04220420', 'hex');
      const spki = Buffer.from('302a300506032b656e032100', 'hex');
      const priv = (k: string) => createPrivateKey({ key: Buffer.concat([prefix, base32Decode(k)!]), format: 'der', type: 'pkcs8' });
      const pub = (k: string) => createPublicKey({ key: Buffer.concat([spki, base32Decode(k)!]), format: 'der', type: 'spki' });
      const ab = diffieHellman({ privateKey: priv(a.privateKey), publicKey: pub(b.publicKey) });
      const ba = diffieHellman({ privateKey: priv(b.privateKey), publicKey: pub(a.publicKey) });
      assert.equal(ab.length, 32);
      assert.deepEqual(ab, ba);
    });

    it('matches node:crypto on a key pair it generated itself', () => {
      const { publicKey, privateKey } = generateKeyPairSync('x25519');
      const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
      const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
      assert.equal(clientAuthPublicKey(d), base32Encode(x));
    });

    it('refuses bad client names', () => {
      for (const name of ['', 'has space', 'x'.repeat(17), 'a:b', 'é']) {
        assert.throws(() => generateClientAuthKey(name), TorInvalidValueError, name);
      }
    });

    it('reads private keys as base32, base64 (with or without padding), prefixed, or an .auth_private line', () => {
      const pair = generateClientAuthKey('bob');
      const raw = base32Decode(pair.privateKey)!;
      const b64 = raw.toString('base64');
      const forms = [
        pair.privateKey,
        pair.privateKey.toLowerCase(),
        b64,
        b64.replace(/=$/, ''),
        `x25519:${b64}`,
        `descriptor:x25519:${pair.privateKey}`,
        `${SPEC_ADDRESSES[0]}:descriptor:x25519:${pair.privateKey}`,
        `${SPEC_ADDRESSES[0]}.onion:descriptor:x25519:${pair.privateKey}\n`,
      ];
      for (const form of forms) assert.deepEqual(parseClientAuthPrivateKey(form), raw, form);
    });

    it('refuses malformed private keys without echoing them', () => {
      const secretish = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      for (const bad of [secretish, 'ed25519:' + 'A'.repeat(44), 'A'.repeat(51), '!'.repeat(44), '']) {
        assert.throws(
          () => parseClientAuthPrivateKey(bad),
          (e: unknown) => e instanceof TorInvalidValueError && (bad.length < 8 || !e.message.includes(bad)),
        );
      }
      assert.throws(() => parseClientAuthPublicKey('A'.repeat(51)), TorInvalidValueError);
    });

    it('never shows private keys in inspect() or JSON', () => {
      const pair = generateClientAuthKey('carol');
      assert.ok(!inspect(pair).includes(pair.privateKey));
      assert.ok(!JSON.stringify(pair).includes(pair.privateKey));
      assert.ok(inspect(pair).includes(pair.publicKey));
      assert.equal(pair.privateKey.length, 52, 'still readable by the program');

      const entry = makeOnionClientAuth(SPEC_ADDRESSES[0]!, base32Decode(pair.privateKey)!, 'carol', ['Permanent']);
      assert.equal(entry.privateKey, pair.privateKey);
      assert.ok(!inspect(entry).includes(entry.privateKey));
      assert.ok(!JSON.stringify(entry).includes(entry.privateKey));
      assert.ok(!Object.keys(entry).includes('privateKey'));
      assert.deepEqual(JSON.parse(JSON.stringify(entry)), {
        onion: SPEC_ADDRESSES[0],
        keyType: 'x25519',
        clientName: 'carol',
        flags: ['Permanent'],
        privateKey: '[redacted]',
      });
    });
  });

  describe('ONION_CLIENT_AUTH_VIEW replies', () => {
    it('reads CLIENT lines with and without ClientName/Flags, ignoring unknown keywords', () => {
      const k1 = generateClientAuthKey('x');
      const k2 = generateClientAuthKey('y');
      const b64 = (k: string) => base32Decode(k)!.toString('base64');
      const list = parseClientAuthView(
        reply(
          'ONION_CLIENT_AUTH_VIEW',
          `CLIENT ${SPEC_ADDRESSES[0]} x25519:${b64(k1.privateKey)}`,
          `CLIENT ${SPEC_ADDRESSES[1]} x25519:${b64(k2.privateKey)} ClientName=bob Flags=Permanent,Future Extra=1`,
          'OK',
        ),
      );
      assert.equal(list.length, 2);
      assert.deepEqual({ ...list[0] }, { onion: SPEC_ADDRESSES[0], keyType: 'x25519', flags: [] });
      assert.equal(list[0]!.privateKey, k1.privateKey);
      assert.deepEqual({ ...list[1] }, {
        onion: SPEC_ADDRESSES[1],
        keyType: 'x25519',
        clientName: 'bob',
        flags: ['Permanent', 'Future'],
      });
      assert.equal(list[1]!.privateKey, k2.privateKey);
    });

    it('returns nothing for an empty view and refuses a broken CLIENT line', () => {
      assert.deepEqual(parseClientAuthView(reply('ONION_CLIENT_AUTH_VIEW', 'OK')), []);
      assert.throws(() => parseClientAuthView(reply('ONION_CLIENT_AUTH_VIEW', 'CLIENT onlyone', 'OK')), TorProtocolError);
      assert.throws(
        () => parseClientAuthView(reply('ONION_CLIENT_AUTH_VIEW', `CLIENT ${SPEC_ADDRESSES[0]} x25519:short`, 'OK')),
        TorProtocolError,
      );
    });
  });
});
