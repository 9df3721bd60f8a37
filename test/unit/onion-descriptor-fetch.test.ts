import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openTorControl } from '../../src/control/transport.js';
import type { TorControl } from '../../src/control/tor-control.js';
import {
  TorAbortError,
  TorControlClosedError,
  TorControlError,
  TorInvalidValueError,
  TorOnionDescriptorNotFoundError,
  TorTimeoutError,
} from '../../src/errors.js';
import { fetchOnionDescriptor, normalizeServers, parseDescriptorHeader } from '../../src/onion/descriptor-fetch.js';
import { serviceIdFromPublicKey } from '../../src/onion/service-id.js';
import { Tor } from '../../src/tor/tor.js';
import { FakeControlServer, dataEvent } from '../support/fake-control-server.js';

const newId = () => serviceIdFromPublicKey(randomBytes(32));
const fp = (c: string) => c.repeat(40);
const [DIR_A, DIR_B, DIR_C] = [fp('A'), fp('B'), fp('C')];
const BLINDED = 'tclqiFMbQyVha4UZKalPykD0Sl8cD0RrBc4NK4NDZ/w';

/** A descriptor's outer layer as rend-spec-v3 2.4 lays it out (the blobs are not real). */
const DESCRIPTOR = [
  'hs-descriptor 3',
  'descriptor-lifetime 180',
  'descriptor-signing-key-cert',
  '-----BEGIN ED25519 CERT-----',
  'AQgABvqnAaAwqLkC3TwjpQtCd5Dj9jFwjZ2RBNn+Ck9ZEXuBG6C/AQAgBAD1BXPy',
  '-----END ED25519 CERT-----',
  'revision-counter 18446744073709551615',
  'superencrypted',
  '-----BEGIN MESSAGE-----',
  'hs-descriptor 9',
  'revision-counter 1',
  '-----END MESSAGE-----',
  'signature x0oQOxBgi8ztLlFBHW7bLJGFHE9LeNzTTn2qUfBHpD8KnKD0B6W2UXfhHNSnrjMA',
].join('\n');

describe('fetching onion service descriptors (HSFETCH)', () => {
  describe('parseDescriptorHeader', () => {
    it('reads the version, lifetime and a 64-bit revision counter, and nothing past superencrypted', () => {
      assert.deepEqual(parseDescriptorHeader(DESCRIPTOR), {
        version: 3,
        lifetimeMinutes: 180,
        revisionCounter: 18446744073709551615n,
      });
    });

    it('leaves missing or malformed fields undefined (CRLF line ends read too)', () => {
      assert.deepEqual(parseDescriptorHeader(''), { version: undefined, lifetimeMinutes: undefined, revisionCounter: undefined });
      assert.deepEqual(
        parseDescriptorHeader('hs-descriptor three\r\ndescriptor-lifetime 180 extra\r\nrevision-counter -1\r\n'),
        { version: undefined, lifetimeMinutes: undefined, revisionCounter: undefined },
      );
      assert.deepEqual(parseDescriptorHeader('hs-descriptor 3\r\nrevision-counter 7\r\n'), {
        version: 3,
        lifetimeMinutes: undefined,
        revisionCounter: 7n,
      });
    });
  });

  describe('normalizeServers', () => {
    it('takes fingerprints with or without $, in any case, each once', () => {
      assert.deepEqual(normalizeServers(undefined), []);
      assert.deepEqual(normalizeServers([`$${DIR_A}`, DIR_A.toLowerCase(), DIR_B]), [DIR_A, DIR_B]);
    });

    it('refuses anything else with TOR_INVALID_VALUE, without showing the value', () => {
      const bad: unknown[] = [
        DIR_A,
        [DIR_A.slice(1)],
        [`${DIR_A} SERVER=${DIR_B}`],
        [`${DIR_A}\r\nSIGNAL HALT`],
        [`$${DIR_A}~nick`],
        ['G'.repeat(40)],
        [42],
        [null],
      ];
      for (const servers of bad) {
        assert.throws(
          () => normalizeServers(servers),
          (e: unknown) => e instanceof TorInvalidValueError && !e.message.includes('SIGNAL') && !e.message.includes(DIR_B),
        );
      }
    });
  });

  describe('against a fake control port', () => {
    let fake: FakeControlServer;
    let control: TorControl;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);

    before(() => process.on('unhandledRejection', onUnhandled));
    after(() => process.off('unhandledRejection', onUnhandled));

    beforeEach(async () => {
      unhandled.length = 0;
      fake = await FakeControlServer.start();
      ({ control } = await openTorControl(fake.endpoint));
    });

    afterEach(async () => {
      control.destroy();
      await fake.close();
      // A rejection nobody handled surfaces after a turn of the event loop.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
    });

    /** Events tor sends, by kind. */
    const requested = (id: string, dir: string) => fake.event(`HS_DESC REQUESTED ${id} NO_AUTH $${dir}~relay${dir[0]} ${BLINDED} HSDIR_INDEX=${'0'.repeat(64)}`);
    const failed = (id: string, dir: string, reason = 'NOT_FOUND') => {
      fake.event(`HS_DESC FAILED ${id} NO_AUTH $${dir}~relay${dir[0]} ${BLINDED} REASON=${reason}`);
      fake.rawEvent(dataEvent(`HS_DESC_CONTENT ${id} ${BLINDED} $${dir}~relay${dir[0]}`, ''));
    };
    const received = (id: string, dir: string, text = DESCRIPTOR) => {
      fake.event(`HS_DESC RECEIVED ${id} NO_AUTH $${dir}~relay${dir[0]} ${BLINDED}`);
      fake.rawEvent(dataEvent(`HS_DESC_CONTENT ${id} ${BLINDED} $${dir}~relay${dir[0]}`, text));
    };
    /** Runs `then` after the reply to the command being answered has been written, as tor does. */
    const afterReply = (then: () => void) => setImmediate(then);
    /** tor's answer to every HSFETCH: one HSDir asked, and it has the descriptor. */
    const answerFound = (id: string, dir: string) =>
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, dir);
          received(id, dir);
        });
        return ['250 OK'];
      });
    const hsfetches = () => fake.commands.filter((c) => c.startsWith('HSFETCH'));
    const subscribedNow = () => [...[...fake.connections][0]!.events];

    it('subscribes to HS_DESC and HS_DESC_CONTENT before HSFETCH, resolves with the descriptor, and unsubscribes', async () => {
      const id = newId();
      answerFound(id, DIR_A);
      const d = await fetchOnionDescriptor(control, `${id.toUpperCase()}.onion`);
      assert.deepEqual(d, {
        serviceId: id,
        source: 'hsdir',
        hsDir: DIR_A,
        hsDirNickname: 'relayA',
        descriptorId: BLINDED,
        descriptor: DESCRIPTOR,
        version: 3,
        lifetimeMinutes: 180,
        revisionCounter: 18446744073709551615n,
      });
      const fetchAt = fake.commands.indexOf(`HSFETCH ${id}`);
      const subscribedAt = fake.commands.findIndex((c) => /^SETEVENTS .*HS_DESC .*HS_DESC_CONTENT/.test(c) || /^SETEVENTS HS_DESC HS_DESC_CONTENT$/.test(c));
      assert.ok(subscribedAt !== -1 && subscribedAt < fetchAt, fake.commands.join('\n'));
      assert.deepEqual(subscribedNow(), []);
    });

    it('ignores the events of other services and a FAILED from a directory it did not ask', async () => {
      const [id, other] = [newId(), newId()];
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          received(other, DIR_C, 'hs-descriptor 3\nother\n');
          failed(id, DIR_C);
          requested(id, DIR_B);
          received(id, DIR_B);
        });
        return ['250 OK'];
      });
      const d = await fetchOnionDescriptor(control, id);
      assert.equal(d.hsDir, DIR_B);
      assert.equal(d.descriptor, DESCRIPTOR);
    });

    it('follows tor from HSDir to HSDir after NOT_FOUND, and rejects with TOR_ONION_NOT_FOUND once tor asks no other', async () => {
      const id = newId();
      let retries = 0;
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          failed(id, DIR_A);
        });
        return ['250 OK'];
      });
      // tor asks the next HSDir as the failed connection closes, which can be after it has read
      // the next command: here its REQUESTED comes out only before the reply to the second command
      // after the FAILED. After two retries, tor has no HSDir left and says nothing.
      let commandsSinceFailure = 0;
      fake.handle(/^GETINFO version$/, () => {
        if (++commandsSinceFailure === 2 && retries < 2) {
          commandsSinceFailure = 0;
          const dir = [DIR_B, DIR_C][retries++]!;
          requested(id, dir);
          afterReply(() => failed(id, dir, dir === DIR_C ? 'QUERY_REJECTED' : 'NOT_FOUND'));
        }
        return undefined;
      });
      const err = await fetchOnionDescriptor(control, id).catch((e: unknown) => e);
      assert.ok(err instanceof TorOnionDescriptorNotFoundError, String(err));
      assert.equal(err.code, 'TOR_ONION_NOT_FOUND');
      assert.equal(err.serviceId, id);
      assert.deepEqual(err.attempts, [
        { hsDir: DIR_A, reason: 'NOT_FOUND' },
        { hsDir: DIR_B, reason: 'NOT_FOUND' },
        { hsDir: DIR_C, reason: 'QUERY_REJECTED' },
      ]);
      assert.match(err.message, new RegExp(`${id}\\.onion.*\\$${DIR_A} answered NOT_FOUND.*\\$${DIR_C} answered QUERY_REJECTED`));
      assert.equal(hsfetches().length, 1);
      assert.ok(!fake.commands.some((c) => c.includes('hs/client/desc')), 'tor asked HSDirs: its cache is not the answer');
      assert.deepEqual(subscribedNow(), []);
    });

    it('resolves with a descriptor a retry of tor found after a NOT_FOUND', async () => {
      const id = newId();
      let retried = false;
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          failed(id, DIR_A);
        });
        return ['250 OK'];
      });
      fake.handle(/^GETINFO version$/, () => {
        if (!retried) {
          retried = true;
          requested(id, DIR_B);
          afterReply(() => received(id, DIR_B));
        }
        return undefined;
      });
      assert.equal((await fetchOnionDescriptor(control, id)).hsDir, DIR_B);
    });

    it("answers from tor's client cache when tor asks no HSDir at all", async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => ['250 OK']);
      fake.info({ [`hs/client/desc/id/${id}`]: DESCRIPTOR });
      assert.deepEqual(await fetchOnionDescriptor(control, id), {
        serviceId: id,
        source: 'cache',
        hsDir: undefined,
        descriptorId: undefined,
        descriptor: DESCRIPTOR,
        version: 3,
        lifetimeMinutes: 180,
        revisionCounter: 18446744073709551615n,
      });
    });

    it("answers from the cache when events of other services come while it reads tor's cache", async () => {
      const [id, other] = [newId(), newId()];
      fake.handle(/^HSFETCH /, () => ['250 OK']);
      fake.handle(/^GETINFO hs\/client\/desc\/id\//, () => {
        // Another fetch's events, before the cache's answer.
        requested(other, DIR_B);
        failed(other, DIR_B);
        return undefined;
      });
      fake.info({ [`hs/client/desc/id/${id}`]: DESCRIPTOR });
      const d = await fetchOnionDescriptor(control, id);
      assert.equal(d.source, 'cache');
      // Done once answered: no further round trips (any would reach the fake before this one).
      await control.getInfo('version');
      assert.equal(fake.commands.filter((c) => c.startsWith('GETINFO hs/client/desc/id/')).length, 1);
      assert.equal(fake.commands.filter((c) => c === 'GETINFO version').length, 3);
    });

    it('rejects with QUERY_NO_HSDIR when tor asks no HSDir at all and has no descriptor cached', async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => ['250 OK']);
      fake.handle(/^GETINFO hs\/client\/desc\/id\//, () => ['551 Couldn\'t find a descriptor']);
      await assert.rejects(fetchOnionDescriptor(control, id), (e: unknown) => {
        assert.ok(e instanceof TorOnionDescriptorNotFoundError);
        assert.deepEqual(e.attempts, [{ hsDir: 'UNKNOWN', reason: 'QUERY_NO_HSDIR' }]);
        assert.match(e.message, /asked no HSDir/);
        return true;
      });
    });

    it('with servers: sends SERVER= for each (normalized), and rejects once each has failed', async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          requested(id, DIR_B);
          failed(id, DIR_B, 'QUERY_REJECTED');
          failed(id, DIR_A);
        });
        return ['250 OK'];
      });
      const err = await fetchOnionDescriptor(control, id, { servers: [`$${DIR_A.toLowerCase()}`, DIR_B, DIR_A] }).catch((e: unknown) => e);
      assert.ok(err instanceof TorOnionDescriptorNotFoundError, String(err));
      assert.deepEqual(err.attempts, [
        { hsDir: DIR_B, reason: 'QUERY_REJECTED' },
        { hsDir: DIR_A, reason: 'NOT_FOUND' },
      ]);
      assert.deepEqual(hsfetches(), [`HSFETCH ${id} SERVER=${DIR_A} SERVER=${DIR_B}`]);
    });

    it('with servers: resolves with the one that has the descriptor when another failed', async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          requested(id, DIR_B);
          failed(id, DIR_A);
          received(id, DIR_B);
        });
        return ['250 OK'];
      });
      assert.equal((await fetchOnionDescriptor(control, id, { servers: [DIR_A, DIR_B] })).hsDir, DIR_B);
    });

    it("passes tor's refusal on as TorControlError and unsubscribes", async () => {
      fake.handle(/^HSFETCH /, () => [`552 Server "${DIR_C}" not found`]);
      await assert.rejects(fetchOnionDescriptor(control, newId(), { servers: [DIR_C] }), (e: unknown) => e instanceof TorControlError && e.status === 552);
      assert.deepEqual(subscribedNow(), []);
    });

    it('turns tor\'s 513 for an address (a key that is no ed25519 point) into TorInvalidValueError', async () => {
      fake.handle(/^HSFETCH /, (line) => [`513 Invalid argument "${line.split(' ')[1]}"`]);
      await assert.rejects(
        fetchOnionDescriptor(control, newId()),
        (e: unknown) => e instanceof TorInvalidValueError && e.field === 'onion address' && e.cause instanceof TorControlError,
      );
      assert.deepEqual(subscribedNow(), []);
    });

    it('times out with TorTimeoutError while tor waits for an HSDir, and unsubscribes', async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => requested(id, DIR_A));
        return ['250 OK'];
      });
      await assert.rejects(fetchOnionDescriptor(control, id, { timeoutMs: 300 }), (e: unknown) => e instanceof TorTimeoutError && e.message.includes(id));
      assert.deepEqual(subscribedNow(), []);
    });

    it('stops with TorAbortError when aborted, and sends nothing for a signal aborted already', async () => {
      const id = newId();
      const ac = new AbortController();
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          ac.abort();
        });
        return ['250 OK'];
      });
      await assert.rejects(fetchOnionDescriptor(control, id, { signal: ac.signal }), TorAbortError);
      assert.deepEqual(subscribedNow(), []);
      const before = fake.commands.length;
      await assert.rejects(fetchOnionDescriptor(control, id, { signal: AbortSignal.abort() }), TorAbortError);
      assert.equal(fake.commands.length, before);
    });

    it('rejects with TorControlClosedError when the connection closes meanwhile', async () => {
      const id = newId();
      fake.handle(/^HSFETCH /, () => {
        afterReply(() => {
          requested(id, DIR_A);
          for (const c of fake.connections) c.socket.destroy();
        });
        return ['250 OK'];
      });
      await assert.rejects(fetchOnionDescriptor(control, id), TorControlClosedError);
    });

    it('answers concurrent fetches of different services each with its own descriptor', async () => {
      const [x, y] = [newId(), newId()];
      let n = 0;
      fake.handle(/^HSFETCH /, () => {
        // Both commands answered before any event; the events then come interleaved.
        if (++n === 2) {
          afterReply(() => {
            requested(x, DIR_A);
            requested(y, DIR_B);
            received(y, DIR_B, 'hs-descriptor 3\nrevision-counter 2\n');
            received(x, DIR_A, 'hs-descriptor 3\nrevision-counter 1\n');
          });
        }
        return ['250 OK'];
      });
      const [dx, dy] = await Promise.all([fetchOnionDescriptor(control, x), fetchOnionDescriptor(control, y)]);
      assert.deepEqual([dx.serviceId, dx.hsDir, dx.revisionCounter], [x, DIR_A, 1n]);
      assert.deepEqual([dy.serviceId, dy.hsDir, dy.revisionCounter], [y, DIR_B, 2n]);
    });

    it('runs concurrent fetches of one service one after the other, each getting its own answer', async () => {
      const id = newId();
      let n = 0;
      let inFlightAtSecond = -1;
      fake.handle(/^HSFETCH /, () => {
        const which = ++n;
        afterReply(() => {
          if (which === 1) {
            requested(id, DIR_A);
            failed(id, DIR_A);
          } else {
            requested(id, DIR_B);
            received(id, DIR_B);
          }
        });
        return ['250 OK'];
      });
      const first = fetchOnionDescriptor(control, id);
      const second = fetchOnionDescriptor(control, `${id}.onion`);
      first.then(
        () => undefined,
        () => (inFlightAtSecond = hsfetches().length),
      );
      await assert.rejects(first, (e: unknown) => e instanceof TorOnionDescriptorNotFoundError && e.attempts[0]!.hsDir === DIR_A);
      assert.equal((await second).hsDir, DIR_B);
      assert.equal(inFlightAtSecond, 1, 'the second HSFETCH waited for the first fetch to end');
      assert.equal(hsfetches().length, 2);
    });

    it('a fetch of one service that gives up lets the next one go on', async () => {
      const id = newId();
      let n = 0;
      fake.handle(/^HSFETCH /, () => {
        // The first never hears back (tor still waiting for its HSDir); the second finds it.
        const which = ++n;
        afterReply(() => {
          requested(id, which === 1 ? DIR_A : DIR_B);
          if (which === 2) received(id, DIR_B);
        });
        return ['250 OK'];
      });
      const first = fetchOnionDescriptor(control, id, { timeoutMs: 200 });
      const second = fetchOnionDescriptor(control, id);
      await assert.rejects(first, TorTimeoutError);
      assert.equal((await second).hsDir, DIR_B);
    });

    it('refuses bad input with TOR_INVALID_VALUE before sending anything', async () => {
      const id = newId();
      const badChecksum = id.slice(0, 50) + (id[50] === 'a' ? 'b' : 'a') + id.slice(51);
      const cases: Array<[string, object]> = [
        ['expyuzz4wqqyqhjn.onion', {}],
        [badChecksum, {}],
        ['', {}],
        [`${id}.onion\r\nSIGNAL HALT`, {}],
        [42 as unknown as string, {}],
        [id, { servers: [`${DIR_A} SERVER=${DIR_B}`] }],
        [id, { servers: DIR_A }],
        [id, { timeoutMs: -1 }],
        [id, { signal: 'stop' }],
        // A timeout given where the options go (`fetchOnionDescriptor(addr, 30_000)`) is no options object.
        [id, 30_000 as unknown as object],
        [id, 'fast' as unknown as object],
      ];
      const before = fake.commands.length;
      for (const [onion, opts] of cases) {
        await assert.rejects(fetchOnionDescriptor(control, onion, opts), TorInvalidValueError);
      }
      assert.equal(fake.commands.length, before);
    });

    it('is tor.fetchOnionDescriptor on a Tor handle', async () => {
      const id = newId();
      answerFound(id, DIR_A);
      const tor = new Tor(control, { version: '0.4.9.1', controlEndpoint: fake.endpoint });
      assert.equal((await tor.fetchOnionDescriptor(`${id}.onion`, null as never)).hsDir, DIR_A);
      await assert.rejects(tor.fetchOnionDescriptor('nope'), { code: 'TOR_INVALID_VALUE' });
    });
  });
});
