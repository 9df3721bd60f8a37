import assert from 'node:assert/strict';
import net from 'node:net';
import sinon from 'sinon';
import { OnionPublishError, TorNotAvailableError } from '../../src/errors.js';
import { TorOnionService } from '../../src/onion/onion-service.js';
import { warnWhenLost } from '../../src/register-hook.js';

/**
 * The process warnings torcon/register gives an unchanged application, which has no listener of
 * its own on the service: here the one for torcon giving up republish=true. (The warning for a
 * lost service, with and without republish=true, is checked against real tors in
 * test/integration/register.test.ts.)
 */

const ID = 'ln7qg4inealwyvhunjodlf54iaovbfkvrulte3e3umz4t27xgc2cgsad';

describe('torcon/register: warnings for an unchanged app when republish=true gives up', () => {
  let server: net.Server;
  // Stubbed: the warnings are read here, not printed in the middle of the test report.
  let emitWarning: sinon.SinonStub;
  const warnings = () => emitWarning.getCalls().map((c) => ({ message: String(c.args[0]), code: (c.args[1] as { code?: string } | undefined)?.code }));

  beforeEach(async () => {
    emitWarning = sinon.stub(process, 'emitWarning');
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    emitWarning.restore();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('warns once torcon gives up (TORCON_ONION_LOST), not for a try it will make again', async () => {
    const service = new TorOnionService({ serviceId: ID, ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }], kind: 'ephemeral', detached: false }, { remove: async () => undefined, closeListener: () => undefined });
    warnWhenLost(service, server);
    service.emit('republishFailed', new TorNotAvailableError('no running tor found', []), 1_000);
    assert.deepEqual(warnings(), [], 'no warning for a try torcon will make again');
    service.emit('republishFailed', new OnionPublishError(`publishing ${service.address} again gave another address: torcon gave up`), undefined);
    const [warning, ...more] = warnings();
    assert.deepEqual(more, []);
    assert.equal(warning?.code, 'TORCON_ONION_LOST');
    assert.match(warning?.message ?? '', new RegExp(`^torcon: gave up publishing the onion service ${ID}\\.onion:80 again \\(.*gave another address.*\\); the server still listens locally: restart the application to publish it again$`));
    // Nobody to tell once the server is closed.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    service.emit('republishFailed', new OnionPublishError('again'), undefined);
    assert.equal(warnings().length, 1);
  });
});
