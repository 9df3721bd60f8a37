import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EndpointArgumentError } from '../../src/errors.js';
import { parseEndpoint, quoteEndpointArgument } from '../../src/util/endpoint-grammar.js';
import type { ParsedEndpoint } from '../../src/util/endpoint-grammar.js';
import { parseTcpClientOptions, parseTcpServerOptions } from '../../src/plugins/tcp-plugin.js';
import { parseUnixClientOptions, parseUnixServerOptions } from '../../src/plugins/unix-plugin.js';
import { parseTorClientOptions } from '../../src/plugins/tor-plugin.js';
import { parseOnionServerOptions } from '../../src/plugins/onion-plugin.js';
import { parseTlsClientOptions, parseTlsServerOptions } from '../../src/plugins/tls-plugin.js';
import { isValidServiceId } from '../../src/onion/service-id.js';
import { joinBracketedHost, parseBoolean, parseSeconds } from '../../src/plugins/arg-validation.js';

// torproject.org's v3 onion address (a real, checksummed address used here only as a string).
const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';
const ONION_BAD_SUM = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wie.onion';
const KEY_B64 = Buffer.alloc(64, 7).toString('base64');
const KEY = `ED25519-V3:${KEY_B64}`;
const q = quoteEndpointArgument;

type Parser = (e: ParsedEndpoint) => unknown;

function accepts(parser: Parser, table: Array<[string, unknown]>): void {
  for (const [description, expected] of table) {
    it(`accepts ${JSON.stringify(description)}`, () => {
      assert.deepEqual(parser(parseEndpoint(description)), expected);
    });
  }
}

function rejects(parser: Parser, table: Array<[string, RegExp]>): void {
  for (const [description, pattern] of table) {
    it(`rejects ${JSON.stringify(description)} (${pattern.source})`, () => {
      assert.throws(
        () => parser(parseEndpoint(description)),
        (err: unknown) => {
          assert.ok(err instanceof EndpointArgumentError, `got ${String(err)}`);
          assert.equal(err.code, 'TOR_ENDPOINT_ARGUMENT');
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }
}

describe('argument helpers', () => {
  it('parses booleans in three spellings, any case', () => {
    for (const t of ['true', 'TRUE', '1', 'yes', 'Yes']) assert.equal(parseBoolean(t, 'f'), true);
    for (const f of ['false', 'False', '0', 'no', 'NO']) assert.equal(parseBoolean(f, 'f'), false);
    for (const bad of ['', 'on', 'off', '2', 'truee', 'y']) assert.throws(() => parseBoolean(bad, 'f'), EndpointArgumentError);
  });

  it('parses seconds into milliseconds and rejects non-positive or absurd values', () => {
    assert.equal(parseSeconds('1', 't'), 1000);
    assert.equal(parseSeconds('0.25', 't'), 250);
    assert.equal(parseSeconds('2147483', 't'), 2147483000);
    for (const bad of ['0', '0.0001', '-1', '1e3', 'abc', '', '2147484', '.5', '1.']) {
      assert.throws(() => parseSeconds(bad, 't'), EndpointArgumentError, bad);
    }
  });

  it('rejoins a bracketed IPv6 host that unescaped colons split', () => {
    assert.deepEqual(joinBracketedHost(['[', '', '1]', '80']), ['[::1]', '80']);
    assert.deepEqual(joinBracketedHost(['[2001', 'db8', '', '1]', '443']), ['[2001:db8::1]', '443']);
    assert.deepEqual(joinBracketedHost(['[::1]', '80']), ['[::1]', '80']);
    assert.deepEqual(joinBracketedHost(['[', '', '1', '80']), ['[', '', '1', '80'], 'unclosed: unchanged');
    assert.deepEqual(joinBracketedHost(['example.com', '80']), ['example.com', '80']);
  });

  it('never echoes what looks like a key: a privateKey whose ":" was not escaped, a key given to another option', () => {
    const blob = Buffer.alloc(64, 0xab).toString('base64'); // "q6ur...": letters and digits, as a keyword would be
    const cases = [
      `onion:80:privateKey=ED25519-V3:${blob}`,
      `onion:80:privateKey=ED25519-V3:${KEY_B64}`,
      `onion:80:clientAuth=${Buffer.alloc(32, 7).toString('base64')}`,
      `onion:80:uploadTimeout=${blob}`,
    ];
    for (const description of cases) {
      const err = (() => {
        try {
          parseOnionServerOptions(parseEndpoint(description));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(err instanceof EndpointArgumentError, description);
      for (const secret of [blob.slice(0, 24), KEY_B64.slice(0, 24), Buffer.alloc(32, 7).toString('base64').slice(0, 24)]) {
        assert.ok(!err.message.includes(secret), `${description}: ${err.message}`);
      }
      assert.match(err.message, /not shown/);
    }
    assert.throws(() => parseOnionServerOptions(parseEndpoint(`onion:80:privateKey=ED25519-V3:${blob}`)), /must be written "\\:"/);
  });

  it('verifies v3 onion checksums and versions', () => {
    assert.ok(isValidServiceId(ONION.slice(0, 56)));
    assert.ok(isValidServiceId(ONION.slice(0, 56).toUpperCase()));
    assert.ok(!isValidServiceId(ONION_BAD_SUM.slice(0, 56)));
    assert.ok(!isValidServiceId(ONION.slice(0, 55)));
    assert.ok(!isValidServiceId('1'.repeat(56)));
  });
});

describe('tcp: client options', () => {
  accepts(parseTcpClientOptions, [
    ['tcp:example.com:80', { host: 'example.com', port: 80 }],
    ['TCP:example.com:80', { host: 'example.com', port: 80 }],
    ['tcp:host=example.com:port=80', { host: 'example.com', port: 80 }],
    ['tcp:example.com:port=80', { host: 'example.com', port: 80 }],
    [
      'tcp:127.0.0.1:443:timeout=2.5:bindAddress=127.0.0.2',
      { host: '127.0.0.1', port: 443, timeoutMs: 2500, bindAddress: '127.0.0.2' },
    ],
    ['tcp:[::1]:80', { host: '::1', port: 80 }],
    ['tcp:\\:\\:1:80', { host: '::1', port: 80 }],
    ['tcp:[2001:db8::1]:8080', { host: '2001:db8::1', port: 8080 }],
    ['tcp:localhost:65535', { host: 'localhost', port: 65535 }],
    ['tcp:bücher.de:80', { host: 'xn--bcher-kva.de', port: 80 }],
    ['tcp:example.com.:80', { host: 'example.com.', port: 80 }],
    ['tcp:_srv.example.com:80', { host: '_srv.example.com', port: 80 }],
  ]);
  rejects(parseTcpClientOptions, [
    ['tcp:example.com', /missing port/],
    ['tcp:', /missing host/],
    ['tcp', /missing host/],
    ['tcp:example.com:0', /port must be an integer from 1 to 65535, got "0"/],
    ['tcp:example.com:65536', /from 1 to 65535/],
    ['tcp:example.com:8o', /port must be an integer/],
    ['tcp:example.com:+80', /port must be an integer/],
    ['tcp:example.com:80:foo=1', /unknown keyword "foo" for tcp: client endpoints; known: host, port, timeout, bindAddress/],
    ['tcp:example.com:80:Timeout=1', /did you mean "timeout"/],
    ['tcp:::1:80', /at most 2 positional argument\(s\), got 4.*\[::1\]/],
    ['tcp:[::1:80', /at most 2 positional/],
    // An unescaped ":" in a keyword value: the message says so (the extra arguments are its rest).
    ['tcp:example.com:80:bindAddress=::1', /at most 2 positional argument\(s\), got 4 \(.*a ":" inside a keyword value must be written "\\:"\)/],
    ['tcp:example.com:80:bindAddress=[2001:db8::1]', /as in bindAddress=\\:\\:1; brackets do not keep them together/],
    ['tcp:example.com:80:timeout=0', /timeout must be a number of seconds/],
    ['tcp:example.com:80:timeout=-1', /timeout/],
    ['tcp:example.com:80:bindAddress=example.com', /bindAddress must be an IPv4 or IPv6 address/],
    ['tcp:exa mple.com:80', /not a valid host name/],
    ['tcp:999.1.1.1:80', /not a valid IPv4 address/],
    ['tcp:[1.2.3.4]:80', /not a valid IPv6 address/],
    ['tcp:-bad.example:80', /not a valid host name/],
    [`tcp:${'a'.repeat(64)}.com:80`, /not a valid host name/],
    ['tcp:a\r\nb:80', /argument 1 contains a CR, LF or NUL/],
    ['tcp:example.com:80:timeout=1\0', /keyword "timeout" contains a CR, LF or NUL/],
    [`tcp:${ONION}:80`, /onion address, which only tor can reach: use tor:HOST:PORT/],
    ['tcp:example.com:80:host=x', /"host" given both positionally and as a keyword/],
  ]);
});

describe('tcp: server options', () => {
  accepts(parseTcpServerOptions, [
    ['tcp:8080', { port: 8080, interface: '127.0.0.1' }],
    ['tcp:0', { port: 0, interface: '127.0.0.1' }],
    ['tcp:port=8080', { port: 8080, interface: '127.0.0.1' }],
    ['tcp:8080:interface=0.0.0.0:backlog=10', { port: 8080, interface: '0.0.0.0', backlog: 10 }],
    ['tcp:8080:interface=\\:\\:', { port: 8080, interface: '::' }],
    ['tcp:8080:interface=[\\:\\:1]', { port: 8080, interface: '::1' }],
  ]);
  rejects(parseTcpServerOptions, [
    ['tcp:65536', /from 0 to 65535/],
    ['tcp:example.com:8080', /at most 1 positional/],
    ['tcp:8080:interface=localhost', /interface must be an IPv4 or IPv6 address/],
    ['tcp:8080:interface=::1', /at most 1 positional argument\(s\), got 3 \(a ":" inside a keyword value must be written "\\:"\)/],
    // Brackets, as in a URL: the grammar (Twisted's) splits at their colons; the message says how instead.
    ['tcp:8080:interface=[::1]', /got 3 \(an IPv6 address in a keyword value needs its colons escaped, as in interface=\\:\\:1; brackets do not keep them together\)/],
    ['tcp:8080:backlog=0', /backlog must be an integer from 1/],
    ['tcp:8080:bindAddress=1.2.3.4', /unknown keyword "bindAddress" for tcp: server endpoints; known: port, interface, backlog/],
  ]);
});

describe('unix: options', () => {
  accepts(parseUnixClientOptions, [
    ['unix:/run/tor/control', { path: '/run/tor/control' }],
    ['unix:path=/x:timeout=1', { path: '/x', timeoutMs: 1000 }],
    ['unix:relative.sock', { path: 'relative.sock' }],
    [`unix:/${'a'.repeat(106)}`, { path: `/${'a'.repeat(106)}` }],
    ['unix:/a\\:b', { path: '/a:b' }],
  ]);
  rejects(parseUnixClientOptions, [
    ['unix:', /missing path/],
    ['unix:path=', /missing path/],
    [`unix:/${'a'.repeat(107)}`, /108 bytes long; unix sockets allow at most 107/],
    ['unix:/x:mode=0600', /unknown keyword "mode" for unix: client endpoints/],
    ['unix:/x:/y', /at most 1 positional/],
    ['unix:/x\n', /contains a CR, LF or NUL/],
  ]);
  accepts(parseUnixServerOptions, [
    ['unix:/tmp/s', { path: '/tmp/s', lockfile: false }],
    ['unix:/tmp/s:mode=0660:lockfile=yes:backlog=5', { path: '/tmp/s', mode: 0o660, lockfile: true, backlog: 5 }],
    ['unix:/tmp/s:mode=600', { path: '/tmp/s', mode: 0o600, lockfile: false }],
    ['unix:/tmp/s:mode=0o640', { path: '/tmp/s', mode: 0o640, lockfile: false }],
  ]);
  rejects(parseUnixServerOptions, [
    ['unix:/tmp/s:mode=999', /mode must be octal/],
    ['unix:/tmp/s:mode=rw', /mode must be octal/],
    ['unix:/tmp/s:mode=07777', /mode must be octal/],
    ['unix:/tmp/s:lockfile=maybe', /lockfile must be true\/false/],
    ['unix:/tmp/s:timeout=1', /unknown keyword "timeout" for unix: server/],
  ]);
});

describe('tor: options', () => {
  accepts(parseTorClientOptions, [
    ['tor:example.com:443', { host: 'example.com', port: 443, connect: {} }],
    ['TOR:host=example.com:port=443', { host: 'example.com', port: 443, connect: {} }],
    [`tor:${ONION}:80`, { host: ONION, port: 80, connect: {} }],
    [`tor:www.${ONION.toUpperCase()}:80`, { host: `www.${ONION.toUpperCase()}`, port: 80, connect: {} }],
    ['tor:[::1]:80', { host: '::1', port: 80, connect: {} }],
    ['tor:\\:\\:1:80', { host: '::1', port: 80, connect: {} }],
    ['tor:192.0.2.1:80', { host: '192.0.2.1', port: 80, connect: {} }],
    [
      'tor:example.com:443:socksPort=9050:socksHostname=127.0.0.1:tls=true:isolate=abc:timeout=30:control=9051',
      {
        host: 'example.com',
        port: 443,
        connect: { socksPort: 9050, socksHostname: '127.0.0.1', tls: true, isolate: 'abc', timeoutMs: 30000 },
        control: 'tcp:127.0.0.1:9051',
      },
    ],
    [
      `tor:${ONION}:80:socksPort=unix\\:/run/tor/socks`,
      { host: ONION, port: 80, connect: { socksPort: '/run/tor/socks' } },
    ],
    [
      'tor:example.com:80:username=u:password=p\\:w=x',
      { host: 'example.com', port: 80, connect: { username: 'u', password: 'p:w=x' } },
    ],
    ['tor:example.com:80:username=u:password=', { host: 'example.com', port: 80, connect: { username: 'u', password: '' } }],
    ['tor:example.com:80:username=u', { host: 'example.com', port: 80, connect: { username: 'u' } }],
    [
      'tor:example.com:80:control=tcp\\:127.0.0.1\\:9051',
      { host: 'example.com', port: 80, connect: {}, control: 'tcp:127.0.0.1:9051' },
    ],
    [
      'tor:example.com:80:control=/run/tor/control',
      { host: 'example.com', port: 80, connect: {}, control: 'unix:/run/tor/control' },
    ],
    [
      'tor:example.com:80:control=unix\\:/run/tor/control',
      { host: 'example.com', port: 80, connect: {}, control: 'unix:/run/tor/control' },
    ],
    ['tor:example.com:80:controlPort=9151', { host: 'example.com', port: 80, connect: {}, control: 'tcp:127.0.0.1:9151' }],
    ['tor:example.com:80:tls=no', { host: 'example.com', port: 80, connect: { tls: false } }],
  ]);
  rejects(parseTorClientOptions, [
    ['tor:example.com', /missing port/],
    ['tor::80', /missing host/],
    ['tor:example.com:80:isolate=a:username=u', /isolate cannot be combined with username\/password/],
    ['tor:example.com:80:isolate=a:password=p', /isolate cannot be combined/],
    ['tor:example.com:80:password=p', /password needs a username/],
    ['tor:example.com:80:isolate=', /isolate must be 1 to 255 bytes long, got 0/],
    [`tor:example.com:80:username=${'u'.repeat(256)}`, /username must be 1 to 255 bytes long, got 256/],
    ['tor:example.com:80:socksPort=0', /socksPort must be an integer from 1 to 65535/],
    ['tor:example.com:80:socksPort=abc', /socksPort must be a port number or unix/],
    ['tor:example.com:80:socksPort=unix\\:', /socket path is empty/],
    ['tor:example.com:80:socksPort=unix\\:/s:socksHostname=127.0.0.1', /socksHostname cannot be used with a unix socksPort/],
    [`tor:example.com:80:socksHostname=${ONION}`, /onion address/],
    ['tor:example.com:80:socksHostname=[::1]', /as in socksHostname=\\:\\:1; brackets do not keep them together/],
    ['tor:example.com:80:tls=maybe', /tls must be true\/false/],
    ['tor:expyuzz4wqqyqhjn.onion:80', /version 2 onion address; tor no longer supports them/],
    [`tor:${ONION_BAD_SUM}:80`, /not a valid v3 onion address/],
    ['tor:abc.onion:80', /not a valid v3 onion address/],
    ['tor:example.com:80:socks_port=9050', /unknown keyword "socks_port" for tor: endpoints \(did you mean "socksPort"\?\); known: host, port, socksPort/],
    ['tor:example.com:80:isloate=a', /unknown keyword "isloate" for tor: endpoints \(did you mean "isolate"\?\); known:/],
    ['tor:example.com:80:control=ssl\\:x', /control must be a tcp: or unix: endpoint/],
    [`tor:example.com:80:control=tcp\\:${ONION}\\:9051`, /onion address/],
    ['tor:example.com:80:control=tcp\\:127.0.0.1', /missing port/],
    ['tor:example.com:80:control=\\\\', /control is not a valid endpoint string: trailing backslash/],
    ['tor:example.com:80:control=9051:controlPort=9051', /"control" and "controlPort" cannot be used together/],
    ['tor:example.com:80:controlPort=tcp\\:127.0.0.1\\:9051', /controlPort must be a port number or an absolute socket path/],
    ['tor:example.com:80:controlPort=70000', /controlPort must be an integer/],
    ['tor:example.com:80:timeout=0', /timeout must be a number of seconds/],
    ['tor:example.com:80:extra', /at most 2 positional/],
  ]);

  it('never puts the password or isolation token in a message', () => {
    const cases = [
      'tor:example.com:80:password=SECRETPW',
      'tor:example.com:80:isolate=SECRETPW:password=SECRETPW',
      'tor:example.com:80:username=u:password=SECRETPW\r\n',
      `tor:example.com:80:username=u:password=SECRETPW${'x'.repeat(300)}`,
      'tor:example.com:80:isolate=SECRETPW\0',
      'tor:example.com:0:username=u:password=SECRETPW',
    ];
    for (const description of cases) {
      assert.throws(
        () => parseTorClientOptions(parseEndpoint(description)),
        (err: unknown) => err instanceof EndpointArgumentError && !err.message.includes('SECRETPW'),
        description,
      );
    }
  });
});

describe('onion: options', () => {
  accepts(parseOnionServerOptions, [
    ['onion:80', { service: { ports: [{ virtualPort: 80 }] } }],
    ['ONION:port=80', { service: { ports: [{ virtualPort: 80 }] } }],
    [
      `onion:443:localPort=8443:localAddress=127.0.0.1:privateKey=${q(KEY)}:version=3:singleHop=false:clientAuth=alice,bob_2:maxStreams=10:maxStreamsCloseCircuit=1:detach=yes:pow=true:awaitUpload=false:uploadTimeout=90:control=9051`,
      {
        service: {
          ports: [{ virtualPort: 443 }],
          localPort: 8443,
          localAddress: '127.0.0.1',
          privateKey: KEY,
          version: 3,
          singleHop: false,
          clientAuth: ['alice', 'bob_2'],
          maxStreams: 10,
          maxStreamsCloseCircuit: true,
          detach: true,
          pow: true,
          awaitUpload: false,
          uploadTimeoutMs: 90000,
        },
        control: 'tcp:127.0.0.1:9051',
      },
    ],
    // The key type may be left out; it is normalized.
    [`onion:80:privateKey=${KEY_B64}`, { service: { ports: [{ virtualPort: 80 }], privateKey: KEY } }],
    [`onion:80:privateKey=${KEY_B64.replace(/=+$/, '')}`, { service: { ports: [{ virtualPort: 80 }], privateKey: `ED25519-V3:${KEY_B64.replace(/=+$/, '')}` } }],
    ['onion:80:privateKeyFile=/var/k', { service: { ports: [{ virtualPort: 80 }], privateKeyFile: '/var/k' } }],
    ['onion:80:hiddenServiceDir=/var/lib/tor/hs', { service: { ports: [{ virtualPort: 80 }], hiddenServiceDir: '/var/lib/tor/hs' } }],
    ['onion:80:localSocket=/run/app.sock', { service: { ports: [{ virtualPort: 80 }], localSocket: '/run/app.sock' } }],
    // 0: any free port, as createOnionService's localPort takes it (and as leaving it out does).
    ['onion:80:localPort=0', { service: { ports: [{ virtualPort: 80 }], localPort: 0 } }],
    ['onion:80:localAddress=[\\:\\:1]', { service: { ports: [{ virtualPort: 80 }], localAddress: '::1' } }],
    ['onion:80:controlPort=/run/tor/control', { service: { ports: [{ virtualPort: 80 }] }, control: 'unix:/run/tor/control' }],
    ['onion:80:maxStreams=0', { service: { ports: [{ virtualPort: 80 }], maxStreams: 0 } }],
    [
      'onion:80:privateKeyFile=/k:clientAuth=alice:clientAuthDir=/var/lib/app/clients',
      { service: { ports: [{ virtualPort: 80 }], privateKeyFile: '/k', clientAuth: ['alice'], clientAuthDir: '/var/lib/app/clients' } },
    ],
    ['onion:80:republish=true', { service: { ports: [{ virtualPort: 80 }] }, republish: true }],
    ['onion:80:republish=false:detach=true', { service: { ports: [{ virtualPort: 80 }], detach: true } }],
    ['onion:80:republish=yes:detach=false', { service: { ports: [{ virtualPort: 80 }], detach: false }, republish: true }],
    [
      'onion:80:republish=1:clientAuth=alice:clientAuthDir=/c',
      { service: { ports: [{ virtualPort: 80 }], clientAuth: ['alice'], clientAuthDir: '/c' }, republish: true },
    ],
  ]);
  rejects(parseOnionServerOptions, [
    ['onion:80:version=2', /version 2 onion services were removed from tor/],
    ['onion:80:version=4', /version must be 3/],
    ['onion:80:privateKey=x:privateKeyFile=/k', /"privateKey" and "privateKeyFile" cannot be used together/],
    ['onion:80:privateKey=x:hiddenServiceDir=/d', /"privateKey" and "hiddenServiceDir" cannot be used together: a hiddenServiceDir holds its own key/],
    ['onion:80:privateKeyFile=/k:hiddenServiceDir=/d', /cannot be used together/],
    ['onion:80:clientAuthDir=/c:hiddenServiceDir=/d', /"clientAuthDir" and "hiddenServiceDir" cannot be used together: a hiddenServiceDir keeps its clients/],
    ['onion:80:clientAuthDir=', /clientAuthDir: the path is empty/],
    ['onion:80:privateKey=RSA1024\\:MIICXAIBAAKBgQ', /RSA1024 \(version 2\) key; tor no longer supports v2/],
    ['onion:80:privateKey=ED25519-V3\\:c2hvcnQ=', /base64 of a 64-byte expanded ed25519 key/],
    ['onion:80:privateKey=X25519\\:abc', /must be an ED25519-V3 key/],
    ['onion:80:localSocket=/s:localPort=1', /"localSocket" and "localPort" cannot be used together/],
    ['onion:80:localSocket=/s:localAddress=127.0.0.1', /"localSocket" and "localAddress"/],
    ['onion:80:localSocket=/run/a,b.sock', /localSocket must be a path without spaces, quotes, backslashes or commas .*\/run\/a,b\.sock has a comma/],
    ['onion:80:localSocket=/run/a b.sock', /localSocket must be a path without .* has a space/],
    ['onion:80:hiddenServiceDir=relative/dir', /hiddenServiceDir must be an absolute path/],
    ['onion:80:localAddress=localhost', /localAddress must be an IPv4 or IPv6 address/],
    ['onion:80:localPort=65536', /localPort must be an integer from 0 to 65535/],
    ['onion:80:clientAuth=a,a', /clientAuth names "a" twice/],
    ['onion:80:clientAuth=', /clientAuth must be a comma-separated list/],
    ['onion:80:clientAuth=bad name', /clientAuth must be a comma-separated list/],
    ['onion:80:clientAuth=abcdefghijklmnopq', /1 to 16/],
    ['onion:80:maxStreams=70000', /maxStreams must be an integer from 0 to 65535/],
    ['onion:80:singleHop=2', /singleHop must be true\/false/],
    ['onion:0', /port must be an integer from 1 to 65535/],
    ['onion:80:81', /at most 1 positional/],
    ['onion:', /port must be an integer|missing port/],
    ['onion:80:uploadTimeout=0', /uploadTimeout must be a number of seconds/],
    ['onion:80:hiddenServiceDir=', /hiddenServiceDir: the path is empty/],
    ['onion:80:privatekey=x', /unknown keyword "privatekey".*did you mean "privateKey"/],
    ['onion:80:clientAuht=alice', /unknown keyword "clientAuht" for onion: endpoints \(did you mean "clientAuth"\?\); known:/],
    ['onion:80:control=tor\\:x\\:1', /control must be a tcp: or unix: endpoint/],
    ['onion:80:republish=true:detach=true', /"republish" and "detach" cannot be used together: a detached service outlives/],
    ['onion:80:republish=true:hiddenServiceDir=/d', /"republish" and "hiddenServiceDir" cannot be used together/],
    ['onion:80:republish=true:clientAuth=alice', /republish=true with clientAuth needs clientAuthDir=/],
    ['onion:80:republish=maybe', /republish must be true\/false/],
  ]);

  it('never puts the private key in a message', () => {
    const secret = KEY_B64.slice(0, 40);
    const cases = [
      `onion:80:privateKey=${q(KEY)}:privateKeyFile=/k`,
      `onion:80:privateKey=ED25519-V3\\:${secret}`,
      `onion:80:privateKey=RSA1024\\:${secret}`,
      `onion:80:privateKey=${secret}\n`,
      `onion:80:privateKey=${q(KEY)}:version=2`,
      `onion:80:privateKey=${q(KEY)}:hiddenServiceDir=/d`,
      `onion:80:privateKey=NOTYPE${secret}\\:x`,
    ];
    for (const description of cases) {
      assert.throws(
        () => parseOnionServerOptions(parseEndpoint(description)),
        (err: unknown) => err instanceof EndpointArgumentError && !err.message.includes(secret),
        description,
      );
    }
  });

  it('keeps secrets out of every message for random invalid tor: and onion: strings', () => {
    const SECRET = 'Zq9SECRETvalue';
    const junk = fc.constantFrom(':', '=', '\\', '\r', '\0', '0', '70000', 'x', 'tls=maybe', 'isolate=a', 'version=2');
    fc.assert(
      fc.property(fc.array(junk, { maxLength: 6 }), fc.boolean(), (parts, onion) => {
        const description = onion
          ? `onion:80:privateKey=${SECRET}${parts.join('')}`
          : `tor:example.com:80:username=u:password=${SECRET}${parts.join('')}`;
        try {
          const endpoint = parseEndpoint(description);
          if (onion) parseOnionServerOptions(endpoint);
          else parseTorClientOptions(endpoint);
        } catch (err) {
          assert.ok(!(err as Error).message.includes(SECRET), (err as Error).message);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('tls: options', () => {
  accepts(parseTlsClientOptions, [
    [
      'tls:example.com:443',
      { host: 'example.com', port: 443, servername: 'example.com', rejectUnauthorized: true, endpoint: 'tcp:example.com:443' },
    ],
    ['tls:127.0.0.1:443', { host: '127.0.0.1', port: 443, rejectUnauthorized: true, endpoint: 'tcp:127.0.0.1:443' }],
    ['tls:[::1]:443', { host: '::1', port: 443, rejectUnauthorized: true, endpoint: 'tcp:\\:\\:1:443' }],
    [
      `tls:${ONION}:443:endpoint=tor\\:${ONION}\\:443`,
      { host: ONION, port: 443, servername: ONION, rejectUnauthorized: true, endpoint: `tor:${ONION}:443` },
    ],
    [
      'tls:example.com:443:endpoint=tor\\:example.com\\:443\\:tls=false',
      { host: 'example.com', port: 443, servername: 'example.com', rejectUnauthorized: true, endpoint: 'tor:example.com:443:tls=false' },
    ],
    [
      'tls:127.0.0.1:8443:servername=localhost:rejectUnauthorized=false:caFile=/ca.pem:timeout=5',
      {
        host: '127.0.0.1',
        port: 8443,
        servername: 'localhost',
        rejectUnauthorized: false,
        caFile: '/ca.pem',
        timeoutMs: 5000,
        endpoint: 'tcp:127.0.0.1:8443',
      },
    ],
  ]);
  rejects(parseTlsClientOptions, [
    [`tls:${ONION}:443`, /onion address, which only tor can reach/],
    ['tls:example.com:443:servername=1.2.3.4', /servername must be a host name, not an IP address/],
    ['tls:example.com:443:endpoint=tls\\:example.com\\:443', /may not itself be a tls: endpoint/],
    // tor:'s own TLS under this one: TLS inside TLS, never what was meant.
    ['tls:example.com:443:endpoint=tor\\:example.com\\:443\\:tls=true', /TLS inside TLS.*tls=true/],
    ['tls:example.com:443:endpoint=tor\\:example.com\\:443\\:tls=Yes', /TLS inside TLS/],
    ['tls:example.com:443:endpoint=', /endpoint is not a valid endpoint string/],
    ['tls:example.com:443:rejectUnauthorized=nah', /rejectUnauthorized must be true\/false/],
    ['tls:example.com:443:trustRoots=/etc/ssl', /unknown keyword "trustRoots" for tls: client endpoints/],
    ['tls:example.com', /missing port/],
  ]);
  accepts(parseTlsServerOptions, [
    ['tls:8443:privateKey=k.pem', { port: 8443, privateKey: 'k.pem', certKey: 'k.pem', interface: '127.0.0.1' }],
    [
      'tls:0:privateKey=k.pem:certKey=c.pem:interface=0.0.0.0:backlog=4',
      { port: 0, privateKey: 'k.pem', certKey: 'c.pem', interface: '0.0.0.0', backlog: 4 },
    ],
  ]);
  rejects(parseTlsServerOptions, [
    ['tls:8443', /missing privateKey=FILE/],
    ['tls:8443:privateKey=', /missing privateKey=FILE/],
    ['tls:8443:privateKey=k:sslmethod=TLSv1_METHOD', /unknown keyword "sslmethod"/],
  ]);
});
