import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readMicrodescriptorPolicies } from '../../src/state/microdescriptors.js';
import { parseRouterStatuses, readDocumentLines } from '../../src/state/consensus-parser.js';

// A microdescriptor as tor 0.4.9 gave it (`GETINFO md/all` on a client of the private test network),
// and the digest its microdesc-flavor consensus names for it (`m` line): the two must meet exactly.
const REAL_MD =
  'onion-key\n-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAL+shjCOO69BMw2t9kYKM07k1+0bwNKCJm+75xD0VLDn+rUwmRfuOank\n' +
  'gzlSENIo3SZpNkX0B1qdu4sbtEDLlyo98lRnj2XDXURX/JDmHjIzn1uHP/YyJZWd\nUigNitpXTgALp1p8tPGiqyLcrnuJVBzwuPZJ0JU4nXUlSvIITFLDAgMBAAE=\n' +
  '-----END RSA PUBLIC KEY-----\nntor-onion-key zzgGispmy6oKQRkIryYbQpHINz3llqbQB1wIyUudSzg\nid ed25519 f/fWs7kDU78Stvez80oWdhpVwnwnlbl2Tuo8H50ll8M\n';
const REAL_DIGEST = 'CCY+sdEgqxLq3/dxjpNW3tF0wLaUc8hAP9KazQGPq2E';

const REJECT_ALL = { policy: 'reject', ranges: [[1, 65535]] };

/** A microdescriptor of our own making, with the lines given after its keys. */
function md(key: string, ...lines: string[]): string {
  return ['onion-key', `ntor-onion-key ${key}`, ...lines, `id ed25519 ${key}`].join('\n') + '\n';
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('base64').replace(/=+$/, '');
}

describe('state: exit-policy summaries from microdescriptors', () => {
  it("keys each microdescriptor by the digest tor's consensus names for it (a real one from tor 0.4.9)", () => {
    const policies = readMicrodescriptorPolicies(REAL_MD);
    assert.deepEqual([...policies.keys()], [REAL_DIGEST]);
    // It has no p or p6 line: dir-spec's default, no exits.
    assert.deepEqual(policies.get(REAL_DIGEST), { ipv4: REJECT_ALL, ipv6: REJECT_ALL });
  });

  it('hashes the last one with its final newline, which a GETINFO value drops', () => {
    const both = REAL_MD + md('AAAA', 'p accept 80');
    const policies = readMicrodescriptorPolicies(both.slice(0, -1));
    assert.deepEqual([...policies.keys()], [REAL_DIGEST, digestOf(md('AAAA', 'p accept 80'))]);
  });

  it('reads p and p6 lines; none means reject 1-65535; a malformed one is null (no summary)', () => {
    const texts = [
      md('A', 'family $AA $BB', 'p accept 80,443,6660-6669', 'p6 accept 443'),
      md('B', 'p reject 25,119'),
      md('C'),
      md('D', 'p allow 80', 'p6 accept 99999'),
    ];
    const policies = readMicrodescriptorPolicies(texts.join(''));
    assert.equal(policies.size, 4);
    assert.deepEqual(policies.get(digestOf(texts[0]!)), {
      ipv4: { policy: 'accept', ranges: [[80, 80], [443, 443], [6660, 6669]] },
      ipv6: { policy: 'accept', ranges: [[443, 443]] },
    });
    assert.deepEqual(policies.get(digestOf(texts[1]!)), { ipv4: { policy: 'reject', ranges: [[25, 25], [119, 119]] }, ipv6: REJECT_ALL });
    assert.deepEqual(policies.get(digestOf(texts[2]!)), { ipv4: REJECT_ALL, ipv6: REJECT_ALL });
    assert.deepEqual(policies.get(digestOf(texts[3]!)), { ipv4: null, ipv6: null });
  });

  it('starts a microdescriptor only at an onion-key line (not ntor-onion-key, not a key inside a line)', () => {
    const text = md('onion-key', 'family onion-key') + md('X');
    assert.equal(readMicrodescriptorPolicies(text).size, 2);
    assert.equal(readMicrodescriptorPolicies('').size, 0);
    assert.equal(readMicrodescriptorPolicies('garbage without a microdescriptor\n').size, 0);
  });

  it('shares one frozen summary among relays that write the same line', () => {
    const a = md('A', 'p accept 80');
    const b = md('B', 'p accept 80');
    const policies = readMicrodescriptorPolicies(a + b);
    const pa = policies.get(digestOf(a))!.ipv4!;
    assert.equal(pa, policies.get(digestOf(b))!.ipv4);
    assert.ok(Object.isFrozen(pa) && Object.isFrozen(pa.ranges));
  });

  it("readDocumentLines takes each entry's m line from a microdesc-flavor document; Router.microdescDigest shows it", () => {
    const doc = [
      'network-status-version 3 microdesc',
      'r auth1 fPFti4GcUB3SKX55BCNtoS3TSCY 2038-01-01 00:00:00 127.0.0.1 23420 23421',
      's Exit Fast Running Valid',
      `m ${REAL_DIGEST}`,
      'r auth2 2ZGA7wQH+pP4wnyKFn1w6oO8SOA 2038-01-01 00:00:00 127.0.0.1 23423 23424',
      's Fast Running Valid',
      'directory-footer',
    ].join('\n');
    const lines = readDocumentLines(doc);
    assert.equal(lines.get('fPFti4GcUB3SKX55BCNtoS3TSCY')?.microdescDigest, REAL_DIGEST);
    assert.equal(lines.get('2ZGA7wQH+pP4wnyKFn1w6oO8SOA')?.microdescDigest, undefined);
    const [auth1, auth2] = parseRouterStatuses(doc);
    assert.equal(auth1!.microdescDigest, REAL_DIGEST);
    assert.equal(auth2!.microdescDigest, undefined);
  });
});
