import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TorProtocolError } from '../../src/errors.js';
import {
  parseKeywordArgs,
  quoteString,
  scanKnownKeywords,
  splitArgs,
  startsAt,
  unquoteString,
} from '../../src/control/keyword-args.js';

/** Asserts that `fn` throws a TorProtocolError (code TOR_PROTOCOL_ERROR). */
function assertProtocolError(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof TorProtocolError && err.code === 'TOR_PROTOCOL_ERROR');
}

describe('keyword-args', () => {
  describe('splitArgs', () => {
    const cases: Array<[string, string[]]> = [
      ['', []],
      ['   ', []],
      ['a', ['a']],
      ['a b  c ', ['a', 'b', 'c']],
      ['  lead trail  ', ['lead', 'trail']],
      ['"b c" d', ['"b c"', 'd']],
      ['K="d e" L=f', ['K="d e"', 'L=f']],
      ['K="say \\"hi there\\"" x', ['K="say \\"hi there\\""', 'x']],
      ['K="ends with backslash \\\\" y', ['K="ends with backslash \\\\"', 'y']],
      ['$FP=nick X=a=b', ['$FP=nick', 'X=a=b']],
      ['K=a"b c', ['K=a"b', 'c']],
      ['K=', ['K=']],
    ];
    for (const [text, expected] of cases) {
      it(`splits ${JSON.stringify(text)}`, () => {
        assert.deepEqual(splitArgs(text), expected);
      });
    }

    it('rejects an unterminated quoted string', () => {
      assertProtocolError(() => splitArgs('a K="never closed'));
      assertProtocolError(() => splitArgs('"open'));
      assertProtocolError(() => splitArgs('K="escaped close\\"'));
    });

    it('rejects text glued to a closing quote', () => {
      assertProtocolError(() => splitArgs('K="a"b'));
    });
  });

  describe('parseKeywordArgs', () => {
    it('splits positional arguments and keywords, unquoting values', () => {
      const args = parseKeywordArgs('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"', 2);
      assert.deepEqual(args.positional, ['NOTICE', 'BOOTSTRAP']);
      assert.deepEqual({ ...args.keywords }, { PROGRESS: '100', TAG: 'done', SUMMARY: 'Done' });
    });

    it('keeps the first positionalCount tokens positional even if they contain =', () => {
      const args = parseKeywordArgs('$AAAA=nick NEW K=v', 1);
      assert.deepEqual(args.positional, ['$AAAA=nick', 'NEW']);
      assert.deepEqual({ ...args.keywords }, { K: 'v' });
    });

    it('treats tokens that are not pairs as positional, after keywords too', () => {
      const args = parseKeywordArgs('A=1 loose "quoted arg" B=2 $X=y');
      assert.deepEqual(args.positional, ['loose', 'quoted arg', '$X=y']);
      assert.deepEqual({ ...args.keywords }, { A: '1', B: '2' });
    });

    it('splits a key at its first = only', () => {
      const args = parseKeywordArgs('CountrySummary=us=16,de=8 IPVersions=v4=16,v6=40');
      assert.deepEqual({ ...args.keywords }, { CountrySummary: 'us=16,de=8', IPVersions: 'v4=16,v6=40' });
    });

    it('keeps the last value of a repeated key and accepts empty values', () => {
      const args = parseKeywordArgs('K=1 K=2 E= Q=""');
      assert.deepEqual({ ...args.keywords }, { K: '2', E: '', Q: '' });
    });

    it('is safe for keys like __proto__ and constructor', () => {
      const args = parseKeywordArgs('__proto__=x constructor=y toString=z');
      assert.equal(Object.getPrototypeOf(args.keywords), null);
      assert.equal(args.keywords['__proto__'], 'x');
      assert.equal(args.keywords['constructor'], 'y');
      assert.equal(args.keywords['toString'], 'z');
    });

    it('decodes C escapes in quoted values (control-spec 2.1.1)', () => {
      const args = parseKeywordArgs('M="line1\\nline2\\ttab\\r\\\\ \\"q\\" \\\'s\\\' \\x"');
      assert.equal(args.keywords['M'], 'line1\nline2\ttab\r\\ "q" \'s\' x');
    });

    it('throws TorProtocolError only for malformed quoting', () => {
      assertProtocolError(() => parseKeywordArgs('A=1 B="x'));
    });
  });

  describe('unquoteString', () => {
    const cases: Array<[string, string]> = [
      ['""', ''],
      ['"plain"', 'plain'],
      ['"with space"', 'with space'],
      ['"\\"q\\""', '"q"'],
      ['"back\\\\slash"', 'back\\slash'],
      ['"a\\nb\\tc\\rd"', 'a\nb\tc\rd'],
      ['"\\101\\102C"', 'ABC'],
      ['"\\0"', '\0'],
      ['"\\303\\251t\\303\\251"', 'été'], // UTF-8 bytes escaped one by one, as tor writes them
      ['"\\377\\376"', '\u00ff\u00fe'], // not UTF-8: one character per byte
      ['"\\1234"', 'S4'], // at most three octal digits
      ['"\\400"', ' 0'], // \40 then a literal 0 (\400 would exceed 255)
      ['"\\8\\q"', '8q'], // a backslash before other characters stands for them
      ['"\\7"', '\x07'],
    ];
    for (const [quoted, expected] of cases) {
      it(`unquotes ${quoted}`, () => {
        assert.equal(unquoteString(quoted), expected);
      });
    }

    const bad = ['', 'x', '"', 'noquotes', '"open', '"a"b', '"a" ', '"a\\"', 'a"b"'];
    for (const quoted of bad) {
      it(`rejects ${JSON.stringify(quoted)} with TorProtocolError`, () => {
        assertProtocolError(() => unquoteString(quoted));
      });
    }
  });

  describe('quoteString', () => {
    const cases: Array<[string, string]> = [
      ['', '""'],
      ['plain', '"plain"'],
      ['my "pass"', '"my \\"pass\\""'],
      ['a\\b', '"a\\\\b"'],
      ['l1\r\nl2\tx', '"l1\\r\\nl2\\tx"'],
      ['\\0', '"\\\\0"'],
    ];
    for (const [value, expected] of cases) {
      it(`quotes ${JSON.stringify(value)}`, () => {
        assert.equal(quoteString(value), expected);
      });
    }

    it('never leaves CR or LF in its output', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (s) => {
          const q = quoteString(s);
          assert.ok(!q.includes('\r') && !q.includes('\n'));
        }),
        { numRuns: 2000 },
      );
    });

    it('round-trips any string through unquoteString', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (s) => {
          assert.equal(unquoteString(quoteString(s)), s);
        }),
        { numRuns: 2000 },
      );
    });

    it('round-trips strings full of escape-like characters', () => {
      const tricky = fc.string({ unit: fc.constantFrom('\\', '"', 'n', 't', 'r', '0', '7', '3', ' ', '\n', '\r', '\t', '=') });
      fc.assert(
        fc.property(tricky, (s) => {
          assert.equal(unquoteString(quoteString(s)), s);
        }),
        { numRuns: 2000 },
      );
    });

    it('round-trips as a keyword value between other arguments', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
          const args = parseKeywordArgs(`POS K=${quoteString(a)} ${quoteString(b)} L=x`, 1);
          assert.equal(args.keywords['K'], a);
          assert.equal(args.keywords['L'], 'x');
          assert.deepEqual(args.positional, ['POS', b]);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('robustness', () => {
    it('throws nothing but TorProtocolError for arbitrary text', () => {
      const text = fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: fc.constantFrom('"', '\\', '=', ' ', 'K', '1', '$', '~') }),
      );
      fc.assert(
        fc.property(text, fc.nat(4), (t, n) => {
          for (const fn of [() => parseKeywordArgs(t, n), () => splitArgs(t), () => unquoteString(t)]) {
            try {
              fn();
            } catch (err) {
              assert.ok(err instanceof TorProtocolError, `unexpected ${String(err)}`);
            }
          }
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('scanKnownKeywords', () => {
    const KEYS = ['A=', 'BB=', 'CCC='] as const;
    function scan(text: string): { known: string[]; unknown: string[] } {
      const out = { known: [] as string[], unknown: [] as string[] };
      scanKnownKeywords(
        text,
        0,
        KEYS,
        out,
        (o, i, t, s, e) => o.known.push(`${KEYS[i]}${t.slice(s, e)}`),
        (o, k, v) => o.unknown.push(`${k}=${v}`),
      );
      return out;
    }

    it('matches known keys in any order and hands values over unquoted', () => {
      assert.deepEqual(scan('CCC=3 A="x y" BB=2 A=\'q\''), {
        known: ['CCC=3', 'A=x y', 'BB=2', "A='q'"],
        unknown: [],
      });
    });

    it('unescapes quoted values that contain escapes', () => {
      assert.deepEqual(scan('A="a\\"b\\nc"').known, ['A=a"b\nc']);
    });

    it('routes unknown keys to the unknown sink and skips positional tokens', () => {
      assert.deepEqual(scan('positional AA=1 A=2 "quoted thing" Z="z z" $F=n'), {
        known: ['A=2'],
        unknown: ['AA=1', 'Z=z z'],
      });
    });

    it('does not mistake a key for a longer one sharing its prefix', () => {
      assert.deepEqual(scan('BBB=1 BB=2 AB=3 A_=4'), { known: ['BB=2'], unknown: ['BBB=1', 'AB=3', 'A_=4'] });
    });

    it('reads a key at the very end of the text and empty values', () => {
      assert.deepEqual(scan('A= BB=""'), { known: ['A=', 'BB='], unknown: [] });
      assert.deepEqual(scan('x CCC'), { known: [], unknown: [] });
    });

    it('rejects malformed quoting', () => {
      assertProtocolError(() => scan('A="open'));
      assertProtocolError(() => scan('A="x"y'));
    });
  });

  it('startsAt checks a substring at a position', () => {
    const text = 'xx CIRC 1 BUILT'.slice(3);
    assert.equal(startsAt(text, 0, 'CIRC'), true);
    assert.equal(startsAt(text, 7, 'BUILT'), true);
    assert.equal(startsAt(text, 1, 'CIRC'), false);
    assert.equal(startsAt(text, 0, 'BUILT'), false);
  });
});
