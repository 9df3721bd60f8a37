import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  fingerprintToIdentity,
  forEachRouterStatus,
  identityToFingerprint,
  parseRouterStatuses,
  readDocumentLines,
  type ConsensusParseProblem,
} from '../../src/state/consensus-parser.js';
import { parseExitPolicySummary, summaryAcceptsPort } from '../../src/state/exit-policy.js';
import type { Location } from '../../src/state/geoip-types.js';
import { Router } from '../../src/state/router.js';
import { TorAbortError, TorInvalidValueError, TorTimeoutError } from '../../src/errors.js';
import { RouterMap } from '../../src/state/router-map.js';
import { RECORDED_INFO, RECORDED_RELAYS } from './state-recorded-session.js';

/** Base64 of 20 bytes without padding, as consensus `r` lines write identities. */
function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function identity(seed: string): { bytes: Buffer; fingerprint: string; base64: string } {
  const bytes = createHash('sha1').update(seed).digest();
  return { bytes, fingerprint: bytes.toString('hex').toUpperCase(), base64: b64(bytes) };
}

describe('state: identityToFingerprint', () => {
  it('decodes the identities of the recorded test network', () => {
    assert.equal(identityToFingerprint('KxVT/0PleH8W72TiORgzX47o5GQ'), RECORDED_RELAYS['auth1']);
    assert.equal(identityToFingerprint('ZJ3aCvrkrTdVmqjWuctcFIaKvPY'), RECORDED_RELAYS['auth0']);
  });

  it('accepts trailing padding and a sub-range of a longer text', () => {
    const text = 'r x KxVT/0PleH8W72TiORgzX47o5GQ= y';
    assert.equal(identityToFingerprint(text, 4, 32), RECORDED_RELAYS['auth1']);
  });

  it('rejects what is not the base64 of exactly 20 bytes', () => {
    for (const bad of ['', 'KxVT', 'KxVT/0PleH8W72TiORgzX47o5GQAAAA', 'KxVT/0PleH8W72TiORgzX47o5G!', 'KxVT/0PleH8W72TiORgzX47o5GQ=x']) {
      assert.equal(identityToFingerprint(bad), null, bad);
    }
  });

  it('agrees with Buffer for any 20 bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (arr) => {
        const bytes = Buffer.from(arr);
        assert.equal(identityToFingerprint(b64(bytes)), bytes.toString('hex').toUpperCase());
      }),
    );
  });
});

describe('state: fingerprintToIdentity and RouterMap', () => {
  it('inverts identityToFingerprint (property), accepting lower-case hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (arr) => {
        const bytes = Buffer.from(arr);
        const hex = bytes.toString('hex').toUpperCase();
        assert.equal(fingerprintToIdentity(hex), b64(bytes));
        assert.equal(fingerprintToIdentity(hex.toLowerCase()), b64(bytes));
        assert.equal(identityToFingerprint(fingerprintToIdentity(hex)!), hex);
      }),
    );
  });

  it('rejects what is not 40 hex digits', () => {
    for (const bad of ['', 'ABC', 'G'.repeat(40), 'A'.repeat(39), 'A'.repeat(41), '$' + 'A'.repeat(39), 'é'.repeat(40)]) {
      assert.equal(fingerprintToIdentity(bad), null, bad);
    }
  });

  it('behaves as a map by fingerprint while storing by identity', () => {
    const map = new RouterMap();
    for (const r of parseRouterStatuses(RECORDED_INFO['ns/all']!)) map.add(r);
    const fp = RECORDED_RELAYS['auth1']!;
    assert.equal(map.size, 4);
    assert.equal(map.get(fp)?.nickname, 'auth1');
    assert.equal(map.get(fp.toLowerCase())?.nickname, 'auth1');
    assert.equal(map.getByIdentity('KxVT/0PleH8W72TiORgzX47o5GQ')?.nickname, 'auth1');
    assert.ok(map.has(fp));
    assert.ok(!map.has('0'.repeat(40)));
    assert.equal(map.get('not a fingerprint'), undefined);
    assert.deepEqual([...map.keys()].sort(), Object.values(RECORDED_RELAYS).sort());
    assert.deepEqual([...map].map(([k, r]) => k === r.fingerprint), [true, true, true, true]);
    const seen: string[] = [];
    map.forEach((r, k, m) => {
      assert.equal(m, map);
      seen.push(`${r.nickname}:${k === r.fingerprint}`);
    });
    assert.equal(seen.length, 4);
    assert.ok(map.delete(fp));
    assert.ok(!map.delete(fp));
    assert.equal(map.size, 3);
    map.clear();
    assert.equal(map.size, 0);
  });

  it('gives a placeholder router both forms of its key', () => {
    const fp = RECORDED_RELAYS['auth0']!;
    const r = Router.unlisted(fp, 'x');
    assert.equal(r.fingerprint, fp);
    assert.equal(r.identity, 'ZJ3aCvrkrTdVmqjWuctcFIaKvPY');
  });
});

describe('state: consensus parser', () => {
  it('reads the recorded ns/all of the test network (full flavor)', () => {
    const routers = parseRouterStatuses(RECORDED_INFO['ns/all']!);
    assert.deepEqual(routers.map((r) => r.nickname).sort(), ['auth0', 'auth1', 'auth2', 'auth3']);
    const auth1 = routers.find((r) => r.nickname === 'auth1')!;
    assert.equal(auth1.fingerprint, RECORDED_RELAYS['auth1']);
    assert.equal(auth1.address, '127.0.0.1');
    assert.equal(auth1.orPort, 24380);
    assert.equal(auth1.dirPort, 24381);
    assert.equal(auth1.descriptorDigest, 'eEDSo0M7q1To+qCsJL8lNgNhdRM');
    assert.deepEqual([...auth1.flags], ['Authority', 'Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'V2Dir', 'Valid']);
    assert.ok(auth1.hasFlag('Guard'));
    assert.equal(auth1.bandwidth, 0);
    assert.deepEqual(auth1.exitPolicy, { policy: 'reject', ranges: [[1, 65535]] });
    assert.equal(auth1.acceptsPort(80), false);
    // A reject summary lists what it refuses; a port that does not exist is no answer but an error.
    for (const bad of [0, -1, 65536, 70000, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '80' as never]) {
      assert.throws(() => auth1.acceptsPort(bad), (e: unknown) => e instanceof TorInvalidValueError, String(bad));
    }
    // A microdesc-flavor consensus (consensus method 33 and later) puts "2038-01-01 00:00:00" on every
    // r line (dir-spec 3.8.1): a placeholder, not the time the relay published its descriptor.
    assert.ok(RECORDED_INFO['ns/all']!.includes(' 2038-01-01 00:00:00 '));
    assert.equal(auth1.published, undefined);
    assert.equal(auth1.ipv6.length, 0);
    assert.equal(auth1.longName, `$${RECORDED_RELAYS['auth1']}~auth1`);
  });

  it('reads every item of a full-flavor entry, CRLF line ends included', () => {
    const id = identity('relay-a');
    const text = [
      `r relayA ${id.base64} ${b64(identity('digest-a').bytes)} 2024-05-06 07:08:09 198.51.100.7 9001 9030`,
      'a [2001:db8::7]:9001',
      'a [2001:db8::8]:443',
      's Exit Fast Guard Running Stable V2Dir Valid',
      'v Tor 0.4.8.12',
      'pr Conflux=1 Cons=1-2 Desc=1-2 Link=1-5 Relay=1-4',
      'w Bandwidth=12345 Measured=12000 Unmeasured=1 Future=7',
      'p accept 80,443,6660-6669',
      'unknown-item with arguments',
      '',
    ].join('\r\n');
    const [r] = parseRouterStatuses(text);
    assert.ok(r);
    assert.equal(r.fingerprint, id.fingerprint);
    assert.equal(r.nickname, 'relayA');
    assert.equal(r.address, '198.51.100.7');
    assert.equal(r.orPort, 9001);
    assert.equal(r.dirPort, 9030);
    assert.deepEqual(r.ipv6, ['[2001:db8::7]:9001', '[2001:db8::8]:443']);
    assert.equal(r.version, '0.4.8.12');
    assert.equal(r.protocols, 'Conflux=1 Cons=1-2 Desc=1-2 Link=1-5 Relay=1-4');
    assert.equal(r.bandwidth, 12345);
    assert.equal(r.measured, 12000);
    assert.equal(r.unmeasured, true);
    assert.ok(r.flags.has('Exit'));
    assert.ok(!r.flags.has('Authority'));
    assert.equal(r.acceptsPort(443), true);
    assert.equal(r.acceptsPort(6665), true);
    assert.equal(r.acceptsPort(22), false);
    assert.equal(r.published?.toISOString(), '2024-05-06T07:08:09.000Z');
  });

  it('reads a whole microdescriptor-flavor consensus document (r lines without digest; header, m lines and footer skipped)', () => {
    const a = identity('md-a');
    const b = identity('md-b');
    const doc = [
      'network-status-version 3 microdesc',
      'vote-status consensus',
      'consensus-method 33',
      'valid-after 2024-05-06 07:00:00',
      'known-flags Authority BadExit Exit Fast Guard HSDir Running Stable V2Dir Valid',
      'params CircuitPriorityHalflifeMsec=30000',
      'dir-source auth0 0000000000000000000000000000000000000000 127.0.0.1 127.0.0.1 7000 5000',
      'contact someone',
      'vote-digest 0000000000000000000000000000000000000000',
      `r mdA ${a.base64} 2024-05-05 23:59:59 203.0.113.1 443 0`,
      'a [2001:db8::1]:443',
      'm Mtbp1zRfR1ZHr4PYSqr8yhAqZ4YBbC5ykwlVgC1E1Kc',
      's Fast Running Stable Valid',
      'v Tor 0.4.9.1',
      'pr Cons=1-2',
      'w Bandwidth=20',
      `r mdB ${b.base64} 2024-05-05 23:59:58 203.0.113.2 9001 9030`,
      'm Qd6d0cZ8Yq6J3sZ6m4dVQ0f5F9zH2Y5lN6JtV9R1v2A',
      's Exit Fast Guard Running Valid',
      'w Bandwidth=30 Unmeasured=1',
      'directory-footer',
      'bandwidth-weights Wbd=0 Wbe=0',
      'directory-signature sha256 0000000000000000000000000000000000000000 0000000000000000000000000000000000000000',
      '-----BEGIN SIGNATURE-----',
      'r this is not an entry',
      '-----END SIGNATURE-----',
    ].join('\n');
    const problems: ConsensusParseProblem[] = [];
    const routers = parseRouterStatuses(doc, { onProblem: (p) => problems.push(p) });
    assert.deepEqual(
      routers.map((r) => [r.nickname, r.fingerprint, r.address, r.orPort, r.dirPort, r.descriptorDigest, r.bandwidth]),
      [
        ['mdA', a.fingerprint, '203.0.113.1', 443, 0, undefined, 20],
        ['mdB', b.fingerprint, '203.0.113.2', 9001, 9030, undefined, 30],
      ],
    );
    assert.deepEqual(routers[0]!.ipv6, ['[2001:db8::1]:443']);
    assert.equal(routers[0]!.published?.toISOString(), '2024-05-05T23:59:59.000Z');
    assert.equal(routers[1]!.unmeasured, true);
    // No p line in microdesc consensuses: no summary (until TorState.loadExitPolicies reads the
    // microdescriptors), so no port is known to be accepted.
    assert.equal(routers[1]!.exitPolicy, undefined);
    assert.equal(routers[1]!.acceptsPort(80), false);
    // The signature's "r" line is after the footer: not an entry, and not even looked at.
    assert.deepEqual(problems, []);
    // What TorState.loadRouterVersions and loadExitPolicies take from such a document.
    assert.deepEqual(
      [...readDocumentLines(doc)],
      [
        [a.base64, { version: '0.4.9.1', protocols: 'Cons=1-2', microdescDigest: 'Mtbp1zRfR1ZHr4PYSqr8yhAqZ4YBbC5ykwlVgC1E1Kc' }],
        [b.base64, { version: undefined, protocols: undefined, microdescDigest: 'Qd6d0cZ8Yq6J3sZ6m4dVQ0f5F9zH2Y5lN6JtV9R1v2A' }],
      ],
    );
    assert.equal(routers[1]!.microdescDigest, 'Qd6d0cZ8Yq6J3sZ6m4dVQ0f5F9zH2Y5lN6JtV9R1v2A');
  });

  it('skips malformed r lines (and the items after them) and reports each', () => {
    const good = identity('good');
    const text = [
      'r short KxVT/0PleH8W72TiORgzX47o5GQ 2024-01-01',
      's Exit',
      `r badid notbase64!! ${good.base64} 2024-01-01 00:00:00 1.2.3.4 1 2`,
      `r badport ${good.base64} 2024-01-01 00:00:00 1.2.3.4 70000 0`,
      `r good ${good.base64} 2024-01-01 00:00:00 1.2.3.4 9001 0`,
      's Fast',
    ].join('\n');
    const problems: ConsensusParseProblem[] = [];
    const routers = parseRouterStatuses(text, { onProblem: (p) => problems.push(p) });
    assert.deepEqual(routers.map((r) => r.nickname), ['good']);
    assert.deepEqual([...routers[0]!.flags], ['Fast']);
    assert.deepEqual(problems.map((p) => p.line), [1, 3, 4]);
    for (const p of problems) assert.ok(p.reason.length > 0);
  });

  it('returns nothing for empty input and counts what it yields', () => {
    assert.deepEqual(parseRouterStatuses(''), []);
    let n = 0;
    assert.equal(forEachRouterStatus(RECORDED_INFO['ns/all']!, () => n++), 4);
    assert.equal(n, 4);
  });

  it('round-trips generated entries in both flavors (property)', () => {
    const entry = fc.record({
      id: fc.uint8Array({ minLength: 20, maxLength: 20 }),
      nickname: fc.stringMatching(/^[A-Za-z0-9]{1,19}$/),
      ip: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.')),
      orPort: fc.integer({ min: 1, max: 65535 }),
      dirPort: fc.integer({ min: 0, max: 65535 }),
      flags: fc.subarray(['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'Valid', 'NewFlag']),
      bandwidth: fc.option(fc.nat(2 ** 32 - 1), { nil: undefined }),
      micro: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
        const text = entries
          .map((e) => {
            const id = b64(Buffer.from(e.id));
            const r = e.micro
              ? `r ${e.nickname} ${id} 2024-01-01 00:00:00 ${e.ip} ${e.orPort} ${e.dirPort}`
              : `r ${e.nickname} ${id} AAAAAAAAAAAAAAAAAAAAAAAAAAA 2024-01-01 00:00:00 ${e.ip} ${e.orPort} ${e.dirPort}`;
            const lines = [r, `s ${e.flags.join(' ')}`];
            if (e.bandwidth !== undefined) lines.push(`w Bandwidth=${e.bandwidth}`);
            return lines.join('\n');
          })
          .join('\n');
        const routers = parseRouterStatuses(text);
        assert.equal(routers.length, entries.length);
        routers.forEach((r, i) => {
          const e = entries[i]!;
          assert.equal(r.fingerprint, Buffer.from(e.id).toString('hex').toUpperCase());
          assert.equal(r.nickname, e.nickname);
          assert.equal(r.address, e.ip);
          assert.equal(r.orPort, e.orPort);
          assert.equal(r.dirPort, e.dirPort);
          assert.deepEqual([...r.flags], e.flags);
          assert.equal(r.bandwidth, e.bandwidth);
          assert.equal(r.descriptorDigest, e.micro ? undefined : 'AAAAAAAAAAAAAAAAAAAAAAAAAAA');
        });
      }),
    );
  });
});

describe('state: exit-policy summaries', () => {
  it('parses accept and reject lists with ranges', () => {
    assert.deepEqual(parseExitPolicySummary('accept 80,443,1000-2000'), {
      policy: 'accept',
      ranges: [
        [80, 80],
        [443, 443],
        [1000, 2000],
      ],
    });
    assert.deepEqual(parseExitPolicySummary('p reject 1-65535', 2), { policy: 'reject', ranges: [[1, 65535]] });
  });

  it('rejects malformed summaries', () => {
    for (const bad of ['', 'allow 80', 'accept ', 'accept 80,', 'accept 80-', 'accept 90-80', 'accept 70000', 'accept 80;443', 'accept 123456']) {
      assert.equal(parseExitPolicySummary(bad), null, bad);
    }
  });

  it('answers acceptsPort as the list says (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 500 })), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 65535 }),
        (pairs, accept, port) => {
          const ranges = pairs.map(([lo, len]) => [lo, Math.min(65535, lo + len)] as const);
          const text = `${accept ? 'accept' : 'reject'} ${ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',')}`;
          const summary = parseExitPolicySummary(text);
          assert.ok(summary);
          const listed = ranges.some(([lo, hi]) => port >= lo && port <= hi);
          assert.equal(summaryAcceptsPort(summary, port), accept ? listed : !listed);
        },
      ),
    );
  });
});

describe('state: Router', () => {
  it('looks its location up once through its context, and again after a failure', async () => {
    const calls: string[] = [];
    let fail = true;
    const context = {
      locate: async (ip: string): Promise<Location> => {
        calls.push(ip);
        if (fail) throw new Error('database not ready');
        return { countryCode: 'DE', city: 'Berlin' };
      },
    };
    const [r] = parseRouterStatuses(RECORDED_INFO['ns/all']!, { context });
    await assert.rejects(r!.location(), /database not ready/);
    fail = false;
    assert.deepEqual(await r!.location(), { countryCode: 'DE', city: 'Berlin' });
    assert.deepEqual(await r!.location(), { countryCode: 'DE', city: 'Berlin' });
    assert.deepEqual(calls, ['127.0.0.1', '127.0.0.1']);
  });

  it('location: signal and timeoutMs bound the wait of this call only; the lookup goes on and is remembered; bad options are refused', async () => {
    let answer!: (l: Location) => void;
    const calls: string[] = [];
    const context = {
      locate: (ip: string): Promise<Location> => {
        calls.push(ip);
        return new Promise<Location>((resolve) => (answer = resolve));
      },
    };
    const [r] = parseRouterStatuses(RECORDED_INFO['ns/all']!, { context });
    await assert.rejects(r!.location({ signal: AbortSignal.abort('stop') }), (err: unknown) => err instanceof TorAbortError && err.cause === 'stop');
    assert.deepEqual(calls, [], 'refused before looking anything up');
    const controller = new AbortController();
    const aborted = r!.location({ signal: controller.signal });
    const patient = r!.location();
    controller.abort();
    await assert.rejects(aborted, TorAbortError);
    await assert.rejects(r!.location({ timeoutMs: 0 }), TorTimeoutError);
    answer({ countryCode: 'SE' });
    assert.deepEqual(await patient, { countryCode: 'SE' }, 'the lookup went on for the caller without a signal');
    assert.deepEqual(await r!.location({ timeoutMs: 0 }), { countryCode: 'SE' }, 'remembered: no wait');
    assert.deepEqual(calls, ['127.0.0.1']);
    for (const bad of [{ timeoutMs: -1 }, { signal: 'x' }, { bogus: 1 }]) {
      await assert.rejects(r!.location(bad as never), TorInvalidValueError, JSON.stringify(bad));
    }
  });

  it('gives {} for a placeholder or a router without context', async () => {
    const stub = Router.unlisted('A'.repeat(40), 'ghost');
    assert.equal(stub.listed, false);
    assert.equal(stub.nickname, 'ghost');
    assert.deepEqual(await stub.location(), {});
    assert.equal(stub.flags.size, 0);
    assert.equal(stub.acceptsPort(80), false);
    const [r] = parseRouterStatuses(RECORDED_INFO['ns/all']!);
    assert.deepEqual(await r!.location(), {});
  });
});
