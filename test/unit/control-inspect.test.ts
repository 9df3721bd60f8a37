import assert from 'node:assert/strict';
import util from 'node:util';
import { TorControl } from '../../src/control/tor-control.js';
import { openControlSocket } from '../../src/control/transport.js';
import { Tor } from '../../src/tor/tor.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

/** `util.inspect` (console.log) of a control connection, alone or inside the objects that hold one. */
describe('TorControl under util.inspect', () => {
  let peer: ScriptedPeer;
  let control: TorControl;

  beforeEach(async () => {
    peer = await ScriptedPeer.start();
    control = new TorControl(await openControlSocket({ kind: 'tcp', host: '127.0.0.1', port: peer.port }));
  });
  afterEach(async () => {
    control.destroy();
    await peer.close();
  });

  /** A Buffer's bytes as util.inspect prints them (`<Buffer 32 35 30 ...>`). */
  const inspectedHex = (text: string) => Buffer.from(text).toString('hex').match(/../g)!.join(' ');

  it('shows neither the bytes tor sent last (an onion private key) nor socket internals', async () => {
    const key = 'ED25519-V3:' + 'kL9+secretKeyMaterialXyZ'.repeat(3);
    const reply = control.command('ADD_ONION NEW:ED25519-V3 Port=80');
    await peer.waitForLines(1);
    peer.write('250-ServiceID=' + 'a'.repeat(56) + '\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A read of its own: the socket's read buffer starts with the key's line.
    peer.write(`250-PrivateKey=${key}\r\n250 OK\r\n`);
    await reply;
    const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: peer.endpoint });
    for (const shown of [control, tor.socks]) {
      for (const options of [{}, { depth: 8 }, { depth: Infinity, showHidden: true }]) {
        const text = util.inspect(shown, options);
        assert.ok(!text.includes(key.slice(11, 35)), 'the key as text');
        assert.ok(!text.includes(inspectedHex(`PrivateKey=${key.slice(0, 20)}`).slice(0, 60)), 'the key as inspected bytes');
      }
    }
    assert.equal(util.inspect(control), 'TorControl { open, 0 awaiting a reply, events: [] }');
  });
});
