import assert from 'node:assert/strict';
import net from 'node:net';
import sinon from 'sinon';
import { OnionPublishError, TorControlClosedError, TorNotAvailableError } from '../../src/errors.js';
import { TorOnionService, type OnionServiceTeardown } from '../../src/onion/onion-service.js';
import type { OnionServiceOptions } from '../../src/onion/onion-types.js';
import type { TorLike } from '../../src/plugins/plugin-types.js';
import { isRepublished, republishWhenLost } from '../../src/plugins/republish.js';

/**
 * republish=true's loop (src/plugins/republish.ts) with fake tors and sinon's clock: what it asks
 * for, when it tries again, and when it stops. The real thing (a tor killed and another started on
 * its control port) is in test/integration/onion-offline.test.ts.
 */

const ID = 'ln7qg4inealwyvhunjodlf54iaovbfkvrulte3e3umz4t27xgc2cgsad';
const OTHER = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
const KEY = `ED25519-V3:${'A'.repeat(86)}==`;

function teardown(): OnionServiceTeardown & { removed: number; listenerClosed: number } {
  const t = {
    removed: 0,
    listenerClosed: 0,
    remove: async () => {
      t.removed++;
    },
    closeListener: () => {
      t.listenerClosed++;
    },
  };
  return t;
}

function service(id = ID, td = teardown()): TorOnionService {
  return new TorOnionService({ serviceId: id, ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }], privateKey: KEY, kind: 'ephemeral', detached: false }, td);
}

/** A TorLike whose createOnionService records its options and makes `make()`. */
function fakeTor(make: () => TorOnionService): TorLike & { asked: OnionServiceOptions[] } {
  const asked: OnionServiceOptions[] = [];
  return {
    asked,
    connect: () => Promise.reject(new Error('not used')),
    createOnionService: async (opts: OnionServiceOptions) => {
      asked.push(opts);
      return make();
    },
  };
}

/** A findTor for which no tor is ever back; `calls()` counts the tries. */
function noTorYet(): { find: () => Promise<TorLike>; calls: () => number } {
  let calls = 0;
  return {
    find: async () => {
      calls++;
      throw new TorNotAvailableError('no tor yet', []);
    },
    calls: () => calls,
  };
}

describe('onion: republish=true, the loop', () => {
  let clock: sinon.SinonFakeTimers;
  let server: net.Server;

  beforeEach(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    clock.restore();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const OPTIONS: OnionServiceOptions = {
    ports: [{ virtualPort: 80 }],
    privateKeyFile: '/k',
    localPort: 8080,
    localAddress: '127.0.0.1',
    maxStreams: 3,
    signal: new AbortController().signal,
    onProgress: () => undefined,
  };

  it('after lost, tries at once, then after 1, 2, 4 s...; publishes with the service\'s own key and the listening server; then republished', async () => {
    const td = teardown();
    const first = service(ID, td);
    let inner: TorOnionService | undefined;
    const tor = fakeTor(() => (inner = service(ID)));
    let calls = 0;
    const findTor = async (): Promise<TorLike> => {
      calls++;
      if (calls <= 3) throw new TorNotAvailableError('no tor yet', []);
      return tor;
    };
    republishWhenLost(first, server, OPTIONS, findTor);
    assert.equal(isRepublished(first), true);
    const republished = new Promise<void>((resolve) => first.once('republished', resolve));
    first.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(0);
    assert.equal(calls, 1);
    await clock.tickAsync(999);
    assert.equal(calls, 1, 'waits 1 s');
    await clock.tickAsync(1);
    assert.equal(calls, 2);
    await clock.tickAsync(2_000);
    assert.equal(calls, 3);
    await clock.tickAsync(4_000);
    await republished;
    assert.equal(calls, 4);
    assert.equal(first.closed, false);
    assert.deepEqual(tor.asked, [{ ports: [{ virtualPort: 80 }], maxStreams: 3, privateKey: KEY, server }]);
    // close() now removes the new publication, and closes the listener as the first one would.
    const innerClosed = new Promise<void>((resolve) => inner!.once('close', resolve));
    await first.close();
    await innerClosed;
    assert.deepEqual([td.removed, td.listenerClosed], [0, 1], 'the lost publication removed again, or the listener left open');
  });

  it('backs off to at most 30 s between tries', async () => {
    const first = service();
    const finder = noTorYet();
    republishWhenLost(first, server, OPTIONS, finder.find);
    first.connectionLost(new TorControlClosedError('tor died'));
    // 0, 1, 3, 7, 15, 31, 61 (30 s after 31), 91 s.
    await clock.tickAsync(91_000);
    assert.equal(finder.calls(), 8);
    await clock.tickAsync(29_999);
    assert.equal(finder.calls(), 8);
    await clock.tickAsync(1);
    assert.equal(finder.calls(), 9);
    await first.close();
  });

  it("reports each failed try with republishFailed (the error, the wait before the next), and a listener that throws does not stop it", async () => {
    const first = service();
    const finder = noTorYet();
    republishWhenLost(first, server, OPTIONS, finder.find);
    const heard: Array<[string, number | undefined]> = [];
    first.on('republishFailed', (err, nextTryMs) => {
      heard.push([(err as { code?: string }).code ?? err.message, nextTryMs]);
      throw new Error('a listener that throws');
    });
    first.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(7_000);
    assert.deepEqual(heard, [
      ['TOR_NOT_AVAILABLE', 1_000],
      ['TOR_NOT_AVAILABLE', 2_000],
      ['TOR_NOT_AVAILABLE', 4_000],
      ['TOR_NOT_AVAILABLE', 8_000],
    ]);
    assert.equal(finder.calls(), 4, 'the loop went on after each throwing listener');
    await first.close();
    await clock.tickAsync(60_000);
    assert.equal(heard.length, 4, 'nothing after close()');
  });

  it('stops when the service is closed while it waits, and when its server no longer listens', async () => {
    const first = service();
    const finder = noTorYet();
    republishWhenLost(first, server, OPTIONS, finder.find);
    first.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(0);
    await first.close();
    await clock.tickAsync(120_000);
    assert.equal(finder.calls(), 1);

    const second = service();
    const secondFinder = noTorYet();
    republishWhenLost(second, server, OPTIONS, secondFinder.find);
    second.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(0);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await clock.tickAsync(120_000);
    assert.equal(secondFinder.calls(), 1);
    await second.close();
  });

  it('gives up, removing what it made, when the tor that came back gives another address', async () => {
    const first = service();
    const td = teardown();
    const tor = fakeTor(() => service(OTHER, td));
    let calls = 0;
    republishWhenLost(first, server, OPTIONS, async () => {
      calls++;
      return tor;
    });
    let republished = false;
    first.on('republished', () => (republished = true));
    const failures: Array<[Error, number | undefined]> = [];
    first.on('republishFailed', (err, nextTryMs) => failures.push([err, nextTryMs]));
    first.connectionLost(new TorControlClosedError('tor died'));
    await clock.tickAsync(60_000);
    assert.equal(calls, 1);
    assert.equal(td.removed, 1, 'the other address was removed again');
    assert.equal(republished, false);
    assert.equal(failures.length, 1);
    assert.ok(failures[0]![0] instanceof OnionPublishError, String(failures[0]![0]));
    assert.match(failures[0]![0].message, /gave another address .*torcon gave up/);
    assert.equal(failures[0]![1], undefined, 'no next try');
    assert.equal(first.closed, true);
    await first.close();
  });

  it('publishes again after each loss', async () => {
    const first = service();
    const tor = fakeTor(() => service(ID));
    republishWhenLost(first, server, OPTIONS, async () => tor);
    for (let i = 0; i < 3; i++) {
      const republished = new Promise<void>((resolve) => first.once('republished', resolve));
      // The first loss is the first publication's; later ones are the republished one's.
      first.connectionLost(new TorControlClosedError(`loss ${i}`));
      await clock.tickAsync(0);
      await republished;
      assert.equal(first.closed, false);
    }
    assert.equal(tor.asked.length, 3);
    await first.close();
  });

  it('a publication lost in its turn is closed: it gives back its share of the listener, and close() leaves none behind (found by QA)', async () => {
    const td = teardown();
    const first = service(ID, td);
    const made: Array<{ service: TorOnionService; td: ReturnType<typeof teardown> }> = [];
    const tor = fakeTor(() => {
      const t = teardown();
      const s = service(ID, t);
      made.push({ service: s, td: t });
      return s;
    });
    republishWhenLost(first, server, OPTIONS, async () => tor);
    for (let i = 0; i < 3; i++) {
      const republished = new Promise<void>((resolve) => first.once('republished', resolve));
      // tor dies under the first publication, then under each one made since.
      (i === 0 ? first : made[i - 1]!.service).connectionLost(new TorControlClosedError(`loss ${i}`));
      await clock.tickAsync(0);
      await republished;
    }
    assert.equal(made.length, 3);
    await first.close();
    // Lost ones: nothing to remove from tor, their share of the listener given back; the last one
    // removed and its share given back by close(), as the first one's.
    assert.deepEqual(
      made.map(({ service: s, td: t }) => [s.closed, t.removed, t.listenerClosed]),
      [
        [true, 0, 1],
        [true, 0, 1],
        [true, 1, 1],
      ],
    );
    assert.deepEqual([td.removed, td.listenerClosed], [0, 1]);
  });
});
