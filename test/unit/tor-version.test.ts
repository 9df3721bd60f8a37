import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareTorVersions, parseTorVersion, Tor, TorInvalidValueError, type TorControl } from '../../src/index.js';

describe('tor versions', () => {
  describe('parseTorVersion', () => {
    const cases: Array<[string, { major: number; minor: number; micro: number; patch: number; status: string; extra: string }]> = [
      ['0.4.9.11', { major: 0, minor: 4, micro: 9, patch: 11, status: '', extra: '' }],
      ['0.4.9', { major: 0, minor: 4, micro: 9, patch: 0, status: '', extra: '' }],
      ['0.4.9.1-alpha', { major: 0, minor: 4, micro: 9, patch: 1, status: 'alpha', extra: '' }],
      ['0.4.9.1-alpha-dev', { major: 0, minor: 4, micro: 9, patch: 1, status: 'alpha-dev', extra: '' }],
      ['0.4.8.12 (git-3fd1a2b7ea3b2f5c)', { major: 0, minor: 4, micro: 8, patch: 12, status: '', extra: 'git-3fd1a2b7ea3b2f5c' }],
      ['0.4.9.2-dev (git-aa) (custom)', { major: 0, minor: 4, micro: 9, patch: 2, status: 'dev', extra: 'git-aa custom' }],
      // a descriptor's `v` line and the `platform` line's start
      ['Tor 0.4.8.10', { major: 0, minor: 4, micro: 8, patch: 10, status: '', extra: '' }],
      ['  0.4.7.16  ', { major: 0, minor: 4, micro: 7, patch: 16, status: '', extra: '' }],
    ];
    for (const [text, want] of cases) {
      it(`reads ${JSON.stringify(text)}`, () => assert.deepEqual(parseTorVersion(text), want));
    }

    for (const bad of ['', '0.4', '0.4.9.11.2', 'v0.4.9', '0.4.x.1', '0.4.9-', '0.4.9.1 git', '0.4.9 (a', '-1.2.3', '1e3.0.0', 'Tor', '0.4.9\r\nSIGNAL HALT']) {
      it(`refuses ${JSON.stringify(bad)} with TOR_INVALID_VALUE`, () => {
        assert.throws(() => parseTorVersion(bad), (err: unknown) => err instanceof TorInvalidValueError && err.code === 'TOR_INVALID_VALUE' && /tor version/.test(err.message));
      });
    }

    it('refuses a non-string with TOR_INVALID_VALUE, not a TypeError', () => {
      for (const v of [undefined, null, 4, {}]) {
        assert.throws(() => parseTorVersion(v as unknown as string), TorInvalidValueError);
      }
    });

    it('shortens a long bad text in its message', () => {
      assert.throws(() => parseTorVersion('x'.repeat(5000)), (err: unknown) => err instanceof Error && err.message.length < 200);
    });
  });

  describe('compareTorVersions', () => {
    it("orders versions as tor does: the numbers, then the status tag as text, a -dev after its release", () => {
      const sorted = ['0.3.5.17', '0.4.7', '0.4.8.1-alpha', '0.4.8.9', '0.4.8.9-dev', '0.4.8.10', '0.4.9.1-alpha', '0.4.9.1-rc', '0.4.9.11', '1.0.0'];
      const shuffled = [...sorted].reverse();
      assert.deepEqual(shuffled.sort(compareTorVersions), sorted);
    });

    it('treats a missing fourth number as 0 and ignores the extra information', () => {
      assert.equal(compareTorVersions('0.4.8', '0.4.8.0'), 0);
      assert.equal(compareTorVersions('0.4.8.12 (git-a)', '0.4.8.12 (git-b)'), 0);
      assert.ok(compareTorVersions('0.4.10.0', '0.4.9.99') > 0, 'numbers, not text');
    });

    it('takes parsed versions too, and is antisymmetric and consistent with equality', () => {
      const part = fc.integer({ min: 0, max: 20 });
      const version = fc.tuple(part, part, part, part, fc.constantFrom('', '-alpha', '-rc', '-dev')).map(([a, b, c, d, s]) => `${a}.${b}.${c}.${d}${s}`);
      fc.assert(
        fc.property(version, version, (x, y) => {
          const xy = Math.sign(compareTorVersions(x, y));
          assert.equal(xy, -Math.sign(compareTorVersions(parseTorVersion(y), parseTorVersion(x))));
          assert.equal(xy === 0, x === y);
        }),
      );
    });

    it('refuses a bad version on either side', () => {
      assert.throws(() => compareTorVersions('0.4.8', 'latest'), TorInvalidValueError);
      assert.throws(() => compareTorVersions('nope', '0.4.8'), TorInvalidValueError);
    });
  });

  describe('Tor.versionAtLeast', () => {
    const tor = (version: string) => new Tor({} as TorControl, { version, controlEndpoint: 'tcp:127.0.0.1:9051' });

    it("compares the handle's version with the minimum", () => {
      const t = tor('0.4.9.11');
      assert.equal(t.versionAtLeast('0.4.9.11'), true);
      assert.equal(t.versionAtLeast('0.4.8'), true);
      assert.equal(t.versionAtLeast('0.4.9.12'), false);
      assert.equal(t.versionAtLeast('0.5'.concat('.0')), false);
      assert.equal(tor('0.4.9.1-alpha').versionAtLeast('0.4.9.1'), true, "the status tag is informational");
    });

    it('refuses a minimum that is no version with TOR_INVALID_VALUE', () => {
      assert.throws(() => tor('0.4.9.11').versionAtLeast('0.4'), TorInvalidValueError);
    });

    it('refuses a minimum that is no text with TOR_INVALID_VALUE (4 was "at least", null a TypeError)', () => {
      for (const bad of [4, 1000, 0.5, {}, ['0.4.8.1'], null, undefined, { major: 0, minor: 4 }]) {
        assert.throws(() => tor('0.4.9.11').versionAtLeast(bad as never), TorInvalidValueError, String(bad));
        assert.throws(() => compareTorVersions(bad as never, '0.4.8.1'), TorInvalidValueError, String(bad));
      }
      assert.equal(compareTorVersions(parseTorVersion('0.4.9.1'), '0.4.9.1'), 0, 'a parsed version is taken as it is');
    });
  });
});
