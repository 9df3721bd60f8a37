import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { nodeHttp, nodeHttps, nodeTls } from '../../src/util/node-builtins.js';

const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const SOCKS_CLIENT = fileURLToPath(new URL('../../src/socks/tor-socks-client.js', import.meta.url));

/**
 * Runs `script` (an ES module body) in a fresh Node process after importing torcon, and returns
 * which of Node's http, https and tls modules that process has loaded by then, as JSON.
 */
function loadedAfter(script: string): string[] {
  const body =
    `const torcon = await import(${JSON.stringify(INDEX)});\n${script}\n` +
    `console.log(JSON.stringify(['http', 'https', 'tls'].filter((m) => process.moduleLoadList.includes('NativeModule ' + m))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', body], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as string[];
}

describe('Node modules loaded on first use (util/node-builtins)', () => {
  it('importing torcon loads none of node:http, node:https, node:tls', () => {
    // process.moduleLoadList is Node's own record of the built-in modules a process has loaded.
    assert.deepEqual(loadedAfter(''), []);
  });

  it('a TorSocksClient loads node:http and node:https at its first httpAgent(), not before', () => {
    const loaded = loadedAfter(
      `const { TorSocksClient } = await import(${JSON.stringify(SOCKS_CLIENT)});\n` +
        `const socks = new TorSocksClient(null, { socksPort: 9 });\n` +
        `if (JSON.stringify(['http','https'].filter((m) => process.moduleLoadList.includes('NativeModule ' + m))) !== '[]') throw new Error('loaded early');\n` +
        `const agent = socks.httpAgent();\n` +
        `if (!(agent instanceof (await import('node:http')).Agent)) throw new Error('not an http.Agent');\n` +
        `await socks.close();`,
    );
    assert.ok(loaded.includes('http') && loaded.includes('https'), `loaded: ${loaded.join(', ')}`);
  });

  it('hands out the same module objects an import gives', () => {
    assert.equal(nodeHttp(), http);
    assert.equal(nodeHttps(), https);
    assert.equal(nodeTls(), tls);
  });
});
