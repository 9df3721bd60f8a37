import assert from 'node:assert/strict';
import dns from 'node:dns';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import sinon from 'sinon';
import {
  connect,
  EndpointArgumentError,
  EndpointSyntaxError,
  listen,
  parseEndpoint,
  TorError,
  UnknownEndpointError,
} from '../../src/index.js';

/**
 * Hostile endpoint strings through the PUBLIC `connect()` / `listen()` (the DI container's
 * registry and shared-tor provider, as an application calls them), with every way of opening a
 * socket or asking DNS replaced by a stub that records the call and fails. The properties:
 *
 * - every outcome is a typed TorError (never a TypeError or a crash);
 * - a string refused as invalid (syntax, unknown prefix/keyword, bad argument) opened nothing:
 *   no net.connect / net.createConnection / tls.connect / Socket#connect / Server#listen, no DNS
 *   lookup, no file written;
 * - CR, LF or NUL anywhere in a string is always refused that way.
 *
 * endpoint-fuzz.test.ts covers the internal connect/listen with a stand-in tor (2,000 runs per
 * role); this file adds the public entry points, the socket-level spies and hostile characters.
 */

const RUNS = 3_000;
const SENTINEL = new Error('I/O attempted (stubbed)');

const PREFIXES = ['tcp', 'unix', 'tls', 'tor', 'onion', 'TOR', 'Onion', 'tcp6', 'ssl', '', 'tor ', ' tcp'];
const KEYWORDS = [
  'host', 'port', 'path', 'timeout', 'interface', 'backlog', 'socksPort', 'socksHostname', 'tls', 'isolate',
  'username', 'password', 'control', 'controlPort', 'localPort', 'localAddress', 'privateKey', 'privateKeyFile',
  'hiddenServiceDir', 'clientAuth', 'maxStreams', 'uploadTimeout', 'singleHop', 'version', 'PORT', 'port ', '',
];
/** Values that break things: control characters, quoting, escapes, numbers at their edges, unicode. */
const HOSTILE = [
  'a\r\nb', 'example.com\r\nSIGNAL HALT', '\0', 'x\0y', '\r', '\n', '\t', '"', '\\"', '\\\\', '" SIGNAL HALT', 'a"b',
  'é.example', 'xn--e1afmkfd.xn--p1ai', '😀', '\u202e', '\uFEFF', 'x'.repeat(300), '', ' ', '80 ', ' 80', '+80',
  '0x50', '1e2', '080', '-1', '0', '65535', '65536', '99999999999999999999', '1.5', 'NaN', '[', ']', '[::1', '\\[::1\\]',
  '127.0.0.1', '::1', '\\:\\:1', 'localhost', '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion',
  'aaaa.onion', 'unix\\:/tmp/x', '/nonexistent/torcon-fuzz', 'true', 'yes', 'a,b', 'a,,b', '=', '==', 'k=v',
];

const segment = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom(...HOSTILE)).map(([k, v]) => `${k}=${v}`),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);
const hostile = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), fc.array(segment, { maxLength: 5 })).map(([p, s]) => [p, ...s].join(':')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    // a valid string with one hostile character spliced in somewhere
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('tcp:127.0.0.1:80', 'tor:example.com:443', 'tor:127.0.0.1:80:isolate=a', 'onion:80', 'unix:/nonexistent/s', 'tls:127.0.0.1:443', 'onion:80:clientAuth=a,b'),
        fc.nat(),
        fc.constantFrom('\r', '\n', '\0', '\r\n', '"', '\\', ':', '=', ' ', '\u2028'),
      )
      .map(([s, at, c]) => s.slice(0, at % (s.length + 1)) + c + s.slice(at % (s.length + 1))),
  },
);

function isValidationError(err: unknown): boolean {
  return err instanceof EndpointSyntaxError || err instanceof UnknownEndpointError || err instanceof EndpointArgumentError;
}

/** Whether `err` is, or was caused by, the stubbed I/O. */
function fromStub(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e === SENTINEL) return true;
  return false;
}

describe('endpoint fuzz through the public connect() and listen()', function () {
  // Bounded runs take a few seconds; the margin is for loaded CI machines, not for slowness.
  this.timeout(60_000);
  // Read when the suite runs, not when the file loads: an integration suite run before this one
  // may have set TOR_CONTROL to the shared network since, and the later suites need it back.
  let savedControl: string | undefined;
  let io: sinon.SinonStub[];

  before(() => {
    savedControl = process.env['TOR_CONTROL'];
  });
  beforeEach(() => {
    // Any tor the shared provider would look for is this closed port (and, with TOR_CONTROL set,
    // it never launches one); the connection attempt itself is stubbed below anyway.
    process.env['TOR_CONTROL'] = 'tcp:127.0.0.1:1';
    io = [
      sinon.stub(net, 'connect').throws(SENTINEL),
      sinon.stub(net, 'createConnection').throws(SENTINEL),
      sinon.stub(tls, 'connect').throws(SENTINEL),
      sinon.stub(net.Socket.prototype, 'connect').throws(SENTINEL),
      sinon.stub(net.Server.prototype, 'listen').throws(SENTINEL),
      sinon.stub(dns, 'lookup').throws(SENTINEL),
      sinon.stub(dns.promises, 'lookup').rejects(SENTINEL),
      sinon.stub(fsp, 'writeFile').rejects(SENTINEL),
      sinon.stub(fsp, 'mkdir').rejects(SENTINEL),
    ];
  });
  afterEach(() => {
    sinon.restore();
    if (savedControl === undefined) delete process.env['TOR_CONTROL'];
    else process.env['TOR_CONTROL'] = savedControl;
  });

  const ioCalls = () => io.reduce((n, s) => n + s.callCount, 0);
  const describeCalls = () => io.filter((s) => s.callCount > 0).map((s) => `${String((s as unknown as { displayName?: string }).displayName)} x${s.callCount}`).join(', ');

  for (const role of ['connect', 'listen'] as const) {
    it(`${role}(): typed errors only, and nothing opened for an invalid string (${RUNS} strings)`, async () => {
      let invalid = 0;
      let reachedIo = 0;
      await fc.assert(
        fc.asyncProperty(hostile, async (description) => {
          for (const s of io) s.resetHistory();
          let outcome: unknown = 'resolved';
          try {
            if (role === 'connect') await connect(description);
            else await listen(new net.Server(), description);
          } catch (err) {
            outcome = err;
          }
          assert.notEqual(outcome, 'resolved', `${JSON.stringify(description)} resolved although all I/O fails`);
          assert.ok(outcome instanceof TorError || fromStub(outcome), `${JSON.stringify(description)} -> ${String(outcome)}`);
          if (/[\r\n\0]/.test(description)) {
            assert.ok(isValidationError(outcome), `CR/LF/NUL accepted in ${JSON.stringify(description)}: ${String(outcome)}`);
          }
          if (isValidationError(outcome)) {
            invalid++;
            assert.equal(ioCalls(), 0, `invalid ${JSON.stringify(description)} still did I/O: ${describeCalls()}`);
          } else if (ioCalls() > 0) {
            reachedIo++;
          }
        }),
        { numRuns: RUNS },
      );
      assert.ok(invalid > RUNS / 2, `only ${invalid} strings were refused`);
      assert.ok(reachedIo > 10, `only ${reachedIo} strings got as far as I/O: the generator lacks valid strings`);
    });
  }

  it('the spies see I/O when it happens (control)', async () => {
    await assert.rejects(connect('tcp:127.0.0.1:9'), (err: unknown) => fromStub(err) || err instanceof TorError);
    assert.ok(ioCalls() > 0);
    assert.equal(parseEndpoint('tcp:127.0.0.1:9').prefix, 'tcp');
  });
});
