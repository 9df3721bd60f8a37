import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fakeControlPerTest } from '../support/fake-control-per-test.js';
import type { TorControl } from '../../src/control/tor-control.js';
import { TorControlError, TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import { listOnionServices, parseOnionIdList } from '../../src/onion/onion-inventory.js';
import { OnionServiceManager } from '../../src/onion/onion-service-manager.js';
import { serviceIdFromPublicKey } from '../../src/onion/service-id.js';
import { FakeControlServer } from '../support/fake-control-server.js';

const newId = () => serviceIdFromPublicKey(randomBytes(32));
const [A, B, C] = [newId(), newId(), newId()];

describe('onion service inventory: listOnionServices and removeOnionService', () => {
  describe('parseOnionIdList', () => {
    const cases: Array<[string, string, string[]]> = [
      ['nothing', '', []],
      ['one id', A, [A]],
      ['several lines (a data block), blank lines and spaces around', `${A}\n\n ${B} \n${C}\n`, [A, B, C]],
      ['an upper-case id, lowered', A.toUpperCase(), [A]],
    ];
    for (const [what, value, expected] of cases) {
      it(`reads ${what}`, () => assert.deepEqual(parseOnionIdList(value, 'onions/current'), expected));
    }

    it('refuses a line that is no v3 id (a v2 id, a bad checksum, an address with .onion) with TOR_PROTOCOL_ERROR', () => {
      const badChecksum = A.slice(0, 50) + (A[50] === 'a' ? 'b' : 'a') + A.slice(51);
      for (const bad of ['expyuzz4wqqyqhjn', badChecksum, `${A}.onion`, `${A}\nnot-an-id`]) {
        assert.throws(() => parseOnionIdList(bad, 'onions/detached'), (e: unknown) => e instanceof TorProtocolError && /onions\/detached/.test(e.message));
      }
    });
  });

  describe('against a fake control port', () => {
    let fake: FakeControlServer;
    let control: TorControl;
    let manager: OnionServiceManager;

    fakeControlPerTest((f, c) => {
      fake = f;
      control = c;
      manager = new OnionServiceManager(c);
    });

    const delOnions = () => fake.commands.filter((c) => c.startsWith('DEL_ONION'));

    it("lists this connection's services, then the detached ones, each once", async () => {
      fake.info({ 'onions/current': `${A}\n${B}`, 'onions/detached': `${C}\n${A}` });
      assert.deepEqual(await manager.list(), [
        { serviceId: A, hostname: `${A}.onion`, detached: false },
        { serviceId: B, hostname: `${B}.onion`, detached: false },
        { serviceId: C, hostname: `${C}.onion`, detached: true },
      ]);
    });

    it('lists nothing when tor has nothing (empty values)', async () => {
      fake.info({ 'onions/current': '', 'onions/detached': '' });
      assert.deepEqual(await listOnionServices(control), []);
    });

    it('takes an older tor\'s "No onion services of the specified type" for an empty list', async () => {
      fake.info({ 'onions/current': A });
      fake.handle(/^GETINFO onions\/detached$/, () => ['551 No onion services of the specified type.']);
      assert.deepEqual(await listOnionServices(control), [{ serviceId: A, hostname: `${A}.onion`, detached: false }]);
    });

    it('passes any other refusal on as TorControlError', async () => {
      fake.handle(/^GETINFO onions\/current$/, () => ['552 Unrecognized key "onions/current"']);
      await assert.rejects(manager.list(), (e: unknown) => e instanceof TorControlError && e.status === 552);
    });

    it("takes a JavaScript caller's null options as none", async () => {
      fake.info({ 'onions/current': '', 'onions/detached': A });
      fake.handle(new RegExp(`^DEL_ONION ${A}$`), () => ['250 OK']);
      assert.deepEqual(await manager.list(null as never), [{ serviceId: A, hostname: `${A}.onion`, detached: true }]);
      assert.equal(await manager.remove(A, null as never), true);
    });

    it('refuses bad options before sending anything', async () => {
      await assert.rejects(manager.list({ timeoutMs: -5 }), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(manager.remove(A, { signal: 'stop' as never }), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(manager.list(5000 as never), { code: 'TOR_INVALID_VALUE' });
      await assert.rejects(manager.remove(A, 5000 as never), { code: 'TOR_INVALID_VALUE' });
      assert.deepEqual(fake.commands.filter((c) => /^(GETINFO|DEL_ONION)/.test(c)), []);
    });

    it('removes by DEL_ONION: true when tor removed it, false when tor has none it lets this connection remove', async () => {
      fake.handle(new RegExp(`^DEL_ONION ${A}$`), () => ['250 OK']);
      fake.handle(new RegExp(`^DEL_ONION ${B}$`), () => ['552 Unknown Onion Service id']);
      assert.equal(await manager.remove(`${A.toUpperCase()}.onion`), true);
      assert.equal(await manager.remove(B), false);
      assert.deepEqual(delOnions(), [`DEL_ONION ${A}`, `DEL_ONION ${B}`]);
    });

    it('passes other refusals on as TorControlError', async () => {
      fake.handle(/^DEL_ONION /, () => ['512 Malformed Onion Service id']);
      await assert.rejects(manager.remove(A), (e: unknown) => e instanceof TorControlError && e.status === 512);
    });

    it('refuses anything but a v3 address with TOR_INVALID_VALUE, sending nothing', async () => {
      for (const bad of ['expyuzz4wqqyqhjn.onion', 'example.com', `${A}:80`, `${A}\r\nSIGNAL HALT`, 42 as never]) {
        await assert.rejects(manager.remove(bad), (e: unknown) => e instanceof TorInvalidValueError);
      }
      assert.deepEqual(delOnions(), []);
    });

    it('closes a service it created through its handle: one DEL_ONION, the listener torcon opened closed too', async () => {
      const key = `ED25519-V3:${randomBytes(64).toString('base64')}`;
      fake.handle(/^ADD_ONION /, () => [`250-ServiceID=${A}`, `250-PrivateKey=${key}`, '250 OK']);
      fake.handle(/^DEL_ONION /, () => ['250 OK']);
      const server = net.createServer();
      const service = await manager.create({ ports: [{ virtualPort: 80 }], server, awaitUpload: false });
      assert.equal(server.listening, true);
      const closed = new Promise((r) => (service as unknown as NodeJS.EventEmitter).once('close', r));
      assert.equal(await manager.remove(service.hostname), true);
      await closed;
      assert.equal(server.listening, false, 'the listener torcon opened for it is closed');
      assert.deepEqual(delOnions(), [`DEL_ONION ${A}`]);
      // Gone: removing it again asks tor, which no longer has it.
      fake.handle(/^DEL_ONION /, () => ['552 Unknown Onion Service id']);
      assert.equal(await manager.remove(A), false);
    });
  });
});
