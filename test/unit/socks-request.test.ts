import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import { bytesToIp, ipToBytes } from '../../src/socks/ip-bytes.js';
import { splitQuotedList } from '../../src/control/listener-addresses.js';
import { parseSocksHostname, parseSocksListeners, parseSocksPortOption } from '../../src/socks/socks-address.js';
import { ISOLATE_USERNAME, parseSocksHost, parseSocksTarget, socksCredentials } from '../../src/socks/socks-request.js';

describe('socks request validation', () => {
  describe('targets', () => {
    const good: Array<[unknown, unknown, string, number, 1 | 3 | 4]> = [
      ['127.0.0.1', 80, '127.0.0.1', 80, 1],
      ['::1', 443, '::1', 443, 4],
      ['[2001:db8::1]', 8080, '2001:db8::1', 8080, 4],
      ['example.com', 1, 'example.com', 1, 3],
      ['pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion', 65535, 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion', 65535, 3],
      ['bücher.example', '80', 'xn--bcher-kva.example', 80, 3],
    ];
    for (const [host, port, h, p, t] of good) {
      it(`accepts ${String(host)}:${String(port)}`, () => {
        assert.deepEqual(parseSocksTarget({ host, port }), { host: h, port: p, addressType: t });
      });
    }
    const bad: Array<[unknown, unknown, RegExp]> = [
      ['', 80, /non-empty/],
      [undefined, 80, /non-empty/],
      ['a b', 80, /whitespace/],
      ['a\r\nb', 80, /whitespace or control/],
      ['x'.repeat(256), 80, /255/],
      ['fe80::1%eth0', 80, /zone id/],
      ['h', 0, /1-65535/],
      ['h', 65536, /1-65535/],
      ['h', 1.5, /1-65535/],
      ['h', '80a', /1-65535/],
      // A URL or host:port where the host goes: tor refuses such a name as malformed and answers
      // a general failure, which read as a broken circuit.
      ['example.com:80', 80, /not a hostname: it contains ":"/],
      ['[example.com]', 80, /not a hostname: it contains "\["/],
      ['http://example.com', 80, /not a hostname: it contains ":"/],
      ['example.com/path', 80, /not a hostname: it contains "\/"/],
      ['user:secret@example.com', 80, /not a hostname: it contains ":"/],
      ['a@b', 80, /not a hostname: it contains "@"/],
      ['a?b', 80, /not a hostname/],
      ['a#b', 80, /not a hostname/],
      ['a\\b', 80, /not a hostname/],
    ];
    for (const [host, port, re] of bad) {
      it(`refuses ${JSON.stringify(host)?.slice(0, 20)}:${String(port)}`, () => {
        assert.throws(() => parseSocksTarget({ host, port }), (e: unknown) => e instanceof TorInvalidValueError && re.test(e.message));
      });
    }
    it('a refused name is not shown in the message (it may hold credentials)', () => {
      assert.throws(() => parseSocksHost('user:secret@example.com'), (e: unknown) => e instanceof TorInvalidValueError && !e.message.includes('secret'));
    });
    it('resolve refuses such a name too', () => {
      assert.throws(() => parseSocksHost('example.com:80', 'name'), (e: unknown) => e instanceof TorInvalidValueError && /invalid name: is not a hostname/.test(e.message));
    });
    it('a 255-byte name is the longest accepted', () => {
      assert.equal(parseSocksHost('a'.repeat(255)).host.length, 255);
    });
    it('a target object with a key of the options refuses it (tls: true would have connected without TLS; found by QA)', () => {
      assert.throws(() => parseSocksTarget({ host: '127.0.0.1', port: 80, tls: true } as never), (e: unknown) => e instanceof TorInvalidValueError && /target: is \{ host, port \}; "tls" is no part of it/.test(e.message));
      assert.deepEqual(parseSocksTarget({ host: '127.0.0.1', port: 80, tls: undefined } as never), { host: '127.0.0.1', port: 80, addressType: 1 });
    });
    it("a fully qualified name's final dot is dropped: tor fails '<id>.onion.' with a general failure (found by QA)", () => {
      const onion = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';
      assert.equal(parseSocksHost(`${onion}.`).host, onion);
      assert.equal(parseSocksHost('example.com.').host, 'example.com');
      assert.equal(parseSocksHost('.').host, '.', 'a lone dot is left to tor');
      assert.equal(parseSocksHost('a..').host, 'a..', 'an empty label is left to tor');
    });
  });

  describe('isolation credentials', () => {
    it('isolate=TOKEN is username torcon-isolate with the token as password', () => {
      assert.deepEqual(socksCredentials({ isolate: 'alice' }), { username: ISOLATE_USERNAME, password: 'alice' });
      assert.equal(ISOLATE_USERNAME, 'torcon-isolate');
    });
    const token = fc.string({ minLength: 1, maxLength: 60 }).filter((t) => !/[\r\n\0]/.test(t));
    it('different tokens give different credentials, equal tokens equal ones', () => {
      fc.assert(
        fc.property(token, token, (a, b) => {
          const ca = socksCredentials({ isolate: a });
          const cb = socksCredentials({ isolate: b });
          assert.equal(JSON.stringify(ca) === JSON.stringify(cb), a === b);
        }),
      );
    });
    it('username/password pass through unchanged', () => {
      assert.deepEqual(socksCredentials({ username: 'u', password: 'p' }), { username: 'u', password: 'p' });
      assert.deepEqual(socksCredentials({ username: 'u' }), { username: 'u', password: '' });
    });
    it('no options, no credentials', () => {
      assert.equal(socksCredentials({}), undefined);
    });
    it('refuses isolate with username/password, without showing either', () => {
      assert.throws(
        () => socksCredentials({ isolate: 'tok-secret', password: 'pw-secret' }),
        (e: unknown) => e instanceof TorInvalidValueError && !/secret/.test(e.message),
      );
    });
    it('refuses over-long and empty tokens without showing them', () => {
      for (const isolate of ['', 'S'.repeat(256)]) {
        assert.throws(
          () => socksCredentials({ isolate }),
          (e: unknown) => e instanceof TorInvalidValueError && /bytes long/.test(e.message) && !e.message.includes('SSS'),
        );
      }
      assert.throws(() => socksCredentials({ password: 'é'.repeat(128) }), /255 bytes/);
    });
    it('refuses CR, LF and NUL in every credential (as endpoint strings do), naming the field, not the value', () => {
      for (const bad of ['tok\r\nSECRET', 'tok\nSECRET', 'tok\0SECRET', '\0']) {
        for (const [opts, field] of [
          [{ isolate: bad }, 'isolate'],
          [{ username: bad, password: 'p' }, 'username'],
          [{ username: 'u', password: bad }, 'password'],
        ] as const) {
          assert.throws(
            () => socksCredentials(opts),
            (e: unknown) => e instanceof TorInvalidValueError && e.message.includes(field) && /CR, LF or NUL/.test(e.message) && !e.message.includes('SECRET'),
          );
        }
      }
    });
  });

  describe('SOCKS port options and tor listeners', () => {
    it('reads ports, paths and unix: paths', () => {
      assert.deepEqual(parseSocksPortOption(9050), { host: '127.0.0.1', port: 9050 });
      assert.deepEqual(parseSocksPortOption('9150'), { host: '127.0.0.1', port: 9150 });
      assert.deepEqual(parseSocksPortOption(9050, '::1'), { host: '::1', port: 9050 });
      assert.deepEqual(parseSocksPortOption('/run/tor/socks'), { path: '/run/tor/socks' });
      assert.deepEqual(parseSocksPortOption('unix:/run/tor/socks'), { path: '/run/tor/socks' });
    });
    it('refuses bad ports, relative paths and hostnames that would need DNS', () => {
      for (const p of [0, 65536, 'abc', 'unix:relative', -1]) {
        assert.throws(() => parseSocksPortOption(p), TorInvalidValueError);
      }
      assert.throws(() => parseSocksPortOption(9050, 'tor.example'), /must be an IP/);
      assert.throws(() => parseSocksPortOption('/x', '127.0.0.1'), /unix socket/);
      assert.equal(parseSocksHostname('localhost'), '127.0.0.1');
      assert.equal(parseSocksHostname('[::1]'), '::1');
    });
    it('splits quoted lists with escapes', () => {
      assert.deepEqual(splitQuotedList('"a" "b c" "d\\"e" "f\\\\g" "\\101"'), ['a', 'b c', 'd"e', 'f\\g', 'A']);
      assert.deepEqual(splitQuotedList(''), []);
      assert.deepEqual(splitQuotedList('bare "q"'), ['bare', 'q']);
      assert.throws(() => splitQuotedList('"open'), TorProtocolError);
    });
    it('parses GETINFO net/listeners/socks', () => {
      assert.deepEqual(parseSocksListeners('"127.0.0.1:9050" "unix:/run/tor/socks" "[::1]:9150"'), [
        { host: '127.0.0.1', port: 9050 },
        { path: '/run/tor/socks' },
        { host: '::1', port: 9150 },
      ]);
      assert.deepEqual(parseSocksListeners('"0.0.0.0:9050" "[::]:9051"'), [
        { host: '127.0.0.1', port: 9050 },
        { host: '::1', port: 9051 },
      ]);
      assert.deepEqual(parseSocksListeners(''), []);
      assert.deepEqual(parseSocksListeners('"garbage" "1.2.3.4:0"'), []);
    });
  });

  describe('IP address bytes', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', '7f000001'],
      ['::1', '00000000000000000000000000000001'],
      ['::', '00000000000000000000000000000000'],
      ['2001:db8::ff00:42:8329', '20010db8000000000000ff0000428329'],
      ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
      ['1::', '00010000000000000000000000000000'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ];
    for (const [ip, hex] of cases) {
      it(`${ip} <-> ${hex}`, () => {
        assert.equal(ipToBytes(ip).toString('hex'), hex);
      });
    }
    it('formats IPv6 in RFC 5952 form', () => {
      assert.equal(bytesToIp(Buffer.from('20010db8000000000000ff0000428329', 'hex')), '2001:db8::ff00:42:8329');
      assert.equal(bytesToIp(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1');
      assert.equal(bytesToIp(Buffer.from('20010db8000100000001000100010001', 'hex')), '2001:db8:1:0:1:1:1:1');
      assert.equal(bytesToIp(Buffer.from([10, 0, 0, 255])), '10.0.0.255');
    });
    it('round-trips any 4 or 16 bytes', () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (bytes) => {
          const text = bytesToIp(bytes);
          assert.ok(net.isIP(text) !== 0, text);
          assert.deepEqual([...ipToBytes(text)], [...bytes]);
        }),
      );
    });
    it('refuses non-addresses', () => {
      assert.throws(() => ipToBytes('example.com'), TorInvalidValueError);
      assert.throws(() => ipToBytes('fe80::1%eth0'), TorInvalidValueError);
    });
  });
});
