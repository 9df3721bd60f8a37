import assert from 'node:assert/strict';
import fc from 'fast-check';
// From the package root, as a user imports them.
import { parseMicrodescriptor, parseServerDescriptor, TorProtocolError } from '../../src/index.js';
import { REAL_DESC, REAL_MD } from './descriptor-texts.js';

const REJECT_ALL = { policy: 'reject', ranges: [[1, 65535]] };

/** REAL_DESC with its line starting `keyword ` (or equal to `keyword`) replaced by `lines`. */
function descWith(keyword: string, ...lines: string[]): string {
  const all = REAL_DESC.split('\n');
  const at = all.findIndex((l) => l === keyword || l.startsWith(`${keyword} `));
  assert.notEqual(at, -1, keyword);
  all.splice(at, 1, ...lines);
  return all.join('\n');
}

/** A minimal descriptor of our own making, with `lines` after its required ones. */
function minimal(...lines: string[]): string {
  return ['router r1 10.0.0.1 9001 0 0', 'published 2026-01-02 03:04:05', 'bandwidth 1 2 3', ...lines].join('\n');
}

describe('state: server descriptors (dir-spec 2.1.1)', () => {
  it("reads a real one from tor 0.4.9 into typed fields", () => {
    const d = parseServerDescriptor(REAL_DESC);
    assert.equal(d.nickname, 'auth0');
    assert.equal(d.address, '127.0.0.1');
    assert.equal(d.orPort, 26645);
    assert.equal(d.dirPort, 26646);
    assert.equal(d.platform, 'Tor 0.4.9.11 on Linux');
    assert.match(d.protocols!, /^Conflux=1 Cons=1-2 Desc=1-4 .* Relay=2-6$/);
    assert.equal(d.published.toISOString(), '2026-11-27T13:32:02.000Z');
    assert.equal(d.fingerprint, '34B03C0B8381E5BFEBAAD58123F910951C85D66D');
    assert.equal(d.uptime, 70);
    assert.deepEqual(d.bandwidth, { average: 1073741824, burst: 1073741824, observed: 147896 });
    assert.deepEqual(d.family, []);
    assert.equal(d.contact, 'torcon private test network');
    assert.match(d.onionKey!, /^-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBALOr7WQn[^]*AgMBAAE=\n-----END RSA PUBLIC KEY-----$/);
    assert.equal(d.ntorOnionKey, 'q6SZRMDMygYmu1LYjZ3/jbuIr7t/UkS/1kcBv9mHGhI');
    assert.deepEqual(d.exitPolicy, ['accept 127.0.0.0/8:*', 'reject *:*']);
    assert.deepEqual(d.exitPolicyV6, REJECT_ALL);
    assert.deepEqual(d.orAddresses, []);
    assert.equal(d.hibernating, false);
    assert.equal(d.tunnelledDirServer, true);
    assert.equal(d.cachesExtraInfo, true);
    assert.deepEqual(d.otherLines.map((l) => l.split(' ')[0]), [
      'identity-ed25519', 'master-key-ed25519', 'extra-info-digest', 'signing-key', 'onion-key-crosscert',
      'ntor-onion-key-crosscert', 'hidden-service-dir', 'router-sig-ed25519', 'router-signature',
    ]);
  });

  it('takes the text with or without a final newline, and with blank lines after it (dir-spec allows them)', () => {
    const plain = parseServerDescriptor(REAL_DESC);
    assert.deepEqual(parseServerDescriptor(`${REAL_DESC}\n`), plain);
    assert.deepEqual(parseServerDescriptor(`${REAL_DESC}\n\n\n`), plain);
  });

  it('reads the lines the test network does not write: family, or-address, hibernating, ipv6-policy', () => {
    const d = parseServerDescriptor(minimal(
      'family $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA other',
      'or-address [2001:db8::1]:9001',
      'or-address 10.0.0.2:443',
      'hibernating 1',
      'ipv6-policy accept 80,443',
      'reject 10.0.0.0/8:*',
      'accept *:80',
      'reject *:*',
    ));
    assert.deepEqual(d.family, ['$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'other']);
    assert.deepEqual(d.orAddresses, ['[2001:db8::1]:9001', '10.0.0.2:443']);
    assert.equal(d.hibernating, true);
    assert.deepEqual(d.exitPolicyV6, { policy: 'accept', ranges: [[80, 80], [443, 443]] });
    assert.deepEqual(d.exitPolicy, ['reject 10.0.0.0/8:*', 'accept *:80', 'reject *:*']);
    // What it has no line for is absent, not guessed.
    assert.equal(d.platform, undefined);
    assert.equal(d.fingerprint, undefined);
    assert.equal(d.uptime, undefined);
    assert.equal(d.contact, undefined);
    assert.equal(d.onionKey, undefined);
    assert.equal(d.ntorOnionKey, undefined);
    assert.equal(d.tunnelledDirServer, false);
    assert.equal(d.cachesExtraInfo, false);
  });

  it('keeps keywords it does not know (with or without an object) in otherLines, and drops an old opt prefix', () => {
    const d = parseServerDescriptor(minimal(
      'some-future-line a b c',
      'future-object',
      '-----BEGIN FUTURE THING-----',
      'AAAA',
      '-----END FUTURE THING-----',
      'opt contact old style',
      'hibernating 0',
    ));
    assert.deepEqual(d.otherLines, ['some-future-line a b c', 'future-object']);
    assert.equal(d.contact, 'old style');
    assert.equal(d.hibernating, false);
  });

  const malformed: Array<[string, unknown, RegExp]> = [
    ['empty text', '', /empty/],
    ['no text at all', undefined, /expected text/],
    ['a number', 42, /expected text/],
    ['no router line first', REAL_DESC.split('\n').slice(1).join('\n'), /does not start with a router line/],
    ['a router line missing its DirPort', descWith('router', 'router auth0 127.0.0.1 26645 0'), /line 1: router has no valid ports/],
    ['a port over 65535', descWith('router', 'router auth0 127.0.0.1 65536 0 0'), /router has no valid ports/],
    ['an address that is not IPv4', descWith('router', 'router auth0 localhost 1 0 0'), /router has no IPv4 address/],
    ['a nickname too long', descWith('router', 'router abcdefghijklmnopqrst 127.0.0.1 1 0 0'), /router has no valid nickname/],
    ['two descriptors', `${REAL_DESC}\n${REAL_DESC}`, /router appears more than once/],
    ['no bandwidth line', descWith('bandwidth'), /no bandwidth line/],
    ['a bandwidth of two numbers', descWith('bandwidth', 'bandwidth 1 2'), /bandwidth needs three whole numbers/],
    ['a negative bandwidth', descWith('bandwidth', 'bandwidth 1 -2 3'), /bandwidth needs three whole numbers/],
    ['no published line', descWith('published'), /no published line/],
    ['a published month that does not exist', descWith('published', 'published 2026-13-01 00:00:00'), /published is not a UTC time/],
    ['a published time without seconds', descWith('published', 'published 2026-11-27 13:30'), /published is not a UTC time/],
    ['a fingerprint not in groups of 4', descWith('fingerprint', 'fingerprint 34B03C0B8381E5BFEBAAD58123F910951C85D66D'), /fingerprint is not 40 hex digits/],
    ['a fingerprint with a non-hex digit', descWith('fingerprint', 'fingerprint 34B0 3C0B 8381 E5BF EBAA D581 23F9 1095 1C85 D66G'), /fingerprint is not 40 hex digits/],
    ['an uptime that is no number', descWith('uptime', 'uptime soon'), /uptime is not a whole number/],
    ['hibernating yes', minimal('hibernating yes'), /hibernating is not 0 or 1/],
    ['two contact lines', descWith('contact', 'contact a', 'contact b'), /contact appears more than once/],
    ['an onion-key without its key', descWith('onion-key', 'onion-key').replace(/\n-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBALOr[^]*?-----END RSA PUBLIC KEY-----/, ''), /onion-key has no key/],
    ['an ntor-onion-key that is not base64', descWith('ntor-onion-key', 'ntor-onion-key not*base64'), /ntor-onion-key is not a base64 key/],
    ['an empty ntor-onion-key', descWith('ntor-onion-key', 'ntor-onion-key'), /ntor-onion-key is not a base64 key/],
    ['a reject line without a pattern', descWith('reject', 'reject'), /reject has no address pattern/],
    ['a malformed ipv6-policy', minimal('ipv6-policy allow 80'), /ipv6-policy is not an exit-policy summary/],
    ['an or-address without a port', minimal('or-address [2001:db8::1]'), /or-address is not address:port/],
    ['an object that never ends', REAL_DESC.replace('-----END SIGNATURE-----', ''), /SIGNATURE object has no END line/],
    ['an object with no keyword line before it', `-----BEGIN X-----\nAAAA\n-----END X-----\n${REAL_DESC}`, /line 1: an object with no keyword line before it/],
    ['an object after two', minimal('contact x', '-----BEGIN X-----', 'AAAA', '-----END X-----', '-----BEGIN Y-----', 'AAAA', '-----END Y-----'), /line 8: an object with no keyword line before it/],
    ['an object after a bandwidth line', minimal('-----BEGIN X-----', 'AAAA', '-----END X-----'), /line 3: bandwidth has an object it takes none of/],
    ['a blank line inside', minimal('', 'contact x'), /line 4: a blank line/],
    ['a line that is no keyword line', minimal(' contact indented'), /line 4: not a keyword line/],
    // Each took tens of seconds (quadratic regex backtracking) before the reader was made linear.
    ['a long run of newlines before the text', `${'\n'.repeat(200_000)}x`, /line 1: a blank line/],
    ['a router line of many spaces ending in a CR', `router${' '.repeat(200_000)}\r`, /line 1: router has no valid nickname/],
  ];
  for (const [what, text, message] of malformed) {
    it(`refuses ${what} with TorProtocolError`, () => {
      assert.throws(() => parseServerDescriptor(text as string), (err: unknown) => err instanceof TorProtocolError && err.code === 'TOR_PROTOCOL_ERROR' && message.test(err.message));
    });
  }
});

describe('state: microdescriptors (dir-spec 3.3)', () => {
  it('reads a real one from tor 0.4.9 (the same relay as the descriptor: the same keys)', () => {
    const md = parseMicrodescriptor(REAL_MD);
    const d = parseServerDescriptor(REAL_DESC);
    assert.equal(md.onionKey, d.onionKey);
    assert.equal(md.ntorOnionKey, d.ntorOnionKey);
    assert.deepEqual(md.identities, { ed25519: '0zjpnhbv1shtdE57OkeBoqVnUfwwt7vEVZN9S7bheDk' });
    assert.deepEqual(md.orAddresses, []);
    assert.deepEqual(md.family, []);
    // No p or p6 line: dir-spec's default, no exits.
    assert.deepEqual(md.exitPolicy, REJECT_ALL);
    assert.deepEqual(md.exitPolicyV6, REJECT_ALL);
    assert.deepEqual(md.otherLines, []);
    assert.deepEqual(parseMicrodescriptor(`${REAL_MD}\n`), md);
  });

  it('reads a, family, p, p6 and id lines; without onion-key (newer tors) the key is undefined; unknown lines are kept', () => {
    const md = parseMicrodescriptor([
      'ntor-onion-key AAAA',
      'a [2001:db8::1]:9001',
      'family $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA $BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      'p accept 80,443,6660-6669',
      'p6 reject 25',
      'id rsa1024 AAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'id ed25519 BBBB',
      'something-new 1',
      'id constructor CCCC',
    ].join('\n'));
    assert.equal(md.onionKey, undefined);
    assert.equal(md.ntorOnionKey, 'AAAA');
    assert.deepEqual(md.orAddresses, ['[2001:db8::1]:9001']);
    assert.deepEqual(md.family, ['$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB']);
    assert.deepEqual(md.exitPolicy, { policy: 'accept', ranges: [[80, 80], [443, 443], [6660, 6669]] });
    assert.deepEqual(md.exitPolicyV6, { policy: 'reject', ranges: [[25, 25]] });
    assert.deepEqual(md.identities, { rsa1024: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA', ed25519: 'BBBB', constructor: 'CCCC' });
    assert.deepEqual(md.otherLines, ['something-new 1']);
  });

  const malformed: Array<[string, unknown, RegExp]> = [
    ['empty text', '', /empty/],
    ['no text at all', null, /expected text/],
    ['two microdescriptors', `${REAL_MD}\n${REAL_MD}`, /onion-key appears more than once/],
    ['an onion-key without its key', 'onion-key\nntor-onion-key AAAA', /onion-key has no key/],
    ['an ntor-onion-key that is not base64', 'ntor-onion-key a:b', /ntor-onion-key is not a base64 key/],
    ['a malformed p line', 'ntor-onion-key AAAA\np accept 80,', /p is not an exit-policy summary/],
    ['a p line with ports over 65535', 'ntor-onion-key AAAA\np accept 70000', /p is not an exit-policy summary/],
    ['a malformed p6 line', 'ntor-onion-key AAAA\np6 accept', /p6 is not an exit-policy summary/],
    ['two p lines', 'ntor-onion-key AAAA\np accept 80\np accept 443', /p appears more than once/],
    ['an a line without a port', 'ntor-onion-key AAAA\na [2001:db8::1]', /a is not address:port/],
    ['an id line without a key', 'ntor-onion-key AAAA\nid ed25519', /id is not a key type and a base64 key/],
    ['two ed25519 ids', 'ntor-onion-key AAAA\nid ed25519 AAAA\nid ed25519 BBBB', /id gives a second ed25519 key/],
    ['a key object that never ends', REAL_MD.replace('-----END RSA PUBLIC KEY-----', ''), /RSA PUBLIC KEY object has no END line/],
    ['a blank line inside', 'ntor-onion-key AAAA\n\np accept 80', /line 2: a blank line/],
    ['an object after a p line', 'ntor-onion-key AAAA\np accept 80\n-----BEGIN X-----\nAAAA\n-----END X-----', /line 2: p has an object it takes none of/],
  ];
  for (const [what, text, message] of malformed) {
    it(`refuses ${what} with TorProtocolError`, () => {
      assert.throws(() => parseMicrodescriptor(text as string), (err: unknown) => err instanceof TorProtocolError && err.code === 'TOR_PROTOCOL_ERROR' && message.test(err.message));
    });
  }
});

describe('state: descriptor parsers on mutated real texts', () => {
  const INSERTS = ['\n', '\n\n', ' ', '\t', '-----BEGIN X-----', '-----END X-----', 'opt ', 'router ', 'p ', ':', '[', ']', '-1', '99999999999999999999', '\r', '\0', 'é', '\uD800'];
  const at = (s: string, n: number) => n % (s.length + 1);
  const edit: fc.Arbitrary<(s: string) => string> = fc.oneof(
    fc.tuple(fc.nat(), fc.constantFrom(...INSERTS)).map(([n, ins]) => (s: string) => s.slice(0, at(s, n)) + ins + s.slice(at(s, n))),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([n, k]) => (s: string) => s.slice(0, at(s, n)) + s.slice(at(s, n) + k)),
    // a line moved, doubled or dropped
    fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('move', 'dup', 'drop')).map(([i, j, op]) => (s: string) => {
      const lines = s.split('\n');
      const [line] = lines.splice(i % lines.length, op === 'dup' ? 0 : 1);
      if (op !== 'drop') lines.splice(j % (lines.length + 1), 0, line ?? lines[i % lines.length]!);
      return lines.join('\n');
    }),
  );
  const mutated = fc.tuple(fc.constantFrom(REAL_DESC, REAL_MD), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([t, es]) => es.reduce((s, e) => e(s), t));

  it('give a result or a TorProtocolError, never another error (3000 texts)', () => {
    let parsed = 0;
    let refused = 0;
    fc.assert(
      fc.property(mutated, (text) => {
        for (const parse of [parseServerDescriptor, parseMicrodescriptor]) {
          try {
            parse(text);
            parsed++;
          } catch (err) {
            assert.ok(err instanceof TorProtocolError, String(err));
            refused++;
          }
        }
      }),
      { numRuns: 3000 },
    );
    // The mutations must leave many texts readable and break many others.
    assert.ok(parsed > 300 && refused > 300, `${parsed} parsed, ${refused} refused`);
  });
});
