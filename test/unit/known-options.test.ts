import assert from 'node:assert/strict';
import net from 'node:net';
import { TorInvalidValueError } from '../../src/errors.js';
import { connectTor, launchTor } from '../../src/tor/connect-tor.js';
import { assertKnownOptions, assertNoNearMiss, editDistance } from '../../src/util/known-options.js';

// A misspelt option in JavaScript (TypeScript refuses it already) was ignored without a word: the
// call then did what the caller meant to turn off (waited for a bootstrap, had no timeout).

describe('options: a misspelt one is refused, naming the nearest', () => {
  it('assertKnownOptions: the key, the nearest known one (case or up to two edits), and the list', () => {
    assert.doesNotThrow(() => assertKnownOptions({ a: 1, b: undefined, zzz: undefined }, ['a', 'b'], 'f'));
    assert.throws(
      () => assertKnownOptions({ tiemoutMs: 5 }, ['timeoutMs', 'signal'], 'connectTor'),
      (e: unknown) => e instanceof TorInvalidValueError && e.message === 'invalid connectTor option "tiemoutMs": is none of its options (did you mean timeoutMs?); known: timeoutMs, signal',
    );
    assert.throws(() => assertKnownOptions({ WaitForBootstrap: false }, ['waitForBootstrap'], 'launchTor'), /did you mean waitForBootstrap\?/);
    assert.throws(() => assertKnownOptions({ bogus: 1 }, ['waitForBootstrap'], 'launchTor'), (e: unknown) => e instanceof TorInvalidValueError && !/did you mean/.test(e.message));
    assert.equal(editDistance('onoin', 'onion'), 1);
    assert.equal(editDistance('tiemoutMs', 'timeoutMs'), 1);
  });

  it('the nearest is the closest within two edits or a third of the name; a far key gets no guess', () => {
    const known = ['isolate', 'circuit', 'timeoutMs', 'signal'];
    for (const [key, near] of [['isolation', 'isolate'], ['timout', 'timeoutMs'], ['timeout', 'timeoutMs'], ['TIMEOUTMS', 'timeoutMs'], ['circut', 'circuit']]) {
      assert.throws(() => assertKnownOptions({ [key!]: 1 }, known, 'f'), new RegExp(`did you mean ${near}\\?`), key);
    }
    assert.throws(() => assertKnownOptions({ hostname: 1 }, known, 'f'), (e: unknown) => e instanceof TorInvalidValueError && !/did you mean/.test(e.message));
  });

  it("assertNoNearMiss lets every key of fetch's RequestInit through beside torcon's own", () => {
    // The WHATWG RequestInit members and undici's additions: none may read as a misspelling of ours.
    const requestInit = ['method', 'headers', 'body', 'referrer', 'referrerPolicy', 'mode', 'credentials', 'cache', 'redirect', 'integrity', 'keepalive', 'signal', 'priority', 'window', 'duplex', 'dispatcher'];
    const own = ['isolate', 'circuit', 'timeoutMs', 'signal'];
    assert.doesNotThrow(() => assertNoNearMiss(Object.fromEntries(requestInit.map((k) => [k, 1])), own, 'fetch'));
    assert.throws(() => assertNoNearMiss({ method: 'GET', isolaton: 'a' }, own, 'fetch'), /invalid fetch option "isolaton": is none of its options \(did you mean isolate\?\)/);
  });

  it('connectTor refuses one before connecting anywhere', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as net.AddressInfo;
      await assert.rejects(connectTor({ control: `tcp:127.0.0.1:${port}`, tiemoutMs: 5 } as never), /connectTor option "tiemoutMs".*did you mean timeoutMs/);
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it('launchTor refuses one before starting any tor', async () => {
    // torPath names no tor: had the options been accepted, the launch itself would fail otherwise.
    await assert.rejects(
      launchTor({ torPath: '/nonexistent/tor', config: { DisableNetwork: 1 }, waitforBootstrap: false } as never),
      (e: unknown) => e instanceof TorInvalidValueError && /launchTor option "waitforBootstrap".*did you mean waitForBootstrap/.test(e.message),
    );
  });
});
