import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import type { Tor } from '../../src/tor/tor.js';
import { isValidServiceId } from '../../src/onion/service-id.js';
import { retryOnionLookup } from '../support/retry.js';
import { waitUntil } from '../support/settle.js';
import { sharedTestNetwork } from '../support/testnet-fixture.js';
import type { TestNetwork } from '../../src/testnet.js';

/**
 * `node --import torcon/register app.js` with an unchanged app (test/fixtures/plain-http-server.mjs)
 * that does `server.listen(process.env.PORT, cb)`.
 */

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/integration
const REGISTER = path.resolve(here, '../../src/register.js');
const APP = path.resolve(here, '../../../test/fixtures/plain-http-server.mjs');

interface AppLine {
  address?: net.AddressInfo | string;
  onion?: string | null;
  listeningEvents?: number;
  lateListeningEvents?: number;
  error?: string;
  message?: string;
}

/** Starts the app with the hook; resolves with its first stdout line (JSON). `stderr()` is what it wrote there so far. */
function startApp(env: Record<string, string>, timeoutMs: number): { child: ChildProcess; line: Promise<AppLine>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', REGISTER, APP], {
    env: { ...process.env, DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = new Promise<AppLine>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no output within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(out.slice(0, nl)) as AppLine);
        } catch {
          reject(new Error(`not JSON: ${out.slice(0, nl)}`));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('\n')) reject(new Error(`app exited (${code}) without output; stderr: ${stderr}`));
    });
  });
  return { child, line, stderr: () => stderr };
}

function stopApp(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}

function get(url: string, socket?: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, socket ? { createConnection: () => socket, timeout: 30_000 } : { timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('HTTP timeout')));
  });
}

describe('torcon/register (node --import)', function () {
  this.timeout(120_000);
  const children: ChildProcess[] = [];
  after(async () => {
    await Promise.all(children.map(stopApp));
  });

  it('leaves ordinary ports alone', async () => {
    const { child, line } = startApp({ PORT: '0', TOR_CONTROL: 'tcp:127.0.0.1:1' }, 20_000);
    children.push(child);
    const out = await line;
    assert.equal(out.onion, null);
    assert.equal(out.listeningEvents, 1);
    const port = (out.address as net.AddressInfo).port;
    assert.ok(port > 0);
    assert.match(await get(`http://127.0.0.1:${port}/plain`), /^hello from pid \d+ at \/plain\n$/);
    assert.equal(await stopApp(child), 0);
  });

  it('reports a bad endpoint as an error event with the typed error code', async () => {
    const { child, line } = startApp({ PORT: 'onion:80:version=2', TOR_CONTROL: 'tcp:127.0.0.1:1' }, 20_000);
    children.push(child);
    const out = await line;
    assert.equal(out.error, 'TOR_ENDPOINT_ARGUMENT');
    assert.match(out.message!, /version 2/);
  });

  it('warns on stderr (TORCON_ONION_LOST) when tor dies under the service, and the app goes on serving locally', async () => {
    // A tor of this test's own (DisableNetwork 1: the service exists in tor, nothing is uploaded).
    const own = await launchTor({ config: { DisableNetwork: 1 } });
    try {
      const { child, line, stderr } = startApp({ PORT: 'onion:80:awaitUpload=false', TOR_CONTROL: own.controlEndpoint }, 30_000);
      children.push(child);
      const out = await line;
      assert.ok(out.onion, `no onion address: ${JSON.stringify(out)}; stderr: ${stderr()}`);
      assert.doesNotMatch(stderr(), /TORCON_ONION_LOST/);
      process.kill(own.pid!, 'SIGKILL');
      await waitUntil(() => /TORCON_ONION_LOST/.test(stderr()), 'the TORCON_ONION_LOST warning', 10_000);
      const warning = stderr();
      assert.match(warning, /\(node:\d+\) \[TORCON_ONION_LOST\] Warning: torcon: the onion service [a-z2-7]{56}\.onion:80 is gone \(.*the Tor control connection closed.*\); the server still listens locally: restart the application, or add republish=true to the endpoint, to publish it again$/m);
      assert.equal(warning.split('TORCON_ONION_LOST').length, 2, 'warned once');
      assert.equal(child.exitCode, null, 'the app is still running');
      const local = out.address as net.AddressInfo;
      assert.match(await get(`http://127.0.0.1:${local.port}/after`), /at \/after/);
      assert.equal(await stopApp(child), 0);
    } finally {
      await own.close();
    }
  });

  it('with republish=true in PORT, publishes the service again on the tor that comes back, saying so in the warning', async () => {
    const probe = await launchTor({ config: { DisableNetwork: 1 } });
    // A key of our own, so that the test can see the service in the next tor (an address collision).
    const made = await probe.control.command('ADD_ONION NEW:ED25519-V3 Port=80,127.0.0.1:9');
    const key = /^PrivateKey=(\S+)$/m.exec(made.lines.map((l) => l.text).join('\n'))![1]!;
    const serviceId = /^ServiceID=(\S+)$/m.exec(made.lines.map((l) => l.text).join('\n'))![1]!;
    const port = (await probe.control.getInfo('net/listeners/control')).match(/:(\d+)"?$/)![1]!;
    await probe.close();
    const config = { DisableNetwork: 1, ControlPort: `127.0.0.1:${port}` };
    let own: Tor | undefined = await launchTor({ config });
    let next: Tor | undefined;
    try {
      const endpoint = `onion:80:awaitUpload=false:republish=true:privateKey=${key.replace(/:/g, '\\:')}:control=tcp\\:127.0.0.1\\:${port}`;
      const { child, line, stderr } = startApp({ PORT: endpoint }, 30_000);
      children.push(child);
      const out = await line;
      assert.equal(out.onion, `${serviceId}.onion:80`, `stderr: ${stderr()}`);
      process.kill(own.pid!, 'SIGKILL');
      await waitUntil(() => /TORCON_ONION_LOST/.test(stderr()), 'the TORCON_ONION_LOST warning', 10_000);
      assert.match(stderr(), /is gone \(.*\); the server still listens locally: torcon publishes it again once a tor is back \(republish=true\)$/m);
      assert.ok(!stderr().includes(key.slice(11, 40)), 'the key is in no message');
      await own.close();
      own = undefined;
      next = await launchTor({ config });
      // The app's torcon publishes it again within its backoff (1, 2, 4 s...): then the key is taken.
      let collided = false;
      for (let i = 0; i < 100 && !collided; i++) {
        try {
          await next.control.command(`ADD_ONION ${key} Port=80,127.0.0.1:9`);
          await next.control.command(`DEL_ONION ${serviceId}`);
          await new Promise((r) => setTimeout(r, 200));
        } catch (err) {
          collided = /collision/i.test((err as Error).message);
          if (!collided) throw err;
        }
      }
      assert.ok(collided, `not published again; stderr: ${stderr()}`);
      const local = out.address as net.AddressInfo;
      assert.match(await get(`http://127.0.0.1:${local.port}/still`), /at \/still/);
      assert.equal(await stopApp(child), 0);
    } finally {
      await next?.close();
      await own?.close();
    }
  });

  describe('on the private test network', () => {
    let network: TestNetwork;
    let tor: Tor;
    before(async function () {
      this.timeout(240_000);
      network = await sharedTestNetwork();
      tor = await connectTor({ control: network.controlEndpoint });
    });
    after(async () => {
      await tor?.close();
    });

    it('turns PORT=onion:80 into a published onion service of the unchanged app', async () => {
      const { child, line } = startApp({ ...network.env(), PORT: 'onion:80' }, 90_000);
      children.push(child);
      const out = await line;
      assert.ok(out.onion, `no onion address: ${JSON.stringify(out)}`);
      const [host, port] = out.onion.split(':');
      assert.equal(port, '80');
      assert.ok(isValidServiceId(host!.replace(/\.onion$/, '')));
      assert.equal(out.listeningEvents, 1, "the app heard 'listening' exactly once");
      assert.equal(out.lateListeningEvents, 1, "a listener the app added after the first tick heard 'listening' exactly once");
      const local = out.address as net.AddressInfo;
      assert.equal(local.address, '127.0.0.1', 'server.address() is the local side tor forwards to');
      assert.match(await get(`http://127.0.0.1:${local.port}/local`), /at \/local/);

      const socket = await retryOnionLookup(() => tor.connect(`${host}:80`, { timeoutMs: 30_000 }));
      assert.match(await get(`http://${host}/via-tor`, socket), /^hello from pid \d+ at \/via-tor\n$/);
      assert.equal(await stopApp(child), 0);
    });

    it('takes the options form too: server.listen({ port: process.env.PORT })', async () => {
      const { child, line } = startApp({ ...network.env(), PORT: 'onion:8080', LISTEN_FORM: 'options' }, 90_000);
      children.push(child);
      const out = await line;
      assert.ok(out.onion, `no onion address: ${JSON.stringify(out)}`);
      const [host, port] = out.onion.split(':');
      assert.equal(port, '8080');
      assert.ok(isValidServiceId(host!.replace(/\.onion$/, '')));
      assert.equal(out.listeningEvents, 1);
      assert.equal(out.lateListeningEvents, 1);
      const socket = await retryOnionLookup(() => tor.connect(`${host}:8080`, { timeoutMs: 30_000 }));
      assert.match(await get(`http://${host}:8080/options-form`, socket), /at \/options-form\n$/);
      assert.equal(await stopApp(child), 0);
    });
  });
});
