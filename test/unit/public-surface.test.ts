import assert from 'node:assert/strict';
import type net from 'node:net';
import * as torcon from '../../src/index.js';
import { parseEndpoint, type EndpointPlugin, type ListeningEndpoint, type Tor } from '../../src/index.js';

// DESIGN.md section 1 is what users and the acceptance checks call. These checks hold the entry
// point to it: the values it names exist, and the signatures it writes type-check against ours (a
// mismatch fails the build of this file, before any test runs).

/** DESIGN.md's `parseEndpoint(description: string): { prefix: string; args: string[]; options: Record<string, string> }`. */
type DesignParseEndpoint = (description: string) => { prefix: string; args: string[]; options: Record<string, string> };
type DesignConnect = (description: string, opts?: { tor?: Tor; signal?: AbortSignal }) => Promise<net.Socket>;
type DesignListen = (server: net.Server, description: string, opts?: { tor?: Tor; signal?: AbortSignal }) => Promise<ListeningEndpoint>;
type DesignRegisterPlugin = (plugin: EndpointPlugin) => void;

describe('the public surface DESIGN.md gives', () => {
  it('exports every value DESIGN.md names from the root entry point, and no default', () => {
    const values = [
      'connectTor', 'launchTor', 'Tor', 'TorControl', 'TorState', 'TorConfig', 'Circuit', 'Stream', 'Router',
      'parseEndpoint', 'quoteEndpointArgument', 'connect', 'listen', 'registerPlugin',
      'TorError', 'TorControlError', 'TorControlClosedError', 'TorAuthError', 'TorSocksError', 'EndpointSyntaxError',
      'UnknownEndpointError', 'OnionPublishError', 'TorLaunchError', 'TorCircuitError', 'TorAbortError',
    ];
    const exported = torcon as unknown as Record<string, unknown>;
    for (const name of values) assert.equal(typeof exported[name], 'function', name);
    assert.equal(exported['default'], undefined);
  });

  it('types connect, listen and registerPlugin as DESIGN.md writes them', () => {
    const signatures: [DesignConnect, DesignListen, DesignRegisterPlugin] = [torcon.connect, torcon.listen, torcon.registerPlugin];
    assert.equal(signatures.length, 3);
  });

  it("parseEndpoint's result has DESIGN.md's shape: args a plain string[], options a Record, both the caller's", () => {
    const parse: DesignParseEndpoint = parseEndpoint;
    const parsed = parse('tor:example.com:80:isolate=a');
    // Handed on to code that takes DESIGN.md's mutable shape, and changed there.
    parsed.args.push('extra');
    parsed.options['socksPort'] = '9050';
    assert.deepEqual(parsed, { prefix: 'tor', args: ['example.com', '80', 'extra'], options: { isolate: 'a', socksPort: '9050' } });
    // Each parse is new: the change above is not seen by the next one.
    assert.deepEqual(parse('tor:example.com:80:isolate=a'), { prefix: 'tor', args: ['example.com', '80'], options: { isolate: 'a' } });
  });
});
