import assert from 'node:assert/strict';
import { EndpointArgumentError } from '../../src/errors.js';
import { parseTorClientOptions } from '../../src/plugins/tor-plugin.js';
import { parseEndpoint } from '../../src/util/endpoint-grammar.js';

// The SOCKS client refuses these too, but only after tor has been found (a control connection
// opened): a tor: string must be refused by its own validation, before any I/O.
describe('tor: endpoint SOCKS address checked before any I/O', () => {
  const parse = (d: string) => parseTorClientOptions(parseEndpoint(d));

  for (const [description, pattern] of [
    ['tor:example.com:80:socksPort=9050:socksHostname=example.com', /socksHostname: must be an IP address \(tor is never looked up in DNS\), got "example\.com"/],
    ['tor:example.com:80:socksHostname=tor-host', /socksHostname: must be an IP address/],
    ['tor:example.com:80:socksPort=unix\\:relative/socks', /socksPort: must be .*an absolute unix socket path.*, got "unix:relative\/socks"/],
  ] as const) {
    it(`refuses ${description}`, () => {
      assert.throws(() => parse(description), (err: unknown) => err instanceof EndpointArgumentError && pattern.test(err.message));
    });
  }

  it('still takes IP literals, localhost and absolute paths', () => {
    assert.equal(parse('tor:example.com:80:socksPort=9050:socksHostname=127.0.0.2').connect.socksHostname, '127.0.0.2');
    assert.equal(parse('tor:example.com:80:socksPort=9050:socksHostname=\\:\\:1').connect.socksHostname, '::1');
    assert.equal(parse('tor:example.com:80:socksPort=9050:socksHostname=[\\:\\:1]').connect.socksHostname, '::1');
    assert.equal(parse('tor:example.com:80:socksPort=9050:socksHostname=localhost').connect.socksHostname, 'localhost');
    assert.equal(parse('tor:example.com:80:socksPort=unix\\:/run/tor/socks').connect.socksPort, '/run/tor/socks');
  });
});
