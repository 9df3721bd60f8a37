import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import sinon from 'sinon';
import { OnionPublishError, TorControlClosedError, TorNotAvailableError } from '../../src/errors.js';
import { TorOnionService } from '../../src/onion/onion-service.js';
import type { OnionServiceOptions } from '../../src/onion/onion-types.js';
import type { TorLike } from '../../src/plugins/plugin-types.js';
import { republishWhenLost } from '../../src/plugins/republish.js';
import { untilLost } from '../../src/cli/commands/serve-commands.js';
import type { CliContext } from '../../src/cli/context.js';

/**
 * What `torcon serve` says of a `republish=true` service after tor is gone: a line for each failed
 * try, and an exit (the promise rejects) when torcon gives up. The loop itself is in
 * onion-republish.test.ts; the whole command against a real tor in test/integration/cli.test.ts.
 */

const ID = 'ln7qg4inealwyvhunjodlf54iaovbfkvrulte3e3umz4t27xgc2cgsad';
const OTHER = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
const KEY = `ED25519-V3:${'A'.repeat(86)}==`;
const PORT = 'onion:80:republish=true';

function service(id: string): TorOnionService {
  const teardown = { remove: async () => undefined, closeListener: () => undefined };
  return new TorOnionService({ serviceId: id, ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }], privateKey: KEY, kind: 'ephemeral', detached: false }, teardown);
}

describe('cli: serve with republish=true, after its tor is gone', () => {
  let clock: sinon.SinonFakeTimers;
  let server: net.Server;
  let stderr: string;
  let ctx: CliContext;

  beforeEach(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    stderr = '';
    const err = new PassThrough();
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    ctx = { output: { out: new PassThrough(), err, interactive: false }, globals: () => ({}), signal: new AbortController().signal } as unknown as CliContext;
  });
  afterEach(async () => {
    clock.restore();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('prints a line for each failed try, then exits (rejects) when torcon gives up on another address', async () => {
    const first = service(ID);
    let calls = 0;
    const other: TorLike = {
      connect: () => Promise.reject(new Error('not used')),
      createOnionService: async () => service(OTHER),
    };
    republishWhenLost(first, server, { ports: [{ virtualPort: 80 }] } as OnionServiceOptions, async () => {
      if (++calls <= 2) throw new TorNotAvailableError('no running tor found', []);
      return other;
    });
    const ended = untilLost(first, ctx, PORT).catch((e: unknown) => e);
    first.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(3_000);
    const err = await ended;
    assert.ok(err instanceof OnionPublishError, String(err));
    assert.deepEqual(stderr.trimEnd().split('\n'), [
      `serve: ${PORT} is gone (tor died); publishing it again once a tor is back (republish=true)`,
      `serve: ${PORT} not published yet (TOR_NOT_AVAILABLE: no running tor found); next try in 1 s`,
      `serve: ${PORT} not published yet (TOR_NOT_AVAILABLE: no running tor found); next try in 2 s`,
    ]);
    await first.close();
  });
});
