import assert from 'node:assert/strict';
import net from 'node:net';
import { promises as fsp } from 'node:fs';
import fc from 'fast-check';
import sinon from 'sinon';
import {
  EndpointArgumentError,
  EndpointConnectError,
  EndpointListenError,
  EndpointSyntaxError,
  UnknownEndpointError,
} from '../../src/errors.js';
import { connect } from '../../src/endpoints/connect.js';
import { listen } from '../../src/endpoints/listen.js';
import { parseEndpoint } from '../../src/util/endpoint-grammar.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { parseTorClientOptions } from '../../src/plugins/tor-plugin.js';
import { parseOnionServerOptions } from '../../src/plugins/onion-plugin.js';
import type { EndpointRole, TorLike } from '../../src/plugins/plugin-types.js';

const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';
const KEY_B64 = Buffer.alloc(64, 1).toString('base64');

const PREFIXES = ['tcp', 'unix', 'tls', 'tor', 'onion', 'TOR', 'Tcp', 'bogus', ''];
const KEYWORDS = [
  'host', 'port', 'path', 'timeout', 'bindAddress', 'interface', 'backlog', 'mode', 'lockfile',
  'servername', 'rejectUnauthorized', 'caFile', 'endpoint', 'privateKey', 'certKey',
  'socksPort', 'socksHostname', 'tls', 'isolate', 'username', 'password', 'control', 'controlPort',
  'localPort', 'localAddress', 'localSocket', 'privateKeyFile', 'hiddenServiceDir', 'version',
  'singleHop', 'clientAuth', 'maxStreams', 'maxStreamsCloseCircuit', 'detach', 'pow', 'awaitUpload',
  'uploadTimeout', 'foo', 'Timeout',
];
const VALUES = [
  '80', '0', '65535', '65536', '-1', '1.5', '0.2', '127.0.0.1', '::1', '\\:\\:1', '[\\:\\:1]', '[', ']',
  'example.com', ONION, 'x.onion', 'expyuzz4wqqyqhjn.onion', '/nonexistent/torcon-fuzz.sock', 'rel.sock',
  'true', 'false', 'yes', 'maybe', '2', '3', 'a,b', 'a,a', '', 'unix\\:/s', 'tcp\\:127.0.0.1\\:9051',
  `ED25519-V3\\:${KEY_B64}`, 'RSA1024\\:abc', 'a\r\nb', '\0', 'x=y', '\\\\', 'tor\\:example.com\\:443',
];

const segment = fc.oneof(
  fc.constantFrom(...VALUES),
  fc.tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom(...VALUES)).map(([k, v]) => `${k}=${v}`),
);
const structured = fc
  .tuple(fc.constantFrom(...PREFIXES), fc.array(segment, { maxLength: 6 }))
  .map(([p, segs]) => [p, ...segs].join(':'));
const soup = fc
  .array(fc.constantFrom(':', '=', '\\', ...PREFIXES, ...KEYWORDS, ...VALUES), { maxLength: 12 })
  .map((a) => a.join(''));
// Mostly well-formed strings, so that the valid side of the property is exercised too.
const GOOD_VALUES = ['1', '30', 'true', 'no', '127.0.0.1', '9051', 'alice,bob', '/nonexistent/torcon-fuzz', 'x'];
const goodKeyword = fc
  .tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom(...GOOD_VALUES))
  .map(([k, v]) => `${k}=${v}`);
const nearValid = fc
  .tuple(
    fc.constantFrom(
      'tcp:example.com:80', 'tcp:127.0.0.1:443', 'tcp:[::1]:8080', 'tcp:0', 'tcp:8080',
      `tor:${ONION}:80`, 'tor:example.com:443', 'tor:\\:\\:1:80',
      'tls:example.com:443', 'tls:8443:privateKey=/nonexistent/k.pem',
      'unix:/nonexistent/torcon-fuzz.sock', 'onion:80', 'onion:443',
    ),
    fc.array(goodKeyword, { maxLength: 2 }),
  )
  .map(([base, kws]) => [base, ...kws].join(':'));
const endpointString = fc.oneof(
  { arbitrary: nearValid, weight: 4 },
  { arbitrary: structured, weight: 6 },
  { arbitrary: soup, weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
);

const SENTINEL = new Error('I/O attempted (stubbed)');

function isValidationError(err: unknown): boolean {
  return err instanceof EndpointSyntaxError || err instanceof UnknownEndpointError || err instanceof EndpointArgumentError;
}

/** Whether `err` shows that the call got as far as I/O (every I/O primitive is stubbed to fail). */
function reachedIo(err: unknown): boolean {
  // A plugin's own error reaches the caller wrapped (see endpoints/plugin-failure.ts).
  return err === SENTINEL || ((err instanceof EndpointListenError || err instanceof EndpointConnectError) && err.cause === SENTINEL);
}

describe('endpoint strings: random input', () => {
  const registry = createDefaultRegistry();
  let socketConnect: sinon.SinonStub;
  let serverListen: sinon.SinonStub;
  let writeFile: sinon.SinonStub;
  let torConnect: sinon.SinonStub;
  let createOnionService: sinon.SinonStub;
  let getTor: sinon.SinonStub;
  let tor: TorLike;

  beforeEach(() => {
    socketConnect = sinon.stub(net.Socket.prototype, 'connect').throws(SENTINEL);
    serverListen = sinon.stub(net.Server.prototype, 'listen').throws(SENTINEL);
    writeFile = sinon.stub(fsp, 'writeFile').rejects(SENTINEL);
    torConnect = sinon.stub().rejects(SENTINEL);
    createOnionService = sinon.stub().rejects(SENTINEL);
    tor = { connect: torConnect, createOnionService };
    getTor = sinon.stub().resolves(tor);
  });
  afterEach(() => sinon.restore());

  function ioCalls(): number {
    return socketConnect.callCount + serverListen.callCount + writeFile.callCount + torConnect.callCount + createOnionService.callCount;
  }

  function resetCalls(): void {
    for (const s of [socketConnect, serverListen, writeFile, torConnect, createOnionService, getTor]) s.resetHistory();
  }

  /** Validates without I/O, as connect/listen do first; returns the error or undefined. */
  function validate(description: string, role: EndpointRole): unknown {
    try {
      const endpoint = parseEndpoint(description);
      registry.get(endpoint.prefix, role).validate?.(endpoint, role, registry);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  for (const role of ['client', 'server'] as const) {
    it(`${role}: only typed endpoint errors, and no I/O unless the string is valid`, async () => {
      let valid = 0;
      let invalid = 0;
      await fc.assert(
        fc.asyncProperty(endpointString, async (description) => {
          resetCalls();
          const validation = validate(description, role);
          let outcome: unknown = 'resolved';
          try {
            if (role === 'client') await connect(description, { tor, getTor, registry });
            else await listen(new net.Server(), description, { tor, getTor, registry });
          } catch (err) {
            outcome = err;
          }
          assert.notEqual(outcome, 'resolved', 'every I/O path is stubbed to fail');
          if (validation !== undefined) {
            invalid++;
            assert.ok(isValidationError(validation), `validation threw ${String(validation)}`);
            assert.equal((outcome as Error).constructor, (validation as Error).constructor);
            assert.equal((outcome as Error).message, (validation as Error).message);
            assert.equal(ioCalls(), 0, `I/O attempted for invalid ${JSON.stringify(description)}`);
            return;
          }
          valid++;
          // A valid string either reached I/O, or failed reading a file it names (tls: key/CA files).
          assert.ok(
            reachedIo(outcome) || (outcome instanceof EndpointArgumentError && /cannot read/.test(outcome.message)),
            `valid ${JSON.stringify(description)} ended with ${String(outcome)}`,
          );
          const endpoint = parseEndpoint(description);
          if (endpoint.prefix === 'tor') {
            const o = parseTorClientOptions(endpoint);
            sinon.assert.calledOnceWithExactly(torConnect, { host: o.host, port: o.port }, o.connect);
          }
          if (endpoint.prefix === 'onion') {
            const o = parseOnionServerOptions(endpoint);
            assert.deepEqual(createOnionService.firstCall.args[0], { ...o.service, server: createOnionService.firstCall.args[0].server });
          }
        }),
        { numRuns: 2000 },
      );
      // The generator must exercise both sides for the property to mean something.
      assert.ok(valid >= 50, `only ${valid} valid strings generated`);
      assert.ok(invalid >= 500, `only ${invalid} invalid strings generated`);
    });
  }
});
